/* expr: templates and expressions, compiled from YAML and rendered */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "expr.h"
#include "jqx.h"
#include "json.h"
#include "tap.h"
#include "util.h"
#include "ydoc.h"

/* One YAML document whose values are the templates under test. */
static const char yaml[] =
	"const_map: {n: 9007199254740993, s: text, l: [1, -2, 2.5], b: true, z: null}\n" /* 1 */
	"const_str: \"no expressions $ { { here\"\n"		/* 2 */
	"whole_num: \"${{ 1 + 1 }}\"\n"				/* 3 */
	"whole_arr: \"${{ [.n, .s] }}\"\n"			/* 4 */
	"whole_obj: \"${{ {a: {b: .n}} }}\"\n"			/* 5 */
	"whole_str: \"${{ .s }}\"\n"				/* 6 */
	"whole_null: ${{ .missing }}\n"				/* 7 */
	"whole_bool: \"${{ .n > 1 }}\"\n"			/* 8 */
	"text_str: \"id=${{ .s }}!\"\n"				/* 9 */
	"text_num: \"n=${{ .n }}, r=${{ .r }}\"\n"		/* 10 */
	"text_obj: \"o=${{ .o }} a=${{ [1, \\\"x\\\"] }} z=${{ null }}\"\n" /* 11 */
	"braces: \"${{ {a: 1}}}\"\n"				/* 12 */
	"braces_text: \"<${{ {k: {v: .n}} | .k.v }}>\"\n"	/* 13 */
	"closing_in_string: \"${{ \\\"}}\\\" + .s }}\"\n"	/* 14 */
	"mixed: {url: \"/x/${{ .s }}\", big: 9007199254740993, list: [\"${{ .n }}\", 2]}\n" /* 15 */
	"unterminated: \"abc ${{ .s \"\n"			/* 16 */
	"empty_expr: \"a ${{   }} b\"\n"			/* 17 */
	"bad_jq: \"x ${{ .s | }}\"\n"				/* 18 */
	"expr: .n + 1\n"					/* 19 */
	"expr_map: {a: 1}\n"					/* 20 */
	"expr_empty: \"  \"\n"					/* 21 */
	"refs_ok: \"${{ .steps.first.x + .config.known }}\"\n"	/* 22 */
	"refs_bad: \"${{ .steps.later.x }} ${{ $ctx.config.nope }}\"\n" /* 23 */
	"refs_nested: \"${{ .foo.steps.later + .trigger.config.nope }}\"\n" /* 24 */
	"refs_expr: '[.steps.nope, .config.missing]'\n"		/* 25 */
	"plain_tmpl: abc ${{ .s }}\n"				/* 26 */
	;

static char *msg_buf;
static size_t msg_len;

static const struct fr_ynode *node(const struct fr_ydoc *doc, const char *key)
{
	const struct fr_ynode *n = fr_ymap_get(doc->root, key);

	if (!n)
		printf("# no key %s\n", key);
	return n;
}

static char *dump(const json_t *j)
{
	return j ? fr_json_dump(j) : fr_xstrdup("(NULL)");
}

/* Renders t against ctx; returns compact JSON text (caller frees). */
static char *render(const struct fr_tmpl *t, struct fr_jqx *jx, jv ctx)
{
	json_t *out = NULL;
	char *err = NULL, *s;

	if (!t)
		return fr_xstrdup("(no template)");
	jv vars = jv_array();
	int rc = fr_tmpl_render(t, jx, ctx, vars, &out, &err);	/* borrows */

	jv_free(vars);
	if (rc < 0) {
		s = fr_xasprintf("error: %s", err);
		free(err);
		return s;
	}
	s = dump(out);
	json_decref(out);
	return s;
}

#define RENDER_IS(t, want, ...)                                              \
	do {                                                                 \
		char *r_ = render(t, jx, ctx);                               \
		is_str(r_, want, __VA_ARGS__);                               \
		free(r_);                                                    \
	} while (0)

