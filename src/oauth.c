/*
 * oauth: getting, keeping and refreshing OAuth 2.0 access tokens for
 * connectors (oauth.h).  RFC 6749: section 4.4 (client credentials),
 * section 6 (refreshing), section 5 (the token endpoint's answers),
 * section 2.3.1 (client authentication).
 */
#include "oauth.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "expr.h"
#include "hashmap.h"
#include "json.h"
#include "http.h"
#include "store.h"
#include "util.h"
#include "verify.h"

/* Refresh this long before expiry, or at half the lifetime if shorter. */
#define REFRESH_MARGIN_S 60.0
/* A token request that does not end in this long is abandoned. */
#define TOKEN_TIMEOUT_MS 30000
#define BODY_EXCERPT 200

/* What this process holds of one connection (keyed by its names). */
struct entry {
	pthread_mutex_t m;	/* one refresh at a time in this process */
	char *access;		/* the access token, or NULL */
	double expires_at;	/* 0: not said */
	double issued_at;
};

struct fr_oauth {
	char *store_url;
	pthread_mutex_t m;	/* guards map and entries */
	struct fr_hashmap map;	/* names -> index into entries */
	struct entry **entries;
	size_t n, cap;
};

struct fr_oauth *fr_oauth_create(const char *store_url)
{
	struct fr_oauth *o = fr_xcalloc(1, sizeof(*o));

	o->store_url = store_url ? fr_xstrdup(store_url) : NULL;
	pthread_mutex_init(&o->m, NULL);
	return o;
}

static void free_secret(char *s)
{
	if (s) {
		fr_crypto_wipe(s, strlen(s));
		free(s);
	}
}

void fr_oauth_destroy(struct fr_oauth *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		pthread_mutex_destroy(&o->entries[i]->m);
		free_secret(o->entries[i]->access);
		free(o->entries[i]);
	}
	free(o->entries);
	fr_hashmap_finish(&o->map);
	pthread_mutex_destroy(&o->m);
	free(o->store_url);
	free(o);
}

static struct entry *entry_of(struct fr_oauth *o, const struct fr_oauth_call *c)
{
	char *key = fr_xasprintf("%s\x1f%s\x1f%s", c->integration, c->instance,
				 c->connection);
	struct entry *e;
	size_t i;

	pthread_mutex_lock(&o->m);
	if (fr_hashmap_get(&o->map, key, &i)) {
		e = o->entries[i];
	} else {
		e = fr_xcalloc(1, sizeof(*e));
		pthread_mutex_init(&e->m, NULL);
		fr_grow(&o->entries, &o->cap, o->n + 1, sizeof(*o->entries));
		o->entries[o->n] = e;
		fr_hashmap_put(&o->map, key, o->n++);
	}
	pthread_mutex_unlock(&o->m);
	free(key);
	return e;
}

/* Whether a token that expires at expires_at may still be sent. */
static bool fresh(double expires_at, double issued_at, double now)
{
	double margin = REFRESH_MARGIN_S;

	if (expires_at <= 0)
		return true;	/* no expiry said: until the API refuses it */
	if (issued_at > 0 && expires_at > issued_at &&
	    (expires_at - issued_at) / 2 < margin)
		margin = (expires_at - issued_at) / 2;
	return now < expires_at - margin;
}

/* the client: the connector's templates over the connection's inputs */

struct client {
	char *token_url, *client_id, *client_secret, *refresh_token;
};

static void client_finish(struct client *cl)
{
	free(cl->token_url);
	free(cl->client_id);
	free_secret(cl->client_secret);
	free_secret(cl->refresh_token);
}

/* A template's text; NULL t gives NULL.  A value that is no string (an
 * input left out) is an error. */
