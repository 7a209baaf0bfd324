/*
 * redact: keeps secrets out of everything flowrun prints or stores.
 *
 * A redactor is a set of secret strings (config values marked secret,
 * connector inputs marked secret, Authorization header values).  Every text
 * bound for output, logs, traces or error messages passes through it, whole
 * (before anything cuts it short), and each occurrence of a secret becomes
 * "***".  An occurrence is any of these forms of the secret:
 *
 * - the secret itself;
 * - percent-encoded (RFC 3986, either case of hex digits, any characters
 *   encoded or not, '+' for a space) and JSON-escaped (\" \\ \/ \b \f \n \r
 *   \t \uXXXX with surrogate pairs), and text mixing both;
 * - base64, standard and URL-safe alphabets, padded or not, alone or inside
 *   the encoding of a longer text ("Basic " + base64("user:SECRET")): the
 *   characters that only the secret's bytes determine, at each of the three
 *   alignments, are masked;
 * - cut short: FR_REDACT_MIN or more leading characters of any form above
 *   followed by "..." (or U+2026), as jq prints values in its error messages.
 *
 * Passwords in URLs (scheme://user:PASSWORD@host) are masked whether
 * registered or not.
 *
 * Secrets shorter than FR_REDACT_MIN characters are only masked where a
 * whole string equals them: masking every 'a' in a trace would hide
 * everything and protect nothing.  Encoded forms shorter than that are not
 * hunted either.
 *
 * One redactor per execution; thread-safe (loop iterations running in
 * parallel register secrets too).
 */
#ifndef FR_REDACT_H
#define FR_REDACT_H

#include <jansson.h>

#define FR_REDACT_MIN 4

struct fr_redact;
struct fr_verify;

struct fr_redact *fr_redact_create(void);
void fr_redact_destroy(struct fr_redact *r);

/* Registers a secret (copied); empty strings are ignored. */
void fr_redact_add(struct fr_redact *r, const char *secret);
/* Registers every string inside j (for secret values of any type). */
void fr_redact_add_json(struct fr_redact *r, const json_t *j);

/* A redacted copy of s (caller frees).  r may be NULL. */
char *fr_redact_str(const struct fr_redact *r, const char *s);

/*
 * The first max bytes of body (len bytes, not terminated) for a message:
 * redacted whole first, so that no secret is cut in two; cut on a UTF-8
 * boundary with "..." after; control characters made spaces (one line).
 */
char *fr_redact_excerpt(const struct fr_redact *r, const char *body,
			size_t len, size_t max);
/* A redacted deep copy of j (new reference). */
json_t *fr_redact_json(const struct fr_redact *r, const json_t *j);
/* Redacts the strings inside j in place (cheaper: untouched ones stay). */
void fr_redact_json_inplace(const struct fr_redact *r, json_t *j);

/*
 * The credentials of an inbound request, in place, in headers (an object
 * of header name -> value; names matched without regard to case):
 * Authorization, Proxy-Authorization, Cookie and the signature header of
 * v's scheme (NULL: none) become "***"; the header of the token scheme,
 * which holds the shared secret itself, is removed.
 */
void fr_redact_inbound_headers(json_t *headers, const struct fr_verify *v);

#endif
