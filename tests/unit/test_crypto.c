/*
 * crypto: SHA-256 known answers (FIPS 180-2, appendix B), HMAC-SHA256 known
 * answers (RFC 4231, test cases 1-4, 6 and 7), the same digests fed in
 * pieces, constant-time comparison and wiping; random bytes; base64url
 * (RFC 4648 section 10, RFC 7636 appendix B); AES-256-GCM known answers
 * (the GCM specification's test cases 13 and 14) and its refusals; keys
 * written as text.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"

static const char *hex_of(const unsigned char *d)
{
	static char buf[2 * FR_SHA256_LEN + 1];
	fr_hex(d, FR_SHA256_LEN, buf);
	return buf;
}

/* RFC 4231 keys and data are given in hex. */
static size_t unhex(const char *h, unsigned char *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned v = 0;
		for (int i = 0; i < 2; i++) {
			char c = h[i];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[n++] = (unsigned char)v;
	}
	return n;
}

static void test_sha256(void)
{
	unsigned char d[FR_SHA256_LEN];
	char million[1000];
	struct fr_sha256 c;

	fr_sha256("", 0, d);
	is_str(hex_of(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	fr_sha256(NULL, 0, d);
	is_str(hex_of(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty, NULL");
	fr_sha256("abc", 3, d);
	is_str(hex_of(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc (B.1)");
	fr_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	is_str(hex_of(d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks (B.2)");
	memset(million, 'a', sizeof(million));
	fr_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		fr_sha256_update(&c, million, sizeof(million));
	fr_sha256_final(&c, d);
	is_str(hex_of(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a's, in pieces (B.3)");
	ok(c.ctx == NULL, "final releases the context");

	/* pieces of every size give the one-shot digest */
	fr_sha256_init(&c);
	fr_sha256_update(&c, "abcdbcde", 8);
	fr_sha256_update(&c, "", 0);
	fr_sha256_update(&c, "cdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 48);
	fr_sha256_final(&c, d);
	is_str(hex_of(d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks, in pieces");
}

static void test_hmac(void)
{
	static const struct {
		const char *name, *key, *data, *mac;
	} cases[] = {	/* case 5 is left out: its output is truncated */
		{ "case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		  "4869205468657265",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "case 2 (short key)", "4a656665",
		  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ "case 3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "dddddddddddddddddddddddddddddddddddddddddddddddddd"
		  "dddddddddddddddddddddddddddddddddddddddddddddddddd",
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
		{ "case 4", "0102030405060708090a0b0c0d0e0f10111213141516171819",
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	};
	unsigned char key[200], data[200], d[FR_SHA256_LEN];
	const char *text6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	const char *text7 = "This is a test using a larger than block-size key and a "
			    "larger than block-size data. The key needs to be hashed "
			    "before being used by the HMAC algorithm.";
	struct fr_hmac h;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t kn = unhex(cases[i].key, key), dn = unhex(cases[i].data, data);
		fr_hmac_sha256(key, kn, data, dn, d);
		is_str(hex_of(d), cases[i].mac, "hmac %s", cases[i].name);
		/* the same in pieces, a byte at a time */
		fr_hmac_init(&h, key, kn);
		for (size_t j = 0; j < dn; j++)
			fr_hmac_update(&h, data + j, 1);
		fr_hmac_final(&h, d);
		is_str(hex_of(d), cases[i].mac, "hmac %s, a byte at a time", cases[i].name);
	}
	/* case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	fr_hmac_sha256(key, 131, text6, strlen(text6), d);
	is_str(hex_of(d), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "hmac case 6 (long key)");
	/* case 7: long key and long data, in three pieces */
	fr_hmac_init(&h, key, 131);
	fr_hmac_update(&h, text7, 10);
	fr_hmac_update(&h, text7 + 10, 0);
	fr_hmac_update(&h, text7 + 10, strlen(text7) - 10);
	fr_hmac_final(&h, d);
	is_str(hex_of(d), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", "hmac case 7, in pieces");
	ok(h.ctx == NULL, "final releases the context");
	/* an empty key is a key (not "the previous one") */
	fr_hmac_sha256("", 0, "", 0, d);
	is_str(hex_of(d), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", "hmac, empty key and data");
}

static void test_compare_and_wipe(void)
{
	unsigned char k[32];

	ok(fr_consttime_equal("abcd", "abcd", 4), "equal");
	ok(!fr_consttime_equal("abcd", "abce", 4), "last byte differs");
	ok(!fr_consttime_equal("xbcd", "abcd", 4), "first byte differs");
	ok(!fr_consttime_equal("abcd", "abcD", 4), "a single bit differs");
	ok(fr_consttime_equal("a", "b", 0), "zero length is equal");
	memset(k, 0x5a, sizeof(k));
	fr_crypto_wipe(k, sizeof(k));
	{
		unsigned char zero[32] = { 0 };
		ok(memcmp(k, zero, sizeof(k)) == 0, "wiped to zeros");
	}
	fr_crypto_wipe(NULL, 0);
	ok(1, "wiping nothing is allowed");
	fr_hex((const unsigned char *)"\x00\x0f\xf0\xff", 4, (char *)k);
	is_str((char *)k, "000ff0ff", "hex");
}

static void test_random(void)
{
	unsigned char a[32], b[32], zero[32] = { 0 }, *big;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	fr_random_bytes(a, sizeof(a));
	fr_random_bytes(b, sizeof(b));
	ok(memcmp(a, zero, sizeof(a)) != 0, "random bytes are not all zero");
	ok(memcmp(a, b, sizeof(a)) != 0, "two draws differ");
	fr_random_bytes(NULL, 0);
	ok(1, "zero bytes is allowed");
	big = calloc(1, 1 << 20);
	fr_random_bytes(big, 1 << 20);
	ok(memcmp(big + (1 << 20) - 32, zero, 32) != 0, "a MiB is filled to its end");
	free(big);
}

static void test_base64url(void)
{
	static const struct { const char *in, *out; } rfc4648[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	unsigned char d[FR_SHA256_LEN];
	char *s;

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		s = fr_base64url(rfc4648[i].in, strlen(rfc4648[i].in));
		is_str(s, rfc4648[i].out, "base64url of '%s', no padding",
		       rfc4648[i].in);
		free(s);
	}
	s = fr_base64url("\xfb\xff\xfe", 3);
	is_str(s, "-__-", "the URL alphabet: - and _ for + and /");
	free(s);
	/* RFC 7636 appendix B: the S256 challenge of its example verifier */
	fr_sha256(verifier, strlen(verifier), d);
	s = fr_base64url(d, sizeof(d));
	is_str(s, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
	       "PKCE S256 challenge (RFC 7636 appendix B)");
	free(s);
}

static void test_aead_known(void)
{
	unsigned char key[FR_AEAD_KEY_LEN] = { 0 }, msg[FR_AEAD_OVERHEAD + 16];
	unsigned char out[16];
	char hex[33];

	/* test case 13: zero key and nonce, nothing to encrypt */
	memset(msg, 0, sizeof(msg));
	unhex("530f8afbc74536b9a963b4f1c4cb738b", msg + FR_AEAD_NONCE_LEN);
	ok(fr_aead_open(key, NULL, 0, msg, FR_AEAD_OVERHEAD, out) == 0,
	   "GCM test case 13 opens (empty message, tag only)");
	/* test case 14: 16 zero bytes */
	unhex("cea7403d4d606b6e074ec5d3baf39d18", msg + FR_AEAD_NONCE_LEN);
	unhex("d0d1c8a799996bf0265b98b5d48ab919", msg + FR_AEAD_NONCE_LEN + 16);
	memset(out, 0xaa, sizeof(out));
	ok(fr_aead_open(key, NULL, 0, msg, sizeof(msg), out) == 0,
	   "GCM test case 14 opens");
	fr_hex(out, 16, hex);
	is_str(hex, "00000000000000000000000000000000",
	       "GCM test case 14 gives its plaintext");
	msg[sizeof(msg) - 1] ^= 1;
	ok(fr_aead_open(key, NULL, 0, msg, sizeof(msg), out) == -1,
	   "GCM test case 14 with its tag changed is refused");
}

static void test_aead(void)
{
	static const char text[] = "an access token, say";
	const char *ad = "integration/instance/connection";
	size_t len = sizeof(text) - 1, slen = len + FR_AEAD_OVERHEAD;
	unsigned char key[FR_AEAD_KEY_LEN], other[FR_AEAD_KEY_LEN];
	unsigned char sealed[64], again[64], copy[64], out[64], zero[64] = { 0 };

	fr_random_bytes(key, sizeof(key));
	memcpy(other, key, sizeof(key));
	other[31] ^= 0x80;
	fr_aead_seal(key, ad, strlen(ad), text, len, sealed);
	{
		bool found = false;
		for (size_t i = 0; i + 6 <= slen; i++)
			found = found || memcmp(sealed + i, "access", 6) == 0;
		ok(!found, "the sealed text does not hold the plain text");
	}
	memset(out, 0xaa, sizeof(out));
	ok(fr_aead_open(key, ad, strlen(ad), sealed, slen, out) == 0,
	   "what was sealed opens");
	ok(memcmp(out, text, len) == 0, "and gives the text back");
	fr_aead_seal(key, ad, strlen(ad), text, len, again);
	ok(memcmp(sealed, again, FR_AEAD_NONCE_LEN) != 0,
	   "each seal takes a fresh nonce");
	ok(memcmp(sealed + FR_AEAD_NONCE_LEN, again + FR_AEAD_NONCE_LEN,
		  len) != 0, "so the same text seals differently");

	memset(out, 0xaa, sizeof(out));
	ok(fr_aead_open(other, ad, strlen(ad), sealed, slen, out) == -1,
	   "a wrong key is refused");
	ok(memcmp(out, zero, len) == 0, "and leaves nothing in out");
	ok(fr_aead_open(key, "other/place", 11, sealed, slen, out) == -1,
	   "other associated data is refused");
	ok(fr_aead_open(key, NULL, 0, sealed, slen, out) == -1,
	   "no associated data, when there was some, is refused");
	{
		bool all = true;
		for (size_t i = 0; i < slen; i++) {
			memcpy(copy, sealed, slen);
			copy[i] ^= (unsigned char)(1u << (i % 8));
			all = all && fr_aead_open(key, ad, strlen(ad), copy, slen,
						  out) == -1;
		}
		ok(all, "a bit changed anywhere (nonce, text, tag) is refused");
	}
	ok(fr_aead_open(key, ad, strlen(ad), sealed, slen - 1, out) == -1,
	   "a message cut short is refused");
	ok(fr_aead_open(key, ad, strlen(ad), sealed, FR_AEAD_OVERHEAD - 1,
			out) == -1, "a message shorter than nonce and tag is refused");

	fr_aead_seal(key, NULL, 0, "", 0, sealed);
	ok(fr_aead_open(key, NULL, 0, sealed, FR_AEAD_OVERHEAD, out) == 0,
	   "an empty text seals and opens");
}

static void test_key_parse(void)
{
	unsigned char key[FR_AEAD_KEY_LEN], want[FR_AEAD_KEY_LEN];
	char hex[2 * FR_AEAD_KEY_LEN + 1], text[100];
	char *b64;

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (unsigned char)(i * 37 + 251);
	fr_hex(want, sizeof(want), hex);
	ok(fr_crypto_key_parse(hex, key) == 0 &&
	   memcmp(key, want, sizeof(key)) == 0, "64 hex digits");
	for (char *p = hex; *p; p++) {
		if (*p >= 'a')
			*p = (char)(*p - 'a' + 'A');
	}
	snprintf(text, sizeof(text), "  %s\n", hex);
	ok(fr_crypto_key_parse(text, key) == 0 &&
	   memcmp(key, want, sizeof(key)) == 0,
	   "upper-case hex, blanks and a newline around it");
	ok(fr_crypto_key_parse(hex + 2, key) == -1, "62 hex digits are refused");
	hex[10] = 'g';
	ok(fr_crypto_key_parse(hex, key) == -1, "a non-hex digit is refused");

	b64 = fr_base64url(want, sizeof(want));
	ok(fr_crypto_key_parse(b64, key) == 0 &&
	   memcmp(key, want, sizeof(key)) == 0, "base64url, no padding");
	snprintf(text, sizeof(text), "%s=", b64);
	for (char *p = text; *p; p++) {
		if (*p == '-')
			*p = '+';
		else if (*p == '_')
			*p = '/';
	}
	ok(fr_crypto_key_parse(text, key) == 0 &&
	   memcmp(key, want, sizeof(key)) == 0, "standard base64 with '='");
	text[42] = text[42] == 'A' ? 'B' : 'A';
	ok(fr_crypto_key_parse(text, key) != 0 ||
	   memcmp(key, want, sizeof(key)) != 0, "a changed digit changes the key");
	free(b64);
	b64 = fr_base64url(want, 31);
	ok(fr_crypto_key_parse(b64, key) == -1, "the base64 of 31 bytes is refused");
	free(b64);
	/* the last digit of 32 bytes carries 2 unused bits: they must be 0 */
	b64 = fr_base64url(want, sizeof(want));
	b64[42] = b64[42] == 'A' ? 'B' : b64[42] + 1;
	ok(fr_crypto_key_parse(b64, key) == -1,
	   "base64 with unused bits set is refused");
	free(b64);
	ok(fr_crypto_key_parse("", key) == -1, "nothing is refused");
	ok(fr_crypto_key_parse("not a key at all", key) == -1,
	   "words are refused");
}

int main(void)
{
	test_sha256();
	test_hmac();
	test_compare_and_wipe();
	test_random();
	test_base64url();
	test_aead_known();
	test_aead();
	test_key_parse();
	return done_testing();
}
