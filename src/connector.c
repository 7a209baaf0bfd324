#include "connector.h"

#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "json.h"
#include "schema.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 30000

static const char *const methods[] = { "GET", "POST", "PUT", "PATCH",
				       "DELETE", "HEAD", "OPTIONS", NULL };

static int *parse_statuses(struct fr_diag *d, const struct fr_ynode *n,
			   const char *what, size_t *count)
{
	int *out;
	long long x;

	*count = 0;
	if (!fr_schema_is_seq(d, n, what))
		return NULL;
	out = fr_xcalloc(n->n, sizeof(*out));
	for (size_t i = 0; i < n->n; i++) {
		if (fr_schema_int(d, n->items[i], "an HTTP status", 100, 599, &x))
			out[(*count)++] = (int)x;
	}
	return out;
}

static void parse_http(struct fr_diag *d, struct fr_scope *sc,
		       const struct fr_ynode *n, struct fr_connector *c)
{
	static const char *const keys[] = { "base_url", "headers", "timeout",
					    "retry", NULL };
	static const char *const retry_keys[] = { "attempts", "on", "delay",
						  "backoff", "max_delay",
						  "writes", NULL };
	const struct fr_ynode *v, *r;
	long long x;

	if (!fr_schema_is_map(d, n, "'http'"))
		return;
	fr_schema_keys(d, n, keys, "http");
	if ((v = fr_ymap_get(n, "base_url")) && fr_schema_string(d, v, "'base_url'"))
		c->base_url = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "headers")) && fr_schema_is_map(d, v, "'headers'"))
		c->headers = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "timeout")))
		fr_schema_duration(d, v, "'timeout'", &c->timeout_ms);
	if (!(r = fr_ymap_get(n, "retry")) || !fr_schema_is_map(d, r, "'retry'"))
		return;
	fr_schema_keys(d, r, retry_keys, "retry");
	if ((v = fr_ymap_get(r, "attempts")) &&
	    fr_schema_int(d, v, "'attempts'", 1, 100, &x))
		c->retry.attempts = (int)x;
	if ((v = fr_ymap_get(r, "on")))
		c->retry_on = parse_statuses(d, v, "'on'", &c->nretry_on);
	if ((v = fr_ymap_get(r, "delay")))
		fr_schema_duration(d, v, "'delay'", &c->retry.delay_ms);
	if ((v = fr_ymap_get(r, "backoff")))
		fr_schema_number(d, v, "'backoff'", &c->retry.backoff);
	if ((v = fr_ymap_get(r, "max_delay")))
		fr_schema_duration(d, v, "'max_delay'", &c->retry.max_delay_ms);
	if ((v = fr_ymap_get(r, "writes")))
		fr_schema_bool(d, v, "'writes'", &c->retry_writes);
}

/*
 * paginate: {next: EXPR, query: NAME} sends the cursor that next yields as
 * ?NAME=CURSOR; {next_url: EXPR} requests the URL it yields (a Link header's
 * rel="next"), which action.c checks is on the first request's origin.
 */
static void parse_paginate(struct fr_diag *d, struct fr_scope *sc,
			   const struct fr_ynode *p, struct fr_action *a)
{
	static const char *const pkeys[] = { "next", "next_url", "query",
					     "max", NULL };
	const struct fr_ynode *next = fr_ymap_get(p, "next");
	const struct fr_ynode *url = fr_ymap_get(p, "next_url");
	const struct fr_ynode *v;
	long long x;

	fr_schema_keys(d, p, pkeys, "paginate");
	if (next && url)
		fr_diag_at(d, FR_ERROR, &url->loc, "'paginate' has one of 'next' "
			   "(a cursor) and 'next_url' (a URL)");
	else if (!next && !url)
		fr_diag_at(d, FR_ERROR, &p->loc, "missing 'next' or 'next_url' "
			   "in paginate");
	if (next) {
		a->paginate_next = fr_expr_compile(sc, next);
		if ((v = fr_schema_require(d, p, "query", "paginate")) &&
		    fr_schema_string(d, v, "'query'"))
			a->paginate_query = fr_xstrdup(v->value);
	} else if (url) {
		a->paginate_next = fr_expr_compile(sc, url);
		a->paginate_url = true;
		if ((v = fr_ymap_get(p, "query")))
			fr_diag_at(d, FR_ERROR, &v->loc, "'query' goes with "
				   "'next': 'next_url' yields the whole URL");
	}
	if ((v = fr_ymap_get(p, "max")) &&
	    fr_schema_int(d, v, "'max'", 1, 100000, &x))
		a->paginate_max = (int)x;
}

