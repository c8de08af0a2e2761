/* daemon_control.c - the control socket: a unix stream socket (mode 0660) where a
 * client writes one JSON object on one line and reads one line back.
 *   {"cmd":"status"}                      -> {"ok":true,"daemon":{..},"supervision":{..},"jobs":[..]}
 *   {"cmd":"run","job":"snapshot","wait":true}
 *                                         -> {"ok":true,"run":{job,result,...,report}} when it ends
 *                                            ({"ok":true,"started":true} without wait)
 *   {"cmd":"jobs","job":"verify","last":5} -> {"ok":true,"runs":[..]}
 * A refusal is {"ok":false,"error":"<sentence>"} (and "busy":true for a job that
 * runs already). A client waiting for a run stays connected while the loop goes on
 * serving others; its answer is written when the run ends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

#define MAX_LINE 65536

static int fill_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a->sun_path)
		return rv_fail(-ENAMETOOLONG, "the control socket path %s is longer than the %zu bytes a unix socket allows; "
					      "set daemon.control_socket to a shorter path", path, sizeof a->sun_path - 1);
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

int control_listen(const char *path, int *fd)
{
	struct sockaddr_un a;
	struct stat st;
	char parent[PATH_MAX];
	int r = fill_addr(path, &a);
	if (r < 0)
		return r;
	snprintf(parent, sizeof parent, "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		if ((r = rv_mkdir_p(parent, 0755)) < 0)
			return rv_fail(r, "cannot create the directory %s of the control socket: %s", parent, strerror(-r));
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return rv_fail(-errno, "cannot create the control socket: %s", strerror(errno));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(s);
			return rv_fail(-EEXIST, "%s exists and is not a socket; remove it, or set daemon.control_socket to another path",
				       path);
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof a) == 0) {
			close(probe);
			close(s);
			return rv_fail(-EADDRINUSE, "another regvault daemon answers on %s; stop it first, or give this one "
						    "another daemon.control_socket", path);
		}
		if (probe >= 0)
			close(probe);
		/* Nobody listens: a daemon that is gone left it. */
		unlink(path);
		rv_info("replaced the stale control socket %s", path);
	}
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || chmod(path, 0660) < 0 || listen(s, 16) < 0) {
		int e = errno;
		close(s);
		return rv_fail(-e, "cannot listen on the control socket %s: %s", path, strerror(e));
	}
	*fd = s;
	return 0;
}

static struct control_client *client_of(struct daemon *d, int fd)
{
	for (size_t i = 0; i < DAEMON_MAX_CLIENTS; i++)
		if (d->clients[i].fd == fd)
			return &d->clients[i];
	return NULL;
}

static void client_close(struct control_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->waiting = false;
	rv_buf_free(&c->in);
}

/* Write all of it, waiting a little for a slow reader; a client that does not read
 * does not hold the loop up for long. */
