/* hashmap: put, get, replace, growth past many keys, clear and reuse */
#include <stdio.h>
#include <stdlib.h>

#include "hashmap.h"
#include "tap.h"
#include "util.h"

int main(void)
{
	struct fr_hashmap m = FR_HASHMAP_INIT;
	size_t v = 99, wrong = 0;
	char key[32];

	ok(!fr_hashmap_get(&m, "a", &v), "an empty map has no key");
	is_int(v, 99, "a miss leaves the value alone");
	fr_hashmap_put(&m, "a", 1);
	fr_hashmap_put(&m, "b", 2);
	ok(fr_hashmap_get(&m, "a", &v) && v == 1, "a is 1");
	ok(fr_hashmap_get(&m, "b", &v) && v == 2, "b is 2");
	fr_hashmap_put(&m, "a", 7);
	ok(fr_hashmap_get(&m, "a", &v) && v == 7, "a later put replaces");
	is_int(m.len, 2, "a replaced key is counted once");
	ok(!fr_hashmap_get(&m, "", &v), "the empty string is not a key yet");
	fr_hashmap_put(&m, "", 3);
	ok(fr_hashmap_get(&m, "", &v) && v == 3, "the empty string can be a key");

	for (size_t i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "step_%zu", i);
		fr_hashmap_put(&m, key, i);
	}
	for (size_t i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "step_%zu", i);
		if (!fr_hashmap_get(&m, key, &v) || v != i)
			wrong++;
	}
	is_int(wrong, 0, "10000 keys survive growth");
	ok(2 * m.len <= m.cap, "at most half full (%zu of %zu)", m.len, m.cap);
	ok(!fr_hashmap_get(&m, "step_10000", &v), "a key never put is absent");

	fr_hashmap_clear(&m);
	is_int(m.len, 0, "clear empties");
	ok(!fr_hashmap_get(&m, "step_5", &v), "cleared keys are gone");
	fr_hashmap_put(&m, "step_5", 5);
	ok(fr_hashmap_get(&m, "step_5", &v) && v == 5, "a cleared map is reused");
	fr_hashmap_finish(&m);
	ok(!m.slots && !m.cap, "finish frees");
	fr_hashmap_finish(&m);
	ok(1, "finish twice is harmless");
	return done_testing();
}
