/*
 * store_conn: the backend-neutral half of connections in the store
 * (store.h): the secret key (FLOWRUN_SECRET_KEY or the SQLite key file),
 * sealing and opening tokens and PKCE verifiers, and the fr_store_token_*
 * and fr_store_pending_* calls over the backends' raw rows.
 *
 * A sealed value is one version byte (1) and an AES-256-GCM message whose
 * associated data names what it belongs to: "flowrun token 1", NUL, the
 * integration, instance and connection, NUL-separated (a pending
 * authorization: "flowrun pending 1", NUL, its state).  The plaintext of
 * tokens is a JSON object {"access_token", "refresh_token"}; of a pending
 * authorization, the verifier.  Plaintext buffers are wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "store_conn_int.h"
#include "util.h"

#define SEAL_VERSION 1
#define KEY_FILE_MAX 256

_Static_assert(sizeof(((struct fr_store *)0)->key) == FR_AEAD_KEY_LEN,
	       "the store's key is an AES-256 key");

static const char *const status_words[] = {
	[FR_CONN_CONNECTED] = "connected",
	[FR_CONN_NEEDS_AUTH] = "needs_authorization",
};

const char *fr_conn_status_name(enum fr_conn_status s)
{
	return s == FR_CONN_CONNECTED ? "connected" : "needs authorization";
}

const char *fr_conn_status_word(enum fr_conn_status s)
{
	return status_words[s == FR_CONN_CONNECTED ? FR_CONN_CONNECTED
						   : FR_CONN_NEEDS_AUTH];
}

enum fr_conn_status fr_conn_status_of_word(const char *word)
{
	return word && strcmp(word, "connected") == 0 ? FR_CONN_CONNECTED
						      : FR_CONN_NEEDS_AUTH;
}

/* Frees a string that held a secret, wiping it first. */
static void free_secret(char *s)
{
	if (s) {
		fr_crypto_wipe(s, strlen(s));
		free(s);
	}
}

void fr_token_finish(struct fr_token *t)
{
	if (!t)
		return;
	free(t->integration);
	free(t->instance);
	free(t->connection);
	free_secret(t->access_token);
	free_secret(t->refresh_token);
	free(t->scopes);
	memset(t, 0, sizeof(*t));
}

void fr_tokens_free(struct fr_token *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		fr_token_finish(&t[i]);
	free(t);
}

void fr_pending_finish(struct fr_pending *p)
{
	if (!p)
		return;
	free(p->state);
	free(p->integration);
	free(p->instance);
	free(p->connection);
	free_secret(p->verifier);
	free(p->redirect_uri);
	memset(p, 0, sizeof(*p));
}

void fr_token_row_finish(struct fr_token_row *r)
{
	if (!r)
		return;
	free(r->integration);
	free(r->instance);
	free(r->connection);
	free(r->scopes);
	free(r->sealed);
	memset(r, 0, sizeof(*r));
}

void fr_token_rows_free(struct fr_token_row *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		fr_token_row_finish(&r[i]);
	free(r);
}

void fr_pending_row_finish(struct fr_pending_row *r)
{
	if (!r)
		return;
	free(r->state);
	free(r->integration);
	free(r->instance);
	free(r->connection);
	free(r->redirect_uri);
	free(r->sealed);
	memset(r, 0, sizeof(*r));
}

/* the key */

enum key_use {
	KEY_LIST,	/* as READ, and PostgreSQL without the variable too */
	KEY_READ,	/* no key file: no key; PostgreSQL needs the variable */
	KEY_WRITE,	/* the key file is made when missing */
};

