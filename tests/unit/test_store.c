/*
 * store: both backends through the fr_store_* interface.  Every test of
 * the interface runs against SQLite (a file in a temporary directory)
 * and PostgreSQL ($FLOWRUN_TEST_PG, a database of its own per run, made
 * through that URL); then each backend's own matters (files, schema
 * versions, passwords, lost connections).  meson runs this test through
 * tests/pgserver.py, which starts a real server; without one the
 * PostgreSQL half fails with the reason.
 */
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/fr-store-test-XXXXXX";
static const char *url_now;	/* the store under test */

static json_t *jload(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (!j)
		printf("# bad test JSON %s: %s\n", text, e.text);
	return j;
}

/* Reports err (and frees it) when rc says the call failed. */
static int call_ok(int rc, char *err, const char *name)
{
	if (!ok(rc == 0 && err == NULL, "%s", name))
		printf("#   rc %d, error: %s\n", rc, err ? err : "(none)");
	free(err);
	return rc == 0;
}

#define CALL(expr, name)                                                     \
	do {                                                                 \
		char *err = NULL;                                            \
		int rc_ = (expr);                                            \
		call_ok(rc_, err, name);                                     \
	} while (0)

/* Whether two JSON texts hold the same value. */
static bool same_json(const char *a, const char *b)
{
	json_t *x = a ? json_loads(a, JSON_DECODE_ANY, NULL) : NULL;
	json_t *y = b ? json_loads(b, JSON_DECODE_ANY, NULL) : NULL;
	bool same = x && y && json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return same;
}

static struct fr_store *open_store(const char *url)
{
	struct fr_store *s = NULL;
	char *err = NULL;

	if (fr_store_open(&s, url, &err) < 0) {
		printf("# cannot open %s: %s\n", url, err);
		free(err);
		return NULL;
	}
	return s;
}

/* ids of the executions matching f, newest first ("id,id") */
static char *list_ids(struct fr_store *s, const struct fr_execution_filter *f)
{
	struct fr_execution *out = NULL;
	size_t n = 0;
	char *err = NULL;
	struct fr_buf b;

	if (fr_store_execution_list(s, f, &out, &n, &err) < 0) {
		char *msg = fr_xasprintf("error: %s", err);
		free(err);
		return msg;
	}
	fr_buf_init(&b);
	fr_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		fr_buf_printf(&b, "%s%s", i ? "," : "", out[i].id);
	fr_executions_free(out, n);
	return fr_buf_steal(&b);
}

#define LIST_IS(s, f, want, ...)                                             \
	do {                                                                 \
		char *l_ = list_ids(s, f);                                   \
		is_str(l_, want, __VA_ARGS__);                               \
		free(l_);                                                    \
	} while (0)

static double T0;	/* a time before the tests: started_at = T0 + n */

static void put_exec(struct fr_store *s, const char *id, const char *integration,
		     const char *instance, const char *flow,
		     enum fr_status status, double started, const char *input)
{
	struct fr_execution e = {
		.id = (char *)id, .integration = (char *)integration,
		.instance = (char *)instance, .flow = (char *)flow,
		.trigger = (char *)"manual", .status = status,
		.origin = FR_ORIGIN_RUN, .attempt = 1, .started_at = started,
		.input = (char *)input,
	};
	char *name = fr_xasprintf("execution_put %s", id);

	CALL(fr_store_execution_put(s, &e, &err), name);
	free(name);
}

/* Records the end of execution e (as the runner does: the whole row). */
static void end_exec(struct fr_store *s, struct fr_execution *e,
		     enum fr_status status, const char *error, double ms,
		     const char *trace)
{
	char *name = fr_xasprintf("execution_put of %s's end", e->id);

	e->status = status;
	e->error = (char *)error;
	e->duration_ms = ms;
	e->finished_at = e->started_at + ms / 1000;
	e->trace = (char *)trace;
	CALL(fr_store_execution_put(s, e, &err), name);
	free(name);
}

static bool get_exec(struct fr_store *s, const char *id, struct fr_execution *e)
{
	bool found = false;
	char *err = NULL;

	if (fr_store_execution_get(s, id, e, &found, &err) < 0) {
		printf("# execution_get %s: %s\n", id, err);
		free(err);
		return false;
	}
	return found;
}

static struct fr_delivery *delivery(const char *id, const char *flow,
				    const char *dedupe, const char *body,
				    size_t body_len, const char *request,
				    const char *trigger)
{
	struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));

	d->id = fr_xstrdup(id);
	d->integration = fr_xstrdup("demo");
	d->instance = fr_xstrdup("prod");
	d->flow = fr_xstrdup(flow);
	d->dedupe_key = dedupe ? fr_xstrdup(dedupe) : NULL;
	if (body) {
		d->body = fr_xmalloc(body_len + 1);
		memcpy(d->body, body, body_len);
		d->body[body_len] = '\0';
		d->body_len = body_len;
	}
	d->request = request ? jload(request) : NULL;
	d->trigger = trigger ? jload(trigger) : NULL;
	d->origin = FR_ORIGIN_SERVE;
	d->seq = -1;
	return d;
}

/* Pushes one delivery; returns the id it duplicates (caller frees). */
static char *push1(struct fr_store *s, struct fr_delivery *d,
		   const struct fr_claim *claimed)
{
	char *dup = NULL, *err = NULL;

	if (fr_store_push(s, &d, 1, claimed, &dup, &err) < 0) {
		ok(0, "push %s: %s", d->id, err);
		free(err);
	}
	return dup;
}

