/* etcd_lease.c - LeaseGrant, LeaseRevoke, LeaseTimeToLive, and LeaseKeepAlive:
 * one round trip on a stream of its own (send, half-close, read the answer), or a
 * persistent stream renewing any number of leases. */
#include <errno.h>
#include <stdlib.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

int etcd_lease_grant(etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl)
{
	*id = 0;
	return etcd_lease_grant_id(c, ttl, id, granted_ttl);
}

int etcd_lease_grant_id(etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl)
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
	req.id = *id;
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

int etcd_lease_time_to_live(etcd_client *c, int64_t id, int64_t *ttl, int64_t *granted_ttl)
{
	Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	struct etcd_call call = {
		.method = "/etcdserverpb.Lease/LeaseTimeToLive",
		.what = "LeaseTimeToLive",
		.req = &req.base,
		.resp_desc = &etcdserverpb__lease_time_to_live_response__descriptor,
		.require_leader = true,
	};
	Etcdserverpb__LeaseTimeToLiveResponse *r;
	int rc;
	req.id = id;
	rc = etcd_unary(c, ETCD_ANY, &call, (ProtobufCMessage **)&r);
	if (rc < 0)
		return rc;
	/* etcd answers TTL -1 for a lease it does not know. */
	if (r->ttl < 0) {
		rc = rv_fail(-ENOENT, "lease %" PRIx64 " does not exist (it expired or was revoked)", (uint64_t)id);
	} else {
		*ttl = r->ttl;
		if (granted_ttl)
			*granted_ttl = r->grantedttl;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

/* ---- the persistent keep-alive stream ---- */

struct etcd_keepalive {
	struct etcd_stream *s;
};

int etcd_keepalive_open(etcd_client *c, int ep, etcd_keepalive **out)
{
	struct etcd_stream *s = NULL;
	int r = 0, first;

	*out = NULL;
	if (ep >= 0) {
		if ((size_t)ep >= c->n)
			return rv_fail(-EINVAL, "no etcd endpoint number %d", ep);
		r = etcd_stream_open(c, ep, "/etcdserverpb.Lease/LeaseKeepAlive", "LeaseKeepAlive", true, &s);
	} else {
		first = etcd_first_endpoint(c);
		for (size_t i = 0; i < c->n; i++) {
			int e = (int)((first + i) % c->n);
			r = etcd_stream_open(c, e, "/etcdserverpb.Lease/LeaseKeepAlive", "LeaseKeepAlive", true, &s);
			if (r == 0 || !etcd_try_next_member(r))
				break;
			rv_debug("%s", rv_errmsg(r));
		}
	}
	if (r < 0)
		return r;
	*out = rv_xcalloc(1, sizeof **out);
	(*out)->s = s;
	return 0;
}

int etcd_keepalive_endpoint(const etcd_keepalive *k)
{
	return k->s->ep;
}

int etcd_keepalive_send(etcd_keepalive *k, int64_t id)
{
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	req.id = id;
	return etcd_stream_send(k->s, &req.base);
}

int etcd_keepalive_read(etcd_keepalive *k, int timeout_ms, const struct rv_cancel *cancel, int64_t *id,
			int64_t *ttl, struct etcd_header *hdr)
{
	Etcdserverpb__LeaseKeepAliveResponse *r;
	int rc = etcd_stream_recv(k->s, &etcdserverpb__lease_keep_alive_response__descriptor, timeout_ms, cancel,
				  (ProtobufCMessage **)&r);
	if (rc < 0)
		return rc;
	rc = etcd_keepalive_decode(r, id, ttl, hdr);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int etcd_keepalive_decode(const Etcdserverpb__LeaseKeepAliveResponse *r, int64_t *id, int64_t *ttl,
			  struct etcd_header *hdr)
{
	*id = r->id;
	*ttl = r->ttl;
	if (hdr)
		etcd_copy_header(hdr, r->header);
	/* etcd renews nothing and answers TTL 0 for a lease it does not know. */
	if (r->ttl <= 0)
		return rv_fail(-ENOENT, "lease %" PRIx64 " is gone (it expired or was revoked); grant a new one",
			       (uint64_t)r->id);
	return 0;
}

void etcd_keepalive_close(etcd_keepalive *k)
{
	if (!k)
		return;
	etcd_stream_close(k->s);
	free(k);
}
