/*
 * crypto: the cryptography flowrun needs, on OpenSSL's libcrypto (which
 * libcurl links already).  This module is the only one that includes an
 * OpenSSL header; everything else sees the plain types below.
 *
 * - SHA-256 (FIPS 180-4), whole or in pieces: webhook tokens, file hashes;
 * - HMAC-SHA256 (RFC 2104), whole or in pieces: webhook signatures over
 *   several parts of a request without copying them together;
 * - comparison in constant time (CRYPTO_memcmp) and wiping that the
 *   compiler may not drop (OPENSSL_cleanse), for key material;
 * - random bytes for secrets (RAND_bytes): nonces, PKCE verifiers, OAuth
 *   state, keys.  Execution ids (fr_new_id) are names, not credentials, and
 *   keep taking theirs from getrandom(2);
 * - authenticated encryption, AES-256-GCM (NIST SP 800-38D), for the
 *   OAuth tokens in the store: a random 96-bit nonce per message, a 128-bit
 *   tag, and associated data that binds a sealed value to where it is kept;
 * - base64url without padding (RFC 4648 section 5), as PKCE (RFC 7636) and
 *   OAuth state want it, and the parsing of 256-bit keys written as text.
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

/* n bytes from libcrypto's CSPRNG (RAND_bytes), fit for keys and nonces. */
void fr_random_bytes(void *out, size_t n);

/* base64url of n bytes, no padding, NUL-terminated (caller frees). */
char *fr_base64url(const void *in, size_t n);

#define FR_AEAD_KEY_LEN 32
#define FR_AEAD_NONCE_LEN 12
#define FR_AEAD_TAG_LEN 16
#define FR_AEAD_OVERHEAD (FR_AEAD_NONCE_LEN + FR_AEAD_TAG_LEN)

/*
 * AES-256-GCM.  seal writes nonce, ciphertext and tag to out, len +
 * FR_AEAD_OVERHEAD bytes; the nonce is fresh from fr_random_bytes, so one
 * key seals up to 2^32 messages safely.  ad (ad_len bytes, may be NULL
 * when 0) is authenticated, not encrypted: open must be given the same.
 *
 * open reverses it: len is the sealed length (at least FR_AEAD_OVERHEAD)
 * and out gets len - FR_AEAD_OVERHEAD bytes.  Returns 0, or -1 when the
 * tag does not match (a wrong key, other associated data, a changed or cut
 * message): out is wiped then, so a caller never sees unauthenticated bytes.
 */
void fr_aead_seal(const unsigned char key[FR_AEAD_KEY_LEN], const void *ad,
		  size_t ad_len, const void *in, size_t len, unsigned char *out);
int fr_aead_open(const unsigned char key[FR_AEAD_KEY_LEN], const void *ad,
		 size_t ad_len, const unsigned char *in, size_t len,
		 unsigned char *out);

/*
 * A 256-bit key written as text: 64 hex digits, or the base64 of 32 bytes
 * (standard or URL alphabet, with or without its one '='), blanks around
 * it ignored.  Returns 0 with key set, or -1 (key wiped).
 */
int fr_crypto_key_parse(const char *text, unsigned char key[FR_AEAD_KEY_LEN]);

#endif
