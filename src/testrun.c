/*
 * testrun: one test on the engine, offline, and its expectations checked.
 */
#include "testrun.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr.h"
#include "http.h"
#include "json.h"
#include "redact.h"
#include "crypto.h"
#include "util.h"
#include "verify.h"

/* ---- preparation: config, trigger, signature ---- */

struct fr_test_prep {
	json_t *config;
	json_t *trigger;
	struct fr_redact *redact;	/* the dummy secrets */
	char *error;			/* the test cannot run: why */
	const char *rejected;		/* verification refused it: why */
};

/*
 * The config: defaults, the instance file, then the test's values.  Secrets
 * get dummy values ("test-NAME") unless the test gives one: a test needs no
 * real secret, and none comes from the environment.
 */
static json_t *test_config(const struct fr_project *p, const struct fr_test *t,
			   struct fr_redact *rd, char **err)
{
	const struct fr_integration *in = t->flow->integration;
	const struct fr_instance *inst = fr_project_instance(
		p, in, t->instance ? t->instance : "default");
	json_t *cfg = json_object();
	const char *key;
	json_t *v;

	for (size_t i = 0; i < in->nconfig; i++) {
		const struct fr_config_var *cv = &in->config[i];
		if (cv->def)
			json_object_set(cfg, cv->name, cv->def);
		if (cv->secret) {
			char *dummy = fr_xasprintf("test-%s", cv->name);
			json_object_set_new(cfg, cv->name, json_string(dummy));
			free(dummy);
		}
	}
	if (inst && inst->config) {
		json_object_foreach(inst->config, key, v) {
			const struct fr_config_var *cv = fr_integration_config(in, key);
			if (!cv || !cv->secret)
				json_object_set(cfg, key, v);
		}
	}
	if (t->config)
		json_object_update(cfg, t->config);
	for (size_t i = 0; i < in->nconfig; i++) {
		const struct fr_config_var *cv = &in->config[i];
		v = json_object_get(cfg, cv->name);
		if (cv->required && (!v || json_is_null(v))) {
			*err = fr_xasprintf("config variable '%s' is required and has "
					    "no value: give it under the test's "
					    "'config'", cv->name);
			json_decref(cfg);
			return NULL;
		}
		if (cv->secret && v)
			fr_redact_add_json(rd, v);
	}
	return cfg;
}

static const char *header_of(void *data, const char *name)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)data, key, v) {
		if (strcasecmp(key, name) == 0)
			return json_string_value(v);
	}
	return NULL;
}

static char *hmac_hex(const char *key, size_t klen, const char *data, size_t len)
{
	unsigned char mac[FR_SHA256_LEN];
	char *hex = fr_xmalloc(2 * FR_SHA256_LEN + 1);

	fr_hmac_sha256(key, klen, data, len, mac);
	fr_hex(mac, FR_SHA256_LEN, hex);
	return hex;
}

static char *hmac_b64(const char *key, size_t klen, const char *data, size_t len)
{
	unsigned char mac[FR_SHA256_LEN];

	fr_hmac_sha256(key, klen, data, len, mac);
	return fr_base64_encode(mac, FR_SHA256_LEN);
}

static void set_header(json_t *h, const char *name, char *value)
{
	char *lower = fr_xstrdup(name);

	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	json_object_set_new(h, lower, json_string(value));
	free(lower);
	free(value);
}