static int render_value(const struct fr_oauth_call *c, const struct fr_tmpl *t,
			const char *what, char **out, char **err)
{
	jv cctx, none;
	json_t *v = NULL;
	int rc;

	*out = NULL;
	if (!t)
		return 0;
	cctx = jv_object_set(jv_object(), jv_string("connection"),
			     fr_json_to_jv(c->inputs));
	none = jv_array();
	rc = fr_tmpl_render(t, c->jx, cctx, none, &v, err);
	jv_free(cctx);
	jv_free(none);
	if (rc < 0) {
		char *m = fr_xasprintf("connection '%s': %s of connector '%s': %s",
				       c->connection, what, c->connector->name,
				       *err);
		free(*err);
		*err = m;
		return -1;
	}
	if (!json_is_string(v) || !*json_string_value(v)) {
		*err = fr_xasprintf("connection '%s': %s of connector '%s' gives "
				    "no text (is an input missing?)", c->connection,
				    what, c->connector->name);
		json_decref(v);
		return -1;
	}
	*out = fr_xstrdup(json_string_value(v));
	json_decref(v);
	return 0;
}

static int render_client(const struct fr_oauth_call *c, struct client *cl,
			 char **err)
{
	const struct fr_oauth2 *o2 = c->connector->oauth2;

	memset(cl, 0, sizeof(*cl));
	if (render_value(c, o2->token_url, "'token_url'", &cl->token_url, err) < 0 ||
	    render_value(c, o2->client_id, "'client_id'", &cl->client_id, err) < 0 ||
	    render_value(c, o2->client_secret, "'client_secret'",
			 &cl->client_secret, err) < 0 ||
	    render_value(c, o2->refresh_token, "'refresh_token'",
			 &cl->refresh_token, err) < 0) {
		client_finish(cl);
		return -1;
	}
	if (cl->client_secret)
		fr_redact_add(c->redact, cl->client_secret);
	if (cl->refresh_token)
		fr_redact_add(c->redact, cl->refresh_token);
	return 0;
}

/* token requests */

struct answer {
	char *access, *refresh, *scope;
	double expires_in;	/* < 0: not said */
};

static void answer_finish(struct answer *a)
{
	free_secret(a->access);
	free_secret(a->refresh);
	free(a->scope);
}

static void form_add(struct fr_buf *b, const char *name, const char *value)
{
	char *v = fr_http_urlencode(value, strlen(value));

	fr_buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, v);
	fr_crypto_wipe(v, strlen(v));
	free(v);
}

static char *scopes_text(const struct fr_oauth2 *o2)
{
	struct fr_buf b;

	if (!o2->nscopes)
		return NULL;
	fr_buf_init(&b);
	for (size_t i = 0; i < o2->nscopes; i++)
		fr_buf_printf(&b, "%s%s", i ? " " : "", o2->scopes[i]);
	return fr_buf_steal(&b);
}

/*
 * Where to authorize again, for the message of a grant that failed for
 * good (caller frees).
 */
static char *reauthorize_hint(const struct fr_oauth_call *c)
{
	enum fr_grant g = c->connector->oauth2->grant;
	bool other = strcmp(c->instance, "default") != 0;

	if (g == FR_GRANT_REFRESH_TOKEN)
		return fr_xasprintf("give connection '%s' a new refresh token",
				    c->connection);
	if (g == FR_GRANT_AUTHORIZATION_CODE)
		return fr_xasprintf("run 'flowrun connect %s%s%s' to authorize "
				    "it again", c->connection,
				    other ? " --instance " : "",
				    other ? c->instance : "");
	return fr_xstrdup("check the connection's client credentials");
}

/* section 5.1 answer: the tokens; 0, or -1 with *err */
static int parse_answer(const struct fr_oauth_call *c,
			const struct fr_http_response *r, struct answer *a,
			char **err)
{
	json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
	const json_t *at = json_object_get(j, "access_token");
	const json_t *rt = json_object_get(j, "refresh_token");
	const json_t *ex = json_object_get(j, "expires_in");
	const json_t *sc = json_object_get(j, "scope");

	memset(a, 0, sizeof(*a));
	a->expires_in = -1;
	if (!json_is_string(at) || !*json_string_value(at)) {
		if (json_is_string(at))
			fr_redact_add(c->redact, json_string_value(at));
		json_decref(j);
		*err = fr_xasprintf("connection '%s': the token endpoint answered "
				    "%ld without an access_token", c->connection,
				    r->status);
		return -1;
	}
	a->access = fr_xstrdup(json_string_value(at));
	fr_redact_add(c->redact, a->access);
	if (json_is_string(rt) && *json_string_value(rt)) {
		a->refresh = fr_xstrdup(json_string_value(rt));
		fr_redact_add(c->redact, a->refresh);
	}
	/* a number, as the RFC says; some send it as text */
	if (json_is_number(ex))
		a->expires_in = json_number_value(ex);
	else if (json_is_string(ex))
		a->expires_in = strtod(json_string_value(ex), NULL);
	if (!isfinite(a->expires_in) || a->expires_in < 0)
		a->expires_in = -1;
	if (json_is_string(sc))
		a->scope = fr_xstrdup(json_string_value(sc));
	if (json_is_string(json_object_get(j, "id_token")))
		fr_redact_add(c->redact, json_string_value(json_object_get(j,
								"id_token")));
	json_decref(j);
	return 0;
}

