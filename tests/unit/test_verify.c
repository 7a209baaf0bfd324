/*
 * verify: every scheme against signatures made here from the sender's own
 * definition (fr_hmac_sha256 and a base64 encoder of this file's own), plus
 * the examples published by GitHub, Slack and Standard Webhooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "model.h"
#include "tap.h"
#include "util.h"
#include "verify.h"

#define NOW ((time_t)1700000000)

/* ---- a request's headers ---- */

struct req {
	const char *name[8];
	char value[8][12000];
	size_t n;
};

static const char *lookup(void *data, const char *name)
{
	struct req *r = data;

	for (size_t i = 0; i < r->n; i++) {
		if (strcasecmp(r->name[i], name) == 0)
			return r->value[i];
	}
	return NULL;
}

/* Sets (or, with value NULL, removes) a header. */
static void set(struct req *r, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (strcasecmp(r->name[i], name) == 0)
			break;
	}
	if (!value) {
		if (i < r->n) {
			r->n--;
			r->name[i] = r->name[r->n];
			memcpy(r->value[i], r->value[r->n], sizeof(r->value[i]));
		}
		return;
	}
	if (i == r->n)
		r->n++;
	r->name[i] = name;
	snprintf(r->value[i], sizeof(r->value[i]), "%s", value);
}

static struct req req;

static int run(const struct fr_verify *v, const char *const *secrets,
	       size_t nsecrets, const char *body, time_t now, const char **why)
{
	struct fr_verify_input in = {
		.body = body, .len = strlen(body),
		.header = lookup, .header_data = &req, .now = now,
	};

	return fr_verify_check(v, secrets, nsecrets, &in, why);
}

#define PASS(v, secrets, body, now, name)                                    \
	do {                                                                 \
		const char *why_ = "unset";                                  \
		int rc_ = run(v, secrets, FR_ARRAY_LEN(secrets), body, now,  \
			      &why_);                                        \
		if (!ok(rc_ == 0 && why_ == NULL, "%s", name))               \
			printf("#   rc %d, why '%s'\n", rc_,                 \
			       why_ ? why_ : "(null)");                      \
	} while (0)

#define FAIL(v, secrets, body, now, want, name)                              \
	do {                                                                 \
		const char *why_ = NULL;                                     \
		int rc_ = run(v, secrets, FR_ARRAY_LEN(secrets), body, now,  \
			      &why_);                                        \
		is_int(rc_, -1, "%s: refused", name);                        \
		is_str(why_, want, "%s: why", name);                         \
	} while (0)

/* ---- references, independent of the code under test ---- */

/* RFC 4648 base64, six bits at a time. */
static void ref_b64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long acc = 0;
	size_t bits = 0, o = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8 | in[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	while (o % 4)
		out[o++] = '=';
	out[o] = '\0';
}

/* HMAC-SHA256 of data under key, in lower-case hex (65 bytes). */
static void hex_mac(const char *key, const char *data, char *out)
{
	unsigned char d[FR_SHA256_LEN];

	fr_hmac_sha256(key, strlen(key), data, strlen(data), d);
	fr_hex(d, sizeof(d), out);
}

/* HMAC-SHA256 of data under key bytes, in base64 (45 bytes). */
static void b64_mac(const void *key, size_t key_len, const char *data,
		    char *out)
{
	unsigned char d[FR_SHA256_LEN];

	fr_hmac_sha256(key, key_len, data, strlen(data), d);
	ref_b64(d, sizeof(d), out);
}

static void upcase(char *s)
{
	for (; *s; s++) {
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
	}
}

/* ---- base64 and consttime ---- */