/* Adds the headers of v's scheme signing raw with secret at time now. */
static void sign(const struct fr_verify *v, const char *secret, const char *raw,
		 long long now, size_t index, json_t *h)
{
	size_t slen = strlen(secret), rlen = strlen(raw);
	const char *prefix = v->prefix ? v->prefix : "";
	char *msg = NULL, *sig;

	if (strcmp(v->scheme, "hmac-sha256") == 0) {
		bool b64 = v->encoding && strcasecmp(v->encoding, "base64") == 0;
		sig = b64 ? hmac_b64(secret, slen, raw, rlen)
			  : hmac_hex(secret, slen, raw, rlen);
		set_header(h, v->header, fr_xasprintf("%s%s", prefix, sig));
		free(sig);
	} else if (strcmp(v->scheme, "github") == 0) {
		sig = hmac_hex(secret, slen, raw, rlen);
		set_header(h, "X-Hub-Signature-256", fr_xasprintf("sha256=%s", sig));
		free(sig);
	} else if (strcmp(v->scheme, "stripe") == 0) {
		msg = fr_xasprintf("%lld.%s", now, raw);
		sig = hmac_hex(secret, slen, msg, strlen(msg));
		set_header(h, "Stripe-Signature", fr_xasprintf("t=%lld,v1=%s", now, sig));
		free(sig);
	} else if (strcmp(v->scheme, "slack") == 0) {
		msg = fr_xasprintf("v0:%lld:%s", now, raw);
		sig = hmac_hex(secret, slen, msg, strlen(msg));
		set_header(h, "X-Slack-Request-Timestamp", fr_xasprintf("%lld", now));
		set_header(h, "X-Slack-Signature", fr_xasprintf("v0=%s", sig));
		free(sig);
	} else if (strcmp(v->scheme, "standard-webhooks") == 0) {
		unsigned char *key = NULL;
		size_t klen = 0;
		char *id = fr_xasprintf("msg_test_%zu", index + 1);
		if (strncmp(secret, "whsec_", 6) != 0 ||
		    fr_base64_decode(secret + 6, slen - 6, &key, &klen) < 0) {
			free(key);
			key = (unsigned char *)fr_xstrdup(secret);
			klen = slen;
		}
		msg = fr_xasprintf("%s.%lld.%s", id, now, raw);
		sig = hmac_b64((const char *)key, klen, msg, strlen(msg));
		set_header(h, "webhook-id", id);
		set_header(h, "webhook-timestamp", fr_xasprintf("%lld", now));
		set_header(h, "webhook-signature", fr_xasprintf("v1,%s", sig));
		free(sig);
		free(key);
	} else if (strcmp(v->scheme, "token") == 0) {
		set_header(h, v->header, fr_xasprintf("%s%s", prefix, secret));
	}
	free(msg);
}

/* The verification secrets of t's flow under config (strings, new ref). */
static json_t *verify_secrets(struct fr_jqx *jx, const struct fr_flow *f,
			      const json_t *config, char **err)
{
	json_t *v = NULL, *list;
	jv ctx, none;
	int rc;

	ctx = jv_object_set(jv_object(), jv_string("config"), fr_json_to_jv(config));
	none = jv_array();
	rc = fr_tmpl_render(f->webhook.verify.secret, jx, ctx, none, &v, err);
	jv_free(ctx);
	jv_free(none);
	if (rc < 0)
		return NULL;
	if (json_is_array(v))
		return v;
	list = json_array();
	json_array_append_new(list, v);
	return list;
}

