/*
 * store_conn: connections in the store (tokens, refresh locks, pending
 * authorizations) through the fr_store_* interface, against SQLite (a file
 * in a temporary directory) and PostgreSQL ($FLOWRUN_TEST_PG, a database
 * of its own per run; meson runs this test through tests/pgserver.py).
 * Then what is each backend's own: the SQLite key file, a PostgreSQL store
 * without FLOWRUN_SECRET_KEY.  Tokens are made at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/fr-store-conn-XXXXXX";
static char key_a[65], key_b[65];	/* two keys, as hex */

#define CALL(expr, name)                                                     \
	do {                                                                 \
		char *err = NULL;                                            \
		int rc_ = (expr);                                            \
		if (!ok(rc_ == 0 && err == NULL, "%s", name))                \
			printf("#   rc %d, error: %s\n", rc_,                \
			       err ? err : "(none)");                        \
		free(err);                                                   \
	} while (0)

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

/* A token as an API might issue it, new each time (caller frees). */
static char *new_token(const char *kind)
{
	unsigned char r[18];
	char *b, *t;

	fr_random_bytes(r, sizeof(r));
	b = fr_base64url(r, sizeof(r));
	t = fr_xasprintf("%s-%s", kind, b);
	free(b);
	return t;
}

static void put(struct fr_store *s, const char *instance, const char *conn,
		const char *access, const char *refresh, double expires,
		const char *scopes, const char *name)
{
	struct fr_token t = {
		.integration = (char *)"crm", .instance = (char *)instance,
		.connection = (char *)conn, .status = FR_CONN_CONNECTED,
		.access_token = (char *)access, .refresh_token = (char *)refresh,
		.expires_at = expires, .scopes = (char *)scopes,
	};

	CALL(fr_store_token_put(s, &t, &err), name);
}

static bool get(struct fr_store *s, const char *instance, const char *conn,
		struct fr_token *t)
{
	bool found = false;
	char *err = NULL;

	if (fr_store_token_get(s, "crm", instance, conn, t, &found, &err) < 0) {
		printf("# token_get: %s\n", err);
		free(err);
		return false;
	}
	return found;
}

static void test_tokens(struct fr_store *s)
{
	char *a1 = new_token("at"), *r1 = new_token("rt"), *a2 = new_token("at");
	struct fr_token t;
	double exp = fr_store_now() + 3600;

	ok(!get(s, "prod", "hub", &t), "no tokens before any were stored");
	fr_token_finish(&t);
	put(s, "prod", "hub", a1, r1, exp, "contacts.read contacts.write",
	    "put access and refresh tokens");
	ok(get(s, "prod", "hub", &t), "found");
	is_str(t.access_token, a1, "the access token comes back");
	is_str(t.refresh_token, r1, "the refresh token comes back");
	ok(t.expires_at > exp - 0.01 && t.expires_at < exp + 0.01, "expiry kept");
	is_str(t.scopes, "contacts.read contacts.write", "scopes kept");
	ok(t.status == FR_CONN_CONNECTED && !t.unreadable, "connected");
	ok(t.updated_at > fr_store_now() - 60, "updated_at set");
	is_str(t.integration, "crm", "integration");
	is_str(t.connection, "hub", "connection");
	fr_token_finish(&t);

	/* a refresh: the new access token replaces, no refresh token given */
	put(s, "prod", "hub", a2, NULL, 0, NULL, "put again");
	ok(get(s, "prod", "hub", &t), "found again");
	is_str(t.access_token, a2, "the new access token");
	ok(t.refresh_token == NULL, "no refresh token: none kept");
	ok(t.expires_at == 0 && t.scopes == NULL, "no expiry, no scopes");
	fr_token_finish(&t);

	ok(!get(s, "staging", "hub", &t), "another instance has none");
	fr_token_finish(&t);
	ok(!get(s, "prod", "other", &t), "another connection has none");
	fr_token_finish(&t);

	/* needs authorization: the tokens go */
	{
		struct fr_token n = {
			.integration = (char *)"crm", .instance = (char *)"prod",
			.connection = (char *)"hub", .status = FR_CONN_NEEDS_AUTH,
		};
		CALL(fr_store_token_put(s, &n, &err), "mark needs authorization");
	}
	ok(get(s, "prod", "hub", &t), "still found");
	ok(t.status == FR_CONN_NEEDS_AUTH && !t.access_token &&
	   !t.refresh_token && !t.unreadable, "needs authorization, no tokens");
	fr_token_finish(&t);
	{
		struct fr_token bad = { .integration = (char *)"crm" };
		char *err = NULL;
		ok(fr_store_token_put(s, &bad, &err) < 0 && err,
		   "a token without instance and connection is refused");
		free(err);
	}
	free(a1);
	free(r1);
	free(a2);
}