int main(void)
{
	struct fr_source *src = fr_source_create("t.yaml", fr_xstrdup(yaml),
						 strlen(yaml));
	struct fr_jqx_prog *prog = fr_jqx_prog_create();
	struct fr_ydoc *doc = NULL;
	struct fr_diag d;
	FILE *f = open_memstream(&msg_buf, &msg_len);
	struct fr_config_var config[] = { { .name = "known" } };
	struct fr_integration in = { .name = "i", .config = config, .nconfig = 1 };
	const char *ids[] = { "first" };
	struct fr_scope sc = { .prog = prog, .d = &d };
	struct fr_tmpl *t[32] = { 0 };
	struct fr_expr *e[8] = { 0 };
	struct fr_jqx *jx;
	jv ctx;
	size_t nkeys;
	const char **keys;

	fr_diag_init(&d, f);
	if (fr_ydoc_parse(&doc, src, &d) < 0) {
		fr_diag_flush(&d);
		fclose(f);
		printf("# %s", msg_buf);
		ok(0, "test document parses");
		return done_testing();
	}
	fr_source_unref(src);

	/* templates and expressions that must compile without a word */
	t[0] = fr_tmpl_compile(&sc, node(doc, "const_map"));
	t[1] = fr_tmpl_compile(&sc, node(doc, "const_str"));
	t[2] = fr_tmpl_compile(&sc, node(doc, "whole_num"));
	t[3] = fr_tmpl_compile(&sc, node(doc, "whole_arr"));
	t[4] = fr_tmpl_compile(&sc, node(doc, "whole_obj"));
	t[5] = fr_tmpl_compile(&sc, node(doc, "whole_str"));
	t[6] = fr_tmpl_compile(&sc, node(doc, "whole_null"));
	t[7] = fr_tmpl_compile(&sc, node(doc, "whole_bool"));
	t[8] = fr_tmpl_compile(&sc, node(doc, "text_str"));
	t[9] = fr_tmpl_compile(&sc, node(doc, "text_num"));
	t[10] = fr_tmpl_compile(&sc, node(doc, "text_obj"));
	t[11] = fr_tmpl_compile(&sc, node(doc, "braces"));
	t[12] = fr_tmpl_compile(&sc, node(doc, "braces_text"));
	t[13] = fr_tmpl_compile(&sc, node(doc, "closing_in_string"));
	t[14] = fr_tmpl_compile(&sc, node(doc, "mixed"));
	t[15] = fr_tmpl_compile(&sc, node(doc, "plain_tmpl"));
	e[0] = fr_expr_compile(&sc, node(doc, "expr"));
	fr_diag_flush(&d);
	fflush(f);
	is_str(msg_buf, "", "valid templates compile without diagnostics");
	for (int i = 0; i <= 15; i++)
		ok(t[i] != NULL, "template %d compiled", i);
	ok(e[0] != NULL, "expression compiled");

	/* constants */
	ok(fr_tmpl_value(t[0]) != NULL, "a mapping without ${{ }} is constant");
	{
		const json_t *n = json_object_get(fr_tmpl_value(t[0]), "n");
		ok(json_is_integer(n) &&
		   json_integer_value(n) == 9007199254740993LL,
		   "constant keeps 2^53+1 exact");
		char *s = dump(fr_tmpl_value(t[0]));
		is_str(s, "{\"n\":9007199254740993,\"s\":\"text\",\"l\":[1,-2,2.5],"
			  "\"b\":true,\"z\":null}", "constant mapping typed by YAML");
		free(s);
	}
	ok(fr_tmpl_value(t[1]) && json_is_string(fr_tmpl_value(t[1])),
	   "text without ${{ is a constant string");
	ok(fr_tmpl_value(t[2]) == NULL, "a template with ${{ }} is no constant");
	ok(fr_tmpl_loc(t[2])->line == 3 && fr_tmpl_loc(t[2])->col == 12,
	   "template located at its value");
	keys = fr_tmpl_object_keys(t[0], &nkeys);
	ok(keys && nkeys == 5 && strcmp(keys[0], "n") == 0,
	   "keys of a constant object");
	free(keys);
	keys = fr_tmpl_object_keys(t[14], &nkeys);
	ok(keys && nkeys == 3 && strcmp(keys[2], "list") == 0,
	   "keys of an object template");
	free(keys);
	ok(fr_tmpl_object_keys(t[4], &nkeys) == NULL && nkeys == 0,
	   "a whole ${{ }} has no literal keys");
	ok(fr_tmpl_may_be_object(t[0]) && fr_tmpl_may_be_object(t[4]) &&
	   fr_tmpl_may_be_object(t[14]), "object templates may be objects");
	ok(!fr_tmpl_may_be_object(t[8]) && !fr_tmpl_may_be_object(t[1]),
	   "strings are not objects");

	ok(fr_jqx_prog_check(prog, &d) == 0, "the batch compiles");
	fr_diag_flush(&d);
	fflush(f);
	is_str(msg_buf, "", "no jq errors");

	jx = fr_jqx_create(prog);
	ctx = jv_parse("{\"n\": 5, \"s\": \"abc\", \"r\": 1.5, "
		       "\"o\": {\"a\": [1, 2], \"b\": \"q\\\"\"}}");
	{
		json_t *a = NULL, *b = NULL;
		char *err = NULL;
		jv vars = jv_array();
		fr_tmpl_render(t[0], jx, ctx, vars, &a, &err);
		fr_tmpl_render(t[0], jx, ctx, vars, &b, &err);
		jv_free(vars);
		ok(a && b && a != b && a != fr_tmpl_value(t[0]) &&
		   json_equal(a, fr_tmpl_value(t[0])) && json_equal(a, b),
		   "rendering a constant returns an equal copy (threads share "
		   "the template, never its values)");
		json_decref(a);
		json_decref(b);
	}
	RENDER_IS(t[0], "{\"n\":9007199254740993,\"s\":\"text\",\"l\":[1,-2,2.5],"
			"\"b\":true,\"z\":null}", "constant rendered exactly");
	RENDER_IS(t[2], "2", "whole ${{ }}: a number");
	RENDER_IS(t[3], "[5,\"abc\"]", "whole ${{ }}: an array");
	RENDER_IS(t[4], "{\"a\":{\"b\":5}}", "whole ${{ }}: an object");
	RENDER_IS(t[5], "\"abc\"", "whole ${{ }}: a string");
	RENDER_IS(t[6], "null", "whole ${{ }}: null (plain scalar)");
	RENDER_IS(t[7], "true", "whole ${{ }}: a boolean");
	RENDER_IS(t[8], "\"id=abc!\"", "text: strings inserted raw");
	RENDER_IS(t[9], "\"n=5, r=1.5\"", "text: numbers as JSON");
	RENDER_IS(t[10], "\"o={\\\"a\\\":[1,2],\\\"b\\\":\\\"q\\\\\\\"\\\"} "
			 "a=[1,\\\"x\\\"] z=null\"",
		  "text: other values as compact JSON");
	RENDER_IS(t[11], "{\"a\":1}", "'}}}' closes after a jq object");
	RENDER_IS(t[12], "\"<5>\"", "nested jq objects inside text");
	RENDER_IS(t[13], "\"}}abc\"", "'}}' inside a jq string");
	RENDER_IS(t[14], "{\"url\":\"/x/abc\",\"big\":9007199254740993,"
			 "\"list\":[5,2]}",
		  "mapping with expressions keeps constant parts exact");
	RENDER_IS(t[15], "\"abc abc\"", "plain (unquoted) scalar template");
	{
		jv out;
		char *err = NULL;
		ok(fr_jqx_eval(jx, e[0]->id, jv_copy(ctx), jv_array(), &out,
			       &err) == 0 && jv_number_value(out) == 6,
		   "expression evaluates: .n + 1 = 6");
		jv_free(out);
		ok(e[0]->loc.line == 19 && e[0]->loc.col == 7,
		   "expression located at its value");
		is_str(e[0]->text, ".n + 1", "expression text kept");
	}
	{
		jv bad = jv_parse("{\"n\": \"x\"}");
		char *r = render(t[2], jx, bad);	/* 1 + 1 still fine */
		is_str(r, "2", "constant program ignores the context");
		free(r);
		r = render(t[7], jx, bad);
		is_str(r, "true", "string > number is true in jq");
		free(r);
		jv_free(bad);
		bad = jv_parse("{\"n\": [1]}");
		r = render(t[12], jx, bad);
		is_str(r, "\"<[1]>\"", "array inserted into text as JSON");
		free(r);
		jv_free(bad);
	}
	jv_free(ctx);
	fr_jqx_destroy(jx);

	/* errors, each at its place */
	fclose(f);
	free(msg_buf);
	msg_buf = NULL;
	f = open_memstream(&msg_buf, &msg_len);
	fr_diag_init(&d, f);
	{
		struct fr_jqx_prog *p2 = fr_jqx_prog_create();
		struct fr_scope s2 = { .prog = p2, .d = &d };
		ok(fr_tmpl_compile(&s2, node(doc, "unterminated")) == NULL,
		   "unterminated ${{ refused");
		ok(fr_tmpl_compile(&s2, node(doc, "empty_expr")) == NULL,
		   "empty ${{ }} refused");
		t[20] = fr_tmpl_compile(&s2, node(doc, "bad_jq"));
		ok(t[20] != NULL, "a jq syntax error is found by the batch check");
		ok(fr_expr_compile(&s2, node(doc, "expr_map")) == NULL,
		   "a mapping is no expression");
		ok(fr_expr_compile(&s2, node(doc, "expr_empty")) == NULL,
		   "a blank expression is refused");
		is_int(fr_jqx_prog_check(p2, &d), 1, "one invalid jq program");
		fr_diag_flush(&d);
		fflush(f);
		{
			static const char want[] =
				"t.yaml:16:20: error: '${{' without a closing '}}'\n"
				" unterminated: \"abc ${{ .s \"\n"
				"                    ^\n"
				"t.yaml:17:16: error: empty '${{ }}'\n"
				" empty_expr: \"a ${{   }} b\"\n"
				"                ^\n"
				"t.yaml:18:12: error: invalid jq program: syntax error";
			if (!ok(strncmp(msg_buf, want, strlen(want)) == 0,
				"errors located at the '${{'"))
				printf("# got:\n%s", msg_buf);
		}
		ok(strstr(msg_buf, "t.yaml:20:11: error: expected a jq program, "
				   "found a mapping\n") != NULL,
		   "mapping as expression located");
		ok(strstr(msg_buf, "t.yaml:21:13: error: empty jq program\n") != NULL,
		   "blank expression located");
		is_int(d.nerrors, 5, "five errors");
		fr_tmpl_destroy(t[20]);
		t[20] = NULL;
		fr_jqx_prog_destroy(p2);
	}

	/* reference warnings through a scope */
	fclose(f);
	free(msg_buf);
	msg_buf = NULL;
	f = open_memstream(&msg_buf, &msg_len);
	fr_diag_init(&d, f);
	{
		struct fr_jqx_prog *p3 = fr_jqx_prog_create();
		struct fr_scope s3 = { .prog = p3, .d = &d, .check_steps = true,
				       .step_ids = ids, .nstep_ids = 1,
				       .in = &in, .flow = "main" };
		struct fr_tmpl *a = fr_tmpl_compile(&s3, node(doc, "refs_ok"));
		ok(a != NULL && d.nwarnings == 0,
		   "known step and config names: no warning");
		fr_tmpl_destroy(a);
		a = fr_tmpl_compile(&s3, node(doc, "refs_nested"));
		ok(a != NULL && d.nwarnings == 0,
		   "'.x.steps.y' and '.x.config.y' are not the context's");
		fr_tmpl_destroy(a);
		a = fr_tmpl_compile(&s3, node(doc, "refs_bad"));
		ok(a != NULL, "warnings do not stop compilation");
		fr_tmpl_destroy(a);
		e[1] = fr_expr_compile(&s3, node(doc, "refs_expr"));
		is_int(d.nwarnings, 4, "four warnings");
		is_int(d.nerrors, 0, "warnings are no errors");
		fr_diag_flush(&d);
		fflush(f);
		is_str(msg_buf,
		       "t.yaml:23:12: warning: '.steps.later' names no earlier "
		       "step of flow 'main'\n"
		       " refs_bad: \"${{ .steps.later.x }} ${{ $ctx.config.nope }}\"\n"
		       "            ^\n"
		       "t.yaml:23:34: warning: '.config.nope' names no declared "
		       "config variable\n"
		       " refs_bad: \"${{ .steps.later.x }} ${{ $ctx.config.nope }}\"\n"
		       "                                  ^\n"
		       "t.yaml:25:12: warning: '.steps.nope' names no earlier step "
		       "of flow 'main'\n"
		       " refs_expr: '[.steps.nope, .config.missing]'\n"
		       "            ^\n"
		       "t.yaml:25:12: warning: '.config.missing' names no declared "
		       "config variable\n"
		       " refs_expr: '[.steps.nope, .config.missing]'\n"
		       "            ^\n",
		       "warnings name the reference, at the expression");

		/* without step checks or an integration, nothing is checked */
		fclose(f);
		free(msg_buf);
		msg_buf = NULL;
		f = open_memstream(&msg_buf, &msg_len);
		fr_diag_init(&d, f);
		s3.check_steps = false;
		s3.in = NULL;
		a = fr_tmpl_compile(&s3, node(doc, "refs_bad"));
		ok(a != NULL && d.nwarnings == 0,
		   "no checks when the scope asks for none");
		fr_tmpl_destroy(a);
		fr_diag_flush(&d);
		fr_expr_destroy(e[1]);
		e[1] = NULL;
		fr_jqx_prog_destroy(p3);
	}
	fclose(f);
	free(msg_buf);

	for (size_t i = 0; i < FR_ARRAY_LEN(t); i++)
		fr_tmpl_destroy(t[i]);
	for (size_t i = 0; i < FR_ARRAY_LEN(e); i++)
		fr_expr_destroy(e[i]);
	fr_jqx_prog_destroy(prog);
	fr_ydoc_destroy(doc);
	return done_testing();
}