static void webhook_trigger(struct fr_jqx *jx, const struct fr_test *t,
			    size_t index, struct fr_test_prep *out)
{
	const struct fr_flow *f = t->flow;
	const struct fr_verify *v = &f->webhook.verify;
	json_t *headers = t->headers ? json_deep_copy(t->headers) : json_object();
	json_t *body;
	char *raw, *url;

	if (t->raw_body) {
		raw = fr_xstrdup(t->raw_body);
		body = json_loads(raw, JSON_DECODE_ANY, NULL);
		if (!body)
			body = json_string(raw);
	} else if (json_is_string(t->body)) {
		raw = fr_xstrdup(json_string_value(t->body));
		body = json_incref(t->body);
	} else {
		body = t->body ? json_incref(t->body) : json_object();
		raw = fr_json_dump(body);
	}
	if (!json_object_get(headers, "content-type"))
		json_object_set_new(headers, "content-type", json_string(
			json_is_string(body) ? "text/plain" : "application/json"));
	if (v->scheme && v->secret) {
		char *err = NULL;
		json_t *secrets = verify_secrets(jx, f, out->config, &err);
		size_t n = json_array_size(secrets);
		const char **sv = fr_xcalloc(n + 1, sizeof(*sv));
		struct fr_verify_input in = { raw, strlen(raw), header_of, headers,
					      (time_t)t->now };
		for (size_t i = 0; i < n; i++)
			sv[i] = json_string_value(json_array_get(secrets, i));
		if (!secrets) {
			out->error = fr_xasprintf("verify secret of flow '%s': %s",
						  f->name, err);
			free(err);
		} else {
			if (t->sign && n && sv[0])
				sign(v, sv[0], raw, (long long)t->now, index, headers);
			if (fr_verify_check(v, sv, n, &in, &out->rejected) == 0)
				out->rejected = NULL;
		}
		if (strcmp(v->scheme, "token") == 0 && v->header) {
			/* as serve does: the shared secret itself is not kept */
			char *lower = fr_xstrdup(v->header);
			for (char *p = lower; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			json_object_del(headers, lower);
			free(lower);
		}
		free(sv);
		json_decref(secrets);
	}
	url = fr_webhook_url("", f, t->instance);
	out->trigger = json_pack("{so ss so sO ss ss}", "body", body,
				 "raw_body", raw, "headers", headers,
				 "query", t->query ? t->query : json_object(),
				 "method", t->method ? t->method : "POST",
				 "path", url);
	if (!t->query)
		json_decref(json_object_get(out->trigger, "query"));
	free(url);
	free(raw);
}

/* The config and trigger of t, on the calling thread's programs jx. */
static void prepare(const struct fr_project *p, struct fr_jqx *jx,
		    const struct fr_test *t, size_t index, struct fr_test_prep *out)
{
	memset(out, 0, sizeof(*out));
	out->redact = fr_redact_create();
	if (!(out->config = test_config(p, t, out->redact, &out->error)))
		return;
	if (t->webhook)
		webhook_trigger(jx, t, index, out);
	else
		out->trigger = t->input ? json_incref(t->input) : json_object();
}

static void prep_finish(struct fr_test_prep *pr)
{
	json_decref(pr->config);
	json_decref(pr->trigger);
	fr_redact_destroy(pr->redact);
	free(pr->error);
	memset(pr, 0, sizeof(*pr));
}

/* ---- matching and diffs ---- */

bool fr_test_match(const json_t *e, const json_t *a)
{
	const char *key;
	json_t *v;

	if (json_is_object(e) && json_object_size(e) == 1 &&
	    json_object_get(e, "exactly"))
		return a && json_equal(json_object_get(e, "exactly"), (json_t *)a);
	if (!a)
		return json_is_null(e);
	if (json_is_number(e) && json_is_number(a))
		return json_number_value(e) == json_number_value(a);
	if (json_is_object(e)) {
		if (!json_is_object(a))
			return false;
		json_object_foreach((json_t *)e, key, v) {
			if (!fr_test_match(v, json_object_get(a, key)))
				return false;
		}
		return true;
	}
	if (json_is_array(e)) {
		if (!json_is_array(a) || json_array_size(a) != json_array_size(e))
			return false;
		for (size_t i = 0; i < json_array_size(e); i++) {
			if (!fr_test_match(json_array_get(e, i), json_array_get(a, i)))
				return false;
		}
		return true;
	}
	return json_equal((json_t *)e, (json_t *)a);
}

/* The actual value cut to the expectation's shape, for the diff. */
static json_t *project(const json_t *e, const json_t *a)
{
	const char *key;
	json_t *v, *out;

	if (!a)
		return json_null();
	if (json_is_object(e) && json_object_size(e) == 1 &&
	    json_object_get(e, "exactly"))
		return json_pack("{sO}", "exactly", (json_t *)a);
	if (json_is_object(e) && json_is_object(a)) {
		out = json_object();
		json_object_foreach((json_t *)e, key, v) {
			json_t *x = json_object_get(a, key);
			if (x)
				json_object_set_new(out, key, project(v, x));
		}
		return out;
	}
	if (json_is_array(e) && json_is_array(a) &&
	    json_array_size(e) == json_array_size(a)) {
		out = json_array();
		for (size_t i = 0; i < json_array_size(e); i++)
			json_array_append_new(out, project(json_array_get(e, i),
							   json_array_get(a, i)));
		return out;
	}
	return json_deep_copy(a);
}

struct lines {
	char **v;
	size_t n;
};

static void split(struct lines *l, char *text)
{
	l->v = NULL;
	l->n = 0;
	for (char *p = text; p;) {
		char *nl = strchr(p, '\n');
		l->v = fr_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = p;
		if (nl)
			*nl = '\0';
		p = nl ? nl + 1 : NULL;
	}
}

char *fr_test_diff(const json_t *expected, const json_t *actual)
{
	json_t *shown = project(expected, actual);
	char *et = json_dumps(expected, JSON_INDENT(2) | JSON_ENCODE_ANY);
	char *at = json_dumps(shown, JSON_INDENT(2) | JSON_ENCODE_ANY);
	struct lines x, y;
	size_t *lcs;
	struct fr_buf b;

	split(&x, et);
	split(&y, at);
	/* longest common subsequence of lines, from the ends */
	lcs = fr_xcalloc((x.n + 1) * (y.n + 1), sizeof(*lcs));
#define L(i, j) lcs[(i) * (y.n + 1) + (j)]
	for (size_t i = x.n; i-- > 0;) {
		for (size_t j = y.n; j-- > 0;) {
			if (strcmp(x.v[i], y.v[j]) == 0)
				L(i, j) = L(i + 1, j + 1) + 1;
			else
				L(i, j) = L(i + 1, j) > L(i, j + 1) ? L(i + 1, j)
								    : L(i, j + 1);
		}
	}
	fr_buf_init(&b);
	fr_buf_puts(&b, "--- expected\n+++ actual\n");
	for (size_t i = 0, j = 0; i < x.n || j < y.n;) {
		if (i < x.n && j < y.n && strcmp(x.v[i], y.v[j]) == 0) {
			fr_buf_printf(&b, "  %s\n", x.v[i]);
			i++;
			j++;
		} else if (i < x.n && (j == y.n || L(i + 1, j) >= L(i, j + 1))) {
			fr_buf_printf(&b, "- %s\n", x.v[i++]);
		} else {
			fr_buf_printf(&b, "+ %s\n", y.v[j++]);
		}
	}
#undef L
	free(lcs);
	free(x.v);
	free(y.v);
	free(et);
	free(at);
	json_decref(shown);
	return fr_buf_steal(&b);
}

/* ---- running ---- */

/* What one test's run has seen so far (guarded by the runner's mutex). */
struct tstate {
	const struct fr_test *t;
	json_t *state;		/* the instance state, in memory */
	json_t *calls;		/* key -> [input, ...] */
	unsigned char **used;	/* per mock, per answer */
	json_t *problems;	/* missing or exhausted mocks: messages */
};

struct fr_testrun {
	const struct fr_project *p;
	struct fr_engine *e;
	struct fr_jqx *tjx;
	struct fr_intercept icpt;
	pthread_mutex_t mu;
	struct tstate *cur;
};

static const struct fr_test_mock *mock_of(const struct fr_test *t,
					  const struct fr_step *s, size_t *mi)
{
	for (size_t i = 0; s->id && i < t->nmocks; i++) {
		if (strcmp(t->mocks[i].key, s->id) == 0) {
			*mi = i;
			return &t->mocks[i];
		}
	}
	for (size_t i = 0; i < t->nmocks; i++) {
		if (strcmp(t->mocks[i].key, s->action_name) == 0) {
			*mi = i;
			return &t->mocks[i];
		}
	}
	return NULL;
}

static char *step_label(const struct fr_step *s)
{
	if (s->id)
		return fr_xasprintf("step '%s'", s->id);
	return fr_xasprintf("the step at line %u", s->loc.line);
}

static void problem(struct tstate *ts, char *msg)
{
	json_array_append_new(ts->problems, json_string(msg));
	free(msg);
}

/*
 * The answer of mock m for a call with this input: the first one that
 * applies, without taking it.  A `when` answer applies to every call whose
 * input it matches; in a list, an answer without `when` applies to one
 * call, in order.  -1: none (a problem is recorded).
 */
static int choose(struct fr_testrun *tr, struct tstate *ts, size_t mi,
		  const struct fr_step *s, const json_t *input)
{
	const struct fr_test_mock *m = &ts->t->mocks[mi];
	size_t calls = 0;
	char *in, *label;

	for (size_t j = 0; j < m->n; j++) {
		const struct fr_test_answer *a = &m->answers[j];
		if (a->when < 0) {
			if (m->list && ts->used[mi][j]) {
				calls++;
				continue;
			}
			return (int)j;
		}
		jv r;
		char *err = NULL;
		if (fr_jqx_eval(tr->tjx, a->when, fr_json_to_jv(input), jv_array(),
				&r, &err) < 0) {
			problem(ts, fr_xasprintf("%s:%u:%u: mock '%s': 'when' failed: %s",
						 a->loc.src->path, a->loc.line,
						 a->loc.col, m->key, err));
			free(err);
			return -1;
		}
		bool hit = fr_jv_truthy(r);
		jv_free(r);
		if (hit)
			return (int)j;
	}
	in = fr_json_dump(input);
	label = step_label(s);
	if (calls)
		problem(ts, fr_xasprintf("%s:%u:%u: mock '%s' has %zu answer%s, all "
					 "used: %s of flow '%s' made another call "
					 "with input %s", m->loc.src->path,
					 m->loc.line, m->loc.col, m->key, m->n,
					 m->n == 1 ? "" : "s", label,
					 ts->t->flow->name, in));
	else
		problem(ts, fr_xasprintf("%s:%u:%u: no answer of mock '%s' matches "
					 "the input of %s: %s", m->loc.src->path,
					 m->loc.line, m->loc.col, m->key, label, in));
	free(in);
	free(label);
	return -1;
}

static void record_call(struct tstate *ts, const char *key, const json_t *input)
{
	json_t *list = json_object_get(ts->calls, key);

	if (!list) {
		list = json_array();
		json_object_set_new(ts->calls, key, list);
	}
	json_array_append_new(list, json_deep_copy(input));
}

static enum fr_answer on_action(void *data, const struct fr_step *s,
				const json_t *input, json_t **output, char **err)
{
	struct fr_testrun *tr = data;
	struct tstate *ts;
	const struct fr_test_mock *m;
	const struct fr_test_answer *a;
	enum fr_answer ans = FR_ANSWER_ERROR;
	size_t mi = 0;
	int j;

	pthread_mutex_lock(&tr->mu);
	ts = tr->cur;
	record_call(ts, s->action_name, input);
	if (s->id && strcmp(s->id, s->action_name) != 0)
		record_call(ts, s->id, input);
	if (!(m = mock_of(ts->t, s, &mi))) {
		if (ts->t->samples && s->action && s->action->sample) {
			ans = FR_ANSWER_SAMPLE;
			goto out;
		}
		char *in = fr_json_dump(input), *label = step_label(s);
		problem(ts, fr_xasprintf(
			"no mock for action '%s' (%s of flow '%s', input %s); "
			"add one to the test:\n    mocks:\n      %s:\n        "
			"output: ...", s->action_name, label, ts->t->flow->name,
			in, s->id ? s->id : s->action_name));
		*err = fr_xasprintf("no mock for action '%s'", s->action_name);
		free(in);
		free(label);
		goto out;
	}
	if ((j = choose(tr, ts, mi, s, input)) < 0) {
		*err = fr_xasprintf("mock '%s' has no answer for this call", m->key);
		goto out;
	}
	a = &m->answers[j];
	ans = a->kind;
	if (a->kind == FR_ANSWER_HTTP)
		goto out;	/* taken by the request */
	if (m->list && a->when < 0)
		ts->used[mi][j] = 1;
	if (a->kind == FR_ANSWER_OUTPUT)
		*output = a->output ? json_deep_copy(a->output) : json_null();
	else
		*err = fr_xstrdup(a->error);
out:
	pthread_mutex_unlock(&tr->mu);
	return ans;
}

static int on_http(void *data, const struct fr_step *s, const json_t *input,
		   const struct fr_http_request *req, struct fr_http_response *out,
		   char **err)
{
	struct fr_testrun *tr = data;
	struct tstate *ts;
	const struct fr_test_mock *m;
	const struct fr_test_answer *a;
	size_t mi = 0;
	int j, rc = -1;
	const char *key;
	json_t *v;
	bool has_ct = false;

	(void)req;
	pthread_mutex_lock(&tr->mu);
	ts = tr->cur;
	if (!(m = mock_of(ts->t, s, &mi)) || (j = choose(tr, ts, mi, s, input)) < 0) {
		*err = fr_xstrdup("no mock answer for this request");
		goto out;
	}
	a = &m->answers[j];
	if (a->kind != FR_ANSWER_HTTP) {
		problem(ts, fr_xasprintf("%s:%u:%u: mock '%s': the action sent another "
					 "request (a page or a retry), and the answer "
					 "for it is not an 'http' answer",
					 a->loc.src->path, a->loc.line, a->loc.col,
					 m->key));
		*err = fr_xstrdup("the mock's next answer is not an http answer");
		goto out;
	}
	if (m->list && a->when < 0)
		ts->used[mi][j] = 1;
	out->status = a->status;
	out->headers = fr_xcalloc(json_object_size(a->headers) + 1, sizeof(*out->headers));
	json_object_foreach(a->headers, key, v) {
		out->headers[out->nheaders].name = fr_xstrdup(key);
		out->headers[out->nheaders].value = fr_xstrdup(json_string_value(v));
		out->nheaders++;
		has_ct |= strcmp(key, "content-type") == 0;
	}
	if (a->body && !json_is_null(a->body)) {
		out->body = json_is_string(a->body) ? fr_xstrdup(json_string_value(a->body))
						    : fr_json_dump(a->body);
		if (!has_ct) {
			out->headers[out->nheaders].name = fr_xstrdup("content-type");
			out->headers[out->nheaders].value = fr_xstrdup(
				json_is_string(a->body) ? "text/plain" : "application/json");
			out->nheaders++;
		}
	} else {
		out->body = fr_xstrdup("");
	}
	out->body_len = strlen(out->body);
	rc = 0;
out:
	pthread_mutex_unlock(&tr->mu);
	return rc;
}

static int on_set_state(void *data, const struct fr_exec_request *req,
			const char *key, const json_t *value, char **err)
{
	struct fr_testrun *tr = data;

	(void)req;
	(void)err;
	pthread_mutex_lock(&tr->mu);
	json_object_set_new(tr->cur->state, key, json_deep_copy(value));
	pthread_mutex_unlock(&tr->mu);
	return 0;
}

static void on_log(void *data, const struct fr_exec_request *req,
		   enum fr_log_level level, const char *step, const char *text)
{
	(void)data;
	(void)level;
	(void)req;
	(void)step;
	(void)text;
}

struct fr_testrun *fr_testrun_create(const struct fr_project *p,
				     const struct fr_jqx_prog *tprog)
{
	struct fr_testrun *tr = fr_xcalloc(1, sizeof(*tr));
	struct fr_exec_opts opts = { .intercept = &tr->icpt,
				     .public_url = "http://127.0.0.1:8080" };
	struct fr_exec_hooks hooks = { .data = tr, .set_state = on_set_state,
				       .log = on_log };

	tr->p = p;
	tr->icpt = (struct fr_intercept){ .data = tr, .action = on_action,
					  .http = on_http };
	pthread_mutex_init(&tr->mu, NULL);
	tr->e = fr_engine_create(p, &opts, &hooks);
	if (tprog)
		tr->tjx = fr_jqx_create(tprog);
	return tr;
}

void fr_testrun_destroy(struct fr_testrun *tr)
{
	if (!tr)
		return;
	fr_engine_destroy(tr->e);
	fr_jqx_destroy(tr->tjx);
	pthread_mutex_destroy(&tr->mu);
	free(tr);
}

/* .steps as the execution had them, and the coverage, from the trace. */
static void walk(const json_t *recs, json_t *steps, json_t *ran, bool top)
{
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "id"));
		const char *st = json_string_value(json_object_get(rec, "status"));
		const char *br = json_string_value(json_object_get(rec, "branch"));
		long long line = json_integer_value(json_object_get(rec, "line"));
		char key[64];
		if (id && steps)
			json_object_set(steps, id, json_object_get(rec, "output"));
		if (st && strcmp(st, "skipped") != 0) {
			snprintf(key, sizeof(key), "%lld", line);
			json_object_set_new(ran, key, json_true());
		}
		if (br) {
			char *k = fr_xasprintf("%lld:%s", line, br);
			json_object_set_new(ran, k, json_true());
			free(k);
		}
		if (json_object_get(rec, "steps"))
			walk(json_object_get(rec, "steps"), steps, ran, top);
		{
			size_t k;
			json_t *it;
			json_array_foreach(json_object_get(rec, "iterations"), k, it)
				walk(json_object_get(it, "steps"), NULL, ran, false);
		}
	}
}

