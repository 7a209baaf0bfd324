/* cron: every field form, names, errors, and fr_cron_next across boundaries */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "tap.h"
#include "util.h"

/* Seconds since the epoch of a UTC date (timegm is not POSIX). */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	/* days from civil, Howard Hinnant's algorithm */
	int yy = mo <= 2 ? y - 1 : y;
	long era = (yy >= 0 ? yy : yy - 399) / 400;
	long yoe = yy - era * 400;
	long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;

	return (time_t)days * 86400 + h * 3600 + mi * 60 + s;
}

static char fmt_buf[8][32];
static int fmt_i;

/* "2024-01-31 23:59 Wed", or "never" for -1 */
static const char *fmt(time_t t)
{
	char *b = fmt_buf[fmt_i++ % 8];
	struct tm tm;

	if (t == (time_t)-1)
		return "never";
	gmtime_r(&t, &tm);
	strftime(b, 32, "%Y-%m-%d %H:%M:%S %a", &tm);
	return b;
}

static struct fr_cron parse_ok(const char *text)
{
	struct fr_cron c;
	char *err = NULL;

	memset(&c, 0, sizeof(c));
	ok(fr_cron_parse(&c, text, &err) == 0, "'%s' parses", text);
	if (err)
		printf("#   error: %s\n", err);
	free(err);
	return c;
}

static void parse_bad(const char *text, const char *want)
{
	struct fr_cron c;
	char *err = NULL;

	ok(fr_cron_parse(&c, text, &err) == -1, "'%s' refused", text);
	is_str(err, want, "message for '%s'", text);
	free(err);
}

static uint64_t bits(const int *v, size_t n)
{
	uint64_t b = 0;

	for (size_t i = 0; i < n; i++)
		b |= 1ull << v[i];
	return b;
}

#define BITS(...) bits((const int[]){ __VA_ARGS__ }, \
		       sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

static void fields(void)
{
	struct fr_cron c;

	c = parse_ok("* * * * *");
	ok(c.minute == (1ull << 60) - 1, "* minute: 0-59");
	ok(c.hour == (1u << 24) - 1, "* hour: 0-23");
	ok(c.dom == 0xFFFFFFFEu, "* day of month: 1-31");
	ok(c.month == ((1u << 13) - 1) - 1, "* month: 1-12");
	ok((c.dow & 0x7f) == 0x7f, "* day of week: every day");
	ok(c.dom_any && c.dow_any, "both day fields unrestricted");

	c = parse_ok("5 4 3 2 1");
	ok(c.minute == 1ull << 5 && c.hour == 1u << 4 && c.dom == 1u << 3 &&
	   c.month == 1u << 2 && c.dow == 1u << 1, "single numbers");
	ok(!c.dom_any && !c.dow_any, "restricted day fields");

	c = parse_ok("0-4 9-17 1-7 6-8 1-5");
	ok(c.minute == BITS(0, 1, 2, 3, 4), "range 0-4");
	ok(c.hour == BITS(9, 10, 11, 12, 13, 14, 15, 16, 17), "range 9-17");
	ok(c.month == BITS(6, 7, 8), "range 6-8");
	ok(c.dow == BITS(1, 2, 3, 4, 5), "range 1-5");

	c = parse_ok("*/15 */6 */10 */4 */2");
	ok(c.minute == BITS(0, 15, 30, 45), "*/15");
	ok(c.hour == BITS(0, 6, 12, 18), "*/6");
	ok(c.dom == BITS(1, 11, 21, 31), "*/10 counts from 1 in day of month");
	ok(c.month == BITS(1, 5, 9), "*/4 months");
	ok(c.dom_any == false, "*/10 is a restriction");

	c = parse_ok("10-30/10 1-23/11 * * *");
	ok(c.minute == BITS(10, 20, 30), "10-30/10");
	ok(c.hour == BITS(1, 12, 23), "1-23/11");

	c = parse_ok("5/20 * * * *");
	ok(c.minute == BITS(5, 25, 45), "5/20 runs from 5 to the end");

	c = parse_ok("1,2,30-32/2,59 0,12 1,15 1,7 0,6");
	ok(c.minute == BITS(1, 2, 30, 32, 59), "lists mix numbers and ranges");
	ok(c.hour == BITS(0, 12), "hour list");
	ok(c.dow == BITS(0, 6), "weekend");

	c = parse_ok("0 0 * JAN-MAR MON-FRI");
	ok(c.month == BITS(1, 2, 3), "month names");
	ok(c.dow == BITS(1, 2, 3, 4, 5), "day names");
	c = parse_ok("0 0 * jan,Jun,DEC sun,Sat");
	ok(c.month == BITS(1, 6, 12), "names in any case, in lists");
	ok(c.dow == BITS(0, 6), "sun and sat");
	c = parse_ok("0 0 * * 7");
	ok(c.dow & 1, "7 is Sunday");
	c = parse_ok("0 0 * * 5-7");
	ok((c.dow & 0x7f) == BITS(0, 5, 6), "5-7: Friday to Sunday");
	c = parse_ok("  0\t12  *  *   *  ");
	ok(c.minute == 1 && c.hour == 1u << 12, "spaces and tabs between fields");
}

