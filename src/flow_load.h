/*
 * flow_load: what the two halves of the flow-file loader share (private to
 * flow.c and flow_steps.c): the loader's state while one integration file
 * is read, and the parsers each half offers the other.
 */
#ifndef FR_FLOW_LOAD_H
#define FR_FLOW_LOAD_H

#include <stdbool.h>

#include "expr.h"
#include "flow.h"
#include "hashmap.h"

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

/* The steps under n (a sequence) into out; what names it in errors. */
void fr_load_steps(struct loader *l, const struct fr_ynode *n,
		   struct fr_steps *out, const char *what);
/* A retry policy ({attempts, delay, backoff, max_delay}), with defaults. */
void fr_load_retry(struct loader *l, const struct fr_ynode *n,
		   struct fr_retry *r, const char *what);
struct fr_expr *fr_load_expr(struct loader *l, const struct fr_ynode *n);
struct fr_tmpl *fr_load_tmpl(struct loader *l, const struct fr_ynode *n);
/* A name jq accepts after $ (letters, digits, _; not a digit first). */
bool fr_load_ident_ok(const char *s);

#endif
