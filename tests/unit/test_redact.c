/* redact: secrets masked in text and JSON, URL passwords, threads */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "redact.h"
#include "tap.h"
#include "util.h"


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

int main(void)
{
	test_text();
	test_overlap();
	test_short();
	test_urls();
	test_add_json();
	test_json_copy();
	test_json_inplace();
	test_threads();
	return done_testing();
}