static void test_base64(void)
{
	static const char *const rfc[][2] = {	/* RFC 4648, section 10 */
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = {
		"Zg=", "Zg=a", "Z===", "====", "Zh==", "Zm9=", "Zm9v\n",
		"Zm-v", "Zm_v", "=Zm9", "Zm==Zm9v", "Zm9vY", " Zm9", "Zm8 ",
		"Zm\0v",
	};
	unsigned char bytes[300], *out;
	size_t out_len;
	int good = 1;

	for (size_t i = 0; i < FR_ARRAY_LEN(rfc); i++) {
		char *e = fr_base64_encode((const unsigned char *)rfc[i][0],
					   strlen(rfc[i][0]));
		is_str(e, rfc[i][1], "encode '%s'", rfc[i][0]);
		free(e);
		is_int(fr_base64_decode(rfc[i][1], strlen(rfc[i][1]), &out,
					&out_len), 0, "decode '%s'", rfc[i][1]);
		ok(out && out_len == strlen(rfc[i][0]) &&
		   memcmp(out, rfc[i][0], out_len) == 0 && out[out_len] == 0,
		   "decode '%s' gives '%s'", rfc[i][1], rfc[i][0]);
		free(out);
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		size_t n = i == FR_ARRAY_LEN(bad) - 1 ? 4 : strlen(bad[i]);
		int rc = fr_base64_decode(bad[i], n, &out, &out_len);

		ok(rc == -1 && out == NULL, "decode refuses bad input #%zu", i);
		free(out);
	}

	/* Round trips of every byte value, every length mod 3. */
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 167 + 13);
	for (size_t n = 0; n <= sizeof(bytes); n++) {
		char want[420], *e = fr_base64_encode(bytes, n);

		ref_b64(bytes, n, want);
		if (!e || strcmp(e, want) != 0 ||
		    fr_base64_decode(e, strlen(e), &out, &out_len) != 0 ||
		    out_len != n || memcmp(out, bytes, n) != 0)
			good = 0;
		else
			free(out);
		free(e);
	}
	ok(good, "encode matches the reference and decodes back, lengths 0-300");
}

static void test_consttime(void)
{
	ok(fr_consttime_equal("abcd", "abcd", 4), "equal");
	ok(!fr_consttime_equal("abcd", "abce", 4), "last byte differs");
	ok(!fr_consttime_equal("xbcd", "abcd", 4), "first byte differs");
	ok(fr_consttime_equal("a", "b", 0), "zero length is equal");
}

/* ---- schemes ---- */

static void test_hmac_sha256(void)
{
	struct fr_verify v = { .scheme = "hmac-sha256", .header = "X-Sig",
			       .prefix = "sha256=" };
	const char *const one[] = { "s3cret" };
	const char *const wrong[] = { "s3cret!" };
	const char *const rotated[] = { "old-secret", "s3cret" };
	const char *const none[] = { "" };
	const char *body = "{\"id\":1}";
	char mac[65], hdr[12000], b64[45];
	unsigned char raw[FR_SHA256_LEN];

	req.n = 0;
	hex_mac("s3cret", body, mac);
	snprintf(hdr, sizeof(hdr), "sha256=%s", mac);
	set(&req, "X-Sig", hdr);
	PASS(&v, one, body, NOW, "hmac-sha256: valid");
	FAIL(&v, one, "{\"id\":2}", NOW, "signature mismatch",
	     "hmac-sha256: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch",
	     "hmac-sha256: wrong secret");
	PASS(&v, rotated, body, NOW, "hmac-sha256: rotation, second matches");
	FAIL(&v, none, body, NOW, "no secret configured",
	     "hmac-sha256: empty secret");
	PASS(&v, one, body, NOW + 86400 * 365,
	     "hmac-sha256: no timestamp, so no tolerance");

	upcase(hdr + 7);
	set(&req, "x-sig", hdr);
	PASS(&v, one, body, NOW, "hmac-sha256: upper-case hex");
	hdr[7 + 10] = (char)(hdr[7 + 10] == 'A' ? 'B' : 'A');
	set(&req, "x-sig", hdr);
	FAIL(&v, one, body, NOW, "signature mismatch",
	     "hmac-sha256: one hex digit changed");

	set(&req, "X-Sig", mac);
	FAIL(&v, one, body, NOW, "signature prefix missing",
	     "hmac-sha256: prefix missing");
	snprintf(hdr, sizeof(hdr), "sha256=%.63s", mac);
	set(&req, "X-Sig", hdr);
	FAIL(&v, one, body, NOW, "malformed signature",
	     "hmac-sha256: 63 hex digits");
	snprintf(hdr, sizeof(hdr), "sha256=%.63sg", mac);
	set(&req, "X-Sig", hdr);
	FAIL(&v, one, body, NOW, "malformed signature",
	     "hmac-sha256: not hex");
	snprintf(hdr, sizeof(hdr), "sha256=%s00", mac);
	set(&req, "X-Sig", hdr);
	FAIL(&v, one, body, NOW, "malformed signature",
	     "hmac-sha256: too long a digest");
	memset(hdr, 'a', 10000);
	hdr[10000] = '\0';
	set(&req, "X-Sig", hdr);
	FAIL(&v, one, body, NOW, "header value too long",
	     "hmac-sha256: absurd header");

	set(&req, "X-Sig", NULL);
	FAIL(&v, one, body, NOW, "no signature header",
	     "hmac-sha256: unsigned");

	/* base64, no prefix */
	v.prefix = NULL;
	v.encoding = "base64";
	fr_hmac_sha256("s3cret", 6, body, strlen(body), raw);
	ref_b64(raw, sizeof(raw), b64);
	set(&req, "X-Sig", b64);
	PASS(&v, one, body, NOW, "hmac-sha256 base64: valid");
	FAIL(&v, one, "{\"id\":2}", NOW, "signature mismatch",
	     "hmac-sha256 base64: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch",
	     "hmac-sha256 base64: wrong secret");
	PASS(&v, rotated, body, NOW, "hmac-sha256 base64: rotation");
	set(&req, "X-Sig", mac);
	FAIL(&v, one, body, NOW, "malformed signature",
	     "hmac-sha256 base64: hex sent instead");
	set(&req, "X-Sig", NULL);
	FAIL(&v, one, body, NOW, "no signature header",
	     "hmac-sha256 base64: unsigned");

	v.encoding = "hex";
	set(&req, "X-Sig", mac);
	PASS(&v, one, body, NOW, "hmac-sha256 hex, no prefix: valid");
	v.encoding = "rot13";
	FAIL(&v, one, body, NOW, "unknown signature encoding",
	     "hmac-sha256: unknown encoding");
}

