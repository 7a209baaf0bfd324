#include "connector.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static const char *const grant_names[] = {
	[FR_GRANT_CLIENT_CREDENTIALS] = "client_credentials",
	[FR_GRANT_AUTHORIZATION_CODE] = "authorization_code",
	[FR_GRANT_REFRESH_TOKEN] = "refresh_token",
};

const char *fr_grant_name(enum fr_grant g)
{
	return (size_t)g < FR_ARRAY_LEN(grant_names) ? grant_names[g] : "?";
}

static const struct fr_input *find_input(const struct fr_connector *c,
					 const char *name)
{
	for (size_t i = 0; i < c->ninputs; i++) {
		if (strcmp(c->inputs[i].name, name) == 0)
			return &c->inputs[i];
	}
	return NULL;
}

/*
 * The inputs an auth value names as `.connection.NAME` (a textual check,
 * as expr.c makes for .config): each must be declared, and those holding a
 * secret (client_secret, refresh_token) must be secret inputs, so that
 * they are redacted like any other secret.  A secret written into the
 * connector file itself is refused: connector files are shared.
 */
static void check_auth_value(struct fr_diag *d, const struct fr_connector *c,
			     const struct fr_ynode *n, const char *what,
			     bool secret)
{
	static const char root[] = ".connection.";
	const char *p = n->value;
	bool any = false;

	if (n->kind != FR_YSCALAR)
		return;
	if (secret && !strstr(p, "${{")) {
		fr_diag_hint(d, FR_ERROR, &n->loc, "give it as a secret input: "
			     "\"${{ .connection.NAME }}\"", "%s is written in "
			     "the connector file", what);
		return;
	}
	while ((p = strstr(p, root)) != NULL) {
		const char *name = p + strlen(root);
		size_t len = 0;
		const struct fr_input *in;
		char *s;

		while (isalnum((unsigned char)name[len]) || name[len] == '_')
			len++;
		p = name + len;
		if (len == 0)
			continue;
		any = true;
		s = fr_xstrndup(name, len);
		if (!(in = find_input(c, s))) {
			const char **names = fr_xcalloc(c->ninputs + 1,
							sizeof(*names));
			char *hint;
			for (size_t i = 0; i < c->ninputs; i++)
				names[i] = c->inputs[i].name;
			hint = fr_did_you_mean(s, names, c->ninputs);
			fr_diag_hint(d, FR_ERROR, &n->loc, hint, "%s uses input "
				     "'%s', which 'inputs' does not declare",
				     what, s);
			free(hint);
			free(names);
		} else if (secret && !in->secret) {
			fr_diag_hint(d, FR_ERROR, &n->loc, "declare it with "
				     "'secret: true'", "%s uses input '%s', "
				     "which is not secret", what, s);
		}
		free(s);
	}
	if (secret && !any)
		fr_diag_hint(d, FR_ERROR, &n->loc, "give it as a secret input: "
			     "\"${{ .connection.NAME }}\"", "%s must come from "
			     "a secret input of the connection", what);
}

static struct fr_tmpl *auth_template(struct fr_diag *d, struct fr_scope *sc,
				     const struct fr_connector *c,
				     const struct fr_ynode *n, const char *what,
				     bool secret)
{
	if (!fr_schema_string(d, n, what))
		return NULL;
	check_auth_value(d, c, n, what, secret);
	return fr_tmpl_compile(sc, n);
}

/* One of names (n of them) or an error with a hint; -1 then. */
static int one_of(struct fr_diag *d, const struct fr_ynode *n,
		  const char *what, const char *const *names, size_t count,
		  const char *list)
{
	char *hint;

	if (!fr_schema_string(d, n, what))
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(n->value, names[i]) == 0)
			return (int)i;
	}
	hint = fr_did_you_mean(n->value, names, count);
	fr_diag_hint(d, FR_ERROR, &n->loc, hint, "%s must be %s, not '%s'",
		     what, list, n->value);
	free(hint);
	return -1;
}

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool scope_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

/* RFC 9110 section 5.6.2: a header name is a token. */
static bool header_name(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "!#$%&'*+-.^_`|~") == strlen(s);
}

static void parse_scopes(struct fr_diag *d, const struct fr_ynode *n,
			 struct fr_oauth2 *o)
{
	if (!fr_schema_is_seq(d, n, "'scopes'"))
		return;
	o->scopes = fr_xcalloc(n->n + 1, sizeof(*o->scopes));
	for (size_t i = 0; i < n->n; i++) {
		const struct fr_ynode *v = n->items[i];
		if (!fr_schema_string(d, v, "a scope"))
			continue;
		if (!scope_token(v->value)) {
			fr_diag_hint(d, FR_ERROR, &v->loc, "give each scope as "
				     "an item of its own", "invalid scope '%s'; "
				     "a scope has no spaces, '\"' or '\\'",
				     v->value);
			continue;
		}
		o->scopes[o->nscopes++] = fr_xstrdup(v->value);
	}
}

