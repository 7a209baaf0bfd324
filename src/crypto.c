#include "crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/*
 * The algorithms are fetched from the provider once, not per call: an
 * implicit fetch (EVP_sha256() and friends) looks the provider up again
 * each time, and webhooks are verified per request.  The HMAC template has
 * its digest set; each HMAC starts as a copy of it and only sets the key.
 */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_template;
static EVP_CIPHER *aes_gcm;

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
	if (!(aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)))
		die("fetching AES-256-GCM");
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

void fr_random_bytes(void *out, size_t n)
{
	unsigned char *p = out;

	/* RAND_bytes takes an int; a failure means no entropy: never go on */
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			die("RAND_bytes");
		p += chunk;
		n -= (size_t)chunk;
	}
}

char *fr_base64url(const void *in, size_t n)
{
	char *out;
	int len;

	if (n / 3 >= (size_t)INT_MAX / 4 - 1)
		die("base64url (input too long)");
	out = fr_xmalloc((n + 2) / 3 * 4 + 1);
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/* A context for one AES-256-GCM message under key, sealing or opening. */
static EVP_CIPHER_CTX *gcm_start(const unsigned char *key,
				 const unsigned char *nonce, const void *ad,
				 size_t ad_len, int enc)
{
	EVP_CIPHER_CTX *ctx;
	int n;

	ready();
	if (ad_len > INT_MAX)
		die("AES-256-GCM (associated data too long)");
	if (!(ctx = EVP_CIPHER_CTX_new()) ||
	    !EVP_CipherInit_ex2(ctx, aes_gcm, key, nonce, enc, NULL) ||
	    (ad_len && !EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len)))
		die("AES-256-GCM init");
	return ctx;
}

void fr_aead_seal(const unsigned char key[FR_AEAD_KEY_LEN], const void *ad,
		  size_t ad_len, const void *in, size_t len, unsigned char *out)
{
	unsigned char *nonce = out, *body = out + FR_AEAD_NONCE_LEN;
	EVP_CIPHER_CTX *ctx;
	int n = 0, m = 0;

	if (len > INT_MAX - FR_AEAD_OVERHEAD)
		die("AES-256-GCM (message too long)");
	fr_random_bytes(nonce, FR_AEAD_NONCE_LEN);
	ctx = gcm_start(key, nonce, ad, ad_len, 1);
	if ((len && !EVP_CipherUpdate(ctx, body, &n, in, (int)len)) ||
	    !EVP_CipherFinal_ex(ctx, body + n, &m) ||
	    (size_t)(n + m) != len ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, FR_AEAD_TAG_LEN,
				 body + len))
		die("AES-256-GCM seal");
	EVP_CIPHER_CTX_free(ctx);
}

int fr_aead_open(const unsigned char key[FR_AEAD_KEY_LEN], const void *ad,
		 size_t ad_len, const unsigned char *in, size_t len,
		 unsigned char *out)
{
	const unsigned char *nonce = in, *body = in + FR_AEAD_NONCE_LEN;
	unsigned char tag[FR_AEAD_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	size_t mlen;
	int n = 0, m = 0, ok;

	if (len < FR_AEAD_OVERHEAD || len > INT_MAX)
		return -1;
	mlen = len - FR_AEAD_OVERHEAD;
	memcpy(tag, body + mlen, sizeof(tag));
	ctx = gcm_start(key, nonce, ad, ad_len, 0);
	if ((mlen && !EVP_CipherUpdate(ctx, out, &n, body, (int)mlen)) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, FR_AEAD_TAG_LEN,
				 tag))
		die("AES-256-GCM open");
	/* the tag is checked here: a mismatch fails Final, nothing else does */
	ok = EVP_CipherFinal_ex(ctx, out + n, &m) == 1 &&
	     (size_t)(n + m) == mlen;
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		fr_crypto_wipe(out, mlen);
		return -1;
	}
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The base64 of 32 bytes is 43 digits and one '='.  EVP_DecodeBlock is
 * lax (it takes blanks, and does not look at the unused bits), so the
 * result is encoded again and must give back the text that came in.
 */
static int key_base64(const char *s, size_t len,
		      unsigned char key[FR_AEAD_KEY_LEN])
{
	char std[45], again[45];
	unsigned char raw[34];
	int n;

	if (len == 44 && s[43] == '=')
		len = 43;
	if (len != 43)
		return -1;
	for (size_t i = 0; i < 43; i++) {
		char c = s[i];
		if (c == '-' || c == '+')
			c = '+';
		else if (c == '_' || c == '/')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9')))
			return -1;
		std[i] = c;
	}
	std[43] = '=';
	std[44] = '\0';
	n = EVP_DecodeBlock(raw, (const unsigned char *)std, 44);
	/* 44 digits decode to 33 bytes, the last one from the padding */
	if (n != 33 ||
	    EVP_EncodeBlock((unsigned char *)again, raw, FR_AEAD_KEY_LEN) != 44 ||
	    memcmp(again, std, 44) != 0) {
		fr_crypto_wipe(raw, sizeof(raw));
		fr_crypto_wipe(std, sizeof(std));
		fr_crypto_wipe(again, sizeof(again));
		return -1;
	}
	memcpy(key, raw, FR_AEAD_KEY_LEN);
	fr_crypto_wipe(raw, sizeof(raw));
	fr_crypto_wipe(std, sizeof(std));
	fr_crypto_wipe(again, sizeof(again));
	return 0;
}

int fr_crypto_key_parse(const char *text, unsigned char key[FR_AEAD_KEY_LEN])
{
	const char *blanks = " \t\r\n";
	size_t len;

	text += strspn(text, blanks);
	len = strlen(text);
	while (len > 0 && strchr(blanks, text[len - 1]))
		len--;
	if (len == 2 * FR_AEAD_KEY_LEN) {
		for (size_t i = 0; i < FR_AEAD_KEY_LEN; i++) {
			int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				fr_crypto_wipe(key, FR_AEAD_KEY_LEN);
				return -1;
			}
			key[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	if (key_base64(text, len, key) == 0)
		return 0;
	fr_crypto_wipe(key, FR_AEAD_KEY_LEN);
	return -1;
}
