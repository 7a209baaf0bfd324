/* ydoc: positions, scalar styles and types, and every refusal */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "tap.h"
#include "util.h"
#include "ydoc.h"

static char *out_buf;
static size_t out_len;

/*
 * Parses text (len bytes) as "t.yaml"; *msgs gets the diagnostics printed
 * (caller frees).  Returns the document or NULL.
 */
static struct fr_ydoc *parse_n(const char *text, size_t len, char **msgs,
			       int *rc)
{
	struct fr_source *src = fr_source_create("t.yaml",
						 fr_xstrndup(text, len), len);
	FILE *f = open_memstream(&out_buf, &out_len);
	struct fr_diag d;
	struct fr_ydoc *doc = (struct fr_ydoc *)1;

	fr_diag_init(&d, f);
	*rc = fr_ydoc_parse(&doc, src, &d);
	fr_diag_flush(&d);
	fclose(f);
	*msgs = out_buf;
	fr_source_unref(src);	/* the document keeps its own reference */
	return doc;
}

static struct fr_ydoc *parse(const char *text, char **msgs, int *rc)
{
	return parse_n(text, strlen(text), msgs, rc);
}

/* Expects text to be refused with exactly the message want. */
static void refused(const char *text, size_t len, const char *want,
		    const char *name)
{
	char *msgs;
	int rc;
	struct fr_ydoc *doc = parse_n(text, len, &msgs, &rc);

	ok(rc == -1 && doc == NULL, "%s: refused", name);
	is_str(msgs, want, "%s: message", name);
	free(msgs);
	fr_ydoc_destroy(doc);
}

#define LOC_IS(n, l, c, name)                                                \
	ok((n) && (n)->loc.line == (l) && (n)->loc.col == (c),               \
	   "%s at %u:%u (got %u:%u)", name, l, c, (n) ? (n)->loc.line : 0,   \
	   (n) ? (n)->loc.col : 0)

static void positions(void)
{
	const char *text =
		"a: 1\n"
		"b:\n"
		"  - x\n"
		"  - \"y\"\n"
		"c: {k: v}\n"
		"# comment\n"
		"d: |\n"
		"  text\n";
	char *msgs;
	int rc;
	struct fr_ydoc *doc = parse(text, &msgs, &rc);
	const struct fr_ynode *r, *b, *c;

	is_int(rc, 0, "parses");
	is_str(msgs, "", "no diagnostics");
	free(msgs);
	r = doc->root;
	ok(r->kind == FR_YMAP && fr_ymap_len(r) == 4, "root mapping of 4 pairs");
	LOC_IS(r, 1u, 1u, "root");
	LOC_IS(fr_ymap_key(r, 0), 1u, 1u, "key 'a'");
	LOC_IS(fr_ymap_val(r, 0), 1u, 4u, "value of 'a'");
	b = fr_ymap_get(r, "b");
	ok(b && b->kind == FR_YSEQ && b->n == 2, "'b' is a list of two");
	LOC_IS(b->items[0], 3u, 5u, "first item");
	LOC_IS(b->items[1], 4u, 5u, "quoted item (at its quote)");
	c = fr_ymap_get(r, "c");
	LOC_IS(c, 5u, 4u, "flow mapping at its brace");
	LOC_IS(fr_ymap_key(c, 0), 5u, 5u, "flow key");
	LOC_IS(fr_ymap_val(c, 0), 5u, 8u, "flow value");
	LOC_IS(fr_ymap_key(r, 3), 7u, 1u, "key after a comment line");
	is_str(fr_ymap_get(r, "d")->value, "text\n", "literal block scalar");
	ok(fr_ymap_get(r, "nope") == NULL, "missing key gives NULL");
	ok(fr_ymap_get(b, "x") == NULL, "lookup in a list gives NULL");
	is_int(r->size, 13, "size counts every node");
	ok(doc->src && strcmp(doc->src->path, "t.yaml") == 0,
	   "document keeps its source");
	fr_ydoc_destroy(doc);
}