static void test_github(void)
{
	struct fr_verify v = { .scheme = "github" };
	const char *const docs[] = { "It's a Secret to Everybody" };
	const char *const one[] = { "gh-secret" };
	const char *const wrong[] = { "gh-secreT" };
	const char *const rotated[] = { "gh-old", "gh-secret" };
	const char *body = "{\"action\":\"opened\"}";
	char mac[65], hdr[80];

	/* docs.github.com, "Validating webhook deliveries" */
	req.n = 0;
	set(&req, "X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
	PASS(&v, docs, "Hello, World!", NOW, "github: the documented example");
	FAIL(&v, docs, "Hello, World?", NOW, "signature mismatch",
	     "github: the documented example, tampered");

	hex_mac("gh-secret", body, mac);
	snprintf(hdr, sizeof(hdr), "sha256=%s", mac);
	set(&req, "x-hub-signature-256", hdr);
	PASS(&v, one, body, NOW, "github: valid");
	FAIL(&v, one, "{\"action\":\"closed\"}", NOW, "signature mismatch",
	     "github: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch", "github: wrong secret");
	PASS(&v, rotated, body, NOW, "github: rotation, second matches");
	set(&req, "X-Hub-Signature-256", mac);
	FAIL(&v, one, body, NOW, "signature prefix missing",
	     "github: without sha256=");
	set(&req, "X-Hub-Signature-256", NULL);
	snprintf(hdr, sizeof(hdr), "sha1=%s", mac);
	set(&req, "X-Hub-Signature", hdr);
	FAIL(&v, one, body, NOW, "no signature header",
	     "github: unsigned (only the SHA-1 header)");
}

static void test_stripe(void)
{
	struct fr_verify v = { .scheme = "stripe" };
	const char *const one[] = { "whsec_stripe1" };
	const char *const wrong[] = { "whsec_stripe2" };
	const char *const rotated[] = { "whsec_old", "whsec_stripe1" };
	const char *body = "{\"id\":\"evt_1\",\"object\":\"event\"}";
	char payload[200], mac[65], other[65], hdr[400];
	long long ts = (long long)NOW - 30;

	/* signed payload: TIMESTAMP "." BODY */
	snprintf(payload, sizeof(payload), "%lld.%s", ts, body);
	hex_mac("whsec_stripe1", payload, mac);
	hex_mac("whsec_old", payload, other);
	req.n = 0;
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s", ts, mac);
	set(&req, "Stripe-Signature", hdr);
	PASS(&v, one, body, NOW, "stripe: valid");
	FAIL(&v, one, "{\"id\":\"evt_2\",\"object\":\"event\"}", NOW,
	     "signature mismatch", "stripe: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch", "stripe: wrong secret");
	PASS(&v, rotated, body, NOW, "stripe: rotation, second matches");

	/* Stripe sends one v1 per active secret during its own rotation. */
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s,v1=%s,v0=%s", ts, other, mac,
		 other);
	set(&req, "Stripe-Signature", hdr);
	PASS(&v, one, body, NOW, "stripe: any v1 matching is accepted");
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=nothex,v1=%s", ts, mac);
	set(&req, "Stripe-Signature", hdr);
	PASS(&v, one, body, NOW, "stripe: a malformed v1 beside a good one");
	snprintf(hdr, sizeof(hdr), "t=%lld,v0=%s", ts, mac);
	set(&req, "Stripe-Signature", hdr);
	FAIL(&v, one, body, NOW, "no v1 signature", "stripe: only v0");
	snprintf(hdr, sizeof(hdr), "v1=%s", mac);
	set(&req, "Stripe-Signature", hdr);
	FAIL(&v, one, body, NOW, "no timestamp in signature header",
	     "stripe: no t");
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s", ts + 1, mac);
	set(&req, "Stripe-Signature", hdr);
	FAIL(&v, one, body, NOW, "signature mismatch",
	     "stripe: the timestamp is signed");
	snprintf(hdr, sizeof(hdr), "t=%lld,t=%lld,v1=%s", ts, ts, mac);
	set(&req, "Stripe-Signature", hdr);
	FAIL(&v, one, body, NOW, "malformed signature header",
	     "stripe: two timestamps");
	snprintf(hdr, sizeof(hdr), "t=-%lld,v1=%s", ts, mac);
	set(&req, "Stripe-Signature", hdr);
	FAIL(&v, one, body, NOW, "malformed timestamp",
	     "stripe: negative timestamp");

	/* Tolerance: 5 minutes by default, either way. */
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s", ts, mac);
	set(&req, "Stripe-Signature", hdr);
	PASS(&v, one, body, (time_t)ts + 300, "stripe: exactly 5 minutes old");
	FAIL(&v, one, body, (time_t)ts + 301, "stale timestamp",
	     "stripe: stale timestamp");
	FAIL(&v, one, body, (time_t)ts - 301, "stale timestamp",
	     "stripe: timestamp in the future");
	v.tolerance_ms = 10000;
	FAIL(&v, one, body, NOW, "stale timestamp",
	     "stripe: 30 s old with a 10 s tolerance");
	v.tolerance_ms = 3600 * 1000;
	PASS(&v, one, body, (time_t)ts + 3000, "stripe: custom tolerance");
	v.tolerance_ms = 0;

	set(&req, "Stripe-Signature", NULL);
	FAIL(&v, one, body, NOW, "no signature header", "stripe: unsigned");
}

