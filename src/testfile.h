/*
 * testfile: test files (*.test.yaml, flowrun-test(5)) read into tests.
 *
 * A struct fr_testfile owns its source, its tests and everything in them;
 * flows are borrowed from the project the file was checked against, which
 * must outlive it.  The jq programs of a file (`when`, `assert`) are
 * registered in a batch of the caller's (struct fr_jqx_prog), one program
 * per distinct text, so that any number of tests costs one compilation per
 * thread.
 */
#ifndef FR_TESTFILE_H
#define FR_TESTFILE_H

#include <jansson.h>
#include <stdbool.h>

#include "diag.h"
#include "exec.h"
#include "jqx.h"
#include "project.h"

struct fr_test_answer {
	struct fr_loc loc;
	int when;			/* jq id, -1: none */
	enum fr_answer kind;		/* OUTPUT, ERROR or HTTP */
	json_t *output;
	char *error;
	long status;			/* http */
	json_t *headers;		/* http: object of strings */
	json_t *body;			/* http: NULL = empty */
};

struct fr_test_mock {
	char *key;			/* CONNECTION.ACTION or a step id */
	struct fr_loc loc;
	bool list;			/* a list: one answer per call */
	struct fr_test_answer *answers;
	size_t n;
};

enum fr_test_status { FR_TEST_OK, FR_TEST_FAILED, FR_TEST_REJECTED };

/* One expectation: expect.KEY (steps, calls, state, response, output). */
struct fr_test_expect {
	const char *what;		/* "steps", ... (static) */
	struct fr_loc loc;		/* of the value */
	struct fr_loc end;		/* just past it (for --update) */
	json_t *value;
};

struct fr_test_assert {
	int id;				/* jq */
	char *text;
	struct fr_loc loc;
};

struct fr_test {
	char *name;
	struct fr_loc loc;
	const struct fr_flow *flow;
	char *instance;			/* NULL: default */
	json_t *config;			/* overrides, or NULL */
	json_t *state;			/* seed, or NULL */
	double now;			/* unix seconds */
	bool samples;
	/* trigger */
	bool webhook;
	json_t *input;			/* manual, deploy, ...: the value */
	json_t *body;			/* webhook */
	char *raw_body;			/* webhook: as sent */
	json_t *headers, *query;	/* webhook: objects of strings */
	char *method;
	bool sign;
	/* mocks and expectations */
	struct fr_test_mock *mocks;
	size_t nmocks;
	enum fr_test_status status;
	struct fr_loc status_loc, status_end;	/* of expect.status's value */
	char *error;			/* substring, or NULL */
	struct fr_loc error_loc, error_end;	/* of expect.error's value */
	struct fr_test_expect expects[5];
	size_t nexpects;
	struct fr_test_assert *asserts;
	size_t nasserts;
};

struct fr_testfile {
	struct fr_source *src;		/* one reference */
	struct fr_test *tests;
	size_t n;
};

/*
 * Reads path and checks it against project p, registering its programs in
 * prog; ids (an object: program text -> id) lets files share programs.
 * Problems go to d (located); returns 0 with *out, or -1.
 */
int fr_testfile_load(struct fr_testfile **out, const char *path,
		     const struct fr_project *p, struct fr_jqx_prog *prog,
		     json_t *ids, struct fr_diag *d);
void fr_testfile_destroy(struct fr_testfile *tf);

/* The expectation named what of t, or NULL. */
const struct fr_test_expect *fr_test_expect_get(const struct fr_test *t,
						const char *what);

#endif