static void scalars(void)
{
	const char *text =
		"plain: 42\n"
		"dq: \"42\"\n"
		"sq: '42'\n"
		"tagged: !!str 42\n"
		"lit: |\n"
		"  42\n"
		"neg: -7\n"
		"pos: +3\n"
		"big: 9007199254740993\n"
		"huge: 99999999999999999999\n"
		"real: 2.5\n"
		"exp: 1e3\n"
		"t1: true\n"
		"t2: True\n"
		"t3: TRUE\n"
		"f1: false\n"
		"yes: yes\n"
		"qtrue: \"true\"\n"
		"n1: null\n"
		"n2: ~\n"
		"n3:\n"
		"n4: NULL\n"
		"qnull: 'null'\n"
		"empty: \"\"\n"
		"str: hello world\n"
		"list: []\n"
		"map: {}\n"
		"dot: .5\n"
		"word: inf\n";
	char *msgs;
	int rc;
	struct fr_ydoc *doc = parse(text, &msgs, &rc);
	const struct fr_ynode *r = doc ? doc->root : NULL;
	long long i;
	double x;
	bool b;

	is_int(rc, 0, "scalars parse");
	free(msgs);
	if (!r)
		return;
#define V(k) fr_ymap_get(r, k)
	ok(V("plain")->plain, "unquoted scalar is plain");
	ok(!V("dq")->plain, "double-quoted is not plain");
	ok(!V("sq")->plain, "single-quoted is not plain");
	ok(!V("tagged")->plain, "explicitly tagged is not plain");
	ok(!V("lit")->plain, "block scalar is not plain");

	ok(fr_ynode_int(V("plain"), &i) && i == 42, "plain 42 is an integer");
	ok(!fr_ynode_int(V("dq"), &i), "quoted \"42\" is no integer");
	ok(!fr_ynode_int(V("tagged"), &i), "!!str 42 is no integer");
	ok(fr_ynode_int(V("neg"), &i) && i == -7, "-7");
	ok(fr_ynode_int(V("pos"), &i) && i == 3, "+3");
	ok(fr_ynode_int(V("big"), &i) && i == 9007199254740993LL,
	   "2^53+1 kept exactly");
	ok(!fr_ynode_int(V("huge"), &i), "out of range is no integer");
	ok(!fr_ynode_int(V("real"), &i), "2.5 is no integer");
	ok(fr_ynode_number(V("real"), &x) && x == 2.5, "2.5 is a number");
	ok(fr_ynode_number(V("exp"), &x) && x == 1000.0, "1e3 is a number");
	ok(fr_ynode_number(V("dot"), &x) && x == 0.5, ".5 is a number");
	ok(fr_ynode_number(V("plain"), &x) && x == 42.0, "integers are numbers");
	ok(!fr_ynode_number(V("dq"), &x), "quoted is no number");
	ok(!fr_ynode_number(V("word"), &x), "'inf' is no number");
	ok(!fr_ynode_number(V("str"), &x), "text is no number");

	ok(fr_ynode_bool(V("t1"), &b) && b, "true");
	ok(fr_ynode_bool(V("t2"), &b) && b, "True");
	ok(fr_ynode_bool(V("t3"), &b) && b, "TRUE");
	ok(fr_ynode_bool(V("f1"), &b) && !b, "false");
	ok(!fr_ynode_bool(V("yes"), &b), "yes is no boolean (YAML 1.2)");
	ok(!fr_ynode_bool(V("qtrue"), &b), "quoted true is no boolean");
	ok(fr_ymap_get(r, "yes") != NULL, "'yes' is an ordinary key");

	ok(fr_ynode_is_null(V("n1")), "null");
	ok(fr_ynode_is_null(V("n2")), "~");
	ok(fr_ynode_is_null(V("n3")), "a key without value");
	ok(fr_ynode_is_null(V("n4")), "NULL");
	ok(!fr_ynode_is_null(V("qnull")), "quoted 'null' is a string");
	ok(!fr_ynode_is_null(V("empty")), "quoted empty string is a string");
	ok(!fr_ynode_is_null(V("list")), "a list is not null");

	is_str(fr_ynode_what(V("list")), "a list", "what: list");
	is_str(fr_ynode_what(V("map")), "a mapping", "what: mapping");
	is_str(fr_ynode_what(V("n3")), "null", "what: null");
	is_str(fr_ynode_what(V("t1")), "a boolean", "what: boolean");
	is_str(fr_ynode_what(V("real")), "a number", "what: number");
	is_str(fr_ynode_what(V("plain")), "a number", "what: integer");
	is_str(fr_ynode_what(V("dq")), "a string", "what: quoted number");
	is_str(fr_ynode_what(V("str")), "a string", "what: text");
	is_int(V("str")->len, 11, "len of a scalar");
#undef V
	fr_ydoc_destroy(doc);
}

