/*
 * oauth: the OAuth 2.0 client (RFC 6749) behind a connector's auth: oauth2
 * (flowrun-connector(5), "AUTHENTICATION"): the access token a request
 * carries, got, kept and refreshed.
 *
 * One struct fr_oauth per process, shared by its threads (thread-safe).
 * It keeps each connection's access token in memory, and in the store at
 * its URL (store.h: sealed), so that other runs and processes reuse it.
 * A token is refreshed when it is about to expire (60 s before, or half
 * its lifetime when that is shorter) and when the API refused it (401):
 * one refresh at a time per connection, in this process (a mutex per
 * connection) and across processes sharing the store (its refresh lock).
 * Under the lock the stored token is read again: one refreshed meanwhile
 * by another process is used, not refreshed once more.  What the token
 * endpoint answers is stored (a rotated refresh token among it) before the
 * access token is handed out.
 *
 * Token requests are form-encoded POSTs (section 3.2), the client
 * authenticated in the body or with HTTP Basic (section 2.3.1) as the
 * connector says.  Their errors (section 5.2) become messages naming the
 * connection; invalid_grant marks the connection as needing authorization.
 * Every token, and the client secret, is registered with the call's
 * redactor before anything could print it.
 */
#ifndef FR_OAUTH_H
#define FR_OAUTH_H

#include <jansson.h>
#include <stdint.h>

#include "jqx.h"
#include "model.h"
#include "redact.h"

struct fr_http;
struct fr_oauth;

/* store_url: the store tokens are kept in (NULL: the default store). */
struct fr_oauth *fr_oauth_create(const char *store_url);
void fr_oauth_destroy(struct fr_oauth *o);	/* NULL ok */

/* What a token is got for: borrowed for the call. */
struct fr_oauth_call {
	const struct fr_connector *connector;	/* its oauth2 is set */
	const char *integration, *instance, *connection;
	const json_t *inputs;		/* the connection's, rendered */
	struct fr_jqx *jx;		/* this thread's */
	struct fr_http *http;		/* this thread's */
	struct fr_redact *redact;	/* the execution's */
	uint64_t deadline;		/* fr_now_ns's clock; 0: none */
	int64_t timeout_ms;		/* one token request at most */
};

/*
 * The access token to send (*token, caller frees).  stale: the token that
 * the API just answered 401 to (NULL: none); another is got then, unless
 * another thread or process got one meanwhile.  -1 with *err (caller
 * frees), naming the connection, e.g. that it needs authorization.
 */
int fr_oauth_token(struct fr_oauth *o, const struct fr_oauth_call *c,
		   const char *stale, char **token, char **err);

/*
 * grant: authorization_code, for `flowrun connect` and serve's callback.
 *
 * Step one (RFC 6749 section 4.1.1; RFC 7636): a new state (and, with
 * pkce, a code verifier) is kept in the store as a pending authorization
 * of c's connection for lifetime_s, and *url (caller frees) is where to
 * send the user: authorize_url with response_type=code, client_id,
 * redirect_uri, scope, state and code_challenge (S256).  *state (caller
 * frees, may be NULL) is the state made.
 */
int fr_oauth_authorize_url(struct fr_oauth *o, const struct fr_oauth_call *c,
			   const char *redirect_uri, double lifetime_s,
			   char **url, char **state, char **err);

/*
 * Step two (section 4.1.3): the code of the redirect whose state was
 * taken as pending (fr_store_pending_take: its verifier and redirect URI)
 * is exchanged for tokens, which are stored: the connection is
 * connected.  c is the connection pending names.  Errors as for
 * fr_oauth_token.
 */
struct fr_pending;
int fr_oauth_exchange_code(struct fr_oauth *o, const struct fr_oauth_call *c,
			   const struct fr_pending *pending, const char *code,
			   char **err);

#endif
