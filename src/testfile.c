/*
 * testfile: reads *.test.yaml files (flowrun-test(5)) with the project's
 * YAML reader and schema checks, so every mistake is reported where it is,
 * with a "did you mean" for misspelt keys and names.
 */
#include "testfile.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "json.h"
#include "schema.h"
#include "util.h"
#include "ydoc.h"

/* 2026-01-01T00:00:00Z: the time of a test that gives no `now` */
#define DEFAULT_NOW 1767225600.0

struct names {
	const char **v;
	size_t n, cap;
};

static void names_add(struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (strcmp(ns->v[i], s) == 0)
			return;
	}
	fr_grow(&ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v));
	ns->v[ns->n++] = s;
}

static bool names_has(const struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (strcmp(ns->v[i], s) == 0)
			return true;
	}
	return false;
}

/* Step ids of a flow (all of them, and those of action steps). */
static void collect_steps(const struct fr_steps *steps, struct names *all,
			  struct names *actions)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct fr_step *s = steps->v[i];
		if (s->id) {
			names_add(all, s->id);
			if (s->kind == FR_STEP_ACTION)
				names_add(actions, s->id);
		}
		if (s->kind == FR_STEP_ACTION)
			names_add(actions, s->action_name);
		collect_steps(&s->body, all, actions);
		collect_steps(&s->else_steps, all, actions);
		for (size_t j = 0; j < s->ncases; j++)
			collect_steps(&s->cases[j].steps, all, actions);
	}
}

/* "unknown WHAT 'x'; did you mean 'y'?" at n */
static void unknown(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what, const char *name, const struct names *ns,
		    const char *tail)
{
	const char *hint = fr_suggest(name, ns->v, ns->n);

	if (hint)
		fr_diag_at(d, FR_ERROR, &n->loc, "%s '%s'%s; did you mean '%s'?",
			   what, name, tail, hint);
	else
		fr_diag_at(d, FR_ERROR, &n->loc, "%s '%s'%s", what, name, tail);
}

static int add_prog(struct fr_jqx_prog *prog, json_t *ids,
		    const struct fr_ynode *n)
{
	json_t *seen = json_object_get(ids, n->value);
	int id;

	if (seen)
		return (int)json_integer_value(seen);
	id = fr_jqx_prog_add(prog, n->value, &n->loc, NULL, 0);
	json_object_set_new(ids, n->value, json_integer(id));
	return id;
}

/* An object of strings (headers, query); names lower-cased when asked. */
static json_t *string_map(struct fr_diag *d, const struct fr_ynode *n,
			  const char *what, bool lower)
{
	json_t *out;

	if (!fr_schema_is_map(d, n, what))
		return NULL;
	out = json_object();
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *v = fr_ymap_val(n, i);
		char *key = fr_xstrdup(fr_ymap_key(n, i)->value);
		if (lower) {
			for (char *p = key; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		}
		if (v->kind != FR_YSCALAR) {
			fr_diag_at(d, FR_ERROR, &v->loc, "%s '%s' must be text, "
				   "not %s", what, key, fr_ynode_what(v));
		} else {
			json_object_set_new(out, key, json_stringn(v->value, v->len));
		}
		free(key);
	}
	return out;
}

static bool parse_now(struct fr_diag *d, const struct fr_ynode *n, double *out)
{
	int y, mo, da, h, mi, se, used = 0;

	if (fr_ynode_number(n, out))
		return true;
	if (n->kind == FR_YSCALAR &&
	    sscanf(n->value, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &da, &h, &mi,
		   &se, &used) == 6 && used > 0 &&
	    (strcmp(n->value + used, "Z") == 0 || n->value[used] == '\0') &&
	    mo >= 1 && mo <= 12 && da >= 1 && da <= 31 && h < 24 && mi < 60 &&
	    se < 61) {
		/* days from the civil date (proleptic Gregorian), UTC */
		int yy = mo <= 2 ? y - 1 : y;
		int era = (yy >= 0 ? yy : yy - 399) / 400;
		int yoe = yy - era * 400;
		int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + da - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
		long long days = (long long)era * 146097 + doe - 719468;
		*out = (double)(days * 86400 + h * 3600 + mi * 60 + se);
		return true;
	}
	fr_diag_at(d, FR_ERROR, &n->loc, "'now' must be a time such as "
		   "2026-01-31T09:30:00Z, or unix seconds");
	return false;
}

