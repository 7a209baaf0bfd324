#include "redact.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "model.h"
#include "util.h"
#include "verify.h"

/*
 * A form is a string hunted in text: a secret itself or one of its base64
 * encodings.  Percent-encoding and JSON escapes are not forms: the match
 * decodes them in the text as it goes (match_at), whatever mix they come in.
 */
struct form {
	char *s;
	size_t len;
	bool literal;	/* holds '%' or '\\': also matched without decoding */
};

struct fr_redact {
	pthread_mutex_t mu;
	char **secrets;
	size_t n, cap;
	struct form *forms;
	size_t nforms, forms_cap;
	bool start[256];	/* the bytes an occurrence can start with */
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
	for (size_t i = 0; i < r->nforms; i++)
		free(r->forms[i].s);
	free(r->secrets);
	free(r->forms);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Adds the form s[0..len) unless it is too short to hunt or known. */
static void add_form(struct fr_redact *r, const char *s, size_t len)
{
	struct form *f;

	if (len < FR_REDACT_MIN)
		return;
	for (size_t i = 0; i < r->nforms; i++) {
		if (r->forms[i].len == len && memcmp(r->forms[i].s, s, len) == 0)
			return;
	}
	fr_grow(&r->forms, &r->forms_cap, r->nforms + 1, sizeof(*r->forms));
	f = &r->forms[r->nforms++];
	f->s = fr_xstrndup(s, len);
	f->len = len;
	f->literal = memchr(s, '%', len) || memchr(s, '\\', len);
	r->start[(unsigned char)s[0]] = true;
	r->start['%'] = r->start['\\'] = true;
	if (s[0] == ' ')
		r->start['+'] = true;
}

/* The base64 text b[from..to) in both alphabets. */
static void add_base64_span(struct fr_redact *r, char *b, size_t from, size_t to)
{
	if (to <= from)
		return;
	add_form(r, b + from, to - from);
	for (size_t i = from; i < to; i++) {
		if (b[i] == '+')
			b[i] = '-';
		else if (b[i] == '/')
			b[i] = '_';
	}
	add_form(r, b + from, to - from);
}

/*
 * The base64 forms of a secret of len bytes.  Inside the encoding of a
 * longer text the secret starts at a byte offset o, and only o mod 3
 * changes its characters: for each of the three alignments, the characters
 * whose 6 bits all come from the secret (bits 8o to 8(o + len)).  Alone,
 * the last partial character is known too (its low bits are zero): the
 * whole encoding without padding.
 */
static void add_base64_forms(struct fr_redact *r, const char *sec, size_t len)
{
	unsigned char *buf = fr_xmalloc(len + 4);
	char *b;

	for (size_t o = 0; o < 3; o++) {
		memset(buf, 0, len + 4);
		memcpy(buf + o, sec, len);
		b = fr_base64_encode(buf, o + len + 2);
		add_base64_span(r, b, (8 * o + 5) / 6, 8 * (o + len) / 6);
		free(b);
	}
	b = fr_base64_encode((const unsigned char *)sec, len);
	add_base64_span(r, b, 0, strcspn(b, "="));
	free(b);
	free(buf);
}

static void add_locked(struct fr_redact *r, const char *secret)
{
	size_t len = strlen(secret);

	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->secrets[i], secret) == 0)
			return;
	}
	fr_grow(&r->secrets, &r->cap, r->n + 1, sizeof(*r->secrets));
	r->secrets[r->n++] = fr_xstrdup(secret);
	if (strspn(secret, "0123456789.-+eE") == len)
		r->numeric = true;
	if (len >= FR_REDACT_MIN) {
		add_form(r, secret, len);
		add_base64_forms(r, secret, len);
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

/* The walks below stop at FR_JSON_MAX_DEPTH: what lies deeper is "***". */
static void add_json(struct fr_redact *r, const json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		fr_redact_add(r, json_string_value(j));
	} else if (depth >= FR_JSON_MAX_DEPTH) {
		return;
	} else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, v)
			add_json(r, v, depth + 1);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			add_json(r, v, depth + 1);
	} else if (json_is_number(j)) {
		char *s = json_dumps(j, JSON_ENCODE_ANY);
		fr_redact_add(r, s);
		free(s);
	}
}