/* Pushes a delivery of flow with no body and frees it. */
static void push_simple(struct fr_store *s, const char *id, const char *flow,
			int max_running, bool fifo)
{
	struct fr_delivery *d = delivery(id, flow, NULL, NULL, 0, NULL, "{}");

	d->max_running = max_running;
	d->fifo = fifo;
	free(push1(s, d, NULL));
	fr_delivery_free(d);
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Claims; returns "id,id" of what was taken (caller frees). */
static char *claim_ids(struct fr_store *s, const char *owner, size_t max,
		       double lease, double now)
{
	struct fr_claim c = { .owner = owner, .max = max, .lease_s = lease,
			      .now = now };
	struct fr_delivery **got = NULL;
	size_t n = 0;
	char *err = NULL;
	struct fr_buf b;

	if (fr_store_claim(s, &c, &got, &n, &err) < 0) {
		char *msg = fr_xasprintf("error: %s", err);
		free(err);
		return msg;
	}
	fr_buf_init(&b);
	fr_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		fr_buf_printf(&b, "%s%s", i ? "," : "", got[i]->id);
	fr_deliveries_free(got, n);
	return fr_buf_steal(&b);
}

/* ids (a copy, sorted by name): which ones, whatever their order */
static char *sorted_ids(char *ids)
{
	char *parts[64], *save = NULL, *p;
	size_t n = 0;
	struct fr_buf b;

	for (p = strtok_r(ids, ",", &save); p && n < 64; p = strtok_r(NULL, ",", &save))
		parts[n++] = p;
	qsort(parts, n, sizeof(*parts), strcmp_p);
	fr_buf_init(&b);
	fr_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		fr_buf_printf(&b, "%s%s", i ? "," : "", parts[i]);
	free(ids);
	return fr_buf_steal(&b);
}

/* A claim that takes deliveries of several flows: the set is checked. */
#define CLAIM_SET_IS(s, owner, max, lease, now, want, ...)                   \
	do {                                                                 \
		char *c_ = sorted_ids(claim_ids(s, owner, max, lease, now)); \
		is_str(c_, want, __VA_ARGS__);                               \
		free(c_);                                                    \
	} while (0)

#define CLAIM_IS(s, owner, max, lease, now, want, ...)                       \
	do {                                                                 \
		char *c_ = claim_ids(s, owner, max, lease, now);             \
		is_str(c_, want, __VA_ARGS__);                               \
		free(c_);                                                    \
	} while (0)

static struct fr_delivery *get_delivery(struct fr_store *s, const char *id)
{
	struct fr_delivery *d = NULL;
	char *err = NULL;

	if (fr_store_delivery_get(s, id, &d, &err) < 0) {
		printf("# delivery_get %s: %s\n", id, err);
		free(err);
	}
	return d;
}

static void finish(struct fr_store *s, const char *id, const char *owner,
		   enum fr_status st, double next_at)
{
	char *name = fr_xasprintf("finish %s %s", id, fr_status_name(st));

	CALL(fr_store_finish(s, id, owner, st, next_at, &err), name);
	free(name);
}

/*
 * Ends everything the queue holds (claimed far in the future: every
 * lease has run out, every retry is due), so that a test starts on an
 * empty queue.
 */
static void drain(struct fr_store *s)
{
	struct fr_claim c = { .owner = "drain", .max = 1000, .lease_s = 1,
			      .now = fr_store_now() + 1e7 };

	for (int round = 0; round < 100; round++) {
		struct fr_delivery **got = NULL;
		size_t n = 0;
		char *err = NULL;

		if (fr_store_claim(s, &c, &got, &n, &err) < 0) {
			ok(0, "drain: %s", err);
			free(err);
			return;
		}
		for (size_t i = 0; i < n; i++)
			fr_store_finish(s, got[i]->id, NULL, FR_STATUS_OK, 0, &err);
		free(err);
		fr_deliveries_free(got, n);
		if (n == 0)
			return;
	}
}

static const char body1[] = "{\"a\":1}\0after-nul\0\xff\xfe end";
#define BODY1_LEN (sizeof(body1) - 1)
static const char request1[] =
	"{\"method\":\"POST\",\"path\":\"/hooks/x\",\"query\":{\"q\":\"1\"},"
	"\"headers\":{\"content-type\":\"application/json\"}}";

static void test_executions(struct fr_store *s)
{
	struct fr_execution_filter f;
	struct fr_execution e = { 0 };
	enum fr_status st;
	enum fr_origin org;
	const char *trace1 = "{\"status\":\"ok\",\"duration_ms\":12.5,\"steps\":"
			     "[{\"id\":\"a\",\"output\":{\"x\":[1,2.5,null,true]}}]}";

	put_exec(s, "ex1", "demo", "prod", "main", FR_STATUS_RUNNING, T0 + 1,
		 "{\"n\":1,\"big\":9007199254740993}");
	put_exec(s, "ex2", "demo", "prod", "sync", FR_STATUS_RUNNING, T0 + 2,
		 "[1,\"two\"]");
	put_exec(s, "ex3", "other", "prod", "main", FR_STATUS_RUNNING, T0 + 3, NULL);
	put_exec(s, "ex4", "demo", "staging", "main", FR_STATUS_RUNNING, T0 + 4,
		 "\"text input\"");
	put_exec(s, "ex5", "demo", "prod", "main", FR_STATUS_QUEUED, T0 + 5, "null");

	ok(get_exec(s, "ex1", &e), "a recorded execution can be read");
	is_str(fr_status_name(e.status), "running", "its status");
	ok(e.finished_at == 0 && e.error == NULL && e.trace == NULL,
	   "not finished yet");
	ok(e.started_at == T0 + 1, "started_at as given");
	ok(e.attempt == 1 && e.origin == FR_ORIGIN_RUN, "attempt and origin");
	fr_execution_finish(&e);

	/* ends, as the runner records them: the whole row again */
	ok(get_exec(s, "ex1", &e), "read ex1");
	free(e.input);
	e.input = NULL;		/* an existing record keeps its input */
	{
		char *keep_error = e.error, *keep_trace = e.trace;
		end_exec(s, &e, FR_STATUS_OK, NULL, 12.5, trace1);
		e.error = keep_error;
		e.trace = keep_trace;
	}
	fr_execution_finish(&e);
	ok(get_exec(s, "ex2", &e), "read ex2");
	{
		char *keep_error = e.error, *keep_trace = e.trace;
		end_exec(s, &e, FR_STATUS_FAILED, "boom: it broke", 3,
			 "{\"status\":\"failed\",\"error\":\"boom: it broke\","
			 "\"duration_ms\":3}");
		e.error = keep_error;
		e.trace = keep_trace;
	}
	fr_execution_finish(&e);
	ok(get_exec(s, "ex4", &e), "read ex4");
	{
		char *keep_error = e.error, *keep_trace = e.trace;
		end_exec(s, &e, FR_STATUS_OK, NULL, 1, "{\"status\":\"ok\"}");
		e.error = keep_error;
		e.trace = keep_trace;
	}
	fr_execution_finish(&e);

	ok(get_exec(s, "ex1", &e), "read ex1 after its end");
	ok(same_json(e.input, "{\"n\":1,\"big\":9007199254740993}"),
	   "input kept and exact: %s", e.input ? e.input : "(null)");
	ok(e.input && strstr(e.input, "9007199254740993"), "a big integer stays exact");
	ok(same_json(e.trace, trace1), "trace round trips");
	is_str(fr_status_name(e.status), "ok", "the end's status");
	is_str(e.id, "ex1", "id");
	is_str(e.integration, "demo", "integration");
	is_str(e.instance, "prod", "instance");
	is_str(e.flow, "main", "flow");
	is_str(e.trigger, "manual", "trigger");
	ok(e.duration_ms == 12.5, "duration_ms");
	ok(e.finished_at == T0 + 1 + 0.0125, "finished_at exactly as given");
	{
		json_t *j = fr_execution_json(&e);
		ok(json_is_object(json_object_get(j, "input")) &&
		   json_is_object(json_object_get(j, "trace")) &&
		   strcmp(json_string_value(json_object_get(j, "status")), "ok") == 0,
		   "fr_execution_json parses input and trace");
		json_decref(j);
	}
	fr_execution_finish(&e);
	ok(get_exec(s, "ex2", &e), "read ex2 after its end");
	is_str(fr_status_name(e.status), "failed", "failed status");
	is_str(e.error, "boom: it broke", "error recorded");
	ok(same_json(e.input, "[1,\"two\"]"), "array input");
	fr_execution_finish(&e);
	ok(get_exec(s, "ex4", &e), "read ex4 after its end");
	ok(same_json(e.input, "\"text input\""), "string input");
	fr_execution_finish(&e);
	ok(get_exec(s, "ex3", &e) && e.input == NULL, "no input: NULL");
	fr_execution_finish(&e);
	{
		bool found = true;
		CALL(fr_store_execution_get(s, "nope", &e, &found, &err),
		     "get of an unknown id succeeds");
		ok(!found, "and finds nothing");
	}

	/* lists, newest first, with every filter */
	LIST_IS(s, NULL, "ex5,ex4,ex3,ex2,ex1", "all, newest first");
	f = (struct fr_execution_filter){ .flow = "main" };
	LIST_IS(s, &f, "ex5,ex4,ex3,ex1", "flow main, any integration");
	f = (struct fr_execution_filter){ .flow = "demo/main" };
	LIST_IS(s, &f, "ex5,ex4,ex1", "integration/flow");
	f = (struct fr_execution_filter){ .flow = "other/main" };
	LIST_IS(s, &f, "ex3", "another integration/flow");
	f = (struct fr_execution_filter){ .flow = "other/sync" };
	LIST_IS(s, &f, "", "no such integration/flow");
	f = (struct fr_execution_filter){ .instance = "staging" };
	LIST_IS(s, &f, "ex4", "instance");
	st = FR_STATUS_FAILED;
	f = (struct fr_execution_filter){ .status = &st };
	LIST_IS(s, &f, "ex2", "status failed");
	st = FR_STATUS_QUEUED;
	LIST_IS(s, &f, "ex5", "status queued");
	st = FR_STATUS_RUNNING;
	LIST_IS(s, &f, "ex3", "status running");
	f = (struct fr_execution_filter){ .limit = 2 };
	LIST_IS(s, &f, "ex5,ex4", "limit");
	st = FR_STATUS_OK;
	f = (struct fr_execution_filter){ .flow = "main", .instance = "prod",
					  .status = &st };
	LIST_IS(s, &f, "ex1", "filters combined");
	f = (struct fr_execution_filter){ .since = T0 + 3.5 };
	LIST_IS(s, &f, "ex5,ex4", "since");
	f = (struct fr_execution_filter){ .id_prefix = "ex" };
	LIST_IS(s, &f, "ex5,ex4,ex3,ex2,ex1", "id prefix: all");
	f = (struct fr_execution_filter){ .id_prefix = "ex3" };
	LIST_IS(s, &f, "ex3", "id prefix: one");
	f = (struct fr_execution_filter){ .id_prefix = "e_" };
	LIST_IS(s, &f, "", "an id prefix is no pattern");
	f = (struct fr_execution_filter){ .trigger = "manual", .limit = 3 };
	LIST_IS(s, &f, "ex5,ex4,ex3", "trigger");
	f = (struct fr_execution_filter){ .trigger = "webhook" };
	LIST_IS(s, &f, "", "another trigger");
	org = FR_ORIGIN_RUN;
	f = (struct fr_execution_filter){ .origin = &org, .limit = 1 };
	LIST_IS(s, &f, "ex5", "origin run");
	org = FR_ORIGIN_DEPLOY;
	LIST_IS(s, &f, "", "origin deploy");
	{
		struct fr_execution *out = NULL;
		size_t n = 0;
		CALL(fr_store_execution_list(s, NULL, &out, &n, &err), "list");
		ok(n == 5 && out[4].input == NULL && out[4].trace == NULL,
		   "listed rows carry no input or trace");
		ok(n == 5 && out[4].duration_ms == 12.5 &&
		   out[4].status == FR_STATUS_OK && out[4].started_at == T0 + 1,
		   "listed fields");
		fr_executions_free(out, n);
	}

	/* a retry: the next attempt replaces the record, input kept */
	ok(get_exec(s, "ex2", &e), "read ex2 again");
	free(e.input);
	free(e.error);
	free(e.trace);
	e.input = e.error = e.trace = NULL;
	e.status = FR_STATUS_RUNNING;
	e.attempt = 2;
	e.started_at = T0 + 10;
	e.finished_at = 0;
	e.duration_ms = 0;
	CALL(fr_store_execution_put(s, &e, &err), "execution_put of attempt 2");
	fr_execution_finish(&e);
	ok(get_exec(s, "ex2", &e), "read attempt 2");
	ok(e.status == FR_STATUS_RUNNING && e.attempt == 2 && e.error == NULL &&
	   e.finished_at == 0 && e.trace == NULL, "running again, error and end cleared");
	ok(same_json(e.input, "[1,\"two\"]"), "input kept");
	fr_execution_finish(&e);
	LIST_IS(s, NULL, "ex2,ex5,ex4,ex3,ex1", "and is the newest");
	f = (struct fr_execution_filter){ .flow = "sync" };
	LIST_IS(s, &f, "ex2", "one record per id");
}

static void test_default_limit(struct fr_store *s)
{
	struct fr_execution *out = NULL;
	size_t n = 0;
	struct fr_execution_filter f = { .flow = "many/bulk" };

	CALL(fr_store_begin(s, FR_LAZY, &err), "begin (lazy)");
	for (int i = 0; i < 55; i++) {
		char id[16];
		snprintf(id, sizeof(id), "bulk%02d", i);
		struct fr_execution e = {
			.id = id, .integration = "many", .instance = "prod",
			.flow = "bulk", .trigger = "manual",
			.status = FR_STATUS_OK, .attempt = 1,
			.started_at = T0 + 100 + i,
		};
		char *err = NULL;
		if (fr_store_execution_put(s, &e, &err) < 0) {
			ok(0, "bulk insert: %s", err);
			free(err);
		}
	}
	CALL(fr_store_commit(s, &err), "commit");
	CALL(fr_store_execution_list(s, &f, &out, &n, &err), "list without a limit");
	is_int(n, 50, "the default limit is 50");
	is_str(n ? out[0].id : NULL, "bulk54", "newest first");
	fr_executions_free(out, n);
	f.limit = 100;
	CALL(fr_store_execution_list(s, &f, &out, &n, &err), "list with limit 100");
	is_int(n, 55, "a larger limit shows all");
	fr_executions_free(out, n);
}

/* An update program: adds *(int *)data to the number (absent: 0). */
static int add_fn(void *data, const json_t *old, json_t **out, char **err)
{
	*out = json_integer((old ? json_integer_value(old) : 0) + *(int *)data);
	return 0;
}

static int delete_fn(void *data, const json_t *old, json_t **out, char **err)
{
	*out = NULL;
	return 0;
}

static int failing_fn(void *data, const json_t *old, json_t **out, char **err)
{
	*out = NULL;
	*err = fr_xstrdup("the program failed");
	return -1;
}

static void test_state(struct fr_store *s)
{
	static const char *const values[] = {
		"\"text\"", "\"\"", "9007199254740993", "-42", "2.5", "true",
		"false", "null", "[1,[2,{\"a\":null}]]", "{\"k\":{\"l\":[true]}}",
		"\"h\xc3\xa9llo \xe2\x9c\x93\"",
	};
	json_t *out = NULL, *want;

	CALL(fr_store_state_get(s, "demo", "prod", &out, &err), "state_get of nothing");
	ok(json_is_object(out) && json_object_size(out) == 0, "{} when nothing was set");
	json_decref(out);

	want = json_object();
	for (size_t i = 0; i < FR_ARRAY_LEN(values); i++) {
		char key[16];
		json_t *v = jload(values[i]);
		snprintf(key, sizeof(key), "k%02zu", i);
		CALL(fr_store_state_set(s, "demo", "prod", key, v, &err), values[i]);
		json_object_set_new(want, key, v);
	}
	CALL(fr_store_state_get(s, "demo", "prod", &out, &err), "state_get");
	ok(json_equal(out, want), "values of every type round trip");
	{
		json_t *big = json_object_get(out, "k02");
		ok(json_is_integer(big) && json_integer_value(big) == 9007199254740993LL,
		   "a big integer stays an exact integer");
		ok(json_is_real(json_object_get(out, "k04")), "a real stays a real");
		ok(json_is_string(json_object_get(out, "k00")) &&
		   json_is_null(json_object_get(out, "k07")), "a string and null keep their types");
	}
	json_decref(out);
	json_decref(want);

	/* per integration and instance */
	{
		json_t *a = json_string("staging-value"), *b = json_string("other-value");
		CALL(fr_store_state_set(s, "demo", "staging", "k00", a, &err), "set staging");
		CALL(fr_store_state_set(s, "other", "prod", "k00", b, &err), "set other");
		json_decref(a);
		json_decref(b);
	}
	CALL(fr_store_state_get(s, "demo", "staging", &out, &err), "get staging");
	{
		char *t = fr_json_dump(out);
		is_str(t, "{\"k00\":\"staging-value\"}", "state is per instance");
		free(t);
	}
	json_decref(out);
	CALL(fr_store_state_get(s, "other", "prod", &out, &err), "get other");
	{
		char *t = fr_json_dump(out);
		is_str(t, "{\"k00\":\"other-value\"}", "state is per integration");
		free(t);
	}
	json_decref(out);
	{
		json_t *v = json_integer(7);
		CALL(fr_store_state_set(s, "demo", "prod", "k00", v, &err), "overwrite");
		json_decref(v);
	}
	CALL(fr_store_state_get(s, "demo", "prod", &out, &err), "get after overwrite");
	ok(json_integer_value(json_object_get(out, "k00")) == 7 &&
	   json_object_size(out) == FR_ARRAY_LEN(values), "a key is overwritten, not added");
	json_decref(out);
	CALL(fr_store_state_set(s, "demo", "prod", "k00", NULL, &err), "set NULL");
	CALL(fr_store_state_get(s, "demo", "prod", &out, &err), "get after delete");
	ok(!json_object_get(out, "k00") &&
	   json_object_size(out) == FR_ARRAY_LEN(values) - 1, "NULL deletes the key");
	json_decref(out);

	/* a string holding a NUL is stored as JSON "\u0000" */
	{
		json_t *v = json_stringn("a\0b", 3);
		CALL(fr_store_state_set(s, "nul", "prod", "k", v, &err), "set a string with a NUL");
		CALL(fr_store_state_get(s, "nul", "prod", &out, &err), "get it back");
		ok(json_equal(json_object_get(out, "k"), v),
			"a string with a NUL round trips");
		json_decref(out);
		json_decref(v);
	}

	/* update: read-modify-write of one key */
	{
		int one = 1, ten = 10;
		json_t *v = NULL;
		char *err = NULL;

		CALL(fr_store_state_update(s, "upd", "prod", "n", add_fn, &one, &v,
					   &err), "update of an unset key");
		ok(json_integer_value(v) == 1, "starts from nothing: 1");
		json_decref(v);
		CALL(fr_store_state_update(s, "upd", "prod", "n", add_fn, &ten, &v,
					   &err), "update again");
		ok(json_integer_value(v) == 11, "11");
		json_decref(v);
		CALL(fr_store_state_update(s, "upd", "prod", "n", add_fn, &one, NULL,
					   &err), "update with no out");
		ok(fr_store_state_update(s, "upd", "prod", "n", failing_fn, NULL, &v,
					 &err) < 0 && err && v == NULL,
		   "a failing program fails the update");
		is_str(err, "the program failed", "with the program's error");
		free(err);
		err = NULL;
		CALL(fr_store_state_get(s, "upd", "prod", &out, &err), "state after updates");
		{
			char *t = fr_json_dump(out);
			is_str(t, "{\"n\":12}", "the failed update wrote nothing");
			free(t);
		}
		json_decref(out);
		ok(fr_store_state_update(s, "upd", "prod", "never", failing_fn, NULL,
					 NULL, &err) < 0, "a failing program on an unset key");
		free(err);
		err = NULL;
		CALL(fr_store_state_update(s, "upd", "prod", "n", delete_fn, NULL, &v,
					   &err), "update to nothing");
		ok(v == NULL, "gives NULL");
		CALL(fr_store_state_get(s, "upd", "prod", &out, &err), "state after delete");
		ok(json_is_object(out) && json_object_size(out) == 0,
		   "deleted, and no key left by a failed update");
		json_decref(out);
	}
}

/* "integration/instance/key=value;..." of a state_list */
static char *state_rows(struct fr_store *s, const char *integration,
			const char *instance, const char *key)
{
	struct fr_state_row *r = NULL;
	size_t n = 0;
	char *err = NULL;
	struct fr_buf b;

	if (fr_store_state_list(s, integration, instance, key, &r, &n, &err) < 0) {
		char *msg = fr_xasprintf("error: %s", err);
		free(err);
		return msg;
	}
	fr_buf_init(&b);
	fr_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		char *v = fr_json_dump(r[i].value);
		fr_buf_printf(&b, "%s%s/%s/%s=%s", i ? ";" : "", r[i].integration,
			      r[i].instance, r[i].key, v);
		free(v);
		if (!(r[i].updated_at > T0 - 1e6))
			fr_buf_puts(&b, "(no time)");
	}
	fr_state_rows_free(r, n);
	return fr_buf_steal(&b);
}