static void parse_webhook(struct fr_diag *d, struct fr_test *t,
			  const struct fr_ynode *w)
{
	static const char *const keys[] = { "body", "raw_body", "headers",
					    "query", "method", "sign", NULL };
	const struct fr_ynode *n;

	if (!fr_schema_is_map(d, w, "'webhook'"))
		return;
	fr_schema_keys(d, w, keys, "webhook trigger");
	t->webhook = true;
	if ((n = fr_ymap_get(w, "raw_body"))) {
		const char *s = fr_schema_string(d, n, "'raw_body'");
		if (s)
			t->raw_body = fr_xstrdup(s);
		if (fr_ymap_get(w, "body"))
			fr_diag_at(d, FR_ERROR, &n->loc, "give 'body' or "
				   "'raw_body', not both");
	}
	if ((n = fr_ymap_get(w, "body")))
		t->body = fr_ynode_to_json(n);
	if ((n = fr_ymap_get(w, "headers")))
		t->headers = string_map(d, n, "header", true);
	if ((n = fr_ymap_get(w, "query")))
		t->query = string_map(d, n, "query parameter", false);
	if ((n = fr_ymap_get(w, "method"))) {
		const char *s = fr_schema_string(d, n, "'method'");
		if (s)
			t->method = fr_xstrdup(s);
	}
	if ((n = fr_ymap_get(w, "sign")) && fr_schema_bool(d, n, "'sign'", &t->sign) &&
	    t->sign && t->flow && !t->flow->webhook.verify.scheme)
		fr_diag_at(d, FR_ERROR, &n->loc, "flow '%s' verifies no "
			   "signature: it has no trigger.webhook.verify",
			   t->flow->name);
}

static void parse_trigger(struct fr_diag *d, struct fr_test *t,
			  const struct fr_ynode *n)
{
	static const char *const keys[] = { "webhook", "input", NULL };
	const struct fr_ynode *w, *in;

	if (!fr_schema_is_map(d, n, "'trigger'"))
		return;
	fr_schema_keys(d, n, keys, "trigger");
	w = fr_ymap_get(n, "webhook");
	in = fr_ymap_get(n, "input");
	if (w && t->flow && t->flow->trigger != FR_TRIGGER_WEBHOOK)
		fr_diag_at(d, FR_ERROR, &w->loc, "flow '%s' is triggered by %s, "
			   "not a webhook: give 'input'", t->flow->name,
			   fr_trigger_name(t->flow->trigger));
	if (in && t->flow && t->flow->trigger == FR_TRIGGER_WEBHOOK)
		fr_diag_at(d, FR_ERROR, &in->loc, "flow '%s' is triggered by a "
			   "webhook: give 'webhook' (body, headers, query)",
			   t->flow->name);
	if (w)
		parse_webhook(d, t, w);
	if (in)
		t->input = fr_ynode_to_json(in);
}

