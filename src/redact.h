/*
 * redact: keeps secrets out of everything flowrun prints or stores.
 *
 * A redactor is a set of secret strings (config values marked secret,
 * connector inputs marked secret, Authorization header values).  Every text
 * bound for output, logs, traces or error messages passes through it, and
 * each occurrence of a secret becomes "***".  Passwords in URLs
 * (scheme://user:PASSWORD@host) are masked whether registered or not.
 *
 * Secrets shorter than FR_REDACT_MIN characters are only masked where a
 * whole string equals them: masking every 'a' in a trace would hide
 * everything and protect nothing.
 *
 * One redactor per execution; thread-safe (loop iterations running in
 * parallel register secrets too).
 */
#ifndef FR_REDACT_H
#define FR_REDACT_H

#include <jansson.h>

#define FR_REDACT_MIN 4

struct fr_redact;

struct fr_redact *fr_redact_create(void);
void fr_redact_destroy(struct fr_redact *r);

/* Registers a secret (copied); empty strings are ignored. */
void fr_redact_add(struct fr_redact *r, const char *secret);
/* Registers every string inside j (for secret values of any type). */
void fr_redact_add_json(struct fr_redact *r, const json_t *j);

/* A redacted copy of s (caller frees).  r may be NULL. */
char *fr_redact_str(const struct fr_redact *r, const char *s);
/* A redacted deep copy of j (new reference). */
json_t *fr_redact_json(const struct fr_redact *r, const json_t *j);
/* Redacts the strings inside j in place (cheaper: untouched ones stay). */
void fr_redact_json_inplace(const struct fr_redact *r, json_t *j);

#endif