#define STATE_IS(s, i, n, k, want, ...)                                       \
	do {                                                                 \
		char *r_ = state_rows(s, i, n, k);                           \
		is_str(r_, want, __VA_ARGS__);                               \
		free(r_);                                                    \
	} while (0)

static void test_state_list(struct fr_store *s)
{
	json_t *a = jload("{\"cursor\":9007199254740993}"), *b = jload("\"b\"");

	STATE_IS(s, "sl", NULL, NULL, "", "state_list of nothing");
	CALL(fr_store_state_set(s, "sl", "prod", "zeta", b, &err), "set zeta");
	CALL(fr_store_state_set(s, "sl", "prod", "alpha", a, &err), "set alpha");
	CALL(fr_store_state_set(s, "sl", "staging", "alpha", b, &err), "set staging");
	CALL(fr_store_state_set(s, "sl2", "prod", "k", b, &err), "set sl2");
	STATE_IS(s, "sl", NULL, NULL, "sl/prod/alpha={\"cursor\":9007199254740993};"
		 "sl/prod/zeta=\"b\";sl/staging/alpha=\"b\"",
		 "every instance of an integration, ordered, values exact");
	STATE_IS(s, "sl", "prod", "zeta", "sl/prod/zeta=\"b\"", "one key");
	STATE_IS(s, "sl", "prod", "nope", "", "an unknown key: no rows");
	STATE_IS(s, NULL, "staging", "alpha", "sl/staging/alpha=\"b\"",
		 "any integration, one instance");
	{
		char *all = state_rows(s, NULL, "prod", NULL);
		ok(strstr(all, "sl/prod/alpha=") && strstr(all, "sl2/prod/k=") &&
		   !strstr(all, "staging"), "every integration of one instance: %s", all);
		free(all);
	}
	CALL(fr_store_state_set(s, "sl", "prod", "zeta", NULL, &err), "delete zeta");
	STATE_IS(s, "sl", "prod", NULL, "sl/prod/alpha={\"cursor\":9007199254740993}",
		 "a deleted key is gone");
	json_decref(a);
	json_decref(b);
}

static void test_deployments(struct fr_store *s)
{
	struct fr_deployment d1 = {
		.integration = "demo", .instance = "prod", .file_hash = "abc",
		.outcome = "ok", .started_at = 1.5, .finished_at = 2.5,
		.summary = jload("{\"flows\":[\"deploy\"],\"n\":9007199254740993}"),
	};
	struct fr_deployment d2 = {
		.integration = "demo", .instance = "staging", .file_hash = "def",
		.outcome = "failed", .started_at = 3, .finished_at = 4,
		.summary = jload("{\"flows\":[]}"),
	};
	struct fr_deployment *out = NULL;
	size_t n = 9;

	CALL(fr_store_deployment_list(s, &out, &n, &err), "deployment_list of nothing");
	ok(n == 0, "no deployments yet");
	fr_deployments_free(out, n);
	CALL(fr_store_deployment_add(s, &d1, &err), "deployment_add");
	CALL(fr_store_deployment_add(s, &d2, &err), "deployment_add again");
	CALL(fr_store_deployment_list(s, &out, &n, &err), "deployment_list");
	ok(n == 2 && json_equal(out[0].summary, d2.summary) &&
	   json_equal(out[1].summary, d1.summary), "newest first, summaries as given");
	ok(n == 2 && strcmp(out[0].instance, "staging") == 0 &&
	   strcmp(out[1].file_hash, "abc") == 0 && strcmp(out[0].outcome, "failed") == 0 &&
	   out[1].started_at == 1.5 && out[1].finished_at == 2.5 &&
	   strcmp(out[1].integration, "demo") == 0, "fields");
	fr_deployments_free(out, n);
	json_decref((json_t *)d1.summary);
	json_decref((json_t *)d2.summary);
}

