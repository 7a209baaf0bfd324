/*
 * verify: checks a webhook request's signature against the scheme of a
 * flow's trigger.webhook.verify (flowrun-flow(5), "verify"), and the strict
 * base64 it needs (digests, comparison and wiping are crypto.h's).
 *
 * Nothing here keeps a pointer to its arguments or allocates for the caller
 * except fr_base64_encode/fr_base64_decode, whose results the caller frees.
 * Secrets are given already resolved (templates expanded), as strings.
 * All functions are thread-safe.
 */
#ifndef FR_VERIFY_H
#define FR_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct fr_verify;

/* Looks up a request header by name, case-insensitively; NULL if absent. */
typedef const char *(*fr_header_fn)(void *data, const char *name);

struct fr_verify_input {
	const char *body;	/* the raw body, exactly as received */
	size_t len;
	fr_header_fn header;
	void *header_data;
	time_t now;		/* for timestamp tolerance */
};

/*
 * Checks the request against the scheme of v with any of the secrets
 * (rotation: the first that matches wins).  Only v's scheme, header, prefix,
 * encoding and tolerance_ms are used; tolerance_ms <= 0 means 5 minutes.
 * Empty (or NULL) secrets never match.  Returns 0 when the request verifies,
 * -1 when not, with *why (a static string, for the server's log only, never
 * for the client) saying why: "no signature header", "stale timestamp",
 * "signature mismatch", ...  *why is NULL on success.
 */
int fr_verify_check(const struct fr_verify *v, const char *const *secrets,
		    size_t nsecrets, const struct fr_verify_input *in,
		    const char **why);

/*
 * The request header that carries v's signature (or, for the token scheme,
 * the token): a static string or v->header; NULL without a scheme.
 */
const char *fr_verify_signature_header(const struct fr_verify *v);

/*
 * Base64, RFC 4648 section 4 (standard alphabet, with padding).
 * encode returns a NUL-terminated string (caller frees).
 * decode is strict: the length must be a multiple of 4, '=' only as padding,
 * no whitespace, and unused bits zero.  On success *out (caller frees; one
 * NUL byte past *out_len for convenience) and *out_len are set and 0 is
 * returned; on bad input -1, with *out NULL.
 */
char *fr_base64_encode(const unsigned char *in, size_t len);
int fr_base64_decode(const char *in, size_t len, unsigned char **out,
		     size_t *out_len);

#endif