static void send_line(int fd, const char *text)
{
	size_t n = strlen(text), off = 0;
	while (off < n) {
		ssize_t w = send(fd, text + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (w < 0 && errno == EAGAIN && poll(&p, 1, 2000) == 1)
			continue;
		return;
	}
}

void control_answer(struct daemon *d, int fd, json_t *answer)
{
	char *text = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(answer);
	if (text) {
		size_t n = strlen(text);
		text = rv_xrealloc(text, n + 2);
		text[n] = '\n';
		text[n + 1] = 0;
		send_line(fd, text);
		free(text);
	}
	struct control_client *c = client_of(d, fd);
	if (c)
		client_close(c);
	else
		close(fd);
}

static json_t *refusal(const char *sentence)
{
	json_t *a = json_object();
	json_object_set_new(a, "ok", json_false());
	json_object_set_new(a, "error", json_string(sentence));
	return a;
}

static json_t *status_answer(struct daemon *d)
{
	json_t *a = json_object(), *dm = json_object();
	char at[21];
	rv_utc_rfc3339(d->started_ms / 1000, at);
	json_object_set_new(a, "ok", json_true());
	json_object_set_new(dm, "pid", json_integer(getpid()));
	json_object_set_new(dm, "started_at", json_string(at));
	json_object_set_new(dm, "config", json_string(d->cfg->cfg.path ? d->cfg->cfg.path : ""));
	json_object_set_new(dm, "state_dir", json_string(d->cfg->cfg.state_dir));
	json_object_set_new(dm, "ready", json_boolean(d->ready));
	json_object_set_new(dm, "stopping", json_boolean(d->stopping));
	json_object_set_new(a, "daemon", dm);
	json_object_set_new(a, "supervision", supervisor_status_json(d->sup));
	json_object_set_new(a, "registry", registry_services_status_json(d->reg));
	{
		char leader[64], why[512];
		leader_get(d->leader, leader, sizeof leader, why, sizeof why);
		json_object_set_new(a, "member", json_string(leader_member(d->leader)));
		json_object_set_new(a, "leader", leader[0] ? json_string(leader) : json_null());
		json_object_set_new(a, "is_leader", json_boolean(leader_is_me(d->leader)));
		json_object_set_new(a, "no_leader_reason", leader[0] ? json_null() : json_string(why));
	}
	json_object_set_new(a, "jobs", jobs_status_json(d));
	return a;
}

static json_t *jobs_answer(struct daemon *d, json_t *req)
{
	const char *job = json_string_value(json_object_get(req, "job"));
	json_int_t last = json_integer_value(json_object_get(req, "last"));
	struct job_run *runs;
	size_t n;
	enum job_kind k;
	if (job && job_kind_parse(job, &k) < 0) {
		json_t *a = refusal(rv_errmsg(-EINVAL));
		rv_err_clear();
		return a;
	}
	int r = job_history_read(d->cfg->cfg.state_dir, job, last > 0 ? (size_t)last : 0, &runs, &n);
	if (r < 0) {
		json_t *a = refusal(rv_errmsg(r));
		rv_err_clear();
		return a;
	}
	json_t *a = json_object(), *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, job_run_json(&runs[i]));
	job_runs_free(runs, n);
	json_object_set_new(a, "ok", json_true());
	json_object_set_new(a, "runs", arr);
	return a;
}

/* One request; NULL when the answer comes later (a run to wait for). */
static json_t *handle(struct daemon *d, struct control_client *c, const char *line)
{
	json_error_t err;
	json_t *req = json_loads(line, 0, &err), *ans = NULL;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!req || !cmd) {
		json_decref(req);
		return refusal("the request is not a JSON object with a \"cmd\" on one line");
	}
	if (strcmp(cmd, "status") == 0) {
		ans = status_answer(d);
	} else if (strcmp(cmd, "jobs") == 0) {
		ans = jobs_answer(d, req);
	} else if (strcmp(cmd, "run") == 0) {
		const char *job = json_string_value(json_object_get(req, "job"));
		bool wait = json_is_true(json_object_get(req, "wait"));
		enum job_kind k;
		int r = job ? job_kind_parse(job, &k) : rv_fail(-EINVAL, "the run request names no job");
		if (r == 0)
			r = jobs_run_now(d, k, wait ? c->fd : -1);
		if (r < 0) {
			ans = refusal(rv_errmsg(r));
			if (r == -EBUSY)
				json_object_set_new(ans, "busy", json_true());
			rv_err_clear();
		} else if (wait) {
			c->waiting = true;
		} else {
			ans = json_object();
			json_object_set_new(ans, "ok", json_true());
			json_object_set_new(ans, "started", json_true());
		}
	} else {
		ans = refusal("unknown command; the control socket knows status, run and jobs");
	}
	json_decref(req);
	return ans;
}

