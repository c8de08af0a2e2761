/* member_control.c - the registry's member calls, forwarded to the operations of
 * the member's `control:` kind. The only place that looks at the kind. */
#include "common/common.h"
#include "registry/lifecycle_impl.h"
#include "registry/registry.h"

const struct member_control_ops *member_control(const struct member_spec *m)
{
	static const struct member_control_ops *const by_kind[] = {
		[MEMBER_CONTROL_LOCAL] = &member_control_local,
		[MEMBER_CONTROL_SYSTEMD] = &member_control_systemd,
	};
	unsigned k = (unsigned)m->control;
	return k < RV_ARRAY_LEN(by_kind) && by_kind[k] ? by_kind[k] : &member_control_local;
}

int member_start(const struct cluster_spec *cs, size_t idx)
{
	return member_control(&cs->members[idx])->start(cs, idx);
}

int member_stop(const struct cluster_spec *cs, size_t idx, int timeout_ms)
{
	return member_control(&cs->members[idx])->stop(cs, idx, timeout_ms);
}

pid_t member_running_pid(const struct member_spec *m)
{
	return member_control(m)->running_pid(m);
}

char *member_log_tail(const struct member_spec *m, int lines)
{
	return member_control(m)->log_tail(m, lines);
}
