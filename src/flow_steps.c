/*
 * flow_steps: the steps of a flow file: each step kind's keys, ids and
 * what may refer to them, on_error and retries; and freeing and walking
 * parsed steps.  The rest of the file (flows, triggers, config,
 * connections) is flow.c; flow_load.h is what the two share.
 */
#include "flow_load.h"

#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "hashmap.h"
#include "json.h"
#include "schema.h"
#include "util.h"

/* The index of id among the flow's ids, or -1. */
static long find_id(const struct loader *l, const char *id)
{
	size_t i;

	return fr_hashmap_get(&l->id_index, id, &i) ? (long)i : -1;
}

static const char *const step_kinds[] = { "action", "transform", "branch",
					  "loop", "log", "set", "respond",
					  "fail", "stop", "update", NULL };

const char *fr_step_kind_name(enum fr_step_kind kind)
{
	return step_kinds[kind];
}

bool fr_load_ident_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return true;
}

/* The words of jq 1.6 that cannot follow a $ (its lexer's keywords). */
static bool jq_keyword(const char *s)
{
	static const char *const words[] = {
		"__loc__", "and", "as", "break", "catch", "def", "elif", "else",
		"end", "foreach", "if", "import", "include", "label", "module",
		"or", "reduce", "then", "try",
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(words); i++) {
		if (strcmp(s, words[i]) == 0)
			return true;
	}
	return false;
}

void fr_load_retry(struct loader *l, const struct fr_ynode *n,
		   struct fr_retry *r, const char *what)
{
	static const char *const keys[] = { "attempts", "delay", "backoff",
					    "max_delay", NULL };
	const struct fr_ynode *v;
	long long attempts;

	r->attempts = 3;
	r->delay_ms = 1000;
	r->backoff = 2.0;
	r->max_delay_ms = 60000;
	if (!fr_schema_is_map(l->d, n, what))
		return;
	fr_schema_keys(l->d, n, keys, what);
	if ((v = fr_ymap_get(n, "attempts")) &&
	    fr_schema_int(l->d, v, "'attempts'", 1, 100, &attempts))
		r->attempts = (int)attempts;
	if ((v = fr_ymap_get(n, "delay")))
		fr_schema_duration(l->d, v, "'delay'", &r->delay_ms);
	if ((v = fr_ymap_get(n, "backoff")) &&
	    fr_schema_number(l->d, v, "'backoff'", &r->backoff) &&
	    (r->backoff < 1.0 || r->backoff > 10.0)) {
		fr_diag_at(l->d, FR_ERROR, &v->loc,
			   "'backoff' must be between 1.0 and 10.0");
		r->backoff = 2.0;
	}
	if ((v = fr_ymap_get(n, "max_delay")))
		fr_schema_duration(l->d, v, "'max_delay'", &r->max_delay_ms);
}

static void parse_on_error(struct loader *l, const struct fr_ynode *n,
			   struct fr_step *s)
{
	static const char *const keys[] = { "retry", "then", NULL };
	const struct fr_ynode *v;

	if (n->kind == FR_YSCALAR) {
		if (strcmp(n->value, "fail") == 0)
			s->on_error = FR_ON_ERROR_FAIL;
		else if (strcmp(n->value, "ignore") == 0)
			s->on_error = FR_ON_ERROR_IGNORE;
		else
			fr_diag_at(l->d, FR_ERROR, &n->loc,
				   "invalid on_error '%s'; expected fail, ignore "
				   "or {retry: ..., then: ...}", n->value);
		return;
	}
	if (!fr_schema_is_map(l->d, n, "'on_error'"))
		return;
	fr_schema_keys(l->d, n, keys, "on_error");
	if ((v = fr_schema_require(l->d, n, "retry", "on_error")))
		fr_load_retry(l, v, &s->retry, "'retry'");
	if ((v = fr_ymap_get(n, "then"))) {
		if (v->kind == FR_YSCALAR && strcmp(v->value, "ignore") == 0)
			s->on_error = FR_ON_ERROR_IGNORE;
		else if (!(v->kind == FR_YSCALAR && strcmp(v->value, "fail") == 0))
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'then' must be fail or ignore");
	}
}

struct fr_expr *fr_load_expr(struct loader *l, const struct fr_ynode *n)
{
	return fr_expr_compile(&l->sc, n);
}

