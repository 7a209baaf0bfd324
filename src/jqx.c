#define _GNU_SOURCE	/* SIGEV_THREAD_ID, gettid */
#include "jqx.h"

#include <jq.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct expr {
	char *text;
	struct fr_loc loc;
	char **vars;
	size_t nvars;
	bool bad;
	unsigned first_line, last_line;	/* in the generated program */
	/* a plain path (".a.b", "$item.id", "."): run without jq */
	bool over;		/* `.` is a value of its own (fr_jqx_eval_on) */
	bool path;
	int root;		/* -1: `.`; -3: $ctx; else the variable's index */
	char **keys;
	size_t nkeys;
};

/*
 * Expressions go into programs of at most BATCH each: jq 1.6 compiles a
 * dispatch over thousands of defs in time that grows much faster than
 * linearly (4,000 took a minute), while 256 compile in tens of ms.
 */
#define BATCH 256

struct fr_jqx_prog {
	struct expr *v;
	size_t n, cap;
	char **programs;	/* per batch, after fr_jqx_prog_check */
	size_t nprograms;
	bool fixed_clock;	/* `now` is jx->now (flowrun test) */
};

/*
 * The dispatch of a batch costs about as much as a small program itself
 * (a jq 1.6 comparison is hundreds of instructions, and reaching one of 64
 * expressions takes 6).  So an expression that runs often gets a state of
 * its own, without the dispatch: after FR_JQX_HOT_AFTER evaluations, about
 * where the 18 ms of its compilation is paid back by the ~3 us saved on
 * each one (measured with tests/bench/bench_engine).  4 KB each.
 */
struct hot {
	unsigned uses;
	jv *keys;		/* a plain path's keys as jv, made on first use */
	jq_state *jq;		/* the expression alone, once hot */
	bool failed;		/* compiling it alone failed: stay in the batch */
};

struct fr_jqx {
	const struct fr_jqx_prog *p;
	jq_state **jq;		/* per batch */
	size_t njq;
	struct hot *hot;	/* per expression */
	double now;		/* with a fixed clock */
};

struct fr_jqx_prog *fr_jqx_prog_create(void)
{
	return fr_xcalloc(1, sizeof(struct fr_jqx_prog));
}

void fr_jqx_prog_destroy(struct fr_jqx_prog *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].text);
		for (size_t j = 0; j < p->v[i].nvars; j++)
			free(p->v[i].vars[j]);
		free(p->v[i].vars);
		for (size_t j = 0; j < p->v[i].nkeys; j++)
			free(p->v[i].keys[j]);
		free(p->v[i].keys);
	}
	free(p->v);
	for (size_t i = 0; i < p->nprograms; i++)
		free(p->programs[i]);
	free(p->programs);
	free(p);
}

