/*
 * redact: secrets masked in text and JSON, in every form (percent-encoded,
 * JSON-escaped, base64 in both alphabets and alignments, cut short), URL
 * passwords, inbound credentials, threads
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"
#include "redact.h"
#include "tap.h"
#include "util.h"
#include "verify.h"


#define RED_IS(r, text, want, ...)                                           \
	do {                                                                 \
		char *r_ = fr_redact_str(r, text);                           \
		is_str(r_, want, __VA_ARGS__);                               \
		free(r_);                                                    \
	} while (0)

#define DUMP_IS(j, want, ...)                                                \
	do {                                                                 \
		char *d_ = fr_json_dump(j);                                  \
		is_str(d_, want, __VA_ARGS__);                               \
		free(d_);                                                    \
	} while (0)

static json_t *jload(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (!j)
		printf("# bad test JSON %s: %s\n", text, e.text);
	return j;
}

static void test_text(void)
{
	struct fr_redact *r = fr_redact_create();

	RED_IS(r, "nothing registered", "nothing registered", "empty redactor: text unchanged");
	RED_IS(r, "", "", "empty text");
	fr_redact_add(r, "s3cr3t-token");
	RED_IS(r, "Bearer s3cr3t-token", "Bearer ***", "secret masked at the end");
	RED_IS(r, "s3cr3t-token", "***", "whole string masked");
	RED_IS(r, "s3cr3t-token!", "***!", "secret masked at the start");
	RED_IS(r, "a s3cr3t-token b s3cr3t-token c s3cr3t-token", "a *** b *** c ***",
	       "every occurrence masked");
	/* adjacent occurrences become one run: the count is not told either */
	RED_IS(r, "s3cr3t-tokens3cr3t-token", "***", "adjacent occurrences masked");
	RED_IS(r, "s3cr3t-toke", "s3cr3t-toke", "a prefix of a secret is no secret");
	RED_IS(r, "S3CR3T-TOKEN", "S3CR3T-TOKEN", "matching is case-sensitive");
	RED_IS(r, "line1\ns3cr3t-token\nline3", "line1\n***\nline3", "inside multi-line text");

	/* empty and repeated registrations */
	fr_redact_add(r, "");
	fr_redact_add(r, NULL);
	RED_IS(r, "plain", "plain", "an empty secret masks nothing");
	fr_redact_add(r, "s3cr3t-token");
	RED_IS(r, "x s3cr3t-token y", "x *** y", "a secret registered twice still masks once");
	fr_redact_destroy(r);

	/* the registered copy is the redactor's own */
	{
		char buf[] = "mutable-secret";
		r = fr_redact_create();
		fr_redact_add(r, buf);
		memcpy(buf, "XXXXXXX", 7);
		RED_IS(r, "is mutable-secret", "is ***", "secrets are copied");
		fr_redact_destroy(r);
	}
}

static void test_overlap(void)
{
	struct fr_redact *a = fr_redact_create(), *b = fr_redact_create();

	/* a secret containing another: masked whole, whatever the order */
	fr_redact_add(a, "abcd");
	fr_redact_add(a, "xxabcdxx");
	fr_redact_add(b, "xxabcdxx");
	fr_redact_add(b, "abcd");
	RED_IS(a, "1 xxabcdxx 2 abcd 3", "1 *** 2 *** 3",
	       "longest first (short one added first)");
	RED_IS(b, "1 xxabcdxx 2 abcd 3", "1 *** 2 *** 3",
	       "longest first (long one added first)");
	/* three nested secrets added shortest first */
	fr_redact_add(a, "pass");
	fr_redact_add(a, "password");
	fr_redact_add(a, "password123");
	RED_IS(a, "password123 password pass", "*** *** ***",
	       "three nested secrets, each masked whole");
	fr_redact_destroy(a);
	fr_redact_destroy(b);
}

