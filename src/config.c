#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "flow.h"
#include "util.h"

int fr_setting_parse(struct fr_setting *out, char *arg)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return -1;
	*eq = '\0';
	out->key = arg;
	out->value = eq + 1;
	return 0;
}

int fr_config_check_sets(const struct fr_integration *const *ins, size_t nins,
			 const struct fr_setting *sets, size_t nsets,
			 struct fr_diag *d)
{
	const char **names = NULL;
	size_t nnames = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < nins; i++) {
		for (size_t j = 0; j < ins[i]->nconfig; j++) {
			fr_grow(&names, &cap, nnames + 1, sizeof(*names));
			names[nnames++] = ins[i]->config[j].name;
		}
	}
	for (size_t k = 0; k < nsets; k++) {
		bool known = false;
		char *hint;
		for (size_t i = 0; i < nins && !known; i++)
			known = fr_integration_config(ins[i], sets[k].key) != NULL;
		if (known)
			continue;
		hint = fr_did_you_mean(sets[k].key, names, nnames);
		if (nins == 1)
			fr_diag_hint(d, FR_ERROR, NULL, hint, "--set %s: integration "
				     "'%s' has no config variable '%s'",
				     sets[k].key, ins[0]->name, sets[k].key);
		else
			fr_diag_hint(d, FR_ERROR, NULL, hint, "--set %s: no "
				     "integration declares config variable '%s'",
				     sets[k].key, sets[k].key);
		free(hint);
		rc = -1;
	}
	free(names);
	return rc;
}

const char *fr_type_name(enum fr_type t)
{
	static const char *const names[] = { "any", "string", "number",
					     "boolean", "object", "array" };
	return names[t];
}

bool fr_type_ok(enum fr_type t, const json_t *v)
{
	switch (t) {
	case FR_TYPE_STRING:
		return json_is_string(v);
	case FR_TYPE_NUMBER:
		return json_is_number(v);
	case FR_TYPE_BOOLEAN:
		return json_is_boolean(v);
	case FR_TYPE_OBJECT:
		return json_is_object(v);
	case FR_TYPE_ARRAY:
		return json_is_array(v);
	default:
		return true;
	}
}

const char *fr_json_kind(const json_t *v)
{
	return json_is_string(v)    ? "a string"
	       : json_is_number(v)  ? "a number"
	       : json_is_boolean(v) ? "a boolean"
	       : json_is_object(v)  ? "an object"
	       : json_is_array(v)   ? "an array"
				    : "null";
}

/*
 * Text from the environment or the command line, as a value: a string for
 * `type: string`, else its JSON value when it is JSON, else the string.
 * NULL when the text is not UTF-8.
 */
