/*
 * sha256: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for webhook
 * signatures and file hashes.  None of flowrun's libraries exports them.
 */
#ifndef FR_SHA256_H
#define FR_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define FR_SHA256_LEN 32

struct fr_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char block[64];
	size_t used;
};

void fr_sha256_init(struct fr_sha256 *c);
void fr_sha256_update(struct fr_sha256 *c, const void *data, size_t len);
void fr_sha256_final(struct fr_sha256 *c, unsigned char out[FR_SHA256_LEN]);

/* HMAC-SHA256 in pieces: init with the key, update, final (wipes). */
struct fr_hmac {
	struct fr_sha256 inner;
	unsigned char opad[64];
};

void fr_hmac_init(struct fr_hmac *h, const void *key, size_t key_len);
void fr_hmac_update(struct fr_hmac *h, const void *data, size_t len);
void fr_hmac_final(struct fr_hmac *h, unsigned char out[FR_SHA256_LEN]);

void fr_sha256(const void *data, size_t len, unsigned char out[FR_SHA256_LEN]);
void fr_hmac_sha256(const void *key, size_t key_len, const void *data,
		    size_t len, unsigned char out[FR_SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void fr_hex(const unsigned char *in, size_t n, char *out);

#endif
