#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

jv fr_json_to_jv(const json_t *j)
{
	const char *key;
	json_t *val;
	size_t i;
	jv out;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		out = jv_object();
		json_object_foreach((json_t *)j, key, val) {
			size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
			out = jv_object_set(out, jv_string_sized(key, (int)klen),
					    fr_json_to_jv(val));
		}
		return out;
	case JSON_ARRAY:
		out = jv_array_sized((int)json_array_size(j));
		json_array_foreach(j, i, val)
			out = jv_array_append(out, fr_json_to_jv(val));
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
}

json_t *fr_jv_to_json(jv v)
{
	json_t *out;
	double d;
	int n;

	switch (jv_get_kind(v)) {
	case JV_KIND_OBJECT:
		out = json_object();
		/* jq strings are valid UTF-8: skip jansson's checks */
		jv_object_foreach(v, k, val) {
			json_object_setn_new_nocheck(out, jv_string_value(k),
				(size_t)jv_string_length_bytes(jv_copy(k)),
				fr_jv_to_json(val));
			jv_free(k);
		}
		break;
	case JV_KIND_ARRAY:
		out = json_array();
		n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++)
			json_array_append_new(out,
					      fr_jv_to_json(jv_array_get(jv_copy(v), i)));
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
