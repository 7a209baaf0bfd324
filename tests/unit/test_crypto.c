/*
 * crypto: SHA-256 known answers (FIPS 180-2, appendix B), HMAC-SHA256 known
 * answers (RFC 4231, test cases 1-4, 6 and 7), the same digests fed in
 * pieces, constant-time comparison and wiping.
 */
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

int main(void)
{
	test_sha256();
	test_hmac();
	test_compare_and_wipe();
	return done_testing();
}
