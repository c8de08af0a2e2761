/* agent_server.c - the agent's gRPC server inside the daemon: one thread, one
 * completion queue for the new calls and one for the answers, every method
 * registered with its request read up front. A call is answered before the next
 * is taken, each within its caller's deadline (docs/reference/agent.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/support/time.h>

#include "common/common.h"
#include "scheduler/agent_impl.h"
#include "scheduler/daemon_impl.h"

#define SHUTDOWN_TAG ((void *)(intptr_t)-1)

struct pending {
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
};

struct agent_server {
	struct cfg_ref *cfg;
	grpc_server *server;
	grpc_completion_queue *cq, *call_cq;
	void *method[AGENT_METHOD_COUNT];
	struct pending p[AGENT_METHOD_COUNT];
	char listen[300], own[128];
	pthread_t thread;
	bool started;
};

static void request(struct agent_server *s, int m)
{
	struct pending *p = &s->p[m];
	memset(p, 0, sizeof *p);
	grpc_metadata_array_init(&p->md);
	grpc_call_error e = grpc_server_request_registered_call(s->server, s->method[m], &p->call, &p->deadline,
								&p->md, &p->payload, s->call_cq, s->cq,
								(void *)(intptr_t)m);
	if (e != GRPC_CALL_OK)
		rv_warn("agent: cannot wait for %s calls (gRPC error %d)", agent_method_name[m], (int)e);
}

static int own_index(struct agent_server *s, const char *asked, size_t *idx)
{
	const struct rv_config *c = &s->cfg->cfg;
	const char *name = asked && *asked ? asked : s->own;
	for (size_t i = 0; i < c->cluster.n_members; i++)
		if (strcmp(c->cluster.members[i].name, name) == 0) {
			if (strcmp(name, s->own) != 0)
				return rv_fail(-EBUSY, "member %s is not on this host, whose member is %s", name, s->own);
			*idx = i;
			return 0;
		}
	return rv_fail(-ENOENT, "no member %s in this host's configuration", name);
}

static void etcd_part(struct agent_server *s, size_t idx, Regvault__Agent__V1__MemberEtcdStatus *es, char *err,
		      size_t elen)
{
	etcd_client *c = NULL;
	struct etcd_status st;
	int r = cluster_client_new(&s->cfg->cfg.cluster, 2000, &c);
	if (r == 0)
		r = etcd_status(c, (int)idx, &st);
	if (r < 0) {
		snprintf(err, elen, "%s", rv_errmsg(r));
		rv_err_clear();
		es->error = err;
	} else {
		es->answered = true;
		snprintf(err, elen, "%s", st.version);
		es->version = err;
		es->db_size = st.db_size;
		es->db_size_in_use = st.db_size_in_use;
		es->member_id = st.hdr.member_id;
		es->leader = st.leader;
		es->raft_term = st.raft_term;
		es->raft_index = st.raft_index;
		es->is_learner = st.is_learner;
	}
	etcd_client_free(c);
}

/* Each handler fills *resp (a packed answer) or returns a negative errno with its sentence. */
static int host_status(struct agent_server *s, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__HostStatusRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__host_status_request__descriptor, in);
	size_t idx;
	int r = own_index(s, rq ? rq->member : NULL, &idx);
	if (rq)
		protobuf_c_message_free_unpacked(&rq->base, NULL);
	if (r < 0)
		return r;
	const struct member_spec *m = &s->cfg->cfg.cluster.members[idx];
	Regvault__Agent__V1__HostStatusResponse a = REGVAULT__AGENT__V1__HOST_STATUS_RESPONSE__INIT;
	Regvault__Agent__V1__MemberEtcdStatus es = REGVAULT__AGENT__V1__MEMBER_ETCD_STATUS__INIT;
	char host[256] = "", disk_err[300] = "", etcd_err[1024] = "";
	gethostname(host, sizeof host - 1);
	a.hostname = host;
	a.member = m->name;
	a.data_dir = m->data_dir;
	a.agent_pid = (int32_t)getpid();
	pid_t pid = member_running_pid(m);
	a.pid = (int32_t)pid;
	a.running = pid > 0;
	uint64_t free_b = 0;
	/* The data dir, else the directory it is made in. */
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", m->data_dir);
	int fr = rv_fs_free_bytes(dir, &free_b);
	if (fr < 0) {
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = 0;
		fr = rv_fs_free_bytes(slash ? dir : ".", &free_b);
	}
	if (fr < 0) {
		snprintf(disk_err, sizeof disk_err, "cannot read the free space of %s: %s", m->data_dir, strerror(-fr));
		a.disk_error = disk_err;
	}
	a.disk_free_bytes = free_b;
	etcd_part(s, idx, &es, etcd_err, sizeof etcd_err);
	a.etcd = &es;
	*resp = agent_pack(&a.base);
	return 0;
}

