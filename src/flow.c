#include "flow.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cron.h"
#include "expr.h"
#include "hashmap.h"
#include "json.h"
#include "schema.h"
#include "util.h"

#define DEFAULT_FLOW_TIMEOUT_MS (15 * 60 * 1000)
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_TOLERANCE_MS (5 * 60 * 1000)
#define MAX_LOOP_VARS 32

struct loader {
	struct fr_diag *d;
	struct fr_scope sc;
	const char *vars[MAX_LOOP_VARS];
	/* ids of the flow's steps so far, for duplicates and .steps checks */
	const char **ids;
	const struct fr_step **id_steps;
	bool *hidden;		/* ids not visible here (loop bodies) */
	size_t nids, ids_cap;
	struct fr_hashmap id_index;	/* id -> index in ids */
};

/* The index of id among the flow's ids, or -1. */
static long find_id(const struct loader *l, const char *id)
{
	size_t i;

	return fr_hashmap_get(&l->id_index, id, &i) ? (long)i : -1;
}

static const char *const step_kinds[] = { "action", "transform", "branch",
					  "loop", "log", "set", "respond",
					  "fail", "stop", "update", NULL };

static void parse_steps(struct loader *l, const struct fr_ynode *n,
			struct fr_steps *out, const char *what);

const char *fr_step_kind_name(enum fr_step_kind kind)
{
	return step_kinds[kind];
}

const char *fr_trigger_name(enum fr_trigger t)
{
	static const char *const names[] = { "manual", "deploy", "remove",
					     "webhook", "schedule" };
	return names[t];
}

static char *dup_or_null(const char *s)
{
	return s ? fr_xstrdup(s) : NULL;
}

static bool ident_ok(const char *s)
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

static void parse_retry(struct loader *l, const struct fr_ynode *n,
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
		parse_retry(l, v, &s->retry, "'retry'");
	if ((v = fr_ymap_get(n, "then"))) {
		if (v->kind == FR_YSCALAR && strcmp(v->value, "ignore") == 0)
			s->on_error = FR_ON_ERROR_IGNORE;
		else if (!(v->kind == FR_YSCALAR && strcmp(v->value, "fail") == 0))
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'then' must be fail or ignore");
	}
}

static struct fr_expr *expr_at(struct loader *l, const struct fr_ynode *n)
{
	return fr_expr_compile(&l->sc, n);
}

static struct fr_tmpl *tmpl_at(struct loader *l, const struct fr_ynode *n)
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
			out->when = expr_at(l, v);
		if ((v = fr_schema_require(l->d, c, "steps", "branch case")))
			parse_steps(l, v, &out->steps, "'steps'");
	}
	if (els) {
		s->has_else = true;
		parse_steps(l, els, &s->else_steps, "'else'");
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
		s->over = expr_at(l, v);
	if ((v = fr_ymap_get(n, "as")) && fr_schema_string(l->d, v, "'as'")) {
		if (!ident_ok(v->value) || strcmp(v->value, "ctx") == 0 ||
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
	parse_steps(l, body, &s->body, "'steps'");
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
		s->with = tmpl_at(l, with);
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
		s->expr = expr_at(l, v);
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
			s->value = tmpl_at(l, v);
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
		s->value = tmpl_at(l, v);
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
			s->value = tmpl_at(l, v);
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
	if (!ident_ok(v->value))
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
		s->cond = expr_at(l, v);
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

static void parse_steps(struct loader *l, const struct fr_ynode *n,
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

static void parse_verify(struct loader *l, const struct fr_ynode *n,
			 struct fr_verify *vf)
{
	static const char *const keys[] = { "scheme", "header", "prefix",
					    "encoding", "secret", "tolerance",
					    NULL };
	static const char *const schemes[] = { "hmac-sha256", "github", "stripe",
					       "slack", "standard-webhooks",
					       "token", NULL };
	const struct fr_ynode *v;

	vf->loc = n->loc;
	vf->tolerance_ms = DEFAULT_TOLERANCE_MS;
	if (!fr_schema_is_map(l->d, n, "'verify'"))
		return;
	fr_schema_keys(l->d, n, keys, "verify");
	if ((v = fr_schema_require(l->d, n, "scheme", "verify")) &&
	    fr_schema_string(l->d, v, "'scheme'")) {
		size_t i;
		for (i = 0; schemes[i]; i++) {
			if (strcmp(schemes[i], v->value) == 0)
				break;
		}
		if (!schemes[i]) {
			char *hint = fr_did_you_mean(v->value, schemes, i);
			fr_diag_hint(l->d, FR_ERROR, &v->loc, hint,
				     "unknown verify scheme '%s'", v->value);
			free(hint);
		}
		vf->scheme = fr_xstrdup(v->value);
	}
	if ((v = fr_ymap_get(n, "header")) && fr_schema_string(l->d, v, "'header'"))
		vf->header = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "prefix")) && fr_schema_string(l->d, v, "'prefix'"))
		vf->prefix = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "encoding")) &&
	    fr_schema_string(l->d, v, "'encoding'")) {
		if (strcmp(v->value, "hex") && strcmp(v->value, "base64"))
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'encoding' must be hex or base64");
		vf->encoding = fr_xstrdup(v->value);
	}
	if ((v = fr_schema_require(l->d, n, "secret", "verify")))
		vf->secret = tmpl_at(l, v);
	if ((v = fr_ymap_get(n, "tolerance")))
		fr_schema_duration(l->d, v, "'tolerance'", &vf->tolerance_ms);
	if (vf->scheme && (!strcmp(vf->scheme, "hmac-sha256") ||
			   !strcmp(vf->scheme, "token")) && !vf->header)
		fr_diag_at(l->d, FR_ERROR, &n->loc,
			   "verify scheme '%s' needs 'header'", vf->scheme);
}

