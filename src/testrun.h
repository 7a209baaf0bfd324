/*
 * testrun: runs tests (testfile.h) on the engine, offline: every action is
 * answered by the test's mocks through the engine's intercept (exec.h), the
 * instance state lives in memory for the one test, secrets get dummy
 * values, the execution id and the time are fixed per test.
 *
 * A test first gets its config and trigger (webhook requests signed and
 * verified), then runs, on a struct fr_testrun, which belongs to one thread
 * (its engine and compiled programs); any number of them may run at once.
 *
 * Results own everything in them (fr_test_result_finish).
 */
#ifndef FR_TESTRUN_H
#define FR_TESTRUN_H

#include <jansson.h>
#include <stdbool.h>

#include "testfile.h"

struct fr_test_failure {
	char *message;			/* "expect.steps: ..." */
	struct fr_loc loc;		/* of the expectation (or the test) */
	char *diff;			/* expected/actual diff, or NULL */
	json_t *expected, *actual;	/* or NULL */
};

struct fr_test_result {
	bool passed;
	double ms;
	struct fr_test_failure *failures;
	size_t nfailures;
	json_t *trace;			/* NULL when the flow did not run */
	json_t *steps;			/* the step outputs (.steps) */
	json_t *ran;			/* coverage: "LINE", "LINE:CASE" -> true */
	bool mocks_ok;			/* no mock was missing or exhausted */
	const char *status;		/* as it ended: "ok", "failed", ... */
	char *error;			/* the execution's error, or NULL */
};

struct fr_testrun;
/* tprog: the test files' programs (checked), or NULL when there are none. */
struct fr_testrun *fr_testrun_create(const struct fr_project *p,
				     const struct fr_jqx_prog *tprog);
void fr_testrun_destroy(struct fr_testrun *tr);

/* Runs test t (index: its place in its file, for ids). */
void fr_testrun_run(struct fr_testrun *tr, const struct fr_test *t,
		    size_t index, struct fr_test_result *out);
void fr_test_result_finish(struct fr_test_result *r);

/*
 * expect's matching: objects match when each listed key matches, lists
 * when they have the same length and each item matches, scalars when equal
 * (numbers by value); {exactly: V} asks for equality.
 */
bool fr_test_match(const json_t *expected, const json_t *actual);

/* .steps as the execution ended with them, from its trace (new ref). */
json_t *fr_test_trace_steps(const json_t *trace);

/* A line diff of the two values as indented JSON (caller frees). */
char *fr_test_diff(const json_t *expected, const json_t *actual);

#endif
