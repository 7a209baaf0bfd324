/*
 * jqx: every jq program of a project, compiled once.  The only module that
 * includes <jq.h>.
 *
 * Why a batch: jq 1.6 recompiles its builtin library on every jq_compile
 * (about 20 ms here), so compiling 50 expressions one by one costs a second.
 * Instead every expression a project holds is registered with
 * fr_jqx_prog_add at load time and becomes one `def` of a single program,
 * followed by a binary dispatch on the expression's number:
 *
 *     def __e0: . as [$__i, $ctx, $__v] | ($__v[0]) as $item | $ctx | (
 *     USER PROGRAM
 *     );
 *     ...
 *     if .[0] < 1 then __e0 else __e1 end
 *
 * so a project costs one compilation (per thread), whatever its size.  An
 * expression that has run FR_JQX_HOT_AFTER times in one state is then
 * compiled alone, once, and runs without the dispatch.  Each
 * program sits on lines of its own, so jq's "line N" in an error maps back to
 * the expression; that expression is then compiled alone to confirm the
 * error, taken out, and the batch compiled again, until it compiles.
 *
 * jq 1.6 binds $variables at compile time, so per-execution values come in
 * through the input: the array [id, ctx, vars], where vars holds the values
 * of the variable names given to fr_jqx_prog_add, in order (loop variables);
 * a program over a value of its own (fr_jqx_prog_add_over) gets [id, ctx,
 * vars, value] and runs on the value.
 *
 * A compiled program (struct fr_jqx) belongs to one thread: jq_state is not
 * thread-safe.  fr_jqx_deadline stops a program that runs too long (the
 * step timeout) with a timer that signals the thread running it.
 *
 * A plain path (".", ".a.b", "$item.id", "$ctx.config.x": fields only) is
 * not run by jq: its keys are looked up in the value, which gives what jq
 * gives on objects and null; on anything else jq runs it, for its error.
 * Templates like "${{ .config.token }}" cost a few lookups, not a jq run.
 *
 * Ownership follows jv: fr_jqx_eval consumes ctx and vars.
 */
#ifndef FR_JQX_H
#define FR_JQX_H

#include <jv.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

struct fr_jqx_prog;
struct fr_jqx;

struct fr_jqx_prog *fr_jqx_prog_create(void);
void fr_jqx_prog_destroy(struct fr_jqx_prog *p);

/*
 * Registers a program; returns its id.  vars (may be NULL) are the names of
 * the variables bound for it, without '$'.  loc is copied; its source must
 * outlive the prog.
 */
int fr_jqx_prog_add(struct fr_jqx_prog *p, const char *text,
		    const struct fr_loc *loc, const char *const *vars,
		    size_t nvars);

/*
 * The same for a program whose `.` is a value given at each run
 * (fr_jqx_eval_on), with $ctx still the context: an update step's key.
 */
int fr_jqx_prog_add_over(struct fr_jqx_prog *p, const char *text,
			 const struct fr_loc *loc, const char *const *vars,
			 size_t nvars);

/*
 * Makes jq's `now` in every program of p the time set with fr_jqx_set_now
 * (0 until then) instead of the clock: tests are reproducible.  Before
 * fr_jqx_prog_check.
 */
void fr_jqx_prog_fixed_clock(struct fr_jqx_prog *p);
void fr_jqx_set_now(struct fr_jqx *jx, double now);

/* The program text of an expression, as the user wrote it (borrowed). */
const char *fr_jqx_prog_text(const struct fr_jqx_prog *p, int id);

/*
 * Compiles the batch, reporting each invalid program at its location in d.
 * Returns the number of invalid programs (0 when all compiled).
 */
int fr_jqx_prog_check(struct fr_jqx_prog *p, struct fr_diag *d);

/* Compiles the (checked) batch into a new state for the calling thread. */
struct fr_jqx *fr_jqx_create(const struct fr_jqx_prog *p);
void fr_jqx_destroy(struct fr_jqx *jx);

/*
 * After this many evaluations in one state, an expression is compiled alone
 * (see jqx.c): the same results, without the batch's dispatch.
 */
#define FR_JQX_HOT_AFTER 4096

/* Whether expression id runs on a state of its own by now (for tests). */
bool fr_jqx_hot(const struct fr_jqx *jx, int id);

/*
 * Runs program id.  Exactly one value is expected: *out gets it (new ref).
 * Returns 0, or -1 with *err (caller frees) saying what went wrong (runtime
 * error, no value, several values, interrupted).
 */
int fr_jqx_eval(struct fr_jqx *jx, int id, jv ctx, jv vars, jv *out,
		char **err);

/* Runs a program added with fr_jqx_prog_add_over on input (consumed). */
int fr_jqx_eval_on(struct fr_jqx *jx, int id, jv ctx, jv vars, jv input,
		   jv *out, char **err);

/*
 * Sets this thread's deadline (monotonic ns, fr_now_ns; 0 = none): a jq
 * program this thread runs past it stops with "interrupted (timeout)".
 * Takes the signal SIGRTMIN (handled with SA_RESTART; a system call the
 * signal interrupts that does not restart returns EINTR).
 */
void fr_jqx_deadline(uint64_t deadline);

/* Truthiness as jq has it: everything but false and null. */
bool fr_jv_truthy(jv v);	/* borrows v */

#endif