static void test_short(void)
{
	struct fr_redact *r = fr_redact_create();

	fr_redact_add(r, "abc");	/* FR_REDACT_MIN - 1 */
	fr_redact_add(r, "wxyz");	/* FR_REDACT_MIN */
	RED_IS(r, "abc", "***", "a short secret is masked as a whole string");
	RED_IS(r, "xabcx", "xabcx", "a short secret is not hunted inside text");
	RED_IS(r, "abc abc", "abc abc", "nor inside text made of it");
	RED_IS(r, "abcd", "abcd", "a longer string holding it stays");
	RED_IS(r, "1 wxyz 2 wxyz", "1 *** 2 ***",
	       "a secret of FR_REDACT_MIN characters is masked inside text");
	fr_redact_destroy(r);
}

static void test_urls(void)
{
	struct fr_redact *r = fr_redact_create();

	RED_IS(r, "postgres://admin:hunter2@db.example.com:5432/app",
	       "postgres://admin:***@db.example.com:5432/app",
	       "URL password masked though not registered");
	RED_IS(NULL, "connect https://bob:pa55word@host/x?y=1 now",
	       "connect https://bob:***@host/x?y=1 now",
	       "URL password masked by a NULL redactor");
	RED_IS(r, "a://u1:p1p1p1@h1/ and b://u2:p2p2p2@h2/",
	       "a://u1:***@h1/ and b://u2:***@h2/", "two URLs in one text");
	RED_IS(r, "https://u:p@ss@host/", "https://u:***@host/",
	       "password holding '@' masked up to the last '@'");
	RED_IS(r, "https://user@host/x", "https://user@host/x", "user without password kept");
	RED_IS(r, "https://host:8080/x", "https://host:8080/x", "port kept");
	RED_IS(r, "https://host/x?a=b:c@d", "https://host/x?a=b:c@d",
	       "':' and '@' after the path are no password");
	RED_IS(r, "https://u:***@host/", "https://u:***@host/", "*** already there is kept");
	RED_IS(r, "\"https://u:longpassword@h\"", "\"https://u:***@h\"", "quoted URL");
	/* one- and two-character passwords: the text grows */
	RED_IS(r, "a://u:p@hostxyz", "a://u:***@hostxyz", "one-character password");
	RED_IS(r, "a://u:pq@hostxy", "a://u:***@hostxy", "two-character password");

	/* registered and in a URL: masked once, not "******" */
	fr_redact_add(r, "hunter22");
	RED_IS(r, "postgres://admin:hunter22@db/app", "postgres://admin:***@db/app",
	       "registered URL password masked once");
	RED_IS(r, "x hunter22 y", "x *** y", "and elsewhere");
	fr_redact_destroy(r);

	RED_IS(NULL, "nothing secret here", "nothing secret here",
	       "a NULL redactor passes text through");
	RED_IS(NULL, "", "", "a NULL redactor with empty text");
}

static void test_add_json(void)
{
	struct fr_redact *r = fr_redact_create();
	json_t *j = jload("{\"user\": \"alice-the-user\", \"pw\": \"p4ssw0rd!\","
			  " \"n\": 123456, \"deep\": [{\"k\": \"deep-secret\"}, [\"inner-most\"]],"
			  " \"t\": true, \"f\": 2.5, \"z\": null}");

	fr_redact_add_json(r, j);
	RED_IS(r, "alice-the-user / p4ssw0rd!", "*** / ***", "strings of an object registered");
	RED_IS(r, "deep-secret and inner-most", "*** and ***",
	       "strings inside nested arrays and objects registered");
	RED_IS(r, "id 123456.", "id ***.", "integers registered by their text");
	RED_IS(r, "2.5", "***", "a short real masked as a whole string");
	RED_IS(r, "true user pw deep z", "true user pw deep z",
	       "keys, booleans and null are not secrets");
	json_decref(j);

	j = json_string("single-string");
	fr_redact_add_json(r, j);
	json_decref(j);
	RED_IS(r, "a single-string", "a ***", "a bare string registered");
	fr_redact_destroy(r);
}