static int member_call(struct agent_server *s, int method, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__MemberRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__member_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the request could not be read");
	size_t idx;
	int timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : 30000;
	int r = own_index(s, rq->member, &idx);
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	if (r < 0)
		return r;
	const struct cluster_spec *cs = &s->cfg->cfg.cluster;
	Regvault__Agent__V1__MemberResponse a = REGVAULT__AGENT__V1__MEMBER_RESPONSE__INIT;
	a.was_running = member_running_pid(&cs->members[idx]) > 0;
	rv_info("agent: %s of member %s asked by another host", agent_method_name[method], cs->members[idx].name);
	if (method == AGENT_MEMBER_START)
		r = a.was_running ? 0 : member_start(cs, idx);
	else
		r = member_stop(cs, idx, timeout_ms);
	if (r < 0)
		return r;
	a.pid = (int32_t)member_running_pid(&cs->members[idx]);
	*resp = agent_pack(&a.base);
	return 0;
}

static int log_tail(struct agent_server *s, grpc_byte_buffer *in, grpc_byte_buffer **resp)
{
	Regvault__Agent__V1__LogTailRequest *rq =
		(void *)agent_unpack(&regvault__agent__v1__log_tail_request__descriptor, in);
	if (!rq)
		return rv_fail(-EINVAL, "the request could not be read");
	size_t idx;
	int lines = rq->lines > 0 && rq->lines <= 10000 ? rq->lines : 50;
	int r = own_index(s, rq->member, &idx);
	protobuf_c_message_free_unpacked(&rq->base, NULL);
	if (r < 0)
		return r;
	Regvault__Agent__V1__LogTailResponse a = REGVAULT__AGENT__V1__LOG_TAIL_RESPONSE__INIT;
	char *text = member_log_tail(&s->cfg->cfg.cluster.members[idx], lines);
	a.text = text ? text : (char *)"";
	*resp = agent_pack(&a.base);
	free(text);
	return 0;
}

static void answer(struct agent_server *s, int m)
{
	struct pending *p = &s->p[m];
	grpc_byte_buffer *resp = NULL;
	int r;
	switch (m) {
	case AGENT_HOST_STATUS: r = host_status(s, p->payload, &resp); break;
	case AGENT_MEMBER_START:
	case AGENT_MEMBER_STOP: r = member_call(s, m, p->payload, &resp); break;
	case AGENT_MEMBER_LOG_TAIL: r = log_tail(s, p->payload, &resp); break;
	default: r = agent_restore_answer(&s->cfg->cfg, s->own, m, p->payload, &resp); break;
	}
	grpc_slice details = grpc_slice_from_copied_string(r < 0 ? rv_errmsg(r) : "");
	if (r < 0)
		rv_err_clear();
	int cancelled = 0;
	grpc_op ops[4];
	size_t n = 0;
	memset(ops, 0, sizeof ops);
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (resp) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = resp;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = agent_errno_to_status(r);
	ops[n++].data.send_status_from_server.status_details = &details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &cancelled;
	if (grpc_call_start_batch(p->call, ops, n, p, NULL) == GRPC_CALL_OK)
		grpc_completion_queue_next(s->call_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(details);
	if (resp)
		grpc_byte_buffer_destroy(resp);
	if (p->payload)
		grpc_byte_buffer_destroy(p->payload);
	grpc_metadata_array_destroy(&p->md);
	grpc_call_unref(p->call);
}

static void *server_main(void *arg)
{
	struct agent_server *s = arg;
	int outstanding = AGENT_METHOD_COUNT;
	bool shut = false;
	while (!shut || outstanding > 0) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == SHUTDOWN_TAG) {
			shut = true;
			continue;
		}
		int m = (int)(intptr_t)ev.tag;
		if (!ev.success) { /* the server shuts down */
			grpc_metadata_array_destroy(&s->p[m].md);
			outstanding--;
			continue;
		}
		answer(s, m);
		request(s, m);
	}
	return NULL;
}

