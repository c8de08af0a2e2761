/* agent_impl.h - what the agent's server (agent_server.c) and client
 * (agent_client.c) share: the method names, messages in and out of gRPC byte
 * buffers, the TLS material, and errno <-> gRPC status. */
#ifndef REGVAULT_AGENT_IMPL_H
#define REGVAULT_AGENT_IMPL_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>

#include "agent.pb-c.h"
#include "scheduler/scheduler.h"

#define AGENT_SERVICE "/regvault.agent.v1.Agent/"
enum agent_method { AGENT_HOST_STATUS, AGENT_MEMBER_START, AGENT_MEMBER_STOP, AGENT_MEMBER_LOG_TAIL,
		    AGENT_RESTORE_RECEIVE, AGENT_RESTORE_PREPARE, AGENT_RESTORE_COMMIT, AGENT_RESTORE_OPEN,
		    AGENT_RESTORE_ROLLBACK, AGENT_RESTORE_CLEANUP, AGENT_RESTORE_STATUS, AGENT_RESTORE_LOCK,
		    AGENT_RESTORE_CHECK, AGENT_METHOD_COUNT };
extern const char *const agent_method_path[AGENT_METHOD_COUNT]; /* "/regvault.agent.v1.Agent/HostStatus" */
extern const char *const agent_method_name[AGENT_METHOD_COUNT]; /* "HostStatus" */

grpc_byte_buffer *agent_pack(const ProtobufCMessage *m);
ProtobufCMessage *agent_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb);

/* The three PEM files of as (key wiped by agent_pem_free). -EINVAL/-ENOENT with a sentence. */
struct agent_pem {
	char *ca, *cert, *key;
};
int agent_pem_load(const struct agent_settings *as, struct agent_pem *p);
void agent_pem_free(struct agent_pem *p);

/* The restore steps' handlers (agent_restore_server.c): cfg is the agent's, own its member. */
int agent_restore_answer(const struct rv_config *cfg, const char *own, int method, grpc_byte_buffer *in,
			 grpc_byte_buffer **resp);
/* The coordinator lock (agent_restore_lock.c), the agent's side: take or renew the
 * lock of this host for coordinator id ("" only looks: refused while another holds
 * it), and give it up (its holder's, or a lapsed one). The lock is the file
 * state_dir/coordinator-lock.json; it lapses AGENT_LOCK_TTL_MS after its last renewal. */
#define AGENT_LOCK_TTL_MS 10000
int agent_lock_hold(const struct rv_config *cfg, const char *own, const char *id);
void agent_lock_release(const struct rv_config *cfg, const char *id);
int agent_lock_answer(const struct rv_config *cfg, const char *own, grpc_byte_buffer *in, grpc_byte_buffer **resp);
/* The coordinator's side: every host's lock taken in member order (waiting up to
 * wait_ms for a held one to lapse; 0: refused at once; a host that does not answer
 * refuses it too unless skip_unreachable: a rollback goes on without that host's
 * lock), kept renewed by a thread per host until agent_coord_unlock, which gives
 * them up. */
struct agent_coord_lock;
int agent_coord_lock(const struct rv_config *c, int wait_ms, bool skip_unreachable, const struct rv_cancel *cancel,
		     struct agent_coord_lock **out);
const char *agent_coord_lock_id(const struct agent_coord_lock *l);
void agent_coord_unlock(struct agent_coord_lock *l);
/* restore --dry-run: every host's RestoreCheck for the db at db_path, into
 * rep->hosts (agent_restore_check.c); with from_store (the coordinator's S3 store)
 * each host also opens its own store and finds the artifact in it. -EBUSY naming
 * the first host that could not. */
int agent_restore_check_all(const struct rv_config *c, const char *db_path, const char *ic, const char *from_store,
			    struct agent_restore_report *rep);
/* A unary call to member idx's agent (agent_client.c). */
int agent_unary(const struct rv_config *c, size_t idx, enum agent_method m, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *rd, int64_t timeout_ms, ProtobufCMessage **resp);

grpc_status_code agent_errno_to_status(int r);
int agent_status_to_errno(grpc_status_code st);

#endif
