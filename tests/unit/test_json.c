/* json: jansson <-> jv round trips, YAML scalars as JSON, compact dumps */
#include <jansson.h>
#include <jv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json.h"
#include "tap.h"
#include "util.h"
#include "ydoc.h"

/* Compact JSON text of j (caller frees); "(NULL)" for NULL. */
static char *dump(const json_t *j)
{
	return j ? fr_json_dump(j) : fr_xstrdup("(NULL)");
}

#define DUMP_IS(j, want, ...)                                                \
	do {                                                                 \
		char *d_ = dump(j);                                          \
		is_str(d_, want, __VA_ARGS__);                               \
		free(d_);                                                    \
	} while (0)

/* json -> jv -> json; returns the new value (caller decrefs). */
static json_t *json_round(const json_t *j)
{
	return fr_jv_to_json(fr_json_to_jv(j));
}

/* Parses JSON text with jansson (exact integers); aborts the test if bad. */
static json_t *jload(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (!j)
		printf("# bad test JSON %s: %s\n", text, e.text);
	return j;
}

/* A JSON text survives json -> jv -> json unchanged, types included. */
static void json_round_is(const char *text, const char *name)
{
	json_t *j = jload(text), *back = json_round(j);

	ok(j && back && json_equal(j, back), "json round trip: %s", name);
	DUMP_IS(back, text, "json round trip text: %s", name);
	json_decref(j);
	json_decref(back);
}

/* jv -> json (consumes v): compact text of the result */
static void jv_to_json_is(jv v, const char *want, const char *name)
{
	json_t *j = fr_jv_to_json(v);

	DUMP_IS(j, want, "jv to json: %s", name);
	json_decref(j);
}

static void test_round_trips(void)
{
	json_round_is("null", "null");
	json_round_is("true", "true");
	json_round_is("false", "false");
	json_round_is("0", "zero");
	json_round_is("-1", "negative integer");
	json_round_is("42", "integer");
	json_round_is("9007199254740992", "2^53");
	json_round_is("-9007199254740992", "-2^53");
	json_round_is("1.5", "real");
	json_round_is("-0.25", "negative real");
	json_round_is("1.0000000000000001e300", "huge real");
	json_round_is("\"\"", "empty string");
	json_round_is("\"plain text\"", "string");
	json_round_is("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e\"",
		      "UTF-8 multibyte string (2, 3 and 4 bytes)");
	json_round_is("[]", "empty array");
	json_round_is("{}", "empty object");
	json_round_is("[1,\"two\",3.5,true,false,null,[],{}]", "array of every type");
	json_round_is("{\"a\":{\"b\":[1,{\"c\":[null,\"x\",2.5]}],\"d\":false},"
		      "\"e\":[[[]]],\"f\":-7}", "nested objects and arrays");

	/* types survive, not just text */
	{
		json_t *j = jload("[9007199254740992,2.0,0.5]"), *b = json_round(j);
		ok(json_is_integer(json_array_get(b, 0)) &&
		   json_integer_value(json_array_get(b, 0)) == 9007199254740992LL,
		   "2^53 comes back as an exact JSON integer");
		ok(json_is_integer(json_array_get(b, 1)) &&
		   json_integer_value(json_array_get(b, 1)) == 2,
		   "a whole real (2.0) comes back as an integer");
		ok(json_is_real(json_array_get(b, 2)) &&
		   json_real_value(json_array_get(b, 2)) == 0.5,
		   "a fraction stays a real");
		json_decref(j);
		json_decref(b);
	}
	/* 2^53 + 1 has no double: jv rounds it, documented as lossy */
	{
		json_t *j = json_integer(9007199254740993LL), *b = json_round(j);
		ok(json_is_integer(b) && json_integer_value(b) == 9007199254740992LL,
		   "2^53+1 passes jv as the nearest double, an integer");
		json_decref(j);
		json_decref(b);
	}
	/* strings with NUL bytes keep every byte, both ways */
	{
		static const char raw[] = "a\0b\0\xc3\xa9";	/* 6 bytes */
		json_t *j = json_stringn(raw, 6), *b = json_round(j);
		ok(b && json_string_length(b) == 6 &&
		   memcmp(json_string_value(b), raw, 6) == 0,
		   "json string with NULs round trips byte for byte");
		json_decref(j);
		json_decref(b);
	}
	{
		static const char raw[] = "x\0y";
		jv v = jv_string_sized(raw, 3);
		json_t *j = fr_jv_to_json(v);
		ok(j && json_is_string(j) && json_string_length(j) == 3 &&
		   memcmp(json_string_value(j), raw, 3) == 0,
		   "jv string with a NUL becomes a 3-byte JSON string");
		jv back = fr_json_to_jv(j);
		ok(jv_get_kind(back) == JV_KIND_STRING &&
		   jv_string_length_bytes(jv_copy(back)) == 3 &&
		   memcmp(jv_string_value(back), raw, 3) == 0,
		   "and back to jv with its NUL");
		jv_free(back);
		json_decref(j);
	}
	/* object keys with a NUL byte keep it, both ways */
	{
		json_t *j = json_object(), *b;
		json_object_setn_new(j, "k\0x", 3, json_true());
		b = json_round(j);
		ok(b && json_object_getn(b, "k\0x", 3) != NULL &&
		   json_object_get(b, "k") == NULL,
		   "json key with a NUL survives the jv round trip");
		json_decref(j);
		json_decref(b);
	}
	/* object keys with multibyte UTF-8 */
	{
		json_t *j = jload("{\"\\u65e5\\u672c\":\"\\u2713\",\"k\":{\"\\u00e9\":1}}");
		json_t *b = json_round(j);
		ok(b && json_equal(j, b), "multibyte keys and values round trip");
		ok(json_object_get(b, "\xe6\x97\xa5\xe6\x9c\xac") != NULL,
		   "multibyte key found by its UTF-8 bytes");
		json_decref(j);
		json_decref(b);
	}
}