static int read_key_file(const char *path, unsigned char *key, bool *missing,
			 char **err)
{
	char text[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd;

	*missing = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		*err = fr_xasprintf("cannot read the store's key file %s: %s",
				    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*err = fr_xasprintf("the store's key file %s is not a file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		*err = fr_xasprintf("the store's key file %s can be read by "
				    "others (mode %03o); make it 0600 (chmod "
				    "600 %s)", path, (unsigned)(st.st_mode & 0777),
				    path);
		close(fd);
		return -1;
	}
	n = read(fd, text, KEY_FILE_MAX);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (n < 0 || fr_crypto_key_parse(text, key) < 0) {
		fr_crypto_wipe(text, sizeof(text));
		*err = fr_xasprintf("the store's key file %s does not hold a key "
				    "(64 hex digits)", path);
		return -1;
	}
	fr_crypto_wipe(text, sizeof(text));
	return 0;
}

/*
 * Makes the key file: written whole under a name of its own, then linked
 * to its name, which fails when another process made it first (that one's
 * key is read then).  The directory is synced: a key lost with a crash
 * would make every stored token unreadable.
 */
static int make_key_file(const char *path, unsigned char *key, char **err)
{
	unsigned char rnd[8];
	char hex[2 * FR_AEAD_KEY_LEN + 2], tag[17];
	char *tmp, *copy, *dir;
	bool missing;
	int fd, rc = -1;

	fr_random_bytes(rnd, sizeof(rnd));
	fr_hex(rnd, sizeof(rnd), tag);
	tmp = fr_xasprintf("%s.%ld.%s.tmp", path, (long)getpid(), tag);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*err = fr_xasprintf("cannot make the store's key file %s: %s",
				    path, strerror(errno));
		free(tmp);
		return -1;
	}
	fr_random_bytes(key, FR_AEAD_KEY_LEN);
	fr_hex(key, FR_AEAD_KEY_LEN, hex);
	strcat(hex, "\n");
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
	    fsync(fd) < 0) {
		*err = fr_xasprintf("cannot write the store's key file %s: %s",
				    path, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (link(tmp, path) < 0) {
		if (errno != EEXIST) {
			*err = fr_xasprintf("cannot make the store's key file "
					    "%s: %s", path, strerror(errno));
			goto out;
		}
		/* made by another process meanwhile: that key it is */
		if (read_key_file(path, key, &missing, err) < 0)
			goto out;
		if (missing) {
			*err = fr_xasprintf("the store's key file %s went away "
					    "as it was made", path);
			goto out;
		}
	}
	copy = fr_xstrdup(path);
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
	rc = 0;
out:
	fr_crypto_wipe(hex, sizeof(hex));
	if (rc < 0)
		fr_crypto_wipe(key, FR_AEAD_KEY_LEN);
	unlink(tmp);
	free(tmp);
	return rc;
}

/*
 * The store's key: 0 with *key, or with *key NULL when there is none to
 * read with (use allowing); -1 with *err.  Read once per handle.
 */
static int store_key(struct fr_store *s, enum key_use use,
		     const unsigned char **key, char **err)
{
	const char *env = getenv("FLOWRUN_SECRET_KEY");
	char *path;
	bool missing;
	int rc;

	*key = NULL;
	if (s->key_state == 1) {
		*key = s->key;
		return 0;
	}
	if (env && *env) {
		if (fr_crypto_key_parse(env, s->key) < 0) {
			*err = fr_xstrdup("FLOWRUN_SECRET_KEY must be 64 hex "
					  "digits or the base64 of 32 bytes (make "
					  "one with: openssl rand -hex 32)");
			return -1;
		}
		s->key_state = 1;
		*key = s->key;
		return 0;
	}
	if (strcmp(s->backend, "sqlite") != 0) {
		if (use == KEY_LIST)
			return 0;
		*err = fr_xstrdup("a PostgreSQL store keeps connection tokens "
				  "only under FLOWRUN_SECRET_KEY, which is not "
				  "set; give every process the same 64 hex "
				  "digits (openssl rand -hex 32)");
		return -1;
	}
	path = fr_xasprintf("%s.key", strncmp(s->url, "sqlite:", 7) == 0
				  ? s->url + 7 : s->url);
	rc = read_key_file(path, s->key, &missing, err);
	if (rc == 0 && missing && use == KEY_WRITE)
		rc = make_key_file(path, s->key, err);
	else if (rc == 0 && missing)
		rc = 1;		/* nothing sealed here can be opened */
	free(path);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		s->key_state = 1;
		*key = s->key;
	}
	return 0;
}

/* sealing */

static char *token_ad(const char *integration, const char *instance,
		      const char *connection, size_t *len)
{
	static const char label[] = "flowrun token 1";
	size_t a = strlen(integration), b = strlen(instance), c = strlen(connection);
	char *ad = fr_xmalloc(sizeof(label) + a + b + c + 3), *p = ad;

	memcpy(p, label, sizeof(label));	/* with its NUL */
	p += sizeof(label);
	memcpy(p, integration, a + 1);
	p += a + 1;
	memcpy(p, instance, b + 1);
	p += b + 1;
	memcpy(p, connection, c + 1);
	p += c + 1;
	*len = (size_t)(p - ad);
	return ad;
}

static char *pending_ad(const char *state, size_t *len)
{
	static const char label[] = "flowrun pending 1";
	size_t n = strlen(state);
	char *ad = fr_xmalloc(sizeof(label) + n + 1);

	memcpy(ad, label, sizeof(label));
	memcpy(ad + sizeof(label), state, n + 1);
	*len = sizeof(label) + n + 1;
	return ad;
}

