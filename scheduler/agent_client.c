/* agent_client.c - calls to the agent on another host: a channel per call (the
 * commands make a few), mutual TLS with agent.ca_file, cert_file and key_file
 * unless agent.insecure, and agent.timeout as every call's deadline. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/common.h"
#include "scheduler/agent_impl.h"

/* "host" of "host:port" (brackets kept off an IPv6 address). */
static void host_of(const char *addr, char *buf, size_t len)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	snprintf(buf, len, "%.*s", (int)n, addr);
}

int agent_unary(const struct rv_config *c, size_t idx, enum agent_method m, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *rd, int64_t timeout_ms, ProtobufCMessage **resp)
{
	const struct member_spec *ms = &c->cluster.members[idx];
	const struct agent_settings *as = &c->agent;
	char host[256];
	int r;
	*resp = NULL;
	if (!ms->agent)
		return rv_fail(-EINVAL, "member %s has no agent: address", ms->name);
	host_of(ms->agent, host, sizeof host);
	if (timeout_ms <= 0)
		timeout_ms = as->timeout_ms > 0 ? as->timeout_ms : 5000;

	etcd_global_init();
	grpc_channel_credentials *cr;
	if (as->insecure) {
		cr = grpc_insecure_credentials_create();
	} else {
		struct agent_pem p;
		if ((r = agent_pem_load(as, &p)) < 0) {
			etcd_global_shutdown();
			return r;
		}
		grpc_ssl_pem_key_cert_pair pair = {.private_key = p.key, .cert_chain = p.cert};
		cr = grpc_ssl_credentials_create(p.ca, &pair, NULL, NULL);
		agent_pem_free(&p);
		if (!cr) {
			etcd_global_shutdown();
			return rv_fail(-EINVAL, "cannot set up TLS to the agents with agent.cert_file and agent.key_file");
		}
	}
	grpc_channel *ch = grpc_channel_create(ms->agent, cr, NULL);
	grpc_channel_credentials_release(cr);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_static_string(agent_method_path[m]);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline, NULL);

	grpc_byte_buffer *send = agent_pack(req), *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	const char *error_string = NULL;
	grpc_op ops[6];
	memset(ops, 0, sizeof ops);
	/* Fail fast: a refused connection or TLS handshake is an answer at once; a host
	 * that does not answer at all takes the deadline. */
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &st;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.error_string = &error_string;
	grpc_call_error ce = grpc_call_start_batch(call, ops, 6, (void *)1, NULL);
	if (ce == GRPC_CALL_OK)
		grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

	char why[1536];
	snprintf(why, sizeof why, "%.*s", (int)GRPC_SLICE_LENGTH(details), (const char *)GRPC_SLICE_START_PTR(details));
	if (ce != GRPC_CALL_OK) {
		r = rv_fail(-EIO, "cannot call the agent of host %s (%s): gRPC error %d", host, ms->agent, (int)ce);
	} else if (st == GRPC_STATUS_DEADLINE_EXCEEDED) {
		r = rv_fail(-ETIMEDOUT, "host %s (agent %s, member %s) does not answer within %.1f s%s%s", host,
			    ms->agent, ms->name, (double)timeout_ms / 1000, why[0] ? ": " : "", why);
	} else if (st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_UNAUTHENTICATED) {
		r = rv_fail(-ECONNREFUSED, "host %s (agent %s, member %s) cannot be reached%s: %s", host, ms->agent,
			    ms->name, as->insecure ? "" : " with mutual TLS (is its certificate from agent.ca_file's CA?)",
			    why[0] ? why : "connection failed");
	} else if (st != GRPC_STATUS_OK) {
		r = rv_fail(agent_status_to_errno(st), "host %s (agent %s): %s", host, ms->agent,
			    why[0] ? why : "the call failed");
	} else if (!recv || !(*resp = agent_unpack(rd, recv))) {
		r = rv_fail(-EPROTO, "host %s (agent %s) answered %s with a message that cannot be read", host,
			    ms->agent, agent_method_name[m]);
	} else {
		r = 0;
	}
	if (error_string)
		gpr_free((void *)error_string);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	etcd_global_shutdown();
	return r;
}