static void test_jv_numbers(void)
{
	json_t *j;

	jv_to_json_is(jv_number(3.0), "3", "whole number is an integer");
	jv_to_json_is(jv_number(-3.5), "-3.5", "fraction is a real");
	jv_to_json_is(jv_number(9007199254740992.0), "9007199254740992",
		      "2^53 is an integer");
	jv_to_json_is(jv_number(-9007199254740992.0), "-9007199254740992",
		      "-2^53 is an integer");
	j = fr_jv_to_json(jv_number(9007199254740994.0));
	ok(json_is_real(j) && json_real_value(j) == 9007199254740994.0,
	   "2^53 + 2 (beyond exact range) is a real");
	json_decref(j);
	j = fr_jv_to_json(jv_number(-1e20));
	ok(json_is_real(j) && json_real_value(j) == -1e20, "-1e20 is a real");
	json_decref(j);
	j = fr_jv_to_json(jv_number(3.0));
	ok(json_is_integer(j), "3.0 is a JSON integer (type)");
	json_decref(j);
	j = fr_jv_to_json(jv_number(0.1));
	ok(json_is_real(j) && json_real_value(j) == 0.1, "0.1 is the real 0.1");
	json_decref(j);
	jv_to_json_is(jv_number(NAN), "null", "NaN becomes null");
	jv_to_json_is(jv_number(INFINITY), "null", "infinity becomes null");
	jv_to_json_is(jv_number(-INFINITY), "null", "-infinity becomes null");
	{
		jv a = jv_array();
		a = jv_array_append(a, jv_number(NAN));
		a = jv_array_append(a, jv_number(1));
		jv o = jv_object();
		o = jv_object_set(o, jv_string("inf"), jv_number(INFINITY));
		o = jv_object_set(o, jv_string("a"), a);
		j = fr_jv_to_json(o);
		ok(json_is_null(json_object_get(j, "inf")) &&
		   json_is_null(json_array_get(json_object_get(j, "a"), 0)) &&
		   json_integer_value(json_array_get(json_object_get(j, "a"), 1)) == 1,
		   "NaN and inf nested in objects and arrays become null");
		json_decref(j);
	}
	/* a jv from jq's parser, every kind, nested */
	{
		jv v = jv_parse("{\"o\":{\"l\":[1,2.5,\"s\",true,false,null]}}");
		j = fr_jv_to_json(v);
		DUMP_IS(j, "{\"o\":{\"l\":[1,2.5,\"s\",true,false,null]}}",
			"nested jv with every kind");
		json_decref(j);
	}
	/* fr_json_to_jv borrows: the json value is still usable after */
	{
		json_t *src = jload("{\"a\":[1,2]}");
		jv v = fr_json_to_jv(src);
		ok(src->refcount == 1 && json_array_size(json_object_get(src, "a")) == 2,
		   "fr_json_to_jv borrows its argument");
		jv n = jv_object_get(jv_copy(v), jv_string("a"));
		ok(jv_get_kind(n) == JV_KIND_ARRAY && jv_array_length(jv_copy(n)) == 2,
		   "jv holds the array");
		jv_free(n);
		jv_free(v);
		json_decref(src);
	}
}