static void test_json_copy(void)
{
	struct fr_redact *r = fr_redact_create();
	json_t *in, *out;

	fr_redact_add(r, "tok-12345");
	fr_redact_add(r, "424242");
	fr_redact_add(r, "77");
	in = jload("{\"auth\": \"Bearer tok-12345\", \"tok-12345\": \"as key\","
		   " \"list\": [\"tok-12345\", 424242, 4242, 77, true, null, 1.5],"
		   " \"url\": \"https://u:pw@h/\", \"n\": 424242,"
		   " \"o\": {\"k\": \"fine\"}}");
	out = fr_redact_json(r, in);
	ok(out && out != in, "fr_redact_json returns a new value");
	DUMP_IS(out, "{\"auth\":\"Bearer ***\",\"***\":\"as key\","
		"\"list\":[\"***\",\"***\",4242,\"***\",true,null,1.5],"
		"\"url\":\"https://u:***@h/\",\"n\":\"***\",\"o\":{\"k\":\"fine\"}}",
		"strings, keys and secret numbers masked in the copy");
	ok(json_object_get(out, "o") != json_object_get(in, "o"),
	   "the copy is deep");
	DUMP_IS(in, "{\"auth\":\"Bearer tok-12345\",\"tok-12345\":\"as key\","
		"\"list\":[\"tok-12345\",424242,4242,77,true,null,1.5],"
		"\"url\":\"https://u:pw@h/\",\"n\":424242,\"o\":{\"k\":\"fine\"}}",
		"the original is untouched");
	json_decref(out);

	out = fr_redact_json(NULL, in);
	DUMP_IS(out, "{\"auth\":\"Bearer tok-12345\",\"tok-12345\":\"as key\","
		"\"list\":[\"tok-12345\",424242,4242,77,true,null,1.5],"
		"\"url\":\"https://u:***@h/\",\"n\":424242,\"o\":{\"k\":\"fine\"}}",
		"a NULL redactor copies, masking URL passwords only");
	json_decref(out);
	json_decref(in);

	in = json_integer(424242);
	out = fr_redact_json(r, in);
	DUMP_IS(out, "\"***\"", "a bare secret number");
	json_decref(out);
	json_decref(in);
	fr_redact_destroy(r);
}

static void test_json_inplace(void)
{
	struct fr_redact *r = fr_redact_create();
	json_t *j, *o, *keep;

	fr_redact_add(r, "tok-12345");
	fr_redact_add(r, "424242");
	j = jload("{\"auth\": \"Bearer tok-12345\", \"key-tok-12345\": 1,"
		  " \"list\": [\"tok-12345\", 424242, 4242, true, null],"
		  " \"n\": 424242, \"url\": \"https://u:pw@h/\","
		  " \"o\": {\"k\": \"fine\", \"s\": \"tok-12345\"}, \"keep\": {\"a\": [1]}}");
	o = json_object_get(j, "o");
	keep = json_object_get(j, "keep");
	fr_redact_json_inplace(r, j);
	DUMP_IS(j, "{\"auth\":\"Bearer ***\",\"list\":[\"***\",\"***\",4242,true,null],"
		"\"n\":\"***\",\"url\":\"https://u:***@h/\","
		"\"o\":{\"k\":\"fine\",\"s\":\"***\"},\"keep\":{\"a\":[1]},\"key-***\":1}",
		"values, keys and secret numbers masked in place");
	ok(json_object_get(j, "o") == o && json_object_get(j, "keep") == keep,
	   "untouched containers stay the same objects");
	ok(json_object_get(j, "key-tok-12345") == NULL, "the secret key is gone");
	json_decref(j);

	/* a string at the top */
	j = json_string("x tok-12345 y");
	fr_redact_json_inplace(r, j);
	is_str(json_string_value(j), "x *** y", "a bare string redacted in place");
	json_decref(j);

	/* a key that looks like a URL but holds no password stays */
	j = jload("{\"see http://user@host/\": 1, \"x\": 2}");
	fr_redact_json_inplace(r, j);
	ok(json_object_size(j) == 2 &&
		json_object_get(j, "see http://user@host/") != NULL,
		"a URL key without password keeps its value");
	json_decref(j);
	fr_redact_destroy(r);
}

