/* jqx: the batch compiles once, errors map to their expressions, eval rules */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "jqx.h"
#include "tap.h"
#include "util.h"

static char *diag_text(struct fr_diag *d, char **buf, size_t *len, FILE *f)
{
	fr_diag_flush(d);
	fclose(f);
	(void)len;
	return *buf;
}

/* The value (or "error: MESSAGE") of expression id on ctx and vars. */
static char *result(struct fr_jqx *jx, int id, const char *ctx,
		    const char *vars)
{
	char *err = NULL, *s;
	jv out;

	if (fr_jqx_eval(jx, id, jv_parse(ctx), jv_parse(vars), &out, &err) < 0) {
		s = fr_xasprintf("error: %s", err);
		free(err);
		return s;
	}
	jv d = jv_dump_string(out, 0);
	s = fr_xstrdup(jv_string_value(d));
	jv_free(d);
	return s;
}

/*
 * After FR_JQX_HOT_AFTER evaluations an expression runs on its own state:
 * the same values and the same errors as in the batch.
 */
static void hot_same_as_batch(struct fr_jqx *jx, int id, const char *ctx,
			      const char *vars, const char *want)
{
	char *first = result(jx, id, ctx, vars), *last;

	is_str(first, want, "batch: %s", want);
	ok(!fr_jqx_hot(jx, id), "not hot after one evaluation");
	for (int i = 0; i < FR_JQX_HOT_AFTER; i++)
		free(result(jx, id, ctx, vars));
	ok(fr_jqx_hot(jx, id), "hot after %d evaluations", FR_JQX_HOT_AFTER);
	last = result(jx, id, ctx, vars);
	is_str(last, first, "hot: the same result");
	free(first);
	free(last);
}

/* A deadline 200 ms from now for what this thread runs. */
static void deadline_soon(void)
{
	fr_jqx_deadline(fr_now_ns() + 200 * 1000 * 1000);
}

/*
 * A caught libjq assertion abandons what the run held (a few hundred
 * bytes), which the leak checker would report at exit: such cases run in a
 * child that ends with _exit, and send back what they got.
 */