static void parse_answer(struct fr_diag *d, struct fr_test_answer *a,
			 const struct fr_ynode *n, struct fr_jqx_prog *prog,
			 json_t *ids)
{
	static const char *const keys[] = { "when", "output", "error", "http", NULL };
	static const char *const hkeys[] = { "status", "headers", "body", NULL };
	const struct fr_ynode *v, *o, *e, *h;
	int kinds;

	a->loc = n->loc;
	a->when = -1;
	a->kind = FR_ANSWER_OUTPUT;
	if (!fr_schema_is_map(d, n, "a mock answer"))
		return;
	fr_schema_keys(d, n, keys, "mock answer");
	if ((v = fr_ymap_get(n, "when")) && fr_schema_string(d, v, "'when'"))
		a->when = add_prog(prog, ids, v);
	o = fr_ymap_get(n, "output");
	e = fr_ymap_get(n, "error");
	h = fr_ymap_get(n, "http");
	kinds = !!o + !!e + !!h;
	if (kinds != 1) {
		fr_diag_at(d, FR_ERROR, &n->loc, "a mock answer gives one of "
			   "'output', 'error' or 'http'%s",
			   kinds ? ", not several" : "");
		return;
	}
	if (o) {
		a->output = fr_ynode_to_json(o);
	} else if (e) {
		const char *s = fr_schema_string(d, e, "'error'");
		a->kind = FR_ANSWER_ERROR;
		a->error = fr_xstrdup(s ? s : "error");
	} else if (fr_schema_is_map(d, h, "'http'")) {
		long long st = 200;
		a->kind = FR_ANSWER_HTTP;
		fr_schema_keys(d, h, hkeys, "http answer");
		if ((v = fr_ymap_get(h, "status")))
			fr_schema_int(d, v, "'status'", 100, 599, &st);
		a->status = (long)st;
		if ((v = fr_ymap_get(h, "headers")))
			a->headers = string_map(d, v, "header", true);
		if ((v = fr_ymap_get(h, "body")))
			a->body = fr_ynode_to_json(v);
	}
}

static void parse_mocks(struct fr_diag *d, struct fr_test *t,
			const struct fr_ynode *n, const struct names *keys,
			struct fr_jqx_prog *prog, json_t *ids)
{
	if (!fr_schema_is_map(d, n, "'mocks'"))
		return;
	t->mocks = fr_xcalloc(fr_ymap_len(n) + 1, sizeof(*t->mocks));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *v = fr_ymap_val(n, i);
		struct fr_test_mock *m = &t->mocks[t->nmocks++];
		m->key = fr_xstrdup(k->value);
		m->loc = k->loc;
		if (t->flow && !names_has(keys, k->value) &&
		    strcmp(k->value, "http.request") != 0)
			unknown(d, k, "no action step or action", k->value, keys,
				" in this flow");
		if (v->kind == FR_YSEQ) {
			m->list = true;
			m->n = v->n;
			m->answers = fr_xcalloc(v->n + 1, sizeof(*m->answers));
			for (size_t j = 0; j < v->n; j++)
				parse_answer(d, &m->answers[j], v->items[j], prog, ids);
			if (v->n == 0)
				fr_diag_at(d, FR_ERROR, &v->loc, "mock '%s' has no "
					   "answer", k->value);
		} else {
			m->n = 1;
			m->answers = fr_xcalloc(1, sizeof(*m->answers));
			parse_answer(d, &m->answers[0], v, prog, ids);
		}
	}
}

static void add_expect(struct fr_test *t, const char *what,
		       const struct fr_ynode *n)
{
	struct fr_test_expect *x = &t->expects[t->nexpects++];

	x->what = what;
	x->loc = n->loc;
	x->end = n->end;
	x->value = fr_ynode_to_json(n);
}