/*
 * Sends one token request: form holds the grant's own parameters; the
 * client authenticates as the connector says.  *invalid_grant tells the
 * error that no retry will mend.
 */
static int token_request(const struct fr_oauth_call *c,
			 const struct client *cl, struct fr_buf *form,
			 struct answer *a, bool *invalid_grant, char **err)
{
	const struct fr_oauth2 *o2 = c->connector->oauth2;
	struct fr_http_header h[3] = {
		{ (char *)"Content-Type", (char *)"application/x-www-form-urlencoded" },
		{ (char *)"Accept", (char *)"application/json" },
	};
	struct fr_http_request req = {
		.method = "POST", .url = cl->token_url, .headers = h,
		.nheaders = 2, .max_body = 1 << 20,
	};
	struct fr_http_response r;
	char *basic = NULL, *e = NULL;
	uint64_t now = fr_now_ns();
	int64_t tmo = c->timeout_ms > 0 && c->timeout_ms < TOKEN_TIMEOUT_MS
			      ? c->timeout_ms : TOKEN_TIMEOUT_MS;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	*invalid_grant = false;
	if (c->deadline) {
		int64_t left = c->deadline > now
				       ? (int64_t)((c->deadline - now) / 1000000u) : 0;
		if (left <= 0) {
			*err = fr_xasprintf("connection '%s': no time left for a "
					    "token request", c->connection);
			return -1;
		}
		if (left < tmo)
			tmo = left;
	}
	req.timeout_ms = (long)tmo;
	if (o2->client_basic && cl->client_secret) {
		/* section 2.3.1: each part form-encoded, then base64 */
		char *id = fr_http_urlencode(cl->client_id, strlen(cl->client_id));
		char *sec = fr_http_urlencode(cl->client_secret,
					      strlen(cl->client_secret));
		char *pair = fr_xasprintf("%s:%s", id, sec);
		char *b64 = fr_base64_encode((const unsigned char *)pair,
					     strlen(pair));
		basic = fr_xasprintf("Basic %s", b64);
		fr_redact_add(c->redact, basic);
		fr_redact_add(c->redact, b64);
		fr_crypto_wipe(sec, strlen(sec));
		fr_crypto_wipe(pair, strlen(pair));
		free(id);
		free(sec);
		free(pair);
		free_secret(b64);
		h[2].name = (char *)"Authorization";
		h[2].value = basic;
		req.nheaders = 3;
	} else {
		form_add(form, "client_id", cl->client_id);
		if (cl->client_secret)
			form_add(form, "client_secret", cl->client_secret);
	}
	req.body = form->data ? form->data : "";
	req.body_len = form->len;
	if (fr_http_send(c->http, &req, &r, &e) < 0) {
		*err = fr_xasprintf("connection '%s': token request to %s failed: "
				    "%s", c->connection, cl->token_url, e);
		free(e);
		goto out;
	}
	if (r.status == 200) {
		rc = parse_answer(c, &r, a, err);
		goto out;
	}
	{
		/* section 5.2: {error, error_description} */
		json_t *j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
		const char *code = json_string_value(json_object_get(j, "error"));
		const char *desc = json_string_value(json_object_get(j,
							"error_description"));
		if (code) {
			char *d = desc ? fr_redact_str(c->redact, desc) : NULL;
			char *cd = fr_redact_str(c->redact, code);
			char *hint = NULL;
			*invalid_grant = strcmp(code, "invalid_grant") == 0;
			if (*invalid_grant)
				hint = reauthorize_hint(c);
			*err = fr_xasprintf("connection '%s': the token endpoint "
					    "refused the %s grant: %s%s%s%s%s%s",
					    c->connection,
					    strstr(req.body, "grant_type=refresh_token")
						    ? "refresh_token"
						    : fr_grant_name(o2->grant),
					    cd, d ? " (" : "", d ? d : "",
					    d ? ")" : "", hint ? "; " : "",
					    hint ? hint : "");
			free(d);
			free(cd);
			free(hint);
		} else {
			char *x = fr_redact_excerpt(c->redact, r.body, r.body_len,
						    BODY_EXCERPT);
			*err = fr_xasprintf("connection '%s': the token endpoint %s "
					    "answered %ld%s%s", c->connection,
					    cl->token_url, r.status, *x ? ": " : "", x);
			free(x);
		}
		json_decref(j);
	}
out:
	fr_crypto_wipe(form->data, form->len);
	if (r.body)
		fr_crypto_wipe(r.body, r.body_len);
	fr_http_response_finish(&r);
	free_secret(basic);
	return rc;
}

