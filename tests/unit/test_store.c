/* store: the SQLite backend through the fr_store_* interface */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "store.h"
#include "tap.h"
#include "util.h"


static char dir[] = "/tmp/fr-store-test-XXXXXX";

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

/* "id,id,..." of a list of summaries (caller frees). */
static char *ids_of(const json_t *list)
{
	struct fr_buf b;
	size_t i;
	json_t *row;

	fr_buf_init(&b);
	json_array_foreach(list, i, row)
		fr_buf_printf(&b, "%s%s", i ? "," : "",
			      json_string_value(json_object_get(row, "id")));
	return fr_buf_steal(&b);
}

/* ids of the executions matching f, newest first */
static char *list_ids(struct fr_store *s, const struct fr_execution_filter *f)
{
	json_t *out = NULL;
	char *err = NULL, *ids;

	if (fr_store_execution_list(s, f, &out, &err) < 0) {
		ids = fr_xasprintf("error: %s", err);
		free(err);
		return ids;
	}
	ids = ids_of(out);
	json_decref(out);
	return ids;
}

#define LIST_IS(s, f, want, ...)                                             \
	do {                                                                 \
		char *l_ = list_ids(s, f);                                   \
		is_str(l_, want, __VA_ARGS__);                               \
		free(l_);                                                    \
	} while (0)

/* The queued deliveries after seq, as "id,id" */
static char *pending_ids(struct fr_store *s, long long after)
{
	json_t *out = NULL;
	char *err = NULL, *ids;

	if (fr_store_delivery_pending(s, after, &out, &err) < 0) {
		ids = fr_xasprintf("error: %s", err);
		free(err);
		return ids;
	}
	ids = ids_of(out);
	json_decref(out);
	return ids;
}

#define PENDING_IS(s, after, want, ...)                                      \
	do {                                                                 \
		char *p_ = pending_ids(s, after);                            \
		is_str(p_, want, __VA_ARGS__);                               \
		free(p_);                                                    \
	} while (0)

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

/* PRAGMA journal_mode of the file at path (caller frees). */
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

static json_t *exec_obj(const char *id, const char *integration,
			const char *instance, const char *flow,
			const char *status, const char *input)
{
	json_t *e = json_pack("{ss ss ss ss ss}", "id", id,
			      "integration", integration, "instance", instance,
			      "flow", flow, "trigger", "manual");

	if (status)
		json_object_set_new(e, "status", json_string(status));
	if (input)
		json_object_set_new(e, "input", jload(input));
	return e;
}

static void begin_exec(struct fr_store *s, const char *id,
		       const char *integration, const char *instance,
		       const char *flow, const char *status, const char *input)
{
	json_t *e = exec_obj(id, integration, instance, flow, status, input);
	char *name = fr_xasprintf("execution_begin %s", id);

	CALL(fr_store_execution_begin(s, e, &err), name);
	free(name);
	json_decref(e);
}

static void finish_exec(struct fr_store *s, const char *id, const char *trace)
{
	json_t *t = jload(trace);
	char *name = fr_xasprintf("execution_finish %s", id);

	CALL(fr_store_execution_finish(s, id, t, &err), name);
	free(name);
	json_decref(t);
}

static json_t *get_exec(struct fr_store *s, const char *id)
{
	json_t *out = NULL;
	char *err = NULL;

	if (fr_store_execution_get(s, id, &out, &err) < 0) {
		printf("# execution_get %s: %s\n", id, err);
		free(err);
	}
	return out;
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(none)";
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
	d->seq = -1;
	return d;
}

static const char body1[] = "{\"a\":1}\0after-nul\0\xff\xfe end";
#define BODY1_LEN (sizeof(body1) - 1)
static const char request1[] =
	"{\"method\":\"POST\",\"path\":\"/hooks/x\",\"query\":{\"q\":\"1\"},"
	"\"headers\":{\"content-type\":\"application/json\"}}";