struct fr_tmpl *fr_load_tmpl(struct loader *l, const struct fr_ynode *n)
{
	return fr_tmpl_compile(&l->sc, n);
}

static void add_id(struct loader *l, struct fr_step *s, const struct fr_ynode *n)
{
	long dup = find_id(l, s->id);

	if (dup >= 0) {
		fr_diag_at(l->d, FR_ERROR, &n->loc,
			   "duplicate step id '%s' (first at line %u)", s->id,
			   l->id_steps[dup]->loc.line);
		return;
	}
	fr_grow(&l->ids, &l->ids_cap, l->nids + 1, sizeof(*l->ids));
	l->id_steps = fr_xrealloc(l->id_steps, l->ids_cap * sizeof(*l->id_steps));
	l->hidden = fr_xrealloc(l->hidden, l->ids_cap * sizeof(*l->hidden));
	l->ids[l->nids] = s->id;
	l->id_steps[l->nids] = s;
	l->hidden[l->nids] = false;
	l->nids++;
	fr_hashmap_put(&l->id_index, s->id, l->nids - 1);
	l->sc.nstep_ids = l->nids;
	l->sc.step_ids = l->ids;
	l->sc.hidden = l->hidden;
}

static void parse_branch(struct loader *l, const struct fr_ynode *n,
			 const struct fr_ynode *els, struct fr_step *s)
{
	static const char *const keys[] = { "name", "when", "steps", NULL };

	if (!fr_schema_is_seq(l->d, n, "'branch'"))
		return;
	if (n->n == 0)
		fr_diag_at(l->d, FR_ERROR, &n->loc, "'branch' has no cases");
	s->cases = fr_xcalloc(n->n, sizeof(*s->cases));
	s->ncases = n->n;
	for (size_t i = 0; i < n->n; i++) {
		const struct fr_ynode *c = n->items[i], *v;
		struct fr_case *out = &s->cases[i];
		out->loc = c->loc;
		if (!fr_schema_is_map(l->d, c, "a branch case"))
			continue;
		fr_schema_keys(l->d, c, keys, "branch case");
		if ((v = fr_schema_require(l->d, c, "name", "branch case")) &&
		    fr_schema_string(l->d, v, "'name'")) {
			out->name = fr_xstrdup(v->value);
			if (strcmp(v->value, "else") == 0)
				fr_diag_at(l->d, FR_ERROR, &v->loc,
					   "'else' is the name of the else "
					   "case; choose another");
			for (size_t j = 0; j < i; j++) {
				if (s->cases[j].name &&
				    strcmp(s->cases[j].name, v->value) == 0)
					fr_diag_at(l->d, FR_ERROR, &v->loc,
						   "duplicate case name '%s'",
						   v->value);
			}
		}
		if ((v = fr_schema_require(l->d, c, "when", "branch case")))
			out->when = fr_load_expr(l, v);
		if ((v = fr_schema_require(l->d, c, "steps", "branch case")))
			fr_load_steps(l, v, &out->steps, "'steps'");
	}
	if (els) {
		s->has_else = true;
		fr_load_steps(l, els, &s->else_steps, "'else'");
	}
}