/* the store */

static int open_store(struct fr_oauth *o, const struct fr_oauth_call *c,
		      struct fr_store **s, char **err)
{
	char *e = NULL;

	if (fr_store_open(s, o->store_url, &e) == 0)
		return 0;
	*err = fr_xasprintf("connection '%s': cannot reach the store that keeps "
			    "its tokens: %s", c->connection, e);
	free(e);
	return -1;
}

static int read_token(struct fr_store *s, const struct fr_oauth_call *c,
		      struct fr_token *t, bool *found, char **err)
{
	char *e = NULL;

	if (fr_store_token_get(s, c->integration, c->instance, c->connection, t,
			       found, &e) == 0) {
		if (*found && t->access_token)
			fr_redact_add(c->redact, t->access_token);
		if (*found && t->refresh_token)
			fr_redact_add(c->redact, t->refresh_token);
		return 0;
	}
	*err = fr_xasprintf("connection '%s': %s", c->connection, e);
	free(e);
	return -1;
}

/* A stored token this call may send: connected, fresh, not the stale one. */
static bool usable(const struct fr_token *t, bool found, const char *stale,
		   double now)
{
	return found && !t->unreadable && t->status == FR_CONN_CONNECTED &&
	       t->access_token && fresh(t->expires_at, t->updated_at, now) &&
	       (!stale || strcmp(stale, t->access_token) != 0);
}

static void cache(struct entry *e, const char *access, double expires_at,
		  double issued_at)
{
	free_secret(e->access);
	e->access = access ? fr_xstrdup(access) : NULL;
	e->expires_at = expires_at;
	e->issued_at = issued_at;
}

static char *needs_authorization(const struct fr_oauth_call *c,
				 const struct fr_token *t, bool found)
{
	char *hint = reauthorize_hint(c);
	char *m = fr_xasprintf("connection '%s' needs authorization%s; %s",
			       c->connection, found && t->unreadable
				       ? " (its tokens were stored under another "
					 "secret key)" : "", hint);

	free(hint);
	return m;
}

/*
 * Gets a new access token, under the store's refresh lock, reading the
 * stored token again first: another process may have got one meanwhile.
 * Stores what the token endpoint answered before giving it out.
 */
