/*
 * expr: expressions and templates, compiled when files load.
 *
 * An expression is a bare jq program (`when`, `transform`, `loop.over`, ...).
 * A template is any other YAML value: strings may hold `${{ program }}`.  A
 * string that is one `${{ }}` and nothing else yields the program's JSON
 * value; inside longer text, strings are inserted raw and other values as
 * compact JSON.  Parts without expressions are kept as constant JSON (exact
 * integers), so rendering a constant costs one json_incref.
 *
 * A struct fr_scope says where an expression stands: the jq batch to add it
 * to, the loop variables bound there, and what the reference checks know
 * (config names, ids of earlier steps).  The scope is only used while
 * loading.  Templates and expressions own their memory; the batch owns the
 * program text.
 */
#ifndef FR_EXPR_H
#define FR_EXPR_H

#include <jansson.h>
#include <jv.h>

#include "diag.h"
#include "jqx.h"
#include "model.h"
#include "ydoc.h"

struct fr_scope {
	struct fr_jqx_prog *prog;
	struct fr_diag *d;
	const char **vars;		/* loop variables bound, outermost first */
	size_t nvars;
	bool check_steps;		/* warn on unknown .steps.X */
	const char **step_ids;		/* ids of the earlier steps */
	const bool *hidden;		/* those not visible here */
	size_t nstep_ids;
	const struct fr_integration *in;	/* NULL: do not check .config */
	const char *flow;
};

/* Registers an expression (a string node); NULL after reporting an error. */
struct fr_expr *fr_expr_compile(struct fr_scope *sc, const struct fr_ynode *n);
/* An expression over a value of its own (`.`), $ctx the context (update). */
struct fr_expr *fr_expr_compile_over(struct fr_scope *sc,
				     const struct fr_ynode *n);
void fr_expr_destroy(struct fr_expr *e);

/* A template for any YAML value; NULL after reporting an error. */
struct fr_tmpl *fr_tmpl_compile(struct fr_scope *sc, const struct fr_ynode *n);
/* A constant template (steals j). */
struct fr_tmpl *fr_tmpl_const(json_t *j, const struct fr_loc *loc);
void fr_tmpl_destroy(struct fr_tmpl *t);

/* The constant value, borrowed, or NULL when the template has expressions. */
const json_t *fr_tmpl_value(const struct fr_tmpl *t);
const struct fr_loc *fr_tmpl_loc(const struct fr_tmpl *t);
/*
 * The keys of an object template (a new array of borrowed strings, *n set),
 * or NULL when t is not a literal mapping (e.g. one ${{ }}).
 */
const char **fr_tmpl_object_keys(const struct fr_tmpl *t, size_t *n);
/* True for an object template (or a whole-${{ }} one that may yield one). */
bool fr_tmpl_may_be_object(const struct fr_tmpl *t);

/*
 * Renders t.  ctx and vars are borrowed.  On success *out is a new
 * value of the caller's own (a constant is copied: templates are shared
 * by threads, values are not); on error returns -1 with *err (caller
 * frees).
 */
int fr_tmpl_render(const struct fr_tmpl *t, struct fr_jqx *jx, jv ctx,
		   jv vars, json_t **out, char **err);

/*
 * Renders t as text: a string as is, other values as compact JSON.  Values
 * inserted by ${{ }} go through escape (e.g. URL-encoding; NULL: none).
 */
int fr_tmpl_render_text(const struct fr_tmpl *t, struct fr_jqx *jx, jv ctx,
			jv vars, char *(*escape)(const char *s, size_t len),
			char **out, char **err);

/* Calls fn for every expression in t (for graphs and checks). */
void fr_tmpl_foreach_expr(const struct fr_tmpl *t,
			  void (*fn)(const struct fr_expr *e, void *data),
			  void *data);

#endif