static void isolated(struct fr_jqx *jx, int id, int after, const char *expr,
		     const char *input, const char *want)
{
	char buf[4096] = "";
	size_t got = 0;
	ssize_t k;
	int fd[2], status = -1;
	pid_t pid;

	if (pipe(fd) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *a = result(jx, id, input, "[]");
		char *b = result(jx, after, "{\"t\": 0}", "[]");
		char *both = fr_xasprintf("%s\n%s", a, b);
		if (write(fd[1], both, strlen(both)) < 0)
			_exit(2);
		_exit(0);
	}
	close(fd[1]);
	while (got < sizeof(buf) - 1 &&
	       (k = read(fd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)k;
	buf[got] = '\0';
	close(fd[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "%s on %s: the child exits normally", expr, input);
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl++ = '\0';
	is_str(buf, want, "%s on %s", expr, input);
	is_str(nl ? nl : "", "\"1970-01-01T00:00:00Z\"", "then the state works");
}

/*
 * The guards: what libjq 1.6 crashes or spins on is an error, the rest
 * keeps the builtin's results (in the batch and hot, alone).
 */
static void test_guards(struct fr_source *src)
{
	static const struct { const char *expr, *input, *want; } cases[] = {
		{ ".t | todate", "{\"t\": 1e20}",
		  "error: date out of range (years 1 to 9999)" },
		{ ".t | todate", "{\"t\": -1e20}",
		  "error: date out of range (years 1 to 9999)" },
		{ ".t | strftime(\"%Y\")", "{\"t\": 1e300}",
		  "error: date out of range (years 1 to 9999)" },
		{ "[.t | todate, date, todateiso8601, (gmtime | mktime), strftime(\"%Y\")]",
		  "{\"t\": 86400}",
		  "[\"1970-01-02T00:00:00Z\",\"1970-01-02T00:00:00Z\","
		  "\"1970-01-02T00:00:00Z\",86400,\"1970\"]" },
		{ "0 | strftime(\"%Y\" * 600)", "null",
		  "error: date format longer than 1024 characters" },
		{ "[.s | index(\"\"), rindex(\"\"), indices(\"\"), index(\"b\"), "
		  "rindex(\"b\"), indices(\"b\")]", "{\"s\": \"abcb\"}",
		  "[null,null,[],1,3,[1,3]]" },
		{ "[.a | index(2), rindex(2), indices(2), indices([2,3])]",
		  "{\"a\": [1,2,3,2]}", "[1,3,[1,3],[1]]" },
		{ ".s | _strindices(\"\")", "{\"s\": \"ab\"}", "[]" },
		{ "\" \" * 2000000000 | length", "null",
		  "error: string repeated to more than 64 MiB" },
		{ "2000000000 * \"ab\" | length", "null",
		  "error: string repeated to more than 64 MiB" },
		{ "[(1,2) * (10,20), \"ab\" * 2, 2 * \"ab\", \"x\" * 0, "
		  "({\"a\":{\"b\":1}} * {\"a\":{\"c\":2}})]", "null",
		  "[10,20,20,40,\"abab\",\"abab\",null,{\"a\":{\"b\":1,\"c\":2}}]" },
		{ "-9223372036854775808 % -1", "null",
		  "error: % of a number out of the 64-bit range" },
		{ ".n % -1", "{\"n\": 1e30}",
		  "error: % of a number out of the 64-bit range" },
		{ "[(7,-7) % (3,-3), 5 % -1, 9007199254740992 % -1]", "null",
		  "[1,-1,1,-1,0,0]" },
		{ "input", "null",
		  "error: input is not available in flowrun expressions" },
		{ "[inputs]", "null",
		  "error: input is not available in flowrun expressions" },
		{ "[debug, stderr, 1]", "2", "[2,2,1]" },
		{ "paths", "{\"a\": [1, 2]}",
		  "error: expression yielded more than one value; "
		  "wrap it in [ ] to collect them" },
		{ "[paths]", "{\"a\": [1]}", "[[\"a\"],[\"a\",0]]" },
		{ "repeat(1)", "null",
		  "error: expression yielded more than one value; "
		  "wrap it in [ ] to collect them" },
		{ ".a | .[nan:]", "{\"a\": [1, 2]}",
		  "error: libjq failed on this program and value (assertion failure)" },
		{ ".a | del(.[nan:])", "{\"a\": [1, 2]}",
		  "error: libjq failed on this program and value (assertion failure)" },
		{ ".a | .[1:]", "{\"a\": [1, 2]}", "[2]" },
		{ "reduce range(5000) as $i (0; [.]) | length", "null", "1" },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	struct fr_loc l = { src, 1, 1 };
	struct fr_jqx_prog *p = fr_jqx_prog_create();
	struct fr_diag d;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct fr_jqx *jx;
	int ids[64], bad;

	for (size_t i = 0; i < n; i++)
		ids[i] = fr_jqx_prog_add(p, cases[i].expr, &l, NULL, 0);
	/* a guard's line comes first: errors still map to their lines */
	bad = fr_jqx_prog_add(p, "1 +\n  ]", &l, NULL, 0);
	fr_diag_init(&d, f);
	is_int(fr_jqx_prog_check(p, &d), 1, "guards compile with the batch");
	diag_text(&d, &buf, &len, f);
	ok(strstr(buf, "(line 2 of it)") != NULL,
	   "an error after the guards is mapped to its line");
	jx = fr_jqx_create(p);
	for (size_t i = 0; i < n; i++) {
		char *r;
		if (strstr(cases[i].want, "libjq failed")) {
			isolated(jx, ids[i], ids[0], cases[i].expr, cases[i].input,
				 cases[i].want);
			continue;
		}
		r = result(jx, ids[i], cases[i].input, "[]");
		is_str(r, cases[i].want, "%s on %s", cases[i].expr, cases[i].input);
		free(r);
		/* the state is usable after each */
		r = result(jx, ids[0], "{\"t\": 0}", "[]");
		is_str(r, "\"1970-01-01T00:00:00Z\"", "then the state works");
		free(r);
	}
	for (size_t i = 0; i < n; i++) {
		if (strstr(cases[i].want, "libjq failed"))
			continue;	/* an abandoned state each time */
		if (strstr(cases[i].expr, "range(") || strstr(cases[i].expr, "* 600") ||
		    strstr(cases[i].expr, "repeat("))
			continue;	/* slow */
		hot_same_as_batch(jx, ids[i], cases[i].input, "[]", cases[i].want);
	}
	(void)bad;
	fr_jqx_destroy(jx);
	fr_jqx_prog_destroy(p);
	free(buf);
}

/*
 * Plain paths run without jq: for each one, the same text in parentheses
 * (which jq runs) gives the same value or the same error, numbers above
 * 2^53 included, whether the batch or a hot state runs the jq side.
 */
static void test_plain_paths(struct fr_source *src)
{
	static const char *const paths[] = {
		".", " .a ", ".a.b", ".a.b.c", ".missing", ".missing.deeper",
		".n", ".big", ".s.x", ".arr.x", ".t.x", "$ctx.a.b", "$item",
		"$item.id", "$item.id.x", "$index", "$ctx", ".a\n.b", ".a.b\n",
		".a_1", "._x",
	};
	static const char *const inputs[] = {
		"{\"a\":{\"b\":{\"c\":[1,2]}},\"n\":null,\"big\":"
		"12345678901234567890,\"s\":\"str\",\"arr\":[1],\"t\":true,"
		"\"a_1\":1,\"_x\":2}",
		"null", "{\"a\":null}", "{\"a\":\"text\"}", "[1]", "3",
	};
	static const char *const vars[] = {
		"[{\"id\":9007199254740993},7]", "[null,0]", "[\"s\",1]",
	};
	const char *loopvars[] = { "item", "index" };
	struct fr_loc l = { src, 1, 1 };
	struct fr_jqx_prog *p = fr_jqx_prog_create();
	size_t n = FR_ARRAY_LEN(paths);
	int fast[FR_ARRAY_LEN(paths)], slow[FR_ARRAY_LEN(paths)], nested, other;
	struct fr_diag d;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (size_t i = 0; i < n; i++) {
		char *text = fr_xasprintf("(%s)", paths[i]);
		fast[i] = fr_jqx_prog_add(p, paths[i], &l, loopvars, 2);
		slow[i] = fr_jqx_prog_add(p, text, &l, loopvars, 2);
		free(text);
	}
	/* an inner loop's variable of the same name is the one seen */
	nested = fr_jqx_prog_add(p, "$item.id", &l, (const char *[]){ "item", "item" }, 2);
	/* $ctx bound by the user's loop is theirs */
	other = fr_jqx_prog_add(p, "$ctx", &l, (const char *[]){ "ctx" }, 1);
	fr_diag_init(&d, f);
	is_int(fr_jqx_prog_check(p, &d), 0, "plain paths compile");
	diag_text(&d, &buf, &len, f);
	for (int round = 0; round < 2; round++) {
		struct fr_jqx *jx = fr_jqx_create(p);
		if (round == 1) {	/* the jq side on hot states */
			for (size_t i = 0; i < n; i++)
				for (int k = 0; k < FR_JQX_HOT_AFTER; k++)
					free(result(jx, slow[i], "null", vars[1]));
		}
		for (size_t i = 0; i < n; i++) {
			for (size_t c = 0; c < FR_ARRAY_LEN(inputs); c++) {
				for (size_t v = 0; v < FR_ARRAY_LEN(vars); v++) {
					char *a = result(jx, fast[i], inputs[c], vars[v]);
					char *b = result(jx, slow[i], inputs[c], vars[v]);
					/* one line per TAP result: no newline of the path */
					char *label = fr_xstrdup(paths[i]);
					for (char *q = label; *q; q++)
						if (*q == '\n')
							*q = ' ';
					is_str(a, b, "'%s' on %s, %s (%s): %s", label,
					       inputs[c], vars[v], round ? "hot" : "batch", b);
					free(label);
					free(a);
					free(b);
				}
			}
		}
		{
			char *r = result(jx, nested, "null", "[{\"id\":1},{\"id\":2}]");
			is_str(r, "2", "the innermost $item");
			free(r);
			r = result(jx, other, "{\"x\":1}", "[\"mine\"]");
			is_str(r, "\"mine\"", "a loop variable named ctx");
			free(r);
		}
		fr_jqx_destroy(jx);
	}
	fr_jqx_prog_destroy(p);
	free(buf);
}

static char *result_on(struct fr_jqx *jx, int id, const char *ctx,
		       const char *vars, const char *input)
{
	char *err = NULL, *s;
	jv out;

	if (fr_jqx_eval_on(jx, id, jv_parse(ctx), jv_parse(vars), jv_parse(input),
			   &out, &err) < 0) {
		s = fr_xasprintf("error: %s", err);
		free(err);
		return s;
	}
	jv d = jv_dump_string(out, 0);
	s = fr_xstrdup(jv_string_value(d));
	jv_free(d);
	return s;
}

/* Programs over a value of their own (update): `.` it, $ctx the context. */
static void test_over(struct fr_source *src)
{
	struct fr_loc l = { src, 1, 1 };
	struct fr_jqx_prog *p = fr_jqx_prog_create();
	const char *loopvars[] = { "item" };
	static const struct { const char *text, *want; } cases[] = {
		{ "[., $ctx.x, $item]", "[5,1,\"i\"]" },
		{ "(. // 0) + $ctx.x", "6" },
		{ ".", "5" },				/* plain paths */
		{ "$ctx.x", "1" },
		{ "$ctx", "{\"x\":1}" },
		{ "$item", "\"i\"" },
		{ ".a", "error: Cannot index number with string \"a\"" },
	};
	int ids[FR_ARRAY_LEN(cases)], plain;
	struct fr_diag d;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++)
		ids[i] = fr_jqx_prog_add_over(p, cases[i].text, &l, loopvars, 1);
	plain = fr_jqx_prog_add(p, "[., $ctx.x]", &l, NULL, 0);
	fr_diag_init(&d, f);
	is_int(fr_jqx_prog_check(p, &d), 0, "programs over a value compile");
	diag_text(&d, &buf, &len, f);
	struct fr_jqx *jx = fr_jqx_create(p);
	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
		char *r = result_on(jx, ids[i], "{\"x\":1}", "[\"i\"]", "5");
		is_str(r, cases[i].want, "over: %s", cases[i].text);
		free(r);
		for (int k = 0; k < FR_JQX_HOT_AFTER; k++)
			free(result_on(jx, ids[i], "{\"x\":1}", "[\"i\"]", "5"));
		r = result_on(jx, ids[i], "{\"x\":1}", "[\"i\"]", "5");
		is_str(r, cases[i].want, "over, hot: %s", cases[i].text);
		free(r);
	}
	{
		/* other programs ignore an input given to them */
		char *r = result_on(jx, plain, "{\"x\":1}", "[]", "5");
		is_str(r, "[{\"x\":1},1]", "a program not over a value: . is the context");
		free(r);
	}
	fr_jqx_destroy(jx);
	fr_jqx_prog_destroy(p);
	free(buf);
}

int main(void)
{
	char text[] = "a\nb\nc\n";
	struct fr_source *src = fr_source_create("t.yaml", fr_xstrdup(text), 6);
	struct fr_loc l1 = { src, 1, 1 }, l2 = { src, 2, 3 }, l3 = { src, 3, 5 };
	struct fr_jqx_prog *p = fr_jqx_prog_create();
	const char *loopvars[] = { "item", "index" };
	struct fr_diag d;
	char *buf = NULL, *err = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct fr_jqx *jx;
	jv out;
	int a, b, c, e, many, none, loop, spin, halt, halts, sometimes;

	a = fr_jqx_prog_add(p, ".x + 1", &l1, NULL, 0);
	b = fr_jqx_prog_add(p, ".x | ]", &l2, NULL, 0);
	c = fr_jqx_prog_add(p, "$nope", &l3, NULL, 0);
	ok(c == 2, "ids are given in order");
	e = fr_jqx_prog_add(p, "# a comment\n[$ctx.x, .x]", &l1, NULL, 0);
	many = fr_jqx_prog_add(p, ".x, .x", &l1, NULL, 0);
	none = fr_jqx_prog_add(p, "empty", &l1, NULL, 0);
	loop = fr_jqx_prog_add(p, "[$item, $index, .x]", &l1, loopvars, 2);
	spin = fr_jqx_prog_add(p, "def f: f; f", &l1, NULL, 0);
	halt = fr_jqx_prog_add(p, "error(\"boom\")", &l1, NULL, 0);
	halts = fr_jqx_prog_add(p, "\"bye\" | halt_error", &l1, NULL, 0);
	sometimes = fr_jqx_prog_add(p, "if .spin then (def f: f; f) else 1 end",
				    &l1, NULL, 0);
	fr_diag_init(&d, f);
	is_int(fr_jqx_prog_check(p, &d), 2, "two invalid programs found");
	diag_text(&d, &buf, &len, f);
	ok(strstr(buf, "t.yaml:2:3: error: invalid jq program: syntax error") != NULL,
	   "syntax error located at its expression");
	ok(strstr(buf, "t.yaml:3:5: error: invalid jq program: $nope is not defined") != NULL,
	   "undefined variable located");
	ok(strstr(buf, "Unix shell") == NULL, "shell hint dropped");

	jx = fr_jqx_create(p);
	is_int(fr_jqx_eval(jx, a, jv_parse("{\"x\": 41}"), jv_array(), &out, &err), 0, "eval");
	is_int((long long)jv_number_value(out), 42, ".x + 1 = 42");
	jv_free(out);
	ok(fr_jqx_eval(jx, b, jv_object(), jv_array(), &out, &err) < 0, "invalid program fails at run time");
	free(err);
	is_int(fr_jqx_eval(jx, e, jv_parse("{\"x\": 7}"), jv_array(), &out, &err), 0, "comment and $ctx");
	{
		jv s = jv_dump_string(out, 0);
		is_str(jv_string_value(s), "[7,7]", "$ctx is the input");
		jv_free(s);
	}
	ok(fr_jqx_eval(jx, many, jv_parse("{\"x\": 1}"), jv_array(), &out, &err) < 0, "two values is an error");
	ok(err && strstr(err, "more than one value"), "message says so: %s", err ? err : "");
	free(err);
	ok(fr_jqx_eval(jx, none, jv_null(), jv_array(), &out, &err) < 0, "no value is an error");
	ok(err && strstr(err, "no value"), "message says no value");
	free(err);
	is_int(fr_jqx_eval(jx, loop, jv_parse("{\"x\": 3}"), jv_parse("[\"a\", 5]"), &out, &err), 0, "loop vars");
	{
		jv s = jv_dump_string(out, 0);
		is_str(jv_string_value(s), "[\"a\",5,3]", "$item and $index bound");
		jv_free(s);
	}
	ok(fr_jqx_eval(jx, halt, jv_null(), jv_array(), &out, &err) < 0, "error() fails");
	is_str(err, "boom", "error message kept");
	free(err);
	{
		uint64_t t0 = fr_now_ns();
		deadline_soon();
		ok(fr_jqx_eval(jx, spin, jv_null(), jv_array(), &out, &err) < 0,
		   "runaway program interrupted");
		fr_jqx_deadline(0);
		ok(err && strstr(err, "interrupted"), "says interrupted");
		ok(fr_now_ns() - t0 < 5000000000ull, "stopped promptly");
		free(err);
	}
	is_int(fr_jqx_eval(jx, a, jv_parse("{\"x\": 1}"), jv_array(), &out, &err), 0,
	       "state usable after an interrupt");
	jv_free(out);
	{
		/* a deadline moved later: the timer, set for the first, fires
		 * early and is set again; the program runs until the second */
		uint64_t t0 = fr_now_ns(), later = t0 + 400 * 1000 * 1000;
		fr_jqx_deadline(t0 + 100 * 1000 * 1000);
		fr_jqx_deadline(later);
		ok(fr_jqx_eval(jx, spin, jv_null(), jv_array(), &out, &err) < 0,
		   "interrupted at a deadline moved later");
		ok(fr_now_ns() >= later, "not before that deadline");
		fr_jqx_deadline(0);
		free(err);
	}
	{
		/* a deadline that passes outside jq stops nothing later */
		struct timespec ts = { 0, 150 * 1000 * 1000 };
		deadline_soon();
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ts = (struct timespec){ 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		is_int(fr_jqx_eval(jx, a, jv_parse("{\"x\": 1}"), jv_array(), &out, &err), 0,
		       "a passed deadline does not stop the next program");
		jv_free(out);
		fr_jqx_deadline(0);
	}

	for (int i = 0; i < 3; i++) {
		char *r = result(jx, halts, "null", "[]");
		is_str(r, "error: jq program called halt", "halt_error, time %d", i + 1);
		free(r);
	}
	hot_same_as_batch(jx, a, "{\"x\": 41}", "[]", "42");
	hot_same_as_batch(jx, e, "{\"x\": 7}", "[]", "[7,7]");
	hot_same_as_batch(jx, loop, "{\"x\": 3}", "[\"a\", 5]", "[\"a\",5,3]");
	hot_same_as_batch(jx, many, "{\"x\": 1}", "[]",
			  "error: expression yielded more than one value; "
			  "wrap it in [ ] to collect them");
	hot_same_as_batch(jx, none, "null", "[]",
			  "error: expression yielded no value");
	hot_same_as_batch(jx, halt, "null", "[]", "error: boom");
	hot_same_as_batch(jx, sometimes, "{\"spin\": false}", "[]", "1");
	ok(!fr_jqx_hot(jx, b), "an invalid program never gets hot");
	{
		char *r;
		deadline_soon();
		r = result(jx, sometimes, "{\"spin\": true}", "[]");
		fr_jqx_deadline(0);
		is_str(r, "error: jq program interrupted (timeout)",
		       "a hot runaway program is interrupted");
		free(r);
		r = result(jx, sometimes, "{\"spin\": false}", "[]");
		is_str(r, "1", "and its state is usable afterwards");
		free(r);
	}
	fr_jqx_destroy(jx);
	fr_jqx_prog_destroy(p);
	test_guards(src);
	test_plain_paths(src);
	test_over(src);
	fr_source_unref(src);
	free(buf);
	return done_testing();
}