static void test_slack(void)
{
	static const char docs_body[] =
		"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain="
		"testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id="
		"U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
		"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2"
		"JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
		"398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
	struct fr_verify v = { .scheme = "slack" };
	const char *const docs[] = { "8f742231b10e8888abcd99yyyzzz85a5" };
	const char *const one[] = { "slack-signing" };
	const char *const wrong[] = { "slack-signinG" };
	const char *const rotated[] = { "slack-old", "slack-signing" };
	const char *body = "{\"type\":\"event_callback\"}";
	char base[200], mac[65], hdr[80], ts[24];

	/* api.slack.com, "Verifying requests from Slack" */
	req.n = 0;
	set(&req, "X-Slack-Request-Timestamp", "1531420618");
	set(&req, "X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
	PASS(&v, docs, docs_body, 1531420618 + 60,
	     "slack: the documented example");
	FAIL(&v, docs, docs_body, NOW, "stale timestamp",
	     "slack: the documented example, years later");

	/* basestring: "v0:" TIMESTAMP ":" BODY */
	snprintf(ts, sizeof(ts), "%lld", (long long)NOW - 10);
	snprintf(base, sizeof(base), "v0:%s:%s", ts, body);
	hex_mac("slack-signing", base, mac);
	snprintf(hdr, sizeof(hdr), "v0=%s", mac);
	set(&req, "X-Slack-Request-Timestamp", ts);
	set(&req, "X-Slack-Signature", hdr);
	PASS(&v, one, body, NOW, "slack: valid");
	FAIL(&v, one, "{\"type\":\"url_verification\"}", NOW,
	     "signature mismatch", "slack: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch", "slack: wrong secret");
	PASS(&v, rotated, body, NOW, "slack: rotation, second matches");
	FAIL(&v, one, body, NOW + 300, "stale timestamp",
	     "slack: stale timestamp");
	FAIL(&v, one, body, NOW - 311, "stale timestamp",
	     "slack: timestamp in the future");
	set(&req, "X-Slack-Request-Timestamp", "1699999991");
	FAIL(&v, one, body, NOW, "signature mismatch",
	     "slack: the timestamp is signed");
	set(&req, "X-Slack-Request-Timestamp", "1699999990.5");
	FAIL(&v, one, body, NOW, "malformed timestamp",
	     "slack: fractional timestamp");
	set(&req, "X-Slack-Request-Timestamp", NULL);
	FAIL(&v, one, body, NOW, "no timestamp header",
	     "slack: no timestamp header");
	set(&req, "X-Slack-Request-Timestamp", ts);
	set(&req, "X-Slack-Signature", mac);
	FAIL(&v, one, body, NOW, "malformed signature", "slack: without v0=");
	set(&req, "X-Slack-Signature", NULL);
	FAIL(&v, one, body, NOW, "no signature header", "slack: unsigned");
}

static void test_standard_webhooks(void)
{
	static const unsigned char key1[] = "0123456789abcdef-key-one-bytes!";
	static const unsigned char key2[] = { 0, 1, 2, 3, 250, 251, 252, 253 };
	struct fr_verify v = { .scheme = "standard-webhooks" };
	const char *const docs[] = { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" };
	char s1[80], s2[80], content[200], sig1[45], sig2[45], hdr[200];
	char ts[24];
	const char *body = "{\"type\":\"invoice.paid\"}";
	const char *const raw[] = { "raw-secret" };
	const char *const badkey[] = { "whsec_not*base64" };

	/* The example of the Standard Webhooks specification. */
	req.n = 0;
	set(&req, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
	set(&req, "webhook-timestamp", "1614265330");
	set(&req, "webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	PASS(&v, docs, "{\"test\": 2432232314}", 1614265330,
	     "standard-webhooks: the specification's example");
	FAIL(&v, docs, "{\"test\": 2432232315}", 1614265330,
	     "signature mismatch",
	     "standard-webhooks: the specification's example, tampered");

	/* Secrets whsec_BASE64(key); content ID "." TIMESTAMP "." BODY. */
	strcpy(s1, "whsec_");
	ref_b64(key1, sizeof(key1) - 1, s1 + 6);
	strcpy(s2, "whsec_");
	ref_b64(key2, sizeof(key2), s2 + 6);
	const char *const one[] = { s1 };
	const char *const wrong[] = { s2 };
	const char *const rotated[] = { s2, s1 };

	snprintf(ts, sizeof(ts), "%lld", (long long)NOW - 5);
	snprintf(content, sizeof(content), "msg_1.%s.%s", ts, body);
	b64_mac(key1, sizeof(key1) - 1, content, sig1);
	b64_mac(key2, sizeof(key2), content, sig2);
	req.n = 0;
	set(&req, "Webhook-Id", "msg_1");
	set(&req, "Webhook-Timestamp", ts);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig1);
	set(&req, "Webhook-Signature", hdr);
	PASS(&v, one, body, NOW, "standard-webhooks: valid");
	FAIL(&v, one, "{\"type\":\"invoice.void\"}", NOW, "signature mismatch",
	     "standard-webhooks: tampered body");
	FAIL(&v, wrong, body, NOW, "signature mismatch",
	     "standard-webhooks: wrong secret");
	PASS(&v, rotated, body, NOW,
	     "standard-webhooks: rotation, second matches");
	FAIL(&v, one, body, NOW + 301, "stale timestamp",
	     "standard-webhooks: stale timestamp");
	FAIL(&v, one, body, NOW - 306, "stale timestamp",
	     "standard-webhooks: timestamp in the future");

	snprintf(hdr, sizeof(hdr), "v1,%s v1a,%s v1,%s", sig2, sig1, sig1);
	set(&req, "webhook-signature", hdr);
	PASS(&v, one, body, NOW,
	     "standard-webhooks: any v1 in the list matches");
	snprintf(hdr, sizeof(hdr), "v1a,%s v2,%s", sig1, sig1);
	set(&req, "webhook-signature", hdr);
	FAIL(&v, one, body, NOW, "no v1 signature",
	     "standard-webhooks: other versions only");
	snprintf(hdr, sizeof(hdr), "v1,%.43s", sig1);
	set(&req, "webhook-signature", hdr);
	FAIL(&v, one, body, NOW, "malformed signature",
	     "standard-webhooks: truncated base64");
	snprintf(hdr, sizeof(hdr), "v1,%s", sig1);
	set(&req, "webhook-signature", hdr);
	set(&req, "webhook-id", "msg_2");
	FAIL(&v, one, body, NOW, "signature mismatch",
	     "standard-webhooks: the id is signed");
	set(&req, "webhook-id", NULL);
	FAIL(&v, one, body, NOW, "no webhook-id header",
	     "standard-webhooks: no id");
	set(&req, "webhook-id", "msg_1");
	set(&req, "webhook-timestamp", NULL);
	FAIL(&v, one, body, NOW, "no timestamp header",
	     "standard-webhooks: no timestamp");
	set(&req, "webhook-timestamp", ts);
	FAIL(&v, badkey, body, NOW,
	     "signature mismatch (and a whsec_ secret is not valid base64)",
	     "standard-webhooks: whsec_ secret that is not base64");

	/* A secret without whsec_ is its own bytes. */
	b64_mac("raw-secret", 10, content, sig1);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig1);
	set(&req, "webhook-signature", hdr);
	PASS(&v, raw, body, NOW, "standard-webhooks: secret without whsec_");

	set(&req, "webhook-signature", NULL);
	FAIL(&v, one, body, NOW, "no signature header",
	     "standard-webhooks: unsigned");
}

static void test_token(void)
{
	struct fr_verify v = { .scheme = "token", .header = "X-Token" };
	const char *const one[] = { "tok-123456" };
	const char *const wrong[] = { "tok-123457" };
	const char *const rotated[] = { "tok-old", "tok-123456" };
	const char *const none[] = { NULL, "" };

	req.n = 0;
	set(&req, "x-token", "tok-123456");
	PASS(&v, one, "{}", NOW, "token: valid");
	PASS(&v, one, "{\"other\":1}", NOW,
	     "token: the body is not covered (by design)");
	FAIL(&v, wrong, "{}", NOW, "token mismatch", "token: wrong secret");
	PASS(&v, rotated, "{}", NOW, "token: rotation, second matches");
	FAIL(&v, none, "{}", NOW, "no secret configured", "token: no secret");
	set(&req, "x-token", "tok-1234567");
	FAIL(&v, one, "{}", NOW, "token mismatch", "token: a longer value");
	set(&req, "x-token", "tok-12345");
	FAIL(&v, one, "{}", NOW, "token mismatch", "token: a prefix of it");
	set(&req, "x-token", "");
	FAIL(&v, one, "{}", NOW, "token mismatch", "token: empty header");
	set(&req, "x-token", NULL);
	FAIL(&v, one, "{}", NOW, "no token header", "token: header missing");

	v.header = "Authorization";
	v.prefix = "Bearer ";
	set(&req, "authorization", "Bearer tok-123456");
	PASS(&v, one, "{}", NOW, "token: with prefix");
	set(&req, "authorization", "tok-123456");
	FAIL(&v, one, "{}", NOW, "token prefix missing",
	     "token: prefix missing");
}

static void test_misc(void)
{
	struct fr_verify v = { .scheme = "md5" };
	const char *const one[] = { "x" };

	req.n = 0;
	FAIL(&v, one, "{}", NOW, "unknown verification scheme",
	     "unknown scheme");
	v.scheme = NULL;
	FAIL(&v, one, "{}", NOW, "no verification scheme", "no scheme");
}

int main(void)
{
	test_base64();
	test_consttime();
	test_hmac_sha256();
	test_github();
	test_stripe();
	test_slack();
	test_standard_webhooks();
	test_token();
	test_misc();
	return done_testing();
}
