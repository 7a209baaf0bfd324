#include "expr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

enum tmpl_kind { T_CONST, T_EXPR, T_STRING, T_ARRAY, T_OBJECT };

struct part {
	char *lit;		/* literal text before expr */
	struct fr_expr *expr;	/* NULL for the trailing literal */
};

struct fr_tmpl {
	enum tmpl_kind kind;
	struct fr_loc loc;
	json_t *value;			/* T_CONST */
	struct fr_expr *expr;		/* T_EXPR */
	struct part *parts;		/* T_STRING */
	size_t nparts;
	struct fr_tmpl **items;		/* T_ARRAY, T_OBJECT */
	char **keys;			/* T_OBJECT */
	size_t n;
};

static bool is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool known(const char **names, const bool *hidden, size_t n,
		  const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if ((!hidden || !hidden[i]) && strlen(names[i]) == len &&
		    memcmp(names[i], name, len) == 0)
			return true;
	}
	return false;
}

/* "did you mean" among the steps visible here (caller frees), or NULL. */
static char *suggest_step(const struct fr_scope *sc, const char *name)
{
	const char **ids = fr_xcalloc(sc->nstep_ids + 1, sizeof(*ids));
	size_t n = 0;
	char *hint;

	for (size_t i = 0; i < sc->nstep_ids; i++) {
		if (!sc->hidden || !sc->hidden[i])
			ids[n++] = sc->step_ids[i];
	}
	hint = fr_did_you_mean(name, ids, n);
	free(ids);
	return hint;
}

static char *suggest_config(const struct fr_integration *in, const char *name)
{
	const char **names = fr_xcalloc(in->nconfig + 1, sizeof(*names));
	char *hint;

	for (size_t i = 0; i < in->nconfig; i++)
		names[i] = in->config[i].name;
	hint = fr_did_you_mean(name, names, in->nconfig);
	free(names);
	return hint;
}

/*
 * Finds `.steps.NAME` and `.config.NAME` at the root of the context (not
 * `.foo.steps.x`) and warns when NAME is no earlier step or declared
 * variable.  A textual check: it sees through no variables, but catches the
 * typos that matter.
 */
static void check_refs(struct fr_scope *sc, const char *text,
		       const struct fr_loc *loc, bool over)
{
	static const char *const roots[] = { ".steps.", ".config." };

	for (size_t r = 0; r < FR_ARRAY_LEN(roots); r++) {
		const char *p = text;
		size_t rlen = strlen(roots[r]);
		while ((p = strstr(p, roots[r])) != NULL) {
			const char *name = p + rlen;
			size_t len = 0;
			bool ctx = p - text >= 4 && memcmp(p - 4, "$ctx", 4) == 0;
			/* over a value of its own, only $ctx is the context */
			bool root = ctx || (!over && (p == text || !is_ident(p[-1])));
			while (is_ident(name[len]))
				len++;
			p = name;
			if (!root || len == 0)
				continue;
			if (r == 0 && sc->check_steps &&
			    !known(sc->step_ids, sc->hidden, sc->nstep_ids, name,
				   len)) {
				char *s = fr_xstrndup(name, len);
				char *hint = suggest_step(sc, s);
				fr_diag_hint(sc->d, FR_WARNING, loc, hint,
					     "'.steps.%s' names no earlier step "
					     "of flow '%s'", s,
					     sc->flow ? sc->flow : "?");
				free(hint);
				free(s);
			}
			if (r == 1 && sc->in) {
				char *s = fr_xstrndup(name, len);
				if (!fr_integration_config(sc->in, s)) {
					char *hint = suggest_config(sc->in, s);
					fr_diag_hint(sc->d, FR_WARNING, loc, hint,
						     "'.config.%s' names no "
						     "declared config variable", s);
					free(hint);
				}
				free(s);
			}
		}
	}
}

static struct fr_expr *compile_text(struct fr_scope *sc, const char *text,
				    const struct fr_loc *loc, bool over)
{
	struct fr_expr *e = fr_xcalloc(1, sizeof(*e));

	e->loc = *loc;
	e->id = over ? fr_jqx_prog_add_over(sc->prog, text, loc, sc->vars, sc->nvars)
		     : fr_jqx_prog_add(sc->prog, text, loc, sc->vars, sc->nvars);
	e->text = fr_jqx_prog_text(sc->prog, e->id);
	check_refs(sc, text, loc, over);
	return e;
}

static const char *find_close(const char *p);

