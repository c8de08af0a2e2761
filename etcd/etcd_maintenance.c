/* etcd_maintenance.c - Status, MemberList, Alarm, Compact, Defragment, HashKV,
 * MoveLeader: the per-member calls maintenance and status are built on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "etcd.pb-c.h"
#include "etcd/etcd_internal.h"

#define CALL(m, w, rq, rd) {.method = m, .what = w, .req = &(rq).base, .resp_desc = &rd}

int etcd_status(etcd_client *c, int ep, struct etcd_status *out)
{
	Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.Maintenance/Status", "Status", req,
				     etcdserverpb__status_response__descriptor);
	Etcdserverpb__StatusResponse *r;
	int rc = etcd_unary(c, ep, &call, (ProtobufCMessage **)&r);

	memset(out, 0, sizeof *out);
	if (rc < 0)
		return rc;
	etcd_copy_header(&out->hdr, r->header);
	snprintf(out->version, sizeof out->version, "%s", r->version ? r->version : "");
	out->db_size = r->dbsize;
	out->db_size_in_use = r->dbsizeinuse;
	out->leader = r->leader;
	out->raft_index = r->raftindex;
	out->raft_term = r->raftterm;
	out->raft_applied_index = r->raftappliedindex;
	out->is_learner = r->islearner;
	for (size_t i = 0; i < r->n_errors; i++) {
		size_t l = strlen(out->errors);
		snprintf(out->errors + l, sizeof out->errors - l, "%s%s", i ? "; " : "", r->errors[i]);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_member_list(etcd_client *c, int ep, struct etcd_member **out, size_t *n)
{
	Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.Cluster/MemberList", "MemberList", req,
				     etcdserverpb__member_list_response__descriptor);
	Etcdserverpb__MemberListResponse *r;
	int rc = etcd_unary(c, ep, &call, (ProtobufCMessage **)&r);

	*out = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	*out = rv_xcalloc(r->n_members ? r->n_members : 1, sizeof **out);
	*n = r->n_members;
	for (size_t i = 0; i < r->n_members; i++) {
		Etcdserverpb__Member *m = r->members[i];
		struct etcd_member *o = &(*out)[i];
		o->id = m->id;
		snprintf(o->name, sizeof o->name, "%s", m->name ? m->name : "");
		snprintf(o->peer_url, sizeof o->peer_url, "%s", m->n_peerurls ? m->peerurls[0] : "");
		snprintf(o->client_url, sizeof o->client_url, "%s", m->n_clienturls ? m->clienturls[0] : "");
		o->is_learner = m->islearner;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

const char *etcd_alarm_name(enum etcd_alarm_type t)
{
	switch (t) {
	case ETCD_ALARM_NOSPACE: return "NOSPACE";
	case ETCD_ALARM_CORRUPT: return "CORRUPT";
	default: return "NONE";
	}
}

static int alarm_call(etcd_client *c, int ep, Etcdserverpb__AlarmRequest *req, struct etcd_alarm **out, size_t *n)
{
	struct etcd_call call = CALL("/etcdserverpb.Maintenance/Alarm", "Alarm", *req,
				     etcdserverpb__alarm_response__descriptor);
	Etcdserverpb__AlarmResponse *r;
	int rc = etcd_unary(c, ep, &call, (ProtobufCMessage **)&r);
	if (out) {
		*out = NULL;
		*n = 0;
	}
	if (rc < 0)
		return rc;
	if (out) {
		*out = rv_xcalloc(r->n_alarms ? r->n_alarms : 1, sizeof **out);
		for (size_t i = 0; i < r->n_alarms; i++) {
			(*out)[i].member_id = r->alarms[i]->memberid;
			(*out)[i].type = (enum etcd_alarm_type)r->alarms[i]->alarm;
		}
		*n = r->n_alarms;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_alarm_list(etcd_client *c, int ep, struct etcd_alarm **out, size_t *n)
{
	Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
	req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
	return alarm_call(c, ep, &req, out, n);
}

int etcd_alarm_disarm(etcd_client *c, uint64_t member_id, enum etcd_alarm_type t)
{
	Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
	struct etcd_alarm *alarms;
	size_t n;
	int rc;

	req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
	if (member_id || t != ETCD_ALARM_NONE) {
		req.memberid = member_id;
		req.alarm = (Etcdserverpb__AlarmType)t;
		return alarm_call(c, ETCD_ANY, &req, NULL, NULL);
	}
	/* Every alarm, one at a time, as etcdctl alarm disarm does. */
	rc = etcd_alarm_list(c, ETCD_ANY, &alarms, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		req.memberid = alarms[i].member_id;
		req.alarm = (Etcdserverpb__AlarmType)alarms[i].type;
		rc = alarm_call(c, ETCD_ANY, &req, NULL, NULL);
	}
	free(alarms);
	return rc;
}

