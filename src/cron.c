#include "cron.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char *const months[] = { "jan", "feb", "mar", "apr", "may",
				      "jun", "jul", "aug", "sep", "oct",
				      "nov", "dec" };
static const char *const days[] = { "sun", "mon", "tue", "wed", "thu",
				    "fri", "sat" };

static const struct field {
	const char *name;
	int min, max;
	const char *const *names;
	int name_base;
} fields[5] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day of month", 1, 31, NULL, 0 },
	{ "month", 1, 12, months, 1 },
	{ "day of week", 0, 7, days, 0 },
};

static int number(const struct field *f, const char **p, int *out)
{
	char *end;
	long v;

	if (f->names) {
		size_t nnames = f->names == months ? 12 : 7;
		for (size_t i = 0; i < nnames; i++) {
			if (strncasecmp(*p, f->names[i], 3) == 0) {
				*out = (int)i + f->name_base;
				*p += 3;
				return 0;
			}
		}
	}
	if (**p < '0' || **p > '9')
		return -1;
	v = strtol(*p, &end, 10);
	if (v < f->min || v > f->max)
		return -1;
	*out = (int)v;
	*p = end;
	return 0;
}

static int parse_field(const struct field *f, const char *text, uint64_t *bits,
		       bool *any, char **err)
{
	const char *p = text;

	*bits = 0;
	*any = strcmp(text, "*") == 0;
	for (;;) {
		int lo, hi, step = 1;
		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
		} else {
			if (number(f, &p, &lo) < 0)
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (number(f, &p, &hi) < 0 || hi < lo)
					goto bad;
			}
		}
		if (*p == '/') {
			char *end;
			p++;
			if (*p < '0' || *p > '9')	/* strtol takes signs */
				goto bad;
			step = (int)strtol(p, &end, 10);
			if (end == p || step < 1 || step > f->max)
				goto bad;
			p = end;
			if (hi == lo)
				hi = f->max;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= 1ull << v;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			return 0;
		goto bad;
	}
bad:
	*err = fr_xasprintf("invalid %s field '%s' (allowed %d-%d)", f->name,
			    text, f->min, f->max);
	return -1;
}

int fr_cron_parse(struct fr_cron *out, const char *text, char **err)
{
	char *copy = fr_xstrdup(text), *save = NULL, *tok;
	uint64_t bits[5];
	bool any[5];
	int n = 0;

	*err = NULL;
	for (tok = strtok_r(copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (n == 5 || parse_field(&fields[n], tok, &bits[n], &any[n], err) < 0)
			break;
		n++;
	}
	free(copy);
	if (*err)
		return -1;
	if (n != 5 || tok) {
		*err = fr_xasprintf("a cron expression has five fields (minute "
				    "hour day-of-month month day-of-week); "
				    "'%s' has %s", text, n < 5 ? "fewer" : "more");
		return -1;
	}
	if (bits[4] & (1ull << 7))
		bits[4] |= 1;	/* 7 is Sunday too */
	out->minute = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->month = (uint32_t)bits[3];
	out->dow = (uint32_t)bits[4];
	out->dom_any = any[2];
	out->dow_any = any[4];
	return 0;
}

static bool day_matches(const struct fr_cron *c, const struct tm *tm)
{
	bool dom = c->dom & (1u << tm->tm_mday);
	bool dow = c->dow & (1u << tm->tm_wday);

	if (c->dom_any || c->dow_any)
		return dom && dow;
	return dom || dow;
}

time_t fr_cron_next(const struct fr_cron *c, time_t t)
{
	struct tm tm;
	time_t limit = t + 5 * 366 * 86400;

	t = t - t % 60 + 60;
	while (t < limit) {
		gmtime_r(&t, &tm);
		if (!(c->month & (1u << (tm.tm_mon + 1))) || !day_matches(c, &tm)) {
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
			continue;
		}
		if (!(c->hour & (1u << tm.tm_hour))) {
			t += 3600 - tm.tm_min * 60;
			continue;
		}
		if (!(c->minute & (1ull << tm.tm_min))) {
			t += 60;
			continue;
		}
		return t;
	}
	return -1;
}
