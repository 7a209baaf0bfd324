#include "verify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "model.h"
#include "util.h"

#define DEFAULT_TOLERANCE_MS (5 * 60 * 1000)
#define MAX_VALUE 8192		/* longer header values are refused */
#define MAX_SIGS 16		/* signatures listed in one header */
#define MAX_TS_DIGITS 15	/* seconds since the epoch */

/* A piece of a header value: not NUL-terminated, never read past n. */
struct span {
	const char *p;
	size_t n;
};

/* One piece of the signed content, which is hashed without being copied. */
struct part {
	const void *p;
	size_t n;
};

struct check {
	const struct fr_verify *v;
	const char *const *secrets;
	size_t nsecrets;
	const struct fr_verify_input *in;
	const char **why;
};

static int fail(const struct check *c, const char *why)
{
	*c->why = why;
	return -1;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *fr_base64_encode(const unsigned char *in, size_t len)
{
	char *out, *o;
	size_t i;

	if (len / 3 >= SIZE_MAX / 4 - 1)
		return NULL;
	out = o = fr_xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		*o++ = b64_alphabet[w >> 18];
		*o++ = b64_alphabet[w >> 12 & 63];
		*o++ = b64_alphabet[w >> 6 & 63];
		*o++ = b64_alphabet[w & 63];
	}
	if (len - i == 1) {
		*o++ = b64_alphabet[in[i] >> 2];
		*o++ = b64_alphabet[(in[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t w = (uint32_t)in[i] << 8 | in[i + 1];
		*o++ = b64_alphabet[w >> 10];
		*o++ = b64_alphabet[w >> 4 & 63];
		*o++ = b64_alphabet[(w & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* All ones when lo <= x <= hi, else 0, without a branch. */
static int in_range(int x, int lo, int hi)
{
	return -(int)((unsigned)((lo - 1 - x) & (x - hi - 1)) >> 31);
}

/*
 * The value of a base64 digit, or -1.  Branch-free and without a table
 * lookup, because the whsec_ keys of standard-webhooks are decoded here.
 */
static int b64_value(unsigned char ch)
{
	int x = ch, v = -1;

	v += in_range(x, 'A', 'Z') & (x - 'A' + 1);
	v += in_range(x, 'a', 'z') & (x - 'a' + 27);
	v += in_range(x, '0', '9') & (x - '0' + 53);
	v += in_range(x, '+', '+') & 63;
	v += in_range(x, '/', '/') & 64;
	return v;
}

/*
 * Decodes strict padded base64 into out (cap bytes).  Returns -1 on bad input
 * or when the result would not fit.
 */
static int b64_decode_into(const char *in, size_t len, unsigned char *out,
			   size_t cap, size_t *out_len)
{
	size_t o = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int a = b64_value((unsigned char)in[i]);
		int b = b64_value((unsigned char)in[i + 1]);
		int c = -1, d = -1, n = 3;

		if (last && in[i + 2] == '=' && in[i + 3] == '=') {
			n = 1;
			c = d = 0;
			if (b & 15)
				return -1;
		} else if (last && in[i + 3] == '=') {
			n = 2;
			c = b64_value((unsigned char)in[i + 2]);
			d = 0;
			if (c & 3)
				return -1;
		} else {
			c = b64_value((unsigned char)in[i + 2]);
			d = b64_value((unsigned char)in[i + 3]);
		}
		if ((a | b | c | d) < 0 || cap - o < (size_t)n)
			return -1;
		uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 |
			     (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (unsigned char)(w >> 16);
		if (n > 1)
			out[o++] = (unsigned char)(w >> 8);
		if (n > 2)
			out[o++] = (unsigned char)w;
	}
	*out_len = o;
	return 0;
}

int fr_base64_decode(const char *in, size_t len, unsigned char **out,
		     size_t *out_len)
{
	size_t cap = len / 4 * 3;
	unsigned char *buf;

	*out = NULL;
	*out_len = 0;
	if (len % 4)
		return -1;
	buf = fr_xmalloc(cap + 1);
	if (b64_decode_into(in, len, buf, cap, out_len) < 0) {
		fr_crypto_wipe(buf, cap);
		free(buf);
		*out_len = 0;
		return -1;
	}
	buf[*out_len] = '\0';
	*out = buf;
	return 0;
}

/* ---- header values ---- */

static void trim(struct span *s)
{
	while (s->n > 0 && (s->p[0] == ' ' || s->p[0] == '\t')) {
		s->p++;
		s->n--;
	}
	while (s->n > 0 && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\t'))
		s->n--;
}

/*
 * Gets the named header, trimmed of blanks.  Returns 1 when present, 0 when
 * absent, -1 when absurdly long (read no further than MAX_VALUE + 1 bytes).
 */
static int get_header(const struct check *c, const char *name, struct span *out)
{
	const char *s = NULL;
	size_t n;

	if (c->in->header)
		s = c->in->header(c->in->header_data, name);
	if (!s)
		return 0;
	n = strnlen(s, MAX_VALUE + 1);
	if (n > MAX_VALUE)
		return -1;
	out->p = s;
	out->n = n;
	trim(out);
	return 1;
}

/* Removes prefix from the front of s; false when s does not start with it. */
static bool strip_prefix(struct span *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (s->n < n || memcmp(s->p, prefix, n) != 0)
		return false;
	s->p += n;
	s->n -= n;
	return true;
}

static bool span_is(struct span s, const char *str)
{
	return s.n == strlen(str) && memcmp(s.p, str, s.n) == 0;
}

/* Takes the next non-empty, trimmed, sep-separated item off *rest. */
static bool next_item(struct span *rest, char sep, struct span *item)
{
	while (rest->n > 0) {
		const char *p = memchr(rest->p, sep, rest->n);
		size_t n = p ? (size_t)(p - rest->p) : rest->n;

		item->p = rest->p;
		item->n = n;
		rest->p += p ? n + 1 : n;
		rest->n -= p ? n + 1 : n;
		trim(item);
		if (item->n > 0)
			return true;
	}
	return false;
}

/* Decodes a digest written in hex, either case; false when malformed. */
static bool hex_digest(struct span s, unsigned char out[FR_SHA256_LEN])
{
	if (s.n != 2 * FR_SHA256_LEN)
		return false;
	for (size_t i = 0; i < FR_SHA256_LEN; i++) {
		int hi = fr_hex_digit(s.p[2 * i]), lo = fr_hex_digit(s.p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* Decodes a digest written in base64; false when malformed. */
static bool b64_digest(struct span s, unsigned char out[FR_SHA256_LEN])
{
	size_t n;

	return s.n == (FR_SHA256_LEN + 2) / 3 * 4 &&
	       b64_decode_into(s.p, s.n, out, FR_SHA256_LEN, &n) == 0 &&
	       n == FR_SHA256_LEN;
}

/* Seconds since the epoch, digits only; -1 when malformed. */
static int64_t parse_ts(struct span s)
{
	int64_t t = 0;

	if (s.n == 0 || s.n > MAX_TS_DIGITS)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		t = t * 10 + (s.p[i] - '0');
	}
	return t;
}

/* Whether ts (seconds) is within the tolerance of now, either way. */
static bool fresh(const struct check *c, int64_t ts)
{
	int64_t tol = c->v->tolerance_ms > 0 ? c->v->tolerance_ms
					     : DEFAULT_TOLERANCE_MS;
	int64_t now = (int64_t)c->in->now, diff;

	if (now < 0)
		return false;
	diff = now > ts ? now - ts : ts - now;
	return diff <= INT64_MAX / 1000 && diff * 1000 <= tol;
}

/* Parses and checks a signed timestamp; 0, or -1 with *why set. */
static int check_ts(const struct check *c, struct span ts)
{
	int64_t t = parse_ts(ts);

	if (t < 0)
		return fail(c, "malformed timestamp");
	if (!fresh(c, t))
		return fail(c, "stale timestamp");
	return 0;
}

/* ---- HMAC over several parts ---- */

/* HMAC-SHA256 of the concatenated parts, without copying them. */
static void hmac_parts(const void *key, size_t key_len,
		       const struct part *parts, size_t nparts,
		       unsigned char out[FR_SHA256_LEN])
{
	struct fr_hmac h;

	fr_hmac_init(&h, key, key_len);
	for (size_t i = 0; i < nparts; i++)
		fr_hmac_update(&h, parts[i].p, parts[i].n);
	fr_hmac_final(&h, out);
}

/*
 * Whether the HMAC of parts under any secret equals any of the received
 * digests.  With whsec, a secret "whsec_BASE64" stands for the decoded bytes
 * (Standard Webhooks); any other secret is used as its own bytes.
 */
static int match(const struct check *c, const struct part *parts,
		 size_t nparts, unsigned char (*sigs)[FR_SHA256_LEN],
		 size_t nsigs, bool whsec)
{
	bool bad_secret = false;

	for (size_t i = 0; i < c->nsecrets; i++) {
		const char *s = c->secrets[i];
		size_t key_len = s ? strlen(s) : 0;
		const void *key = s;
		unsigned char *owned = NULL, mac[FR_SHA256_LEN];
		bool hit = false;

		if (key_len == 0)
			continue;
		if (whsec && strncmp(s, "whsec_", 6) == 0) {
			if (fr_base64_decode(s + 6, key_len - 6, &owned,
					     &key_len) < 0 || key_len == 0) {
				free(owned);
				bad_secret = true;
				continue;
			}
			key = owned;
		}
		hmac_parts(key, key_len, parts, nparts, mac);
		if (owned) {
			fr_crypto_wipe(owned, key_len);
			free(owned);
		}
		for (size_t j = 0; j < nsigs; j++)
			hit |= fr_consttime_equal(mac, sigs[j], FR_SHA256_LEN);
		fr_crypto_wipe(mac, sizeof(mac));
		if (hit)
			return 0;
	}
	return fail(c, bad_secret ? "signature mismatch (and a whsec_ secret "
				    "is not valid base64)"
				  : "signature mismatch");
}

/* ---- schemes ---- */

static int header_fail(const struct check *c, int r, const char *absent)
{
	return fail(c, r < 0 ? "header value too long" : absent);
}

/* A digest of the raw body in one header (hmac-sha256, github). */
static int check_body_sig(const struct check *c, const char *name,
			  const char *prefix, bool base64)
{
	unsigned char sig[1][FR_SHA256_LEN];
	struct part body = { c->in->body, c->in->len };
	struct span s;
	int r;

	if ((r = get_header(c, name, &s)) <= 0)
		return header_fail(c, r, "no signature header");
	if (prefix && *prefix && !strip_prefix(&s, prefix))
		return fail(c, "signature prefix missing");
	if (!(base64 ? b64_digest(s, sig[0]) : hex_digest(s, sig[0])))
		return fail(c, "malformed signature");
	return match(c, &body, 1, sig, 1, false);
}

static int check_hmac_sha256(const struct check *c)
{
	const char *enc = c->v->encoding;
	bool base64;

	if (!c->v->header)
		return fail(c, "no signature header configured");
	if (!enc || strcasecmp(enc, "hex") == 0)
		base64 = false;
	else if (strcasecmp(enc, "base64") == 0)
		base64 = true;
	else
		return fail(c, "unknown signature encoding");
	return check_body_sig(c, c->v->header, c->v->prefix, base64);
}

static int check_github(const struct check *c)
{
	return check_body_sig(c, "X-Hub-Signature-256", "sha256=", false);
}

/*
 * Stripe-Signature: t=TS,v1=HEX[,v1=HEX...][,v0=...] over "TS.BODY".
 * Any v1 may match; v0 and unknown keys are ignored, as Stripe's libraries do.
 */
static int check_stripe(const struct check *c)
{
	unsigned char sigs[MAX_SIGS][FR_SHA256_LEN];
	size_t nsigs = 0, nv1 = 0;
	struct span h, item, ts = { NULL, 0 };
	bool have_ts = false;
	int r;

	if ((r = get_header(c, "Stripe-Signature", &h)) <= 0)
		return header_fail(c, r, "no signature header");
	while (next_item(&h, ',', &item)) {
		const char *eq = memchr(item.p, '=', item.n);
		struct span key, val;

		if (!eq)
			continue;
		key.p = item.p;
		key.n = (size_t)(eq - item.p);
		val.p = eq + 1;
		val.n = item.n - key.n - 1;
		if (span_is(key, "t")) {
			if (have_ts)
				return fail(c, "malformed signature header");
			ts = val;
			have_ts = true;
		} else if (span_is(key, "v1")) {
			if (++nv1 > MAX_SIGS)
				return fail(c, "too many signatures");
			if (hex_digest(val, sigs[nsigs]))
				nsigs++;
		}
	}
	if (!have_ts)
		return fail(c, "no timestamp in signature header");
	if (nv1 == 0)
		return fail(c, "no v1 signature");
	if (check_ts(c, ts) < 0)
		return -1;
	if (nsigs == 0)
		return fail(c, "malformed signature");

	struct part parts[] = {
		{ ts.p, ts.n }, { ".", 1 }, { c->in->body, c->in->len },
	};
	return match(c, parts, FR_ARRAY_LEN(parts), sigs, nsigs, false);
}

/* X-Slack-Signature: v0=HEX over "v0:TS:BODY", TS in its own header. */
static int check_slack(const struct check *c)
{
	unsigned char sig[1][FR_SHA256_LEN];
	struct span s, ts;
	int r;

	if ((r = get_header(c, "X-Slack-Signature", &s)) <= 0)
		return header_fail(c, r, "no signature header");
	if ((r = get_header(c, "X-Slack-Request-Timestamp", &ts)) <= 0)
		return header_fail(c, r, "no timestamp header");
	if (check_ts(c, ts) < 0)
		return -1;
	if (!strip_prefix(&s, "v0=") || !hex_digest(s, sig[0]))
		return fail(c, "malformed signature");

	struct part parts[] = {
		{ "v0:", 3 }, { ts.p, ts.n }, { ":", 1 },
		{ c->in->body, c->in->len },
	};
	return match(c, parts, FR_ARRAY_LEN(parts), sig, 1, false);
}

/*
 * Standard Webhooks: webhook-signature is a space-separated list of
 * "v1,BASE64" (other versions ignored) over "ID.TS.BODY".
 */
static int check_standard_webhooks(const struct check *c)
{
	unsigned char sigs[MAX_SIGS][FR_SHA256_LEN];
	size_t nsigs = 0, nv1 = 0;
	struct span h, id, ts, item;
	int r;

	if ((r = get_header(c, "webhook-signature", &h)) <= 0)
		return header_fail(c, r, "no signature header");
	if ((r = get_header(c, "webhook-id", &id)) <= 0)
		return header_fail(c, r, "no webhook-id header");
	if ((r = get_header(c, "webhook-timestamp", &ts)) <= 0)
		return header_fail(c, r, "no timestamp header");
	if (check_ts(c, ts) < 0)
		return -1;
	while (next_item(&h, ' ', &item)) {
		if (!strip_prefix(&item, "v1,"))
			continue;
		if (++nv1 > MAX_SIGS)
			return fail(c, "too many signatures");
		if (b64_digest(item, sigs[nsigs]))
			nsigs++;
	}
	if (nv1 == 0)
		return fail(c, "no v1 signature");
	if (nsigs == 0)
		return fail(c, "malformed signature");

	struct part parts[] = {
		{ id.p, id.n }, { ".", 1 }, { ts.p, ts.n }, { ".", 1 },
		{ c->in->body, c->in->len },
	};
	return match(c, parts, FR_ARRAY_LEN(parts), sigs, nsigs, true);
}

/*
 * The header (after the optional prefix) is the secret.  Comparing SHA-256
 * digests keeps the comparison fixed-size, so the secret's length does not
 * leak through timing.
 */
static int check_token(const struct check *c)
{
	unsigned char got[FR_SHA256_LEN], want[FR_SHA256_LEN];
	const char *prefix = c->v->prefix;
	struct span s;
	bool hit = false;
	int r;

	if (!c->v->header)
		return fail(c, "no token header configured");
	if ((r = get_header(c, c->v->header, &s)) <= 0)
		return header_fail(c, r, "no token header");
	if (prefix && *prefix && !strip_prefix(&s, prefix))
		return fail(c, "token prefix missing");
	fr_sha256(s.p, s.n, got);
	for (size_t i = 0; i < c->nsecrets && !hit; i++) {
		const char *secret = c->secrets[i];

		if (!secret || !*secret)
			continue;
		fr_sha256(secret, strlen(secret), want);
		hit = fr_consttime_equal(got, want, FR_SHA256_LEN);
	}
	fr_crypto_wipe(want, sizeof(want));
	return hit ? 0 : fail(c, "token mismatch");
}

const char *fr_verify_signature_header(const struct fr_verify *v)
{
	static const struct {
		const char *scheme, *header;	/* NULL: the flow's own header */
	} headers[] = {
		{ "github", "X-Hub-Signature-256" },
		{ "hmac-sha256", NULL },
		{ "slack", "X-Slack-Signature" },
		{ "standard-webhooks", "webhook-signature" },
		{ "stripe", "Stripe-Signature" },
		{ "token", NULL },
	};

	if (!v || !v->scheme)
		return NULL;
	for (size_t i = 0; i < FR_ARRAY_LEN(headers); i++) {
		if (strcmp(headers[i].scheme, v->scheme) == 0)
			return headers[i].header ? headers[i].header : v->header;
	}
	return NULL;
}

int fr_verify_check(const struct fr_verify *v, const char *const *secrets,
		    size_t nsecrets, const struct fr_verify_input *in,
		    const char **why)
{
	static const struct {
		const char *name;
		int (*fn)(const struct check *c);
	} schemes[] = {	/* keep alphabetized */
		{ "github", check_github },
		{ "hmac-sha256", check_hmac_sha256 },
		{ "slack", check_slack },
		{ "standard-webhooks", check_standard_webhooks },
		{ "stripe", check_stripe },
		{ "token", check_token },
	};
	const char *ignored;
	struct check c = { v, secrets, nsecrets, in, why ? why : &ignored };
	bool have_secret = false;

	*c.why = NULL;
	if (!v || !v->scheme)
		return fail(&c, "no verification scheme");
	for (size_t i = 0; i < nsecrets && !have_secret; i++)
		have_secret = secrets[i] && *secrets[i];
	if (!have_secret)
		return fail(&c, "no secret configured");
	for (size_t i = 0; i < FR_ARRAY_LEN(schemes); i++) {
		if (strcmp(schemes[i].name, v->scheme) == 0)
			return schemes[i].fn(&c);
	}
	return fail(&c, "unknown verification scheme");
}