/* A secret with characters that every encoding changes. */
#define ODD "0dd/S3c+r\"e t\\\\%41&=\xc3\xa9"	/* 0dd/S3c+r"e t\\%41&=é */

static void test_percent(void)
{
	struct fr_redact *r = fr_redact_create();

	fr_redact_add(r, ODD);
	RED_IS(r, "x " ODD " y", "x *** y", "the odd secret as is");
	RED_IS(r, "?k=0dd%2FS3c%2Br%22e%20t%5C%5C%2541%26%3D%C3%A9&n=1", "?k=***&n=1",
	       "percent-encoded, every reserved character (upper-case hex)");
	RED_IS(r, "?k=0dd%2fS3c%2br%22e%20t%5c%5c%2541%26%3d%c3%a9", "?k=***",
	       "percent-encoded, lower-case hex");
	RED_IS(r, "k=0dd/S3c%2Br%22e+t%5C%5C%2541%26%3D%C3%A9", "k=***",
	       "form-encoded: '+' for the space, '/' left as is");
	RED_IS(r, "%30%64%64%2F%53%33%63%2B%72%22%65%20%74%5C%5C%25%34%31%26%3D%C3%A9",
	       "***", "every character encoded, even unreserved ones");
	RED_IS(r, "0dd%2FS3c%2Br%22e%20t%5C%5C%2541%26%3D%C3",
	       "0dd%2FS3c%2Br%22e%20t%5C%5C%2541%26%3D%C3",
	       "one byte short is no occurrence");
	fr_redact_destroy(r);

	r = fr_redact_create();
	fr_redact_add(r, "100%25off");	/* looks like an escape itself */
	RED_IS(r, "a 100%25off b", "a *** b", "a secret holding '%25', as is");
	RED_IS(r, "a 100%2525off b", "a *** b", "and percent-encoded");
	fr_redact_destroy(r);
}

static void test_json_escaped(void)
{
	struct fr_redact *r = fr_redact_create();

	fr_redact_add(r, ODD);
	RED_IS(r, "{\"k\":\"0dd/S3c+r\\\"e t\\\\\\\\%41&=\xc3\xa9\"}", "{\"k\":\"***\"}",
	       "JSON-escaped: \\\" and \\\\");
	RED_IS(r, "{\"k\":\"0dd\\/S3c+r\\\"e t\\\\\\\\%41&=\\u00e9\"}", "{\"k\":\"***\"}",
	       "JSON-escaped: \\/ and \\u00e9");
	RED_IS(r, "\"\\u0030\\u0064\\u0064\\u002F\\u0053\\u0033\\u0063\\u002b\\u0072\\u0022"
	       "\\u0065\\u0020\\u0074\\u005c\\u005C\\u0025\\u0034\\u0031\\u0026\\u003d\\u00E9\"",
	       "\"***\"", "every character as \\uXXXX");
	RED_IS(r, "\"0dd\\/S3c%2Br\\\"e%20t%5C\\\\%2541&=%C3%A9\"", "\"***\"",
	       "JSON escapes and percent-encoding mixed");
	fr_redact_destroy(r);

	r = fr_redact_create();
	fr_redact_add(r, "line1\nline2\ttab\x01");
	RED_IS(r, "{\"v\":\"line1\\nline2\\ttab\\u0001\"}", "{\"v\":\"***\"}",
	       "control characters escaped");
	RED_IS(r, "x line1\nline2\ttab\x01 y", "x *** y", "and raw");
	fr_redact_destroy(r);

	r = fr_redact_create();
	fr_redact_add(r, "emoji-\xf0\x9f\x98\x80-key");	/* U+1F600 */
	RED_IS(r, "\"emoji-\\ud83d\\ude00-key\"", "\"***\"", "a surrogate pair");
	RED_IS(r, "\"emoji-\\ud83d-key\"", "\"emoji-\\ud83d-key\"",
	       "a lone surrogate is no occurrence");
	fr_redact_destroy(r);

	r = fr_redact_create();
	fr_redact_add(r, "C:\\dir\\x");	/* looks escaped itself */
	RED_IS(r, "path C:\\dir\\x.", "path ***.", "a secret holding '\\', as is");
	RED_IS(r, "\"C:\\\\dir\\\\x\"", "\"***\"", "and JSON-escaped");
	fr_redact_destroy(r);
}