static void parse_expect(struct fr_diag *d, struct fr_test *t,
			 const struct fr_ynode *n, const struct names *steps,
			 const struct names *actions, struct fr_jqx_prog *prog,
			 json_t *ids)
{
	static const char *const keys[] = { "status", "error", "steps", "calls",
					    "state", "response", "output",
					    "assert", NULL };
	static const char *const statuses[] = { "ok", "failed", "rejected" };
	static const char *const ckeys[] = { "count", "input", NULL };
	const struct fr_ynode *v;

	if (!fr_schema_is_map(d, n, "'expect'"))
		return;
	fr_schema_keys(d, n, keys, "expect");
	if ((v = fr_ymap_get(n, "status"))) {
		const char *s = fr_schema_string(d, v, "'status'");
		size_t i;
		for (i = 0; s && i < FR_ARRAY_LEN(statuses); i++) {
			if (strcmp(s, statuses[i]) == 0)
				break;
		}
		if (s && i == FR_ARRAY_LEN(statuses)) {
			const char *hint = fr_suggest(s, statuses, 3);
			fr_diag_at(d, FR_ERROR, &v->loc, "'status' is ok, failed or "
				   "rejected, not '%s'%s%s%s", s,
				   hint ? "; did you mean '" : "", hint ? hint : "",
				   hint ? "'?" : "");
		} else if (s) {
			t->status = (enum fr_test_status)i;
		}
		t->status_loc = v->loc;
		t->status_end = v->end;
	}
	if ((v = fr_ymap_get(n, "error"))) {
		const char *s = fr_schema_string(d, v, "'error'");
		if (s)
			t->error = fr_xstrdup(s);
		t->error_loc = v->loc;
		t->error_end = v->end;
		if (!fr_ymap_get(n, "status"))
			t->status = FR_TEST_FAILED;
	}
	if ((v = fr_ymap_get(n, "steps")) && fr_schema_is_map(d, v, "'steps'")) {
		for (size_t i = 0; t->flow && i < fr_ymap_len(v); i++) {
			const struct fr_ynode *k = fr_ymap_key(v, i);
			if (!names_has(steps, k->value))
				unknown(d, k, "no step", k->value, steps,
					" in this flow");
		}
		add_expect(t, "steps", v);
	}
	if ((v = fr_ymap_get(n, "calls")) && fr_schema_is_map(d, v, "'calls'")) {
		for (size_t i = 0; i < fr_ymap_len(v); i++) {
			const struct fr_ynode *k = fr_ymap_key(v, i);
			const struct fr_ynode *c = fr_ymap_val(v, i), *x;
			long long cnt;
			if (t->flow && !names_has(actions, k->value) &&
			    strcmp(k->value, "http.request") != 0)
				unknown(d, k, "no action step or action", k->value,
					actions, " in this flow");
			if (!fr_schema_is_map(d, c, "a call expectation"))
				continue;
			fr_schema_keys(d, c, ckeys, "call expectation");
			if ((x = fr_ymap_get(c, "count")))
				fr_schema_int(d, x, "'count'", 0, 1000000000, &cnt);
			if ((x = fr_ymap_get(c, "input")))
				fr_schema_is_seq(d, x, "'input' (one per call)");
		}
		add_expect(t, "calls", v);
	}
	if ((v = fr_ymap_get(n, "state")) && fr_schema_is_map(d, v, "'state'"))
		add_expect(t, "state", v);
	if ((v = fr_ymap_get(n, "response")))
		add_expect(t, "response", v);
	if ((v = fr_ymap_get(n, "output")))
		add_expect(t, "output", v);
	if ((v = fr_ymap_get(n, "assert"))) {
		const struct fr_ynode *const *items = &v;
		size_t cnt = 1;
		if (v->kind == FR_YSEQ) {
			items = (const struct fr_ynode *const *)v->items;
			cnt = v->n;
		}
		t->asserts = fr_xcalloc(cnt + 1, sizeof(*t->asserts));
		for (size_t i = 0; i < cnt; i++) {
			const struct fr_ynode *a = items[i];
			if (!fr_schema_string(d, a, "an assertion"))
				continue;
			t->asserts[t->nasserts].id = add_prog(prog, ids, a);
			t->asserts[t->nasserts].text = fr_xstrdup(a->value);
			t->asserts[t->nasserts].loc = a->loc;
			t->nasserts++;
		}
	}
}