static void parse_webhook(struct loader *l, const struct fr_ynode *n,
			  struct fr_webhook *w)
{
	static const char *const keys[] = { "path", "methods", "verify",
					    "respond", "dedupe", "concurrency",
					    "fifo", "retry", "max_body", NULL };
	const struct fr_ynode *v;
	long long x;

	w->max_body = DEFAULT_MAX_BODY;
	w->retry.attempts = 1;
	if (!n || fr_ynode_is_null(n))
		goto methods;
	if (!fr_schema_is_map(l->d, n, "'webhook'"))
		goto methods;
	fr_schema_keys(l->d, n, keys, "webhook trigger");
	if ((v = fr_ymap_get(n, "path")) && fr_schema_string(l->d, v, "'path'")) {
		if (v->value[0] != '/')
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'path' must start with '/'");
		w->path = fr_xstrdup(v->value);
	}
	if ((v = fr_ymap_get(n, "methods")) && fr_schema_is_seq(l->d, v, "'methods'")) {
		w->methods = fr_xcalloc(v->n, sizeof(char *));
		for (size_t i = 0; i < v->n; i++) {
			const char *m = fr_schema_string(l->d, v->items[i], "a method");
			if (m)
				w->methods[w->nmethods++] = fr_xstrdup(m);
		}
	}
	if ((v = fr_ymap_get(n, "verify")))
		parse_verify(l, v, &w->verify);
	if ((v = fr_ymap_get(n, "respond")) && fr_schema_string(l->d, v, "'respond'")) {
		if (strcmp(v->value, "sync") == 0)
			w->sync = true;
		else if (strcmp(v->value, "async") != 0)
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'respond' must be async or sync");
	}
	if ((v = fr_ymap_get(n, "dedupe")))
		w->dedupe = expr_at(l, v);
	if ((v = fr_ymap_get(n, "concurrency")) &&
	    fr_schema_int(l->d, v, "'concurrency'", 1, 1024, &x))
		w->concurrency = (int)x;
	if ((v = fr_ymap_get(n, "fifo")))
		fr_schema_bool(l->d, v, "'fifo'", &w->fifo);
	if ((v = fr_ymap_get(n, "retry")))
		parse_retry(l, v, &w->retry, "'retry'");
	if ((v = fr_ymap_get(n, "max_body")))
		fr_schema_size(l->d, v, "'max_body'", &w->max_body);
methods:
	if (w->nmethods == 0) {
		w->methods = fr_xrealloc(w->methods, sizeof(char *));
		w->methods[0] = fr_xstrdup("POST");
		w->nmethods = 1;
	}
}

