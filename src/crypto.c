#include "crypto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/*
 * The algorithms are fetched from the provider once, not per call: an
 * implicit fetch (EVP_sha256() and friends) looks the provider up again
 * each time, and webhooks are verified per request.  The HMAC template has
 * its digest set; each HMAC starts as a copy of it and only sets the key.
 */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_template;

/* libcrypto failing means memory ran out: a digest not computed must not be used. */
static void die(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "flowrun: error: libcrypto: %s failed: %s\n", what,
		e ? buf : "(no detail)");
	abort();
}

static void setup(void)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac;

	if (!(sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)))
		die("fetching SHA256");
	if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
		die("fetching HMAC");
	if (!(hmac_template = EVP_MAC_CTX_new(mac)) ||
	    !EVP_MAC_CTX_set_params(hmac_template, params))
		die("setting up HMAC-SHA256");
	EVP_MAC_free(mac);	/* the context keeps its own reference */
}

static void ready(void)
{
	if (pthread_once(&once, setup) != 0)
		die("initialisation");
}

void fr_sha256_init(struct fr_sha256 *c)
{
	EVP_MD_CTX *ctx;

	ready();
	if (!(ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx, sha256_md, NULL))
		die("SHA-256 init");
	c->ctx = ctx;
}

void fr_sha256_update(struct fr_sha256 *c, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(c->ctx, data, len))
		die("SHA-256 update");
}

void fr_sha256_final(struct fr_sha256 *c, unsigned char out[FR_SHA256_LEN])
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(c->ctx, out, &n) || n != FR_SHA256_LEN)
		die("SHA-256 final");
	EVP_MD_CTX_free(c->ctx);	/* cleanses its state */
	c->ctx = NULL;
}

void fr_sha256(const void *data, size_t len, unsigned char out[FR_SHA256_LEN])
{
	unsigned int n = 0;

	ready();
	if (!EVP_Digest(len ? data : "", len, out, &n, sha256_md, NULL) ||
	    n != FR_SHA256_LEN)
		die("SHA-256");
}

void fr_hmac_init(struct fr_hmac *h, const void *key, size_t key_len)
{
	static const unsigned char none[1];
	EVP_MAC_CTX *ctx;

	ready();
	/* a NULL key would mean "the previous key": an empty key is not NULL */
	if (!(ctx = EVP_MAC_CTX_dup(hmac_template)) ||
	    !EVP_MAC_init(ctx, key_len ? key : none, key_len, NULL))
		die("HMAC-SHA256 init");
	h->ctx = ctx;
}

void fr_hmac_update(struct fr_hmac *h, const void *data, size_t len)
{
	if (len && !EVP_MAC_update(h->ctx, data, len))
		die("HMAC-SHA256 update");
}

void fr_hmac_final(struct fr_hmac *h, unsigned char out[FR_SHA256_LEN])
{
	size_t n = 0;

	if (!EVP_MAC_final(h->ctx, out, &n, FR_SHA256_LEN) || n != FR_SHA256_LEN)
		die("HMAC-SHA256 final");
	EVP_MAC_CTX_free(h->ctx);	/* cleanses the keyed state */
	h->ctx = NULL;
}

void fr_hmac_sha256(const void *key, size_t key_len, const void *data,
		    size_t len, unsigned char out[FR_SHA256_LEN])
{
	struct fr_hmac h;

	fr_hmac_init(&h, key, key_len);
	fr_hmac_update(&h, data, len);
	fr_hmac_final(&h, out);
}

bool fr_consttime_equal(const void *a, const void *b, size_t len)
{
	return len == 0 || CRYPTO_memcmp(a, b, len) == 0;
}

void fr_crypto_wipe(void *p, size_t n)
{
	if (n)
		OPENSSL_cleanse(p, n);
}

const char *fr_crypto_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION_STRING);
}

void fr_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}
