/* daemon.c - 'regvault daemon': one loop in the foreground (never forks; systemd
 * Type=notify), after redis's ae.c: poll() over the signalfd the caller made, the
 * control socket and its clients, an optional metrics socket, and a wake-up pipe
 * that worker threads and the supervisor write to; timers come from the schedule.
 * Nothing but this loop touches the schedule or the sockets. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

struct cfg_ref *cfg_ref_new(struct rv_config *cfg)
{
	struct cfg_ref *r = rv_xcalloc(1, sizeof *r);
	r->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	atomic_init(&r->refs, 1);
	return r;
}

struct cfg_ref *cfg_ref_get(struct cfg_ref *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void cfg_ref_put(struct cfg_ref *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
		config_free(&r->cfg);
		free(r);
	}
}

void daemon_wake(int fd)
{
	/* Non-blocking: a full pipe already says "look". */
	if (write(fd, "w", 1) < 0) {
	}
}

static void drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void status_text(struct daemon *d, char *buf, size_t len)
{
	char members[512], jobs[512];
	supervisor_summary(d->sup, members, sizeof members);
	jobs_summary(d, jobs, sizeof jobs);
	snprintf(buf, len, "%s%s%s%s", d->stopping ? "stopping; " : "", members, jobs[0] ? "; " : "", jobs);
}

#define DEFAULT_CONTROL_SOCKET "/run/regvault/regvault.sock"

/* After a reload that changed daemon.control_socket: listen on the new path first,
 * then close the old one (clients connected on it finish); one that cannot be had
 * keeps the old socket, and says so. */
static void rebind_control(struct daemon *d, const char *sock)
{
	int fd = -1, r;
	sock = sock && *sock ? sock : DEFAULT_CONTROL_SOCKET;
	if (strcmp(sock, d->ctl_path) == 0)
		return;
	if (strlen(sock) >= sizeof d->ctl_path)
		r = rv_fail(-ENAMETOOLONG, "the control socket path %s is longer than the %zu bytes a unix socket allows",
			    sock, sizeof d->ctl_path - 1);
	else
		r = control_listen(sock, &fd);
	if (r < 0) {
		rv_log(RV_LOG_ERROR, "%s; the daemon keeps listening on %s", rv_errmsg(r), d->ctl_path);
		rv_err_clear();
		return;
	}
	close(d->ctl_fd);
	unlink(d->ctl_path);
	rv_info("the control socket moved from %s to %s", d->ctl_path, sock);
	snprintf(d->ctl_path, sizeof d->ctl_path, "%s", sock);
	d->ctl_fd = fd;
}

/* SIGHUP: a file that does not load keeps the configuration in use. */
static void reload(struct daemon *d)
{
	struct rv_config nc;
	char path[PATH_MAX], status[1024];
	snprintf(path, sizeof path, "%s", d->cfg->cfg.path ? d->cfg->cfg.path : "");
	notify_reloading();
	rv_info("reloading the configuration from %s", path);
	int r = config_load(path[0] ? path : d->o->config_path, &nc);
	if (r < 0) {
		rv_log(RV_LOG_ERROR, "the configuration was not reloaded, the daemon keeps the one it has: %s", rv_errmsg(r));
		rv_err_clear();
	} else {
		struct cfg_ref *old = d->cfg;
		d->cfg = cfg_ref_new(&nc);
		rebind_control(d, d->cfg->cfg.daemon.control_socket);
		observe_relisten(d->metrics_at, sizeof d->metrics_at, &d->cfg->cfg.daemon, &d->metrics_fd);
		jobs_reschedule(d, &old->cfg);
		supervisor_set_config(d->sup, d->cfg);
		agent_reload(d, old);
		int rr = d->ready && d->was_leader ? registry_services_reload(&d->reg, d->cfg) : 0;
		if (rr < 0) {
			rv_log(RV_LOG_ERROR, "the registry services did not restart with the new configuration: %s",
			       rv_errmsg(rr));
			rv_err_clear();
		}
		cfg_ref_put(old);
		rv_info("reloaded the configuration from %s", path);
	}
	status_text(d, status, sizeof status);
	notify_ready(status);
}

static void begin_stop(struct daemon *d, int sig)
{
	if (d->stopping)
		return;
	d->stopping = true;
	notify_stopping();
	int64_t t = d->cfg->cfg.daemon.stop_timeout_ms > 0 ? d->cfg->cfg.daemon.stop_timeout_ms : 30000;
	d->stop_deadline_ms = daemon_mono_ms() + t;
	rv_info("stopping on signal %d: no new runs%s", sig, jobs_any_running(d) ? ", running jobs cancelled" : "");
	jobs_cancel_all(d);
	supervisor_request_stop(d->sup); /* it winds down beside the jobs */
}