static void parse_trigger(struct loader *l, const struct fr_ynode *n,
			  struct fr_flow *f)
{
	static const char *const names[] = { "manual", "deploy", "remove",
					     "webhook", "schedule", NULL };
	const struct fr_ynode *key, *val;
	const char *name;

	f->trigger_loc = n->loc;
	if (n->kind == FR_YSCALAR) {
		name = n->value;
		key = n;
		val = NULL;
	} else if (n->kind == FR_YMAP && fr_ymap_len(n) == 1) {
		key = fr_ymap_key(n, 0);
		val = fr_ymap_val(n, 0);
		name = key->value;
	} else {
		fr_diag_at(l->d, FR_ERROR, &n->loc,
			   "'trigger' must be manual, deploy, remove, "
			   "{webhook: ...} or {schedule: CRON}");
		return;
	}
	for (int i = 0; names[i]; i++) {
		if (strcmp(name, names[i]) == 0) {
			f->trigger = (enum fr_trigger)i;
			goto found;
		}
	}
	{
		char *hint = fr_did_you_mean(name, names, 5);
		fr_diag_hint(l->d, FR_ERROR, &key->loc, hint,
			     "unknown trigger '%s'", name);
		free(hint);
	}
	return;
found:
	if (f->trigger == FR_TRIGGER_WEBHOOK) {
		parse_webhook(l, val, &f->webhook);
	} else if (f->trigger == FR_TRIGGER_SCHEDULE) {
		char *err = NULL;
		if (!val) {
			fr_diag_at(l->d, FR_ERROR, &key->loc,
				   "a schedule trigger needs a cron expression: "
				   "{schedule: \"*/5 * * * *\"}");
			return;
		}
		if (!fr_schema_string(l->d, val, "'schedule'"))
			return;
		f->schedule = fr_xstrdup(val->value);
		if (fr_cron_parse(&f->cron, val->value, &err) < 0) {
			fr_diag_at(l->d, FR_ERROR, &val->loc, "%s", err);
			free(err);
		}
	} else if (val && !fr_ynode_is_null(val)) {
		fr_diag_at(l->d, FR_ERROR, &val->loc,
			   "trigger '%s' takes no options", name);
	}
}

static void parse_flow(struct loader *l, const struct fr_ynode *key,
		       const struct fr_ynode *n, struct fr_flow *f)
{
	static const char *const keys[] = { "description", "trigger", "steps",
					    "timeout", NULL };
	const struct fr_ynode *v;

	f->name = fr_xstrdup(key->value);
	f->loc = key->loc;
	f->timeout_ms = DEFAULT_FLOW_TIMEOUT_MS;
	fr_schema_name(l->d, key, "flow name");
	if (!fr_schema_is_map(l->d, n, "a flow"))
		return;
	fr_schema_keys(l->d, n, keys, "flow");
	l->nids = 0;
	fr_hashmap_clear(&l->id_index);
	l->sc.flow = f->name;
	l->sc.check_steps = true;
	l->sc.step_ids = l->ids;
	l->sc.nstep_ids = 0;
	if ((v = fr_ymap_get(n, "description")) &&
	    fr_schema_string(l->d, v, "'description'"))
		f->description = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "timeout")))
		fr_schema_duration(l->d, v, "'timeout'", &f->timeout_ms);
	if ((v = fr_ymap_get(n, "trigger")))
		parse_trigger(l, v, f);
	if ((v = fr_schema_require(l->d, n, "steps", "flow")))
		parse_steps(l, v, &f->steps, "'steps'");
	l->sc.check_steps = false;
}

/* A `file:` path, relative to the directory of the file that declares it. */
static char *config_file_path(struct fr_diag *d, const struct fr_ynode *v)
{
	const char *path = v->loc.src ? v->loc.src->path : NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	struct fr_buf b;

	if (!v->value[0]) {
		fr_diag_at(d, FR_ERROR, &v->loc, "'file' must name a file");
		return NULL;
	}
	if (v->value[0] == '/' || !slash)
		return fr_xstrdup(v->value);
	fr_buf_init(&b);
	fr_buf_printf(&b, "%.*s/%s", (int)(slash - path), path, v->value);
	return fr_buf_steal(&b);
}