static void test_deliveries(struct fr_store *s)
{
	struct fr_delivery *b1[3], *b2[3], *got = NULL;
	char *dup[3];
	long long seq2;

	drain(s);
	b1[0] = delivery("dl1", "hook", "k1", body1, BODY1_LEN, request1, NULL);
	b1[1] = delivery("dl2", "hook", NULL, NULL, 0, NULL, "{\"n\":1}");
	b1[2] = delivery("dl3", "hook", "k1", "dup", 3, request1, NULL);
	CALL(fr_store_push(s, b1, 3, NULL, dup, &err), "push of a batch");
	ok(dup[0] == NULL && dup[1] == NULL, "new deliveries are no duplicates");
	is_str(dup[2], "dl1", "a dedupe key seen in the same batch names the first");
	ok(b1[0]->seq > 0 && b1[1]->seq > b1[0]->seq, "seq set, increasing");
	ok(b1[0]->status == FR_STATUS_QUEUED, "status queued");
	seq2 = b1[1]->seq;
	for (int i = 0; i < 3; i++)
		free(dup[i]);

	b2[0] = delivery("dl4", "other-flow", "k1", "", 0, NULL, NULL);
	b2[1] = delivery("dl5", "hook", "k1", "again", 5, NULL, NULL);
	b2[2] = delivery("dl6", "hook", "k2", NULL, 0, NULL, "[]");
	b2[2]->request_text = fr_xstrdup("{\"method\":\"GET\",  \"path\":\"/t\"}");
	CALL(fr_store_push(s, b2, 3, NULL, dup, &err), "push of a second batch");
	ok(dup[0] == NULL, "the same key for another flow is no duplicate");
	is_str(dup[1], "dl1", "a dedupe key of an earlier batch names its delivery");
	ok(dup[2] == NULL, "another key is new");
	ok(b2[0]->seq > seq2 && b2[2]->seq > b2[0]->seq, "seq keeps increasing");
	for (int i = 0; i < 3; i++)
		free(dup[i]);

	got = get_delivery(s, "dl1");
	ok(got && got->body_len == BODY1_LEN && memcmp(got->body, body1, BODY1_LEN) == 0,
	   "the body (NULs and non-UTF-8 bytes) comes back exactly");
	ok(got && got->body[got->body_len] == '\0', "and NUL-terminated");
	{
		json_t *req = jload(request1);
		ok(got && json_equal(got->request, req), "request round trips");
		json_decref(req);
	}
	ok(got && got->trigger == NULL, "no trigger");
	is_str(got ? got->dedupe_key : NULL, "k1", "dedupe key");
	is_str(got ? got->integration : NULL, "demo", "integration");
	is_str(got ? got->instance : NULL, "prod", "instance");
	is_str(got ? got->flow : NULL, "hook", "flow");
	ok(got && got->seq == b1[0]->seq && got->attempts == 0 && got->next_at == 0 &&
	   got->status == FR_STATUS_QUEUED && got->origin == FR_ORIGIN_SERVE,
	   "seq, attempts, next_at, status, origin");
	fr_delivery_free(got);
	got = get_delivery(s, "dl2");
	ok(got && got->body == NULL && got->request == NULL && got->dedupe_key == NULL,
	   "no body, request or dedupe key");
	{
		char *t = got ? fr_json_dump(got->trigger) : NULL;
		is_str(t, "{\"n\":1}", "trigger round trips");
		free(t);
	}
	fr_delivery_free(got);
	got = get_delivery(s, "dl4");
	ok(got && got->body && got->body_len == 0 && got->body[0] == '\0',
	   "an empty body is empty, not absent");
	fr_delivery_free(got);
	got = get_delivery(s, "dl6");
	{
		json_t *req = jload("{\"method\":\"GET\",\"path\":\"/t\"}");
		ok(got && json_equal(got->request, req), "request_text is the request");
		json_decref(req);
	}
	fr_delivery_free(got);
	got = (struct fr_delivery *)1;
	CALL(fr_store_delivery_get(s, "dl3", &got, &err), "delivery_get of a duplicate");
	ok(got == NULL, "a duplicate was not stored");
	got = (struct fr_delivery *)1;
	CALL(fr_store_delivery_get(s, "nope", &got, &err), "delivery_get of an unknown id");
	ok(got == NULL, "unknown: NULL");

	/* claims take them in arrival order, with everything */
	{
		struct fr_claim c = { .owner = "A", .max = 10, .lease_s = 30,
				      .now = fr_store_now() };
		struct fr_delivery **all = NULL;
		size_t n = 0;
		CALL(fr_store_claim(s, &c, &all, &n, &err), "claim them all");
		is_int(n, 4, "four deliveries");
		ok(n == 4 && strcmp(all[0]->id, "dl1") == 0 &&
		   strcmp(all[1]->id, "dl2") == 0 && strcmp(all[2]->id, "dl4") == 0 &&
		   strcmp(all[3]->id, "dl6") == 0, "in arrival order");
		ok(n == 4 && all[0]->body_len == BODY1_LEN &&
		   memcmp(all[0]->body, body1, BODY1_LEN) == 0 && all[0]->request,
		   "a claimed delivery has its request and body");
		ok(n == 4 && all[0]->status == FR_STATUS_RUNNING &&
		   all[0]->attempts == 1, "running, attempt 1");
		fr_deliveries_free(all, n);
	}

	/* an id stored before (and no dedupe key) */
	{
		struct fr_delivery *b3[1] = { delivery("dl2", "hook", NULL, NULL, 0, NULL, "1") };
		char *err = NULL;
		int rc = fr_store_push(s, b3, 1, NULL, dup, &err);
		ok(rc < 0 || dup[0] != NULL,
		   "an id stored before is refused (got seq %lld)", b3[0]->seq);
		free(err);
		if (rc == 0)
			free(dup[0]);
		fr_delivery_free(b3[0]);
	}
	for (int i = 0; i < 3; i++) {
		fr_delivery_free(b1[i]);
		fr_delivery_free(b2[i]);
	}
}

static void test_claims(struct fr_store *s)
{
	double t = fr_store_now();
	struct fr_delivery *d;

	drain(s);
	push_simple(s, "c1", "q", 0, false);
	push_simple(s, "c2", "q", 0, false);
	push_simple(s, "c3", "q", 0, false);
	CLAIM_IS(s, "A", 2, 30, t, "c1,c2", "A claims the two oldest");
	CLAIM_IS(s, "B", 5, 30, t, "c3", "B gets the third");
	CLAIM_IS(s, "B", 5, 30, t, "", "nothing left");
	d = get_delivery(s, "c1");
	ok(d && d->status == FR_STATUS_RUNNING && d->attempts == 1,
	   "a claimed delivery is running, attempt 1");
	fr_delivery_free(d);

	/* renew: A's leases last; B's run out */
	CALL(fr_store_renew(s, "A", 1000, t, &err), "A renews its leases");
	CLAIM_IS(s, "C", 5, 30, t + 100, "c3", "only B's expired lease is taken over");
	d = get_delivery(s, "c3");
	ok(d && d->attempts == 2, "counting one more attempt");
	fr_delivery_free(d);

	/* finish by one that no longer holds it: left alone */
	finish(s, "c3", "B", FR_STATUS_OK, 0);
	d = get_delivery(s, "c3");
	ok(d && d->status == FR_STATUS_RUNNING, "B's late finish is ignored");
	fr_delivery_free(d);
	finish(s, "c3", "C", FR_STATUS_OK, 0);
	d = get_delivery(s, "c3");
	ok(d && d->status == FR_STATUS_OK, "the holder's finish counts");
	fr_delivery_free(d);

	/* retrying: not before next_at */
	finish(s, "c1", "A", FR_STATUS_RETRYING, t + 50);
	d = get_delivery(s, "c1");
	ok(d && d->status == FR_STATUS_RETRYING && d->next_at == t + 50,
	   "retrying with its next attempt's time");
	fr_delivery_free(d);
	CLAIM_IS(s, "B", 5, 30, t + 10, "", "a retry waits for its time");
	CLAIM_IS(s, "B", 5, 30, t + 60, "c1", "and is claimed then");
	d = get_delivery(s, "c1");
	ok(d && d->attempts == 2 && d->status == FR_STATUS_RUNNING, "attempt 2");
	fr_delivery_free(d);
	finish(s, "c1", "B", FR_STATUS_FAILED, 0);
	finish(s, "c2", NULL, FR_STATUS_OK, 0);
	d = get_delivery(s, "c2");
	ok(d && d->status == FR_STATUS_OK, "finish without an owner");
	fr_delivery_free(d);
	CLAIM_IS(s, "B", 5, 30, t + 1e6, "", "finished deliveries are never claimed");

	/* push with a claim: running at once for the pusher */
	{
		struct fr_claim c = { .owner = "P", .max = 1, .lease_s = 30, .now = t };
		struct fr_delivery *b[2] = {
			delivery("p1", "q", NULL, NULL, 0, NULL, "1"),
			delivery("p2", "qf", NULL, NULL, 0, NULL, "2"),
		};
		char *dup[2];
		b[1]->fifo = true;
		CALL(fr_store_push(s, b, 2, &c, dup, &err), "push claimed");
		ok(b[0]->status == FR_STATUS_RUNNING && b[0]->attempts == 1,
		   "pre-claimed: running, attempt 1");
		ok(b[1]->status == FR_STATUS_QUEUED, "a fifo delivery is queued instead");
		CLAIM_IS(s, "Q", 5, 30, t, "p2", "the pre-claimed one is held");
		CLAIM_IS(s, "Q", 5, 30, t + 31, "p1,p2", "until its lease runs out");
		fr_delivery_free(b[0]);
		fr_delivery_free(b[1]);
	}
	drain(s);
}

/* Waits (claiming) until the lease of a claim runs out; the clock is real. */
static void test_lease_takeover(struct fr_store *a, struct fr_store *b)
{
	double start = fr_store_now(), deadline = start + 20;
	char *got = NULL;
	struct fr_delivery *d;

	drain(a);
	push_simple(a, "lt1", "q", 0, false);
	CLAIM_IS(a, "A", 1, 0.2, fr_store_now(), "lt1", "A claims with a 0.2 s lease");
	CLAIM_IS(b, "B", 1, 30, fr_store_now(), "", "B cannot take it yet");
	while (fr_store_now() < deadline) {
		free(got);
		got = claim_ids(b, "B", 1, 30, fr_store_now());
		if (*got)
			break;
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
	is_str(got, "lt1", "B takes it over once the lease ran out");
	ok(fr_store_now() - start >= 0.2, "not before (%.3f s)", fr_store_now() - start);
	free(got);
	d = get_delivery(b, "lt1");
	ok(d && d->attempts == 2, "attempts 2 (got %d)", d ? d->attempts : -1);
	fr_delivery_free(d);
	finish(a, "lt1", "A", FR_STATUS_FAILED, 0);
	d = get_delivery(b, "lt1");
	ok(d && d->status == FR_STATUS_RUNNING, "A's finish leaves it to B");
	fr_delivery_free(d);
	finish(b, "lt1", "B", FR_STATUS_OK, 0);
	d = get_delivery(a, "lt1");
	ok(d && d->status == FR_STATUS_OK, "B ends it");
	fr_delivery_free(d);
}

/* Threads that claim from their own handles at once. */
struct claimer {
	const char *owner;
	size_t max;
	pthread_barrier_t *start;
	char **ids;		/* what it took */
	size_t n, cap;
	int rounds;		/* 0: until nothing is left */
	char *err;
};

static void *claimer_run(void *arg)
{
	struct claimer *c = arg;
	struct fr_store *s = NULL;
	struct fr_claim cl = { .owner = c->owner, .max = c->max, .lease_s = 60 };

	if (fr_store_open(&s, url_now, &c->err) < 0)
		return NULL;
	pthread_barrier_wait(c->start);
	for (int r = 0; c->rounds == 0 || r < c->rounds; r++) {
		struct fr_delivery **got = NULL;
		size_t n = 0;
		cl.now = fr_store_now();
		if (fr_store_claim(s, &cl, &got, &n, &c->err) < 0)
			break;
		for (size_t i = 0; i < n; i++) {
			fr_grow(&c->ids, &c->cap, c->n + 1, sizeof(*c->ids));
			c->ids[c->n++] = fr_xstrdup(got[i]->id);
		}
		fr_deliveries_free(got, n);
		if (n == 0 && c->rounds == 0)
			break;
	}
	fr_store_close(s);
	return NULL;
}

static void claimers_free(struct claimer *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < c[i].n; j++)
			free(c[i].ids[j]);
		free(c[i].ids);
		free(c[i].err);
	}
}

/* Runs n claimers at once; returns how many they took in all. */
static size_t run_claimers(struct claimer *c, size_t n)
{
	pthread_t th[8];
	pthread_barrier_t start;
	size_t total = 0;

	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (size_t i = 0; i < n; i++) {
		c[i].start = &start;
		pthread_create(&th[i], NULL, claimer_run, &c[i]);
	}
	for (size_t i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (c[i].err)
			ok(0, "claimer %s: %s", c[i].owner, c[i].err);
		total += c[i].n;
	}
	pthread_barrier_destroy(&start);
	return total;
}

static void test_claim_race(struct fr_store *s)
{
	enum { N = 300 };
	struct claimer c[2] = { { .owner = "A", .max = 4 }, { .owner = "B", .max = 4 } };
	char **all = fr_xcalloc(N, sizeof(*all));
	size_t total, k = 0;
	int twice = 0;

	drain(s);
	CALL(fr_store_begin(s, FR_LAZY, &err), "begin");
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "race%03d", i);
		push_simple(s, id, "race", 0, false);
	}
	CALL(fr_store_commit(s, &err), "commit 300 deliveries");
	total = run_claimers(c, 2);
	is_int(total, N, "two handles claiming at once take every delivery");
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < c[i].n && k < N; j++)
			all[k++] = c[i].ids[j];
	qsort(all, k, sizeof(*all), strcmp_p);
	for (size_t i = 1; i < k; i++)
		twice += strcmp(all[i - 1], all[i]) == 0;
	is_int(twice, 0, "and never one twice (A took %zu, B %zu)", c[0].n, c[1].n);
	free(all);
	claimers_free(c, 2);
	drain(s);
}

