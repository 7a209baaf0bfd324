/*
 * oauth: fr_oauth against the stand-in OAuth 2.0 server
 * (tests/standins/oauth.py, started here on an ephemeral port; meson runs
 * this test in tests/), with a SQLite store in a temporary directory:
 * client credentials got once and then kept, the authorization code grant
 * (the URL, the pending state, PKCE S256 checked by the server, the code
 * exchanged and the tokens stored), a forged state, and the connection
 * marked after invalid_grant.  The client secret is made at run time.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "expr.h"
#include "http.h"
#include "oauth.h"
#include "store.h"
#include "tap.h"
#include "util.h"

extern char **environ;

static char dir[] = "/tmp/fr-oauth-test-XXXXXX";
static char base[64];
static pid_t standin = -1;
static struct fr_http *http;

/* Starts the stand-in; its URL in base.  0 or -1. */
static int start_standin(const char *secret)
{
	char *argv[] = { (char *)"/usr/bin/python3", (char *)"standins/oauth.py",
			 (char *)"--port", (char *)"0", (char *)"--client-id",
			 (char *)"cid", (char *)"--client-secret", (char *)secret,
			 NULL };
	posix_spawn_file_actions_t fa;
	char line[128] = "";
	int fds[2];
	FILE *f;

	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (posix_spawn(&standin, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (!f || !fgets(line, sizeof(line), f) ||
	    strncmp(line, "READY port=", 11) != 0) {
		printf("# the stand-in did not start: %s\n", line);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", atoi(line + 11));
	return 0;
}

static void stop_standin(void)
{
	if (standin > 0) {
		kill(standin, SIGTERM);
		waitpid(standin, NULL, 0);
	}
}

/* One request to the stand-in; the JSON answer (or NULL), *status set. */
static json_t *call(const char *method, const char *path, const char *body,
		    long *status, struct fr_http_response *keep)
{
	struct fr_http_header h = { (char *)"Content-Type",
				    (char *)"application/json" };
	char *url = strncmp(path, "http", 4) == 0 ? fr_xstrdup(path)
		: fr_xasprintf("%s%s", base, path);
	struct fr_http_request req = { .method = method, .url = url,
				       .headers = &h, .nheaders = body ? 1 : 0,
				       .body = body,
				       .body_len = body ? strlen(body) : 0 };
	struct fr_http_response r = { 0 };
	char *err = NULL;
	json_t *j = NULL;

	*status = 0;
	if (fr_http_send(http, &req, &r, &err) == 0) {
		*status = r.status;
		j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
	} else {
		printf("# %s %s: %s\n", method, path, err);
		free(err);
	}
	free(url);
	if (keep)
		*keep = r;
	else
		fr_http_response_finish(&r);
	return j;
}

static long counter(const char *name)
{
	long status;
	json_t *j = call("GET", "/_admin/counters", NULL, &status, NULL);
	long n = (long)json_integer_value(json_object_get(j, name));

	json_decref(j);
	return n;
}

static struct fr_tmpl *text(const char *s)
{
	static const struct fr_loc none;

	return fr_tmpl_const(json_string(s), &none);
}

struct conn {
	struct fr_connector c;
	struct fr_oauth2 o2;
	json_t *inputs;
	struct fr_redact *redact;
	struct fr_oauth_call call;
};

static void conn_init(struct conn *k, enum fr_grant grant, const char *name,
		      const char *secret)
{
	char *url = fr_xasprintf("%s/token", base);
	char *auth = fr_xasprintf("%s/authorize", base);
	static char *scopes[] = { (char *)"contacts.read", (char *)"contacts.write" };

	memset(k, 0, sizeof(*k));
	k->o2.grant = grant;
	k->o2.token_url = text(url);
	k->o2.client_id = text("cid");
	k->o2.client_secret = text(secret);
	if (grant == FR_GRANT_AUTHORIZATION_CODE) {
		k->o2.authorize_url = text(auth);
		k->o2.pkce = true;
		k->o2.scopes = scopes;
		k->o2.nscopes = 2;
		k->o2.client_basic = true;
	}
	k->o2.apply_header = (char *)"Authorization";
	k->o2.apply_prefix = (char *)"Bearer ";
	k->c.name = (char *)"t";
	k->c.oauth2 = &k->o2;
	k->inputs = json_object();
	k->redact = fr_redact_create();
	k->call = (struct fr_oauth_call){
		.connector = &k->c, .integration = "crm", .instance = "prod",
		.connection = name, .inputs = k->inputs, .http = http,
		.redact = k->redact, .timeout_ms = 10000,
	};
	free(url);
	free(auth);
}

static void conn_finish(struct conn *k)
{
	fr_tmpl_destroy(k->o2.token_url);
	fr_tmpl_destroy(k->o2.client_id);
	fr_tmpl_destroy(k->o2.client_secret);
	fr_tmpl_destroy(k->o2.authorize_url);
	json_decref(k->inputs);
	fr_redact_destroy(k->redact);
}

/* The value of query parameter name in url (caller frees), or NULL. */
static char *param(const char *url, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strchr(url, '?'); p; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=') {
			const char *v = p + 2 + n;
			return fr_xstrndup(v, strcspn(v, "&"));
		}
	}
	return NULL;
}

static void test_client_credentials(struct fr_oauth *o, const char *secret)
{
	struct conn k;
	char *t1 = NULL, *t2 = NULL, *t3 = NULL, *err = NULL;

	conn_init(&k, FR_GRANT_CLIENT_CREDENTIALS, "machine", secret);
	ok(fr_oauth_token(o, &k.call, NULL, &t1, &err) == 0 && t1,
	   "client credentials: a token (%s)", err ? err : "no error");
	free(err);
	err = NULL;
	ok(fr_oauth_token(o, &k.call, NULL, &t2, &err) == 0 && t2 &&
	   strcmp(t1, t2) == 0, "the same token again");
	is_int((int)counter("token_requests"), 1, "one token request");
	{
		char *red = fr_redact_str(k.redact, t1);
		is_str(red, "***", "the token is registered with the redactor");
		free(red);
		red = fr_redact_str(k.redact, secret);
		is_str(red, "***", "so is the client secret");
		free(red);
	}
	ok(fr_oauth_token(o, &k.call, t1, &t3, &err) == 0 && t3 &&
	   strcmp(t1, t3) != 0, "refused (stale): another token");
	free(err);
	is_int((int)counter("token_requests"), 2, "after a second request");
	{
		/* another process: a new fr_oauth reads the stored token */
		struct fr_oauth *other = fr_oauth_create(getenv("FLOWRUN_STORE"));
		char *t4 = NULL;
		err = NULL;
		ok(fr_oauth_token(other, &k.call, NULL, &t4, &err) == 0 && t4 &&
		   strcmp(t4, t3) == 0, "another process uses the stored token");
		is_int((int)counter("token_requests"), 2, "without asking");
		free(t4);
		free(err);
		fr_oauth_destroy(other);
	}
	free(t1);
	free(t2);
	free(t3);
	conn_finish(&k);
}

static void test_authorization_code(struct fr_oauth *o, const char *secret)
{
	struct conn k;
	struct fr_store *s = NULL;
	struct fr_pending p = { 0 };
	struct fr_http_response r;
	char *url = NULL, *state = NULL, *err = NULL, *tok = NULL;
	const char *loc;
	char *code = NULL, *back_state = NULL;
	bool found = false;
	long status;

	conn_init(&k, FR_GRANT_AUTHORIZATION_CODE, "hub", secret);
	ok(fr_oauth_token(o, &k.call, NULL, &tok, &err) < 0 && err &&
	   strstr(err, "connection 'hub' needs authorization; run 'flowrun "
		  "connect hub --instance prod'"), "not authorized yet: %s",
	   err ? err : "(null)");
	free(err);
	err = NULL;
	ok(fr_oauth_authorize_url(o, &k.call, "http://127.0.0.1:1/oauth/callback",
				  600, &url, &state, &err) == 0 && url && state,
	   "an authorization URL (%s)", err ? err : "no error");
	free(err);
	err = NULL;
	if (!url)
		goto out;
	{
		char *v;
		ok(strncmp(url, base, strlen(base)) == 0 &&
		   strstr(url, "/authorize?response_type=code&client_id=cid&"),
		   "authorize_url with response_type and client_id: %s", url);
		v = param(url, "scope");
		is_str(v, "contacts.read%20contacts.write", "scopes, space-separated");
		free(v);
		v = param(url, "state");
		is_str(v, state, "the state");
		free(v);
		ok(strlen(state) == 43, "of 256 bits");
		v = param(url, "code_challenge_method");
		is_str(v, "S256", "PKCE S256");
		free(v);
		v = param(url, "code_challenge");
		ok(v && strlen(v) == 43, "with a challenge");
		free(v);
		v = param(url, "redirect_uri");
		is_str(v, "http%3A%2F%2F127.0.0.1%3A1%2Foauth%2Fcallback",
		       "and the redirect URI");
		free(v);
	}
	/* the user says yes: the server redirects with code and state */
	json_decref(call("GET", url, NULL, &status, &r));
	is_int((int)status, 302, "the server redirects");
	loc = fr_http_response_header(&r, "location");
	code = loc ? param(loc, "code") : NULL;
	back_state = loc ? param(loc, "state") : NULL;
	is_str(back_state, state, "with the state");
	ok(code != NULL, "and a code");
	fr_http_response_finish(&r);

	if (fr_store_open(&s, getenv("FLOWRUN_STORE"), &err) < 0)
		goto out;
	ok(fr_store_pending_take(s, "forged-state", &p, &found, &err) == 0 &&
	   !found, "a forged state is not pending");
	fr_pending_finish(&p);
	ok(fr_store_pending_take(s, state, &p, &found, &err) == 0 && found &&
	   p.verifier && strlen(p.verifier) == 43, "the pending one is, with "
	   "its verifier");
	is_str(p.connection, "hub", "for its connection");
	is_str(p.redirect_uri, "http://127.0.0.1:1/oauth/callback",
	       "and redirect URI");
	ok(fr_oauth_exchange_code(o, &k.call, &p, code, &err) == 0,
	   "the code exchanged (PKCE checked by the server): %s",
	   err ? err : "no error");
	free(err);
	err = NULL;
	is_int((int)counter("token_requests"), 3, "one token request for it");
	ok(fr_oauth_exchange_code(o, &k.call, &p, code, &err) < 0 && err &&
	   strstr(err, "invalid_grant"), "a code is used once: %s",
	   err ? err : "(null)");
	free(err);
	err = NULL;
	{
		struct fr_token t;
		ok(fr_store_token_get(s, "crm", "prod", "hub", &t, &found,
				      &err) == 0 && found &&
		   t.status == FR_CONN_CONNECTED && t.access_token &&
		   t.refresh_token, "stored: connected, with a refresh token");
		is_str(t.scopes, "contacts.read contacts.write", "and scopes");
		fr_token_finish(&t);
	}
	ok(fr_oauth_token(o, &k.call, NULL, &tok, &err) == 0 && tok,
	   "now a token is there");
	free(err);
	err = NULL;
	is_int((int)counter("token_requests"), 4, "without asking again (the "
	       "fourth was the used code)");
	free(tok);
	tok = NULL;
	/* revoked: invalid_grant marks the connection */
	json_decref(call("POST", "/_admin/revoke", "{}", &status, NULL));
	json_decref(call("POST", "/_admin/expire", "{}", &status, NULL));
	{
		char *stale = NULL;
		fr_oauth_token(o, &k.call, NULL, &stale, &err);
		free(err);
		err = NULL;
		ok(fr_oauth_token(o, &k.call, stale, &tok, &err) < 0 && err &&
		   strstr(err, "invalid_grant") &&
		   strstr(err, "run 'flowrun connect hub --instance prod'"),
		   "revoked: invalid_grant, connect again: %s",
		   err ? err : "(null)");
		free(stale);
		free(err);
		err = NULL;
	}
	{
		struct fr_token t;
		ok(fr_store_token_get(s, "crm", "prod", "hub", &t, &found,
				      &err) == 0 && found &&
		   t.status == FR_CONN_NEEDS_AUTH && !t.refresh_token,
		   "marked as needing authorization");
		fr_token_finish(&t);
	}
out:
	fr_pending_finish(&p);
	fr_store_close(s);
	free(err);
	free(tok);
	free(url);
	free(state);
	free(code);
	free(back_state);
	conn_finish(&k);
}

int main(void)
{
	unsigned char rnd[16];
	char secret[33];
	char *store;
	struct fr_oauth *o;

	fr_random_bytes(rnd, sizeof(rnd));
	fr_hex(rnd, sizeof(rnd), secret);
	if (!mkdtemp(dir) || fr_http_global_init() < 0 || !(http = fr_http_create())) {
		ok(0, "setup: %s", strerror(errno));
		return done_testing();
	}
	unsetenv("FLOWRUN_SECRET_KEY");
	store = fr_xasprintf("sqlite:%s/flowrun.db", dir);
	setenv("FLOWRUN_STORE", store, 1);
	if (!ok(start_standin(secret) == 0, "the stand-in starts")) {
		free(store);
		return done_testing();
	}
	o = fr_oauth_create(store);
	test_client_credentials(o, secret);
	test_authorization_code(o, secret);
	fr_oauth_destroy(o);
	stop_standin();
	fr_http_destroy(http);
	{
		char *p;
		static const char *const suffix[] = { "", "-wal", "-shm", ".key" };
		for (size_t i = 0; i < FR_ARRAY_LEN(suffix); i++) {
			p = fr_xasprintf("%s/flowrun.db%s", dir, suffix[i]);
			remove(p);
			free(p);
		}
	}
	rmdir(dir);
	free(store);
	return done_testing();
}
