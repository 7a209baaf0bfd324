/* schema: suggestions, unknown keys, and each checker with its message */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "schema.h"
#include "tap.h"
#include "util.h"
#include "ydoc.h"

/* Parses text as "t.yaml"; NULL (and a failed test) when it does not parse. */
static struct fr_ydoc *parse(const char *text)
{
	struct fr_source *src = fr_source_create("t.yaml", fr_xstrdup(text),
						 strlen(text));
	struct fr_ydoc *doc = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct fr_diag d;

	fr_diag_init(&d, f);
	if (fr_ydoc_parse(&doc, src, &d) < 0)
		ok(0, "test YAML parses: %s", text);
	fr_diag_flush(&d);
	fclose(f);
	free(buf);
	fr_source_unref(src);
	return doc;
}

enum check { DURATION, SIZE, NAME, INT, BOOL, NUMBER, STRING, MAP, SEQ };

struct result {
	bool ok;
	int64_t ms;
	size_t size;
	long long i;
	bool b;
	double x;
	const char *s;
	unsigned nerrors;
	char *msgs;	/* everything printed; caller frees */
};

/*
 * Runs one checker on the value of "v: VALUE" (so messages are located at
 * t.yaml:1:4), with `what` naming it.
 */
static struct result run(enum check k, const char *value, const char *what,
			 long long min, long long max)
{
	char *text = fr_xasprintf("v: %s\n", value);
	struct fr_ydoc *doc = parse(text);
	struct result r = { 0 };
	size_t len = 0;
	FILE *f = open_memstream(&r.msgs, &len);
	struct fr_diag d;
	const struct fr_ynode *n = doc ? fr_ymap_get(doc->root, "v") : NULL;

	fr_diag_init(&d, f);
	if (n) {
		switch (k) {
		case DURATION:
			r.ok = fr_schema_duration(&d, n, what, &r.ms);
			break;
		case SIZE:
			r.ok = fr_schema_size(&d, n, what, &r.size);
			break;
		case NAME:
			r.ok = fr_schema_name(&d, n, what);
			break;
		case INT:
			r.ok = fr_schema_int(&d, n, what, min, max, &r.i);
			break;
		case BOOL:
			r.ok = fr_schema_bool(&d, n, what, &r.b);
			break;
		case NUMBER:
			r.ok = fr_schema_number(&d, n, what, &r.x);
			break;
		case STRING:
			r.s = fr_schema_string(&d, n, what);
			r.ok = r.s != NULL;
			/* the node dies with the document */
			r.s = r.s ? (strcmp(r.s, "") == 0 ? "" : "(set)") : NULL;
			break;
		case MAP:
			r.ok = fr_schema_is_map(&d, n, what);
			break;
		case SEQ:
			r.ok = fr_schema_is_seq(&d, n, what);
			break;
		}
	}
	r.nerrors = d.nerrors;
	fr_diag_flush(&d);
	fclose(f);
	fr_ydoc_destroy(doc);
	free(text);
	return r;
}

/* The first line of s, without its newline (static buffer). */
static const char *first_line(const char *s)
{
	static char line[512];
	size_t n = strcspn(s, "\n");

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	return line;
}