static void parse_action(struct fr_diag *d, struct fr_scope *sc,
			 const struct fr_ynode *key, const struct fr_ynode *n,
			 struct fr_action *a)
{
	static const char *const keys[] = { "description", "effect", "method",
					    "path", "query", "headers", "body",
					    "form", "raw", "content_type",
					    "expect", "result", "error",
					    "paginate", "sample", "timeout",
					    NULL };
	const struct fr_ynode *v, *p;
	int nbodies = 0;

	a->name = fr_xstrdup(key->value);
	a->loc = key->loc;
	a->paginate_max = 100;
	if (!fr_schema_is_map(d, n, "an action"))
		return;
	fr_schema_keys(d, n, keys, "action");
	if ((v = fr_ymap_get(n, "description")) &&
	    fr_schema_string(d, v, "'description'"))
		a->description = fr_xstrdup(v->value);
	if ((v = fr_schema_require(d, n, "effect", "action")) &&
	    fr_schema_string(d, v, "'effect'")) {
		if (strcmp(v->value, "write") == 0)
			a->write = true;
		else if (strcmp(v->value, "read") != 0)
			fr_diag_at(d, FR_ERROR, &v->loc,
				   "'effect' must be read or write");
	}
	if ((v = fr_schema_require(d, n, "method", "action")) &&
	    fr_schema_string(d, v, "'method'")) {
		size_t i;
		for (i = 0; methods[i]; i++) {
			if (strcmp(methods[i], v->value) == 0)
				break;
		}
		if (!methods[i])
			fr_diag_at(d, FR_ERROR, &v->loc,
				   "unknown HTTP method '%s'", v->value);
		a->method = fr_xstrdup(v->value);
	}
	if ((v = fr_schema_require(d, n, "path", "action")) &&
	    fr_schema_string(d, v, "'path'"))
		a->path = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "query")) && fr_schema_is_map(d, v, "'query'"))
		a->query = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "headers")) && fr_schema_is_map(d, v, "'headers'"))
		a->headers = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "body"))) {
		a->body_kind = FR_BODY_JSON;
		a->body = fr_tmpl_compile(sc, v);
		nbodies++;
	}
	if ((v = fr_ymap_get(n, "form"))) {
		a->body_kind = FR_BODY_FORM;
		if (fr_schema_is_map(d, v, "'form'"))
			a->body = fr_tmpl_compile(sc, v);
		nbodies++;
	}
	if ((v = fr_ymap_get(n, "raw"))) {
		a->body_kind = FR_BODY_RAW;
		if (fr_schema_string(d, v, "'raw'"))
			a->body = fr_tmpl_compile(sc, v);
		nbodies++;
	}
	if (nbodies > 1)
		fr_diag_at(d, FR_ERROR, &n->loc,
			   "an action has one of 'body', 'form' and 'raw'");
	if ((v = fr_ymap_get(n, "content_type")) &&
	    fr_schema_string(d, v, "'content_type'"))
		a->content_type = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "expect")))
		a->expect = parse_statuses(d, v, "'expect'", &a->nexpect);
	if ((v = fr_ymap_get(n, "result")))
		a->result = fr_expr_compile(sc, v);
	if ((v = fr_ymap_get(n, "error")))
		a->error = fr_expr_compile(sc, v);
	if ((p = fr_ymap_get(n, "paginate")) && fr_schema_is_map(d, p, "'paginate'"))
		parse_paginate(d, sc, p, a);
	if ((v = fr_ymap_get(n, "sample")))
		a->sample = fr_tmpl_compile(sc, v);
	if ((v = fr_ymap_get(n, "timeout")))
		fr_schema_duration(d, v, "'timeout'", &a->timeout_ms);
}

static void parse_inputs(struct fr_diag *d, const struct fr_ynode *n,
			 struct fr_connector *c)
{
	static const char *const keys[] = { "required", "secret",
					    "description", NULL };

	if (!fr_schema_is_map(d, n, "'inputs'"))
		return;
	c->inputs = fr_xcalloc(fr_ymap_len(n), sizeof(*c->inputs));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *v = fr_ymap_val(n, i), *x;
		struct fr_input *in = &c->inputs[c->ninputs++];
		in->name = fr_xstrdup(k->value);
		in->loc = k->loc;
		in->required = true;
		if (fr_ynode_is_null(v) || !fr_schema_is_map(d, v, "an input"))
			continue;
		fr_schema_keys(d, v, keys, "input");
		if ((x = fr_ymap_get(v, "required")))
			fr_schema_bool(d, x, "'required'", &in->required);
		if ((x = fr_ymap_get(v, "secret")))
			fr_schema_bool(d, x, "'secret'", &in->secret);
	}
}

