/* sha256: FIPS 180-4 and RFC 4231 test vectors */
#include <string.h>

#include "sha256.h"
#include "tap.h"

static const char *hex_of(const unsigned char *d)
{
	static char buf[2 * FR_SHA256_LEN + 1];
	fr_hex(d, FR_SHA256_LEN, buf);
	return buf;
}

int main(void)
{
	unsigned char d[FR_SHA256_LEN], key[131];
	char million[1000];
	struct fr_sha256 c;

	fr_sha256("", 0, d);
	is_str(hex_of(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	fr_sha256("abc", 3, d);
	is_str(hex_of(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
	fr_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	is_str(hex_of(d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks");
	memset(million, 'a', sizeof(million));
	fr_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		fr_sha256_update(&c, million, sizeof(million));
	fr_sha256_final(&c, d);
	is_str(hex_of(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a's, in pieces");

	/* RFC 4231 case 1 */
	memset(key, 0x0b, 20);
	fr_hmac_sha256(key, 20, "Hi There", 8, d);
	is_str(hex_of(d), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "hmac case 1");
	/* case 2 */
	fr_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	is_str(hex_of(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "hmac case 2");
	/* case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	fr_hmac_sha256(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54, d);
	is_str(hex_of(d), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "hmac long key");
	return done_testing();
}