json_t *fr_test_trace_steps(const json_t *trace)
{
	json_t *steps = json_object(), *ran = json_object();

	walk(json_object_get(trace, "steps"), steps, ran, true);
	json_decref(ran);
	return steps;
}

static void fail(struct fr_test_result *r, const struct fr_loc *loc,
		 char *message, const json_t *expected, const json_t *actual)
{
	struct fr_test_failure *f;

	r->failures = fr_xrealloc(r->failures, (r->nfailures + 1) * sizeof(*f));
	f = &r->failures[r->nfailures++];
	memset(f, 0, sizeof(*f));
	f->message = message;
	f->loc = *loc;
	if (expected) {
		f->expected = json_deep_copy(expected);
		f->actual = actual ? json_deep_copy(actual) : json_null();
		f->diff = fr_test_diff(expected, actual);
	}
}

static const char *const status_names[] = { "ok", "failed", "rejected" };

/* The calls made, shaped like expect.calls: {KEY: {count, input}}. */
static json_t *calls_actual(const json_t *exp, const json_t *calls)
{
	json_t *out = json_object(), *v;
	const char *key;

	json_object_foreach((json_t *)exp, key, v) {
		json_t *list = json_object_get(calls, key);
		json_object_set_new(out, key, json_pack("{sI sO}", "count",
			(json_int_t)json_array_size(list), "input",
			list ? list : json_array()));
		if (!list)
			json_decref(json_object_get(json_object_get(out, key), "input"));
	}
	(void)v;
	return out;
}