static void test_bounded(struct fr_store *a, struct fr_store *b)
{
	double t = fr_store_now();

	drain(a);
	/* concurrency 2 across two handles */
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "mr%d", i);
		push_simple(a, id, "bounded", 2, false);
	}
	push_simple(a, "free1", "unbounded", 0, false);
	CLAIM_SET_IS(a, "A", 10, 30, t, "free1,mr0,mr1", "A takes two of the bounded flow");
	CLAIM_IS(b, "B", 10, 30, t, "", "B none while two run");
	finish(a, "mr0", "A", FR_STATUS_OK, 0);
	CLAIM_IS(b, "B", 10, 30, t, "mr2", "B one once one ended");
	CLAIM_SET_IS(b, "B", 10, 30, t + 31, "free1,mr1,mr2",
		 "expired leases free their slots (and free1's is taken over)");
	drain(a);

	/* at once: the bound holds between two handles claiming together */
	for (int round = 0; round < 5; round++) {
		struct claimer c[2] = { { .owner = "A", .max = 10, .rounds = 1 },
					{ .owner = "B", .max = 10, .rounds = 1 } };
		for (int i = 0; i < 6; i++) {
			char id[32];
			snprintf(id, sizeof(id), "mrr%d-%d", round, i);
			push_simple(a, id, "bounded-race", 2, false);
		}
		is_int(run_claimers(c, 2), 2, "round %d: two claimed at once, "
		       "concurrency 2: two taken (A %zu, B %zu)", round, c[0].n, c[1].n);
		claimers_free(c, 2);
		drain(a);
	}

	/* fifo: one at a time, in arrival order, across handles */
	t = fr_store_now();
	push_simple(a, "f1", "ordered", 0, true);
	push_simple(a, "f2", "ordered", 0, true);
	push_simple(a, "f3", "ordered", 0, true);
	CLAIM_IS(a, "A", 10, 30, t, "f1", "fifo: A takes the oldest only");
	CLAIM_IS(b, "B", 10, 30, t, "", "B nothing while it runs");
	finish(a, "f1", "A", FR_STATUS_RETRYING, t + 50);
	CLAIM_IS(b, "B", 10, 30, t + 10, "", "nothing while the oldest waits to retry");
	CLAIM_IS(b, "B", 10, 30, t + 60, "f1", "the oldest again at its time");
	finish(b, "f1", "B", FR_STATUS_OK, 0);
	CLAIM_IS(a, "A", 10, 30, t + 60, "f2", "then the next");
	CLAIM_IS(b, "B", 10, 30, t + 100, "f2", "a dead holder's lease runs out");
	finish(b, "f2", "B", FR_STATUS_FAILED, 0);
	CLAIM_IS(b, "B", 10, 30, t + 100, "f3", "a failed one lets the next go");
	finish(b, "f3", "B", FR_STATUS_OK, 0);
	CLAIM_IS(a, "A", 10, 30, t + 100, "", "done");
}

/* Threads that push one delivery with one dedupe key at once. */
struct pusher {
	const char *id, *key;
	pthread_barrier_t *start;
	char *dup, *err;
};

static void *pusher_run(void *arg)
{
	struct pusher *p = arg;
	struct fr_store *s = NULL;
	struct fr_delivery *d = delivery(p->id, "dd", p->key, "x", 1, NULL, NULL);

	if (fr_store_open(&s, url_now, &p->err) == 0) {
		pthread_barrier_wait(p->start);
		fr_store_push(s, &d, 1, NULL, &p->dup, &p->err);
	} else {
		pthread_barrier_wait(p->start);
	}
	fr_delivery_free(d);
	fr_store_close(s);
	return NULL;
}

static void test_dedupe(struct fr_store *a, struct fr_store *b)
{
	struct fr_delivery *d1 = delivery("dd1", "dd", "key", "x", 1, NULL, NULL);
	struct fr_delivery *d2 = delivery("dd2", "dd", "key", "y", 1, NULL, NULL);
	char *dup;
	int good = 0;

	ok(push1(a, d1, NULL) == NULL, "A pushes a key");
	dup = push1(b, d2, NULL);
	is_str(dup, "dd1", "B's push of the same key names A's delivery");
	free(dup);
	fr_delivery_free(d1);
	fr_delivery_free(d2);

	for (int round = 0; round < 10; round++) {
		pthread_barrier_t start;
		pthread_t th[2];
		char ids[2][32], key[32];
		struct pusher p[2] = { { .id = ids[0] }, { .id = ids[1] } };

		snprintf(key, sizeof(key), "race-%d", round);
		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			snprintf(ids[i], sizeof(ids[i]), "ddr%d-%d", round, i);
			p[i].key = key;
			p[i].start = &start;
			pthread_create(&th[i], NULL, pusher_run, &p[i]);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		if (!p[0].err && !p[1].err &&
		    ((!p[0].dup && p[1].dup && strcmp(p[1].dup, ids[0]) == 0) ||
		     (!p[1].dup && p[0].dup && strcmp(p[0].dup, ids[1]) == 0)))
			good++;
		else
			printf("# round %d: dup %s/%s, errors %s/%s\n", round,
			       p[0].dup ? p[0].dup : "-", p[1].dup ? p[1].dup : "-",
			       p[0].err ? p[0].err : "-", p[1].err ? p[1].err : "-");
		for (int i = 0; i < 2; i++) {
			free(p[i].dup);
			free(p[i].err);
		}
	}
	is_int(good, 10, "two handles pushing one key at once: one queued, "
	       "the other names it");
	drain(a);
}

struct counter {
	pthread_barrier_t *start;
	int done;
	char *err;
};

static void *counter_run(void *arg)
{
	struct counter *c = arg;
	struct fr_store *s = NULL;
	int one = 1;

	if (fr_store_open(&s, url_now, &c->err) < 0) {
		pthread_barrier_wait(c->start);
		return NULL;
	}
	pthread_barrier_wait(c->start);
	for (int i = 0; i < 200; i++) {
		if (fr_store_state_update(s, "count", "prod", "n", add_fn, &one,
					  NULL, &c->err) < 0)
			break;
		c->done++;
	}
	fr_store_close(s);
	return NULL;
}