static int renew(struct fr_oauth *o, const struct fr_oauth_call *c,
		 const struct client *cl, struct fr_store *s, struct entry *e,
		 const char *stale, char **err)
{
	const struct fr_oauth2 *o2 = c->connector->oauth2;
	double wait = (double)TOKEN_TIMEOUT_MS / 1000 + 15;
	struct fr_token t = { 0 };
	struct answer a = { 0 };
	struct fr_buf form;
	const char *used = NULL;
	bool found = false, invalid = false, locked = false;
	char *scopes = scopes_text(o2), *e2 = NULL;
	double now;
	int rc = -1, trc;

	(void)o;
	fr_buf_init(&form);
	if (fr_store_token_lock(s, c->integration, c->instance, c->connection,
				wait, wait + 30, &e2) < 0) {
		*err = fr_xasprintf("connection '%s': %s", c->connection, e2);
		free(e2);
		goto out;
	}
	locked = true;
	if (read_token(s, c, &t, &found, err) < 0)
		goto out;
	now = fr_store_now();
	if (usable(&t, found, stale, now)) {
		cache(e, t.access_token, t.expires_at, t.updated_at);
		rc = 0;
		goto out;
	}
	/* what the endpoint answers must be kept: a rotated refresh token
	 * that could not be stored would be lost with the old one spent */
	if (fr_store_token_writable(s, &e2) < 0) {
		*err = fr_xasprintf("connection '%s': %s", c->connection, e2);
		free(e2);
		e2 = NULL;
		goto out;
	}
	if (o2->grant == FR_GRANT_CLIENT_CREDENTIALS) {
		form_add(&form, "grant_type", "client_credentials");
		if (scopes)
			form_add(&form, "scope", scopes);
	} else {
		if (found && !t.unreadable && t.refresh_token)
			used = t.refresh_token;
		else if (o2->grant == FR_GRANT_REFRESH_TOKEN)
			used = cl->refresh_token;
		if (!used) {
			*err = needs_authorization(c, &t, found);
			goto out;
		}
		form_add(&form, "grant_type", "refresh_token");
		form_add(&form, "refresh_token", used);
	}
	trc = token_request(c, cl, &form, &a, &invalid, err);
	if (trc < 0 && invalid && o2->grant == FR_GRANT_REFRESH_TOKEN &&
	    cl->refresh_token && strcmp(used, cl->refresh_token) != 0) {
		/* the stored one is spent: the connection may have a new one */
		free(*err);
		*err = NULL;
		answer_finish(&a);
		memset(&a, 0, sizeof(a));
		used = cl->refresh_token;
		fr_buf_finish(&form);
		fr_buf_init(&form);
		form_add(&form, "grant_type", "refresh_token");
		form_add(&form, "refresh_token", used);
		trc = token_request(c, cl, &form, &a, &invalid, err);
	}
	if (trc < 0) {
		if (invalid) {
			/* for good: nothing stored is any use any more */
			struct fr_token mark = {
				.integration = (char *)c->integration,
				.instance = (char *)c->instance,
				.connection = (char *)c->connection,
				.status = FR_CONN_NEEDS_AUTH,
			};
			if (fr_store_token_put(s, &mark, &e2) < 0)
				free(e2);
			e2 = NULL;
			cache(e, NULL, 0, 0);
		}
		goto out;
	}
	now = fr_store_now();
	{
		struct fr_token put = {
			.integration = (char *)c->integration,
			.instance = (char *)c->instance,
			.connection = (char *)c->connection,
			.status = FR_CONN_CONNECTED, .access_token = a.access,
			/* a rotated one replaces the one used (section 6) */
			.refresh_token = a.refresh ? a.refresh
				: o2->grant == FR_GRANT_CLIENT_CREDENTIALS
					? NULL : (char *)used,
			.expires_at = a.expires_in >= 0 ? now + a.expires_in : 0,
			.scopes = a.scope ? a.scope : scopes ? scopes
						    : found ? t.scopes : NULL,
		};
		if (fr_store_token_put(s, &put, &e2) < 0) {
			*err = fr_xasprintf("connection '%s': cannot store its new "
					    "token: %s", c->connection, e2);
			free(e2);
			goto out;
		}
		locked = false;
		/* PostgreSQL: the put commits here */
		if (fr_store_token_unlock(s, &e2) < 0) {
			*err = fr_xasprintf("connection '%s': cannot store its new "
					    "token: %s", c->connection, e2);
			free(e2);
			goto out;
		}
		cache(e, a.access, put.expires_at, now);
	}
	rc = 0;
out:
	if (locked) {
		if (fr_store_token_unlock(s, &e2) < 0 && rc == 0) {
			*err = fr_xasprintf("connection '%s': %s", c->connection, e2);
			rc = -1;
		}
		free(e2);
	}
	answer_finish(&a);
	fr_token_finish(&t);
	fr_buf_finish(&form);
	free(scopes);
	return rc;
}

