/*
 * crypto: the cryptography flowrun needs, on OpenSSL's libcrypto (which
 * libcurl links already).  This module is the only one that includes an
 * OpenSSL header; everything else sees the plain types below.
 *
 * - SHA-256 (FIPS 180-4), whole or in pieces: webhook tokens, file hashes;
 * - HMAC-SHA256 (RFC 2104), whole or in pieces: webhook signatures over
 *   several parts of a request without copying them together;
 * - comparison in constant time (CRYPTO_memcmp) and wiping that the
 *   compiler may not drop (OPENSSL_cleanse), for key material.
 *
 * Not here, on purpose: random bytes.  Nothing needs secret randomness yet:
 * execution ids (fr_new_id) are names, not credentials, and take their 64
 * random bits from getrandom(2), the kernel's CSPRNG; retry jitter needs no
 * secrecy at all.  The coming token encryption (AES-256-GCM, its nonces
 * from RAND_bytes) belongs in this module.
 *
 * The piecewise contexts are embedded by the caller: every _init must be
 * followed by its _final, which writes the digest and releases what _init
 * took (and wipes it).  A context is used by one thread at a time; separate
 * contexts and the one-shot functions are thread-safe.  libcrypto failing
 * (it only does when memory runs out) aborts the process with a message,
 * as running out of memory does elsewhere (util.h): a digest that was not
 * computed must never be compared.
 */
#ifndef FR_CRYPTO_H
#define FR_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define FR_SHA256_LEN 32

struct fr_sha256 {
	void *ctx;		/* libcrypto's EVP_MD_CTX */
};

void fr_sha256_init(struct fr_sha256 *c);
void fr_sha256_update(struct fr_sha256 *c, const void *data, size_t len);
void fr_sha256_final(struct fr_sha256 *c, unsigned char out[FR_SHA256_LEN]);

/* HMAC-SHA256 in pieces: init with the key, update, final. */
struct fr_hmac {
	void *ctx;		/* libcrypto's EVP_MAC_CTX */
};

void fr_hmac_init(struct fr_hmac *h, const void *key, size_t key_len);
void fr_hmac_update(struct fr_hmac *h, const void *data, size_t len);
void fr_hmac_final(struct fr_hmac *h, unsigned char out[FR_SHA256_LEN]);

void fr_sha256(const void *data, size_t len, unsigned char out[FR_SHA256_LEN]);
void fr_hmac_sha256(const void *key, size_t key_len, const void *data,
		    size_t len, unsigned char out[FR_SHA256_LEN]);

/* Compares len bytes in time that depends on len only. */
bool fr_consttime_equal(const void *a, const void *b, size_t len);

/* Overwrites n bytes with zeros in a way the compiler may not drop. */
void fr_crypto_wipe(void *p, size_t n);

/* libcrypto's version at run time ("3.0.11"), for `flowrun version`. */
const char *fr_crypto_version(void);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void fr_hex(const unsigned char *in, size_t n, char *out);

#endif