static void parse_apply(struct fr_diag *d, const struct fr_ynode *n,
			struct fr_oauth2 *o)
{
	static const char *const keys[] = { "header", "prefix", "query", NULL };
	const struct fr_ynode *h = NULL, *p = NULL, *q = NULL;

	if (!fr_schema_is_map(d, n, "'apply'"))
		return;
	fr_schema_keys(d, n, keys, "apply");
	if ((h = fr_ymap_get(n, "header")) && fr_schema_string(d, h, "'header'")) {
		if (header_name(h->value))
			o->apply_header = fr_xstrdup(h->value);
		else
			fr_diag_at(d, FR_ERROR, &h->loc,
				   "invalid header name '%s'", h->value);
	}
	if ((p = fr_ymap_get(n, "prefix")) && fr_schema_string(d, p, "'prefix'"))
		o->apply_prefix = fr_xstrdup(p->value);
	if ((q = fr_ymap_get(n, "query")) && fr_schema_string(d, q, "'query'"))
		o->apply_query = fr_xstrdup(q->value);
	if (h && q)
		fr_diag_at(d, FR_ERROR, &q->loc, "'apply' has one of 'header' "
			   "and 'query'");
	else if (!h && !q)
		fr_diag_at(d, FR_ERROR, &n->loc, "'apply' needs 'header' or "
			   "'query'");
	else if (q && p)
		fr_diag_at(d, FR_ERROR, &p->loc, "'prefix' goes with 'header', "
			   "not 'query'");
	if (o->apply_query) {
		free(o->apply_header);
		o->apply_header = NULL;
	} else if (!o->apply_header) {
		o->apply_header = fr_xstrdup("Authorization");
	}
	if (!o->apply_prefix)
		o->apply_prefix = fr_xstrdup("");
}

static void parse_oauth2(struct fr_diag *d, struct fr_scope *sc,
			 const struct fr_ynode *key, const struct fr_ynode *n,
			 struct fr_connector *c)
{
	static const char *const keys[] = { "grant", "token_url",
					    "authorize_url", "client_id",
					    "client_secret", "refresh_token",
					    "scopes", "pkce", "client_auth",
					    "apply", NULL };
	static const char *const auths[] = { "body", "basic" };
	struct fr_oauth2 *o = fr_xcalloc(1, sizeof(*o));
	const struct fr_ynode *v;
	int grant = -1;