/* s with blanks cut at both ends, in place. */
static char *trim(char *s)
{
	size_t len;

	s += strspn(s, " \t\r\n");
	len = strlen(s);
	while (len && strchr(" \t\r\n", s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* Whether s is one ${{ }} and nothing else (blanks aside). */
static bool whole_template(const char *s)
{
	const char *close;

	s += strspn(s, " \t\r\n");
	if (strncmp(s, "${{", 3) != 0 || !(close = find_close(s + 3)))
		return false;
	close += 2;
	return close[strspn(close, " \t\r\n")] == '\0';
}

static struct fr_expr *compile_expr(struct fr_scope *sc,
				    const struct fr_ynode *n, bool over)
{
	if (n->kind != FR_YSCALAR) {
		fr_diag_at(sc->d, FR_ERROR, &n->loc,
			   "expected a jq program, found %s", fr_ynode_what(n));
		return NULL;
	}
	if (strspn(n->value, " \t\r\n") == n->len) {
		fr_diag_at(sc->d, FR_ERROR, &n->loc, "empty jq program");
		return NULL;
	}
	if (whole_template(n->value)) {
		const char *open = strstr(n->value, "${{") + 3;
		const char *close = find_close(open);
		char *inner = fr_xstrndup(open, (size_t)(close - open));
		char *hint = fr_xasprintf("write '%s'", trim(inner));
		fr_diag_hint(sc->d, FR_ERROR, &n->loc, hint,
			     "this field takes a bare jq program, not ${{ }}");
		free(hint);
		free(inner);
		return NULL;
	}
	return compile_text(sc, n->value, &n->loc, over);
}

struct fr_expr *fr_expr_compile(struct fr_scope *sc, const struct fr_ynode *n)
{
	return compile_expr(sc, n, false);
}

struct fr_expr *fr_expr_compile_over(struct fr_scope *sc,
				     const struct fr_ynode *n)
{
	return compile_expr(sc, n, true);
}

void fr_expr_destroy(struct fr_expr *e)
{
	free(e);
}

/*
 * Returns the end of the program that starts at p (just after "${{"): the
 * position of its closing "}}", skipping braces of jq objects and the
 * contents of jq strings.  NULL when unterminated.
 */
static const char *find_close(const char *p)
{
	int depth = 0;

	for (; *p; p++) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
			}
			if (!*p)
				return NULL;
		} else if (*p == '{') {
			depth++;
		} else if (*p == '}') {
			if (depth > 0)
				depth--;
			else if (p[1] == '}')
				return p;
		}
	}
	return NULL;
}

/* Where offset off of a one-line scalar is in the file (after a quote). */
static struct fr_loc loc_at(const struct fr_ynode *n, size_t off)
{
	struct fr_loc loc = n->loc;

	if (!memchr(n->value, '\n', n->len))
		loc.col += (unsigned)off + (n->plain ? 0 : 1);
	return loc;
}

static struct fr_tmpl *new_tmpl(enum tmpl_kind kind, const struct fr_loc *loc)
{
	struct fr_tmpl *t = fr_xcalloc(1, sizeof(*t));

	t->kind = kind;
	t->loc = *loc;
	return t;
}

static struct fr_tmpl *compile_string(struct fr_scope *sc,
				      const struct fr_ynode *n)
{
	const char *s = n->value, *open = strstr(s, "${{");
	struct fr_tmpl *t;
	bool bad = false;

	if (!open)
		return fr_tmpl_const(fr_ynode_to_json(n), &n->loc);
	t = new_tmpl(T_STRING, &n->loc);
	while (open) {
		const char *start = open + 3, *close = find_close(start);
		struct fr_loc loc = loc_at(n, (size_t)(open - n->value));
		struct part *pt;
		char *prog;

		if (!close) {
			fr_diag_at(sc->d, FR_ERROR, &loc,
				   "'${{' without a closing '}}'");
			fr_tmpl_destroy(t);
			return NULL;
		}
		t->parts = fr_xrealloc(t->parts, (t->nparts + 1) * sizeof(*t->parts));
		pt = &t->parts[t->nparts++];
		pt->lit = fr_xstrndup(s, (size_t)(open - s));
		prog = fr_xstrndup(start, (size_t)(close - start));
		if (strspn(prog, " \t\r\n") == strlen(prog)) {
			fr_diag_at(sc->d, FR_ERROR, &loc, "empty '${{ }}'");
			pt->expr = NULL;
			bad = true;
		} else {
			pt->expr = compile_text(sc, prog, &loc, false);
		}
		free(prog);
		s = close + 2;
		open = strstr(s, "${{");
	}
	t->parts = fr_xrealloc(t->parts, (t->nparts + 1) * sizeof(*t->parts));
	t->parts[t->nparts].lit = fr_xstrdup(s);
	t->parts[t->nparts].expr = NULL;
	t->nparts++;
	if (bad) {
		fr_tmpl_destroy(t);
		return NULL;
	}
	/* exactly "${{ p }}": the value itself, of any type */
	if (t->nparts == 2 && !*t->parts[0].lit && !*t->parts[1].lit) {
		struct fr_tmpl *e = new_tmpl(T_EXPR, &t->loc);
		e->expr = t->parts[0].expr;
		t->parts[0].expr = NULL;
		fr_tmpl_destroy(t);
		return e;
	}
	return t;
}