static void test_base64(void)
{
	struct fr_redact *r = fr_redact_create();

	/* base64 by Python's base64 module; secrets of 12, 13 and 15 bytes */
	fr_redact_add(r, "S3cr3t-12byt");
	fr_redact_add(r, "S3cr3t-13byte");
	fr_redact_add(r, "s3cr3t?>15bytes");
	RED_IS(r, "a UzNjcjN0LTEyYnl0 b", "a *** b", "alone, 12 bytes (no padding)");
	RED_IS(r, "a UzNjcjN0LTEzYnl0ZQ== b", "a ***== b", "alone, 13 bytes, padded");
	RED_IS(r, "a UzNjcjN0LTEzYnl0ZQ b", "a *** b", "alone, 13 bytes, not padded");
	RED_IS(r, "a czNjcjN0Pz4xNWJ5dGVz b", "a *** b", "alone, 15 bytes");
	fr_redact_destroy(r);

	r = fr_redact_create();
	fr_redact_add(r, "s3cr3t?>14bytes?");	/* '?' makes '/' or '_' */
	/* base64("s3cr3t?>14bytes?") = czNjcjN0Pz4xNGJ5dGVzPw== */
	RED_IS(r, "czNjcjN0Pz4xNGJ5dGVzPw==", "***==", "standard, padded");
	RED_IS(r, "czNjcjN0Pz4xNGJ5dGVzPw", "***", "standard, not padded");
	/* base64("??s3cr3t?>14bytes?") = Pz9zM2NyM3Q/PjE0Ynl0ZXM/ */
	RED_IS(r, "Pz9zM2NyM3Q/PjE0Ynl0ZXM/", "Pz9***",
	       "inside a longer text, standard alphabet ('/')");
	RED_IS(r, "Pz9zM2NyM3Q_PjE0Ynl0ZXM_", "Pz9***",
	       "inside a longer text, URL-safe alphabet ('_')");
	RED_IS(r, "Pz9zM2NyM3Q%2FPjE0Ynl0ZXM%2F", "Pz9***",
	       "base64 in a URL query, percent-encoded");
	fr_redact_destroy(r);

	/* Basic credentials: the secret at offset 5, 6 and 7 of the text */
	r = fr_redact_create();
	fr_redact_add(r, "hunter2-pass");
	/* base64 of "user:hunter2-pass", "users:hunter2-pass", "userss:hunter2-pass" */
	/* what stays are the characters that other bytes share: 4 bits at most */
	RED_IS(r, "Basic dXNlcjpodW50ZXIyLXBhc3M=", "Basic dXNlcjp***M=", "offset 5");
	RED_IS(r, "Basic dXNlcnM6aHVudGVyMi1wYXNz", "Basic dXNlcnM6***", "offset 6");
	RED_IS(r, "Basic dXNlcnNzOmh1bnRlcjItcGFzcw==", "Basic dXNlcnNzOm***w==", "offset 7");
	RED_IS(r, "Basic dXNlcjpodW50ZXIyLXBhc3N3b3Jk", "Basic dXNlcjp***N3b3Jk",
	       "followed by more text");
	RED_IS(r, "aHVudGVyMi1wYXN", "aHVudGVyMi1wYXN", "a base64 prefix without dots stays");
	fr_redact_destroy(r);
}