	o->loc = key->loc;
	o->apply_header = fr_xstrdup("Authorization");
	o->apply_prefix = fr_xstrdup("Bearer ");
	c->oauth2 = o;
	if (!fr_schema_is_map(d, n, "'oauth2'"))
		return;
	fr_schema_keys(d, n, keys, "oauth2");
	if ((v = fr_schema_require(d, n, "grant", "oauth2")) &&
	    (grant = one_of(d, v, "'grant'", grant_names,
			    FR_ARRAY_LEN(grant_names), "client_credentials, "
			    "authorization_code or refresh_token")) >= 0)
		o->grant = (enum fr_grant)grant;
	if ((v = fr_schema_require(d, n, "token_url", "oauth2")))
		o->token_url = auth_template(d, sc, c, v, "'token_url'", false);
	if ((v = fr_schema_require(d, n, "client_id", "oauth2")))
		o->client_id = auth_template(d, sc, c, v, "'client_id'", false);
	if ((v = fr_ymap_get(n, "client_secret")))
		o->client_secret = auth_template(d, sc, c, v, "'client_secret'",
						 true);
	else if (grant == FR_GRANT_CLIENT_CREDENTIALS)
		fr_diag_at(d, FR_ERROR, &n->loc, "missing 'client_secret' in "
			   "oauth2 (grant client_credentials needs it)");
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		/* keys that belong to one grant only */
		static const struct { const char *key; enum fr_grant g; } only[] = {
			{ "authorize_url", FR_GRANT_AUTHORIZATION_CODE },
			{ "pkce", FR_GRANT_AUTHORIZATION_CODE },
			{ "refresh_token", FR_GRANT_REFRESH_TOKEN },
		};
		const struct fr_ynode *k = fr_ymap_key(n, i);
		for (size_t j = 0; grant >= 0 && j < FR_ARRAY_LEN(only); j++) {
			if (strcmp(k->value, only[j].key) == 0 &&
			    grant != (int)only[j].g)
				fr_diag_at(d, FR_ERROR, &k->loc, "'%s' is only "
					   "for grant %s, not %s", k->value,
					   fr_grant_name(only[j].g),
					   fr_grant_name((enum fr_grant)grant));
		}
	}
	if ((v = fr_ymap_get(n, "authorize_url")))
		o->authorize_url = auth_template(d, sc, c, v, "'authorize_url'",
						 false);
	else if (grant == FR_GRANT_AUTHORIZATION_CODE)
		fr_diag_at(d, FR_ERROR, &n->loc, "missing 'authorize_url' in "
			   "oauth2 (grant authorization_code needs it)");
	if ((v = fr_ymap_get(n, "refresh_token")))
		o->refresh_token = auth_template(d, sc, c, v, "'refresh_token'",
						 true);
	else if (grant == FR_GRANT_REFRESH_TOKEN)
		fr_diag_at(d, FR_ERROR, &n->loc, "missing 'refresh_token' in "
			   "oauth2 (grant refresh_token needs it)");
	if ((v = fr_ymap_get(n, "pkce")))
		fr_schema_bool(d, v, "'pkce'", &o->pkce);
	if ((v = fr_ymap_get(n, "scopes")))
		parse_scopes(d, v, o);
	if ((v = fr_ymap_get(n, "client_auth")) &&
	    one_of(d, v, "'client_auth'", auths, 2, "body or basic") == 1) {
		o->client_basic = true;
		if (!fr_ymap_get(n, "client_secret"))
			fr_diag_at(d, FR_ERROR, &v->loc, "client_auth basic "
				   "needs 'client_secret'");
	}
	if ((v = fr_ymap_get(n, "apply"))) {
		free(o->apply_header);
		free(o->apply_prefix);
		o->apply_header = o->apply_prefix = NULL;
		parse_apply(d, v, o);
	}
}

static void parse_auth(struct fr_diag *d, struct fr_scope *sc,
		       const struct fr_ynode *n, struct fr_connector *c)
{
	static const char *const keys[] = { "oauth2", NULL };

	if (!fr_schema_is_map(d, n, "'auth'"))
		return;
	fr_schema_keys(d, n, keys, "auth");
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		if (strcmp(fr_ymap_key(n, i)->value, "oauth2") == 0)
			parse_oauth2(d, sc, fr_ymap_key(n, i), fr_ymap_val(n, i),
				     c);
	}
	if (fr_ymap_len(n) == 0)
		fr_diag_at(d, FR_ERROR, &n->loc, "'auth' needs 'oauth2'");
}

/*
 * The token goes where apply says; a static header of that name would be
 * replaced by it, which is worth a word.
 */
static void check_auth_header(struct fr_diag *d, const struct fr_ynode *root,
			      const struct fr_connector *c)
{
	const struct fr_ynode *http = fr_ymap_get(root, "http"), *h;

	if (!c->oauth2 || !c->oauth2->apply_header || !http ||
	    http->kind != FR_YMAP || !(h = fr_ymap_get(http, "headers")) ||
	    h->kind != FR_YMAP)
		return;
	for (size_t i = 0; i < fr_ymap_len(h); i++) {
		const struct fr_ynode *k = fr_ymap_key(h, i);
		if (strcasecmp(k->value, c->oauth2->apply_header) == 0)
			fr_diag_at(d, FR_WARNING, &k->loc, "header '%s' is "
				   "replaced by the access token of 'auth'",
				   k->value);
	}
}

int fr_connector_load(struct fr_connector **out, const struct fr_ydoc *doc,
		      struct fr_jqx_prog *prog, struct fr_diag *d)
{
	static const char *const keys[] = { "connector", "description", "inputs",
					    "http", "auth", "actions", "webhook",
					    NULL };
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
	if ((v = fr_ymap_get(root, "auth"))) {
		parse_auth(d, &sc, v, c);
		check_auth_header(d, root, c);
	}
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
	if (c->oauth2) {
		struct fr_oauth2 *o = c->oauth2;
		fr_tmpl_destroy(o->token_url);
		fr_tmpl_destroy(o->authorize_url);
		fr_tmpl_destroy(o->client_id);
		fr_tmpl_destroy(o->client_secret);
		fr_tmpl_destroy(o->refresh_token);
		for (size_t i = 0; i < o->nscopes; i++)
			free(o->scopes[i]);
		free(o->scopes);
		free(o->apply_header);
		free(o->apply_prefix);
		free(o->apply_query);
		free(o);
	}
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