int fr_connector_load(struct fr_connector **out, const struct fr_ydoc *doc,
		      struct fr_jqx_prog *prog, struct fr_diag *d)
{
	static const char *const keys[] = { "connector", "description", "inputs",
					    "http", "actions", "webhook", NULL };
	const struct fr_ynode *root = doc->root, *v;
	struct fr_scope sc = { .prog = prog, .d = d };
	struct fr_connector *c;

	*out = NULL;
	if (!root || root->kind != FR_YMAP) {
		struct fr_loc loc = { doc->src, 1, 1 };
		fr_diag_at(d, FR_ERROR, root ? &root->loc : &loc,
			   "a connector file must be a mapping with 'connector' "
			   "and 'actions'");
		return -1;
	}
	c = fr_xcalloc(1, sizeof(*c));
	c->loc = root->loc;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->retry.attempts = 1;
	c->retry.delay_ms = 500;
	c->retry.backoff = 2.0;
	c->retry.max_delay_ms = 30000;
	fr_schema_keys(d, root, keys, "connector");
	if ((v = fr_schema_require(d, root, "connector", "connector file")) &&
	    fr_schema_name(d, v, "connector name"))
		c->name = fr_xstrdup(v->value);
	if (!c->name)
		c->name = fr_xstrdup("?");
	if ((v = fr_ymap_get(root, "description")) &&
	    fr_schema_string(d, v, "'description'"))
		c->description = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(root, "inputs")))
		parse_inputs(d, v, c);
	if ((v = fr_schema_require(d, root, "http", "connector")))
		parse_http(d, &sc, v, c);
	if (!c->base_url && v)
		fr_diag_at(d, FR_ERROR, &v->loc, "missing 'base_url' in http");
	if ((v = fr_schema_require(d, root, "actions", "connector")) &&
	    fr_schema_is_map(d, v, "'actions'")) {
		c->actions = fr_xcalloc(fr_ymap_len(v), sizeof(*c->actions));
		for (size_t i = 0; i < fr_ymap_len(v); i++)
			parse_action(d, &sc, fr_ymap_key(v, i), fr_ymap_val(v, i),
				     &c->actions[c->nactions++]);
	}
	if ((v = fr_ymap_get(root, "webhook")))
		fr_schema_is_map(d, v, "'webhook'");
	*out = c;
	return 0;
}

struct fr_connector *fr_connector_builtin_http(void)
{
	struct fr_connector *c = fr_xcalloc(1, sizeof(*c));

	c->name = fr_xstrdup("http");
	c->description = fr_xstrdup("built-in: one-off HTTP requests");
	c->builtin = true;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->retry.attempts = 1;
	c->actions = fr_xcalloc(1, sizeof(*c->actions));
	c->nactions = 1;
	c->actions[0].name = fr_xstrdup("request");
	c->actions[0].method = fr_xstrdup("GET");
	return c;
}

void fr_connector_destroy(struct fr_connector *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->description);
	for (size_t i = 0; i < c->ninputs; i++)
		free(c->inputs[i].name);
	free(c->inputs);
	fr_tmpl_destroy(c->base_url);
	fr_tmpl_destroy(c->headers);
	free(c->retry_on);
	for (size_t i = 0; i < c->nactions; i++) {
		struct fr_action *a = &c->actions[i];
		free(a->name);
		free(a->description);
		free(a->method);
		fr_tmpl_destroy(a->path);
		fr_tmpl_destroy(a->query);
		fr_tmpl_destroy(a->headers);
		fr_tmpl_destroy(a->body);
		free(a->content_type);
		free(a->expect);
		fr_expr_destroy(a->result);
		fr_expr_destroy(a->error);
		fr_expr_destroy(a->paginate_next);
		free(a->paginate_query);
		fr_tmpl_destroy(a->sample);
	}
	free(c->actions);
	free(c);
}

const struct fr_action *fr_connector_action(const struct fr_connector *c,
					    const char *name)
{
	for (size_t i = 0; i < c->nactions; i++) {
		if (strcmp(c->actions[i].name, name) == 0)
			return &c->actions[i];
	}
	return NULL;
}