/* execution_put as serve calls it: the summary in x, the texts aside. */
static int put(struct fr_store *s, json_t *x, const json_t *t, char **err)
{
	char *input = json_dumps(json_object_get(x, "input"), JSON_ENCODE_ANY);
	char *trace = json_dumps(t, JSON_ENCODE_ANY);
	int rc;

	json_object_set(x, "status", json_object_get(t, "status"));
	json_object_set_new(x, "error", json_object_get(t, "error")
			    ? json_incref(json_object_get(t, "error")) : json_null());
	json_object_set(x, "duration_ms", json_object_get(t, "duration_ms"));
	json_object_set_new(x, "attempt", json_integer(1));
	rc = fr_store_execution_put(s, x, input, trace, err);
	free(input);
	free(trace);
	return rc;
}

static void test_executions(struct fr_store *s)
{
	struct fr_execution_filter f;
	json_t *e;

	begin_exec(s, "ex1", "demo", "prod", "main", NULL, "{\"n\":1,\"big\":9007199254740993}");
	begin_exec(s, "ex2", "demo", "prod", "sync", NULL, "[1,\"two\"]");
	begin_exec(s, "ex3", "other", "prod", "main", NULL, NULL);
	begin_exec(s, "ex4", "demo", "staging", "main", NULL, "\"text input\"");
	begin_exec(s, "ex5", "demo", "prod", "main", "queued", "null");

	e = get_exec(s, "ex1");
	ok(e != NULL, "a begun execution can be read");
	is_str(str_of(e, "status"), "running", "status defaults to running");
	ok(json_is_null(json_object_get(e, "finished_at")) &&
	   json_is_null(json_object_get(e, "error")) &&
	   json_is_null(json_object_get(e, "trace")), "not finished yet");
	ok(json_is_real(json_object_get(e, "started_at")) &&
	   json_real_value(json_object_get(e, "started_at")) > 1e9,
	   "started_at is wall-clock seconds");
	json_decref(e);

	finish_exec(s, "ex1", "{\"status\":\"ok\",\"duration_ms\":12.5,\"steps\":"
		    "[{\"id\":\"a\",\"output\":{\"x\":[1,2.5,null,true]}}]}");
	finish_exec(s, "ex2", "{\"status\":\"failed\",\"error\":\"boom: it broke\","
		    "\"duration_ms\":3}");
	finish_exec(s, "ex4", "{\"status\":\"ok\",\"duration_ms\":1}");

	e = get_exec(s, "ex1");
	{
		json_t *in = jload("{\"n\":1,\"big\":9007199254740993}");
		json_t *tr = jload("{\"status\":\"ok\",\"duration_ms\":12.5,\"steps\":"
				   "[{\"id\":\"a\",\"output\":{\"x\":[1,2.5,null,true]}}]}");
		ok(json_equal(json_object_get(e, "input"), in), "input round trips exactly");
		ok(json_equal(json_object_get(e, "trace"), tr), "trace round trips exactly");
		json_decref(in);
		json_decref(tr);
	}
	is_str(str_of(e, "status"), "ok", "finish sets the status from the trace");
	is_str(str_of(e, "id"), "ex1", "id");
	is_str(str_of(e, "integration"), "demo", "integration");
	is_str(str_of(e, "instance"), "prod", "instance");
	is_str(str_of(e, "flow"), "main", "flow");
	is_str(str_of(e, "trigger"), "manual", "trigger");
	ok(json_number_value(json_object_get(e, "duration_ms")) == 12.5, "duration_ms");
	ok(json_number_value(json_object_get(e, "finished_at")) >=
	   json_number_value(json_object_get(e, "started_at")), "finished after started");
	json_decref(e);
	e = get_exec(s, "ex2");
	is_str(str_of(e, "status"), "failed", "failed status");
	is_str(str_of(e, "error"), "boom: it broke", "error recorded");
	{
		json_t *in = jload("[1,\"two\"]");
		ok(json_equal(json_object_get(e, "input"), in), "array input");
		json_decref(in);
	}
	json_decref(e);
	e = get_exec(s, "ex4");
	is_str(json_string_value(json_object_get(e, "input")), "text input", "string input");
	json_decref(e);
	e = get_exec(s, "ex3");
	ok(e && json_is_null(json_object_get(e, "input")), "no input: null");
	json_decref(e);
	{
		json_t *out = (json_t *)1;
		CALL(fr_store_execution_get(s, "nope", &out, &err), "get of an unknown id succeeds");
		ok(out == NULL, "and gives NULL");
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
	f = (struct fr_execution_filter){ .status = "failed" };
	LIST_IS(s, &f, "ex2", "status failed");
	f = (struct fr_execution_filter){ .status = "queued" };
	LIST_IS(s, &f, "ex5", "status queued (given at begin)");
	f = (struct fr_execution_filter){ .status = "running" };
	LIST_IS(s, &f, "ex3", "status running");
	f = (struct fr_execution_filter){ .limit = 2 };
	LIST_IS(s, &f, "ex5,ex4", "limit");
	f = (struct fr_execution_filter){ .flow = "main", .instance = "prod",
					  .status = "ok" };
	LIST_IS(s, &f, "ex1", "filters combined");
	{
		json_t *out = NULL;
		CALL(fr_store_execution_list(s, NULL, &out, &err), "list");
		json_t *row = json_array_get(out, 4);
		ok(row && json_object_get(row, "input") == NULL &&
		   json_object_get(row, "trace") == NULL, "summaries carry no input or trace");
		ok(json_number_value(json_object_get(row, "duration_ms")) == 12.5 &&
		   strcmp(str_of(row, "status"), "ok") == 0, "summary fields");
		json_decref(out);
	}

	/* begin again (a retry): running again, input kept */
	begin_exec(s, "ex2", "demo", "prod", "sync", NULL, NULL);
	e = get_exec(s, "ex2");
	is_str(str_of(e, "status"), "running", "a retried execution runs again");
	ok(json_is_null(json_object_get(e, "error")) &&
	   json_is_null(json_object_get(e, "finished_at")), "error and end cleared");
	json_decref(e);
	LIST_IS(s, NULL, "ex2,ex5,ex4,ex3,ex1", "and is the newest");
	finish_exec(s, "ex2", "{\"status\":\"failed\",\"error\":\"again\",\"duration_ms\":3}");

	/* execution_put: the whole record at once, then replaced */
	{
		json_t *x = exec_obj("ex6", "demo", "prod", "put", NULL, "{\"p\":true}");
		json_t *t = jload("{\"status\":\"ok\",\"duration_ms\":1000}");
		CALL(put(s, x, t, &err), "execution_put");
		e = get_exec(s, "ex6");
		is_str(str_of(e, "status"), "ok", "put: status");
		ok(json_equal(json_object_get(e, "trace"), t), "put: trace");
		ok(json_is_true(json_object_get(json_object_get(e, "input"), "p")), "put: input");
		{
			double st = json_number_value(json_object_get(e, "started_at"));
			double fi = json_number_value(json_object_get(e, "finished_at"));
			ok(fi - st > 0.99 && fi - st < 1.01,
			   "put: started duration_ms before finishing (%g s)", fi - st);
		}
		json_decref(e);
		json_decref(t);
		t = jload("{\"status\":\"failed\",\"error\":\"second try\",\"duration_ms\":5}");
		CALL(put(s, x, t, &err), "execution_put again");
		e = get_exec(s, "ex6");
		is_str(str_of(e, "status"), "failed", "put replaces the status");
		is_str(str_of(e, "error"), "second try", "put replaces the error");
		ok(json_equal(json_object_get(e, "trace"), t), "put replaces the trace");
		json_decref(e);
		json_decref(t);
		json_decref(x);
		f = (struct fr_execution_filter){ .flow = "put" };
		LIST_IS(s, &f, "ex6", "put upserts: one record");
	}
}

static void test_default_limit(struct fr_store *s)
{
	json_t *out = NULL;
	struct fr_execution_filter f = { .flow = "many/bulk" };

	CALL(fr_store_begin(s, &err), "begin");
	for (int i = 0; i < 55; i++) {
		char id[16];
		snprintf(id, sizeof(id), "bulk%02d", i);
		json_t *e = exec_obj(id, "many", "prod", "bulk", NULL, NULL);
		char *err = NULL;
		if (fr_store_execution_begin(s, e, &err) < 0) {
			ok(0, "bulk insert: %s", err);
			free(err);
		}
		json_decref(e);
	}
	CALL(fr_store_commit(s, &err), "commit");
	CALL(fr_store_execution_list(s, &f, &out, &err), "list without a limit");
	is_int(json_array_size(out), 50, "the default limit is 50");
	is_str(str_of(json_array_get(out, 0), "id"), "bulk54", "newest first");
	json_decref(out);
	f.limit = 100;
	CALL(fr_store_execution_list(s, &f, &out, &err), "list with limit 100");
	is_int(json_array_size(out), 55, "a larger limit shows all");
	json_decref(out);
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
}

static void test_deployments(struct fr_store *s)
{
	json_t *d1 = jload("{\"integration\":\"demo\",\"instance\":\"prod\","
			   "\"file_hash\":\"abc\",\"outcome\":\"ok\",\"started_at\":1.5,"
			   "\"finished_at\":2.5,\"flows\":[\"deploy\"]}");
	json_t *d2 = jload("{\"integration\":\"demo\",\"instance\":\"staging\","
			   "\"file_hash\":\"def\",\"outcome\":\"failed\",\"started_at\":3,"
			   "\"finished_at\":4,\"flows\":[]}");
	json_t *out = NULL;

	CALL(fr_store_deployment_list(s, &out, &err), "deployment_list of nothing");
	ok(json_is_array(out) && json_array_size(out) == 0, "no deployments yet");
	json_decref(out);
	CALL(fr_store_deployment_add(s, d1, &err), "deployment_add");
	CALL(fr_store_deployment_add(s, d2, &err), "deployment_add again");
	CALL(fr_store_deployment_list(s, &out, &err), "deployment_list");
	ok(json_array_size(out) == 2 && json_equal(json_array_get(out, 0), d2) &&
	   json_equal(json_array_get(out, 1), d1), "deployments, newest first, as given");
	json_decref(out);
	json_decref(d1);
	json_decref(d2);
}

static void test_deliveries(struct fr_store *s)
{
	struct fr_delivery *b1[3], *b2[3], *got = NULL;
	char *dup[3];
	long long seq2;

	b1[0] = delivery("dl1", "hook", "k1", body1, BODY1_LEN, request1, NULL);
	b1[1] = delivery("dl2", "hook", NULL, NULL, 0, NULL, "{\"n\":1}");
	b1[2] = delivery("dl3", "hook", "k1", "dup", 3, request1, NULL);
	CALL(fr_store_delivery_add(s, b1, 3, dup, &err), "delivery_add of a batch");
	ok(dup[0] == NULL && dup[1] == NULL, "new deliveries are no duplicates");
	is_str(dup[2], "dl1", "a dedupe key seen in the same batch names the first");
	ok(b1[0]->seq > 0 && b1[1]->seq > b1[0]->seq, "seq set, increasing");
	seq2 = b1[1]->seq;
	for (int i = 0; i < 3; i++)
		free(dup[i]);

	b2[0] = delivery("dl4", "other-flow", "k1", "", 0, NULL, NULL);
	b2[1] = delivery("dl5", "hook", "k1", "again", 5, NULL, NULL);
	b2[2] = delivery("dl6", "hook", "k2", NULL, 0, NULL, "[]");
	CALL(fr_store_delivery_add(s, b2, 3, dup, &err), "delivery_add of a second batch");
	ok(dup[0] == NULL, "the same key for another flow is no duplicate");
	is_str(dup[1], "dl1", "a dedupe key of an earlier batch names its delivery");
	ok(dup[2] == NULL, "another key is new");
	ok(b2[0]->seq > seq2 && b2[2]->seq > b2[0]->seq, "seq keeps increasing");
	for (int i = 0; i < 3; i++)
		free(dup[i]);

	/* delivery_get */
	CALL(fr_store_delivery_get(s, "dl1", &got, &err), "delivery_get");
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
	ok(got && got->seq == b1[0]->seq && got->attempts == 0 && got->next_at == 0,
	   "seq, attempts, next_at");
	fr_delivery_free(got);
	CALL(fr_store_delivery_get(s, "dl2", &got, &err), "delivery_get of a trigger delivery");
	ok(got && got->body == NULL && got->request == NULL && got->dedupe_key == NULL,
	   "no body, request or dedupe key");
	{
		char *t = got ? fr_json_dump(got->trigger) : NULL;
		is_str(t, "{\"n\":1}", "trigger round trips");
		free(t);
	}
	fr_delivery_free(got);
	CALL(fr_store_delivery_get(s, "dl4", &got, &err), "delivery_get of an empty body");
	ok(got && got->body && got->body_len == 0 && got->body[0] == '\0',
	   "an empty body is empty, not absent");
	fr_delivery_free(got);
	got = (struct fr_delivery *)1;
	CALL(fr_store_delivery_get(s, "dl3", &got, &err), "delivery_get of a duplicate");
	ok(got == NULL, "a duplicate was not stored");
	got = (struct fr_delivery *)1;
	CALL(fr_store_delivery_get(s, "nope", &got, &err), "delivery_get of an unknown id");
	ok(got == NULL, "unknown: NULL");

	/* pending, in arrival order */
	PENDING_IS(s, 0, "dl1,dl2,dl4,dl6", "all queued, in arrival order");
	PENDING_IS(s, seq2, "dl4,dl6", "after a seq");
	PENDING_IS(s, b2[2]->seq, "", "after the last");
	{
		json_t *out = NULL;
		CALL(fr_store_delivery_pending(s, 0, &out, &err), "pending");
		json_t *row = json_array_get(out, 0);
		ok(row && json_integer_value(json_object_get(row, "seq")) == b1[0]->seq &&
		   strcmp(str_of(row, "flow"), "hook") == 0 &&
		   strcmp(str_of(row, "instance"), "prod") == 0 &&
		   json_integer_value(json_object_get(row, "attempts")) == 0 &&
		   json_object_get(row, "body") == NULL, "pending rows: fields, no body");
		json_decref(out);
	}

	/* update */
	CALL(fr_store_delivery_update(s, "dl1", "done", 1, 0, &err), "update to done");
	CALL(fr_store_delivery_update(s, "dl2", "queued", 3, 123.5, &err), "update a retry");
	CALL(fr_store_delivery_update(s, "dl6", "failed", 5, 0, &err), "update to failed");
	PENDING_IS(s, 0, "dl2,dl4", "done and failed deliveries leave the queue");
	{
		json_t *out = NULL;
		CALL(fr_store_delivery_pending(s, 0, &out, &err), "pending");
		json_t *row = json_array_get(out, 0);
		ok(json_integer_value(json_object_get(row, "attempts")) == 3 &&
		   json_number_value(json_object_get(row, "next_at")) == 123.5,
		   "attempts and next_at updated");
		json_decref(out);
	}
	CALL(fr_store_delivery_get(s, "dl2", &got, &err), "get after update");
	ok(got && got->attempts == 3 && got->next_at == 123.5, "delivery_get sees the update");
	fr_delivery_free(got);

	/* a delivery with an id already stored (and no dedupe key) */
	{
		struct fr_delivery *b3[1] = { delivery("dl2", "hook", NULL, NULL, 0, NULL, "1") };
		char *err = NULL;
		int rc = fr_store_delivery_add(s, b3, 1, dup, &err);
		ok(rc < 0 || dup[0] != NULL || b3[0]->seq == -1 ||
			b3[0]->seq == seq2,
			"an id stored before is not given another delivery's seq "
			"(got seq %lld)", b3[0]->seq);
		free(err);
		free(dup[0]);
		fr_delivery_free(b3[0]);
	}

	for (int i = 0; i < 3; i++) {
		fr_delivery_free(b1[i]);
		fr_delivery_free(b2[i]);
	}
}

static void test_replay(struct fr_store *s)
{
	struct fr_execution_filter f = { .flow = "demo/hook", .not_replayed = true };
	struct fr_delivery *d = NULL;
	char *nid = NULL, *nid2 = NULL;

	/* dl1 (a webhook delivery) ran as execution dl1 */
	begin_exec(s, "dl1", "demo", "prod", "hook", NULL, "{\"body\":{\"a\":1}}");
	finish_exec(s, "dl1", "{\"status\":\"ok\",\"duration_ms\":1}");
	LIST_IS(s, &f, "dl1", "not replayed yet");

	CALL(fr_store_replay(s, "dl1", &nid, &err), "replay a webhook execution");
	ok(nid && strncmp(nid, "ex_", 3) == 0 && strcmp(nid, "dl1") != 0,
	   "a new execution id: %s", nid ? nid : "(null)");
	CALL(fr_store_delivery_get(s, nid ? nid : "", &d, &err), "the replay is a delivery");
	ok(d && d->body_len == BODY1_LEN && memcmp(d->body, body1, BODY1_LEN) == 0,
	   "with the original body, exactly");
	{
		json_t *req = jload(request1);
		ok(d && json_equal(d->request, req), "and the original request");
		json_decref(req);
	}
	ok(d && d->trigger == NULL && d->dedupe_key == NULL && d->attempts == 0,
	   "no trigger, no dedupe key, no attempts");
	ok(d && strcmp(d->integration, "demo") == 0 && strcmp(d->instance, "prod") == 0 &&
	   strcmp(d->flow, "hook") == 0, "same integration, instance and flow");
	fr_delivery_free(d);
	d = NULL;
	{
		char *p = pending_ids(s, 0);
		ok(nid && strstr(p, nid) != NULL, "the replay is queued: %s", p);
		free(p);
	}
	LIST_IS(s, &f, "", "a replayed execution is skipped by not_replayed");
	f.not_replayed = false;
	LIST_IS(s, &f, "dl1", "and listed without the filter");

	/* an execution without a delivery: its input is the trigger */
	CALL(fr_store_replay(s, "ex1", &nid2, &err), "replay a manual execution");
	CALL(fr_store_delivery_get(s, nid2 ? nid2 : "", &d, &err), "its delivery");
	{
		char *t = d ? fr_json_dump(d->trigger) : NULL;
		is_str(t, "{\"n\":1,\"big\":9007199254740993}",
		       "the recorded input becomes the trigger, exactly");
		free(t);
	}
	ok(d && d->body == NULL && d->request == NULL, "no body or request");
	is_str(d ? d->flow : NULL, "main", "flow of the execution");
	fr_delivery_free(d);
	f = (struct fr_execution_filter){ .flow = "demo/main", .not_replayed = true };
	LIST_IS(s, &f, "ex5,ex4", "ex1 replayed: skipped");

	/* unknown */
	{
		char *none = (char *)1;
		char *before = pending_ids(s, 0);
		CALL(fr_store_replay(s, "no-such-execution", &none, &err),
		     "replay of an unknown id succeeds");
		ok(none == NULL, "with no new id");
		char *after = pending_ids(s, 0);
		is_str(after, before, "and queues nothing");
		free(before);
		free(after);
	}
	free(nid);
	free(nid2);
}

static void test_transactions(struct fr_store *s)
{
	json_t *out = NULL, *v = json_string("tx");
	struct fr_delivery *d[1] = { delivery("dl-tx", "hook", "ktx", NULL, 0, NULL, "1") };
	char *dup[1] = { NULL };

	CALL(fr_store_begin(s, &err), "begin");
	CALL(fr_store_state_set(s, "tx", "prod", "rolled", v, &err), "state_set in a transaction");
	begin_exec(s, "ex-rolled", "tx", "prod", "main", NULL, NULL);
	CALL(fr_store_delivery_add(s, d, 1, dup, &err), "delivery_add in a transaction");
	fr_store_rollback(s);
	CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state after rollback");
	ok(json_object_size(out) == 0, "rolled back state is absent");
	json_decref(out);
	out = get_exec(s, "ex-rolled");
	ok(out == NULL, "rolled back execution is absent");
	json_decref(out);
	{
		struct fr_delivery *g = (struct fr_delivery *)1;
		CALL(fr_store_delivery_get(s, "dl-tx", &g, &err), "delivery after rollback");
		ok(g == NULL, "rolled back delivery is absent");
	}

	CALL(fr_store_begin(s, &err), "begin again");
	CALL(fr_store_state_set(s, "tx", "prod", "kept", v, &err), "state_set");
	begin_exec(s, "ex-kept", "tx", "prod", "main", NULL, NULL);
	CALL(fr_store_delivery_add(s, d, 1, dup, &err), "delivery_add");
	CALL(fr_store_commit(s, &err), "commit");
	CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state after commit");
	ok(json_object_size(out) == 1 && json_object_get(out, "kept"), "committed state present");
	json_decref(out);
	out = get_exec(s, "ex-kept");
	ok(out != NULL, "committed execution present");
	json_decref(out);
	{
		struct fr_delivery *g = NULL;
		CALL(fr_store_delivery_get(s, "dl-tx", &g, &err), "delivery after commit");
		ok(g != NULL, "committed delivery present");
		fr_delivery_free(g);
	}
	{
		char *err = NULL;
		ok(fr_store_commit(s, &err) < 0 && err, "commit without begin fails");
		free(err);
	}

	/* replay inside a transaction */
	{
		char *nid = NULL, *err = NULL;
		int rc;

		CALL(fr_store_begin(s, &err), "begin before a replay");
		CALL(fr_store_state_set(s, "tx", "prod", "with-replay", v, &err), "state_set");
		rc = fr_store_replay(s, "ex-kept", &nid, &err);
		ok(rc == 0 && nid, "replay inside begin/commit works (%s)",
		   err ? err : "no error");
		free(err);
		err = NULL;
		rc = fr_store_commit(s, &err);
		free(err);
		CALL(fr_store_state_get(s, "tx", "prod", &out, &err), "state");
		ok(rc == 0 && json_object_get(out, "with-replay") != NULL,
		   "the transaction's earlier writes survive a replay");
		json_decref(out);
		free(nid);
	}
	json_decref(v);
	fr_delivery_free(d[0]);
}

int main(void)
{
	struct fr_store *s = NULL, *s2 = NULL;
	char *path, *url, *err = NULL;
	int version;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	path = fr_xasprintf("%s/sub/dir/flowrun.db", dir);
	url = fr_xasprintf("sqlite:%s", path);

	ok(!fr_store_exists(url), "no store before opening");
	CALL(fr_store_open(&s, url, &err), "open creates the store and its directories");
	if (!s)
		goto out;
	ok(fr_store_exists(url) && fr_store_exists(path),
	   "the store exists (by URL and by bare path)");
	is_str(s->url, url, "the handle keeps its URL");
	version = user_version(path);
	ok(version >= 3, "migrated: user_version %d", version);
	CALL(fr_store_check(s, &err), "integrity check of a new store");
	CALL(fr_store_set_synchronous(s, false, &err), "synchronous off");
	CALL(fr_store_set_synchronous(s, true, &err), "synchronous on");

	test_executions(s);
	test_default_limit(s);
	test_state(s);
	test_deployments(s);
	test_deliveries(s);
	test_replay(s);
	test_transactions(s);

	/* a second handle on the same file: no migration again, same data */
	CALL(fr_store_open(&s2, path, &err), "a second handle (bare path) opens");
	if (s2) {
		is_int(user_version(path), version, "reopening keeps the schema version");
		LIST_IS(s2, &((struct fr_execution_filter){ .flow = "demo/sync" }), "ex2",
			"the second handle reads what the first wrote");
		json_t *v = json_integer(99);
		CALL(fr_store_state_set(s2, "h2", "prod", "k", v, &err), "the second handle writes");
		json_decref(v);
		json_t *out = NULL;
		CALL(fr_store_state_get(s, "h2", "prod", &out, &err), "the first reads it");
		ok(json_integer_value(json_object_get(out, "k")) == 99, "shared state");
		json_decref(out);
		CALL(fr_store_check(s2, &err), "integrity check after all that");
	}
	fr_store_close(s2);
	fr_store_close(s);
	s = s2 = NULL;
	fr_store_close(NULL);

	/* reopen after closing: everything is still there */
	CALL(fr_store_open(&s, url, &err), "reopen");
	if (s) {
		LIST_IS(s, &((struct fr_execution_filter){ .status = "failed", .flow = "sync" }),
			"ex2", "data survives closing");
		fr_store_close(s);
		s = NULL;
	}

	/* errors */
	ok(fr_store_open(&s, "postgres://user@db/flowrun", &err) < 0 && s == NULL,
	   "an unsupported scheme is refused");
	is_str(err, "unsupported store 'postgres://user@db/flowrun'; use sqlite:PATH",
	       "and named");
	free(err);
	err = NULL;
	ok(!fr_store_exists("postgres://user@db/flowrun"), "an unsupported store does not exist");
	ok(fr_store_open(&s, "sqlite:", &err) < 0 && s == NULL, "sqlite: with no path fails");
	is_str(err, "the store URL names no file", "and says so");
	free(err);
	err = NULL;
	{
		char *file = fr_xasprintf("%s/plainfile", dir);
		char *under = fr_xasprintf("%s/plainfile/x.db", dir);
		char *want = fr_xasprintf("store %s: cannot open: ", under);
		FILE *fh = fopen(file, "w");
		if (fh)
			fclose(fh);
		ok(fr_store_open(&s, under, &err) < 0 && s == NULL,
		   "a store under a plain file fails");
		ok(err && strncmp(err, want, strlen(want)) == 0,
		   "naming the store: %s", err ? err : "(null)");
		free(err);
		err = NULL;
		remove(file);
		free(file);
		free(under);
		free(want);
	}
	{
		char *newer = fr_xasprintf("%s/newer.db", dir);
		char *want;
		ok(set_user_version(newer, 99) == 0, "a store from a newer flowrun made");
		want = fr_xasprintf("store %s has schema version 99, newer than this "
				    "flowrun knows (%d); upgrade flowrun", newer, version);
		ok(fr_store_open(&s, newer, &err) < 0 && s == NULL, "a newer store is refused");
		is_str(err, want, "with the newer-version message");
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
		for (size_t i = 0; i < 3; i++) {
			char *p = fr_xasprintf("%s%s", newer, (const char *[]){ "", "-wal", "-shm" }[i]);
			remove(p);
			free(p);
		}
		free(newer);
	}

out:
	/* clean up: the database, its WAL files and the directories */
	{
		static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
		for (size_t i = 0; i < FR_ARRAY_LEN(suffix); i++) {
			char *p = fr_xasprintf("%s%s", path, suffix[i]);
			remove(p);
			free(p);
		}
		char *p = fr_xasprintf("%s/sub/dir", dir);
		rmdir(p);
		free(p);
		p = fr_xasprintf("%s/sub", dir);
		rmdir(p);
		free(p);
		rmdir(dir);
	}
	free(path);
	free(url);
	return done_testing();
}
