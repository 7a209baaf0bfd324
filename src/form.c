/*
 * form: JSON objects as application/x-www-form-urlencoded bodies, nested
 * values in the bracket form (see form.h).
 */
#include "form.h"

#include <string.h>

#include "http.h"
#include "json.h"

struct form {
	struct fr_buf *out;
	struct fr_buf name;	/* the name being built: a, a[b], a[b][0] */
	bool any;		/* a pair was written */
};

static void put_pair(struct form *f, const char *value, size_t len)
{
	char *en = fr_http_urlencode(f->name.data, f->name.len);
	char *ev = fr_http_urlencode(value, len);

	if (f->any)
		fr_buf_putc(f->out, '&');
	fr_buf_puts(f->out, en);
	fr_buf_putc(f->out, '=');
	fr_buf_puts(f->out, ev);
	f->any = true;
	free(en);
	free(ev);
}

/* Cuts the name back to its first len bytes. */
static void name_cut(struct form *f, size_t len)
{
	f->name.len = len;
	f->name.data[len] = '\0';
}

/* The pairs of v under the name built so far. */
static void encode(struct form *f, const json_t *v)
{
	size_t mark = f->name.len, n = 0;
	const char *key;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_NULL:
		return;
	case JSON_STRING:
		put_pair(f, json_string_value(v), json_string_length(v));
		return;
	case JSON_OBJECT:
		if (json_object_size(v) == 0) {
			put_pair(f, "", 0);
			return;
		}
		json_object_foreach((json_t *)v, key, x) {
			fr_buf_printf(&f->name, "[%s]", key);
			encode(f, x);
			name_cut(f, mark);
		}
		return;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			put_pair(f, "", 0);
			return;
		}
		for (size_t i = 0; i < json_array_size(v); i++) {
			x = json_array_get(v, i);
			if (json_is_null(x))
				continue;
			fr_buf_printf(&f->name, "[%zu]", n++);
			encode(f, x);
			name_cut(f, mark);
		}
		return;
	default: {
		char *text = fr_json_dump(v);
		put_pair(f, text, strlen(text));
		free(text);
		return;
	}
	}
}

void fr_form_encode(struct fr_buf *b, const json_t *obj)
{
	struct form f = { .out = b };
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return;
	fr_buf_init(&f.name);
	json_object_foreach((json_t *)obj, key, v) {
		fr_buf_puts(&f.name, key);
		encode(&f, v);
		name_cut(&f, 0);
	}
	fr_buf_finish(&f.name);
}
