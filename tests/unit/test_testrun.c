/* testrun: expect's subset matching and the expected/actual diff */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testrun.h"

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	if (!j)
		abort();
	return j;
}

static int match(const char *e, const char *a)
{
	json_t *x = J(e), *y = J(a);
	int r = fr_test_match(x, y);

	json_decref(x);
	json_decref(y);
	return r;
}

int main(void)
{
	/* objects: the listed keys only */
	ok(match("{\"a\": 1}", "{\"a\": 1, \"b\": 2}"), "extra keys are not looked at");
	ok(!match("{\"a\": 1, \"c\": 3}", "{\"a\": 1}"), "a listed key must be there");
	ok(match("{\"c\": null}", "{\"a\": 1}"), "null matches an absent key");
	ok(!match("{\"a\": {\"b\": 1}}", "{\"a\": {\"b\": 2}}"), "nested values are compared");
	ok(!match("{\"a\": 1}", "[1]"), "an object is not a list");
	/* lists: same length, each item a subset */
	ok(match("[{\"a\": 1}, {}]", "[{\"a\": 1, \"x\": 0}, {\"y\": 0}]"), "items are subsets");
	ok(!match("[{}]", "[{}, {}]"), "lists must have the same length");
	ok(!match("[1, 2]", "[2, 1]"), "order counts");
	/* scalars */
	ok(match("1", "1.0"), "numbers compare by value");
	ok(!match("\"1\"", "1"), "a string is not a number");
	ok(match("true", "true") && !match("true", "1"), "booleans");
	/* exactly */
	ok(!match("{\"exactly\": {\"a\": 1}}", "{\"a\": 1, \"b\": 2}"), "exactly: no extra key");
	ok(match("{\"exactly\": {\"a\": 1}}", "{\"a\": 1}"), "exactly: equal");
	ok(match("{\"s\": {\"exactly\": []}}", "{\"s\": [], \"t\": 1}"), "exactly inside a subset");

	/* the diff shows the actual value cut to the expected keys */
	{
		json_t *e = J("{\"a\": 1, \"b\": \"x\"}");
		json_t *a = J("{\"a\": 1, \"b\": \"y\", \"noise\": [1, 2, 3]}");
		char *d = fr_test_diff(e, a);
		ok(strstr(d, "--- expected\n+++ actual\n") == d, "diff header");
		ok(strstr(d, "\n-   \"b\": \"x\"\n+   \"b\": \"y\"\n") != NULL,
		   "changed line as - then +");
		ok(strstr(d, "\n    \"a\": 1,\n") != NULL, "common line kept");
		ok(strstr(d, "noise") == NULL, "keys not expected are not shown");
		free(d);
		json_decref(e);
		json_decref(a);
	}
	{
		json_t *e = J("[1, 2]"), *a = J("[1, 2, 3]");
		char *d = fr_test_diff(e, a);
		ok(strstr(d, "+   3\n") != NULL, "an extra item is shown");
		free(d);
		json_decref(e);
		json_decref(a);
	}
	return done_testing();
}