static void test_list(struct fr_store *s)
{
	char *a = new_token("at");
	struct fr_token *l = NULL;
	size_t n = 0;
	double exp = fr_store_now() + 60;

	put(s, "prod", "hub", a, NULL, exp, "x", "hub connected");
	put(s, "prod", "api", a, a, 0, NULL, "api connected");
	put(s, "staging", "hub", a, NULL, 0, NULL, "staging hub connected");
	{
		struct fr_token t = {
			.integration = (char *)"other", .instance = (char *)"prod",
			.connection = (char *)"x", .status = FR_CONN_NEEDS_AUTH,
		};
		CALL(fr_store_token_put(s, &t, &err), "another integration's");
	}
	CALL(fr_store_token_list(s, NULL, NULL, &l, &n, &err), "list all");
	is_int((int)n, 4, "four connections");
	if (n == 4) {
		is_str(l[0].instance, "prod", "ordered: prod/api first");
		is_str(l[0].connection, "api", "(api)");
		is_str(l[1].connection, "hub", "then prod/hub");
		is_str(l[2].instance, "staging", "then staging/hub");
		is_str(l[3].integration, "other", "then the other integration");
		ok(l[1].expires_at > exp - 0.01 && l[1].expires_at < exp + 0.01,
		   "with expiry");
		is_str(l[1].scopes, "x", "and scopes");
		ok(l[3].status == FR_CONN_NEEDS_AUTH, "and status");
		ok(l[0].status == FR_CONN_CONNECTED, "connected");
		bool none = true;
		for (size_t i = 0; i < n; i++)
			none = none && !l[i].access_token && !l[i].refresh_token;
		ok(none, "and never a token");
	}
	fr_tokens_free(l, n);
	CALL(fr_store_token_list(s, "crm", "prod", &l, &n, &err), "list one instance");
	is_int((int)n, 2, "its two connections");
	fr_tokens_free(l, n);
	CALL(fr_store_token_list(s, "nope", NULL, &l, &n, &err), "list of none");
	is_int((int)n, 0, "empty");
	fr_tokens_free(l, n);
	is_str(fr_conn_status_name(FR_CONN_CONNECTED), "connected", "status name");
	is_str(fr_conn_status_name(FR_CONN_NEEDS_AUTH), "needs authorization",
	       "status name");
	free(a);
}

/* A handle under another key reads every token as needing authorization. */
static void test_wrong_key(const char *url)
{
	char *a = new_token("at");
	struct fr_store *s, *other;
	struct fr_token t, *l = NULL;
	size_t n = 0;

	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	s = open_store(url);
	if (!s)
		goto out;
	put(s, "prod", "keyed", a, a, 0, NULL, "put under key A");
	setenv("FLOWRUN_SECRET_KEY", key_b, 1);
	other = open_store(url);
	if (other) {
		ok(get(other, "prod", "keyed", &t), "under key B: found");
		ok(t.unreadable && t.status == FR_CONN_NEEDS_AUTH,
		   "but unreadable: needs authorization");
		ok(!t.access_token && !t.refresh_token, "and no garbage tokens");
		fr_token_finish(&t);
		CALL(fr_store_token_list(other, "crm", "prod", &l, &n, &err),
		     "list under key B");
		for (size_t i = 0; i < n; i++) {
			if (strcmp(l[i].connection, "keyed") == 0)
				ok(l[i].status == FR_CONN_NEEDS_AUTH &&
				   l[i].unreadable,
				   "lists as needing authorization");
		}
		fr_tokens_free(l, n);
		fr_store_close(other);
	}
	ok(get(s, "prod", "keyed", &t) && t.access_token &&
	   strcmp(t.access_token, a) == 0, "key A's handle still reads it");
	fr_token_finish(&t);
	fr_store_close(s);

	setenv("FLOWRUN_SECRET_KEY", "not-a-key-s3cr3t", 1);
	s = open_store(url);
	if (s) {
		char *err = NULL;
		bool found;
		ok(fr_store_token_get(s, "crm", "prod", "keyed", &t, &found,
				      &err) < 0 && err, "an invalid key is an error");
		ok(err && strstr(err, "FLOWRUN_SECRET_KEY must be 64 hex digits") &&
		   !strstr(err, "s3cr3t"), "that says what a key is, not the "
		   "value: %s", err ? err : "(null)");
		free(err);
		fr_token_finish(&t);
		fr_store_close(s);
	}
	/* the base64 form of key A opens what key A sealed */
	{
		unsigned char raw[FR_AEAD_KEY_LEN];
		char *b64;
		fr_crypto_key_parse(key_a, raw);
		b64 = fr_base64url(raw, sizeof(raw));
		setenv("FLOWRUN_SECRET_KEY", b64, 1);
		if ((s = open_store(url))) {
			ok(get(s, "prod", "keyed", &t) && t.access_token &&
			   strcmp(t.access_token, a) == 0,
			   "key A written as base64 opens it too");
			fr_token_finish(&t);
			fr_store_close(s);
		}
		free(b64);
	}
out:
	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	free(a);
}