static const struct fr_flow *find_flow(struct fr_diag *d,
				       const struct fr_project *p,
				       const struct fr_ynode *n)
{
	const struct fr_flow *f = fr_project_flow(p, n->value);
	struct names all = { 0 };
	char **owned = NULL;
	size_t nowned = 0;

	if (f)
		return f;
	for (size_t i = 0; i < p->nintegrations; i++) {
		for (size_t j = 0; j < p->integrations[i]->nflows; j++) {
			owned = fr_xrealloc(owned, (nowned + 1) * sizeof(*owned));
			owned[nowned] = fr_xasprintf("%s/%s", p->integrations[i]->name,
						     p->integrations[i]->flows[j].name);
			names_add(&all, owned[nowned++]);
		}
	}
	{
		/* "itmes" is close to the flow "items", written "lab/items" */
		struct names bare = { 0 };
		const char *hint, *slash = strchr(n->value, '/');
		for (size_t i = 0; i < all.n; i++)
			names_add(&bare, strchr(all.v[i], '/') + 1);
		hint = fr_suggest(slash ? slash + 1 : n->value, bare.v, bare.n);
		for (size_t i = 0; hint && i < all.n; i++) {
			if (strcmp(strchr(all.v[i], '/') + 1, hint) == 0) {
				hint = all.v[i];
				break;
			}
		}
		if (!hint)
			hint = fr_suggest(n->value, all.v, all.n);
		fr_diag_at(d, FR_ERROR, &n->loc, "no flow '%s' (or more than one: "
			   "write INTEGRATION/FLOW)%s%s%s", n->value,
			   hint ? "; did you mean '" : "", hint ? hint : "",
			   hint ? "'?" : "");
		free(bare.v);
	}
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(all.v);
	return NULL;
}

static void parse_config(struct fr_diag *d, struct fr_test *t,
			 const struct fr_ynode *n)
{
	struct names vars = { 0 };

	if (!fr_schema_is_map(d, n, "'config'"))
		return;
	t->config = fr_ynode_to_json(n);
	if (!t->flow)
		return;
	for (size_t i = 0; i < t->flow->integration->nconfig; i++)
		names_add(&vars, t->flow->integration->config[i].name);
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i);
		if (!names_has(&vars, k->value))
			unknown(d, k, "no config variable", k->value, &vars,
				" in this integration");
	}
	free(vars.v);
}

static void parse_test(struct fr_diag *d, struct fr_test *t,
		       const struct fr_ynode *n, const struct fr_project *p,
		       struct fr_jqx_prog *prog, json_t *ids)
{
	static const char *const keys[] = { "name", "flow", "instance", "config",
					    "trigger", "state", "now", "samples",
					    "mocks", "expect", NULL };
	struct names steps = { 0 }, actions = { 0 };
	const struct fr_ynode *v;
	const char *s;

	t->loc = n->loc;
	t->now = DEFAULT_NOW;
	if (!fr_schema_is_map(d, n, "a test"))
		return;
	fr_schema_keys(d, n, keys, "test");
	if ((v = fr_schema_require(d, n, "name", "test")) &&
	    (s = fr_schema_string(d, v, "'name'")))
		t->name = fr_xstrdup(s);
	if ((v = fr_schema_require(d, n, "flow", "test")) &&
	    fr_schema_string(d, v, "'flow'"))
		t->flow = find_flow(d, p, v);
	if (t->flow)
		collect_steps(&t->flow->steps, &steps, &actions);
	if ((v = fr_ymap_get(n, "instance"))) {
		if ((s = fr_schema_string(d, v, "'instance'"))) {
			t->instance = fr_xstrdup(s);
			if (t->flow && strcmp(s, "default") != 0 &&
			    !fr_project_instance(p, t->flow->integration, s))
				fr_diag_at(d, FR_ERROR, &v->loc, "no instance '%s' "
					   "of integration '%s'", s,
					   t->flow->integration->name);
		}
	}
	if ((v = fr_ymap_get(n, "config")))
		parse_config(d, t, v);
	if ((v = fr_ymap_get(n, "state")) && fr_schema_is_map(d, v, "'state'"))
		t->state = fr_ynode_to_json(v);
	if ((v = fr_ymap_get(n, "now")))
		parse_now(d, v, &t->now);
	if ((v = fr_ymap_get(n, "samples")))
		fr_schema_bool(d, v, "'samples'", &t->samples);
	if ((v = fr_ymap_get(n, "trigger")))
		parse_trigger(d, t, v);
	if (t->flow && t->flow->trigger == FR_TRIGGER_WEBHOOK)
		t->webhook = true;
	if ((v = fr_ymap_get(n, "mocks")))
		parse_mocks(d, t, v, &actions, prog, ids);
	if ((v = fr_ymap_get(n, "expect")))
		parse_expect(d, t, v, &steps, &actions, prog, ids);
	free(steps.v);
	free(actions.v);
}

