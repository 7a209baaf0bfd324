/*
 * tap.h: a tiny TAP producer for unit tests.
 *
 *   ok(cond, "name %d", i);       "ok N - name" or "not ok N - name"
 *   is_str(got, want, "name");    compares strings, prints both on failure
 *   is_int(got, want, "name");
 *   return done_testing();        prints the plan; 1 when anything failed
 */
#ifndef FR_TAP_H
#define FR_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;
static const char *tap_prefix;	/* printed before each name when set */

static inline int tap_ok(int cond, const char *file, int line,
			 const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - %s%s", cond ? "" : "not ", tap_n,
	       tap_prefix ? tap_prefix : "", tap_prefix ? ": " : "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_str(got, want, ...)                                               \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		if (!ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_,           \
			__VA_ARGS__))                                        \
			printf("#   got:  '%s'\n#   want: '%s'\n",           \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");      \
	} while (0)

#define is_int(got, want, ...)                                               \
	do {                                                                 \
		long long g_ = (got), w_ = (want);                           \
		if (!ok(g_ == w_, __VA_ARGS__))                              \
			printf("#   got:  %lld\n#   want: %lld\n", g_, w_);  \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
