/*
 * record: a test from an execution, written as block YAML whose scalars are
 * JSON (which YAML reads as it is).
 */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testrun.h"
#include "util.h"

int fr_record_secret_header(const char *name)
{
	static const char *const parts[] = {
		"auth", "token", "secret", "signature", "cookie", "api-key",
		"apikey", "api_key", "password", "session",
	};
	char *lower = fr_xstrdup(name);
	int hit = 0;

	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	for (size_t i = 0; i < FR_ARRAY_LEN(parts) && !hit; i++)
		hit = strstr(lower, parts[i]) != NULL;
	free(lower);
	return hit;
}

/* ---- a small block YAML writer ---- */

static void pad(struct fr_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		fr_buf_putc(b, ' ');
}

static bool plain_key(const char *k)
{
	static const char *const words[] = { "true", "false", "null", "yes",
					     "no", "on", "off", "y", "n", "~" };

	if (!*k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	for (const char *p = k; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(words); i++) {
		if (strcasecmp(k, words[i]) == 0)
			return false;
	}
	return true;
}

static void put_key(struct fr_buf *b, const char *k)
{
	if (plain_key(k)) {
		fr_buf_puts(b, k);
	} else {
		json_t *s = json_string(k);
		char *t = json_dumps(s, JSON_ENCODE_ANY);
		fr_buf_puts(b, t);
		free(t);
		json_decref(s);
	}
	fr_buf_putc(b, ':');
}

static bool is_leaf(const json_t *v)
{
	return !(json_is_object(v) && json_object_size(v)) &&
	       !(json_is_array(v) && json_array_size(v));
}

static void put_flow(struct fr_buf *b, const json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	fr_buf_puts(b, t);
	free(t);
}

static void emit_map(struct fr_buf *b, const json_t *obj, int indent, bool first_inline);
static void emit_seq(struct fr_buf *b, const json_t *arr, int indent);

/* v after "KEY:" */
static void emit_after(struct fr_buf *b, const json_t *v, int indent)
{
	if (is_leaf(v)) {
		fr_buf_putc(b, ' ');
		put_flow(b, v);
		fr_buf_putc(b, '\n');
	} else if (json_is_object(v)) {
		fr_buf_putc(b, '\n');
		emit_map(b, v, indent + 2, false);
	} else {
		fr_buf_putc(b, '\n');
		emit_seq(b, v, indent + 2);
	}
}

static void emit_map(struct fr_buf *b, const json_t *obj, int indent, bool first_inline)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		if (!first_inline)
			pad(b, indent);
		first_inline = false;
		put_key(b, k);
		emit_after(b, v, indent);
	}
}

static void emit_seq(struct fr_buf *b, const json_t *arr, int indent)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		pad(b, indent);
		fr_buf_puts(b, "- ");
		if (json_is_object(v) && json_object_size(v)) {
			emit_map(b, v, indent + 2, true);
		} else {
			put_flow(b, v);
			fr_buf_putc(b, '\n');
		}
	}
}

char *fr_record_block(const json_t *obj, int indent)
{
	struct fr_buf b;

	fr_buf_init(&b);
	emit_map(&b, obj, indent, true);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	return fr_buf_steal(&b);
}

/* ---- the test ---- */

/* Replaces id with the test's fixed execution id in every string of j. */
static json_t *fix_ids(json_t *j, const char *id)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!id || !*id)
		return j;
	if (json_is_string(j) && strstr(json_string_value(j), id)) {
		struct fr_buf b;
		const char *s = json_string_value(j), *hit;
		fr_buf_init(&b);
		while ((hit = strstr(s, id))) {
			fr_buf_add(&b, s, (size_t)(hit - s));
			fr_buf_puts(&b, "ex_test_0001");
			s = hit + strlen(id);
		}
		fr_buf_puts(&b, s);
		json_decref(j);
		j = json_string(fr_buf_cstr(&b));
		fr_buf_finish(&b);
		return j;
	}
	if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			json_object_set_new(j, k, fix_ids(json_incref(v), id));
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			json_array_set_new(j, i, fix_ids(json_incref(v), id));
	}
	return j;
}

/* Every action's answer, per mock key, in call order. */
static void collect_mocks(const json_t *recs, json_t *mocks)
{
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec) {
		const char *action = json_string_value(json_object_get(rec, "action"));
		const char *id = json_string_value(json_object_get(rec, "id"));
		const char *st = json_string_value(json_object_get(rec, "status"));
		if (action && st && strcmp(st, "skipped") != 0) {
			const char *key = id ? id : action;
			json_t *list = json_object_get(mocks, key), *ans;
			if (!list) {
				list = json_array();
				json_object_set_new(mocks, key, list);
			}
			if (strcmp(st, "failed") == 0 || strcmp(st, "ignored") == 0)
				ans = json_pack("{sO}", "error", json_object_get(rec, "error"));
			else
				ans = json_pack("{sO}", "output", json_object_get(rec, "output")
							? json_object_get(rec, "output")
							: json_null());
			json_array_append_new(list, ans);
		}
		collect_mocks(json_object_get(rec, "steps"), mocks);
		{
			size_t k;
			json_t *it;
			json_array_foreach(json_object_get(rec, "iterations"), k, it)
				collect_mocks(json_object_get(it, "steps"), mocks);
		}
	}
}