static unsigned char *seal(const unsigned char *key, const char *ad,
			   size_t ad_len, const char *text, size_t len,
			   size_t *out_len)
{
	unsigned char *out = fr_xmalloc(1 + len + FR_AEAD_OVERHEAD);

	out[0] = SEAL_VERSION;
	fr_aead_seal(key, ad, ad_len, text, len, out + 1);
	*out_len = 1 + len + FR_AEAD_OVERHEAD;
	return out;
}

/* The plaintext of a sealed value (caller wipes and frees), or NULL. */
static char *unseal(const unsigned char *key, const char *ad, size_t ad_len,
		    const unsigned char *in, size_t len)
{
	char *out;

	if (!key || len < 1 + FR_AEAD_OVERHEAD || in[0] != SEAL_VERSION)
		return NULL;
	out = fr_xmalloc(len - FR_AEAD_OVERHEAD);
	if (fr_aead_open(key, ad, ad_len, in + 1, len - 1,
			 (unsigned char *)out) < 0) {
		free(out);
		return NULL;
	}
	out[len - 1 - FR_AEAD_OVERHEAD] = '\0';
	return out;
}

static bool names_ok(const char *integration, const char *instance,
		     const char *connection, char **err)
{
	if (integration && instance && connection)
		return true;
	*err = fr_xstrdup("a connection's tokens need its integration, "
			  "instance and connection");
	return false;
}

/*
 * Opens r's tokens into t (status as stored), or marks t unreadable;
 * without want_tokens, only checks that they open.
 */
static void open_tokens(const unsigned char *key, const struct fr_token_row *r,
			struct fr_token *t, bool want_tokens)
{
	size_t ad_len;
	char *ad, *text;
	json_t *j;

	t->status = r->status;
	if (!r->sealed)
		return;
	ad = token_ad(r->integration, r->instance, r->connection, &ad_len);
	text = unseal(key, ad, ad_len, r->sealed, r->sealed_len);
	free(ad);
	j = text ? json_loads(text, 0, NULL) : NULL;
	if (text) {
		fr_crypto_wipe(text, strlen(text));
		free(text);
	}
	if (!j || !json_is_object(j)) {
		json_decref(j);
		t->unreadable = true;
		t->status = FR_CONN_NEEDS_AUTH;
		return;
	}
	if (want_tokens) {
		const char *a = json_string_value(json_object_get(j, "access_token"));
		const char *f = json_string_value(json_object_get(j, "refresh_token"));
		t->access_token = a ? fr_xstrdup(a) : NULL;
		t->refresh_token = f ? fr_xstrdup(f) : NULL;
	}
	json_decref(j);
}

/* Moves r's names and plain columns into t (zeroed, or opened into). */
static void token_of_row(struct fr_token_row *r, struct fr_token *t)
{
	t->integration = r->integration;
	t->instance = r->instance;
	t->connection = r->connection;
	t->scopes = r->scopes;
	r->integration = r->instance = r->connection = r->scopes = NULL;
	t->expires_at = r->expires_at;
	t->updated_at = r->updated_at;
}

int fr_store_token_get(struct fr_store *s, const char *integration,
		       const char *instance, const char *connection,
		       struct fr_token *out, bool *found, char **err)
{
	struct fr_token_row r = { 0 };
	const unsigned char *key = NULL;

	memset(out, 0, sizeof(*out));
	*found = false;
	*err = NULL;
	if (!names_ok(integration, instance, connection, err) ||
	    s->ops->token_read(s, integration, instance, connection, &r, found,
			       err) < 0)
		return -1;
	if (!*found)
		return 0;
	if (r.sealed && store_key(s, KEY_READ, &key, err) < 0) {
		fr_token_row_finish(&r);
		*found = false;
		return -1;
	}
	open_tokens(key, &r, out, true);
	token_of_row(&r, out);
	fr_token_row_finish(&r);
	return 0;
}

int fr_store_token_put(struct fr_store *s, const struct fr_token *t,
		       char **err)
{
	struct fr_token_row r = {
		.integration = t->integration, .instance = t->instance,
		.connection = t->connection, .status = t->status,
		.expires_at = t->expires_at, .scopes = t->scopes,
	};
	const unsigned char *key;
	int rc;

	*err = NULL;
	if (!names_ok(t->integration, t->instance, t->connection, err))
		return -1;
	if (t->access_token || t->refresh_token) {
		json_t *j = json_object();
		size_t ad_len;
		char *text, *ad;

		if (store_key(s, KEY_WRITE, &key, err) < 0) {
			json_decref(j);
			return -1;
		}
		if (t->access_token)
			json_object_set_new(j, "access_token",
					    json_string(t->access_token));
		if (t->refresh_token)
			json_object_set_new(j, "refresh_token",
					    json_string(t->refresh_token));
		text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (!text) {
			*err = fr_xstrdup("a token that is not valid UTF-8 "
					  "cannot be stored");
			return -1;
		}
		ad = token_ad(t->integration, t->instance, t->connection, &ad_len);
		r.sealed = seal(key, ad, ad_len, text, strlen(text), &r.sealed_len);
		fr_crypto_wipe(text, strlen(text));
		free(text);
		free(ad);
	}
	rc = s->ops->token_write(s, &r, err);
	free(r.sealed);
	return rc;
}