struct fr_tmpl *fr_tmpl_compile(struct fr_scope *sc, const struct fr_ynode *n)
{
	struct fr_tmpl *t;
	bool all_const = true, bad = false;

	if (n->kind == FR_YSCALAR)
		return compile_string(sc, n);
	t = new_tmpl(n->kind == FR_YMAP ? T_OBJECT : T_ARRAY, &n->loc);
	t->n = n->kind == FR_YMAP ? fr_ymap_len(n) : n->n;
	t->items = fr_xcalloc(t->n, sizeof(*t->items));
	if (n->kind == FR_YMAP)
		t->keys = fr_xcalloc(t->n, sizeof(*t->keys));
	for (size_t i = 0; i < t->n; i++) {
		const struct fr_ynode *v = n->kind == FR_YMAP ? fr_ymap_val(n, i)
							      : n->items[i];
		if (t->keys)
			t->keys[i] = fr_xstrdup(fr_ymap_key(n, i)->value);
		t->items[i] = fr_tmpl_compile(sc, v);
		if (!t->items[i])
			bad = true;
		else if (t->items[i]->kind != T_CONST)
			all_const = false;
	}
	if (bad) {
		fr_tmpl_destroy(t);
		return NULL;
	}
	if (all_const) {
		struct fr_tmpl *c = fr_tmpl_const(fr_ynode_to_json(n), &n->loc);
		fr_tmpl_destroy(t);
		return c;
	}
	return t;
}

struct fr_tmpl *fr_tmpl_const(json_t *j, const struct fr_loc *loc)
{
	struct fr_tmpl *t = new_tmpl(T_CONST, loc);

	t->value = j;
	return t;
}

void fr_tmpl_destroy(struct fr_tmpl *t)
{
	if (!t)
		return;
	json_decref(t->value);
	fr_expr_destroy(t->expr);
	for (size_t i = 0; i < t->nparts; i++) {
		free(t->parts[i].lit);
		fr_expr_destroy(t->parts[i].expr);
	}
	free(t->parts);
	for (size_t i = 0; i < t->n; i++) {
		fr_tmpl_destroy(t->items[i]);
		if (t->keys)
			free(t->keys[i]);
	}
	free(t->items);
	free(t->keys);
	free(t);
}

const json_t *fr_tmpl_value(const struct fr_tmpl *t)
{
	return t->kind == T_CONST ? t->value : NULL;
}

const struct fr_loc *fr_tmpl_loc(const struct fr_tmpl *t)
{
	return &t->loc;
}

const char **fr_tmpl_object_keys(const struct fr_tmpl *t, size_t *n)
{
	const char **keys, *key;
	json_t *val;

	*n = 0;
	if (t->kind == T_OBJECT) {
		keys = fr_xcalloc(t->n + 1, sizeof(*keys));
		for (size_t i = 0; i < t->n; i++)
			keys[(*n)++] = t->keys[i];
		return keys;
	}
	if (t->kind != T_CONST || !json_is_object(t->value))
		return NULL;
	keys = fr_xcalloc(json_object_size(t->value) + 1, sizeof(*keys));
	json_object_foreach(t->value, key, val)
		keys[(*n)++] = key;
	return keys;
}

bool fr_tmpl_may_be_object(const struct fr_tmpl *t)
{
	return t->kind == T_OBJECT || t->kind == T_EXPR ||
	       (t->kind == T_CONST && json_is_object(t->value));
}

static int eval(const struct fr_expr *e, struct fr_jqx *jx, jv ctx, jv vars,
		jv *out, char **err)
{
	return fr_jqx_eval(jx, e->id, jv_copy(ctx), jv_copy(vars), out, err);
}