struct locker {
	const char *url;
	int rounds;
	char *err;
};

/*
 * Each thread, on a handle of its own, adds one to a counter kept as the
 * access token, under the lock: every increment counts only if no two
 * held the lock at once.
 */
static void *locker_run(void *arg)
{
	struct locker *k = arg;
	struct fr_store *s = open_store(k->url);

	for (int i = 0; s && i < k->rounds && !k->err; i++) {
		struct fr_token t;
		bool found;
		char num[32];
		struct fr_token w = {
			.integration = (char *)"crm", .instance = (char *)"prod",
			.connection = (char *)"counter",
			.status = FR_CONN_CONNECTED, .access_token = num,
		};
		if (fr_store_token_lock(s, "crm", "prod", "counter", 30, 30,
					&k->err) < 0)
			break;
		if (fr_store_token_get(s, "crm", "prod", "counter", &t, &found,
				       &k->err) < 0)
			break;
		snprintf(num, sizeof(num), "%d",
			 found && t.access_token ? atoi(t.access_token) + 1 : 1);
		fr_token_finish(&t);
		if (fr_store_token_put(s, &w, &k->err) < 0 ||
		    fr_store_token_unlock(s, &k->err) < 0)
			break;
	}
	fr_store_close(s);
	return NULL;
}