static void read_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP && !d->stopping)
			reload(d);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			begin_stop(d, (int)si.ssi_signo);
	}
}

/* The election's result, acted on: the leader runs the cluster-wide jobs and the
 * registry services (one writer per heartbeat key). */
static void leadership(struct daemon *d)
{
	bool me = leader_is_me(d->leader);
	if (me == d->was_leader)
		return;
	d->was_leader = me;
	jobs_leadership_changed(d, me);
	if (me) {
		int rr = registry_services_start(d->cfg, &d->reg);
		if (rr < 0) {
			rv_log(RV_LOG_ERROR, "the registry services did not start: %s", rv_errmsg(rr));
			rv_err_clear();
		}
		if ((rr = continuous_start(d->cfg, &d->cont)) < 0) {
			rv_log(RV_LOG_ERROR, "continuous backup did not start: %s", rv_errmsg(rr));
			rv_err_clear();
		}
	} else {
		registry_services_stop(d->reg);
		d->reg = NULL;
		continuous_stop(d->cont);
		d->cont = NULL;
	}
}

static int64_t poll_timeout(struct daemon *d)
{
	int64_t t = 1000, now = daemon_mono_ms(); /* a cron schedule and the ready check look once a second */
	if (d->ready) {
		int64_t j = jobs_next_event_ms(d);
		t = j < t ? j : t;
	}
	if (d->watchdog_ms && d->next_watchdog_ms - now < t)
		t = d->next_watchdog_ms - now;
	if (d->stopping && d->stop_deadline_ms - now < t)
		t = d->stop_deadline_ms - now;
	return t < 0 ? 0 : t;
}

static void loop(struct daemon *d)
{
	char status[1024], last_status[1024] = "";
	for (;;) {
		if (!d->ready && supervisor_ready(d->sup, status, sizeof status)) {
			d->ready = true;
			jobs_init(d);
			char full[1024];
			status_text(d, full, sizeof full);
			notify_ready(status[0] ? status : full);
			rv_info("regvault daemon ready%s%s", status[0] ? ": " : "", status);
		}
		if (d->stopping && (!jobs_any_running(d) || daemon_mono_ms() >= d->stop_deadline_ms))
			return;

		struct pollfd p[4 + DAEMON_MAX_CLIENTS];
		size_t n = 0, first_client;
		p[n++] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = d->wake_rd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = d->stopping ? -1 : d->ctl_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = d->metrics_fd, .events = POLLIN};
		first_client = n;
		for (size_t i = 0; i < DAEMON_MAX_CLIENTS; i++)
			p[n++] = (struct pollfd){.fd = d->clients[i].fd, .events = POLLIN};
		int r = poll(p, n, (int)poll_timeout(d));
		if (r < 0 && errno != EINTR) {
			rv_warn("poll failed: %s", strerror(errno));
			rv_sleep_ms(100);
		}
		if (r > 0) {
			if (p[0].revents)
				read_signals(d);
			if (p[1].revents) {
				drain(d->wake_rd);
				jobs_reap(d);
			}
			if (p[2].revents)
				control_accept(d);
			if (p[3].revents) {
				registry_services_observe(d->reg);
				continuous_observe(d->cont);
				observe_serve(d->metrics_fd, d->ready && !d->stopping);
			}
			for (size_t i = first_client; i < n; i++)
				if (p[i].revents && d->clients[i - first_client].fd == p[i].fd)
					control_readable(d, &d->clients[i - first_client]);
		}
		if (d->ready && !d->stopping)
			leadership(d);
		if (d->ready && !d->stopping)
			jobs_tick(d);
		if (d->ready && !d->stopping && !d->idle_released && !jobs_any_running(d) &&
		    jobs_next_event_ms(d) >= DAEMON_IDLE_RELEASE_MS) {
			jobs_release_idle_memory();
			d->idle_released = true;
		}
		if (d->watchdog_ms && daemon_mono_ms() >= d->next_watchdog_ms) {
			notify_watchdog();
			d->next_watchdog_ms = daemon_mono_ms() + d->watchdog_ms;
		}
		if (d->ready) {
			status_text(d, status, sizeof status);
			if (strcmp(status, last_status) != 0) {
				notify_status(status);
				snprintf(last_status, sizeof last_status, "%s", status);
			}
		}
	}
}