static void parse_loop(struct loader *l, const struct fr_ynode *n,
		       const struct fr_ynode *body, struct fr_step *s,
		       const struct fr_ynode *step_node)
{
	static const char *const keys[] = { "over", "as", "concurrency", "max",
					    NULL };
	const struct fr_ynode *v;
	long long x;
	size_t saved = l->sc.nvars;

	s->as = fr_xstrdup("item");
	s->concurrency = 1;
	if (!fr_schema_is_map(l->d, n, "'loop'"))
		return;
	fr_schema_keys(l->d, n, keys, "loop");
	if ((v = fr_schema_require(l->d, n, "over", "loop")))
		s->over = fr_load_expr(l, v);
	if ((v = fr_ymap_get(n, "as")) && fr_schema_string(l->d, v, "'as'")) {
		if (!fr_load_ident_ok(v->value) || strcmp(v->value, "ctx") == 0 ||
		    strcmp(v->value, "index") == 0 ||
		    strncmp(v->value, "__", 2) == 0)
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "invalid loop variable '%s'; use a jq "
				   "identifier other than ctx and index, not "
				   "starting with __", v->value);
		else if (jq_keyword(v->value))
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "invalid loop variable '%s': it is a jq "
				   "keyword, and $%s does not parse; choose "
				   "another name", v->value, v->value);
		else {
			free(s->as);
			s->as = fr_xstrdup(v->value);
		}
	}
	if ((v = fr_ymap_get(n, "concurrency")) &&
	    fr_schema_int(l->d, v, "'concurrency'", 1, 64, &x))
		s->concurrency = (int)x;
	if ((v = fr_ymap_get(n, "max")) &&
	    fr_schema_int(l->d, v, "'max'", 0, 1000000, &x))
		s->max = (int)x;
	if (!body) {
		fr_diag_at(l->d, FR_ERROR, &step_node->loc,
			   "missing 'steps' in loop step");
		return;
	}
	if (l->sc.nvars + 2 > MAX_LOOP_VARS) {
		fr_diag_at(l->d, FR_ERROR, &n->loc, "loops nested too deeply");
		return;
	}
	size_t first_id = l->nids;
	l->vars[l->sc.nvars++] = s->as;
	l->vars[l->sc.nvars++] = "index";
	fr_load_steps(l, body, &s->body, "'steps'");
	l->sc.nvars = saved;
	/* the body's outputs live only within an iteration */
	for (size_t i = first_id; i < l->nids; i++)
		l->hidden[i] = true;
}

/* What the built-in http.request takes (action.c, flowrun-connector(5)). */
static const char *const http_request_keys[] = {
	"method", "url", "headers", "query", "body", "expect", "timeout", NULL
};

static bool has_connection(const struct fr_integration *in, const char *name)
{
	for (size_t i = 0; in && i < in->nconnections; i++) {
		if (strcmp(in->connections[i].name, name) == 0)
			return true;
	}
	return false;
}

static void parse_action(struct loader *l, const struct fr_ynode *v,
			 const struct fr_ynode *with, struct fr_step *s)
{
	if (!fr_schema_string(l->d, v, "'action'"))
		return;
	s->action_loc = v->loc;
	if (!strchr(v->value, '.'))
		fr_diag_at(l->d, FR_ERROR, &v->loc,
			   "action '%s' must be CONNECTION.ACTION", v->value);
	s->action_name = fr_xstrdup(v->value);
	if (with && with->kind == FR_YMAP && strcmp(v->value, "http.request") == 0 &&
	    !has_connection(l->sc.in, "http"))
		fr_schema_keys(l->d, with, http_request_keys, "http.request's 'with'");
	if (with) {
		s->with = fr_load_tmpl(l, with);
		if (s->with && !fr_tmpl_may_be_object(s->with)) {
			fr_diag_at(l->d, FR_ERROR, &with->loc,
				   "'with' must be a mapping or one ${{ }} "
				   "yielding an object");
		}
	}
}