static void test_counter(struct fr_store *s)
{
	struct counter c[8] = { { 0 } };
	pthread_t th[8];
	pthread_barrier_t start;
	json_t *out = NULL;
	int done = 0;

	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++) {
		c[i].start = &start;
		pthread_create(&th[i], NULL, counter_run, &c[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (c[i].err)
			ok(0, "counter thread %d: %s", i, c[i].err);
		free(c[i].err);
		done += c[i].done;
	}
	pthread_barrier_destroy(&start);
	is_int(done, 1600, "8 threads x 200 updates succeeded");
	CALL(fr_store_state_get(s, "count", "prod", &out, &err), "the counter");
	is_int(json_integer_value(json_object_get(out, "n")), 1600,
	       "every update counted");
	json_decref(out);
}

static void test_replay(struct fr_store *s)
{
	struct fr_execution_filter f = { .flow = "demo/rhook", .not_replayed = true };
	struct fr_delivery *d = delivery("rp1", "rhook", NULL, body1, BODY1_LEN,
					 request1, NULL), *g;
	struct fr_execution e = { 0 };
	char *nid = NULL, *nid2 = NULL;
	enum fr_origin org = FR_ORIGIN_REPLAY;

	drain(s);
	free(push1(s, d, NULL));
	fr_delivery_free(d);
	CLAIM_IS(s, "A", 1, 30, fr_store_now(), "rp1", "the webhook delivery is claimed");
	{
		struct fr_execution x = {
			.id = "rp1", .integration = "demo", .instance = "prod",
			.flow = "rhook", .trigger = "webhook", .status = FR_STATUS_OK,
			.origin = FR_ORIGIN_SERVE, .attempt = 1, .started_at = T0 + 20,
			.finished_at = T0 + 21, .duration_ms = 1000,
			.input = "{\"body\":{\"a\":1}}", .trace = "{}",
		};
		CALL(fr_store_execution_put(s, &x, &err), "and ran");
	}
	finish(s, "rp1", "A", FR_STATUS_OK, 0);
	LIST_IS(s, &f, "rp1", "not replayed yet");

	CALL(fr_store_replay(s, "rp1", &nid, &err), "replay a webhook execution");
	ok(nid && strncmp(nid, "ex_", 3) == 0, "a new execution id: %s",
	   nid ? nid : "(null)");
	g = get_delivery(s, nid ? nid : "");
	ok(g && g->body_len == BODY1_LEN && memcmp(g->body, body1, BODY1_LEN) == 0,
	   "with the original body, exactly");
	{
		json_t *req = jload(request1);
		ok(g && json_equal(g->request, req), "and the original request");
		json_decref(req);
	}
	ok(g && g->trigger == NULL && g->dedupe_key == NULL && g->attempts == 0 &&
	   g->status == FR_STATUS_QUEUED, "queued, no trigger, no dedupe key");
	ok(g && g->origin == FR_ORIGIN_REPLAY && g->replay_of &&
	   strcmp(g->replay_of, "rp1") == 0, "origin replay, replay_of rp1");
	ok(g && strcmp(g->integration, "demo") == 0 && strcmp(g->instance, "prod") == 0 &&
	   strcmp(g->flow, "rhook") == 0, "same integration, instance and flow");
	fr_delivery_free(g);
	ok(get_exec(s, "rp1", &e) && e.replayed_as && nid &&
	   strcmp(e.replayed_as, nid) == 0, "the old execution notes its replay");
	fr_execution_finish(&e);
	LIST_IS(s, &f, nid ? nid : "?", "a replayed execution is skipped by "
		"not_replayed (its queued replay is not)");
	f = (struct fr_execution_filter){ .flow = "demo/rhook", .origin = &org };
	LIST_IS(s, &f, nid ? nid : "?", "the replay is listed, queued, by origin");
	ok(nid && get_exec(s, nid, &e) && e.status == FR_STATUS_QUEUED &&
	   e.replay_of && strcmp(e.replay_of, "rp1") == 0 &&
	   e.origin == FR_ORIGIN_REPLAY, "show of the queued replay");
	fr_execution_finish(&e);
	{
		char *got = claim_ids(s, "A", 5, 30, fr_store_now());
		is_str(got, nid, "the replay is claimed");
		free(got);
	}

	/* an execution without a delivery: its input is the trigger */
	put_exec(s, "rpm", "demo", "prod", "rmain", FR_STATUS_OK, T0 + 22,
		 "{\"n\":1,\"big\":9007199254740993}");
	CALL(fr_store_replay(s, "rpm", &nid2, &err), "replay a manual execution");
	g = get_delivery(s, nid2 ? nid2 : "");
	{
		char *t = g ? fr_json_dump(g->trigger) : NULL;
		is_str(t, "{\"n\":1,\"big\":9007199254740993}",
		       "the recorded input becomes the trigger, exactly");
		free(t);
	}
	ok(g && g->body == NULL && g->request == NULL, "no body or request");
	is_str(g ? g->flow : NULL, "rmain", "flow of the execution");
	fr_delivery_free(g);

	/* unknown */
	{
		char *none = (char *)1;
		char *before = claim_ids(s, "A", 5, 30, fr_store_now() + 1e5);
		CALL(fr_store_replay(s, "no-such-execution", &none, &err),
		     "replay of an unknown id succeeds");
		ok(none == NULL, "with no new id");
		CLAIM_IS(s, "A", 5, 30, fr_store_now(), "", "and queues nothing");
		free(before);
	}
	free(nid);
	free(nid2);
	drain(s);

	/* the executions of one delivery key and their replays */
	d = delivery("dk1", "rhook", "evt-7", NULL, 0, NULL, "{}");
	free(push1(s, d, NULL));
	fr_delivery_free(d);
	d = delivery("dk2", "rhook", "evt-8", NULL, 0, NULL, "{}");
	free(push1(s, d, NULL));
	fr_delivery_free(d);
	drain(s);
	put_exec(s, "dk1", "demo", "prod", "rhook", FR_STATUS_FAILED, T0 + 23, "{}");
	put_exec(s, "dk2", "demo", "prod", "rhook", FR_STATUS_OK, T0 + 24, "{}");
	f = (struct fr_execution_filter){ .delivery = "evt-7", .dedupe_key = "evt-7" };
	LIST_IS(s, &f, "dk1", "a delivery key finds its delivery");
	CALL(fr_store_replay(s, "dk1", &nid, &err), "replay it");
	{
		char *got = list_ids(s, &f), *want1, *want2;
		want1 = fr_xasprintf("%s,dk1", nid ? nid : "?");
		want2 = fr_xasprintf("dk1,%s", nid ? nid : "?");
		ok(strcmp(got, want1) == 0 || strcmp(got, want2) == 0,
		   "and its replay: %s", got);
		free(got);
		free(want1);
		free(want2);
	}
	f = (struct fr_execution_filter){ .delivery = "dk2" };
	LIST_IS(s, &f, "dk2", "a delivery by its own id");
	f = (struct fr_execution_filter){ .delivery = "evt-9" };
	LIST_IS(s, &f, "", "an unknown key: nothing");
	f = (struct fr_execution_filter){ .delivery = "evt-8", .flow = "other" };
	LIST_IS(s, &f, "", "with the other filters");
	free(nid);
	drain(s);
}

static void test_list_queue(struct fr_store *s)
{
	struct fr_execution_filter f = { .flow = "demo/lq" };
	enum fr_status st;
	enum fr_origin org;
	struct fr_execution e = { 0 };
	struct fr_execution *out = NULL;
	size_t n = 0;
	double now;

	drain(s);
	push_simple(s, "lq1", "lq", 0, false);
	push_simple(s, "lq2", "lq", 0, false);
	CLAIM_IS(s, "A", 1, 30, fr_store_now(), "lq1", "lq1 claimed");
	now = fr_store_now() + 5;
	put_exec(s, "lq3", "demo", "prod", "lq", FR_STATUS_OK, now, NULL);
	LIST_IS(s, &f, "lq3,lq2,lq1", "queued and running deliveries are listed");
	CALL(fr_store_execution_list(s, &f, &out, &n, &err), "list");
	ok(n == 3 && out[1].status == FR_STATUS_QUEUED &&
	   out[2].status == FR_STATUS_RUNNING && out[2].attempt == 1 &&
	   out[1].origin == FR_ORIGIN_SERVE && out[0].origin == FR_ORIGIN_RUN,
	   "with their status, attempt and origin");
	ok(n == 3 && out[1].finished_at == 0 && out[1].error == NULL &&
	   strcmp(out[1].flow, "lq") == 0 && strcmp(out[1].instance, "prod") == 0,
	   "and their flow");
	fr_executions_free(out, n);
	st = FR_STATUS_QUEUED;
	f.status = &st;
	LIST_IS(s, &f, "lq2", "status queued");
	st = FR_STATUS_RUNNING;
	LIST_IS(s, &f, "lq1", "status running");
	f.status = NULL;
	org = FR_ORIGIN_SERVE;
	f.origin = &org;
	LIST_IS(s, &f, "lq2,lq1", "origin serve");
	f.origin = NULL;
	f.id_prefix = "lq2";
	LIST_IS(s, &f, "lq2", "id prefix of a queued one");
	f.id_prefix = NULL;
	f.instance = "staging";
	LIST_IS(s, &f, "", "instance");
	f.instance = NULL;
	f.since = now;
	LIST_IS(s, &f, "lq3", "since");
	ok(get_exec(s, "lq2", &e) && e.status == FR_STATUS_QUEUED &&
	   strcmp(e.flow, "lq") == 0, "show of a queued delivery");
	fr_execution_finish(&e);

	/* the retry's record is what runs and show see */
	finish(s, "lq1", "A", FR_STATUS_RETRYING, fr_store_now() + 100);
	{
		struct fr_execution x = {
			.id = "lq1", .integration = "demo", .instance = "prod",
			.flow = "lq", .trigger = "webhook", .status = FR_STATUS_RETRYING,
			.origin = FR_ORIGIN_SERVE, .attempt = 1,
			.started_at = now + 1, .finished_at = now + 2,
			.duration_ms = 1000, .error = "HTTP 500",
		};
		CALL(fr_store_execution_put(s, &x, &err), "lq1's first attempt recorded");
	}
	st = FR_STATUS_RETRYING;
	f = (struct fr_execution_filter){ .flow = "demo/lq", .status = &st };
	LIST_IS(s, &f, "lq1", "status retrying");
	f = (struct fr_execution_filter){ .flow = "demo/lq" };
	LIST_IS(s, &f, "lq1,lq3,lq2", "listed once, by its record");
	drain(s);
}

/* Records a finished (or retrying) execution with input and trace. */
static void put_ended(struct fr_store *s, const char *id, enum fr_status status,
		      enum fr_origin origin, double finished)
{
	struct fr_execution x = {
		.id = (char *)id, .integration = "demo", .instance = "prod",
		.flow = "prune", .trigger = "webhook", .status = status,
		.origin = origin, .attempt = 1, .started_at = finished - 1,
		.finished_at = finished, .duration_ms = 1000,
		.input = "{\"body\":{\"secret-ish\":1}}", .trace = "{\"steps\":[]}",
	};
	char *name = fr_xasprintf("record %s", id);

	CALL(fr_store_execution_put(s, &x, &err), name);
	free(name);
}

static bool has_data(struct fr_store *s, const char *id)
{
	struct fr_execution e = { 0 };
	bool yes = get_exec(s, id, &e) && (e.input || e.trace);

	fr_execution_finish(&e);
	return yes;
}

static void test_prune(struct fr_store *s)
{
	double now = fr_store_now(), old = now - 3600;
	struct fr_prune_result pr = { 0 };
	struct fr_store_stats stats = { 0 };
	struct fr_execution e = { 0 };
	struct fr_delivery *d, *g;
	struct fr_execution_filter f = { .flow = "demo/prune" };
	const char *ids[] = { "pru1", "pru2", "pru3" };

	drain(s);
	CALL(fr_store_prune(s, old - 60, &pr, &err), "prune what earlier tests left");
	for (size_t i = 0; i < 3; i++) {
		d = delivery(ids[i], "prune", i == 0 ? "key-1" : NULL, body1,
			     BODY1_LEN, request1, NULL);
		free(push1(s, d, NULL));
		fr_delivery_free(d);
	}
	CLAIM_IS(s, "A", 3, 30, fr_store_now(), "pru1,pru2,pru3", "claimed");
	put_ended(s, "pru1", FR_STATUS_OK, FR_ORIGIN_SERVE, old);
	finish(s, "pru1", "A", FR_STATUS_OK, 0);
	put_ended(s, "pru2", FR_STATUS_FAILED, FR_ORIGIN_SERVE, now);
	finish(s, "pru2", "A", FR_STATUS_FAILED, 0);
	put_ended(s, "pru3", FR_STATUS_RETRYING, FR_ORIGIN_SERVE, old - 10);
	finish(s, "pru3", "A", FR_STATUS_RETRYING, now + 1e6);
	push_simple(s, "pru4", "prune", 0, false);	/* queued */
	put_ended(s, "pru5", FR_STATUS_FAILED, FR_ORIGIN_RUN, old - 20);
	CALL(fr_store_stats(s, &stats, &err), "stats");
	ok(stats.bytes > 0, "the store has a size: %lld", stats.bytes);
	ok(stats.oldest > 0 && stats.oldest <= old, "the oldest data is from "
	   "the old executions: %.0f", stats.oldest - old);

	CALL(fr_store_prune(s, now - 60, &pr, &err), "prune before a minute ago");
	ok(pr.executions == 2 && pr.deliveries == 1, "two executions, one "
	   "delivery: %lld, %lld", pr.executions, pr.deliveries);
	ok(!has_data(s, "pru1") && !has_data(s, "pru5"), "the old ended ones "
	   "lost input and trace");
	ok(get_exec(s, "pru1", &e) && e.status == FR_STATUS_OK &&
	   e.finished_at == old && strcmp(e.flow, "prune") == 0, "the row stays");
	fr_execution_finish(&e);
	g = get_delivery(s, "pru1");
	ok(g && g->body == NULL && g->request == NULL, "its delivery lost "
	   "request and body");
	fr_delivery_free(g);
	ok(has_data(s, "pru2"), "a recent one keeps its data");
	ok(has_data(s, "pru3"), "a retrying one keeps its data");
	g = get_delivery(s, "pru3");
	ok(g && g->body_len == BODY1_LEN, "and its delivery its body");
	fr_delivery_free(g);
	g = get_delivery(s, "pru4");
	ok(g && g->status == FR_STATUS_QUEUED && g->trigger, "a queued one "
	   "keeps its trigger");
	fr_delivery_free(g);
	LIST_IS(s, &f, "pru4,pru2,pru1,pru3,pru5", "every row is still listed");
	d = delivery("pru6", "prune", "key-1", body1, BODY1_LEN, request1, NULL);
	{
		char *dup = push1(s, d, NULL);
		is_str(dup, "pru1", "its dedupe key still holds");
		free(dup);
	}
	fr_delivery_free(d);
	CALL(fr_store_prune(s, now - 60, &pr, &err), "prune again");
	ok(pr.executions == 0 && pr.deliveries == 0, "nothing more to remove");
	CALL(fr_store_stats(s, &stats, &err), "stats after");
	ok(stats.oldest > 0 && stats.oldest <= old - 11 + 0.01, "the retrying "
	   "one still counts as data: %.1f", stats.oldest - old);
	drain(s);
}

/* "HOST BOOT-ID" as the store writes it for this machine. */
static void this_machine(char *out, size_t n)
{
	char host[256] = "-", boot[64] = "-";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			strcpy(boot, "-");
		fclose(f);
	}
	boot[strcspn(boot, "\n ")] = '\0';
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "-");
	snprintf(out, n, "%s %s", host, boot);
}