int daemon_run(struct rv_config *cfg, const struct daemon_opts *o)
{
	struct daemon d = {.o = o, .sig_fd = o->signal_fd, .ctl_fd = -1, .wake_rd = -1, .wake_wr = -1, .metrics_fd = -1};
	int pipefd[2], r;
	bool left = false; /* a thread still running at the end */
	for (size_t i = 0; i < DAEMON_MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	d.cfg = cfg_ref_new(cfg);
	d.started_ms = rv_now_unix_ms();
	d.rand_state = (unsigned)getpid() ^ (unsigned)d.started_ms;
	snprintf(d.holder, sizeof d.holder, "regvault daemon (pid %d)", (int)getpid());
	const char *sock = d.cfg->cfg.daemon.control_socket;
	sock = sock && *sock ? sock : DEFAULT_CONTROL_SOCKET;
	if (strlen(sock) >= sizeof d.ctl_path) {
		r = rv_fail(-ENAMETOOLONG, "the control socket path %s is longer than the %zu bytes a unix socket allows; "
					   "set daemon.control_socket to a shorter path", sock, sizeof d.ctl_path - 1);
		cfg_ref_put(d.cfg);
		return r;
	}
	snprintf(d.ctl_path, sizeof d.ctl_path, "%s", sock);

	if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
		r = rv_fail(-errno, "cannot create the daemon's wake-up pipe: %s", strerror(errno));
		cfg_ref_put(d.cfg);
		return r;
	}
	d.wake_rd = pipefd[0];
	d.wake_wr = pipefd[1];
	/* gRPC stays up for the daemon's life. Its clients come and go on several
	 * threads; had the count of them dropped to zero between two (the first start's
	 * wait freed its client before the supervisor made its own), gRPC would be shut
	 * down and set up again under the threads' feet, and the supervisor's client
	 * then reached no member at all. */
	etcd_global_init();
	if ((r = control_listen(d.ctl_path, &d.ctl_fd)) < 0)
		goto out;
	d.metrics_fd = observe_listen(&d.cfg->cfg.daemon);
	if (d.metrics_fd >= 0)
		snprintf(d.metrics_at, sizeof d.metrics_at, "%s", d.cfg->cfg.daemon.metrics_listen);
	observe_daemon_started(&d.cfg->cfg);
	if ((r = supervisor_start(d.cfg, d.wake_wr, &d.sup)) < 0)
		goto out;
	if ((r = leader_start(d.cfg, d.wake_wr, &d.leader)) < 0)
		goto out;
	if ((r = agent_server_start(d.cfg, &d.agent)) < 0)
		goto out;
	agent_fingerprint(&d.cfg->cfg, d.agent_fp, sizeof d.agent_fp);
	d.watchdog_ms = notify_watchdog_interval_ms();
	d.next_watchdog_ms = daemon_mono_ms() + d.watchdog_ms;
	rv_info("regvault daemon %s started (pid %d, config %s, control socket %s)", RV_VERSION, (int)getpid(),
		d.cfg->cfg.path ? d.cfg->cfg.path : "-", d.ctl_path);
	{
		int gone = 0; /* the scratch clusters of drills killed outright (best effort) */
		if (restore_drill_cleanup(NULL, &gone) < 0) {
			rv_warn("%s", rv_errmsg(-EIO));
			rv_err_clear();
		}
	}

	loop(&d);

	control_close_all(&d);
	agent_server_stop(d.agent);
	d.agent = NULL;
	registry_services_stop(d.reg); /* the leases revoked: the health keys go at once */
	d.reg = NULL;
	continuous_stop(d.cont);
	d.cont = NULL;
	leader_stop(d.leader); /* resign, so that another daemon leads at once */
	d.leader = NULL;
	if (!d.stopping) /* not through begin_stop */
		d.stop_deadline_ms = daemon_mono_ms() + 30000;
	if (supervisor_stop_by(d.sup, d.cfg->cfg.daemon.stop_members_on_exit, d.stop_deadline_ms)) {
		d.sup = NULL;
	} else {
		rv_warn("the supervisor was still checking the members when daemon.stop_timeout ended");
		left = true;
	}
	if (jobs_any_running(&d)) {
		char names[256] = "";
		jobs_running_names(&d, names, sizeof names);
		rv_warn("job %s still ran, cancelled, when daemon.stop_timeout ended; the daemon exits without waiting "
			"for it (what it wrote is not published)", names);
		left = true;
	} else {
		jobs_free(&d);
	}
	if (o->threads_left)
		*o->threads_left = left;
	rv_info("regvault daemon stopped");
	r = 0;
out:
	if (d.ctl_fd >= 0) {
		close(d.ctl_fd);
		unlink(d.ctl_path);
	}
	observe_close(d.metrics_fd);
	if (!left) { /* a thread left running still writes to it */
		close(d.wake_rd);
		close(d.wake_wr);
	}
	if (d.sup && !left)
		supervisor_stop(d.sup, false);
	agent_server_stop(d.agent);
	leader_stop(d.leader);
	if (!left) {
		cfg_ref_put(d.cfg);
		etcd_global_shutdown(); /* with a thread left, gRPC stays for it */
	}
	return r;
}
