#include "redact.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fr_redact {
	pthread_mutex_t mu;
	char **secrets;
	size_t n, cap;
	bool numeric;		/* some secret is a number's text */
};

struct fr_redact *fr_redact_create(void)
{
	struct fr_redact *r = fr_xcalloc(1, sizeof(struct fr_redact));

	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void fr_redact_destroy(struct fr_redact *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->secrets[i]);
	free(r->secrets);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void add_locked(struct fr_redact *r, const char *secret)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->secrets[i], secret) == 0)
			return;
	}
	fr_grow(&r->secrets, &r->cap, r->n + 1, sizeof(*r->secrets));
	r->secrets[r->n++] = fr_xstrdup(secret);
	if (strspn(secret, "0123456789.-+eE") == strlen(secret))
		r->numeric = true;
	/* longest first, so a secret containing another is masked whole */
	for (size_t i = r->n - 1; i > 0 &&
	     strlen(r->secrets[i]) > strlen(r->secrets[i - 1]); i--) {
		char *t = r->secrets[i];
		r->secrets[i] = r->secrets[i - 1];
		r->secrets[i - 1] = t;
	}
}

void fr_redact_add(struct fr_redact *r, const char *secret)
{
	if (!secret || !*secret)
		return;
	pthread_mutex_lock(&r->mu);
	add_locked(r, secret);
	pthread_mutex_unlock(&r->mu);
}

void fr_redact_add_json(struct fr_redact *r, const json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		fr_redact_add(r, json_string_value(j));
	} else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, v)
			fr_redact_add_json(r, v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			fr_redact_add_json(r, v);
	} else if (json_is_number(j)) {
		char *s = json_dumps(j, JSON_ENCODE_ANY);
		fr_redact_add(r, s);
		free(s);
	}
}

/* Marks the passwords of scheme://user:password@host in mask. */
static void mark_url_passwords(const char *s, bool *mask)
{
	const char *p = s;

	while ((p = strstr(p, "://")) != NULL) {
		const char *end = p + 3, *colon = NULL, *at = NULL;
		while (*end && !strchr("/?# \t\n\"'", *end)) {
			if (*end == ':' && !colon)
				colon = end;
			if (*end == '@')
				at = end;
			end++;
		}
		if (colon && at && colon < at - 1)
			memset(mask + (colon + 1 - s), 1, (size_t)(at - colon - 1));
		p = end;
	}
}

/*
 * Every occurrence of every secret is marked first, then each run of
 * marked characters becomes one "***": overlapping secrets leave nothing
 * of either, and the result never grows a buffer in place.
 */
static char *redact_locked(const struct fr_redact *r, const char *s)
{
	size_t len = strlen(s);
	bool *mask = fr_xcalloc(len + 1, sizeof(*mask));
	struct fr_buf b;

	for (size_t i = 0; r && i < r->n; i++) {
		const char *sec = r->secrets[i], *hit = s;
		size_t slen = strlen(sec);
		if (slen < FR_REDACT_MIN) {
			/* too short to hunt inside text: only whole matches */
			if (strcmp(s, sec) == 0)
				memset(mask, 1, len);
			continue;
		}
		while ((hit = strstr(hit, sec)) != NULL) {
			memset(mask + (hit - s), 1, slen);
			hit++;
		}
	}
	mark_url_passwords(s, mask);
	fr_buf_init(&b);
	for (size_t i = 0; i < len; i++) {
		if (!mask[i]) {
			fr_buf_putc(&b, s[i]);
			continue;
		}
		fr_buf_puts(&b, "***");
		while (i + 1 < len && mask[i + 1])
			i++;
	}
	free(mask);
	return fr_buf_steal(&b);
}

char *fr_redact_str(const struct fr_redact *r, const char *s)
{
	char *out;

	if (!r)
		return redact_locked(NULL, s);
	pthread_mutex_lock((pthread_mutex_t *)&r->mu);
	out = redact_locked(r, s);
	pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
	return out;
}

json_t *fr_redact_json(const struct fr_redact *r, const json_t *j)
{
	const char *key;
	json_t *v, *out;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_STRING: {
		char *s = fr_redact_str(r, json_string_value(j));
		out = json_string(s);
		free(s);
		return out ? out : json_string("***");
	}
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach((json_t *)j, key, v) {
			char *k = fr_redact_str(r, key);
			json_object_set_new(out, k, fr_redact_json(r, v));
			free(k);
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(out, fr_redact_json(r, v));
		return out;
	default:
		if (json_is_number(j) && r) {
			char *s = json_dumps(j, JSON_ENCODE_ANY);
			bool secret = false;
			pthread_mutex_lock((pthread_mutex_t *)&r->mu);
			for (size_t k = 0; k < r->n && !secret; k++)
				secret = strcmp(s, r->secrets[k]) == 0;
			pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
			free(s);
			if (secret)
				return json_string("***");
		}
		return json_deep_copy(j);
	}
}

/* Whether s holds a secret or a URL password (r->mu held). */
static bool needs_redaction(const struct fr_redact *r, const char *s)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strlen(r->secrets[i]) < FR_REDACT_MIN
			    ? strcmp(s, r->secrets[i]) == 0
			    : strstr(s, r->secrets[i]) != NULL)
			return true;
	}
	return strstr(s, "://") && strchr(s, '@');
}

/* "***" for a number that is a secret (a new reference), else NULL. */
static json_t *secret_number(const struct fr_redact *r, const json_t *v)
{
	char *s;
	bool secret = false;

	if (!json_is_number(v) || !r->numeric)
		return NULL;
	s = json_dumps(v, JSON_ENCODE_ANY);
	for (size_t i = 0; s && i < r->n && !secret; i++)
		secret = strcmp(s, r->secrets[i]) == 0;
	free(s);
	return secret ? json_string("***") : NULL;
}

/* The walk of fr_redact_json_inplace, with r->mu held once for it all. */
static void inplace(const struct fr_redact *r, json_t *j)
{
	const char *key;
	json_t *v, *red;
	size_t i;
	void *tmp;

	switch (json_typeof(j)) {
	case JSON_STRING:
		if (needs_redaction(r, json_string_value(j))) {
			char *s = redact_locked(r, json_string_value(j));
			json_string_set(j, s);
			free(s);
		}
		break;
	case JSON_OBJECT:
		json_object_foreach_safe(j, tmp, key, v) {
			if ((red = secret_number(r, v)))
				json_object_set_new(j, key, red);
			else
				inplace(r, v);
			if (needs_redaction(r, key)) {
				char *k = redact_locked(r, key);
				if (strcmp(k, key) != 0) {
					json_object_set(j, k, json_object_get(j, key));
					json_object_del(j, key);
				}
				free(k);
			}
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(j, i, v) {
			if ((red = secret_number(r, v)))
				json_array_set_new(j, i, red);
			else
				inplace(r, v);
		}
		break;
	default:
		break;
	}
}

void fr_redact_json_inplace(const struct fr_redact *r, json_t *j)
{
	if (!r)
		return;
	pthread_mutex_lock((pthread_mutex_t *)&r->mu);
	inplace(r, j);
	pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
}