static void duplicates(void)
{
	refused("a: 1\nb: 2\na: 3\n", 15,
		"t.yaml:3:1: error: duplicate key 'a' (first at line 1)\n"
		" a: 3\n"
		" ^\n",
		"duplicate key reported at the later key");
	refused("x:\n  a: 1\n  \"a\": 2\n", 19,
		"t.yaml:3:3: error: duplicate key 'a' (first at line 2)\n"
		"   \"a\": 2\n"
		"   ^\n",
		"quoted and plain spellings of one key are duplicates");
	refused("a: 1\nb: 2\na: 3\nb: 4\na: 5\n", 25,
		"t.yaml:3:1: error: duplicate key 'a' (first at line 1)\n"
		" a: 3\n"
		" ^\n"
		"t.yaml:4:1: error: duplicate key 'b' (first at line 2)\n"
		" b: 4\n"
		" ^\n"
		"t.yaml:5:1: error: duplicate key 'a' (first at line 1)\n"
		" a: 5\n"
		" ^\n",
		"every duplicate reported, each naming the first");
	refused("{k: 1, k: 2}\n", 13,
		"t.yaml:1:8: error: duplicate key 'k' (first at line 1)\n"
		" {k: 1, k: 2}\n"
		"        ^\n",
		"duplicate in a flow mapping");
	{
		char *msgs;
		int rc;
		struct fr_ydoc *doc = parse("a: {k: 1}\nb: {k: 2}\n", &msgs, &rc);
		is_int(rc, 0, "equal keys in different mappings are fine");
		free(msgs);
		fr_ydoc_destroy(doc);
	}
}

/* Aliases bounded in text and in depth, not only in nodes. */
static void alias_bounds(void)
{
	struct fr_buf b;
	char *msgs;
	int rc;
	struct fr_ydoc *doc;

	/* 10 strings of 1000 bytes, 10 times 10 times 10 times 10: 100 MB */
	fr_buf_init(&b);
	fr_buf_puts(&b, "l0: &l0 [");
	for (int k = 0; k < 10; k++)
		fr_buf_printf(&b, "%s%01000d", k ? ", " : "", 0);
	fr_buf_puts(&b, "]\n");
	for (int i = 1; i <= 4; i++) {
		fr_buf_printf(&b, "l%d: &l%d [", i, i);
		for (int k = 0; k < 10; k++)
			fr_buf_printf(&b, "%s*l%d", k ? ", " : "", i - 1);
		fr_buf_puts(&b, "]\n");
	}
	doc = parse_n(b.data, b.len, &msgs, &rc);
	ok(rc == -1 && !doc, "100 MB of text through aliases: refused");
	ok(strstr(msgs, "t.yaml:5:") && strstr(msgs, "error: document expands "
		  "to more than 64 MiB of text through aliases"),
	   "located at the alias that passes 64 MiB");
	free(msgs);
	fr_buf_finish(&b);

	/* 3 levels of 1000-byte strings (10 MB): accepted */
	fr_buf_init(&b);
	fr_buf_puts(&b, "l0: &l0 [");
	for (int k = 0; k < 10; k++)
		fr_buf_printf(&b, "%s%01000d", k ? ", " : "", 0);
	fr_buf_puts(&b, "]\n");
	for (int i = 1; i <= 2; i++) {
		fr_buf_printf(&b, "l%d: &l%d [", i, i);
		for (int k = 0; k < 10; k++)
			fr_buf_printf(&b, "%s*l%d", k ? ", " : "", i - 1);
		fr_buf_puts(&b, "]\n");
	}
	doc = parse_n(b.data, b.len, &msgs, &rc);
	ok(rc == 0 && doc, "1 MB of text through aliases: accepted");
	ok(doc && doc->root->bytes > 1000000, "bytes counted expanded (%zu)",
	   doc ? doc->root->bytes : 0);
	free(msgs);
	fr_ydoc_destroy(doc);
	fr_buf_finish(&b);

	/* two anchors of 100 levels: 200 once expanded */
	fr_buf_init(&b);
	fr_buf_puts(&b, "a: &a ");
	for (int i = 0; i < 100; i++)
		fr_buf_putc(&b, '[');
	fr_buf_putc(&b, '1');
	for (int i = 0; i < 100; i++)
		fr_buf_putc(&b, ']');
	fr_buf_puts(&b, "\nb: ");
	for (int i = 0; i < 100; i++)
		fr_buf_putc(&b, '[');
	fr_buf_puts(&b, "*a");
	for (int i = 0; i < 100; i++)
		fr_buf_putc(&b, ']');
	fr_buf_putc(&b, '\n');
	doc = parse_n(b.data, b.len, &msgs, &rc);
	ok(rc == -1 && !doc, "200 levels through aliases: refused");
	ok(strstr(msgs, "error: nesting deeper than 128 levels through aliases") != NULL,
	   "says nesting through aliases");
	free(msgs);
	fr_buf_finish(&b);
}