static void test_reap(struct fr_store *s)
{
	char me[400], runner[512];
	struct fr_execution e = { 0 };
	double now = fr_store_now();
	long long n = -1;

	this_machine(me, sizeof(me));
	put_exec(s, "rr1", "demo", "prod", "reap", FR_STATUS_RUNNING, now, "{}");
	put_exec(s, "rr2", "demo", "prod", "reap", FR_STATUS_RUNNING, now, "{}");
	put_exec(s, "rr3", "demo", "prod", "reap", FR_STATUS_RUNNING, now, "{}");
	put_exec(s, "rr4", "demo", "prod", "reap", FR_STATUS_RUNNING, now, "{}");
	CALL(fr_store_reap(s, &n, &err), "reap while the runs' process lives");
	ok(n == 0, "nothing interrupted: %lld", n);
	snprintf(runner, sizeof(runner), "%s 2147483000 5", me);
	CALL(s->ops->set_runner(s, "rr2", runner, &err), "rr2: a dead process");
	CALL(s->ops->set_runner(s, "rr3", "elsewhere.example boot 1 1", &err),
	     "rr3: another host");
	snprintf(runner, sizeof(runner), "%.*s another-boot 1 1",
		 (int)strcspn(me, " "), me);
	CALL(s->ops->set_runner(s, "rr4", runner, &err), "rr4: an earlier boot");
	CALL(fr_store_reap(s, &n, &err), "reap");
	ok(n == 2, "two interrupted: %lld", n);
	ok(get_exec(s, "rr1", &e) && e.status == FR_STATUS_RUNNING, "a live one "
	   "stays running");
	fr_execution_finish(&e);
	ok(get_exec(s, "rr2", &e) && e.status == FR_STATUS_INTERRUPTED &&
	   e.error && strstr(e.error, "pid 2147483000"), "a dead one is "
	   "interrupted, with its pid: %s", e.error ? e.error : "(null)");
	fr_execution_finish(&e);
	ok(get_exec(s, "rr3", &e) && e.status == FR_STATUS_RUNNING, "another "
	   "host's is left alone");
	fr_execution_finish(&e);
	ok(get_exec(s, "rr4", &e) && e.status == FR_STATUS_INTERRUPTED,
	   "one from an earlier boot is interrupted");
	fr_execution_finish(&e);
	{
		enum fr_status st = FR_STATUS_INTERRUPTED;
		struct fr_execution_filter f = { .flow = "demo/reap", .status = &st };
		LIST_IS(s, &f, "rr4,rr2", "listed by status interrupted");
	}
	CALL(fr_store_reap(s, &n, &err), "reap again");
	ok(n == 0, "nothing more");
}

static void test_transactions(struct fr_store *s)
{
	json_t *out = NULL, *v = json_string("tx");
	struct fr_delivery *d = delivery("dl-tx", "txhook", "ktx", NULL, 0, NULL, "1");
	struct fr_execution e = { 0 };
	char *dup = NULL;

	drain(s);
	CALL(fr_store_begin(s, FR_DURABLE, &err), "begin");
	CALL(fr_store_state_set(s, "tx", "prod", "rolled", v, &err), "state_set in a transaction");
	put_exec(s, "ex-rolled", "tx", "prod", "main", FR_STATUS_RUNNING, T0 + 30, NULL);
	CALL(fr_store_push(s, &d, 1, NULL, &dup, &err), "push in a transaction");
	fr_store_rollback(s);
	CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state after rollback");
	ok(json_object_size(out) == 0, "rolled back state is absent");
	json_decref(out);
	ok(!get_exec(s, "ex-rolled", &e), "rolled back execution is absent");
	fr_execution_finish(&e);
	{
		struct fr_delivery *g = (struct fr_delivery *)1;
		CALL(fr_store_delivery_get(s, "dl-tx", &g, &err), "delivery after rollback");
		ok(g == NULL, "rolled back delivery is absent");
	}

	CALL(fr_store_begin(s, FR_LAZY, &err), "begin again (lazy)");
	CALL(fr_store_state_set(s, "tx", "prod", "kept", v, &err), "state_set");
	put_exec(s, "ex-kept", "tx", "prod", "main", FR_STATUS_OK, T0 + 31, "{}");
	CALL(fr_store_push(s, &d, 1, NULL, &dup, &err), "push");
	ok(dup == NULL, "no duplicate of a rolled back delivery");
	CALL(fr_store_notify(s, &err), "notify in a transaction");
	CALL(fr_store_commit(s, &err), "commit");
	CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state after commit");
	ok(json_object_size(out) == 1 && json_object_get(out, "kept"), "committed state present");
	json_decref(out);
	ok(get_exec(s, "ex-kept", &e), "committed execution present");
	fr_execution_finish(&e);
	{
		struct fr_delivery *g = get_delivery(s, "dl-tx");
		ok(g != NULL, "committed delivery present");
		fr_delivery_free(g);
	}
	{
		char *err = NULL;
		ok(fr_store_commit(s, &err) < 0 && err, "commit without begin fails");
		free(err);
	}

	/* replay and update inside a transaction */
	{
		char *nid = NULL, *err = NULL;
		int rc, one = 1;

		CALL(fr_store_begin(s, FR_DURABLE, &err), "begin before a replay");
		CALL(fr_store_state_set(s, "tx", "prod", "with-replay", v, &err), "state_set");
		CALL(fr_store_state_update(s, "tx", "prod", "n", add_fn, &one, NULL, &err),
		     "state_update in a transaction");
		rc = fr_store_replay(s, "ex-kept", &nid, &err);
		ok(rc == 0 && nid, "replay inside begin/commit works (%s)",
		   err ? err : "no error");
		free(err);
		err = NULL;
		rc = fr_store_commit(s, &err);
		free(err);
		CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state");
		ok(rc == 0 && json_object_get(out, "with-replay") != NULL &&
		   json_integer_value(json_object_get(out, "n")) == 1,
		   "the transaction's writes survive a replay");
		json_decref(out);
		free(nid);
	}
	{
		bool woken = true;
		CALL(fr_store_wait(s, 0.01, &woken, &err), "wait");
	}
	json_decref(v);
	fr_delivery_free(d);
	drain(s);
}

/* Every test of the interface, on the store at url. */
static void suite(const char *name, const char *url)
{
	struct fr_store *s, *s2;

	tap_prefix = name;
	url_now = url;
	printf("# %s: %s\n", name, url);
	s = open_store(url);
	ok(s != NULL, "open");
	if (!s)
		goto out;
	CALL(fr_store_check(s, &err), "check of a new store");
	ok(s->backend && strcmp(s->backend, name) == 0, "backend %s",
	   s->backend ? s->backend : "(null)");
	CALL(fr_store_maintain(s, false, &err), "maintain");
	test_executions(s);
	test_default_limit(s);
	test_state(s);
	test_state_list(s);
	test_deployments(s);
	test_deliveries(s);
	test_claims(s);
	test_replay(s);
	test_list_queue(s);
	test_prune(s);
	test_reap(s);
	test_transactions(s);
	s2 = open_store(url);
	ok(s2 != NULL, "a second handle opens");
	if (s2) {
		struct fr_execution_filter f = { .flow = "demo/sync" };
		LIST_IS(s2, &f, "ex2", "the second handle reads what the first wrote");
		test_lease_takeover(s, s2);
		test_bounded(s, s2);
		test_dedupe(s, s2);
		fr_store_close(s2);
	}
	test_claim_race(s);
	test_counter(s);
	CALL(fr_store_check(s, &err), "check after all that");
	fr_store_close(s);
	s = open_store(url);
	if (s) {
		enum fr_status st = FR_STATUS_RUNNING;
		struct fr_execution_filter f = { .status = &st, .flow = "sync" };
		LIST_IS(s, &f, "ex2", "data survives closing");
	}
	fr_store_close(s);
out:
	tap_prefix = NULL;
}

static int user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *journal_mode(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *mode = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		mode = fr_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return mode ? mode : fr_xstrdup("(unknown)");
}

static int set_user_version(const char *path, int v)
{
	sqlite3 *db = NULL;
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	rc = sqlite3_open(path, &db) == SQLITE_OK &&
	     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	sqlite3_close(db);
	return rc;
}

static void remove_db(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };

	for (size_t i = 0; i < FR_ARRAY_LEN(suffix); i++) {
		char *p = fr_xasprintf("%s%s", path, suffix[i]);
		remove(p);
		free(p);
	}
}

static void sqlite_half(void)
{
	char *path = fr_xasprintf("%s/sub/dir/flowrun.db", dir);
	char *url = fr_xasprintf("sqlite:%s", path);
	struct fr_store *s = NULL;
	char *err = NULL;
	int version;

	tap_prefix = "sqlite";
	ok(!fr_store_exists(url), "no store before opening");
	CALL(fr_store_open(&s, url, &err), "open creates the store and its directories");
	ok(fr_store_exists(url) && fr_store_exists(path),
	   "the store exists (by URL and by bare path)");
	is_str(s ? s->url : NULL, url, "the handle keeps its URL");
	fr_store_close(s);
	s = NULL;
	version = user_version(path);
	ok(version >= 3, "migrated: user_version %d", version);
	{
		char *mode = journal_mode(path);
		is_str(mode, "wal", "WAL mode");
		free(mode);
	}

	suite("sqlite", url);
	tap_prefix = "sqlite";
	is_int(user_version(path), version, "reopening keeps the schema version");

	/* errors */
	ok(fr_store_open(&s, "mysql://user@db/flowrun", &err) < 0 && s == NULL,
	   "an unsupported scheme is refused");
	ok(err && strstr(err, "unsupported store 'mysql://user@db/flowrun'"),
	   "and named: %s", err ? err : "(null)");
	free(err);
	err = NULL;
	ok(fr_store_exists("mysql://user@db/flowrun"),
	   "an unsupported store counts as existing, so that opening it says why");
	ok(fr_store_exists("sqlite::memory:"), "so does one that keeps nothing");
	ok(fr_store_open(&s, "sqlite:", &err) < 0 && s == NULL, "sqlite: with no path fails");
	ok(err && strstr(err, "names no file"), "and says so: %s", err ? err : "(null)");
	free(err);
	err = NULL;
	{
		char *file = fr_xasprintf("%s/plainfile", dir);
		char *under = fr_xasprintf("%s/plainfile/x.db", dir);
		FILE *fh = fopen(file, "w");
		if (fh)
			fclose(fh);
		ok(fr_store_open(&s, under, &err) < 0 && s == NULL,
		   "a store under a plain file fails");
		ok(err && strstr(err, under), "naming the store: %s", err ? err : "(null)");
		free(err);
		err = NULL;
		remove(file);
		free(file);
		free(under);
	}
	{
		char *newer = fr_xasprintf("%s/newer.db", dir);
		char *want;
		ok(set_user_version(newer, 99) == 0, "a store from a newer flowrun made");
		want = fr_xasprintf("store %s has schema version 99, newer than this "
				    "flowrun knows (%d); upgrade flowrun", newer, version);
		ok(fr_store_open(&s, newer, &err) < 0 && s == NULL, "a newer store is refused");
		ok(err && strstr(err, "schema version 99, newer than this flowrun knows"),
		   "with the newer-version message: %s", err ? err : "(null)");
		is_int(user_version(newer), 99, "its version left alone");
		{
			char *mode = journal_mode(newer);
			ok(strcmp(mode, "delete") == 0,
				"and its journal mode too (got %s)", mode);
			free(mode);
		}
		free(err);
		err = NULL;
		free(want);
		remove_db(newer);
		free(newer);
	}
	remove_db(path);
	{
		char *p = fr_xasprintf("%s/sub/dir", dir);
		rmdir(p);
		free(p);
		p = fr_xasprintf("%s/sub", dir);
		rmdir(p);
		free(p);
	}
	free(path);
	free(url);
	tap_prefix = NULL;
}