int fr_tmpl_render(const struct fr_tmpl *t, struct fr_jqx *jx, jv ctx,
		   jv vars, json_t **out, char **err)
{
	json_t *acc;
	jv v;

	*out = NULL;
	*err = NULL;
	switch (t->kind) {
	case T_CONST:
		/* a copy: the template is shared by threads, and jansson's
		 * json_incref reads the count without an atomic load */
		if (t->value && !(*out = json_deep_copy(t->value))) {
			*err = fr_xstrdup("out of memory");
			return -1;
		}
		return 0;
	case T_EXPR:
		if (eval(t->expr, jx, ctx, vars, &v, err) < 0)
			return -1;
		*out = fr_jv_to_json(v);
		if (!*out) {
			*err = fr_xstrdup(FR_JSON_TOO_DEEP);
			return -1;
		}
		return 0;
	case T_STRING: {
		char *text;
		if (fr_tmpl_render_text(t, jx, ctx, vars, NULL, &text, err) < 0)
			return -1;
		*out = json_string(text);
		free(text);
		if (!*out) {
			*err = fr_xstrdup("template produced invalid UTF-8");
			return -1;
		}
		return 0;
	}
	default:
		acc = t->kind == T_OBJECT ? json_object() : json_array();
		for (size_t i = 0; i < t->n; i++) {
			json_t *item;
			if (fr_tmpl_render(t->items[i], jx, ctx, vars, &item, err) < 0) {
				json_decref(acc);
				return -1;
			}
			if (t->keys)
				json_object_set_new(acc, t->keys[i], item);
			else
				json_array_append_new(acc, item);
		}
		*out = acc;
		return 0;
	}
}

/* Appends v as text, and frees it; -1 when it is nested too deep. */
static int append_value(struct fr_buf *b, jv v,
			char *(*escape)(const char *s, size_t len))
{
	char *text, *esc;
	size_t len;

	if (fr_jv_too_deep(v)) {
		fr_jv_free_deep(v);
		return -1;
	}
	if (jv_get_kind(v) == JV_KIND_STRING) {
		text = fr_xstrdup(jv_string_value(v));
		len = (size_t)jv_string_length_bytes(jv_copy(v));
	} else {
		text = fr_jv_dump(v);
		len = strlen(text);
	}
	if (escape) {
		esc = escape(text, len);
		fr_buf_puts(b, esc);
		free(esc);
	} else {
		fr_buf_add(b, text, len);
	}
	free(text);
	jv_free(v);
	return 0;
}

int fr_tmpl_render_text(const struct fr_tmpl *t, struct fr_jqx *jx, jv ctx,
			jv vars, char *(*escape)(const char *s, size_t len),
			char **out, char **err)
{
	struct fr_buf b;
	json_t *j;
	jv v;

	*out = NULL;
	*err = NULL;
	fr_buf_init(&b);
	if (t->kind == T_STRING) {
		for (size_t i = 0; i < t->nparts; i++) {
			fr_buf_puts(&b, t->parts[i].lit);
			if (!t->parts[i].expr)
				continue;
			if (eval(t->parts[i].expr, jx, ctx, vars, &v, err) < 0) {
				fr_buf_finish(&b);
				return -1;
			}
			if (append_value(&b, v, escape) < 0)
				goto deep;
		}
	} else if (t->kind == T_EXPR) {
		if (eval(t->expr, jx, ctx, vars, &v, err) < 0)
			return -1;
		if (append_value(&b, v, escape) < 0)
			goto deep;
	} else {
		if (fr_tmpl_render(t, jx, ctx, vars, &j, err) < 0)
			return -1;
		if (json_is_string(j)) {
			fr_buf_add(&b, json_string_value(j), json_string_length(j));
		} else {
			char *s = fr_json_dump(j);
			fr_buf_puts(&b, s);
			free(s);
		}
		json_decref(j);
	}
	*out = fr_buf_steal(&b);
	return 0;
deep:
	fr_buf_finish(&b);
	*err = fr_xstrdup(FR_JSON_TOO_DEEP);
	return -1;
}

void fr_tmpl_foreach_expr(const struct fr_tmpl *t,
			  void (*fn)(const struct fr_expr *e, void *data),
			  void *data)
{
	if (!t)
		return;
	if (t->expr)
		fn(t->expr, data);
	for (size_t i = 0; i < t->nparts; i++) {
		if (t->parts[i].expr)
			fn(t->parts[i].expr, data);
	}
	for (size_t i = 0; i < t->n; i++)
		fr_tmpl_foreach_expr(t->items[i], fn, data);
}