static void test_lock(const char *url, bool sqlite)
{
	struct fr_store *a = open_store(url), *b = open_store(url);
	double t0;

	if (!a || !b) {
		ok(0, "two handles for the lock tests");
		goto out;
	}
	CALL(fr_store_token_lock(a, "crm", "prod", "hub", 5, 60, &err), "A locks");
	{
		char *err = NULL;
		t0 = fr_store_now();
		ok(fr_store_token_lock(b, "crm", "prod", "hub", 0.3, 60, &err) < 0,
		   "B cannot lock it meanwhile");
		ok(fr_store_now() - t0 >= 0.25, "B waited for it");
		ok(err && strstr(err, "another process has been refreshing"),
		   "and says why: %s", err ? err : "(null)");
		free(err);
	}
	CALL(fr_store_token_lock(b, "crm", "prod", "other", 1, 60, &err),
	     "B locks another connection");
	CALL(fr_store_token_unlock(b, &err), "B unlocks it");
	{
		char *err = NULL;
		ok(fr_store_token_lock(a, "crm", "prod", "other", 1, 60, &err) < 0 &&
		   err, "one lock at a time per handle");
		free(err);
	}
	CALL(fr_store_token_unlock(a, &err), "A unlocks");
	CALL(fr_store_token_lock(b, "crm", "prod", "hub", 1, 60, &err),
	     "then B locks it");
	CALL(fr_store_token_unlock(b, &err), "B unlocks");
	CALL(fr_store_token_unlock(b, &err), "unlocking again is nothing");
	{
		char *err = NULL;
		CALL(fr_store_begin(a, FR_DURABLE, &err), "begin");
		ok(fr_store_token_lock(a, "crm", "prod", "hub", 1, 60, &err) < 0 &&
		   err, "no lock inside a transaction");
		free(err);
		fr_store_rollback(a);
	}

	/* the holder dies (its handle closes without unlocking) */
	CALL(fr_store_token_lock(a, "crm", "prod", "dead", 5, sqlite ? 0.5 : 60,
				 &err), "A locks, then goes");
	if (sqlite) {
		/* a process that dies leaves its row: the lease ends it */
		t0 = fr_store_now();
		CALL(fr_store_token_lock(b, "crm", "prod", "dead", 10, 60, &err),
		     "B takes the lock once A's lease ran out");
		ok(fr_store_now() - t0 >= 0.3, "after the lease");
		CALL(fr_store_token_unlock(b, &err), "B unlocks");
		CALL(fr_store_token_unlock(a, &err), "A's unlock does not "
		     "touch B's");
		fr_store_close(a);
		a = NULL;
	} else {
		fr_store_close(a);	/* its connection ends */
		a = NULL;
		t0 = fr_store_now();
		CALL(fr_store_token_lock(b, "crm", "prod", "dead", 10, 60, &err),
		     "B takes the lock when A's connection ends");
		ok(fr_store_now() - t0 < 5, "at once");
		CALL(fr_store_token_unlock(b, &err), "B unlocks");
	}

	/* mutual exclusion, with handles in threads */
	{
		enum { THREADS = 6, ROUNDS = 15 };
		struct locker k[THREADS];
		pthread_t th[THREADS];
		struct fr_token t;
		int errors = 0;

		for (int i = 0; i < THREADS; i++) {
			k[i] = (struct locker){ .url = url, .rounds = ROUNDS };
			pthread_create(&th[i], NULL, locker_run, &k[i]);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(th[i], NULL);
			if (k[i].err)
				printf("# locker %d: %s\n", i, k[i].err);
			errors += k[i].err != NULL;
			free(k[i].err);
		}
		is_int(errors, 0, "six handles locking at once: no errors");
		ok(get(b, "prod", "counter", &t), "the counter");
		is_str(t.access_token, "90", "every increment under the lock counted");
		fr_token_finish(&t);
	}
	/* PostgreSQL: what is put under the lock is committed by unlock */
	if (!sqlite) {
		struct fr_store *c = open_store(url);
		char *x = new_token("at");
		struct fr_token t;
		CALL(fr_store_token_lock(b, "crm", "prod", "tx", 5, 60, &err), "lock");
		put(b, "prod", "tx", x, NULL, 0, NULL, "put under the lock");
		ok(c && !get(c, "prod", "tx", &t), "not seen elsewhere before unlock");
		fr_token_finish(&t);
		CALL(fr_store_token_unlock(b, &err), "unlock");
		ok(c && get(c, "prod", "tx", &t) && t.access_token &&
		   strcmp(t.access_token, x) == 0, "seen after");
		fr_token_finish(&t);
		fr_store_close(c);
		free(x);
	}
out:
	fr_store_close(a);
	fr_store_close(b);
}

static void test_pending(struct fr_store *s)
{
	char *verifier = new_token("v"), *state = new_token("st");
	struct fr_pending p = {
		.state = state, .integration = (char *)"crm",
		.instance = (char *)"prod", .connection = (char *)"hub",
		.verifier = verifier,
		.redirect_uri = (char *)"http://127.0.0.1:8765/oauth/callback",
		.expires_at = fr_store_now() + 600,
	}, got;
	bool found = true;

	CALL(fr_store_pending_put(s, &p, &err), "put a pending authorization");
	CALL(fr_store_pending_take(s, "st-unknown", &got, &found, &err),
	     "take an unknown state");
	ok(!found, "none");
	fr_pending_finish(&got);
	CALL(fr_store_pending_take(s, state, &got, &found, &err), "take it");
	ok(found, "found");
	is_str(got.verifier, verifier, "with its verifier");
	is_str(got.connection, "hub", "and connection");
	is_str(got.instance, "prod", "and instance");
	is_str(got.integration, "crm", "and integration");
	is_str(got.redirect_uri, "http://127.0.0.1:8765/oauth/callback",
	       "and redirect URI");
	fr_pending_finish(&got);
	CALL(fr_store_pending_take(s, state, &got, &found, &err), "take it again");
	ok(!found, "taken once only");
	fr_pending_finish(&got);

	p.expires_at = fr_store_now() - 1;
	CALL(fr_store_pending_put(s, &p, &err), "put an expired one");
	CALL(fr_store_pending_take(s, state, &got, &found, &err), "take it");
	ok(!found, "an expired authorization is not pending");
	fr_pending_finish(&got);

	p.verifier = NULL;
	p.redirect_uri = NULL;
	p.expires_at = fr_store_now() + 600;
	CALL(fr_store_pending_put(s, &p, &err), "one without PKCE");
	CALL(fr_store_pending_take(s, state, &got, &found, &err), "take it");
	ok(found && !got.verifier && !got.redirect_uri, "no verifier, no URI");
	fr_pending_finish(&got);
	CALL(fr_store_pending_take(s, "", &got, &found, &err), "take no state");
	ok(!found, "nothing");
	fr_pending_finish(&got);
	free(verifier);
	free(state);
}