int etcd_compact(etcd_client *c, int64_t revision, bool physical)
{
	Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.KV/Compact", "Compact", req,
				     etcdserverpb__compaction_response__descriptor);
	req.revision = revision;
	req.physical = physical;
	call.require_leader = true;
	/* A physical compaction of a large db takes a while. */
	call.timeout_ms = physical ? 300000 : 0;
	return etcd_unary_noreply(c, ETCD_ANY, &call);
}

int etcd_defragment(etcd_client *c, int ep, int timeout_ms)
{
	Etcdserverpb__DefragmentRequest req = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.Maintenance/Defragment", "Defragment", req,
				     etcdserverpb__defragment_response__descriptor);
	call.timeout_ms = timeout_ms > 0 ? timeout_ms : 600000;
	return etcd_unary_noreply(c, ep, &call);
}

int etcd_hashkv(etcd_client *c, int ep, int64_t revision, uint32_t *hash, int64_t *compact_revision,
		struct etcd_header *hdr)
{
	Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.Maintenance/HashKV", "HashKV", req,
				     etcdserverpb__hash_kvresponse__descriptor);
	Etcdserverpb__HashKVResponse *r;
	int rc;
	req.revision = revision;
	call.timeout_ms = 120000; /* hashes the whole keyspace */
	rc = etcd_unary(c, ep, &call, (ProtobufCMessage **)&r);
	if (rc < 0)
		return rc;
	if (hash)
		*hash = r->hash;
	if (compact_revision)
		*compact_revision = r->compact_revision;
	if (hdr)
		etcd_copy_header(hdr, r->header);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_move_leader(etcd_client *c, int leader_ep, uint64_t target_id)
{
	Etcdserverpb__MoveLeaderRequest req = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
	struct etcd_call call = CALL("/etcdserverpb.Maintenance/MoveLeader", "MoveLeader", req,
				     etcdserverpb__move_leader_response__descriptor);
	req.targetid = target_id;
	call.timeout_ms = 30000;
	return etcd_unary_noreply(c, leader_ep, &call);
}

int etcd_member_health(etcd_client *c, int ep, struct etcd_member_health *out)
{
	return etcd_member_health_with(c, ep, NULL, 0, out);
}

int etcd_member_health_with(etcd_client *c, int ep, const struct etcd_alarm *given, size_t n_given,
			    struct etcd_member_health *out)
{
	struct etcd_alarm *alarms = NULL;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof *out);
	r = etcd_status(c, ep, &out->status);
	if (r < 0) {
		snprintf(out->reason, sizeof out->reason, "%s", rv_errmsg(r));
		out->err = r;
		return 0;
	}
	out->reachable = true;
	if (!given) {
		/* Alarms are cluster-wide state; ask this member for the list, as /health does. */
		r = etcd_alarm_list(c, ep, &alarms, &n);
		if (r < 0) {
			snprintf(out->reason, sizeof out->reason, "cannot read alarms: %s", rv_errmsg(r));
			return 0;
		}
		given = alarms;
		n_given = n;
	}
	for (size_t i = 0; i < n_given; i++) {
		if (given[i].member_id != out->status.hdr.member_id || given[i].type == ETCD_ALARM_NONE)
			continue;
		size_t l = strlen(out->alarms);
		snprintf(out->alarms + l, sizeof out->alarms - l, "%s%s", l ? "," : "",
			 etcd_alarm_name(given[i].type));
	}
	free(alarms);
	if (out->status.leader == 0)
		snprintf(out->reason, sizeof out->reason, "the member sees no leader");
	else if (out->alarms[0])
		snprintf(out->reason, sizeof out->reason, "alarm raised: %s", out->alarms);
	else if (out->status.errors[0])
		snprintf(out->reason, sizeof out->reason, "etcd reports: %s", out->status.errors);
	else
		out->healthy = true;
	return 0;
}
