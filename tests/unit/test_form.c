/*
 * form: JSON objects as application/x-www-form-urlencoded bodies: flat
 * pairs as before nested values existed, the bracket form for objects and
 * lists (Stripe's metadata[key], enabled_events[0]), percent-encoding of
 * names and values, null left out, empty containers as NAME=.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "tap.h"
#include "util.h"

/* The form of the JSON text, or "(bad JSON)". */
static char *form_of(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	struct fr_buf b;

	if (!j) {
		printf("# bad test JSON %s: %s\n", text, e.text);
		return fr_xstrdup("(bad JSON)");
	}
	fr_buf_init(&b);
	fr_form_encode(&b, j);
	json_decref(j);
	if (!b.data)
		return fr_xstrdup("");
	return fr_buf_steal(&b);
}

#define FORM_IS(text, want, ...)                                             \
	do {                                                                 \
		char *f_ = form_of(text);                                    \
		is_str(f_, want, __VA_ARGS__);                               \
		free(f_);                                                    \
	} while (0)

static void flat(void)
{
	FORM_IS("{}", "", "an empty object: no pairs");
	FORM_IS("{\"a\": \"1\"}", "a=1", "one pair");
	FORM_IS("{\"a\": \"x y\", \"b\": 3, \"c\": true, \"d\": false, "
		"\"e\": 1.5}", "a=x%20y&b=3&c=true&d=false&e=1.5",
		"scalars: strings as they are, the others as JSON, in order");
	FORM_IS("{\"a\": null, \"b\": \"2\", \"c\": null}", "b=2",
		"null values are left out, and no stray '&'");
	FORM_IS("{\"email\": \"ann+1@acme.test\", \"q\": \"a&b=c;d/e?f#g%h\"}",
		"email=ann%2B1%40acme.test&q=a%26b%3Dc%3Bd%2Fe%3Ff%23g%25h",
		"reserved characters in values are percent-encoded");
	FORM_IS("{\"na me&\": \"v\"}", "na%20me%26=v", "names are encoded too");
	FORM_IS("{\"u\": \"AZaz09-._~\"}", "u=AZaz09-._~",
		"unreserved characters stay");
	FORM_IS("{\"s\": \"\\u00e9\\u20ac\"}", "s=%C3%A9%E2%82%AC",
		"UTF-8, byte by byte");
	FORM_IS("{\"e\": \"\"}", "e=", "an empty string");
	FORM_IS("{\"\": \"v\"}", "=v", "an empty name");
	FORM_IS("{\"n\": \"a\\u0000b\"}", "n=a%00b",
		"a NUL inside a string is encoded, not an end");
	FORM_IS("[1, 2]", "", "a list at the top: no pairs");
	FORM_IS("\"text\"", "", "a string at the top: no pairs");
	FORM_IS("null", "", "null at the top: no pairs");
}

static void nested(void)
{
	FORM_IS("{\"metadata\": {\"order_id\": \"6735\", \"plan\": \"pro\"}}",
		"metadata%5Border_id%5D=6735&metadata%5Bplan%5D=pro",
		"an object: NAME[KEY]");
	FORM_IS("{\"enabled_events\": [\"customer.created\", \"customer.deleted\"]}",
		"enabled_events%5B0%5D=customer.created&"
		"enabled_events%5B1%5D=customer.deleted",
		"a list: NAME[0], NAME[1]");
	FORM_IS("{\"items\": [{\"price\": \"p_1\", \"quantity\": 2}, "
		"{\"price\": \"p_2\"}]}",
		"items%5B0%5D%5Bprice%5D=p_1&items%5B0%5D%5Bquantity%5D=2&"
		"items%5B1%5D%5Bprice%5D=p_2",
		"objects in a list");
	FORM_IS("{\"a\": {\"b\": {\"c\": [[1, 2], [3]]}}}",
		"a%5Bb%5D%5Bc%5D%5B0%5D%5B0%5D=1&a%5Bb%5D%5Bc%5D%5B0%5D%5B1%5D=2&"
		"a%5Bb%5D%5Bc%5D%5B1%5D%5B0%5D=3",
		"deeper nesting, lists in lists");
	FORM_IS("{\"x\": [null, \"a\", null, \"b\"]}", "x%5B0%5D=a&x%5B1%5D=b",
		"null elements are left out; the others are numbered in order");
	FORM_IS("{\"x\": [null]}", "", "a list of nulls only: no pairs");
	FORM_IS("{\"m\": {\"k\": null, \"j\": \"1\"}}", "m%5Bj%5D=1",
		"null members are left out");
	FORM_IS("{\"metadata\": {}, \"locales\": [], \"after\": 1}",
		"metadata=&locales=&after=1",
		"empty object and list: NAME= (Stripe's 'clear')");
	FORM_IS("{\"m\": {\"order id\": \"a b\", \"[x]\": \"&\"}}",
		"m%5Border%20id%5D=a%20b&m%5B%5Bx%5D%5D=%26",
		"keys inside brackets are encoded with the name");
	FORM_IS("{\"a\": \"1\", \"m\": {\"k\": \"v\"}, \"b\": [true, 2]}",
		"a=1&m%5Bk%5D=v&b%5B0%5D=true&b%5B1%5D=2",
		"flat and nested members keep their order");
}

static void appends(void)
{
	struct fr_buf b;
	json_t *j = json_pack("{ss}", "k", "v");

	fr_buf_init(&b);
	fr_buf_puts(&b, "x");
	fr_form_encode(&b, j);
	is_str(b.data, "xk=v", "appends to what the buffer holds");
	fr_buf_finish(&b);
	fr_form_encode(&b, NULL);
	ok(b.len == 0, "NULL: nothing appended");
	fr_buf_finish(&b);
	json_decref(j);
}

static void deep(void)
{
	/* 1000 levels of lists: one pair, each level %5B0%5D in the name */
	struct fr_buf text, b;
	json_t *j;

	fr_buf_init(&text);
	fr_buf_puts(&text, "{\"d\":");
	for (int i = 0; i < 1000; i++)
		fr_buf_putc(&text, '[');
	fr_buf_puts(&text, "\"v\"");
	for (int i = 0; i < 1000; i++)
		fr_buf_putc(&text, ']');
	fr_buf_putc(&text, '}');
	j = json_loads(text.data, 0, NULL);
	ok(j != NULL, "a value 1000 levels deep parses");
	fr_buf_init(&b);
	fr_form_encode(&b, j);
	is_int(b.len, 1 + 1000 * 7 + 2, "1000 levels: one pair of the right length");
	ok(b.len > 2 && strcmp(b.data + b.len - 2, "=v") == 0, "ending in =v");
	fr_buf_finish(&b);
	fr_buf_finish(&text);
	json_decref(j);
}

int main(void)
{
	flat();
	nested();
	appends();
	deep();
	return done_testing();
}