/* ---- YAML ---- */

static const char yaml[] =
	"t: true\n"
	"T: True\n"
	"f: false\n"
	"F: FALSE\n"
	"yes_: yes\n"
	"no_: no\n"
	"on_: on\n"
	"nul: null\n"
	"tilde: ~\n"
	"empty:\n"
	"Nul: NULL\n"
	"i: 42\n"
	"neg: -17\n"
	"plus: +5\n"
	"zero: 0\n"
	"big: 9007199254740993\n"
	"beyond: 99999999999999999999\n"
	"fl: 3.25\n"
	"exp: 1e3\n"
	"dot: .5\n"
	"q: \"123\"\n"
	"sq: '123'\n"
	"qtrue: \"true\"\n"
	"qnull: 'null'\n"
	"qempty: \"\"\n"
	"tagged: !!str 123\n"
	"str: hello world\n"
	"utf8: h\xc3\xa9llo \xe2\x9c\x93\n"
	"seq: [1, \"2\", three, null, 2.5]\n"
	"map: {a: {b: [true, ~]}}\n"
	"block:\n"
	"  - x: 1\n"
	"    y: [a, b]\n"
	"  - z\n"
	"multi: |\n"
	"  line 1\n"
	"  line 2\n"
	"hex: 0x1F\n"
	"oct: 0o17\n";

static const json_t *yget(const json_t *root, const char *key)
{
	const json_t *v = json_object_get(root, key);

	if (!v)
		printf("# no key %s\n", key);
	return v;
}

#define YDUMP_IS(key, want)                                                  \
	DUMP_IS(yget(root, key), want, "yaml %s is %s", key, want)