static void parse_config(struct loader *l, const struct fr_ynode *n,
			 struct fr_integration *in)
{
	static const char *const keys[] = { "default", "description", "required",
					    "secret", "env", "file", "type",
					    NULL };
	static const char *const types[] = { "any", "string", "number",
					     "boolean", "object", "array", NULL };

	if (!fr_schema_is_map(l->d, n, "'config'"))
		return;
	in->config = fr_xcalloc(fr_ymap_len(n), sizeof(*in->config));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *c = fr_ymap_val(n, i), *v;
		struct fr_config_var *cv = &in->config[in->nconfig++];
		bool required_given = false;

		cv->name = fr_xstrdup(k->value);
		cv->loc = k->loc;
		if (!ident_ok(k->value))
			fr_diag_at(l->d, FR_ERROR, &k->loc,
				   "invalid config name '%s'; use letters, "
				   "digits and '_'", k->value);
		if (fr_ynode_is_null(c)) {
			cv->required = true;
			continue;
		}
		if (!fr_schema_is_map(l->d, c, "a config variable"))
			continue;
		fr_schema_keys(l->d, c, keys, "config variable");
		if ((v = fr_ymap_get(c, "default")))
			cv->def = fr_ynode_to_json(v);
		if ((v = fr_ymap_get(c, "description")) &&
		    fr_schema_string(l->d, v, "'description'"))
			cv->description = fr_xstrdup(v->value);
		if ((v = fr_ymap_get(c, "required")))
			required_given = fr_schema_bool(l->d, v, "'required'",
							&cv->required);
		if (!required_given)
			cv->required = cv->def == NULL;
		if ((v = fr_ymap_get(c, "secret")))
			fr_schema_bool(l->d, v, "'secret'", &cv->secret);
		if ((v = fr_ymap_get(c, "env")) && fr_schema_string(l->d, v, "'env'"))
			cv->env = fr_xstrdup(v->value);
		if ((v = fr_ymap_get(c, "file")) && fr_schema_string(l->d, v, "'file'"))
			cv->file = config_file_path(l->d, v);
		if ((v = fr_ymap_get(c, "type")) && fr_schema_string(l->d, v, "'type'")) {
			size_t t;
			for (t = 0; types[t]; t++) {
				if (strcmp(types[t], v->value) == 0)
					break;
			}
			if (!types[t])
				fr_diag_at(l->d, FR_ERROR, &v->loc,
					   "unknown type '%s'; expected string, "
					   "number, boolean, object or array",
					   v->value);
			else
				cv->type = (enum fr_type)t;
		}
		if (cv->def && !json_is_null(cv->def) &&
		    !fr_type_ok(cv->type, cv->def))
			fr_diag_at(l->d, FR_ERROR, &fr_ymap_get(c, "default")->loc,
				   "the default of config variable '%s' must be "
				   "%s, not %s", cv->name, fr_type_name(cv->type),
				   fr_json_kind(cv->def));
	}
}

static void parse_connections(struct loader *l, const struct fr_ynode *n,
			      struct fr_integration *in)
{
	static const char *const keys[] = { "connector", "with", NULL };

	if (!fr_schema_is_map(l->d, n, "'connections'"))
		return;
	in->connections = fr_xcalloc(fr_ymap_len(n), sizeof(*in->connections));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *c = fr_ymap_val(n, i), *v;
		struct fr_connection *cn = &in->connections[in->nconnections++];

		cn->name = fr_xstrdup(k->value);
		cn->loc = k->loc;
		fr_schema_name(l->d, k, "connection name");
		if (!fr_schema_is_map(l->d, c, "a connection"))
			continue;
		fr_schema_keys(l->d, c, keys, "connection");
		if ((v = fr_schema_require(l->d, c, "connector", "connection")) &&
		    fr_schema_string(l->d, v, "'connector'")) {
			cn->connector_name = fr_xstrdup(v->value);
			cn->connector_loc = v->loc;
		}
		if ((v = fr_ymap_get(c, "with")) && fr_schema_is_map(l->d, v, "'with'"))
			cn->with = tmpl_at(l, v);
	}
}