/* Whether any of the store's files holds text in the clear. */
static bool file_holds(const char *path, const char *text)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	bool found = false;

	for (size_t i = 0; i < FR_ARRAY_LEN(suffix) && !found; i++) {
		char *p = fr_xasprintf("%s%s", path, suffix[i]), *data = NULL;
		size_t len = 0, n = strlen(text);
		char *why = NULL;
		if (fr_read_file(&data, &len, p, 1 << 28, &why) == 0) {
			for (size_t j = 0; j + n <= len && !found; j++)
				found = memcmp(data + j, text, n) == 0;
		}
		free(why);
		free(data);
		free(p);
	}
	return found;
}

static void sqlite_half(void)
{
	char *path = fr_xasprintf("%s/flowrun.db", dir);
	char *url = fr_xasprintf("sqlite:%s", path);
	char *keyfile = fr_xasprintf("%s.key", path);
	char *a = new_token("at"), *r = new_token("rt"), *v = new_token("v");
	struct fr_store *s;
	struct fr_token t;
	struct stat st;

	tap_prefix = "sqlite";
	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	s = open_store(url);
	ok(s != NULL, "open");
	if (s) {
		test_tokens(s);
		test_list(s);
		test_pending(s);
		fr_store_close(s);
	}
	test_wrong_key(url);
	test_lock(url, true);
	ok(stat(keyfile, &st) < 0 && errno == ENOENT,
	   "with FLOWRUN_SECRET_KEY set, no key file is made");

	/* no FLOWRUN_SECRET_KEY: the key file beside the store */
	unsetenv("FLOWRUN_SECRET_KEY");
	s = open_store(url);
	if (s) {
		ok(get(s, "prod", "api", &t) && t.unreadable,
		   "no key at all: what key A sealed is unreadable");
		fr_token_finish(&t);
		ok(stat(keyfile, &st) < 0, "reading makes no key file");
		CALL(fr_store_token_writable(s, &err), "tokens can be stored");
		ok(stat(keyfile, &st) == 0, "the key file is made for that");
		unlink(keyfile);
		fr_store_close(s);
		s = open_store(url);
		put(s, "prod", "filed", a, r, 0, NULL, "put without the variable");
		ok(stat(keyfile, &st) == 0, "the key file is made on first use");
		ok((st.st_mode & 0777) == 0600, "mode 0600 (%03o)",
		   (unsigned)(st.st_mode & 0777));
		{
			char *text = NULL, *why = NULL;
			size_t len = 0;
			unsigned char k[FR_AEAD_KEY_LEN];
			fr_read_file(&text, &len, keyfile, 4096, &why);
			ok(text && len == 65 && text[64] == '\n' &&
			   fr_crypto_key_parse(text, k) == 0,
			   "holding 64 hex digits and a newline");
			free(text);
			free(why);
		}
		{
			struct fr_pending p = {
				.state = (char *)"st-file", .integration = (char *)"crm",
				.instance = (char *)"prod", .connection = (char *)"filed",
				.verifier = v, .expires_at = fr_store_now() + 60,
			};
			CALL(fr_store_pending_put(s, &p, &err), "a pending one too");
		}
		fr_store_close(s);
	}
	s = open_store(url);
	if (s) {
		ok(get(s, "prod", "filed", &t) && t.access_token &&
		   strcmp(t.access_token, a) == 0 && t.refresh_token &&
		   strcmp(t.refresh_token, r) == 0,
		   "another handle reads the key file and the tokens");
		fr_token_finish(&t);
		fr_store_close(s);
	}
	sqlite3_initialize();
	{
		/* checkpointed or not, nothing in the files is a token */
		struct fr_store *c = open_store(url);
		ok(!file_holds(path, a) && !file_holds(path, r),
		   "no token in the store's files as plain text");
		ok(!file_holds(path, v), "nor the PKCE verifier");
		if (c) {
			CALL(fr_store_maintain(c, true, &err), "checkpoint");
			fr_store_close(c);
		}
		ok(!file_holds(path, a) && !file_holds(path, r),
		   "nor after a checkpoint");
	}
	/* a sealed value copied to another connection does not open there */
	{
		sqlite3 *db = NULL;
		int rc = sqlite3_open(path, &db);
		rc = rc == SQLITE_OK ? sqlite3_exec(db,
			"INSERT INTO tokens (integration, instance, connection, "
			"status, sealed, updated_at) SELECT integration, instance, "
			"'stolen', status, sealed, updated_at FROM tokens WHERE "
			"connection = 'filed'", NULL, NULL, NULL) : rc;
		sqlite3_close(db);
		ok(rc == SQLITE_OK, "the sealed tokens copied to another row");
		s = open_store(url);
		ok(s && get(s, "prod", "stolen", &t) && t.unreadable &&
		   !t.access_token, "do not open there");
		fr_token_finish(&t);
		fr_store_close(s);
	}
	/* the key file gone: unreadable; a new one is made by the next put */
	unlink(keyfile);
	s = open_store(url);
	if (s) {
		ok(get(s, "prod", "filed", &t) && t.unreadable &&
		   t.status == FR_CONN_NEEDS_AUTH, "key file gone: needs "
		   "authorization");
		fr_token_finish(&t);
		{
			struct fr_pending g;
			bool found = true;
			CALL(fr_store_pending_take(s, "st-file", &g, &found, &err),
			     "take a pending one");
			ok(!found, "whose verifier cannot open: not pending");
			fr_pending_finish(&g);
		}
		put(s, "prod", "filed", a, NULL, 0, NULL, "put again");
		ok(stat(keyfile, &st) == 0, "a new key file");
		fr_store_close(s);
	}
	/* a key file others can read is refused */
	chmod(keyfile, 0644);
	s = open_store(url);
	if (s) {
		char *err = NULL;
		bool found;
		ok(fr_store_token_get(s, "crm", "prod", "filed", &t, &found,
				      &err) < 0, "a key file readable by others "
		   "is refused");
		ok(err && strstr(err, keyfile) && strstr(err, "chmod 600"),
		   "saying what to do: %s", err ? err : "(null)");
		free(err);
		fr_token_finish(&t);
		fr_store_close(s);
	}
	chmod(keyfile, 0600);
	/* a key file that holds no key */
	{
		FILE *f = fopen(keyfile, "w");
		if (f) {
			fputs("nonsense\n", f);
			fclose(f);
		}
		s = open_store(url);
		if (s) {
			char *err = NULL;
			bool found;
			ok(fr_store_token_get(s, "crm", "prod", "filed", &t, &found,
					      &err) < 0 && err &&
			   strstr(err, "does not hold a key"),
			   "a key file without a key is refused: %s",
			   err ? err : "(null)");
			free(err);
			fr_token_finish(&t);
			fr_store_close(s);
		}
	}
	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	{
		static const char *const suffix[] = { "", "-wal", "-shm", ".key" };
		for (size_t i = 0; i < FR_ARRAY_LEN(suffix); i++) {
			char *p = fr_xasprintf("%s%s", path, suffix[i]);
			remove(p);
			free(p);
		}
	}
	free(a);
	free(r);
	free(v);
	free(keyfile);
	free(path);
	free(url);
	tap_prefix = NULL;
}