static void test_yaml(void)
{
	struct fr_source *src = fr_source_create("t.yaml", fr_xstrdup(yaml),
						 strlen(yaml));
	struct fr_ydoc *doc = NULL;
	struct fr_diag d;
	char *msgs = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msgs, &len);
	json_t *root;

	fr_diag_init(&d, f);
	ok(fr_ydoc_parse(&doc, src, &d) == 0, "test YAML parses");
	fr_diag_flush(&d);
	fclose(f);
	is_str(msgs, "", "no diagnostics");
	free(msgs);
	fr_source_unref(src);
	if (!doc)
		return;
	root = fr_ynode_to_json(doc->root);
	ok(json_is_object(root), "mapping becomes an object");

	YDUMP_IS("t", "true");
	YDUMP_IS("T", "true");
	YDUMP_IS("f", "false");
	YDUMP_IS("F", "false");
	YDUMP_IS("yes_", "\"yes\"");
	YDUMP_IS("no_", "\"no\"");
	YDUMP_IS("on_", "\"on\"");
	YDUMP_IS("nul", "null");
	YDUMP_IS("tilde", "null");
	YDUMP_IS("empty", "null");
	YDUMP_IS("Nul", "null");
	YDUMP_IS("i", "42");
	YDUMP_IS("neg", "-17");
	YDUMP_IS("plus", "5");
	YDUMP_IS("zero", "0");
	YDUMP_IS("big", "9007199254740993");
	ok(json_is_integer(yget(root, "big")) &&
	   json_integer_value(yget(root, "big")) == 9007199254740993LL,
	   "2^53+1 is an exact JSON integer");
	ok(json_is_integer(yget(root, "i")), "42 is a JSON integer (type)");
	ok(json_is_real(yget(root, "beyond")) &&
	   json_real_value(yget(root, "beyond")) == 1e20,
	   "an integer beyond 64 bits is a real");
	ok(json_is_real(yget(root, "fl")) && json_real_value(yget(root, "fl")) == 3.25,
	   "3.25 is a real");
	ok(json_is_real(yget(root, "exp")) && json_real_value(yget(root, "exp")) == 1000.0,
	   "1e3 is a real 1000");
	ok(json_is_real(yget(root, "dot")) && json_real_value(yget(root, "dot")) == 0.5,
	   ".5 is a real");
	YDUMP_IS("q", "\"123\"");
	YDUMP_IS("sq", "\"123\"");
	YDUMP_IS("qtrue", "\"true\"");
	YDUMP_IS("qnull", "\"null\"");
	YDUMP_IS("qempty", "\"\"");
	YDUMP_IS("tagged", "\"123\"");
	YDUMP_IS("str", "\"hello world\"");
	YDUMP_IS("utf8", "\"h\xc3\xa9llo \xe2\x9c\x93\"");
	YDUMP_IS("seq", "[1,\"2\",\"three\",null,2.5]");
	YDUMP_IS("map", "{\"a\":{\"b\":[true,null]}}");
	YDUMP_IS("block", "[{\"x\":1,\"y\":[\"a\",\"b\"]},\"z\"]");
	YDUMP_IS("multi", "\"line 1\\nline 2\\n\"");
	/* YAML 1.2 core schema: 0x and 0o integers */
	{
		const json_t *h = yget(root, "hex"), *o = yget(root, "oct");
		ok(json_is_integer(h) && json_integer_value(h) == 31,
		   "0x1F is the integer 31 (got %s)",
		   json_is_real(h) ? "a real" : json_is_string(h) ? "a string"
		   : "something else");
		ok(json_is_integer(o) && json_integer_value(o) == 15,
		   "0o17 is the integer 15 (got %s)",
		   json_is_real(o) ? "a real" : json_is_string(o) ? "a string"
		   : "something else");
	}

	/* keys stay in document order */
	{
		void *it = json_object_iter(root);
		ok(it && strcmp(json_object_iter_key(it), "t") == 0,
		   "first key first");
	}
	json_decref(root);
	fr_ydoc_destroy(doc);
}

