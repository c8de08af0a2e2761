/* own_member.c - which configured member is this host's: daemon.member, else the
 * first whose client URL is an address of this host. Apart from the election so
 * that the configuration (the agent's default listen address) can ask without
 * pulling in the daemon. */
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "scheduler/daemon_impl.h"

static bool is_local_address(const char *host)
{
	struct ifaddrs *ifa, *i;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *a;
	bool local = false;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	if (getifaddrs(&ifa) == 0) {
		for (a = res; a && !local; a = a->ai_next)
			for (i = ifa; i && !local; i = i->ifa_next) {
				if (!i->ifa_addr || i->ifa_addr->sa_family != a->ai_family)
					continue;
				if (a->ai_family == AF_INET)
					local = memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr,
						       &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4) == 0;
				else if (a->ai_family == AF_INET6)
					local = memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
						       &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, 16) == 0;
			}
		freeifaddrs(ifa);
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
	/* The first member whose client URL is an address of this host: on a single
	 * host (every member here) that is the first member. */
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

