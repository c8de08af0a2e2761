/* agent_common.c - what the agent's server and client share (agent_impl.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "common/common.h"
#include "scheduler/agent_impl.h"

const char *const agent_method_path[AGENT_METHOD_COUNT] = {
	AGENT_SERVICE "HostStatus", AGENT_SERVICE "MemberStart", AGENT_SERVICE "MemberStop",
	AGENT_SERVICE "MemberLogTail", AGENT_SERVICE "RestoreReceive", AGENT_SERVICE "RestorePrepare",
	AGENT_SERVICE "RestoreCommit", AGENT_SERVICE "RestoreOpen", AGENT_SERVICE "RestoreRollback",
	AGENT_SERVICE "RestoreCleanup", AGENT_SERVICE "RestoreStatus", AGENT_SERVICE "RestoreLock", AGENT_SERVICE "RestoreCheck"};
const char *const agent_method_name[AGENT_METHOD_COUNT] = {"HostStatus", "MemberStart", "MemberStop",
							   "MemberLogTail", "RestoreReceive", "RestorePrepare",
							   "RestoreCommit", "RestoreOpen", "RestoreRollback",
							   "RestoreCleanup", "RestoreStatus", "RestoreLock", "RestoreCheck"};

grpc_byte_buffer *agent_pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(len);
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

ProtobufCMessage *agent_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice all = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	return m;
}

static int read_pem(const char *path, const char *key, char **out)
{
	size_t len;
	int r = rv_read_file(path, out, &len, 1 << 20);
	if (r < 0)
		return rv_fail(r, "cannot read the agent's TLS file %s (agent.%s): %s", path, key, strerror(-r));
	return 0;
}

int agent_pem_load(const struct agent_settings *as, struct agent_pem *p)
{
	int r;
	memset(p, 0, sizeof *p);
	if ((r = read_pem(as->ca_file, "ca_file", &p->ca)) < 0 || (r = read_pem(as->cert_file, "cert_file", &p->cert)) < 0 ||
	    (r = rv_check_secret_file(as->key_file, "agent key file")) < 0 ||
	    (r = read_pem(as->key_file, "key_file", &p->key)) < 0) {
		agent_pem_free(p);
		return r;
	}
	return 0;
}

void agent_pem_free(struct agent_pem *p)
{
	free(p->ca);
	free(p->cert);
	if (p->key) {
		explicit_bzero(p->key, strlen(p->key));
		free(p->key);
	}
	memset(p, 0, sizeof *p);
}

grpc_status_code agent_errno_to_status(int r)
{
	switch (r) {
	case 0: return GRPC_STATUS_OK;
	case -EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
	case -ENOENT: return GRPC_STATUS_NOT_FOUND;
	case -EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
	case -EPERM: case -EACCES: return GRPC_STATUS_PERMISSION_DENIED;
	case -ETIMEDOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case -EBUSY: return GRPC_STATUS_FAILED_PRECONDITION;
	case -ENOSPC: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case -ENOSYS: return GRPC_STATUS_UNIMPLEMENTED;
	case -ECONNREFUSED: return GRPC_STATUS_UNAVAILABLE;
	default: return GRPC_STATUS_INTERNAL;
	}
}

int agent_status_to_errno(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK: return 0;
	case GRPC_STATUS_INVALID_ARGUMENT: return -EINVAL;
	case GRPC_STATUS_NOT_FOUND: return -ENOENT;
	case GRPC_STATUS_ALREADY_EXISTS: return -EEXIST;
	case GRPC_STATUS_PERMISSION_DENIED: case GRPC_STATUS_UNAUTHENTICATED: return -EACCES;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return -ETIMEDOUT;
	case GRPC_STATUS_FAILED_PRECONDITION: return -EBUSY;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return -ENOSPC;
	case GRPC_STATUS_UNIMPLEMENTED: return -ENOSYS;
	case GRPC_STATUS_UNAVAILABLE: return -ECONNREFUSED;
	default: return -EIO;
	}
}