static void test_cut_short(void)
{
	struct fr_redact *r = fr_redact_create();

	fr_redact_add(r, "PLAINSECRETVALUE");
	/* jq 1.6 cuts values to 11 characters in its messages */
	RED_IS(r, "string (\"PLAINSECRE...) has no keys", "string (\"***) has no keys",
	       "jq's cut value masked, dots and all");
	RED_IS(r, "object ({}) and string (\"PLAINSECRE...) cannot be added",
	       "object ({}) and string (\"***) cannot be added", "in the middle");
	RED_IS(r, "PLAI...", "***", "FR_REDACT_MIN characters then dots");
	RED_IS(r, "PLA...", "PLA...", "fewer than FR_REDACT_MIN: kept");
	RED_IS(r, "PLAINSECRE\xe2\x80\xa6 x", "*** x", "an ellipsis character");
	RED_IS(r, "PLAINSECRE", "PLAINSECRE", "a prefix without dots stays");
	RED_IS(r, "PLAINSECRExx...", "PLAINSECRExx...", "the dots must follow at once");
	RED_IS(r, "\"UExBSU5TRUNSRVRW...\"", "\"***\"", "a cut base64 form");
	fr_redact_destroy(r);

	/* jq cuts its JSON text of the value, escapes and all */
	r = fr_redact_create();
	fr_redact_add(r, ODD);
	RED_IS(r, "string (\"0dd/S3c+r\\...) has no keys", "string (\"***) has no keys",
	       "cut in the middle of a JSON escape");
	RED_IS(r, "(\"0dd/S3c+r\\u00...)", "(\"***)", "cut in a \\u escape");
	RED_IS(r, "k=0dd%2FS3c%2...", "k=***", "cut in a percent escape");
	RED_IS(r, "0dd/S3c+r\\xyz...", "0dd/S3c+r\\xyz...", "not an escape: kept");
	fr_redact_destroy(r);
}

static void test_inbound_headers(void)
{
	struct fr_verify github = { .scheme = "github" };
	struct fr_verify hmac = { .scheme = "hmac-sha256", .header = "X-Signature" };
	struct fr_verify token = { .scheme = "token", .header = "X-Api-Token" };
	json_t *h;

	is_str(fr_verify_signature_header(&github), "X-Hub-Signature-256", "github's header");
	is_str(fr_verify_signature_header(&hmac), "X-Signature", "hmac-sha256: the flow's");
	ok(fr_verify_signature_header(NULL) == NULL, "no scheme, no header");

	h = jload("{\"authorization\": \"Bearer abc\", \"proxy-authorization\": \"Basic x\","
		  " \"cookie\": \"sid=1\", \"x-hub-signature-256\": \"sha256=00\","
		  " \"content-type\": \"application/json\", \"x-signature\": \"kept\"}");
	fr_redact_inbound_headers(h, &github);
	DUMP_IS(h, "{\"authorization\":\"***\",\"proxy-authorization\":\"***\","
		"\"cookie\":\"***\",\"x-hub-signature-256\":\"***\","
		"\"content-type\":\"application/json\",\"x-signature\":\"kept\"}",
		"credentials and github's signature masked, the rest kept");
	json_decref(h);

	h = jload("{\"Authorization\": \"Bearer abc\", \"X-SIGNATURE\": \"sha256=00\"}");
	fr_redact_inbound_headers(h, &hmac);
	DUMP_IS(h, "{\"Authorization\":\"***\",\"X-SIGNATURE\":\"***\"}",
		"names matched without regard to case");
	json_decref(h);

	h = jload("{\"x-api-token\": \"the-shared-secret\", \"x-other\": \"kept\"}");
	fr_redact_inbound_headers(h, &token);
	DUMP_IS(h, "{\"x-other\":\"kept\"}", "the token header is removed");
	json_decref(h);

	h = jload("{\"cookie\": \"a=b\", \"x-signature\": \"kept\"}");
	fr_redact_inbound_headers(h, NULL);
	DUMP_IS(h, "{\"cookie\":\"***\",\"x-signature\":\"kept\"}", "without a scheme");
	json_decref(h);
}