int fr_testfile_load(struct fr_testfile **out, const char *path,
		     const struct fr_project *p, struct fr_jqx_prog *prog,
		     json_t *ids, struct fr_diag *d)
{
	struct fr_testfile *tf = NULL;
	struct fr_ydoc *doc = NULL;
	const struct fr_ynode *list;
	unsigned before = d->nerrors;
	char *text = NULL, *err = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (fr_read_file(&text, &len, path, FR_MAX_FILE_SIZE, &err) < 0) {
		fr_diag(d, FR_ERROR, "cannot read '%s': %s", path, err);
		free(err);
		return -1;
	}
	tf = fr_xcalloc(1, sizeof(*tf));
	tf->src = fr_source_create(path, text, len);
	if (fr_ydoc_parse(&doc, tf->src, d) < 0)
		goto out;
	if (!doc->root) {
		struct fr_loc loc = { tf->src, 1, 1 };
		fr_diag_at(d, FR_ERROR, &loc, "empty test file; expected 'tests:'");
		goto out;
	}
	if (!fr_schema_is_map(d, doc->root, "a test file"))
		goto out;
	{
		static const char *const keys[] = { "tests", NULL };
		fr_schema_keys(d, doc->root, keys, "test file");
	}
	if (!(list = fr_schema_require(d, doc->root, "tests", "test file")) ||
	    !fr_schema_is_seq(d, list, "'tests'"))
		goto out;
	tf->tests = fr_xcalloc(list->n + 1, sizeof(*tf->tests));
	for (size_t i = 0; i < list->n; i++)
		parse_test(d, &tf->tests[tf->n++], list->items[i], p, prog, ids);
	if (d->nerrors == before)
		rc = 0;
out:
	fr_ydoc_destroy(doc);
	if (rc == 0)
		*out = tf;
	else
		fr_testfile_destroy(tf);
	return rc;
}

void fr_testfile_destroy(struct fr_testfile *tf)
{
	if (!tf)
		return;
	for (size_t i = 0; i < tf->n; i++) {
		struct fr_test *t = &tf->tests[i];
		free(t->name);
		free(t->instance);
		json_decref(t->config);
		json_decref(t->state);
		json_decref(t->input);
		json_decref(t->body);
		free(t->raw_body);
		json_decref(t->headers);
		json_decref(t->query);
		free(t->method);
		for (size_t j = 0; j < t->nmocks; j++) {
			struct fr_test_mock *m = &t->mocks[j];
			for (size_t k = 0; k < m->n; k++) {
				json_decref(m->answers[k].output);
				free(m->answers[k].error);
				json_decref(m->answers[k].headers);
				json_decref(m->answers[k].body);
			}
			free(m->answers);
			free(m->key);
		}
		free(t->mocks);
		free(t->error);
		for (size_t j = 0; j < t->nexpects; j++)
			json_decref(t->expects[j].value);
		for (size_t j = 0; j < t->nasserts; j++)
			free(t->asserts[j].text);
		free(t->asserts);
	}
	free(tf->tests);
	fr_source_unref(tf->src);
	free(tf);
}

const struct fr_test_expect *fr_test_expect_get(const struct fr_test *t,
						const char *what)
{
	for (size_t i = 0; i < t->nexpects; i++) {
		if (strcmp(t->expects[i].what, what) == 0)
			return &t->expects[i];
	}
	return NULL;
}