static void check(struct fr_testrun *tr, const struct fr_test *t,
		  const struct fr_exec_result *res, const struct fr_test_prep *pr,
		  struct tstate *ts, struct fr_test_result *out)
{
	enum fr_test_status st = pr->rejected ? FR_TEST_REJECTED
			       : res->status == FR_EXEC_OK ? FR_TEST_OK : FR_TEST_FAILED;
	const char *error = pr->rejected ? pr->rejected : res->error;
	json_t *response, *ctx;
	size_t i;
	json_t *p;

	out->status = status_names[st];
	out->error = error ? fr_xstrdup(error) : NULL;
	json_array_foreach(ts->problems, i, p)
		fail(out, &t->loc, fr_xstrdup(json_string_value(p)), NULL, NULL);
	out->mocks_ok = json_array_size(ts->problems) == 0;
	if (st != t->status) {
		fail(out, t->status_loc.line ? &t->status_loc : &t->loc,
		     fr_xasprintf("expect.status: expected %s, got %s%s%s",
				  status_names[t->status], status_names[st],
				  error ? ": " : "", error ? error : ""), NULL, NULL);
	}
	if (t->error && (!error || !strstr(error, t->error)))
		fail(out, t->error_loc.line ? &t->error_loc : &t->loc,
		     fr_xasprintf("expect.error: the error does not "
						"contain '%s'; it is: %s", t->error,
						error ? error : "(no error)"),
		     NULL, NULL);
	if (pr->rejected)
		response = json_pack("{si s{} ss}", "status", 401, "headers",
				     "body", "verification failed");
	else if (res->status != FR_EXEC_OK)
		response = json_pack("{si s{} s{ss}}", "status", 500, "headers",
				     "body", "error", res->error ? res->error : "failed");
	else if (res->response)
		response = json_pack("{sI sO sO}", "status",
			json_integer_value(json_object_get(res->response, "status"))
				? json_integer_value(json_object_get(res->response, "status"))
				: 200,
			"headers", json_object_get(res->response, "headers")
				? json_object_get(res->response, "headers") : json_object(),
			"body", json_object_get(res->response, "body")
				? json_object_get(res->response, "body") : json_null());
	else
		response = json_pack("{si s{} sO}", "status", 200, "headers", "body",
				     res->output ? res->output : json_null());
	for (i = 0; i < t->nexpects; i++) {
		const struct fr_test_expect *x = &t->expects[i];
		json_t *actual;
		if (strcmp(x->what, "steps") == 0)
			actual = json_incref(out->steps);
		else if (strcmp(x->what, "calls") == 0)
			actual = calls_actual(x->value, ts->calls);
		else if (strcmp(x->what, "state") == 0)
			actual = json_incref(ts->state);
		else if (strcmp(x->what, "response") == 0)
			actual = json_incref(response);
		else
			actual = json_incref(res->output ? res->output : json_null());
		if (!fr_test_match(x->value, actual))
			fail(out, &x->loc, fr_xasprintf("expect.%s: not as expected",
							x->what), x->value, actual);
		json_decref(actual);
	}
	ctx = json_pack("{s:O, s:O, s:O, s:O, s:s, s:s*, s:O, s:O, s:O, s:s}",
			"trigger", pr->trigger,
			"config", pr->config, "steps", out->steps,
			"state", ts->state, "status", status_names[st],
			"error", error, "output", res->output ? res->output : json_null(),
			"response", response, "calls", ts->calls,
			"flow", t->flow->name);
	for (i = 0; i < t->nasserts && tr->tjx; i++) {
		const struct fr_test_assert *a = &t->asserts[i];
		char *err = NULL;
		jv r;
		if (fr_jqx_eval(tr->tjx, a->id, fr_json_to_jv(ctx), jv_array(), &r,
				&err) < 0) {
			fail(out, &a->loc, fr_xasprintf("expect.assert '%s': %s",
							a->text, err), NULL, NULL);
			free(err);
			continue;
		}
		if (!fr_jv_truthy(r)) {
			char *got = fr_jv_dump(r);
			fail(out, &a->loc, fr_xasprintf("expect.assert '%s' is %s",
							a->text, got), NULL, NULL);
			free(got);
		} else {
			jv_free(r);
		}
	}
	json_decref(ctx);
	json_decref(response);
}