static void errors(void)
{
	static const char five[] = "a cron expression has five fields "
				   "(minute hour day-of-month month "
				   "day-of-week); ";
	char *want;

	parse_bad("60 * * * *",
		  "invalid minute field '60' (allowed 0-59)");
	parse_bad("* 24 * * *", "invalid hour field '24' (allowed 0-23)");
	parse_bad("* * 0 * *",
		  "invalid day of month field '0' (allowed 1-31)");
	parse_bad("* * 32 * *",
		  "invalid day of month field '32' (allowed 1-31)");
	parse_bad("* * * 13 *", "invalid month field '13' (allowed 1-12)");
	parse_bad("* * * 0 *", "invalid month field '0' (allowed 1-12)");
	parse_bad("* * * * 8", "invalid day of week field '8' (allowed 0-7)");
	parse_bad("5-1 * * * *", "invalid minute field '5-1' (allowed 0-59)");
	parse_bad("*/0 * * * *", "invalid minute field '*/0' (allowed 0-59)");
	parse_bad("*/ * * * *", "invalid minute field '*/' (allowed 0-59)");
	parse_bad("*/60 * * * *",
		  "invalid minute field '*/60' (allowed 0-59)");
	parse_bad("*/+5 * * * *",
		  "invalid minute field '*/+5' (allowed 0-59)");
	parse_bad("*/-5 * * * *",
		  "invalid minute field '*/-5' (allowed 0-59)");
	parse_bad("1,,2 * * * *", "invalid minute field '1,,2' (allowed 0-59)");
	parse_bad("1, * * * *", "invalid minute field '1,' (allowed 0-59)");
	parse_bad("1- * * * *", "invalid minute field '1-' (allowed 0-59)");
	parse_bad("-1 * * * *", "invalid minute field '-1' (allowed 0-59)");
	parse_bad("1-2-3 * * * *",
		  "invalid minute field '1-2-3' (allowed 0-59)");
	parse_bad("x * * * *", "invalid minute field 'x' (allowed 0-59)");
	parse_bad("JAN * * * *", "invalid minute field 'JAN' (allowed 0-59)");
	parse_bad("0 0 * * MONDAY",
		  "invalid day of week field 'MONDAY' (allowed 0-7)");
	parse_bad("0 0 * JANUARY *",
		  "invalid month field 'JANUARY' (allowed 1-12)");
	parse_bad("0 0 * FOO *", "invalid month field 'FOO' (allowed 1-12)");
	parse_bad("0 0 * * SAT-SUN",
		  "invalid day of week field 'SAT-SUN' (allowed 0-7)");
	parse_bad("99999999999999999999 * * * *",
		  "invalid minute field '99999999999999999999' (allowed 0-59)");
	parse_bad("@daily", "invalid minute field '@daily' (allowed 0-59)");

	want = fr_xasprintf("%s'' has fewer", five);
	parse_bad("", want);
	free(want);
	want = fr_xasprintf("%s'* * * *' has fewer", five);
	parse_bad("* * * *", want);
	free(want);
	want = fr_xasprintf("%s'* * * * * *' has more", five);
	parse_bad("* * * * * *", want);
	free(want);
	want = fr_xasprintf("%s'0 0 * * 1 2019' has more", five);
	parse_bad("0 0 * * 1 2019", want);
	free(want);
}

static void next_is(const char *expr, time_t from, time_t want,
		    const char *name)
{
	struct fr_cron c;
	char *err = NULL;

	if (fr_cron_parse(&c, expr, &err) < 0) {
		ok(0, "%s: '%s' does not parse: %s", name, expr, err);
		free(err);
		return;
	}
	is_str(fmt(fr_cron_next(&c, from)), fmt(want), "%s ('%s' after %s)",
	       name, expr, fmt(from));
}

