#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static size_t hash(const char *s)
{
	size_t h = 2166136261u;		/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct fr_hashmap_slot *slot_of(struct fr_hashmap_slot *slots,
				       size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);

	while (slots[i].key && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

void fr_hashmap_put(struct fr_hashmap *m, const char *key, size_t value)
{
	struct fr_hashmap_slot *s;

	if (2 * (m->len + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct fr_hashmap_slot *slots = fr_xcalloc(cap, sizeof(*slots));
		for (size_t i = 0; i < m->cap; i++) {
			if (m->slots[i].key)
				*slot_of(slots, cap, m->slots[i].key) = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
	}
	s = slot_of(m->slots, m->cap, key);
	if (!s->key) {
		s->key = fr_xstrdup(key);
		m->len++;
	}
	s->value = value;
}

bool fr_hashmap_get(const struct fr_hashmap *m, const char *key, size_t *value)
{
	const struct fr_hashmap_slot *s;

	if (!m->cap)
		return false;
	s = slot_of(m->slots, m->cap, key);
	if (!s->key)
		return false;
	*value = s->value;
	return true;
}

void fr_hashmap_clear(struct fr_hashmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i].key = NULL;
	}
	m->len = 0;
}

void fr_hashmap_finish(struct fr_hashmap *m)
{
	fr_hashmap_clear(m);
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
}
