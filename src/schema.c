#include "schema.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void fr_schema_keys(struct fr_diag *d, const struct fr_ynode *map,
		    const char *const *known, const char *context)
{
	size_t nknown = 0;

	while (known[nknown])
		nknown++;
	for (size_t i = 0; i < fr_ymap_len(map); i++) {
		const struct fr_ynode *k = fr_ymap_key(map, i);
		char *hint;
		size_t j;

		for (j = 0; j < nknown; j++) {
			if (strcmp(k->value, known[j]) == 0)
				break;
		}
		if (j < nknown)
			continue;
		hint = fr_did_you_mean(k->value, known, nknown);
		fr_diag_hint(d, FR_ERROR, &k->loc, hint, "unknown key '%s' in %s",
			     k->value, context);
		free(hint);
	}
}

static bool wrong(struct fr_diag *d, const struct fr_ynode *n,
		  const char *what, const char *want)
{
	fr_diag_at(d, FR_ERROR, &n->loc, "%s must be %s, not %s", what, want,
		   fr_ynode_what(n));
	return false;
}

bool fr_schema_is_map(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what)
{
	return n->kind == FR_YMAP || wrong(d, n, what, "a mapping");
}

bool fr_schema_is_seq(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what)
{
	return n->kind == FR_YSEQ || wrong(d, n, what, "a list");
}

const char *fr_schema_string(struct fr_diag *d, const struct fr_ynode *n,
			     const char *what)
{
	if (n->kind != FR_YSCALAR || fr_ynode_is_null(n)) {
		wrong(d, n, what, "a string");
		return NULL;
	}
	return n->value;
}

bool fr_schema_bool(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what, bool *out)
{
	return fr_ynode_bool(n, out) || wrong(d, n, what, "true or false");
}

bool fr_schema_int(struct fr_diag *d, const struct fr_ynode *n,
		   const char *what, long long min, long long max, long long *out)
{
	if (!fr_ynode_int(n, out))
		return wrong(d, n, what, "a whole number");
	if (*out < min || *out > max) {
		fr_diag_at(d, FR_ERROR, &n->loc, "%s must be between %lld and %lld",
			   what, min, max);
		return false;
	}
	return true;
}

bool fr_schema_number(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what, double *out)
{
	return fr_ynode_number(n, out) || wrong(d, n, what, "a number");
}

bool fr_schema_duration(struct fr_diag *d, const struct fr_ynode *n,
			const char *what, int64_t *out_ms)
{
	if (n->kind != FR_YSCALAR)
		return wrong(d, n, what, "a duration");
	*out_ms = fr_parse_duration_ms(n->value);
	if (*out_ms < 0) {
		fr_diag_at(d, FR_ERROR, &n->loc,
			   "invalid duration '%s' for %s; write a whole number "
			   "and a unit: 250ms, 10s, 5m, 1h", n->value, what);
		return false;
	}
	return true;
}

bool fr_schema_size(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what, size_t *out)
{
	int64_t v = n->kind == FR_YSCALAR ? fr_parse_size(n->value) : -1;

	if (v >= 0 && v <= (int64_t)1 << 42) {
		*out = (size_t)v;
		return true;
	}
	fr_diag_at(d, FR_ERROR, &n->loc,
		   "invalid size for %s; write bytes or a unit: 512KiB, 1MiB",
		   what);
	return false;
}

bool fr_schema_name(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what)
{
	const char *s = n->value;

	if (n->kind != FR_YSCALAR)
		return wrong(d, n, what, "a name");
	if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) {
		if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n->len &&
		    n->len <= 64)
			return true;
	}
	fr_diag_at(d, FR_ERROR, &n->loc,
		   "invalid %s '%s'; use lower-case letters, digits, '_' and "
		   "'-', starting with a letter or digit", what, s);
	return false;
}

const struct fr_ynode *fr_schema_require(struct fr_diag *d,
					 const struct fr_ynode *map,
					 const char *key, const char *context)
{
	const struct fr_ynode *v = fr_ymap_get(map, key);

	if (!v)
		fr_diag_at(d, FR_ERROR, &map->loc, "missing '%s' in %s", key,
			   context);
	return v;
}