void fr_testrun_run(struct fr_testrun *tr, const struct fr_test *t,
		    size_t index, struct fr_test_result *out)
{
	struct fr_test_prep prep, *pr = &prep;
	struct fr_exec_result res = { 0 };
	struct tstate ts = { .t = t };
	char *id = fr_xasprintf("ex_test_%04zu", index + 1);
	uint64_t t0 = fr_now_ns();

	memset(out, 0, sizeof(*out));
	prepare(tr->p, fr_engine_jqx(tr->e), t, index, pr);
	out->steps = json_object();
	out->ran = json_object();
	ts.state = t->state ? json_deep_copy(t->state) : json_object();
	ts.calls = json_object();
	ts.problems = json_array();
	ts.used = fr_xcalloc(t->nmocks + 1, sizeof(*ts.used));
	for (size_t i = 0; i < t->nmocks; i++)
		ts.used[i] = fr_xcalloc(t->mocks[i].n + 1, 1);
	if (pr->error) {
		fail(out, &t->loc, fr_xstrdup(pr->error), NULL, NULL);
		goto done;
	}
	if (!pr->rejected) {
		struct fr_exec_request req = {
			.flow = t->flow, .instance = t->instance,
			.config = pr->config, .state = ts.state,
			.trigger = pr->trigger, .execution = id,
			.redact = pr->redact,
		};
		json_t *seed = json_deep_copy(ts.state);
		req.state = seed;
		tr->cur = &ts;
		fr_engine_set_now(tr->e, t->now);
		if (tr->tjx)
			fr_jqx_set_now(tr->tjx, t->now);
		fr_engine_run(tr->e, &req, &res);
		tr->cur = NULL;
		json_decref(seed);
		out->trace = json_incref(res.trace);
		walk(json_object_get(res.trace, "steps"), out->steps, out->ran, true);
	}
	check(tr, t, &res, pr, &ts, out);
done:
	out->passed = out->nfailures == 0;
	out->ms = (double)(fr_now_ns() - t0) / 1e6;
	fr_exec_result_finish(&res);
	prep_finish(pr);
	for (size_t i = 0; i < t->nmocks; i++)
		free(ts.used[i]);
	free(ts.used);
	json_decref(ts.state);
	json_decref(ts.calls);
	json_decref(ts.problems);
	free(id);
}

void fr_test_result_finish(struct fr_test_result *r)
{
	for (size_t i = 0; i < r->nfailures; i++) {
		free(r->failures[i].message);
		free(r->failures[i].diff);
		json_decref(r->failures[i].expected);
		json_decref(r->failures[i].actual);
	}
	free(r->failures);
	json_decref(r->trace);
	json_decref(r->steps);
	json_decref(r->ran);
	free(r->error);
	memset(r, 0, sizeof(*r));
}