static void next(void)
{
	next_is("* * * * *", utc(2024, 1, 1, 0, 0, 30), utc(2024, 1, 1, 0, 1, 0),
		"next minute");
	next_is("* * * * *", utc(2024, 1, 1, 0, 1, 0), utc(2024, 1, 1, 0, 2, 0),
		"strictly after a matching minute");
	next_is("30 * * * *", utc(2024, 1, 1, 10, 29, 59),
		utc(2024, 1, 1, 10, 30, 0), "later this hour");
	next_is("0 * * * *", utc(2024, 1, 1, 10, 59, 59),
		utc(2024, 1, 1, 11, 0, 0), "hour boundary");
	next_is("15 * * * *", utc(2024, 1, 1, 10, 20, 0),
		utc(2024, 1, 1, 11, 15, 0), "minute passed: next hour");
	next_is("0 0 * * *", utc(2024, 3, 10, 23, 30, 0),
		utc(2024, 3, 11, 0, 0, 0), "day boundary");
	next_is("30 9 * * *", utc(2024, 3, 10, 9, 31, 0),
		utc(2024, 3, 11, 9, 30, 0), "time passed today: tomorrow");
	next_is("0 0 1 * *", utc(2024, 1, 31, 12, 0, 0),
		utc(2024, 2, 1, 0, 0, 0), "month boundary");
	next_is("0 0 1 * *", utc(2023, 12, 15, 0, 0, 0),
		utc(2024, 1, 1, 0, 0, 0), "year boundary");
	next_is("59 23 31 12 *", utc(2024, 1, 1, 0, 0, 0),
		utc(2024, 12, 31, 23, 59, 0), "last minute of the year");
	next_is("* * * * *", utc(2024, 12, 31, 23, 59, 0),
		utc(2025, 1, 1, 0, 0, 0), "every minute across new year");
	next_is("0 12 31 * *", utc(2024, 4, 1, 0, 0, 0),
		utc(2024, 5, 31, 12, 0, 0), "months without a 31st skipped");
	next_is("0 0 29 2 *", utc(2023, 3, 1, 0, 0, 0),
		utc(2024, 2, 29, 0, 0, 0), "leap day");
	next_is("0 0 29 2 *", utc(2024, 2, 29, 0, 0, 0),
		utc(2028, 2, 29, 0, 0, 0), "next leap day, four years on");
	next_is("0 0 30 2 *", utc(2024, 1, 1, 0, 0, 0), (time_t)-1,
		"30 February never comes");
	next_is("0 9 * * MON", utc(2024, 1, 3, 0, 0, 0),
		utc(2024, 1, 8, 9, 0, 0), "next Monday");
	next_is("0 0 * * 7", utc(2024, 1, 1, 0, 0, 0),
		utc(2024, 1, 7, 0, 0, 0), "7 runs on Sunday");
	next_is("*/20 9-17 * * 1-5", utc(2024, 1, 5, 17, 41, 0),
		utc(2024, 1, 8, 9, 0, 0), "office hours: Friday evening to Monday");
	next_is("0 0 1 */3 *", utc(2024, 2, 2, 0, 0, 0),
		utc(2024, 4, 1, 0, 0, 0), "quarterly");

	/* both day fields restricted: either matches (Vixie) */
	next_is("0 12 13 * 5", utc(2024, 9, 1, 0, 0, 0),
		utc(2024, 9, 6, 12, 0, 0), "dom/dow OR: a Friday first");
	next_is("0 12 13 * 5", utc(2024, 10, 12, 0, 0, 0),
		utc(2024, 10, 13, 12, 0, 0), "dom/dow OR: the 13th (a Sunday) first");
	next_is("0 12 13 * FRI", utc(2024, 10, 13, 12, 0, 0),
		utc(2024, 10, 18, 12, 0, 0), "dom/dow OR: after the 13th, Friday");
	/* one restricted: it alone decides */
	next_is("0 12 13 * *", utc(2024, 9, 1, 0, 0, 0),
		utc(2024, 9, 13, 12, 0, 0), "dom only: the 13th, not Fridays");
	next_is("0 12 * * 5", utc(2024, 9, 7, 0, 0, 0),
		utc(2024, 9, 13, 12, 0, 0), "dow only: Fridays");
	next_is("0 0 13 * 5", utc(2024, 1, 1, 0, 0, 0),
		utc(2024, 1, 5, 0, 0, 0), "Friday the 5th matches by weekday");
	next_is("0 0 29 2 1", utc(2024, 3, 1, 0, 0, 0),
		utc(2025, 2, 3, 0, 0, 0), "29 Feb OR Monday, in February only");
}

int main(void)
{
	fields();
	errors();
	next();
	return done_testing();
}
