#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static jv json_to_jv(const json_t *j, int depth)
{
	const char *key;
	json_t *val;
	size_t i;
	jv out, item;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (depth >= FR_JSON_MAX_DEPTH)
			goto deep;
		out = jv_object();
		json_object_foreach((json_t *)j, key, val) {
			size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
			item = json_to_jv(val, depth + 1);
			if (!jv_is_valid(item)) {
				jv_free(out);
				return item;
			}
			out = jv_object_set(out, jv_string_sized(key, (int)klen), item);
		}
		return out;
	case JSON_ARRAY:
		if (depth >= FR_JSON_MAX_DEPTH)
			goto deep;
		out = jv_array_sized((int)json_array_size(j));
		json_array_foreach(j, i, val) {
			item = json_to_jv(val, depth + 1);
			if (!jv_is_valid(item)) {
				jv_free(out);
				return item;
			}
			out = jv_array_append(out, item);
		}
		return out;
	case JSON_STRING:
		return jv_string_sized(json_string_value(j),
				       (int)json_string_length(j));
	case JSON_INTEGER:
		return jv_number((double)json_integer_value(j));
	case JSON_REAL:
		return jv_number(json_real_value(j));
	case JSON_TRUE:
		return jv_true();
	case JSON_FALSE:
		return jv_false();
	default:
		return jv_null();
	}
deep:
	return jv_invalid_with_msg(jv_string(FR_JSON_TOO_DEEP));
}

jv fr_json_to_jv(const json_t *j)
{
	return json_to_jv(j, 0);
}

/* Consumes v; NULL when nested deeper than FR_JSON_MAX_DEPTH - depth. */
static json_t *jv_to_json(jv v, int depth)
{
	json_t *out, *item;
	double d;
	int n;

	switch (jv_get_kind(v)) {
	case JV_KIND_OBJECT:
		if (depth >= FR_JSON_MAX_DEPTH)
			goto deep;
		out = json_object();
		/* jq strings are valid UTF-8: skip jansson's checks */
		jv_object_foreach(v, k, val) {
			item = jv_to_json(val, depth + 1);
			if (item)
				json_object_setn_new_nocheck(out, jv_string_value(k),
					(size_t)jv_string_length_bytes(jv_copy(k)),
					item);
			jv_free(k);
			if (!item) {
				json_decref(out);
				goto deep;
			}
		}
		break;
	case JV_KIND_ARRAY:
		if (depth >= FR_JSON_MAX_DEPTH)
			goto deep;
		out = json_array();
		n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++) {
			item = jv_to_json(jv_array_get(jv_copy(v), i), depth + 1);
			if (!item) {
				json_decref(out);
				goto deep;
			}
			json_array_append_new(out, item);
		}
		break;
	case JV_KIND_STRING:
		out = json_stringn_nocheck(jv_string_value(v),
				(size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_NUMBER:
		d = jv_number_value(v);
		if (!isfinite(d))
			out = json_null();
		else if (d == floor(d) && fabs(d) <= 9007199254740992.0)
			out = json_integer((json_int_t)d);
		else
			out = json_real(d);
		break;
	case JV_KIND_TRUE:
		out = json_true();
		break;
	case JV_KIND_FALSE:
		out = json_false();
		break;
	default:
		out = json_null();
		break;
	}
	jv_free(v);
	return out;
deep:
	/* the caller's reference keeps the rest alive; the root frees it */
	if (depth == 0)
		fr_jv_free_deep(v);
	else
		jv_free(v);
	return NULL;
}

json_t *fr_jv_to_json(jv v)
{
	return jv_to_json(v, 0);
}

static bool is_container(jv v)
{
	jv_kind k = jv_get_kind(v);

	return k == JV_KIND_ARRAY || k == JV_KIND_OBJECT;
}

/* v is a container; scalars are never descended into (the hot path). */
static bool deeper(jv v, int left)
{
	bool r = false;

	if (left == 0)
		return true;
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n && !r; i++) {
			jv item = jv_array_get(jv_copy(v), i);
			r = is_container(item) && deeper(item, left - 1);
			jv_free(item);
		}
		return r;
	}
	for (int it = jv_object_iter(v); !r && jv_object_iter_valid(v, it);
	     it = jv_object_iter_next(v, it)) {
		jv val = jv_object_iter_value(v, it);
		r = is_container(val) && deeper(val, left - 1);
		jv_free(val);
	}
	return r;
}

bool fr_jv_too_deep(jv v)
{
	return is_container(v) && deeper(v, FR_JSON_MAX_DEPTH);
}

void fr_jv_free_deep(jv v)
{
	jv *stack = NULL;
	size_t n = 0, cap = 0;

	fr_grow(&stack, &cap, 1, sizeof(*stack));
	stack[n++] = v;
	while (n) {
		jv top = stack[--n];
		jv_kind k = jv_get_kind(top);

		/* the last reference to a container: hold its items, then
		 * free it alone (its items are not freed through it) */
		if ((k == JV_KIND_ARRAY || k == JV_KIND_OBJECT) &&
		    jv_get_refcnt(top) == 1) {
			if (k == JV_KIND_ARRAY) {
				int len = jv_array_length(jv_copy(top));
				fr_grow(&stack, &cap, n + (size_t)len, sizeof(*stack));
				for (int i = 0; i < len; i++)
					stack[n++] = jv_array_get(jv_copy(top), i);
			} else {
				jv_object_foreach(top, key, val) {
					jv_free(key);
					fr_grow(&stack, &cap, n + 1, sizeof(*stack));
					stack[n++] = val;
				}
			}
		}
		jv_free(top);
	}
	free(stack);
}

json_t *fr_ynode_to_json(const struct fr_ynode *n)
{
	json_t *out;
	long long i;
	double d;
	bool b;

	switch (n->kind) {
	case FR_YMAP:
		out = json_object();
		for (size_t k = 0; k < fr_ymap_len(n); k++)
			json_object_set_new(out, fr_ymap_key(n, k)->value,
					    fr_ynode_to_json(fr_ymap_val(n, k)));
		return out;
	case FR_YSEQ:
		out = json_array();
		for (size_t k = 0; k < n->n; k++)
			json_array_append_new(out, fr_ynode_to_json(n->items[k]));
		return out;
	default:
		if (fr_ynode_is_null(n))
			return json_null();
		if (fr_ynode_bool(n, &b))
			return json_boolean(b);
		if (fr_ynode_int(n, &i))
			return json_integer(i);
		if (fr_ynode_number(n, &d))
			return json_real(d);
		out = json_stringn(n->value, n->len);
		return out ? out : json_string("");
	}
}

char *fr_json_dump(const json_t *j)
{
	char *s;

	if (!j)
		return fr_xstrdup("null");
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		abort();
	return s;
}

char *fr_jv_dump(jv v)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	char *out = fr_xstrdup(jv_string_value(s));

	jv_free(s);
	return out;
}