void fr_redact_add_json(struct fr_redact *r, const json_t *j)
{
	add_json(r, j, 0);
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

/* The value of 4 hex digits at t (n bytes there), or -1. */
static long hex4(const char *t, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = fr_hex_digit(t[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t utf8_put(unsigned long cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Decodes the unit of text at t (n bytes there): a percent escape, a JSON
 * escape, or else one byte as is.  Writes its bytes to out (*nout of them)
 * and returns how much text it took.
 */
static size_t decode_unit(const char *t, size_t n, unsigned char out[4],
			  size_t *nout)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;

	*nout = 1;
	out[0] = (unsigned char)t[0];
	if (t[0] == '%' && n >= 3 && fr_hex_digit(t[1]) >= 0 && fr_hex_digit(t[2]) >= 0) {
		out[0] = (unsigned char)(fr_hex_digit(t[1]) * 16 + fr_hex_digit(t[2]));
		return 3;
	}
	if (t[0] != '\\' || n < 2)
		return 1;
	if (t[1] != 'u') {
		if (t[1] && (e = strchr(from, t[1]))) {
			out[0] = (unsigned char)to[e - from];
			return 2;
		}
		return 1;
	}
	long hi = hex4(t + 2, n - 2), lo;
	if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return 1;
	if (hi < 0xd800 || hi > 0xdbff) {
		*nout = utf8_put((unsigned long)hi, out);
		return 6;
	}
	if (n < 12 || t[6] != '\\' || t[7] != 'u' ||
	    (lo = hex4(t + 8, n - 8)) < 0xdc00 || lo > 0xdfff)
		return 1;
	*nout = utf8_put(0x10000 + ((unsigned long)(hi - 0xd800) << 10) +
			 (unsigned long)(lo - 0xdc00), out);
	return 12;
}

/*
 * Where an occurrence that stopped matching at t + p ends if it was cut
 * short there: past "..." (or U+2026), which may follow the start of an
 * escape the cut went through ("\\", "\\u00", "%2"); else 0.
 */
static size_t cut_here(const char *t, size_t n, size_t p)
{
	size_t q = p;

	if (q < n && (t[q] == '\\' || t[q] == '%')) {
		q++;
		if (q < n && t[q] == 'u' && t[p] == '\\')
			q++;
		while (q < n && q - p < 6 && fr_hex_digit(t[q]) >= 0)
			q++;
	}
	if (n - q >= 3 && (memcmp(t + q, "...", 3) == 0 ||
			   memcmp(t + q, "\xe2\x80\xa6", 3) == 0))
		return q + 3;
	return 0;
}

/*
 * Matches form f against the text t (n bytes) from its start, decoding
 * escapes in the text or not.  Returns the text length of a whole match;
 * else 0, with *cut the text length of an occurrence cut short (at least
 * FR_REDACT_MIN bytes of the form, then "..." or U+2026), or 0.
 */
static size_t match_at(const char *t, size_t n, const struct form *f,
		       bool decode, size_t *cut)
{
	size_t j = 0, p = 0;

	*cut = 0;
	while (j < f->len && p < n) {
		unsigned char u[4];
		size_t nu = 1, take = 1;

		u[0] = (unsigned char)t[p];
		if (decode && t[p] == '+' && f->s[j] == ' ')
			u[0] = ' ';
		else if (decode)
			take = decode_unit(t + p, n - p, u, &nu);
		if (nu > f->len - j || memcmp(u, f->s + j, nu) != 0) {
			/* an escape in the text may be the secret's own text */
			if (take == 1 || t[p] != f->s[j])
				break;
			nu = take = 1;
		}
		j += nu;
		p += take;
	}
	if (j == f->len)
		return p;
	if (j >= FR_REDACT_MIN)
		*cut = cut_here(t, n, p);
	return 0;
}

/*
 * Marks in mask every occurrence of every secret in s (len bytes); with
 * mask NULL, only tells whether there is one.  r->mu is held.
 */
static bool scan(const struct fr_redact *r, const char *s, size_t len,
		 bool *mask)
{
	bool any = false;

	for (size_t i = 0; r && i < r->n; i++) {
		/* too short to hunt inside text: only whole matches */
		if (strlen(r->secrets[i]) < FR_REDACT_MIN &&
		    strcmp(s, r->secrets[i]) == 0) {
			if (!mask)
				return true;
			memset(mask, 1, len);
			return true;
		}
	}
	for (size_t i = 0; r && r->nforms && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!r->start[c])
			continue;
		for (size_t k = 0; k < r->nforms; k++) {
			const struct form *f = &r->forms[k];
			size_t m, cut, m2 = 0, cut2 = 0;
			if (c != (unsigned char)f->s[0] && c != '%' && c != '\\' &&
			    !(c == '+' && f->s[0] == ' '))
				continue;
			m = match_at(s + i, len - i, f, true, &cut);
			if (!m && f->literal)
				m2 = match_at(s + i, len - i, f, false, &cut2);
			m = m ? m : m2 ? m2 : cut > cut2 ? cut : cut2;
			if (!m)
				continue;
			if (!mask)
				return true;
			memset(mask + i, 1, m);
			any = true;
		}
	}
	return any;
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

	scan(r, s, len, mask);
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

static json_t *redact_json(const struct fr_redact *r, const json_t *j,
			   int depth)
{
	const char *key;
	json_t *v, *out;
	size_t i;

	if (depth >= FR_JSON_MAX_DEPTH && (json_is_object(j) || json_is_array(j)))
		return json_string("***");
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
			json_object_set_new(out, k, redact_json(r, v, depth + 1));
			free(k);
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(out, redact_json(r, v, depth + 1));
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

json_t *fr_redact_json(const struct fr_redact *r, const json_t *j)
{
	return redact_json(r, j, 0);
}

/* Whether s holds a secret or a URL password (r->mu held). */
static bool needs_redaction(const struct fr_redact *r, const char *s)
{
	return scan(r, s, strlen(s), NULL) || (strstr(s, "://") && strchr(s, '@'));
}

/*
 * "***" for a number that is a secret, or a container too deep to walk
 * (a new reference), else NULL.
 */
static json_t *secret_number(const struct fr_redact *r, const json_t *v,
			     int depth)
{
	char *s;
	bool secret = false;

	if (depth >= FR_JSON_MAX_DEPTH && (json_is_object(v) || json_is_array(v)))
		return json_string("***");
	if (!json_is_number(v) || !r->numeric)
		return NULL;
	s = json_dumps(v, JSON_ENCODE_ANY);
	for (size_t i = 0; s && i < r->n && !secret; i++)
		secret = strcmp(s, r->secrets[i]) == 0;
	free(s);
	return secret ? json_string("***") : NULL;
}

/* The walk of fr_redact_json_inplace, with r->mu held once for it all. */
static void inplace(const struct fr_redact *r, json_t *j, int depth)
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
			if ((red = secret_number(r, v, depth + 1)))
				json_object_set_new(j, key, red);
			else
				inplace(r, v, depth + 1);
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
			if ((red = secret_number(r, v, depth + 1)))
				json_array_set_new(j, i, red);
			else
				inplace(r, v, depth + 1);
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
	inplace(r, j, 0);
	pthread_mutex_unlock((pthread_mutex_t *)&r->mu);
}

void fr_redact_inbound_headers(json_t *headers, const struct fr_verify *v)
{
	static const char *const credentials[] = {
		"Authorization", "Proxy-Authorization", "Cookie",
	};
	const char *sig = fr_verify_signature_header(v), *key;
	bool token = v && v->scheme && strcmp(v->scheme, "token") == 0;
	json_t *val;
	void *tmp;

	json_object_foreach_safe(headers, tmp, key, val) {
		bool secret = sig && strcasecmp(key, sig) == 0;
		if (secret && token) {
			json_object_del(headers, key);	/* the secret itself */
			continue;
		}
		for (size_t i = 0; i < FR_ARRAY_LEN(credentials) && !secret; i++)
			secret = strcasecmp(key, credentials[i]) == 0;
		if (secret)
			json_object_set_new(headers, key, json_string("***"));
	}
}

char *fr_redact_excerpt(const struct fr_redact *r, const char *body,
			size_t len, size_t max)
{
	char *whole = fr_xstrndup(body ? body : "", len);
	char *s = fr_redact_str(r, whole);
	size_t n = strlen(s);

	free(whole);
	if (n > max) {
		char *cut;
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = fr_xasprintf("%.*s...", (int)n, s);
		free(s);
		s = cut;
	}
	for (char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return s;
}