int fr_integration_load(struct fr_integration **out, const struct fr_ydoc *doc,
			struct fr_jqx_prog *prog, struct fr_diag *d)
{
	static const char *const keys[] = { "integration", "description",
					    "config", "connections", "flows",
					    NULL };
	const struct fr_ynode *root = doc->root, *v;
	struct fr_integration *in;
	struct loader l = { .d = d };

	*out = NULL;
	if (!root || fr_ynode_is_null(root)) {
		struct fr_loc loc = { doc->src, 1, 1 };
		fr_diag_at(d, FR_ERROR, &loc,
			   "empty file; expected a mapping with 'integration' "
			   "and 'flows'");
		return -1;
	}
	if (root->kind != FR_YMAP) {
		fr_diag_at(d, FR_ERROR, &root->loc,
			   "a flow file must be a mapping with 'integration' "
			   "and 'flows', not %s", fr_ynode_what(root));
		return -1;
	}
	in = fr_xcalloc(1, sizeof(*in));
	in->loc = root->loc;
	l.sc.prog = prog;
	l.sc.d = d;
	l.sc.vars = l.vars;
	l.sc.in = in;
	fr_schema_keys(d, root, keys, "integration");
	if ((v = fr_schema_require(d, root, "integration", "flow file")) &&
	    fr_schema_name(d, v, "integration name"))
		in->name = fr_xstrdup(v->value);
	if (!in->name)
		in->name = fr_xstrdup("?");
	if ((v = fr_ymap_get(root, "description")) &&
	    fr_schema_string(d, v, "'description'"))
		in->description = dup_or_null(v->value);
	if ((v = fr_ymap_get(root, "config")))
		parse_config(&l, v, in);
	if ((v = fr_ymap_get(root, "connections")))
		parse_connections(&l, v, in);
	if ((v = fr_schema_require(d, root, "flows", "flow file")) &&
	    fr_schema_is_map(d, v, "'flows'")) {
		in->flows = fr_xcalloc(fr_ymap_len(v), sizeof(*in->flows));
		for (size_t i = 0; i < fr_ymap_len(v); i++) {
			struct fr_flow *f = &in->flows[in->nflows++];
			f->integration = in;
			parse_flow(&l, fr_ymap_key(v, i), fr_ymap_val(v, i), f);
		}
	}
	free(l.ids);
	free(l.id_steps);
	free(l.hidden);
	fr_hashmap_finish(&l.id_index);
	*out = in;
	return 0;
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

void fr_integration_destroy(struct fr_integration *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->description);
	for (size_t i = 0; i < in->nconfig; i++) {
		struct fr_config_var *c = &in->config[i];
		free(c->name);
		free(c->description);
		json_decref(c->def);
		free(c->env);
		free(c->file);
	}
	free(in->config);
	for (size_t i = 0; i < in->nconnections; i++) {
		free(in->connections[i].name);
		free(in->connections[i].connector_name);
		fr_tmpl_destroy(in->connections[i].with);
	}
	free(in->connections);
	for (size_t i = 0; i < in->nflows; i++) {
		struct fr_flow *f = &in->flows[i];
		free(f->name);
		free(f->description);
		free(f->webhook.path);
		for (size_t m = 0; m < f->webhook.nmethods; m++)
			free(f->webhook.methods[m]);
		free(f->webhook.methods);
		free(f->webhook.verify.scheme);
		free(f->webhook.verify.header);
		free(f->webhook.verify.prefix);
		free(f->webhook.verify.encoding);
		fr_tmpl_destroy(f->webhook.verify.secret);
		fr_expr_destroy(f->webhook.dedupe);
		free(f->schedule);
		fr_steps_finish(&f->steps);
	}
	free(in->flows);
	free(in->root);
	free(in);
}

const struct fr_flow *fr_integration_flow(const struct fr_integration *in,
					  const char *name)
{
	for (size_t i = 0; i < in->nflows; i++) {
		if (strcmp(in->flows[i].name, name) == 0)
			return &in->flows[i];
	}
	return NULL;
}

const struct fr_config_var *fr_integration_config(const struct fr_integration *in,
						  const char *name)
{
	for (size_t i = 0; i < in->nconfig; i++) {
		if (strcmp(in->config[i].name, name) == 0)
			return &in->config[i];
	}
	return NULL;
}