static size_t ident_len(const char *s)
{
	size_t n = 0;

	if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') ||
	      (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (s[n] == '_' || (s[n] >= 'a' && s[n] <= 'z') ||
	       (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9'))
		n++;
	return n;
}

/*
 * A plain path: "." alone, or "." or "$NAME" (the context or a bound
 * variable) followed by ".IDENT" fields, with blanks around.  Such a
 * program is evaluated by looking the keys up (fr_jqx_eval): on objects
 * and null exactly what jq does; anything else falls back to jq, for its
 * error message.  Everything else goes to jq.
 */
static void parse_path(struct expr *e)
{
	const char *s = e->text + strspn(e->text, " \t\r\n");
	size_t n;

	e->root = -1;
	if (*s == '$') {
		n = ident_len(s + 1);
		if (n == 0 || (n >= 2 && s[1] == '_' && s[2] == '_'))
			return;
		e->root = -2;
		for (size_t i = 0; i < e->nvars; i++) {
			if (strlen(e->vars[i]) == n &&
			    strncmp(e->vars[i], s + 1, n) == 0)
				e->root = (int)i;	/* the last one binds */
		}
		if (e->root == -2 && n == 3 && strncmp(s + 1, "ctx", 3) == 0)
			e->root = -3;
		if (e->root == -2)
			return;		/* $ENV, $__loc__, ...: jq's */
		s += 1 + n;
	} else if (*s == '.' && s[1] && !strchr(" \t\r\n", s[1]) &&
		   !ident_len(s + 1)) {
		return;		/* ".[", "..", ".\"a\"" */
	} else if (*s != '.') {
		return;
	} else if (!ident_len(s + 1)) {
		s++;		/* "." alone */
	}
	char **keys = NULL;
	size_t nkeys = 0;
	while (*s == '.' && (n = ident_len(s + 1)) > 0) {
		keys = fr_xrealloc(keys, (nkeys + 1) * sizeof(*keys));
		keys[nkeys++] = fr_xstrndup(s + 1, n);
		s += 1 + n;
	}
	s += strspn(s, " \t\r\n");
	if (*s) {
		for (size_t i = 0; i < nkeys; i++)
			free(keys[i]);
		free(keys);
		return;
	}
	e->path = true;
	e->keys = keys;
	e->nkeys = nkeys;
}

static int add(struct fr_jqx_prog *p, const char *text,
	       const struct fr_loc *loc, const char *const *vars, size_t nvars,
	       bool over)
{
	struct expr *e;

	fr_grow(&p->v, &p->cap, p->n + 1, sizeof(*p->v));
	e = &p->v[p->n];
	memset(e, 0, sizeof(*e));
	e->text = fr_xstrdup(text);
	e->loc = *loc;
	e->nvars = nvars;
	e->over = over;
	e->vars = nvars ? fr_xcalloc(nvars, sizeof(char *)) : NULL;
	for (size_t i = 0; i < nvars; i++)
		e->vars[i] = fr_xstrdup(vars[i]);
	parse_path(e);
	return (int)p->n++;
}

int fr_jqx_prog_add(struct fr_jqx_prog *p, const char *text,
		    const struct fr_loc *loc, const char *const *vars,
		    size_t nvars)
{
	return add(p, text, loc, vars, nvars, false);
}

int fr_jqx_prog_add_over(struct fr_jqx_prog *p, const char *text,
			 const struct fr_loc *loc, const char *const *vars,
			 size_t nvars)
{
	return add(p, text, loc, vars, nvars, true);
}

const char *fr_jqx_prog_text(const struct fr_jqx_prog *p, int id)
{
	return p->v[id].text;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * Guards: libjq 1.6 aborts, crashes or loops in C on some values, where
 * neither jq's error handling nor an interrupt reaches.  jq lets a later def
 * shadow a builtin, and a def sees the definitions before it, so each guard
 * keeps the builtin under another name, then redefines it to refuse what
 * would crash and call the original otherwise.  A group goes into a program
 * only when one of its triggers occurs in the text of an expression of that
 * program (each builtin that reaches a guarded one is redefined too: the
 * builtin todate calls the builtin strftime, not ours), so programs that
 * use none of them compile and run as before.  flowrun-flow(5) lists them.
 */
struct guard {
	const char *triggers[4];
	const char *defs;
};

#define MAX_REPEAT "67108864"	/* bytes of "s" * n: 64 MiB */

static const struct guard guards[] = {
	/* gmtime of a number it cannot convert returns an error that
	 * strftime then indexes as an array: an assertion */
	{ { "time", "date", "strf" },
	  "def __fr_gmtime: gmtime; def __fr_localtime: localtime; "
	  "def __fr_strftime($f): strftime($f); "
	  "def __fr_strflocaltime($f): strflocaltime($f); "
	  "def __fr_when: if type == \"number\" and (. >= 253402300800 or "
	  ". < -62135596800) then error(\"date out of range (years 1 to "
	  "9999)\") else . end; "
	  "def __fr_format($f): if ($f|type) == \"string\" and ($f|length) > "
	  "1024 then error(\"date format longer than 1024 characters\") "
	  "else . end; "
	  "def gmtime: __fr_when | __fr_gmtime; "
	  "def localtime: __fr_when | __fr_localtime; "
	  "def strftime($f): __fr_when | __fr_format($f) | __fr_strftime($f); "
	  "def strflocaltime($f): __fr_when | __fr_format($f) | "
	  "__fr_strflocaltime($f); "
	  "def todateiso8601: strftime(\"%Y-%m-%dT%H:%M:%SZ\"); "
	  "def todate: todateiso8601; def date: todate; " },
	/* searching for "" never advances */
	{ { "ind" },
	  "def __fr_strindices($i): _strindices($i); "
	  "def _strindices($i): if $i == \"\" then [] else "
	  "__fr_strindices($i) end; "
	  "def indices($i): if type == \"array\" then (if ($i|type) == "
	  "\"array\" then .[$i] else .[[$i]] end) elif type == \"string\" and "
	  "($i|type) == \"string\" then _strindices($i) else .[$i] end; "
	  "def index($i): indices($i) | .[0]; "
	  "def rindex($i): indices($i) | .[-1:][0]; " },
	/* "s" * n appends n times in C, whatever the length */
	{ { "*" },
	  "def __fr_mul(a; b): a * b; "
	  "def _multiply(a; b): b as $b | a as $a | if (($a|type) == "
	  "\"string\" and ($b|type) == \"number\" and __fr_mul($b; "
	  "$a|utf8bytelength) > " MAX_REPEAT ") or (($b|type) == "
	  "\"string\" and ($a|type) == \"number\" and __fr_mul($a; "
	  "$b|utf8bytelength) > " MAX_REPEAT ") then "
	  "error(\"string repeated to more than 64 MiB\") else "
	  "__fr_mul($a; $b) end; " },
	/* INTMAX_MIN % -1 traps (SIGFPE); out-of-range operands convert
	 * to INTMAX_MIN */
	{ { "%" },
	  "def __fr_mod(a; b): a % b; "
	  "def _mod(a; b): b as $b | a as $a | if ($a|type) == \"number\" and "
	  "($b|type) == \"number\" and $b > -2 and $b <= -1 and "
	  "($a > -9223372036854775808 and $a < 9223372036854775808 | not) "
	  "then error(\"% of a number out of the 64-bit range\") else "
	  "__fr_mod($a; $b) end; " },
	/* no input callback: a NULL call */
	{ { "input" },
	  "def _input: error(\"input is not available in flowrun "
	  "expressions\"); def input: _input; def inputs: _input; " },
	/* no debug callback; stderr would print data unredacted */
	{ { "debug", "stderr" },
	  "def debug: .; def stderr: .; " },
};

#define NGUARDS (sizeof(guards) / sizeof(guards[0]))

static bool triggers(const struct guard *g, const char *text)
{
	for (size_t i = 0; i < 4 && g->triggers[i]; i++) {
		if (strstr(text, g->triggers[i]))
			return true;
	}
	return false;
}

/* The guards the expressions [lo, hi) need, on one line (or nothing). */
static void emit_guards(struct fr_buf *b, const struct expr *v, size_t lo,
			size_t hi, unsigned *line)
{
	bool any = false;

	for (size_t g = 0; g < NGUARDS; g++) {
		for (size_t i = lo; i < hi; i++) {
			if (!v[i].bad && triggers(&guards[g], v[i].text)) {
				fr_buf_puts(b, guards[g].defs);
				any = true;
				break;
			}
		}
	}
	if (any) {
		fr_buf_putc(b, '\n');
		if (line)
			(*line)++;
	}
}

/* "($__v[0]) as $item | ...": the loop variables, from the array $__v. */
static void emit_vars(struct fr_buf *b, const struct expr *e)
{
	for (size_t i = 0; i < e->nvars; i++)
		fr_buf_printf(b, "($__v[%zu]) as $%s | ", i, e->vars[i]);
}

static void emit_def(struct fr_buf *b, unsigned *line, size_t id,
		     struct expr *e, bool fixed_clock)
{
	e->first_line = *line;
	/* with a fixed clock: [id, ctx, vars, value, now], `now` redefined */
	if (fixed_clock)
		fr_buf_printf(b, "def __e%zu: .[4] as $__now | def now: $__now; "
			      ". as [$__i, $ctx, $__v, $__in] | ", id);
	else if (e->over)
		fr_buf_printf(b, "def __e%zu: . as [$__i, $ctx, $__v, $__in] | ", id);
	/* without loop variables, one index is cheaper than destructuring */
	else if (e->nvars)
		fr_buf_printf(b, "def __e%zu: . as [$__i, $ctx, $__v] | ", id);
	else
		fr_buf_printf(b, "def __e%zu: .[1] as $ctx | ", id);
	emit_vars(b, e);
	fr_buf_puts(b, e->over ? "$__in | (\n" : "$ctx | (\n");
	fr_buf_puts(b, e->text);
	fr_buf_puts(b, "\n);\n");
	*line += 3 + count_lines(e->text);
	e->last_line = *line - 1;
}

/* if .[0] < mid then LOW else HIGH end: O(log n) comparisons per call. */
static void emit_dispatch(struct fr_buf *b, const struct fr_jqx_prog *p,
			  size_t lo, size_t hi, size_t base)
{
	size_t mid;

	if (hi - lo == 1) {
		if (p->v[lo].bad)
			fr_buf_puts(b, "error(\"invalid expression\")");
		else
			fr_buf_printf(b, "__e%zu", lo - base);
		return;
	}
	mid = lo + (hi - lo) / 2;
	fr_buf_printf(b, "if $__i < %zu then ", mid - base);
	emit_dispatch(b, p, lo, mid, base);
	fr_buf_puts(b, " else ");
	emit_dispatch(b, p, mid, hi, base);
	fr_buf_puts(b, " end");
}

/* The program of expressions [lo, hi); they are numbered from lo. */
static char *generate(struct fr_jqx_prog *p, size_t lo, size_t hi)
{
	struct fr_buf b;
	unsigned line = 1;

	fr_buf_init(&b);
	emit_guards(&b, p->v, lo, hi, &line);
	for (size_t i = lo; i < hi; i++) {
		if (!p->v[i].bad)
			emit_def(&b, &line, i - lo, &p->v[i], p->fixed_clock);
	}
	if (hi == lo) {
		fr_buf_puts(&b, ".\n");
	} else {
		fr_buf_puts(&b, ".[0] as $__i | ");
		emit_dispatch(&b, p, lo, hi, lo);
	}
	fr_buf_putc(&b, '\n');
	return fr_buf_steal(&b);
}

/* Keeps the first message jq reports (the second is "N compile errors"). */
static void keep_first_error(void *data, jv msg)
{
	jv *first = data;

	if (jv_get_kind(*first) == JV_KIND_NULL && jv_get_kind(msg) == JV_KIND_STRING)
		*first = jv_copy(msg);
	jv_free(msg);
}

/*
 * jq 1.6's jq_init leaves a state's out-of-memory handler unset, and
 * jq_next installs it for libjq's allocator: an allocation that fails
 * would call a garbage pointer.  Every state gets this one.
 */

static void jq_out_of_memory(void *data);

/*
 * Compiles text, with $NAME bound for each name of args (NULL: none); on
 * failure returns the first message (caller frees).
 */
static jq_state *compile(const char *text, jv args, char **err)
{
	jq_state *jq = jq_init();
	jv first = jv_null();

	*err = NULL;
	if (!jq)
		abort();
	jq_set_nomem_handler(jq, jq_out_of_memory, NULL);
	jq_set_error_cb(jq, keep_first_error, &first);
	if (!jq_compile_args(jq, text, args)) {
		*err = jv_get_kind(first) == JV_KIND_STRING
			       ? fr_xstrdup(jv_string_value(first))
			       : fr_xstrdup("jq: error: invalid program");
		jv_free(first);
		jq_teardown(&jq);
		return NULL;
	}
	jv_free(first);
	jq_set_error_cb(jq, NULL, NULL);
	return jq;
}

/* "jq: error: syntax error, ... at <top-level>, line 3:\n..." -> parts */
static unsigned error_line(const char *msg)
{
	const char *at = strstr(msg, "at <top-level>, line ");

	return at ? (unsigned)strtoul(at + strlen("at <top-level>, line "), NULL, 10)
		  : 0;
}

static char *error_text(const char *msg)
{
	const char *start = msg, *end;

	if (strncmp(start, "jq: error: ", 11) == 0)
		start += 11;
	else if (strncmp(start, "jq: ", 4) == 0)
		start += 4;
	end = strstr(start, " (Unix shell quoting issues?)");
	if (!end)
		end = strstr(start, " at <top-level>");
	if (!end)
		end = start + strcspn(start, "\n");
	/* a message ending in ':' is followed by the program excerpt */
	while (end > start && (end[-1] == ':' || end[-1] == ' '))
		end--;
	return fr_xstrndup(start, (size_t)(end - start));
}

/*
 * The user's program alone, with its variables bound to null: jq's message
 * then speaks of the user's text ("unexpected $end"), not of our wrapper.
 * Returns the message, or NULL when it compiles.
 */
static char *check_alone(const struct expr *e)
{
	jv args = jv_object_set(jv_object(), jv_string("ctx"), jv_null());
	char *err = NULL;
	jq_state *jq;

	for (size_t i = 0; i < e->nvars; i++)
		args = jv_object_set(args, jv_string(e->vars[i]), jv_null());
	jq = compile(e->text, args, &err);
	jq_teardown(&jq);
	return err;
}

static void report(struct fr_diag *d, const struct expr *e, const char *msg)
{
	char *text = error_text(msg);
	unsigned line = error_line(msg);

	if (strchr(e->text, '\n') && line > 0)
		fr_diag_at(d, FR_ERROR, &e->loc, "invalid jq program (line %u of "
			   "it): %s", line, text);
	else
		fr_diag_at(d, FR_ERROR, &e->loc, "invalid jq program: %s", text);
	free(text);
}

/* Marks and reports the invalid expressions of batch [lo, hi). */
static int check_batch(struct fr_jqx_prog *p, size_t lo, size_t hi,
		       struct fr_diag *d, char **program)
{
	int nbad = 0;

	for (;;) {
		char *err = NULL, *text = generate(p, lo, hi), *alone;
		jq_state *jq = compile(text, jv_object(), &err);
		unsigned line;
		struct expr *culprit = NULL;

		if (jq) {
			jq_teardown(&jq);
			*program = text;
			return nbad;
		}
		free(text);
		line = error_line(err);
		free(err);
		for (size_t i = lo; i < hi && line; i++) {
			if (!p->v[i].bad && line >= p->v[i].first_line &&
			    line <= p->v[i].last_line)
				culprit = &p->v[i];
		}
		if (culprit && (alone = check_alone(culprit))) {
			report(d, culprit, alone);
			free(alone);
			culprit->bad = true;
			nbad++;
			continue;
		}
		/* not attributable to one program: try each alone (rare) */
		int found = 0;
		for (size_t i = lo; i < hi; i++) {
			if (p->v[i].bad || !(alone = check_alone(&p->v[i])))
				continue;
			report(d, &p->v[i], alone);
			free(alone);
			p->v[i].bad = true;
			nbad++;
			found++;
		}
		if (!found) {
			fr_diag(d, FR_ERROR, "internal error: the jq programs "
					     "compile alone but not together");
			for (size_t i = lo; i < hi; i++)
				p->v[i].bad = true;
			*program = generate(p, lo, hi);
			return nbad + 1;
		}
	}
}

int fr_jqx_prog_check(struct fr_jqx_prog *p, struct fr_diag *d)
{
	int nbad = 0;

	for (size_t i = 0; i < p->nprograms; i++)
		free(p->programs[i]);
	p->nprograms = p->n ? (p->n + BATCH - 1) / BATCH : 1;
	p->programs = fr_xrealloc(p->programs, p->nprograms * sizeof(char *));
	for (size_t b = 0; b < p->nprograms; b++) {
		size_t lo = b * BATCH, hi = lo + BATCH < p->n ? lo + BATCH : p->n;
		nbad += check_batch(p, lo, hi, d, &p->programs[b]);
	}
	return nbad;
}

struct fr_jqx *fr_jqx_create(const struct fr_jqx_prog *p)
{
	struct fr_jqx *jx = fr_xcalloc(1, sizeof(*jx));
	char *err = NULL;

	jx->p = p;
	jx->njq = p->nprograms;
	jx->jq = fr_xcalloc(jx->njq ? jx->njq : 1, sizeof(*jx->jq));
	jx->hot = fr_xcalloc(p->n ? p->n : 1, sizeof(*jx->hot));
	for (size_t i = 0; i < jx->njq; i++) {
		jx->jq[i] = compile(p->programs[i], jv_object(), &err);
		if (!jx->jq[i]) {
			/* fr_jqx_prog_check compiled the same text */
			fprintf(stderr, "flowrun: internal error: %s\n", err);
			abort();
		}
	}
	return jx;
}

void fr_jqx_destroy(struct fr_jqx *jx)
{
	if (!jx)
		return;
	for (size_t i = 0; i < jx->njq; i++)
		jq_teardown(&jx->jq[i]);
	for (size_t i = 0; i < jx->p->n; i++) {
		jq_teardown(&jx->hot[i].jq);
		for (size_t k = 0; jx->hot[i].keys && k < jx->p->v[i].nkeys; k++)
			jv_free(jx->hot[i].keys[k]);
		free(jx->hot[i].keys);
	}
	free(jx->jq);
	free(jx->hot);
	free(jx);
}


static char *message_of(jv r)
{
	jv msg = jv_invalid_get_msg(r);
	char *s;

	if (jv_get_kind(msg) == JV_KIND_STRING) {
		s = fr_xstrdup(jv_string_value(msg));
	} else if (jv_get_kind(msg) == JV_KIND_NULL) {
		s = fr_xstrdup("error(null)");
	} else {
		jv dumped = jv_dump_string(jv_copy(msg), 0);
		s = fr_xasprintf("%s (not a string)", jv_string_value(dumped));
		jv_free(dumped);
	}
	jv_free(msg);
	return s;
}

/*
 * Expression id compiled alone, taking what its def in the batch takes
 * apart from the index: [ctx, vars] with loop variables, else ctx itself.
 */
static void promote(struct fr_jqx *jx, int id)
{
	const struct expr *e = &jx->p->v[id];
	struct hot *h = &jx->hot[id];
	struct fr_buf b;
	char *err = NULL;

	if (e->bad) {
		h->failed = true;
		return;
	}
	fr_buf_init(&b);
	emit_guards(&b, jx->p->v, (size_t)id, (size_t)id + 1, NULL);
	if (jx->p->fixed_clock)
		fr_buf_puts(&b, ". as [$ctx, $__v, $__in, $__now] | "
			    "def now: $__now; ");
	else if (e->over)
		fr_buf_puts(&b, ". as [$ctx, $__v, $__in] | ");
	else if (e->nvars)
		fr_buf_puts(&b, ". as [$ctx, $__v] | ");
	else if (strstr(e->text, "$ctx"))
		fr_buf_puts(&b, ". as $ctx | ");
	emit_vars(&b, e);
	fr_buf_puts(&b, e->over ? "$__in | (\n"
			: e->nvars || jx->p->fixed_clock ? "$ctx | (\n" : "(\n");
	fr_buf_puts(&b, e->text);
	fr_buf_puts(&b, "\n)\n");
	h->jq = compile(fr_buf_cstr(&b), jv_object(), &err);
	h->failed = !h->jq;
	free(err);
	fr_buf_finish(&b);
}

/*
 * A state that halted is replaced: jq 1.6's jq_start frees the halt's
 * exit code and message without forgetting them, so a second jq_start
 * would free them again.  Tearing it down frees them once.
 */
static void renew(struct fr_jqx *jx, int id, jq_state **slot)
{
	char *err = NULL;

	jq_teardown(slot);
	if (slot == &jx->hot[id].jq) {
		promote(jx, id);
		return;
	}
	*slot = compile(jx->p->programs[id / BATCH], jv_object(), &err);
	if (!*slot) {
		fprintf(stderr, "flowrun: internal error: %s\n", err);
		abort();
	}
}

bool fr_jqx_hot(const struct fr_jqx *jx, int id)
{
	return jx->hot[id].jq != NULL;
}

/*
 * Deadlines.  fr_jqx_deadline sets a POSIX timer that signals this thread
 * (SIGEV_THREAD_ID) when the deadline passes; the handler, running on the
 * thread that runs jq, halts the program it is in, if any.  Nothing is
 * shared with another thread.  To spare a system call per step, the timer
 * is set again only when the new deadline is sooner than the one it is set
 * for; when it fires for a deadline that has since moved on, the handler
 * sets it for the deadline now in force.  The handler only stores (jq_halt
 * sets three fields; jv_invalid allocates nothing) and calls
 * clock_gettime and timer_settime, which are async-signal-safe.
 */
#define DEADLINE_SIGNAL SIGRTMIN

static _Thread_local struct {
	timer_t timer;
	bool made, warned;
	_Atomic uint64_t deadline;	/* monotonic ns; 0 = none */
	_Atomic uint64_t armed;		/* when the timer fires; 0 = unset */
	jq_state *volatile running;	/* the state in jq_next */
	volatile sig_atomic_t interrupted;
} alarm_tl;
static pthread_key_t timer_key;		/* deletes a thread's timer at exit */
static pthread_once_t timer_key_once = PTHREAD_ONCE_INIT;

static void set_timer(uint64_t at)
{
	struct itimerspec its = { .it_value = {
		.tv_sec = (time_t)(at / 1000000000u),
		.tv_nsec = (long)(at % 1000000000u) } };

	atomic_store(&alarm_tl.armed, at);
	timer_settime(alarm_tl.timer, TIMER_ABSTIME, &its, NULL);
}

static void on_deadline(int sig)
{
	int saved = errno;
	uint64_t d = atomic_load(&alarm_tl.deadline);
	jq_state *jq;

	(void)sig;
	atomic_store(&alarm_tl.armed, 0);
	if (d && fr_now_ns() >= d) {
		atomic_store(&alarm_tl.deadline, 0);
		alarm_tl.interrupted = 1;
		jq = alarm_tl.running;
		/* jq_next checks the flag before each instruction */
		if (jq && !jq_halted(jq))
			jq_halt(jq, jv_invalid(), jv_invalid());
	} else if (d) {
		set_timer(d);
	}
	errno = saved;
}

/*
 * The backstop: an assertion in libjq (abort) or a trap (SIGFPE) while this
 * thread runs it jumps back to the evaluation, which reports it as the
 * step's error; the state it left is torn down if that works, else
 * abandoned (leaked).  Elsewhere the signal keeps its default action.  The
 * handler runs with SA_NODEFER, so the signal mask needs no saving (no
 * system call per evaluation).  A
 * loop or a stack overflow inside libjq is not caught: flowrun-flow(5).
 */
static _Thread_local sigjmp_buf *in_jq;
static pthread_once_t backstop_once = PTHREAD_ONCE_INIT;

static void on_fatal(int sig)
{
	if (in_jq)
		siglongjmp(*in_jq, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_backstop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sa.sa_handler = on_deadline;
	sa.sa_flags = SA_RESTART;
	sigaction(DEADLINE_SIGNAL, &sa, NULL);
}

static void drop_timer(void *arg)
{
	timer_delete(*(timer_t *)arg);
}

static void make_key(void)
{
	pthread_key_create(&timer_key, drop_timer);
}

static int make_timer(void)
{
	struct sigevent ev;

	pthread_once(&backstop_once, install_backstop);
	pthread_once(&timer_key_once, make_key);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = DEADLINE_SIGNAL;
	ev._sigev_un._tid = gettid();	/* glibc 2.36 has no sigev_notify_thread_id */
	if (timer_create(CLOCK_MONOTONIC, &ev, &alarm_tl.timer) < 0)
		return -1;
	alarm_tl.made = true;
	pthread_setspecific(timer_key, &alarm_tl.timer);
	return 0;
}

void fr_jqx_deadline(uint64_t deadline)
{
	uint64_t armed;

	atomic_store(&alarm_tl.deadline, deadline);
	if (!deadline)
		return;
	if (!alarm_tl.made && make_timer() < 0) {
		if (!alarm_tl.warned)
			fprintf(stderr, "flowrun: cannot make a timer (%s): jq programs "
				"run past their timeouts\n", strerror(errno));
		alarm_tl.warned = true;
		return;
	}
	armed = atomic_load(&alarm_tl.armed);
	if (armed == 0 || deadline < armed)
		set_timer(deadline);
}

/* sigsetjmp's value when libjq ran out of memory (no signal has it) */
#define NOMEM_JUMP 1000

/*
 * jq 1.6's jq_init leaves a state's out-of-memory handler unset, and
 * jq_next installs it for libjq's allocator: an allocation that fails
 * would call a garbage pointer.  Every state gets this one: the
 * evaluation fails (what it held is lost with the state), unless the
 * process has an out-of-memory hook (serve's worker processes end).
 */
static void jq_out_of_memory(void *data)
{
	(void)data;
	if (in_jq && !fr_oom_hook)
		siglongjmp(*in_jq, NOMEM_JUMP);
	fr_out_of_memory(0);
}

/* Tears down a state libjq failed in, unless that fails too. */
static void discard(jq_state **slot)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 0) == 0) {
		in_jq = &env;
		jq_teardown(slot);
	}
	in_jq = NULL;
	*slot = NULL;
}

/*
 * Values pulled after the second before giving up on the rest: abandoning
 * a generator inside path(...) (paths, leaf_paths) makes jq 1.6's next
 * jq_start assert, so the rest is pulled to its end when it is not huge.
 */
#define DRAIN_MAX 100000

struct run {
	jv first, r;
	int n;
};

static void run(jq_state *jq, jv input, struct run *out)
{
	jq_start(jq, input, 0);
	while (jv_is_valid(out->r = jq_next(jq))) {
		if (out->n++ == 0) {
			out->first = out->r;
			continue;
		}
		jv_free(out->r);
		out->r = jv_invalid();
		if (out->n > DRAIN_MAX)
			break;
	}
}

/*
 * A plain path's value, as jq has it: fields of objects, null from null
 * or a missing key.  False (nothing consumed) when jq must say why not.
 */
static bool eval_path(struct fr_jqx *jx, int id, jv ctx, jv vars, jv in,
		      jv *out)
{
	const struct expr *e = &jx->p->v[id];
	struct hot *h = &jx->hot[id];
	jv v;

	if (e->root >= 0) {
		if (jv_get_kind(vars) != JV_KIND_ARRAY ||
		    e->root >= jv_array_length(jv_copy(vars)))
			return false;
		v = jv_array_get(jv_copy(vars), e->root);
	} else {
		v = jv_copy(e->root == -1 && e->over ? in : ctx);
	}
	if (e->nkeys && !h->keys) {
		h->keys = fr_xcalloc(e->nkeys, sizeof(jv));
		for (size_t k = 0; k < e->nkeys; k++)
			h->keys[k] = jv_string(e->keys[k]);
	}
	for (size_t k = 0; k < e->nkeys; k++) {
		jv_kind kind = jv_get_kind(v);
		if (kind == JV_KIND_NULL)
			continue;
		if (kind != JV_KIND_OBJECT) {
			jv_free(v);
			return false;
		}
		v = jv_object_get(v, jv_copy(h->keys[k]));
		if (!jv_is_valid(v)) {
			jv_free(v);
			v = jv_null();
		}
	}
	jv_free(ctx);
	jv_free(vars);
	jv_free(in);
	*out = v;
	return true;
}

static int eval(struct fr_jqx *jx, int id, jv ctx, jv vars, jv in, jv *out,
		char **err)
{
	const struct expr *e = &jx->p->v[id];
	struct hot *h = &jx->hot[id];
	jq_state **slot, *jq;
	jv input;
	struct run res = { jv_invalid(), jv_invalid(), 0 };
	sigjmp_buf env;
	int sig;
	bool interrupted;

	if (!e->over) {
		jv_free(in);
		in = jv_null();
	}
	if (e->path && !e->bad && eval_path(jx, id, ctx, vars, in, out)) {
		*err = NULL;
		return 0;
	}
	pthread_once(&backstop_once, install_backstop);
	if (!h->jq && !h->failed && ++h->uses >= FR_JQX_HOT_AFTER)
		promote(jx, id);
	if (jx->p->fixed_clock) {
		slot = h->jq ? &h->jq : &jx->jq[id / BATCH];
		input = jv_array_append(jv_array_append(jv_array_append(
			jv_array(), ctx), vars), in);
		input = jv_array_append(input, jv_number(jx->now));
		if (!h->jq)
			input = jv_array_concat(jv_array_append(jv_array(),
					jv_number(id % BATCH)), input);
	} else if (h->jq) {
		slot = &h->jq;
		if (e->over)
			input = jv_array_append(jv_array_append(jv_array_append(
				jv_array(), ctx), vars), in);
		else if (e->nvars)
			input = jv_array_append(jv_array_append(jv_array(), ctx), vars);
		else
			input = ctx, jv_free(vars), jv_free(in);
	} else {
		slot = &jx->jq[id / BATCH];
		input = jv_array_append(jv_array_append(jv_array_append(
			jv_array(), jv_number(id % BATCH)), ctx), vars);
		if (e->over)
			input = jv_array_append(input, in);
		else
			jv_free(in);
	}
	*err = NULL;
	*out = jv_null();
	jq = *slot;
	alarm_tl.interrupted = 0;
	alarm_tl.running = jq;
	sig = sigsetjmp(env, 0);
	if (sig == 0) {
		in_jq = &env;
		run(jq, input, &res);
	}
	in_jq = NULL;
	alarm_tl.running = NULL;
	interrupted = alarm_tl.interrupted;
	if (sig) {
		/* what the run held is lost with the state */
		*err = sig == NOMEM_JUMP
			? fr_xstrdup("out of memory")
			: fr_xasprintf("libjq failed on this program and value (%s)",
				       sig == SIGFPE ? "arithmetic trap"
						     : "assertion failure");
		discard(slot);
		renew(jx, id, slot);
		return -1;
	}
	if (interrupted) {
		*err = fr_xstrdup("jq program interrupted (timeout)");
	} else if (jq_halted(jq)) {
		*err = fr_xstrdup("jq program called halt");
	} else if (jv_invalid_has_msg(jv_copy(res.r))) {
		*err = message_of(jv_copy(res.r));
	} else if (res.n == 0) {
		*err = fr_xstrdup("expression yielded no value");
	} else if (res.n > 1) {
		*err = fr_xstrdup("expression yielded more than one value; "
				  "wrap it in [ ] to collect them");
	}
	jv_free(res.r);
	if (jq_halted(jq))
		renew(jx, id, slot);
	if (*err) {
		jv_free(res.first);
		return -1;
	}
	*out = res.first;
	return 0;
}

void fr_jqx_prog_fixed_clock(struct fr_jqx_prog *p)
{
	p->fixed_clock = true;
}

void fr_jqx_set_now(struct fr_jqx *jx, double now)
{
	jx->now = now;
}

int fr_jqx_eval(struct fr_jqx *jx, int id, jv ctx, jv vars, jv *out,
		char **err)
{
	return eval(jx, id, ctx, vars, jv_null(), out, err);
}

int fr_jqx_eval_on(struct fr_jqx *jx, int id, jv ctx, jv vars, jv input,
		   jv *out, char **err)
{
	return eval(jx, id, ctx, vars, input, out, err);
}

bool fr_jv_truthy(jv v)
{
	jv_kind k = jv_get_kind(v);

	return k != JV_KIND_FALSE && k != JV_KIND_NULL && k != JV_KIND_INVALID;
}