/* PostgreSQL: the test's own admin connection, databases of its own. */
static char *with_database(const char *url, const char *db)
{
	const char *host = strstr(url, "://") + 3;
	const char *slash = strchr(host, '/');
	const char *query = strchr(host, '?');
	size_t head = slash ? (size_t)(slash - url)
			    : query ? (size_t)(query - url) : strlen(url);

	return fr_xasprintf("%.*s/%s%s", (int)head, url, db, query ? query : "");
}

/* Runs sql; with want, the first column of its one row must be it. */
static int admin(const char *url, const char *sql, const char *want)
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
		if (rc == 0 && want && (PQntuples(r) != 1 ||
					strcmp(PQgetvalue(r, 0, 0), want) != 0)) {
			printf("# %s: got %s\n", sql, PQntuples(r) ?
			       PQgetvalue(r, 0, 0) : "no row");
			rc = -1;
		}
	} else {
		printf("# cannot connect for %s: %s", sql, PQerrorMessage(c));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

static void pg_half(void)
{
	const char *base = getenv("FLOWRUN_TEST_PG");
	char name[64], *url, *sql;
	struct fr_store *s;
	char *a = new_token("at"), *r = new_token("rt");

	tap_prefix = "postgresql";
	if (!base || !*base) {
		const char *why = getenv("FLOWRUN_TEST_PG_ERROR");
		ok(0, "PostgreSQL tests: %s", why ? why : "FLOWRUN_TEST_PG is not "
		   "set (run through tests/pgserver.py -- CMD, or set it to a "
		   "server's URL)");
		goto out;
	}
	snprintf(name, sizeof(name), "fr_test_conn_%ld_%d", (long)getpid(),
		 (int)((long long)(fr_store_now() * 1000) % 100000));
	sql = fr_xasprintf("CREATE DATABASE %s", name);
	if (!ok(admin(base, sql, NULL) == 0, "a database of its own: %s", name)) {
		free(sql);
		goto out;
	}
	free(sql);
	url = with_database(base, name);
	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	if ((s = open_store(url))) {
		test_tokens(s);
		test_list(s);
		test_pending(s);
		put(s, "prod", "plain", a, r, 0, NULL, "put two tokens");
		fr_store_close(s);
	}
	test_wrong_key(url);
	test_lock(url, false);
	sql = fr_xasprintf("SELECT count(*) FROM tokens t WHERE position("
			   "convert_to('%s', 'UTF8') in coalesce(t.sealed, '')) > 0 "
			   "OR t::text LIKE '%%%s%%' OR t::text LIKE '%%%s%%'", a, a, r);
	ok(admin(url, sql, "0") == 0, "no token in the tokens table as plain text");
	free(sql);

	/* without FLOWRUN_SECRET_KEY */
	unsetenv("FLOWRUN_SECRET_KEY");
	if ((s = open_store(url))) {
		struct fr_token *l = NULL, t;
		size_t n = 0;
		char *err = NULL;
		bool found;
		ok(fr_store_token_put(s, &(struct fr_token){
			.integration = (char *)"crm", .instance = (char *)"prod",
			.connection = (char *)"nokey", .access_token = a }, &err) < 0,
		   "no FLOWRUN_SECRET_KEY: no tokens can be stored");
		ok(err && strstr(err, "FLOWRUN_SECRET_KEY, which is not set"),
		   "saying so: %s", err ? err : "(null)");
		free(err);
		err = NULL;
		ok(fr_store_token_writable(s, &err) < 0 && err,
		   "and token_writable says so beforehand");
		free(err);
		err = NULL;
		ok(fr_store_token_get(s, "crm", "prod", "plain", &t, &found,
				      &err) < 0 && err, "nor read");
		free(err);
		fr_token_finish(&t);
		CALL(fr_store_token_list(s, "crm", "prod", &l, &n, &err),
		     "but listed");
		{
			bool all = n > 0;
			for (size_t i = 0; i < n; i++)
				all = all && l[i].status == FR_CONN_NEEDS_AUTH;
			ok(all, "every one as needing authorization");
		}
		fr_tokens_free(l, n);
		fr_store_close(s);
	}
	setenv("FLOWRUN_SECRET_KEY", key_a, 1);
	sql = fr_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	admin(base, sql, NULL);
	free(sql);
	free(url);
out:
	free(a);
	free(r);
	tap_prefix = NULL;
}

int main(void)
{
	unsigned char k[FR_AEAD_KEY_LEN];

	fr_random_bytes(k, sizeof(k));
	fr_hex(k, sizeof(k), key_a);
	fr_random_bytes(k, sizeof(k));
	fr_hex(k, sizeof(k), key_b);
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	sqlite_half();
	pg_half();
	rmdir(dir);
	return done_testing();
}