/* url with its database name replaced by db (caller frees). */
static char *with_database(const char *url, const char *db)
{
	const char *host = strstr(url, "://") + 3;
	const char *slash = strchr(host, '/');
	const char *query = strchr(host, '?');
	size_t head = slash ? (size_t)(slash - url)
			    : query ? (size_t)(query - url) : strlen(url);

	return fr_xasprintf("%.*s/%s%s", (int)head, url, db, query ? query : "");
}

/* Runs sql on the database at url (the test's own admin connection). */
static int admin(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = NULL;
	int rc = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK)
			rc = 0;
		else
			printf("# %s: %s", sql, PQerrorMessage(c));
	} else {
		printf("# cannot connect for %s: %s", sql, PQerrorMessage(c));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* A new, empty database; its URL (caller frees) or NULL. */
static char *new_database(const char *base, const char *name)
{
	char *sql = fr_xasprintf("CREATE DATABASE %s", name);
	int rc = admin(base, sql);

	free(sql);
	return rc == 0 ? with_database(base, name) : NULL;
}

static void drop_database(const char *base, const char *name)
{
	char *sql = fr_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);

	admin(base, sql);
	free(sql);
}

struct opener {
	const char *url;
	pthread_barrier_t *start;
	char *err;
};

static void *opener_run(void *arg)
{
	struct opener *o = arg;
	struct fr_store *s = NULL;

	pthread_barrier_wait(o->start);
	fr_store_open(&s, o->url, &o->err);
	fr_store_close(s);
	return NULL;
}

static void pg_own(const char *base, const char *tag)
{
	char name[64], *url;
	struct fr_store *s = NULL;
	char *err = NULL;

	/* several processes start at once: one migrates, all open */
	snprintf(name, sizeof(name), "fr_test_%s_many", tag);
	if ((url = new_database(base, name))) {
		struct opener o[6];
		pthread_t th[6];
		pthread_barrier_t start;
		int good = 0;

		pthread_barrier_init(&start, NULL, 6);
		for (int i = 0; i < 6; i++) {
			o[i] = (struct opener){ .url = url, .start = &start };
			pthread_create(&th[i], NULL, opener_run, &o[i]);
		}
		for (int i = 0; i < 6; i++) {
			pthread_join(th[i], NULL);
			if (o[i].err)
				printf("# opener %d: %s\n", i, o[i].err);
			good += o[i].err == NULL;
			free(o[i].err);
		}
		pthread_barrier_destroy(&start);
		is_int(good, 6, "six handles opening a new database at once all open");
		ok(admin(url, "DO $$ BEGIN IF (SELECT count(*) FROM flowrun_schema) "
			 "<> 1 THEN RAISE 'not one version row'; END IF; END $$") == 0,
		   "the schema was migrated once (one version row)");
		/* a newer schema is refused, and left alone */
		ok(admin(url, "UPDATE flowrun_schema SET version = 99") == 0,
		   "the schema made newer");
		ok(fr_store_open(&s, url, &err) < 0 && s == NULL, "a newer schema is refused");
		ok(err && strstr(err, "has schema version 99, newer than this flowrun "
				 "knows") && strstr(err, "upgrade flowrun"),
		   "with the newer-version message: %s", err ? err : "(null)");
		free(err);
		err = NULL;
		ok(admin(url, "DO $$ BEGIN IF (SELECT version FROM flowrun_schema) "
			 "<> 99 THEN RAISE 'changed'; END IF; END $$") == 0,
		   "its version left alone");
		free(url);
		drop_database(base, name);
	} else {
		ok(0, "cannot make a database for the migration tests");
	}

	/* the password never shows */
	{
		static const char *const bad[] = {
			"postgresql://flowrun:s3cr%21tPW@127.0.0.1:1/flowrun",
			"postgresql://flowrun:s3cr!tPW@127.0.0.1:1/flowrun?connect_timeout=5",
			"postgres://flowrun@127.0.0.1:1/flowrun?password=s3cr!tPW",
			"postgresql://flowrun:s3cr!tPW@127.0.0.1:notaport/flowrun",
			"postgresql://flowrun:s3cr!tPW@127.0.0.1:1/flowrun?sslmode=s3cr!tPW",
		};
		for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
			err = NULL;
			ok(fr_store_open(&s, bad[i], &err) < 0 && s == NULL && err,
			   "a server that is not there: an error (%zu)", i);
			ok(err && !strstr(err, "s3cr") && strstr(err, "***"),
			   "the password is not in it: %s", err ? err : "(null)");
			free(err);
		}
		char *shown = fr_store_url_redacted(bad[0]);
		is_str(shown, "postgresql://flowrun:***@127.0.0.1:1/flowrun",
		       "the URL shown hides the password");
		free(shown);
	}

	/* a lost connection: an error, then the handle recovers by itself */
	snprintf(name, sizeof(name), "fr_test_%s_lost", tag);
	if ((url = new_database(base, name))) {
		char *kill = fr_xasprintf("SELECT pg_terminate_backend(pid) FROM "
					  "pg_stat_activity WHERE datname = '%s' AND "
					  "pid <> pg_backend_pid()", name);
		json_t *v = json_integer(5), *out = NULL;
		bool woken = false;

		/* the test server trusts every password: one is given, to be hidden */
		const char *at = strchr(strstr(url, "://") + 3, '@');
		char *secret = at ? fr_xasprintf("%.*s:pw-s3cr3t%s", (int)(at - url),
						 url, at) : fr_xstrdup(url);
		char *shown = at ? fr_xasprintf("%.*s:***%s", (int)(at - url), url, at)
				 : fr_xstrdup(url);

		s = open_store(secret);
		is_str(s ? s->url : NULL, shown, "open with a password: the URL hides it");
		free(secret);
		free(shown);
		if (s) {
			CALL(fr_store_state_set(s, "lost", "prod", "k", v, &err), "write");
			ok(admin(base, kill) == 0, "the server drops the connection");
			ok(fr_store_check(s, &err) < 0 && err, "the next call fails");
			ok(err && strstr(err, "connection") && !strstr(err, "s3cr3t"),
			   "saying so, without the password: %s", err ? err : "(null)");
			free(err);
			err = NULL;
			CALL(fr_store_check(s, &err), "the one after reconnects");
			CALL(fr_store_state_get(s, "lost", "prod", &out, &err),
			     "and reads");
			ok(json_integer_value(json_object_get(out, "k")) == 5,
			   "what was written before");
			json_decref(out);

			/* lost inside a transaction: the transaction fails */
			CALL(fr_store_begin(s, FR_DURABLE, &err), "begin");
			CALL(fr_store_state_set(s, "lost", "prod", "k2", v, &err), "write");
			ok(admin(base, kill) == 0, "the server drops the connection");
			ok(fr_store_state_set(s, "lost", "prod", "k3", v, &err) < 0,
			   "a write in the lost transaction fails");
			free(err);
			err = NULL;
			ok(fr_store_commit(s, &err) < 0 && err, "so does its commit");
			free(err);
			err = NULL;
			CALL(fr_store_state_get(s, "lost", "prod", &out, &err),
			     "then the handle works again");
			ok(json_object_size(out) == 1, "nothing of the lost transaction "
			   "was kept");
			json_decref(out);

			/* notifications: LISTEN again after a lost connection */
			CALL(fr_store_wait(s, 0, &woken, &err), "listen");
			ok(admin(base, kill) == 0, "the server drops the connection");
			ok(fr_store_wait(s, 5, &woken, &err) < 0, "wait fails");
			free(err);
			err = NULL;
			CALL(fr_store_wait(s, 0, &woken, &err), "then listens again");
			ok(admin(url, "NOTIFY flowrun_queue") == 0, "a notify");
			CALL(fr_store_wait(s, 10, &woken, &err), "wait");
			ok(woken, "is heard after reconnecting");
		}
		json_decref(v);
		fr_store_close(s);
		s = NULL;
		free(kill);
		free(url);
		drop_database(base, name);
	} else {
		ok(0, "cannot make a database for the lost-connection tests");
	}
}

/* LISTEN/NOTIFY between two handles. */
static void pg_notify_test(const char *url)
{
	struct fr_store *a = open_store(url), *b = open_store(url);
	bool woken = true;
	double t;

	if (!a || !b) {
		ok(0, "two handles for notify");
		goto out;
	}
	CALL(fr_store_wait(a, 0, &woken, &err), "A listens");
	t = fr_store_now();
	CALL(fr_store_wait(a, 0.2, &woken, &err), "A waits");
	ok(!woken && fr_store_now() - t >= 0.19, "nothing came: it waited the time");
	CALL(fr_store_notify(b, &err), "B notifies");
	CALL(fr_store_wait(a, 10, &woken, &err), "A waits");
	ok(woken, "and is woken");
	CALL(fr_store_begin(b, FR_DURABLE, &err), "B begins");
	CALL(fr_store_notify(b, &err), "B notifies in its transaction");
	CALL(fr_store_wait(a, 0.2, &woken, &err), "A waits");
	ok(!woken, "not before the commit");
	CALL(fr_store_commit(b, &err), "B commits");
	t = fr_store_now();
	CALL(fr_store_wait(a, 10, &woken, &err), "A waits");
	ok(woken && fr_store_now() - t < 5, "woken by the commit");
out:
	fr_store_close(a);
	fr_store_close(b);
}

static void pg_half(void)
{
	const char *base = getenv("FLOWRUN_TEST_PG");
	char name[64], tag[32], *url;

	tap_prefix = "postgresql";
	if (!base || !*base) {
		const char *why = getenv("FLOWRUN_TEST_PG_ERROR");
		ok(0, "PostgreSQL tests: %s", why ? why : "FLOWRUN_TEST_PG is not "
		   "set (run through tests/pgserver.py -- CMD, or set it to a "
		   "server's URL)");
		tap_prefix = NULL;
		return;
	}
	snprintf(tag, sizeof(tag), "%ld_%d", (long)getpid(),
		 (int)((long long)(fr_store_now() * 1000) % 100000));
	snprintf(name, sizeof(name), "fr_test_%s", tag);
	url = new_database(base, name);
	ok(url != NULL, "a database of its own: %s", name);
	if (url) {
		suite("postgresql", url);
		tap_prefix = "postgresql";
		pg_notify_test(url);
		free(url);
		drop_database(base, name);
	}
	pg_own(base, tag);
	tap_prefix = NULL;
}

int main(void)
{
	T0 = fr_store_now() - 1e5;
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	sqlite_half();
	pg_half();
	rmdir(dir);
	return done_testing();
}