static void parse_kind(struct loader *l, struct fr_step *s,
		       const struct fr_ynode *n, const struct fr_ynode *v)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	const struct fr_ynode *x;

	switch (s->kind) {
	case FR_STEP_ACTION:
		parse_action(l, v, fr_ymap_get(n, "with"), s);
		break;
	case FR_STEP_TRANSFORM:
		s->expr = fr_load_expr(l, v);
		break;
	case FR_STEP_BRANCH:
		parse_branch(l, v, fr_ymap_get(n, "else"), s);
		break;
	case FR_STEP_LOOP:
		parse_loop(l, v, fr_ymap_get(n, "steps"), s, n);
		break;
	case FR_STEP_LOG:
		s->level = FR_LOG_INFO;
		if ((x = fr_ymap_get(n, "level")) && fr_schema_string(l->d, x, "'level'")) {
			size_t i;
			for (i = 0; i < FR_ARRAY_LEN(levels); i++) {
				if (strcmp(x->value, levels[i]) == 0)
					break;
			}
			if (i == FR_ARRAY_LEN(levels))
				fr_diag_at(l->d, FR_ERROR, &x->loc,
					   "invalid level '%s'; expected debug, "
					   "info, warn or error", x->value);
			else
				s->level = (enum fr_log_level)i;
		}
		/* fall through */
	case FR_STEP_FAIL:
	case FR_STEP_STOP:
		if (v->kind != FR_YSCALAR)
			fr_diag_at(l->d, FR_ERROR, &v->loc, "'%s' must be text",
				   step_kinds[s->kind]);
		else
			s->value = fr_load_tmpl(l, v);
		break;
	case FR_STEP_SET:
		if (!fr_schema_is_map(l->d, v, "'set'"))
			break;
		for (size_t i = 0; i < fr_ymap_len(v); i++) {
			const struct fr_ynode *k = fr_ymap_key(v, i);
			if (strstr(k->value, "${{"))
				fr_diag_hint(l->d, FR_WARNING, &k->loc,
					     "use a fixed key and compute its value",
					     "a set key is not a template: '%s' "
					     "is stored as written", k->value);
		}
		s->value = fr_load_tmpl(l, v);
		break;
	case FR_STEP_UPDATE:
		/* KEY: a jq program over the key's current value */
		if (!fr_schema_is_map(l->d, v, "'update'"))
			break;
		s->nupdates = fr_ymap_len(v);
		s->updates = fr_xcalloc(s->nupdates ? s->nupdates : 1,
					sizeof(*s->updates));
		for (size_t i = 0; i < s->nupdates; i++) {
			const struct fr_ynode *k = fr_ymap_key(v, i);
			s->updates[i].key = fr_xstrdup(k->value);
			s->updates[i].loc = k->loc;
			s->updates[i].expr = fr_expr_compile_over(&l->sc,
							fr_ymap_val(v, i));
		}
		if (!s->nupdates)
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'update' names no key");
		break;
	case FR_STEP_RESPOND:
		if (fr_schema_is_map(l->d, v, "'respond'")) {
			static const char *const keys[] = { "status", "headers",
							    "body", NULL };
			fr_schema_keys(l->d, v, keys, "respond");
			s->value = fr_load_tmpl(l, v);
		}
		break;
	}
}

static void parse_id(struct loader *l, struct fr_step *s,
		     const struct fr_ynode *n)
{
	const struct fr_ynode *v = fr_ymap_get(n, "id");

	if (!v || !fr_schema_string(l->d, v, "'id'"))
		return;
	if (!fr_load_ident_ok(v->value))
		fr_diag_at(l->d, FR_ERROR, &v->loc,
			   "invalid step id '%s'; use letters, digits and '_', "
			   "not starting with a digit", v->value);
	s->id = fr_xstrdup(v->value);
}

static struct fr_step *parse_step(struct loader *l, const struct fr_ynode *n)
{
	static const char *const common[] = { "id", "description", "if",
					      "on_error", "timeout" };
	/* per kind, indexed like step_kinds (whose last entry is NULL) */
	static const char *const extra[FR_ARRAY_LEN(step_kinds) - 1][2] = {
		[FR_STEP_ACTION] = { "with", NULL },
		[FR_STEP_BRANCH] = { "else", NULL },
		[FR_STEP_LOOP] = { "steps", NULL },
		[FR_STEP_LOG] = { "level", NULL },
	};
	const char *known[FR_ARRAY_LEN(common) + FR_ARRAY_LEN(step_kinds) + 2];
	struct fr_step *s = fr_xcalloc(1, sizeof(*s));
	const struct fr_ynode *kind_node = NULL, *v;
	size_t nknown = 0;
	int kind = -1;

