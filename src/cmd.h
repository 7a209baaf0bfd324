/*
 * cmd: the command table and what commands share: exit statuses and the
 * options every command takes.
 *
 * Each command is main-like: cmd_NAME(argc, argv) with argv[0] the command
 * name; it answers --help on stdout with status 0 and returns an
 * enum fr_exit.
 */
#ifndef FR_CMD_H
#define FR_CMD_H

#include <getopt.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "model.h"
#include "project.h"
#include "store.h"
#include "util.h"

struct fr_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;	/* synopsis and options, for --help */
};

extern const struct fr_cmd fr_commands[];
extern const size_t fr_ncommands;
const struct fr_cmd *fr_cmd_find(const char *name);

/* "did you mean 'X'?" for an unknown command name (caller frees), or NULL. */
char *fr_cmd_suggest(const char *name);

/* The command's argv (main sets it), for the "did you mean" of options. */
extern char **fr_cmd_argv;

/* A long option of a command, as its --help text writes it. */
struct fr_cmd_option {
	char name[32];		/* without the dashes */
	bool value;		/* takes a value (--flow NAME) */
};

/*
 * The long options of cmd: those its usage text names, then the options
 * every command takes; returns how many (at most max).  tests/cli/usage.sh
 * checks that the usage text names every option of the getopt table, so
 * this list is complete; completion scripts and "did you mean" use it.
 */
size_t fr_cmd_options(const struct fr_cmd *cmd, struct fr_cmd_option *out,
		      size_t max);

/* Options every command takes (see flowrun(1), GLOBAL OPTIONS). */
struct fr_common {
	const char *store;
	const char **connector_dirs;
	size_t nconnector_dirs;
	bool json;
	bool log_json;
	int color;		/* 0 never, 1 always, -1 auto */
	int verbosity;		/* -1 quiet, 0 normal, 1+ verbose */
};

enum {
	FR_OPT_STORE = 1000, FR_OPT_CONNECTORS, FR_OPT_JSON, FR_OPT_LOG_FORMAT,
	FR_OPT_COLOR, FR_OPT_HELP, FR_OPT_FIRST_LOCAL,
};

#define FR_COMMON_OPTIONS                                               \
	{ "store", required_argument, NULL, FR_OPT_STORE },              \
	{ "connectors", required_argument, NULL, FR_OPT_CONNECTORS },    \
	{ "json", no_argument, NULL, FR_OPT_JSON },                      \
	{ "log-format", required_argument, NULL, FR_OPT_LOG_FORMAT },    \
	{ "color", required_argument, NULL, FR_OPT_COLOR },              \
	{ "help", no_argument, NULL, FR_OPT_HELP },                      \
	{ "quiet", no_argument, NULL, 'q' },                             \
	{ "verbose", no_argument, NULL, 'v' }

#define FR_COMMON_SHORT "qvh"

void fr_common_init(struct fr_common *c);
void fr_common_finish(struct fr_common *c);

/*
 * Handles one option returned by getopt_long that the command did not.
 * Returns -1 to go on, or an exit status to return now (help printed, or a
 * usage error reported).
 */
int fr_common_option(struct fr_common *c, const struct fr_cmd *cmd, int opt,
		     const char *arg);

/* Prints "flowrun CMD: MSG" and the usage hint on stderr; returns 2. */
int fr_usage_error(const struct fr_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Sets up the logger (log.h) from -q, -v and --log-format. */
void fr_common_log(const struct fr_common *c, bool timestamps);

/* Prints j on stdout as the one JSON document of --json. */
void fr_print_json(const json_t *j);

/*
 * JSON from "JSON", "@FILE" or "-" (stdin); NULL after printing why
 * ("flowrun CMD: WHAT is not JSON: ...").
 */
json_t *fr_json_arg(const char *cmd, const char *what, const char *arg);

/* Opens the store of c->store; prints why not and returns -1. */
int fr_common_store(struct fr_store **out, const struct fr_common *c);

/* Loads paths with the common options; problems are printed on stderr. */
int fr_common_load(struct fr_project **out, const struct fr_common *c,
		   char **paths, size_t n, struct fr_diag *d);

/*
 * The graph of flow f (format "dot" or "mermaid", else -1) with each step
 * coloured by what it did in the execution whose trace is given: ok,
 * failed (with its error), skipped, not reached (cmd_graph.c).
 */
int fr_graph_execution(FILE *out, const struct fr_flow *f, const json_t *trace,
		       const char *format);

int cmd_completion(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_deployments(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_undeploy(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
