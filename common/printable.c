/* printable.c - names from a store or a server shown on a terminal without
 * letting their control characters move the cursor or recolour it. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* The escape for c in out (at least 5 bytes). */
static void escape(unsigned char c, char *out)
{
	switch (c) {
	case '\n': strcpy(out, "\\n"); break;
	case '\r': strcpy(out, "\\r"); break;
	case '\t': strcpy(out, "\\t"); break;
	default: snprintf(out, 5, "\\x%02x", c); break;
	}
}

const char *rv_printable(const char *s, char *buf, size_t len)
{
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)s; *p && !is_ctl(*p); p++)
		;
	if (!*p || len == 0)
		return s;
	for (p = (const unsigned char *)s; *p; p++) {
		char e[5] = {(char)*p, 0};
		size_t k;
		if (is_ctl(*p))
			escape(*p, e);
		k = strlen(e);
		if (o + k >= len)
			break;
		memcpy(buf + o, e, k);
		o += k;
	}
	buf[o] = 0;
	return buf;
}

void rv_fputs_printable(const char *s, FILE *f)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* a break into an indented line is how messages quote a member's log
		 * (fail_with_log): kept, since it cannot pass for a line of its own */
		if (*p == '\n' && !strncmp((const char *)p + 1, "    ", 4)) {
			fputc('\n', f);
		} else if (is_ctl(*p)) {
			char e[5];
			escape(*p, e);
			fputs(e, f);
		} else {
			fputc(*p, f);
		}
	}
}
