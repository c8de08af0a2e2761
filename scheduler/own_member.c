/* own_member.c - which configured member is this host's: daemon.member, else the
 * first without an agent: address (such a member is on this host by definition),
 * else the first whose client URL is an address of this host. Apart from the election so
 * that the configuration (the agent's default listen address) can ask without
 * pulling in the daemon. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scheduler/daemon_impl.h"

/* An address is this host's when a socket can be bound to it: no interface list
 * (getifaddrs needs netlink, which the daemon's unit does not allow). */
static bool is_local_address(const char *host)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL, *a;
	bool local = false;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (a = res; a && !local; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* port 0: any free port, so a member already listening there does not matter */
		if (a->ai_family == AF_INET)
			((struct sockaddr_in *)a->ai_addr)->sin_port = 0;
		else if (a->ai_family == AF_INET6)
			((struct sockaddr_in6 *)a->ai_addr)->sin6_port = 0;
		local = bind(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return local;
}

int daemon_own_member(const struct rv_config *cfg, char *buf, size_t len)
{
	const struct cluster_spec *cs = &cfg->cluster;
	if (cfg->daemon.member) {
		snprintf(buf, len, "%s", cfg->daemon.member);
		return 0;
	}
	/* A member without an agent: is on this host by definition: on a single host
	 * (no agents at all) that is the first member, with no address lookup (which
	 * a sandbox may refuse). */
	for (size_t i = 0; i < cs->n_members; i++)
		if (!cs->members[i].agent || !cs->members[i].agent[0]) {
			snprintf(buf, len, "%s", cs->members[i].name);
			return 0;
		}
	/* Every member has an agent: the first whose client URL is an address of this
	 * host. */
	for (size_t i = 0; i < cs->n_members; i++) {
		char target[300], host[256];
		bool tls;
		if (etcd_parse_endpoint(cs->members[i].client_url, target, sizeof target, &tls) < 0)
			continue;
		rv_err_clear();
		char *colon = strrchr(target, ':');
		size_t hl = colon ? (size_t)(colon - target) : strlen(target);
		if (hl >= sizeof host)
			continue;
		memcpy(host, target, hl);
		host[hl] = 0;
		if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = 0;
		}
		if (is_local_address(host)) {
			snprintf(buf, len, "%s", cs->members[i].name);
			return 0;
		}
	}
	return rv_fail(-ENOENT, "none of the members' client URLs is an address of this host, so the daemon does not "
				"know which member is its own; set daemon.member to its name");
}