/* ---- threads ---- */

#define NTHREADS 8
#define NSECRETS 50

struct worker {
	struct fr_redact *r;
	int id;
	int bad;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char secret[64], text[160];

	for (int i = 0; i < NSECRETS; i++) {
		snprintf(secret, sizeof(secret), "thread-%d-secret-%d", w->id, i);
		fr_redact_add(w->r, secret);
		snprintf(text, sizeof(text), "<%s>", secret);
		char *red = fr_redact_str(w->r, text);
		if (strcmp(red, "<***>") != 0)
			w->bad++;
		free(red);
		/* JSON too, while the others add */
		json_t *j = json_pack("{s:s, s:[s], s:i}", "v", secret, "l", secret,
				      "n", i);
		fr_redact_json_inplace(w->r, j);
		if (strcmp(json_string_value(json_object_get(j, "v")), "***") != 0)
			w->bad++;
		json_t *c = fr_redact_json(w->r, j);
		if (!json_equal(c, j))
			w->bad++;
		json_decref(c);
		json_decref(j);
	}
	return NULL;
}

static void test_threads(void)
{
	struct fr_redact *r = fr_redact_create();
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	int bad = 0, started = 0;
	struct fr_buf all;

	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ r, i, 0 };
		if (pthread_create(&t[i], NULL, work, &w[i]) == 0)
			started++;
	}
	is_int(started, NTHREADS, "threads started");
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	is_int(bad, 0, "each thread saw its own secrets masked");

	/* afterwards, every secret of every thread is masked */
	fr_buf_init(&all);
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k < NSECRETS; k++)
			fr_buf_printf(&all, "thread-%d-secret-%d|", i, k);
	}
	{
		char *red = fr_redact_str(r, fr_buf_cstr(&all));
		struct fr_buf want;
		fr_buf_init(&want);
		for (int i = 0; i < NTHREADS * NSECRETS; i++)
			fr_buf_puts(&want, "***|");
		is_str(red, fr_buf_cstr(&want), "all %d secrets registered",
		       NTHREADS * NSECRETS);
		free(red);
		fr_buf_finish(&want);
	}
	fr_buf_finish(&all);
	fr_redact_destroy(r);
}

/* Values nested deeper than FR_JSON_MAX_DEPTH: "***" there, no overflow. */
static void test_deep(void)
{
	struct fr_redact *r = fr_redact_create();
	json_t *deep = json_string("s3cret-value"), *c, *copy, *at;
	int n = 100000, levels = 0;

	fr_redact_add(r, "s3cret-value");
	for (int i = 0; i < n; i++) {
		c = json_array();
		json_array_append_new(c, deep);
		deep = c;
	}
	fr_redact_add_json(r, deep);
	ok(1, "100000 levels: secrets added without overflow");
	copy = fr_redact_json(r, deep);
	for (at = copy; json_is_array(at); at = json_array_get(at, 0))
		levels++;
	is_int(levels, FR_JSON_MAX_DEPTH, "copy: walked %d levels",
	       FR_JSON_MAX_DEPTH);
	is_str(json_string_value(at), "***", "copy: deeper is ***");
	fr_redact_json_inplace(r, deep);
	levels = 0;
	for (at = deep; json_is_array(at); at = json_array_get(at, 0))
		levels++;
	is_int(levels, FR_JSON_MAX_DEPTH, "in place: walked %d levels",
	       FR_JSON_MAX_DEPTH);
	is_str(json_string_value(at), "***", "in place: deeper is ***");
	json_decref(copy);
	json_decref(deep);
	fr_redact_destroy(r);
}

int main(void)
{
	test_text();
	test_overlap();
	test_short();
	test_urls();
	test_add_json();
	test_json_copy();
	test_json_inplace();
	test_percent();
	test_json_escaped();
	test_base64();
	test_cut_short();
	test_inbound_headers();
	test_threads();
	test_deep();
	return done_testing();
}