/* The checker accepts value; returns the result for more checks. */
#define ACCEPTS(k, value, what, min, max, res)                               \
	do {                                                                 \
		res = run(k, value, what, min, max);                         \
		ok(res.ok && res.nerrors == 0 && res.msgs[0] == '\0',        \
		   "%s accepted: %s", #k, value);                            \
		free(res.msgs);                                              \
	} while (0)

/*
 * The checker refuses value with exactly one error, msg (first line),
 * located at line 1, column col.
 */
static void refuses_at(enum check k, const char *value, const char *what,
		       long long min, long long max, unsigned col,
		       const char *msg)
{
	struct result r = run(k, value, what, min, max);
	char *want = fr_xasprintf("t.yaml:1:%u: error: %s", col, msg);

	ok(!r.ok && r.nerrors == 1, "refused: %s", value);
	is_str(first_line(r.msgs), want, "message for %s", value);
	free(want);
	free(r.msgs);
}

static void refuses(enum check k, const char *value, const char *what,
		    long long min, long long max, const char *msg)
{
	refuses_at(k, value, what, min, max, 4, msg);
}

static void test_suggest(void)
{
	const char *const keys[] = { "steps", "trigger", "timeout", "description" };
	const char *const shorts[] = { "as", "if", "id" };
	const char *const ranked[] = { "tymeoutz", "timeouts" };
	const char *const ties[] = { "abce", "abcf" };

	is_str(fr_suggest("step", keys, 4), "steps", "one letter missing");
	is_str(fr_suggest("stpes", keys, 4), "steps", "two letters swapped (distance 2)");
	is_str(fr_suggest("trigerr", keys, 4), "trigger", "misspelt trigger");
	is_str(fr_suggest("timeout", keys, 4), "timeout", "an exact match is its own hint");
	is_str(fr_suggest("descriptoin", keys, 4), "description", "long word, distance 2");
	ok(fr_suggest("stepsxyz", keys, 4) == NULL, "distance 3 is too far");
	ok(fr_suggest("banana", keys, 4) == NULL, "an unrelated word has no hint");
	ok(fr_suggest("steps", keys, 0) == NULL, "no candidates, no hint");
	is_str(fr_suggest("timeout", ranked, 2), "timeouts", "the closest wins");
	is_str(fr_suggest("abcd", ties, 2), "abce", "on a tie, the first wins");
	/* words shorter than 4 characters allow one edit only */
	is_str(fr_suggest("iff", shorts, 3), "if", "short word, distance 1");
	is_str(fr_suggest("a", shorts, 3), "as", "one letter, distance 1");
	ok(fr_suggest("xy", shorts, 3) == NULL, "short word, distance 2: no hint");
	ok(fr_suggest("abc", (const char *const[]){ "aef" }, 1) == NULL,
	   "three letters, distance 2: no hint");
	is_str(fr_suggest("abcd", (const char *const[]){ "abef" }, 1), "abef",
	       "four letters, distance 2: a hint");
	ok(fr_suggest("", shorts, 3) == NULL, "the empty word: no two-letter hint");
	{
		char longw[80];
		memset(longw, 'a', 70);
		longw[70] = '\0';
		const char *const cand[] = { longw };
		ok(fr_suggest(longw, cand, 1) == NULL,
		   "words over 64 characters get no hint");
	}
}

static void test_keys(void)
{
	static const char *const known[] = { "steps", "trigger", "timeout", NULL };
	struct fr_ydoc *doc = parse("steps: 1\n"
				    "stpes: 2\n"
				    "bogus: 3\n"
				    "trigger: 4\n"
				    "timeuot: 5\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct fr_diag d;

	if (!doc)
		return;
	fr_diag_init(&d, f);
	fr_schema_keys(&d, doc->root, known, "flow");
	is_int(d.nerrors, 3, "three unknown keys");
	fr_diag_flush(&d);
	fclose(f);
	is_str(buf,
	       "t.yaml:2:1: error: unknown key 'stpes' in flow; did you mean 'steps'?\n"
	       " stpes: 2\n"
	       " ^\n"
	       "t.yaml:3:1: error: unknown key 'bogus' in flow\n"
	       " bogus: 3\n"
	       " ^\n"
	       "t.yaml:5:1: error: unknown key 'timeuot' in flow; did you mean 'timeout'?\n"
	       " timeuot: 5\n"
	       " ^\n",
	       "unknown keys reported with and without a hint, in file order");
	free(buf);
	fr_ydoc_destroy(doc);

	/* all keys known: silence */
	doc = parse("steps: 1\ntimeout: 2s\n");
	buf = NULL;
	f = open_memstream(&buf, &len);
	fr_diag_init(&d, f);
	fr_schema_keys(&d, doc->root, known, "flow");
	fr_diag_flush(&d);
	fclose(f);
	is_str(buf, "", "known keys: no message");
	free(buf);
	fr_ydoc_destroy(doc);
}

static void test_duration(void)
{
	struct result r;

	ACCEPTS(DURATION, "250ms", "'timeout'", 0, 0, r);
	is_int(r.ms, 250, "250ms");
	ACCEPTS(DURATION, "10s", "'timeout'", 0, 0, r);
	is_int(r.ms, 10000, "10s");
	ACCEPTS(DURATION, "5m", "'timeout'", 0, 0, r);
	is_int(r.ms, 300000, "5m");
	ACCEPTS(DURATION, "1h", "'timeout'", 0, 0, r);
	is_int(r.ms, 3600000, "1h");
	ACCEPTS(DURATION, "0s", "'timeout'", 0, 0, r);
	is_int(r.ms, 0, "0s");
	ACCEPTS(DURATION, "\"2s\"", "'timeout'", 0, 0, r);
	is_int(r.ms, 2000, "quoted 2s");
	ACCEPTS(DURATION, "100000000ms", "'timeout'", 0, 0, r);
	is_int(r.ms, 100000000, "the largest count");

#define BAD_DURATION(v)                                                      \
	refuses(DURATION, v, "'timeout'", 0, 0,                              \
		"invalid duration '" v "' for 'timeout'; write a whole number " \
		"and a unit: 250ms, 10s, 5m, 1h")
	BAD_DURATION("10");
	BAD_DURATION("1.5s");
	BAD_DURATION("-1s");
	BAD_DURATION("10 s");
	BAD_DURATION("1d");
	BAD_DURATION("s");
	BAD_DURATION("10S");
	BAD_DURATION("100000001ms");
	BAD_DURATION("99999999999999999999s");
	refuses(DURATION, "~", "'timeout'", 0, 0,
		"invalid duration '~' for 'timeout'; write a whole number and a "
		"unit: 250ms, 10s, 5m, 1h");
	refuses(DURATION, "[1s]", "'timeout'", 0, 0,
		"'timeout' must be a duration, not a list");
	refuses(DURATION, "{a: 1s}", "'timeout'", 0, 0,
		"'timeout' must be a duration, not a mapping");
}

static void test_size(void)
{
	struct result r;

	ACCEPTS(SIZE, "1000", "'max_body'", 0, 0, r);
	is_int(r.size, 1000, "bare bytes");
	ACCEPTS(SIZE, "0", "'max_body'", 0, 0, r);
	is_int(r.size, 0, "zero");
	ACCEPTS(SIZE, "12B", "'max_body'", 0, 0, r);
	is_int(r.size, 12, "B");
	ACCEPTS(SIZE, "512KiB", "'max_body'", 0, 0, r);
	is_int(r.size, 524288, "KiB");
	ACCEPTS(SIZE, "1MiB", "'max_body'", 0, 0, r);
	is_int(r.size, 1048576, "MiB");
	ACCEPTS(SIZE, "2KB", "'max_body'", 0, 0, r);
	is_int(r.size, 2000, "KB");
	ACCEPTS(SIZE, "3MB", "'max_body'", 0, 0, r);
	is_int(r.size, 3000000, "MB");
	ACCEPTS(SIZE, "1GiB", "'max_body'", 0, 0, r);
	is_int(r.size, 1073741824, "GiB");
	ACCEPTS(SIZE, "4294967296", "'max_body'", 0, 0, r);
	is_int(r.size, 4294967296LL, "2^32 bytes, the largest count");
	ACCEPTS(SIZE, "\"64KiB\"", "'max_body'", 0, 0, r);
	is_int(r.size, 65536, "quoted");

#define BAD_SIZE(v)                                                          \
	refuses(SIZE, v, "'max_body'", 0, 0,                                 \
		"invalid size for 'max_body'; write bytes or a unit: 512KiB, 1MiB")
	BAD_SIZE("4294967297");
	BAD_SIZE("1.5MiB");
	BAD_SIZE("-1");
	BAD_SIZE("+1");
	BAD_SIZE("1 MiB");
	BAD_SIZE("1mib");
	BAD_SIZE("KiB");
	BAD_SIZE("0x10");
	BAD_SIZE("~");
	BAD_SIZE("99999999999999999999");
	BAD_SIZE("[1]");
	BAD_SIZE("{a: 1}");
}

static void test_name(void)
{
	struct result r;
	char max[80], over[80];

	ACCEPTS(NAME, "acme", "instance name", 0, 0, r);
	ACCEPTS(NAME, "a-b_c9", "instance name", 0, 0, r);
	ACCEPTS(NAME, "0day", "instance name", 0, 0, r);
	ACCEPTS(NAME, "x", "instance name", 0, 0, r);
	ACCEPTS(NAME, "\"quoted\"", "instance name", 0, 0, r);
	memset(max, 'a', 64);
	max[64] = '\0';
	ACCEPTS(NAME, max, "instance name", 0, 0, r);

#define BAD_NAME(v)                                                          \
	refuses(NAME, v, "instance name", 0, 0,                              \
		"invalid instance name '" v "'; use lower-case letters, digits, " \
		"'_' and '-', starting with a letter or digit")
	BAD_NAME("Acme");
	BAD_NAME("-acme");
	BAD_NAME("_acme");
	BAD_NAME("a.b");
	BAD_NAME("a b");
	BAD_NAME("caf\xc3\xa9");
	refuses(NAME, "\"\"", "instance name", 0, 0,
		"invalid instance name ''; use lower-case letters, digits, '_' "
		"and '-', starting with a letter or digit");
	memset(over, 'a', 65);
	over[65] = '\0';
	/* (the message does not say why: 65 characters is too long) */
	r = run(NAME, over, "instance name", 0, 0);
	ok(!r.ok && r.nerrors == 1 &&
	   strncmp(r.msgs, "t.yaml:1:4: error: invalid instance name 'aaa", 45) == 0,
	   "a name of 65 characters is refused");
	free(r.msgs);
	refuses(NAME, "[a]", "instance name", 0, 0,
		"instance name must be a name, not a list");
	refuses(NAME, "{a: b}", "instance name", 0, 0,
		"instance name must be a name, not a mapping");
}

static void test_int(void)
{
	struct result r;

	ACCEPTS(INT, "5", "'attempts'", 1, 10, r);
	is_int(r.i, 5, "5");
	ACCEPTS(INT, "1", "'attempts'", 1, 10, r);
	is_int(r.i, 1, "the minimum is allowed");
	ACCEPTS(INT, "10", "'attempts'", 1, 10, r);
	is_int(r.i, 10, "the maximum is allowed");
	ACCEPTS(INT, "-3", "'offset'", -5, 5, r);
	is_int(r.i, -3, "negative");
	ACCEPTS(INT, "9007199254740993", "'n'", 0, 9223372036854775807LL, r);
	is_int(r.i, 9007199254740993LL, "2^53+1 exact");

	refuses(INT, "0", "'attempts'", 1, 10, "'attempts' must be between 1 and 10");
	refuses(INT, "11", "'attempts'", 1, 10, "'attempts' must be between 1 and 10");
	refuses(INT, "-6", "'offset'", -5, 5, "'offset' must be between -5 and 5");
	refuses(INT, "2.5", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a number");
	refuses(INT, "three", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a string");
	refuses(INT, "\"3\"", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a string");
	refuses(INT, "true", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a boolean");
	refuses(INT, "~", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not null");
	refuses(INT, "[1]", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a list");
	refuses(INT, "99999999999999999999", "'attempts'", 1, 10,
		"'attempts' must be a whole number, not a number");
}

static void test_others(void)
{
	struct result r;

	ACCEPTS(BOOL, "true", "'secret'", 0, 0, r);
	ok(r.b, "true is true");
	ACCEPTS(BOOL, "False", "'secret'", 0, 0, r);
	ok(!r.b, "False is false");
	refuses(BOOL, "yes", "'secret'", 0, 0, "'secret' must be true or false, not a string");
	refuses(BOOL, "\"true\"", "'secret'", 0, 0,
		"'secret' must be true or false, not a string");
	refuses(BOOL, "1", "'secret'", 0, 0, "'secret' must be true or false, not a number");

	ACCEPTS(NUMBER, "2.5", "'backoff'", 0, 0, r);
	ok(r.x == 2.5, "2.5");
	ACCEPTS(NUMBER, "-3", "'backoff'", 0, 0, r);
	ok(r.x == -3, "-3");
	refuses(NUMBER, "fast", "'backoff'", 0, 0, "'backoff' must be a number, not a string");
	refuses(NUMBER, "{}", "'backoff'", 0, 0, "'backoff' must be a number, not a mapping");

	ACCEPTS(STRING, "text", "'description'", 0, 0, r);
	ACCEPTS(STRING, "5", "'description'", 0, 0, r);
	ACCEPTS(STRING, "\"\"", "'description'", 0, 0, r);
	ok(r.s && r.s[0] == '\0', "the empty quoted string is a string");
	refuses(STRING, "~", "'description'", 0, 0, "'description' must be a string, not null");
	/* libyaml places an empty value at the end of its key */
	refuses_at(STRING, "", "'description'", 0, 0, 3,
		   "'description' must be a string, not null");
	refuses(STRING, "[a]", "'description'", 0, 0, "'description' must be a string, not a list");

	ACCEPTS(MAP, "{a: 1}", "'config'", 0, 0, r);
	refuses(MAP, "[a]", "'config'", 0, 0, "'config' must be a mapping, not a list");
	refuses(MAP, "x", "'config'", 0, 0, "'config' must be a mapping, not a string");
	ACCEPTS(SEQ, "[a]", "'steps'", 0, 0, r);
	refuses(SEQ, "{a: 1}", "'steps'", 0, 0, "'steps' must be a list, not a mapping");

	/* fr_schema_require */
	{
		struct fr_ydoc *doc = parse("a: 1\nb: 2\n");
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct fr_diag d;

		fr_diag_init(&d, f);
		ok(fr_schema_require(&d, doc->root, "b", "flow") ==
		   fr_ymap_val(doc->root, 1), "require finds a key");
		ok(fr_schema_require(&d, doc->root, "steps", "flow") == NULL,
		   "require: missing key");
		is_int(d.nerrors, 1, "one error");
		fr_diag_flush(&d);
		fclose(f);
		is_str(first_line(buf), "t.yaml:1:1: error: missing 'steps' in flow",
		       "missing key reported at the mapping");
		free(buf);
		fr_ydoc_destroy(doc);
	}
	/* a whole message, excerpt and caret included */
	r = run(DURATION, "10 s", "'timeout'", 0, 0);
	is_str(r.msgs, "t.yaml:1:4: error: invalid duration '10 s' for 'timeout'; "
	       "write a whole number and a unit: 250ms, 10s, 5m, 1h\n"
	       " v: 10 s\n"
	       "    ^\n", "whole message with excerpt");
	free(r.msgs);
}

int main(void)
{
	test_suggest();
	test_keys();
	test_duration();
	test_size();
	test_name();
	test_int();
	test_others();
	return done_testing();
}
