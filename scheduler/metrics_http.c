/* metrics_http.c - the metrics endpoint: a listening socket and one request at a
 * time, answered from the caller's poll() loop. Small on purpose, like redis'
 * anet.c: no threads, no keep-alive, one deadline for the whole exchange, so a
 * slow or silent client costs the loop at most RV_METRICS_HTTP_DEADLINE_MS. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"

/* ---- listening ---- */

/* Split "host:port", "[v6]:port" or ":port" into host ("" for every address) and
 * port. False when it is none of those. */
static bool split_listen(const char *where, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *h = where;
	size_t n;
	if (where[0] == '[') {
		const char *close = strchr(where, ']');
		if (!close || close[1] != ':')
			return false;
		h = where + 1;
		n = (size_t)(close - h);
		colon = close + 1;
		if (n == 0)
			return false;
	} else {
		colon = strrchr(where, ':');
		if (!colon)
			return false;
		n = (size_t)(colon - where);
		if (memchr(where, ':', n)) /* a bare IPv6 address: its port is ambiguous */
			return false;
	}
	const char *p = colon + 1;
	if (n >= hlen || !*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) || atoi(p) > 65535)
		return false;
	memcpy(host, h, n);
	host[n] = 0;
	snprintf(port, plen, "%s", p);
	return true;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int *fd)
{
	int s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;
	if (s < 0)
		return -errno;
	/* A restarted daemon binds again at once, whatever connections linger. */
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->sa_family == AF_INET6) {
		/* "::" alone takes IPv4 too, as ":port" promises. */
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		bool any = memcmp(&a6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof one);
	}
	if (bind(s, sa, len) < 0 || listen(s, 16) < 0) {
		int r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

static int bind_error(const char *where, int r)
{
	if (r == -EADDRINUSE)
		return rv_fail(r, "cannot serve metrics on %s: the port is in use by another program; stop that program or choose another port",
			       where);
	if (r == -EADDRNOTAVAIL)
		return rv_fail(r, "cannot serve metrics on %s: the address is not one of this host's; choose one it has, or :PORT for all",
			       where);
	if (r == -EACCES)
		return rv_fail(r, "cannot serve metrics on %s: a port below 1024 needs privileges; choose a port above 1023",
			       where);
	return rv_fail(r, "cannot serve metrics on %s: %s", where, strerror(-r));
}

int rv_metrics_http_listen(const char *where, int *fd)
{
	char host[256], port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res, *ai;
	int r;

	*fd = -1;
	if (!where || !split_listen(where, host, sizeof host, port, sizeof port))
		return rv_fail(-EINVAL, "the metrics listen address '%s' is not valid: give HOST:PORT, [IPV6]:PORT or :PORT, such as 127.0.0.1:9479",
			       where ? where : "");
	if (!host[0]) {
		/* Every address: IPv6's any with IPv4 mapped, else IPv4's on a host without IPv6. */
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port))};
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
		r = listen_on((struct sockaddr *)&a6, sizeof a6, fd);
		if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) /* no IPv6 here, or it is switched off */
			r = listen_on((struct sockaddr *)&a4, sizeof a4, fd);
		return r < 0 ? bind_error(where, r) : 0;
	}
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0)
		return rv_fail(-EINVAL, "the metrics listen address '%s' does not resolve: %s; give an address of this host",
			       where, gai_strerror(r));
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next)
		if ((r = listen_on(ai->ai_addr, ai->ai_addrlen, fd)) == 0 || r == -EADDRINUSE)
			break;
	freeaddrinfo(res);
	return r < 0 ? bind_error(where, r) : 0;
}

/* ---- one exchange ---- */

static int ms_left(double deadline)
{
	double left = (deadline - rv_now_mono()) * 1000;
	return left <= 0 ? 0 : (int)left + 1;
}

/* Wait for events on c until the deadline: false when it passed or c failed. */
static bool wait_for(int c, short events, double deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c, .events = events};
		int left = ms_left(deadline), n;
		if (left == 0)
			return false;
		n = poll(&p, 1, left);
		if (n > 0)
			return true;
		if (n == 0 || errno != EINTR)
			return false;
	}
}

/* Read up to the blank line that ends the head. 1 with the head, 0 when it is too
 * long, -1 when the client went away or took too long. */