int fr_oauth_token(struct fr_oauth *o, const struct fr_oauth_call *c,
		   const char *stale, char **token, char **err)
{
	struct client cl;
	struct entry *e;
	struct fr_store *s = NULL;
	struct fr_token t = { 0 };
	bool found = false;
	double now;
	int rc = -1;

	*token = NULL;
	*err = NULL;
	if (render_client(c, &cl, err) < 0)
		return -1;
	e = entry_of(o, c);
	pthread_mutex_lock(&e->m);
	now = fr_store_now();
	if (e->access && fresh(e->expires_at, e->issued_at, now) &&
	    (!stale || strcmp(stale, e->access) != 0)) {
		rc = 0;		/* this process has one (maybe just got) */
		goto out;
	}
	if (open_store(o, c, &s, err) < 0 || read_token(s, c, &t, &found, err) < 0)
		goto out;
	if (usable(&t, found, stale, now)) {
		cache(e, t.access_token, t.expires_at, t.updated_at);
		rc = 0;
		goto out;
	}
	rc = renew(o, c, &cl, s, e, stale, err);
out:
	if (rc == 0) {
		*token = fr_xstrdup(e->access);
		fr_redact_add(c->redact, *token);
	}
	pthread_mutex_unlock(&e->m);
	fr_token_finish(&t);
	fr_store_close(s);
	client_finish(&cl);
	return rc;
}

/* authorization code */

#define STATE_BYTES 32		/* 256 bits: base64url of 43 characters */
#define VERIFIER_BYTES 32	/* RFC 7636 section 4.1: 43 characters */

static void query_add(struct fr_buf *b, bool *first, const char *name,
		      const char *value)
{
	char *v = fr_http_urlencode(value, strlen(value));

	fr_buf_printf(b, "%c%s=%s", *first ? '?' : '&', name, v);
	*first = false;
	free(v);
}

int fr_oauth_authorize_url(struct fr_oauth *o, const struct fr_oauth_call *c,
			   const char *redirect_uri, double lifetime_s,
			   char **url, char **state_out, char **err)
{
	const struct fr_oauth2 *o2 = c->connector->oauth2;
	struct fr_store *s = NULL;
	struct client cl;
	struct fr_buf b;
	unsigned char rnd[STATE_BYTES];
	char *base = NULL, *state = NULL, *verifier = NULL, *scopes = NULL;
	char *e = NULL;
	bool first;
	int rc = -1;

	*url = NULL;
	if (state_out)
		*state_out = NULL;
	*err = NULL;
	fr_buf_init(&b);
	if (o2->grant != FR_GRANT_AUTHORIZATION_CODE) {
		*err = fr_xasprintf("connection '%s' uses the %s grant: there is "
				    "nothing to authorize", c->connection,
				    fr_grant_name(o2->grant));
		return -1;
	}
	if (render_client(c, &cl, err) < 0)
		return -1;
	if (render_value(c, o2->authorize_url, "'authorize_url'", &base, err) < 0)
		goto out;
	fr_random_bytes(rnd, sizeof(rnd));
	state = fr_base64url(rnd, sizeof(rnd));
	fr_buf_puts(&b, base);
	first = strchr(base, '?') == NULL;
	query_add(&b, &first, "response_type", "code");
	query_add(&b, &first, "client_id", cl.client_id);
	if (redirect_uri)
		query_add(&b, &first, "redirect_uri", redirect_uri);
	if ((scopes = scopes_text(o2)))
		query_add(&b, &first, "scope", scopes);
	query_add(&b, &first, "state", state);
	if (o2->pkce) {
		unsigned char v[VERIFIER_BYTES], d[FR_SHA256_LEN];
		char *challenge;
		fr_random_bytes(v, sizeof(v));
		verifier = fr_base64url(v, sizeof(v));
		fr_crypto_wipe(v, sizeof(v));
		fr_sha256(verifier, strlen(verifier), d);
		challenge = fr_base64url(d, sizeof(d));
		query_add(&b, &first, "code_challenge", challenge);
		query_add(&b, &first, "code_challenge_method", "S256");
		free(challenge);
	}
	if (open_store(o, c, &s, err) < 0)
		goto out;
	{
		struct fr_pending p = {
			.state = state, .integration = (char *)c->integration,
			.instance = (char *)c->instance,
			.connection = (char *)c->connection, .verifier = verifier,
			.redirect_uri = (char *)redirect_uri,
			.expires_at = fr_store_now() + lifetime_s,
		};
		if (fr_store_pending_put(s, &p, &e) < 0) {
			*err = fr_xasprintf("connection '%s': %s", c->connection, e);
			free(e);
			goto out;
		}
	}
	*url = fr_buf_steal(&b);
	if (state_out) {
		*state_out = state;
		state = NULL;
	}
	rc = 0;
out:
	fr_store_close(s);
	fr_buf_finish(&b);
	free(base);
	free(state);
	free_secret(verifier);
	free(scopes);
	client_finish(&cl);
	return rc;
}