static void aliases(void)
{
	char *msgs;
	int rc;
	struct fr_ydoc *doc = parse("a: &x {k: [1, 2]}\nb: *x\nc: &s text\n"
				    "d: *s\n", &msgs, &rc);

	is_int(rc, 0, "aliases parse");
	is_str(msgs, "", "no diagnostics for aliases");
	free(msgs);
	if (doc) {
		const struct fr_ynode *a = fr_ymap_get(doc->root, "a");
		ok(a && a == fr_ymap_get(doc->root, "b"),
		   "an alias is the very node it names");
		ok(fr_ymap_get(doc->root, "c") == fr_ymap_get(doc->root, "d"),
		   "scalar alias shared too");
		LOC_IS(fr_ymap_get(doc->root, "b"), 1u, 4u,
		       "shared node keeps the anchor's position");
		is_int(doc->root->size, 17, "size counts aliases expanded");
	}
	fr_ydoc_destroy(doc);

	doc = parse("a: &x 1\nb: &x 2\nc: *x\n", &msgs, &rc);
	ok(rc == 0 && doc && strcmp(fr_ymap_get(doc->root, "c")->value, "2") == 0,
	   "a redefined anchor: the later one wins");
	free(msgs);
	fr_ydoc_destroy(doc);
	{
		/* enough anchors to grow the table several times */
		struct fr_buf b;
		bool all = true;
		fr_buf_init(&b);
		fr_buf_puts(&b, "defs:\n");
		for (int i = 0; i < 5000; i++)
			fr_buf_printf(&b, "  - &a%d v%d\n", i, i);
		fr_buf_puts(&b, "uses:\n");
		for (int i = 4999; i >= 0; i--)
			fr_buf_printf(&b, "  - *a%d\n", i);
		doc = parse_n(b.data, b.len, &msgs, &rc);
		is_int(rc, 0, "5000 anchors and aliases");
		for (int i = 0; doc && i < 5000; i++) {
			const struct fr_ynode *u = fr_ymap_get(doc->root, "uses");
			char want[16];
			snprintf(want, sizeof(want), "v%d", 4999 - i);
			if (strcmp(u->items[i]->value, want) != 0)
				all = false;
		}
		ok(doc && all, "every alias finds its own anchor");
		free(msgs);
		fr_ydoc_destroy(doc);
		fr_buf_finish(&b);
	}

	refused("a: 1\nb: *nope\n", 13,
		"t.yaml:2:4: error: unknown alias '*nope'\n"
		" b: *nope\n"
		"    ^\n",
		"unknown alias");
	refused("a: &x [1, *x]\n", 14,
		"t.yaml:1:11: error: alias '*x' refers to a node that contains it\n"
		" a: &x [1, *x]\n"
		"           ^\n",
		"recursive alias");
	{
		/* billion laughs: 9 levels of 9 aliases each */
		struct fr_buf b;
		char *want;
		fr_buf_init(&b);
		fr_buf_puts(&b, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
		for (int lv = 1; lv <= 9; lv++) {
			fr_buf_printf(&b, "l%d: &l%d [", lv, lv);
			for (int k = 0; k < 9; k++)
				fr_buf_printf(&b, "%s*l%d", k ? ", " : "", lv - 1);
			fr_buf_puts(&b, "]\n");
		}
		/* l6 holds 9^7 > 10^6 nodes: refused at its alias that
		 * crosses the limit (the 2nd: 1 + 2 * 597871 > 10^6) */
		want = fr_xasprintf("t.yaml:7:15: error: document expands to more "
				    "than %d nodes through aliases\n"
				    " l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]\n"
				    "               ^\n", FR_YAML_MAX_NODES);
		refused(b.data, b.len, want, "alias bomb");
		free(want);
		fr_buf_finish(&b);
	}
}

static void limits(void)
{
	struct fr_buf b;
	char *msgs;
	int rc;
	struct fr_ydoc *doc;

	fr_buf_init(&b);
	for (int i = 0; i < FR_YAML_MAX_DEPTH; i++)
		fr_buf_putc(&b, '[');
	for (int i = 0; i < FR_YAML_MAX_DEPTH; i++)
		fr_buf_putc(&b, ']');
	doc = parse_n(b.data, b.len, &msgs, &rc);
	is_int(rc, 0, "nesting of exactly the limit is read");
	free(msgs);
	fr_ydoc_destroy(doc);
	fr_buf_finish(&b);

	fr_buf_init(&b);
	for (int i = 0; i <= FR_YAML_MAX_DEPTH; i++)
		fr_buf_putc(&b, '[');
	for (int i = 0; i <= FR_YAML_MAX_DEPTH; i++)
		fr_buf_putc(&b, ']');
	refused(b.data, b.len,
		"t.yaml:1:129: error: nesting deeper than 128 levels\n",
		"flow nesting over the limit, located at the opening bracket");
	fr_buf_finish(&b);

	fr_buf_init(&b);
	for (int i = 0; i < 100000; i++)
		fr_buf_puts(&b, "- ");
	fr_buf_puts(&b, "x\n");
	refused(b.data, b.len,
		"t.yaml:1:257: error: nesting deeper than 128 levels\n",
		"block nesting 100000 deep refused at level 129");
	fr_buf_finish(&b);

	fr_buf_init(&b);
	for (int i = 0; i < 100000; i++)
		fr_buf_puts(&b, "{a: ");
	refused(b.data, b.len,
		"t.yaml:1:513: error: nesting deeper than 128 levels\n",
		"unterminated flow nesting 100000 deep refused");
	fr_buf_finish(&b);
}

static void refusals(void)
{
	/* a million nodes without aliases: tests/cli/hostile.sh (slow here
	 * under valgrind) */
	refused("a: 1\nb: x\0y\n", 11,
		"t.yaml:2:5: error: binary file (NUL byte); expected YAML text\n"
		" b: x\n"
		"     ^\n",
		"NUL byte located");
	refused("a: 1\n---\nb: 2\n", 14,
		"t.yaml:2:1: error: a file holds one YAML document; found a "
		"second one\n"
		" ---\n"
		" ^\n",
		"two documents");
	refused("key: value: x\n", 14,
		"t.yaml:1:11: error: mapping values are not allowed in this "
		"context\n"
		" key: value: x\n"
		"           ^\n",
		"syntax error located");
	refused("a:\n\tb: 1\n", 9,
		"t.yaml:2:1: error: found character that cannot start any token "
		"while scanning for the next token (tabs are not allowed for "
		"indentation; use spaces)\n"
		" \tb: 1\n"
		" ^\n",
		"tab indentation: hint");
	refused("a: 1\nb: [1, \"\xc3\xa9\xff\"]\n", 18,
		"t.yaml:2:10: error: invalid leading UTF-8 octet\n"
		" b: [1, \"\xc3\xa9\xff\"]\n"
		"          ^\n",
		"invalid UTF-8 located at the bad byte");
	refused("[a]: 1\n", 7,
		"t.yaml:1:1: error: mapping keys must be plain strings\n"
		" [a]: 1\n"
		" ^\n",
		"collection as a key, located where it starts");
	refused("a: 1\x01\n", 6,
		"t.yaml:1:5: error: control characters are not allowed\n",
		"control character");
}

static void empty(void)
{
	static const char *const texts[] = { "", "# only a comment\n", "\n\n" };
	char *msgs;
	int rc;

	for (size_t i = 0; i < FR_ARRAY_LEN(texts); i++) {
		struct fr_ydoc *doc = parse(texts[i], &msgs, &rc);
		ok(rc == 0 && doc && doc->root == NULL,
		   "empty document %zu: root NULL", i);
		free(msgs);
		fr_ydoc_destroy(doc);
	}
	{
		struct fr_ydoc *doc = parse("---\n...\n", &msgs, &rc);
		ok(rc == 0 && doc && doc->root && fr_ynode_is_null(doc->root),
		   "explicit empty document: a null root");
		free(msgs);
		fr_ydoc_destroy(doc);
	}
	ok(fr_yaml_version() && strchr(fr_yaml_version(), '.'),
	   "libyaml version: %s", fr_yaml_version());
}

int main(void)
{
	positions();
	scalars();
	duplicates();
	aliases();
	limits();
	refusals();
	empty();
	alias_bounds();
	return done_testing();
}