static json_t *from_text(enum fr_type t, const char *text)
{
	json_t *v;

	if (t == FR_TYPE_STRING)
		return json_string(text);
	v = json_loads(text, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(text);
}

int fr_config_resolve(json_t **out, const struct fr_integration *in,
		      const struct fr_instance *inst,
		      const struct fr_setting *sets, size_t nsets,
		      struct fr_redact *r, struct fr_diag *d)
{
	return fr_config_resolve_used(out, in, inst, sets, nsets, NULL, r, d);
}

struct marker {
	const struct fr_integration *in;
	bool *used;
};

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* The textual rule of the reference warnings (expr.c): .config at the root. */
static void mark_text(struct marker *m, const char *text)
{
	for (const char *p = text; (p = strstr(p, ".config")) != NULL; p += 7) {
		const char *name = p + 7;
		size_t len = 0;
		if (p != text && ident_char(p[-1]) &&
		    !(p - text >= 4 && memcmp(p - 4, "$ctx", 4) == 0))
			continue;	/* .foo.config: not the context's */
		if (ident_char(*name))
			continue;	/* .configs */
		if (*name == '.')
			while (ident_char(name[1 + len]))
				len++;
		for (size_t i = 0; i < m->in->nconfig; i++) {
			const char *cn = m->in->config[i].name;
			if (!len || (strlen(cn) == len &&
				     memcmp(cn, name + 1, len) == 0))
				m->used[i] = true;
		}
	}
}

static void mark_expr(const struct fr_expr *e, void *data)
{
	if (e && e->text)
		mark_text(data, e->text);
}

static void mark_tmpl(struct marker *m, const struct fr_tmpl *t)
{
	if (t)
		fr_tmpl_foreach_expr(t, mark_expr, m);
}

static void mark_step(const struct fr_step *s, void *data)
{
	struct marker *m = data;

	mark_expr(s->cond, m);
	mark_expr(s->expr, m);
	mark_expr(s->over, m);
	for (size_t i = 0; i < s->ncases; i++)
		mark_expr(s->cases[i].when, m);
	mark_tmpl(m, s->with);
	mark_tmpl(m, s->value);
	if (s->conn)
		mark_tmpl(m, s->conn->with);
}

void fr_config_mark_used(const struct fr_integration *in,
			 const struct fr_flow *f, bool *used)
{
	struct marker m = { in, used };

	fr_steps_walk(&f->steps, mark_step, &m);
}

/* Files that hold a value are small: a token, a key, a JSON document. */
#define MAX_VALUE_FILE (1024 * 1024)

/*
 * The text of the file at path, one trailing newline (\n or \r\n) stripped;
 * NULL after reporting why, naming the variable and the file (never what
 * the file holds).  how says where the path came from.
 */
static char *read_value_file(const struct fr_config_var *cv, const char *path,
			     const char *how, struct fr_diag *d)
{
	char *text, *err;
	size_t len;

	if (fr_read_file(&text, &len, path, MAX_VALUE_FILE, &err) < 0) {
		fr_diag_at(d, FR_ERROR, &cv->loc, "config value '%s': cannot read "
			   "'%s' (%s): %s", cv->name, path, how, err);
		free(err);
		return NULL;
	}
	if (strlen(text) != len) {
		fr_diag_at(d, FR_ERROR, &cv->loc, "config value '%s': '%s' (%s) "
			   "holds a NUL byte; it must be text", cv->name, path, how);
		free(text);
		return NULL;
	}
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	if (len && text[len - 1] == '\r')
		text[--len] = '\0';
	return text;
}

/* Replaces *v with text as a value of cv; -1 after reporting non-UTF-8. */
static int set_text(json_t **v, const struct fr_config_var *cv,
		    const char *text, const char *source, struct fr_diag *d)
{
	json_decref(*v);
	*v = from_text(cv->type, text);
	if (*v)
		return 0;
	fr_diag_at(d, FR_ERROR, &cv->loc, "config value '%s' from %s is not "
		   "UTF-8 text", cv->name, source);
	return -1;
}

/* Like set_text, with the text of a file; -1 after reporting. */
static int set_file(json_t **v, const struct fr_config_var *cv,
		    const char *path, const char *source, struct fr_diag *d)
{
	char *text = read_value_file(cv, path, source, d);
	int rc = text ? set_text(v, cv, text, source, d) : -1;

	free(text);
	return rc;
}

/*
 * The value from cv's `env: NAME`, or from the file NAME_FILE names when
 * NAME is unset (both set is an error).  1 when it supplied *v, 0 when
 * neither is set, -1 after reporting.
 */
static int env_value(json_t **v, const char **source, char **owned,
		     const struct fr_config_var *cv, struct fr_diag *d)
{
	const char *env, *file;
	char *name;

	if (!cv->env)
		return 0;
	env = getenv(cv->env);
	name = fr_xasprintf("%s_FILE", cv->env);
	file = getenv(name);
	if (env && file) {
		fr_diag_at(d, FR_ERROR, &cv->loc, "config value '%s': both %s and "
			   "%s are set; set only one", cv->name, cv->env, name);
		free(name);
		return -1;
	}
	if (env) {
		free(name);
		*source = "the environment";
		return set_text(v, cv, env, *source, d) < 0 ? -1 : 1;
	}
	if (!file) {
		free(name);
		return 0;
	}
	*owned = fr_xasprintf("the file named by %s", name);
	*source = *owned;
	free(name);
	return set_file(v, cv, file, *source, d) < 0 ? -1 : 1;
}

/*
 * The value of the last --set for cv: the text, or with "@PATH" the text of
 * that file ("@@x" is the text "@x").  1 when it supplied *v, 0 when no
 * --set names cv, -1 after reporting.
 */
static int set_value(json_t **v, const char **source,
		     const struct fr_config_var *cv,
		     const struct fr_setting *sets, size_t nsets,
		     struct fr_diag *d)
{
	const char *val = NULL;

	for (size_t s = 0; s < nsets; s++) {
		if (strcmp(sets[s].key, cv->name) == 0)
			val = sets[s].value;
	}
	if (!val)
		return 0;
	*source = "--set";
	if (val[0] == '@' && !val[1]) {
		fr_diag_at(d, FR_ERROR, &cv->loc, "--set %s=@ names no file; "
			   "write --set %s=@PATH, or @@ for a literal '@'",
			   cv->name, cv->name);
		return -1;
	}
	if (val[0] == '@' && val[1] != '@')
		return set_file(v, cv, val + 1, "--set", d) < 0 ? -1 : 1;
	return set_text(v, cv, val + (val[0] == '@'), "--set", d) < 0 ? -1 : 1;
}

/*
 * Replaces *v (the default or the instance file's value, iv says which) by
 * what the environment or --set supplies, else by the text of the declared
 * `file:` when no instance value was given and the value is needed.
 * -1 after reporting.
 */
static int later_value(json_t **v, const char **source, char **owned,
		       const struct fr_config_var *cv, bool iv, bool needed,
		       const struct fr_setting *sets, size_t nsets,
		       struct fr_diag *d)
{
	int from_env = env_value(v, source, owned, cv, d), from_set;

	if (from_env < 0)
		return -1;
	from_set = set_value(v, source, cv, sets, nsets, d);
	if (from_set < 0)
		return -1;
	if (from_env || from_set || iv || !cv->file || !needed)
		return 0;
	*source = "its 'file'";
	return set_file(v, cv, cv->file, "its 'file'", d);
}

int fr_config_resolve_used(json_t **out, const struct fr_integration *in,
			   const struct fr_instance *inst,
			   const struct fr_setting *sets, size_t nsets,
			   const bool *used, struct fr_redact *r,
			   struct fr_diag *d)
{
	json_t *cfg = json_object();
	const char *iname = inst ? inst->name : "default";
	char *owned = NULL;	/* what source points to, when not static */
	int bad = 0;

	*out = NULL;
	for (size_t i = 0; i < in->nconfig; i++) {
		const struct fr_config_var *cv = &in->config[i];
		json_t *v = cv->def ? json_incref(cv->def) : NULL;
		const char *source = "its default";
		const json_t *iv = inst && inst->config
					   ? json_object_get(inst->config, cv->name)
					   : NULL;

		free(owned);
		owned = NULL;
		if (iv) {
			json_decref(v);
			v = json_incref((json_t *)iv);
			source = "the instance file";
		}
		if (later_value(&v, &source, &owned, cv, iv != NULL,
				!used || used[i], sets, nsets, d) < 0) {
			json_decref(v);
			bad = -1;
			continue;
		}
		if (v && json_is_null(v) && cv->required) {
			json_decref(v);
			v = NULL;
		}
		if (!v && cv->required && (!used || used[i])) {
			struct fr_buf how;
			fr_buf_init(&how);
			if (cv->env)
				fr_buf_printf(&how, "set the environment variable "
					      "%s (or %s_FILE), ", cv->env, cv->env);
			fr_buf_printf(&how, "pass --set %s=VALUE, or add it under "
				      "'config:' in instances/%s.yaml", cv->name,
				      iname);
			fr_diag_at(d, FR_ERROR, &cv->loc,
				   "missing %sconfig value '%s' for integration "
				   "'%s', instance '%s'; %s",
				   cv->secret ? "secret " : "", cv->name, in->name,
				   iname, fr_buf_cstr(&how));
			fr_buf_finish(&how);
			bad = -1;
			continue;
		}
		if (!v)
			continue;
		if (!fr_type_ok(cv->type, v)) {
			fr_diag_at(d, FR_ERROR, &cv->loc,
				   "config value '%s' from %s must be %s, not %s",
				   cv->name, source, fr_type_name(cv->type),
				   fr_json_kind(v));
			bad = -1;
		}
		if (cv->secret)
			fr_redact_add_json(r, v);
		json_object_set_new(cfg, cv->name, v);
	}
	free(owned);
	if (bad) {
		json_decref(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}