/* agent.listen, else this member's agent: address, else its client URL's host with the default port. */
static int listen_address(const struct rv_config *c, const char *own, char *buf, size_t len)
{
	const char *l = c->agent.listen;
	const struct member_spec *m = NULL;
	for (size_t i = 0; i < c->cluster.n_members; i++)
		if (strcmp(c->cluster.members[i].name, own) == 0)
			m = &c->cluster.members[i];
	if (!l && m && m->agent)
		l = m->agent;
	if (l) {
		snprintf(buf, len, "%s%s", l[0] == ':' ? "0.0.0.0" : "", l);
		return 0;
	}
	char target[300];
	bool tls;
	int r = m ? etcd_parse_endpoint(m->client_url, target, sizeof target, &tls) : -ENOENT;
	if (r < 0) {
		rv_err_clear();
		snprintf(buf, len, "0.0.0.0:%d", AGENT_DEFAULT_PORT);
		return 0;
	}
	char *colon = strrchr(target, ':');
	if (colon)
		*colon = 0;
	snprintf(buf, len, "%s:%d", target, AGENT_DEFAULT_PORT);
	return 0;
}

static grpc_server_credentials *server_creds(const struct agent_settings *as, int *err)
{
	*err = 0;
	if (as->insecure)
		return grpc_insecure_server_credentials_create();
	struct agent_pem p;
	if ((*err = agent_pem_load(as, &p)) < 0)
		return NULL;
	grpc_ssl_pem_key_cert_pair pair = {.private_key = p.key, .cert_chain = p.cert};
	grpc_server_credentials *cr = grpc_ssl_server_credentials_create_ex(
		p.ca, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
	agent_pem_free(&p);
	if (!cr)
		*err = rv_fail(-EINVAL, "cannot set up the agent's TLS with agent.cert_file and agent.key_file");
	return cr;
}

static void server_free(struct agent_server *s)
{
	if (s->server)
		grpc_server_destroy(s->server);
	grpc_completion_queue *qs[2] = {s->cq, s->call_cq};
	for (int i = 0; i < 2; i++) {
		if (!qs[i])
			continue;
		grpc_completion_queue_shutdown(qs[i]);
		while (grpc_completion_queue_next(qs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(qs[i]);
	}
	if (s->cfg)
		cfg_ref_put(s->cfg);
	free(s);
	etcd_global_shutdown();
}

int agent_server_start(struct cfg_ref *cfg, struct agent_server **out)
{
	*out = NULL;
	if (!config_uses_agents(&cfg->cfg))
		return 0;
	struct agent_server *s = rv_xcalloc(1, sizeof *s);
	int r = daemon_own_member(&cfg->cfg, s->own, sizeof s->own);
	if (r < 0) {
		free(s);
		return r;
	}
	etcd_global_init();
	s->cfg = cfg_ref_get(cfg);
	listen_address(&cfg->cfg, s->own, s->listen, sizeof s->listen);
	grpc_server_credentials *cr = server_creds(&cfg->cfg.agent, &r);
	if (!cr) {
		server_free(s);
		return r;
	}
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->call_cq = grpc_completion_queue_create_for_next(NULL);
	s->server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	for (int m = 0; m < AGENT_METHOD_COUNT; m++)
		s->method[m] = grpc_server_register_method(s->server, agent_method_path[m], NULL,
							   GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	int port = grpc_server_add_http2_port(s->server, s->listen, cr);
	grpc_server_credentials_release(cr);
	if (port <= 0) {
		grpc_server_destroy(s->server);
		s->server = NULL;
		r = rv_fail(-EADDRINUSE, "the agent cannot listen on %s (in use, or not an address of this host); "
					 "check agent.listen", s->listen);
		server_free(s);
		return r;
	}
	grpc_server_start(s->server);
	for (int m = 0; m < AGENT_METHOD_COUNT; m++)
		request(s, m);
	if ((r = pthread_create(&s->thread, NULL, server_main, s)) != 0) {
		grpc_server_shutdown_and_notify(s->server, s->cq, SHUTDOWN_TAG);
		grpc_server_cancel_all_calls(s->server);
		server_free(s);
		return rv_fail(-r, "cannot start the agent's thread: %s", strerror(r));
	}
	s->started = true;
	if (cfg->cfg.agent.insecure)
		rv_warn("agent: listening on %s in plain text (agent.insecure: true): anyone who reaches this port can "
			"stop and start member %s; use mutual TLS outside a test network", s->listen, s->own);
	else
		rv_info("agent: listening on %s with mutual TLS (member %s)", s->listen, s->own);
	*out = s;
	return 0;
}

void agent_server_stop(struct agent_server *s)
{
	if (!s)
		return;
	grpc_server_shutdown_and_notify(s->server, s->cq, SHUTDOWN_TAG);
	grpc_server_cancel_all_calls(s->server);
	if (s->started)
		pthread_join(s->thread, NULL);
	server_free(s);
}