void control_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct control_client *c = client_of(d, -1);
		if (!c) {
			send_line(fd, "{\"ok\":false,\"error\":\"the daemon serves too many clients at once; try again\"}\n");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->waiting = false;
		memset(&c->in, 0, sizeof c->in);
	}
}

/* A waiting client that hung up is no longer answered (its run goes on). */
static void forget_waiter(struct daemon *d, int fd)
{
	for (int k = 0; k < JOB_KIND_COUNT; k++) {
		struct job_state *j = &d->jobs[k];
		for (size_t i = 0; i < j->n_waiters; i++)
			if (j->waiters[i] == fd) {
				j->waiters[i] = j->waiters[--j->n_waiters];
				i--;
			}
	}
}

void control_readable(struct daemon *d, struct control_client *c)
{
	char buf[4096];
	ssize_t n = recv(c->fd, buf, sizeof buf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->waiting)
			forget_waiter(d, c->fd);
		client_close(c);
		return;
	}
	if (c->waiting)
		return; /* one request per connection */
	rv_buf_append(&c->in, buf, (size_t)n);
	char *nl = memchr(c->in.data, '\n', c->in.len);
	if (!nl && c->in.len < MAX_LINE)
		return;
	if (nl)
		*nl = 0;
	json_t *ans = nl ? handle(d, c, c->in.data) : refusal("the request line is longer than 64 KiB");
	if (ans)
		control_answer(d, c->fd, ans);
}

void control_close_all(struct daemon *d)
{
	for (size_t i = 0; i < DAEMON_MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0) {
			if (d->clients[i].waiting)
				control_answer(d, d->clients[i].fd, refusal("the daemon stopped before the run ended"));
			else
				client_close(&d->clients[i]);
		}
}

/* ---- the client ---- */

int daemon_request(const char *socket_path, json_t *request, int timeout_ms, json_t **answer)
{
	struct sockaddr_un a;
	struct rv_buf in = {0};
	int r = fill_addr(socket_path, &a);
	*answer = NULL;
	if (r < 0)
		return r;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return rv_fail(-errno, "cannot create a socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(s);
		if (e == ENOENT || e == ECONNREFUSED)
			return rv_fail_advice(-ECONNREFUSED, RV_ADVICE_START_DAEMON, "no regvault daemon answers on %s",
					      socket_path);
		return rv_fail(-e, "cannot connect to the regvault daemon on %s: %s%s", socket_path, strerror(e),
			       e == EACCES ? "; run this as root or as a member of the socket's group" : "");
	}
	char *text = json_dumps(request, JSON_COMPACT);
	size_t n = strlen(text);
	text = rv_xrealloc(text, n + 2);
	memcpy(text + n, "\n", 2);
	r = rv_write_all(s, text, n + 1);
	free(text);
	if (r < 0) {
		close(s);
		return rv_fail(r, "cannot send the request to the regvault daemon on %s: %s", socket_path, strerror(-r));
	}
	for (;;) {
		char buf[4096];
		struct pollfd p = {.fd = s, .events = POLLIN};
		int pr = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			r = rv_fail(-ETIMEDOUT, "the regvault daemon on %s did not answer within %d s", socket_path,
				    timeout_ms / 1000);
			break;
		}
		ssize_t got = recv(s, buf, sizeof buf, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = rv_fail(-ECONNRESET, "the regvault daemon on %s closed the connection before it answered "
						 "(it may be stopping)", socket_path);
			break;
		}
		rv_buf_append(&in, buf, (size_t)got);
		char *nl = memchr(in.data, '\n', in.len);
		if (nl) {
			json_error_t err;
			*nl = 0;
			*answer = json_loads(in.data, 0, &err);
			if (!*answer || !json_is_object(*answer)) {
				json_decref(*answer);
				*answer = NULL;
				r = rv_fail(-EPROTO, "the regvault daemon on %s answered something that is not a JSON object",
					    socket_path);
			}
			break;
		}
	}
	rv_buf_free(&in);
	close(s);
	return r;
}