static void test_dumps(void)
{
	json_t *j = jload("{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": {\"d\": true}}");
	char *s;

	s = fr_json_dump(j);
	is_str(s, "{\"a\":[1,2.5,\"x\"],\"b\":null,\"c\":{\"d\":true}}",
	       "fr_json_dump is compact, in insertion order");
	free(s);
	s = fr_json_dump(NULL);
	is_str(s, "null", "fr_json_dump(NULL) is null");
	free(s);
	json_decref(j);
	j = json_string("caf\xc3\xa9 \"q\"\n");
	s = fr_json_dump(j);
	is_str(s, "\"caf\xc3\xa9 \\\"q\\\"\\n\"", "a bare string is dumped (UTF-8 kept)");
	free(s);
	json_decref(j);
	j = json_integer(9007199254740993LL);
	s = fr_json_dump(j);
	is_str(s, "9007199254740993", "a bare integer keeps every digit");
	free(s);
	json_decref(j);

	{
		jv v = jv_parse("[1, \"a\", null, true, {\"k\": 1.5}, []]");
		s = fr_jv_dump(v);
		is_str(s, "[1,\"a\",null,true,{\"k\":1.5},[]]", "fr_jv_dump is compact");
		free(s);
		s = fr_jv_dump(v);
		is_str(s, "[1,\"a\",null,true,{\"k\":1.5},[]]",
		       "fr_jv_dump borrows: the value is still there");
		free(s);
		jv_free(v);
	}
	{
		jv v = jv_string("\xe2\x9c\x93");
		s = fr_jv_dump(v);
		is_str(s, "\"\xe2\x9c\x93\"", "fr_jv_dump of a string");
		free(s);
		jv_free(v);
	}
}

/* A jv nested n levels: arrays, or objects {"k": ...} (built without recursion). */
static jv deep_jv(int n, bool objects)
{
	jv v = jv_number(1);

	for (int i = 0; i < n; i++)
		v = objects ? jv_object_set(jv_object(), jv_string("k"), v)
			    : jv_array_append(jv_array(), v);
	return v;
}

static json_t *deep_json(int n, bool objects)
{
	json_t *v = json_integer(1), *c;

	for (int i = 0; i < n; i++) {
		c = objects ? json_object() : json_array();
		if (objects)
			json_object_set_new(c, "k", v);
		else
			json_array_append_new(c, v);
		v = c;
	}
	return v;
}

/* Nesting: bounded conversions, a clear refusal, no stack overflow. */
static void test_deep(void)
{
	for (int objects = 0; objects < 2; objects++) {
		const char *what = objects ? "objects" : "arrays";
		jv v = deep_jv(100000, objects);
		json_t *j;

		ok(fr_jv_too_deep(v), "100000-deep %s: too deep", what);
		j = fr_jv_to_json(v);
		ok(j == NULL, "100000-deep %s: jv -> json refused", what);
		v = deep_jv(FR_JSON_MAX_DEPTH, objects);
		ok(!fr_jv_too_deep(v), "%d-deep %s: not too deep",
		   FR_JSON_MAX_DEPTH, what);
		j = fr_jv_to_json(v);
		ok(j != NULL, "%d-deep %s: jv -> json converts",
		   FR_JSON_MAX_DEPTH, what);
		v = fr_json_to_jv(j);
		ok(jv_is_valid(v), "%d-deep %s: json -> jv converts",
		   FR_JSON_MAX_DEPTH, what);
		fr_jv_free_deep(v);
		json_decref(j);
		v = deep_jv(FR_JSON_MAX_DEPTH + 1, objects);
		ok(fr_jv_too_deep(v), "%d-deep %s: too deep",
		   FR_JSON_MAX_DEPTH + 1, what);
		fr_jv_free_deep(v);
		j = deep_json(100000, objects);
		v = fr_json_to_jv(j);
		ok(!jv_is_valid(v) && jv_invalid_has_msg(jv_copy(v)),
		   "100000-deep %s: json -> jv refused", what);
		{
			jv msg = jv_invalid_get_msg(v);
			is_str(jv_get_kind(msg) == JV_KIND_STRING
				       ? jv_string_value(msg) : "(none)",
			       "value nested deeper than 10000 levels",
			       "100000-deep %s: the message", what);
			jv_free(msg);
		}
		json_decref(j);
		/* a million levels: freed without recursion */
		fr_jv_free_deep(deep_jv(1000000, objects));
		ok(1, "1000000-deep %s freed", what);
	}
	/* a shared deep value: fr_jv_free_deep only drops its reference */
	{
		jv v = deep_jv(100000, false), keep = jv_copy(v);
		fr_jv_free_deep(v);
		ok(jv_get_refcnt(keep) == 1, "shared value: one reference left");
		fr_jv_free_deep(keep);
	}
}

int main(void)
{
	test_round_trips();
	test_jv_numbers();
	test_yaml();
	test_dumps();
	test_deep();
	return done_testing();
}