static json_t *record_trigger(const struct fr_record *r)
{
	const struct fr_flow *f = r->flow;
	json_t *t = fr_redact_json(r->redact, r->trigger), *out, *h;
	const char *k;
	json_t *v;

	if (f->trigger != FR_TRIGGER_WEBHOOK) {
		out = json_pack("{so}", "input", t ? t : json_object());
		return out;
	}
	h = json_object();
	json_object_foreach(json_object_get(t, "headers"), k, v) {
		const struct fr_verify *vf = &f->webhook.verify;
		if (fr_record_secret_header(k) ||
		    (vf->header && strcasecmp(k, vf->header) == 0) ||
		    (vf->scheme && (strncasecmp(k, "webhook-", 8) == 0 ||
				    strcasecmp(k, "x-slack-request-timestamp") == 0)))
			continue;
		if (strcasecmp(k, "content-type") == 0 || strcasecmp(k, "content-length") == 0 ||
		    strcasecmp(k, "host") == 0)
			continue;
		json_object_set(h, k, v);
	}
	out = json_object();
	if (json_object_get(t, "raw_body") &&
	    !json_equal(json_object_get(t, "body"), json_object_get(t, "raw_body")) &&
	    json_is_string(json_object_get(t, "body")))
		json_object_set(out, "raw_body", json_object_get(t, "raw_body"));
	else
		json_object_set(out, "body", json_object_get(t, "body")
						 ? json_object_get(t, "body") : json_null());
	if (json_object_size(h))
		json_object_set(out, "headers", h);
	if (json_object_size(json_object_get(t, "query")))
		json_object_set(out, "query", json_object_get(t, "query"));
	if (json_is_string(json_object_get(t, "method")) &&
	    strcmp(json_string_value(json_object_get(t, "method")), "POST") != 0)
		json_object_set(out, "method", json_object_get(t, "method"));
	if (f->webhook.verify.scheme)
		json_object_set_new(out, "sign", json_true());
	json_decref(h);
	json_decref(t);
	return json_pack("{so}", "webhook", out);
}

char *fr_record_yaml(const struct fr_record *r)
{
	const struct fr_flow *f = r->flow;
	const char *st = json_string_value(json_object_get(r->trace, "status"));
	const char *err = json_string_value(json_object_get(r->trace, "error"));
	const char *exid = json_string_value(json_object_get(r->trace, "execution"));
	json_t *test = json_object(), *mocks = json_object(), *expect = json_object();
	json_t *list;
	char *name = fr_xasprintf("%s/%s as recorded", f->integration->name, f->name);
	struct fr_buf b;

	json_object_set_new(test, "name", json_string(name));
	free(name);
	name = fr_xasprintf("%s/%s", f->integration->name, f->name);
	json_object_set_new(test, "flow", json_string(name));
	free(name);
	if (r->instance && strcmp(r->instance, "default") != 0)
		json_object_set_new(test, "instance", json_string(r->instance));
	if (r->config && json_object_size(r->config))
		json_object_set_new(test, "config", fr_redact_json(r->redact, r->config));
	json_object_set_new(test, "trigger", record_trigger(r));
	collect_mocks(json_object_get(r->trace, "steps"), mocks);
	/* one answer is written as it is, not as a list of one */
	{
		const char *k;
		json_t *v;
		json_object_foreach(mocks, k, v) {
			if (json_array_size(v) == 1)
				json_object_set(mocks, k, json_array_get(v, 0));
		}
	}
	if (json_object_size(mocks))
		json_object_set(test, "mocks", mocks);
	json_object_set_new(expect, "status", json_string(st && strcmp(st, "failed") == 0
							  ? "failed" : "ok"));
	if (err && st && strcmp(st, "failed") == 0)
		json_object_set_new(expect, "error", json_string(err));
	json_object_set_new(expect, "steps", fr_test_trace_steps(r->trace));
	json_object_set_new(test, "expect", expect);
	/* the test runs as execution ex_test_0001 (flowrun-test(5)) */
	test = fix_ids(test, exid);
	list = json_pack("[o]", test);

	fr_buf_init(&b);
	fr_buf_printf(&b, "# Recorded by flowrun from execution %s.\n"
		      "# Secrets and credential headers are left out; edit freely.\n",
		      exid && *exid ? exid : "(unrecorded)");
	fr_buf_puts(&b, "tests:\n");
	emit_seq(&b, list, 2);
	json_decref(list);
	json_decref(mocks);
	return fr_buf_steal(&b);
}

int fr_record_write(const char *path, const struct fr_record *r, char **err)
{
	char *text = fr_record_yaml(r);
	FILE *out = fopen(path, "w");
	int rc = 0;

	if (!out || fputs(text, out) < 0) {
		*err = fr_xasprintf("cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	if (out && fclose(out) != 0 && rc == 0) {
		*err = fr_xasprintf("cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	free(text);
	return rc;
}