static int read_head(int c, char *buf, size_t cap, double deadline)
{
	size_t len = 0;
	buf[0] = 0;
	while (!strstr(buf, "\r\n\r\n") && !strstr(buf, "\n\n")) {
		if (len >= cap - 1)
			return 0;
		ssize_t n = recv(c, buf + len, cap - 1 - len, 0);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(c, POLLIN, deadline))
				return -1;
			continue;
		}
		len += (size_t)n;
		buf[len] = 0;
		if (memchr(buf, 0, len)) /* a NUL is no HTTP */
			return 0;
	}
	return 1;
}

static bool send_all(int c, const char *p, size_t n, double deadline)
{
	while (n) {
		/* MSG_NOSIGNAL: a client gone is an error here, not a SIGPIPE for the process. */
		ssize_t w = send(c, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(c, POLLOUT, deadline))
				return false;
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void respond(int c, int status, const char *reason, const char *type, const char *body, size_t len,
		    bool with_body, double deadline)
{
	struct rv_buf head = {0};
	rv_buf_printf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		      status, reason, type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (send_all(c, head.data, head.len, deadline) && with_body)
		send_all(c, body, len, deadline);
	rv_buf_free(&head);
}

#define TEXT "text/plain; charset=utf-8"

static void answer(int c, const char *head, struct rv_metrics *m, bool healthy, double deadline)
{
	char method[16], target[1024];
	const char *sp1 = strchr(head, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	const char *eol = strpbrk(head, "\r\n");
	size_t ml = sp1 ? (size_t)(sp1 - head) : 0, tl = sp2 ? (size_t)(sp2 - sp1 - 1) : 0;

	if (!sp1 || !sp2 || (eol && sp2 > eol) || ml == 0 || ml >= sizeof method || tl == 0 || tl >= sizeof target ||
	    strncmp(sp2 + 1, "HTTP/", 5) != 0) {
		const char *msg = "bad request\n";
		respond(c, 400, "Bad Request", TEXT, msg, strlen(msg), true, deadline);
		return;
	}
	memcpy(method, head, ml);
	method[ml] = 0;
	memcpy(target, sp1 + 1, tl);
	target[tl] = 0;
	target[strcspn(target, "?")] = 0; /* a scraper's parameters change nothing */
	bool is_head = strcmp(method, "HEAD") == 0;
	if (!is_head && strcmp(method, "GET") != 0) {
		const char *msg = "only GET and HEAD\n";
		respond(c, 405, "Method Not Allowed", TEXT, msg, strlen(msg), true, deadline);
	} else if (strcmp(target, "/metrics") == 0) {
		struct rv_buf text = {0};
		rv_metrics_render(m, &text);
		respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text.data ? text.data : "", text.len,
			!is_head, deadline);
		rv_buf_free(&text);
	} else if (strcmp(target, "/healthz") == 0) {
		const char *msg = healthy ? "ok\n" : "unhealthy\n";
		respond(c, healthy ? 200 : 503, healthy ? "OK" : "Service Unavailable", TEXT, msg, strlen(msg), !is_head,
			deadline);
	} else {
		const char *msg = "not found: try /metrics or /healthz\n";
		respond(c, 404, "Not Found", TEXT, msg, strlen(msg), !is_head, deadline);
	}
}

int rv_metrics_http_serve(int listen_fd, struct rv_metrics *m, bool healthy)
{
	char head[RV_METRICS_HTTP_MAX_REQUEST + 1];
	int c = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0) {
		int e = errno;
		/* Nothing waiting, or a client that gave up on its own: not the server's. */
		if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM ||
		    e == ENETDOWN || e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH ||
		    e == EOPNOTSUPP || e == ENETUNREACH)
			return 0;
		return rv_fail(-e, "cannot accept a connection to the metrics endpoint: %s%s", strerror(e),
			       e == EMFILE || e == ENFILE ? "; raise the limit of open files" : "");
	}
	double deadline = rv_now_mono() + RV_METRICS_HTTP_DEADLINE_MS / 1000.0;
	int got = read_head(c, head, sizeof head, deadline);
	if (got == 0) {
		const char *msg = "request too large\n";
		respond(c, 431, "Request Header Fields Too Large", TEXT, msg, strlen(msg), true, deadline);
	} else if (got > 0) {
		answer(c, head, m, healthy, deadline);
	}
	/* Half-close and take what the client still sends, without waiting, so that
	 * closing with unread bytes does not reset the answer away. */
	shutdown(c, SHUT_WR);
	for (int i = 0; i < 16 && recv(c, head, sizeof head, MSG_DONTWAIT) > 0; i++)
		;
	close(c);
	return 0;
}