int agent_host_status(const struct rv_config *c, size_t idx, struct agent_host_status *out)
{
	memset(out, 0, sizeof *out);
	Regvault__Agent__V1__HostStatusRequest rq = REGVAULT__AGENT__V1__HOST_STATUS_REQUEST__INIT;
	rq.member = c->cluster.members[idx].name;
	ProtobufCMessage *m;
	int r = agent_unary(c, idx, AGENT_HOST_STATUS, &rq.base, &regvault__agent__v1__host_status_response__descriptor, 0, &m);
	if (r < 0)
		return r;
	Regvault__Agent__V1__HostStatusResponse *a = (void *)m;
	snprintf(out->hostname, sizeof out->hostname, "%s", a->hostname ? a->hostname : "");
	snprintf(out->member, sizeof out->member, "%s", a->member ? a->member : "");
	snprintf(out->data_dir, sizeof out->data_dir, "%s", a->data_dir ? a->data_dir : "");
	out->pid = a->pid;
	out->agent_pid = a->agent_pid;
	out->running = a->running;
	out->disk_free_bytes = a->disk_free_bytes;
	snprintf(out->disk_error, sizeof out->disk_error, "%s", a->disk_error ? a->disk_error : "");
	if (a->etcd) {
		const Regvault__Agent__V1__MemberEtcdStatus *e = a->etcd;
		out->etcd_answered = e->answered;
		snprintf(out->etcd_error, sizeof out->etcd_error, "%s", e->error ? e->error : "");
		snprintf(out->etcd.version, sizeof out->etcd.version, "%s", e->version ? e->version : "");
		out->etcd.db_size = e->db_size;
		out->etcd.db_size_in_use = e->db_size_in_use;
		out->etcd.hdr.member_id = e->member_id;
		out->etcd.leader = e->leader;
		out->etcd.raft_term = e->raft_term;
		out->etcd.raft_index = e->raft_index;
		out->etcd.is_learner = e->is_learner;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int agent_member_start(const struct rv_config *c, size_t idx, int *pid)
{
	Regvault__Agent__V1__MemberRequest rq = REGVAULT__AGENT__V1__MEMBER_REQUEST__INIT;
	rq.member = c->cluster.members[idx].name;
	ProtobufCMessage *m;
	/* etcd's start is quick; its health is waited for by the caller. */
	int r = agent_unary(c, idx, AGENT_MEMBER_START, &rq.base, &regvault__agent__v1__member_response__descriptor,
		      c->agent.timeout_ms + 10000, &m);
	if (r < 0)
		return r;
	if (pid)
		*pid = ((Regvault__Agent__V1__MemberResponse *)m)->pid;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int agent_member_stop(const struct rv_config *c, size_t idx, int timeout_ms, bool *was_running)
{
	Regvault__Agent__V1__MemberRequest rq = REGVAULT__AGENT__V1__MEMBER_REQUEST__INIT;
	rq.member = c->cluster.members[idx].name;
	rq.timeout_ms = timeout_ms;
	ProtobufCMessage *m;
	int r = agent_unary(c, idx, AGENT_MEMBER_STOP, &rq.base, &regvault__agent__v1__member_response__descriptor,
		      c->agent.timeout_ms + timeout_ms + 2000, &m);
	if (r < 0)
		return r;
	if (was_running)
		*was_running = ((Regvault__Agent__V1__MemberResponse *)m)->was_running;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int agent_member_log_tail(const struct rv_config *c, size_t idx, int lines, char **text)
{
	Regvault__Agent__V1__LogTailRequest rq = REGVAULT__AGENT__V1__LOG_TAIL_REQUEST__INIT;
	rq.member = c->cluster.members[idx].name;
	rq.lines = lines;
	ProtobufCMessage *m;
	*text = NULL;
	int r = agent_unary(c, idx, AGENT_MEMBER_LOG_TAIL, &rq.base, &regvault__agent__v1__log_tail_response__descriptor, 0, &m);
	if (r < 0)
		return r;
	const char *t = ((Regvault__Agent__V1__LogTailResponse *)m)->text;
	*text = rv_strdup(t ? t : "");
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

struct status_job {
	const struct rv_config *c;
	size_t idx;
	struct agent_host_row *row;
	pthread_t t;
	bool started;
};

static void *status_main(void *arg)
{
	struct status_job *j = arg;
	int r = agent_host_status(j->c, j->idx, &j->row->st);
	j->row->err = r;
	if (r < 0) {
		snprintf(j->row->error, sizeof j->row->error, "%s", rv_errmsg(r));
		rv_err_clear();
	}
	return NULL;
}

struct agent_status_batch {
	size_t n;
	struct agent_host_row *rows;
	struct status_job *jobs;
};

struct agent_status_batch *agent_status_begin(const struct rv_config *c)
{
	size_t n = c->cluster.n_members;
	struct agent_status_batch *b = rv_xcalloc(1, sizeof *b);
	b->n = n;
	b->rows = rv_xcalloc(n ? n : 1, sizeof *b->rows);
	b->jobs = rv_xcalloc(n ? n : 1, sizeof *b->jobs);
	for (size_t i = 0; i < n; i++) {
		if (!c->cluster.members[i].agent)
			continue;
		b->rows[i].asked = true;
		b->jobs[i] = (struct status_job){c, i, &b->rows[i], 0, false};
		if (pthread_create(&b->jobs[i].t, NULL, status_main, &b->jobs[i]) == 0)
			b->jobs[i].started = true;
		else
			status_main(&b->jobs[i]);
	}
	return b;
}

struct agent_host_row *agent_status_end(struct agent_status_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->jobs[i].started)
			pthread_join(b->jobs[i].t, NULL);
	struct agent_host_row *rows = b->rows;
	free(b->jobs);
	free(b);
	return rows;
}

struct agent_host_row *agent_status_all(const struct rv_config *c)
{
	return agent_status_end(agent_status_begin(c));
}
