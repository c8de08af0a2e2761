/* etcd_lease.c - LeaseGrant, LeaseKeepAlive (one round trip on the bidirectional
 * stream: send, half-close, read the answer), LeaseRevoke. */
#include <errno.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

int etcd_lease_grant(etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl)
{
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	struct etcd_call call = {
		.method = "/etcdserverpb.Lease/LeaseGrant",
		.what = "LeaseGrant",
		.req = &req.base,
		.resp_desc = &etcdserverpb__lease_grant_response__descriptor,
		.require_leader = true,
	};
	Etcdserverpb__LeaseGrantResponse *r;
	int rc;
	req.ttl = ttl;
	rc = etcd_unary(c, ETCD_ANY, &call, (ProtobufCMessage **)&r);
	if (rc < 0)
		return rc;
	if (r->error && *r->error) {
		rc = rv_fail(-EIO, "LeaseGrant failed: %s", r->error);
	} else {
		*id = r->id;
		if (granted_ttl)
			*granted_ttl = r->ttl;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int etcd_lease_keepalive(etcd_client *c, int64_t id, int64_t *ttl)
{
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	struct etcd_call call = {
		.method = "/etcdserverpb.Lease/LeaseKeepAlive",
		.what = "LeaseKeepAlive",
		.req = &req.base,
		.resp_desc = &etcdserverpb__lease_keep_alive_response__descriptor,
		.require_leader = true,
	};
	Etcdserverpb__LeaseKeepAliveResponse *r;
	int rc;
	req.id = id;
	rc = etcd_unary(c, ETCD_ANY, &call, (ProtobufCMessage **)&r);
	if (rc < 0)
		return rc;
	*ttl = r->ttl;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_lease_revoke(etcd_client *c, int64_t id)
{
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	struct etcd_call call = {
		.method = "/etcdserverpb.Lease/LeaseRevoke",
		.what = "LeaseRevoke",
		.req = &req.base,
		.resp_desc = &etcdserverpb__lease_revoke_response__descriptor,
		.require_leader = true,
	};
	req.id = id;
	return etcd_unary_noreply(c, ETCD_ANY, &call);
}