int fr_oauth_exchange_code(struct fr_oauth *o, const struct fr_oauth_call *c,
			   const struct fr_pending *pending, const char *code,
			   char **err)
{
	const struct fr_oauth2 *o2 = c->connector->oauth2;
	struct fr_store *s = NULL;
	struct answer a = { 0 };
	struct client cl;
	struct fr_buf form;
	struct entry *e;
	bool invalid, locked = false;
	char *e2 = NULL, *scopes = scopes_text(o2);
	double now;
	int rc = -1;

	*err = NULL;
	fr_buf_init(&form);
	if (render_client(c, &cl, err) < 0) {
		free(scopes);
		return -1;
	}
	fr_redact_add(c->redact, code);
	if (pending->verifier)
		fr_redact_add(c->redact, pending->verifier);
	if (open_store(o, c, &s, err) < 0)
		goto out;
	if (fr_store_token_writable(s, &e2) < 0) {
		*err = fr_xasprintf("connection '%s': %s", c->connection, e2);
		goto out;
	}
	form_add(&form, "grant_type", "authorization_code");
	form_add(&form, "code", code);
	if (pending->redirect_uri)
		form_add(&form, "redirect_uri", pending->redirect_uri);
	if (pending->verifier)
		form_add(&form, "code_verifier", pending->verifier);
	if (token_request(c, &cl, &form, &a, &invalid, err) < 0)
		goto out;
	/* not while a refresh of this connection runs elsewhere */
	if (fr_store_token_lock(s, c->integration, c->instance, c->connection,
				(double)TOKEN_TIMEOUT_MS / 1000 + 15,
				(double)TOKEN_TIMEOUT_MS / 1000 + 45, &e2) < 0) {
		*err = fr_xasprintf("connection '%s': %s", c->connection, e2);
		goto out;
	}
	locked = true;
	now = fr_store_now();
	{
		struct fr_token put = {
			.integration = (char *)c->integration,
			.instance = (char *)c->instance,
			.connection = (char *)c->connection,
			.status = FR_CONN_CONNECTED, .access_token = a.access,
			.refresh_token = a.refresh,
			.expires_at = a.expires_in >= 0 ? now + a.expires_in : 0,
			.scopes = a.scope ? a.scope : scopes,
		};
		if (fr_store_token_put(s, &put, &e2) < 0 ||
		    (locked = false, fr_store_token_unlock(s, &e2) < 0)) {
			*err = fr_xasprintf("connection '%s': cannot store its "
					    "tokens: %s", c->connection, e2);
			goto out;
		}
		e = entry_of(o, c);
		pthread_mutex_lock(&e->m);
		cache(e, a.access, put.expires_at, now);
		pthread_mutex_unlock(&e->m);
	}
	rc = 0;
out:
	if (locked) {
		char *e3 = NULL;
		fr_store_token_unlock(s, &e3);
		free(e3);
	}
	free(e2);
	fr_store_close(s);
	answer_finish(&a);
	fr_buf_finish(&form);
	free(scopes);
	client_finish(&cl);
	return rc;
}
