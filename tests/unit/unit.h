/* unit.h - a table of test functions, registered by TEST(), run by unit.c.
 * Each test prints "PASS unit/<name>" or "FAIL unit/<name>: <where>: <what>". */
#ifndef REGVAULT_UNIT_H
#define REGVAULT_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};
void unit_register(const char *name, void (*fn)(void));
void unit_failed(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
extern bool unit_current_failed;

#define TEST(name)                                                            \
	static void test_##name(void);                                        \
	__attribute__((constructor)) static void register_##name(void)       \
	{                                                                     \
		unit_register(#name, test_##name);                            \
	}                                                                     \
	static void test_##name(void)

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			unit_failed(__FILE__, __LINE__, "%s", #cond);         \
			return;                                               \
		}                                                             \
	} while (0)

#define CHECK_INT(a, b)                                                       \
	do {                                                                  \
		long long a_ = (long long)(a), b_ = (long long)(b);           \
		if (a_ != b_) {                                               \
			unit_failed(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, a_, b_); \
			return;                                               \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *a_ = (a), *b_ = (b);                              \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                      \
			unit_failed(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, \
				    a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
			return;                                               \
		}                                                             \
	} while (0)

/* The haystack contains the needle. */
#define CHECK_CONTAINS(hay, needle)                                           \
	do {                                                                  \
		const char *h_ = (hay), *n_ = (needle);                       \
		if (!h_ || !strstr(h_, n_)) {                                 \
			unit_failed(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", #hay, \
				    h_ ? h_ : "(null)", n_);                  \
			return;                                               \
		}                                                             \
	} while (0)

#endif
