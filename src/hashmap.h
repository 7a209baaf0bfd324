/*
 * hashmap: a string-keyed table mapping each key to a size_t, typically an
 * index into an array its owner keeps (step ids, YAML anchors).
 *
 * Open addressing with linear probing, a power-of-two number of slots at most
 * half full: lookups stay O(1) for flows of many thousand steps and files of
 * many anchors, where a linear search was quadratic.  The map copies its
 * keys and frees them in fr_hashmap_finish / fr_hashmap_clear; values are the
 * caller's.  A zeroed struct is an empty map (FR_HASHMAP_INIT).
 */
#ifndef FR_HASHMAP_H
#define FR_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>

struct fr_hashmap_slot {
	char *key;		/* NULL: empty */
	size_t value;
};

struct fr_hashmap {
	struct fr_hashmap_slot *slots;
	size_t len, cap;
};

#define FR_HASHMAP_INIT { NULL, 0, 0 }

/* Sets key to value, replacing the value a key already had. */
void fr_hashmap_put(struct fr_hashmap *m, const char *key, size_t value);
/* Stores key's value in *value and returns true, or returns false. */
bool fr_hashmap_get(const struct fr_hashmap *m, const char *key, size_t *value);
/* Empties the map, keeping its slots for reuse. */
void fr_hashmap_clear(struct fr_hashmap *m);
void fr_hashmap_finish(struct fr_hashmap *m);

#endif