int fr_store_token_writable(struct fr_store *s, char **err)
{
	const unsigned char *key;

	*err = NULL;
	return store_key(s, KEY_WRITE, &key, err);
}

int fr_store_token_list(struct fr_store *s, const char *integration,
			const char *instance, struct fr_token **out, size_t *n,
			char **err)
{
	struct fr_token_row *rows = NULL;
	const unsigned char *key = NULL;
	size_t nrows = 0;

	*out = NULL;
	*n = 0;
	*err = NULL;
	if (s->ops->token_rows(s, integration, instance, &rows, &nrows, err) < 0)
		return -1;
	for (size_t i = 0; i < nrows; i++) {
		if (!rows[i].sealed)
			continue;
		if (store_key(s, KEY_LIST, &key, err) < 0) {
			fr_token_rows_free(rows, nrows);
			return -1;
		}
		break;
	}
	*out = fr_xcalloc(nrows ? nrows : 1, sizeof(**out));
	for (size_t i = 0; i < nrows; i++) {
		open_tokens(key, &rows[i], &(*out)[i], false);
		token_of_row(&rows[i], &(*out)[i]);
	}
	*n = nrows;
	fr_token_rows_free(rows, nrows);
	return 0;
}

int fr_store_token_lock(struct fr_store *s, const char *integration,
			const char *instance, const char *connection,
			double wait_s, double lease_s, char **err)
{
	*err = NULL;
	if (!names_ok(integration, instance, connection, err))
		return -1;
	return s->ops->token_lock(s, integration, instance, connection, wait_s,
				  lease_s, err);
}

int fr_store_token_unlock(struct fr_store *s, char **err)
{
	*err = NULL;
	return s->ops->token_unlock(s, err);
}

int fr_store_pending_put(struct fr_store *s, const struct fr_pending *p,
			 char **err)
{
	struct fr_pending_row r = {
		.state = p->state, .integration = p->integration,
		.instance = p->instance, .connection = p->connection,
		.redirect_uri = p->redirect_uri, .expires_at = p->expires_at,
	};
	const unsigned char *key;
	int rc;

	*err = NULL;
	if (!p->state || !*p->state ||
	    !names_ok(p->integration, p->instance, p->connection, err)) {
		if (!*err)
			*err = fr_xstrdup("a pending authorization needs a state");
		return -1;
	}
	if (p->verifier) {
		size_t ad_len;
		char *ad;

		if (store_key(s, KEY_WRITE, &key, err) < 0)
			return -1;
		ad = pending_ad(p->state, &ad_len);
		r.sealed = seal(key, ad, ad_len, p->verifier, strlen(p->verifier),
				&r.sealed_len);
		free(ad);
	}
	rc = s->ops->pending_write(s, &r, err);
	free(r.sealed);
	return rc;
}

int fr_store_pending_take(struct fr_store *s, const char *state,
			  struct fr_pending *out, bool *found, char **err)
{
	struct fr_pending_row r = { 0 };
	const unsigned char *key = NULL;
	char *verifier = NULL;

	memset(out, 0, sizeof(*out));
	*found = false;
	*err = NULL;
	if (!state || !*state)
		return 0;
	if (s->ops->pending_take(s, state, fr_store_now(), &r, found, err) < 0)
		return -1;
	if (!*found)
		return 0;
	if (r.sealed) {
		size_t ad_len;
		char *ad;

		if (store_key(s, KEY_READ, &key, err) < 0) {
			fr_pending_row_finish(&r);
			*found = false;
			return -1;
		}
		ad = pending_ad(r.state, &ad_len);
		verifier = unseal(key, ad, ad_len, r.sealed, r.sealed_len);
		free(ad);
		if (!verifier) {
			/* its verifier is lost: the code could not be used */
			fr_pending_row_finish(&r);
			*found = false;
			return 0;
		}
	}
	out->state = r.state;
	out->integration = r.integration;
	out->instance = r.instance;
	out->connection = r.connection;
	out->redirect_uri = r.redirect_uri;
	out->expires_at = r.expires_at;
	out->verifier = verifier;
	r.state = r.integration = r.instance = r.connection = NULL;
	r.redirect_uri = NULL;
	fr_pending_row_finish(&r);
	return 0;
}