	s->loc = n->loc;
	s->retry.attempts = 1;
	if (!fr_schema_is_map(l->d, n, "a step"))
		return s;
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i);
		for (int j = 0; step_kinds[j]; j++) {
			if (strcmp(k->value, step_kinds[j]) != 0)
				continue;
			if (kind >= 0)
				fr_diag_at(l->d, FR_ERROR, &k->loc,
					   "a step has one kind; this one has "
					   "both '%s' and '%s'", step_kinds[kind],
					   k->value);
			else {
				kind = j;
				kind_node = fr_ymap_val(n, i);
			}
		}
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(common); i++)
		known[nknown++] = common[i];
	if (kind >= 0) {
		/* a second kind was reported above: not again as unknown */
		for (size_t i = 0; step_kinds[i]; i++)
			known[nknown++] = step_kinds[i];
		if (extra[kind][0])
			known[nknown++] = extra[kind][0];
	}
	known[nknown] = NULL;
	parse_id(l, s, n);
	if (kind < 0) {
		/* an unknown key is most likely a misspelt kind */
		const struct fr_ynode *unknown = NULL;
		size_t nunknown = 0;
		for (size_t i = 0; i < fr_ymap_len(n); i++) {
			const struct fr_ynode *k = fr_ymap_key(n, i);
			bool common_key = false;
			for (size_t j = 0; j < FR_ARRAY_LEN(common); j++)
				common_key |= strcmp(k->value, common[j]) == 0;
			for (size_t j = 0; j < FR_ARRAY_LEN(extra); j++)
				common_key |= extra[j][0] &&
					      strcmp(k->value, extra[j][0]) == 0;
			if (!common_key) {
				unknown = k;
				nunknown++;
			}
		}
		if (nunknown == 1) {
			char *hint = fr_did_you_mean(unknown->value,
				step_kinds, FR_ARRAY_LEN(step_kinds) - 1);
			fr_diag_hint(l->d, FR_ERROR, &unknown->loc,
				     hint ? hint : "expected one of action, "
				     "transform, branch, loop, log, set, "
				     "respond, fail, stop",
				     "unknown step kind '%s'", unknown->value);
			free(hint);
		} else {
			fr_diag_at(l->d, FR_ERROR, &n->loc,
				   "step has no kind; expected one of action, "
				   "transform, branch, loop, log, set, respond, "
				   "fail, stop");
		}
		if (s->id)	/* so later references to it do not warn too */
			add_id(l, s, fr_ymap_get(n, "id"));
		return s;
	}
	fr_schema_keys(l->d, n, known, "step");
	s->kind = (enum fr_step_kind)kind;
	if ((v = fr_ymap_get(n, "description")) &&
	    fr_schema_string(l->d, v, "'description'"))
		s->description = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "if")))
		s->cond = fr_load_expr(l, v);
	if ((v = fr_ymap_get(n, "on_error")))
		parse_on_error(l, v, s);
	if ((v = fr_ymap_get(n, "timeout")))
		fr_schema_duration(l->d, v, "'timeout'", &s->timeout_ms);
	parse_kind(l, s, n, kind_node);
	/* the step's own id is visible only after it */
	if (s->id)
		add_id(l, s, fr_ymap_get(n, "id"));
	return s;
}

void fr_load_steps(struct loader *l, const struct fr_ynode *n,
		   struct fr_steps *out, const char *what)
{
	if (!fr_schema_is_seq(l->d, n, what))
		return;
	if (n->n == 0)
		fr_diag_at(l->d, FR_ERROR, &n->loc, "%s has no steps", what);
	out->v = fr_xcalloc(n->n, sizeof(*out->v));
	out->n = n->n;
	for (size_t i = 0; i < n->n; i++)
		out->v[i] = parse_step(l, n->items[i]);
}

static void step_destroy(struct fr_step *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->description);
	fr_expr_destroy(s->cond);
	free(s->action_name);
	fr_tmpl_destroy(s->with);
	fr_expr_destroy(s->expr);
	for (size_t i = 0; i < s->ncases; i++) {
		free(s->cases[i].name);
		fr_expr_destroy(s->cases[i].when);
		fr_steps_finish(&s->cases[i].steps);
	}
	free(s->cases);
	fr_steps_finish(&s->else_steps);
	fr_expr_destroy(s->over);
	free(s->as);
	fr_steps_finish(&s->body);
	fr_tmpl_destroy(s->value);
	for (size_t i = 0; i < s->nupdates; i++) {
		free(s->updates[i].key);
		fr_expr_destroy(s->updates[i].expr);
	}
	free(s->updates);
	free(s);
}

void fr_steps_finish(struct fr_steps *steps)
{
	for (size_t i = 0; i < steps->n; i++)
		step_destroy(steps->v[i]);
	free(steps->v);
	steps->v = NULL;
	steps->n = 0;
}

void fr_steps_walk(const struct fr_steps *steps,
		   void (*fn)(const struct fr_step *s, void *data), void *data)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct fr_step *s = steps->v[i];
		fn(s, data);
		for (size_t c = 0; c < s->ncases; c++)
			fr_steps_walk(&s->cases[c].steps, fn, data);
		fr_steps_walk(&s->else_steps, fn, data);
		fr_steps_walk(&s->body, fn, data);
	}
}
