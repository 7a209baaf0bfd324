/* cli: the command table and the options all commands share. */
#include "cmd.h"
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#include <jansson.h>

const struct fr_cmd fr_commands[] = {	/* keep alphabetized */
	{ "completion", cmd_completion,
	  "print a shell completion script (bash, zsh or fish)",
	  "usage: flowrun completion bash|zsh|fish\n"
	  "\n"
	  "Prints a script that completes commands, their options and files,\n"
	  "made from flowrun's own command table:\n"
	  "  bash: source <(flowrun completion bash)   (e.g. in ~/.bashrc)\n"
	  "  zsh:  flowrun completion zsh > ~/.zfunc/_flowrun  (~/.zfunc in fpath)\n"
	  "  fish: flowrun completion fish > ~/.config/fish/completions/flowrun.fish\n" },
	{ "deploy", cmd_deploy,
	  "validate everything, then run the deploy flows of each instance",
	  "usage: flowrun deploy [PATH...] [--instance NAME | --all-instances]\n"
	  "                      [--set KEY=VALUE]... [--dry-run] [--public-url URL]\n"
	  "\n"
	  "Validates every file first (any error: exit 3, nothing runs), resolves\n"
	  "the configuration of every instance (anything missing: exit 4, before\n"
	  "any request), then runs each integration's deploy flows per instance,\n"
	  "records the executions and the deployment, and prints a summary per\n"
	  "instance.  Exit 1 when any deploy flow failed.\n"
	  "\n"
	  "  --instance NAME      deploy this instance (default: default)\n"
	  "  --all-instances      deploy every instance in instances/\n"
	  "  --set KEY=VALUE      override a config value (repeatable)\n"
	  "  --dry-run            send reads, show the writes instead of sending\n"
	  "  --public-url URL     base of the webhook URLs in .webhooks\n" },
	{ "deployments", cmd_deployments,
	  "list what deploy recorded, newest first",
	  "usage: flowrun deployments [--integration NAME] [--instance NAME]\n"
	  "\n"
	  "Lists the last 100 deployments, newest first: when, the outcome,\n"
	  "the integration and instance, and the hash of the files deployed;\n"
	  "with --json, each with the summary deploy --json printed.\n"
	  "\n"
	  "  --integration NAME   only this integration\n"
	  "  --instance NAME      only this instance\n" },
	{ "graph", cmd_graph, "draw the step graph of flows (dot or mermaid)",
	  "usage: flowrun graph [PATH...] [--flow NAME] [--format dot|mermaid]\n"
	  "\n"
	  "  --flow NAME        only this flow (INTEGRATION/FLOW or FLOW)\n"
	  "  --format FORMAT    dot (Graphviz, the default) or mermaid\n" },
	{ "help", cmd_help, "show help for flowrun or a command",
	  "usage: flowrun help [COMMAND]\n" },
	{ "prune", cmd_prune, "remove the data of executions that ended long ago",
	  "usage: flowrun prune --older-than AGE\n"
	  "\n"
	  "Removes the input, trace, request and body of every execution that\n"
	  "ended (ok or failed) longer than AGE ago (30d, 12h, 90m); the rows\n"
	  "stay, so runs still lists and counts them.  Queued, running and\n"
	  "retrying executions are never touched.\n"
	  "\n"
	  "  --older-than AGE     how long ago they ended (at least 1m)\n" },
	{ "replay", cmd_replay, "queue recorded executions again, same trigger data",
	  "usage: flowrun replay EXECUTION... | --failed [--flow NAME] [--limit N]\n"
	  "                      [--origin ORIGIN|any]\n"
	  "\n"
	  "Queues each execution again as a new one with the same trigger data;\n"
	  "flowrun serve runs it (at once if it is running, else when it starts).\n"
	  "EXECUTION may be any unique prefix of an id.\n"
	  "\n"
	  "  --failed             every failed execution not replayed yet\n"
	  "  --origin ORIGIN      with --failed: those of run, deploy, serve (the\n"
	  "                       default), replay, or any\n"
	  "  --flow NAME          with --failed: only this flow\n"
	  "  --limit N            with --failed: at most N (default 1000)\n" },
	{ "run", cmd_run, "run one flow now, in this process (--dry-run: no writes)",
	  "usage: flowrun run [PATH...] --flow NAME [--input JSON|@FILE|-]\n"
	  "                   [--instance NAME] [--set KEY=VALUE]... [--dry-run]\n"
	  "                   [--offline] [--mock CONN.ACTION|STEP_ID=JSON|@FILE]...\n"
	  "                   [--header NAME:VALUE]... [--query KEY=VALUE]...\n"
	  "                   [--public-url URL] [--record FILE] [--record-execution]\n"
	  "                   [--delivery ID]\n"
	  "\n"
	  "  --flow NAME          the flow to run (INTEGRATION/FLOW or FLOW)\n"
	  "  --input VALUE        the trigger input: JSON, @FILE or - (stdin);\n"
	  "                       for a webhook flow, the request body\n"
	  "  --instance NAME      the instance (instances/NAME.yaml)\n"
	  "  --set KEY=VALUE      override a config value (repeatable)\n"
	  "  --dry-run            send reads, print writes instead of sending\n"
	  "  --offline            send nothing; actions use --mock or samples\n"
	  "  --mock A=VALUE       the output of action A (CONN.ACTION) or of the\n"
	  "                       action step with id A\n"
	  "  --header NAME:VALUE  a webhook request header (repeatable)\n"
	  "  --query KEY=VALUE    a webhook query parameter (repeatable)\n"
	  "  --public-url URL     base of the webhook URLs in .webhooks\n"
	  "  --record FILE        write a test of this execution to FILE\n"
	  "  --record-execution   record the execution even in a dry-run\n"
	  "  --delivery ID        run the trigger of recorded execution ID again\n" },
	{ "runs", cmd_runs, "list recorded executions, newest first",
	  "usage: flowrun runs [--flow NAME] [--instance NAME] [--status STATUS]\n"
	  "                    [--origin ORIGIN] [--since WHEN] [--trigger KIND]\n"
	  "                    [--delivery ID] [--limit N] [--follow]\n"
	  "\n"
	  "Lists executions, newest first: recorded ones, and those queued or\n"
	  "running in serve, with their attempt and what they replay.\n"
	  "\n"
	  "  --flow NAME          FLOW or INTEGRATION/FLOW\n"
	  "  --instance NAME      only this instance\n"
	  "  --status STATUS      queued, running, ok, failed, retrying or\n"
	  "                       interrupted\n"
	  "  --origin ORIGIN      run, deploy, serve or replay\n"
	  "  --since WHEN         a duration back (10m, 2h, 7d) or a UTC time\n"
	  "  --trigger KIND       webhook, schedule, manual, deploy or remove\n"
	  "  --delivery ID        one delivery and its replays: ID is its\n"
	  "                       execution id or its dedupe key (the sender's\n"
	  "                       delivery id, when the flow's dedupe takes it)\n"
	  "  --follow             print executions as they start and end, until\n"
	  "                       Ctrl-C (JSON lines with --json)\n"
	  "  --limit N            at most N executions (default 50)\n" },
	{ "serve", cmd_serve, "serve webhooks and schedules (durable queue, workers)",
	  "usage: flowrun serve [PATH...] [--listen ADDR:PORT] [--workers N]\n"
	  "                     [--public-url URL] [--grace DURATION]\n"
	  "                     [--instance NAME] [--set KEY=VALUE]...\n"
	  "                     [--http-threads N] [--sync-timeout DURATION]\n"
	  "                     [--queue-limit N] [--lease DURATION]\n"
	  "                     [--worker-memory SIZE]\n"
	  "                     [--max-connections N] [--header-timeout D]\n"
	  "                     [--max-connections-per-client N]\n"
	  "                     [--retain AGE]\n"
	  "\n"
	  "  --listen ADDR:PORT   where to listen (default 127.0.0.1:8080; port 0:\n"
	  "                       any free port, printed at start)\n"
	  "  --workers N          executions at once, each in a worker process\n"
	  "                       (default 4)\n"
	  "  --worker-memory SIZE what a worker process may allocate (default\n"
	  "                       512MiB)\n"
	  "  --http-threads N     request threads (default 2)\n"
	  "  --public-url URL     the base URL senders reach us at (for logs and\n"
	  "                       .webhooks)\n"
	  "  --grace DURATION     on SIGTERM, wait this long for running\n"
	  "                       executions (default 30s)\n"
	  "  --sync-timeout D     how long a sync request waits (default 30s)\n"
	  "  --queue-limit N      deliveries waiting before 503 (default 100000)\n"
	  "  --lease DURATION     how long a claimed delivery stays this\n"
	  "                       process's without renewal (default 30s)\n"
	  "  --max-connections N  connections open at once (default 1024)\n"
	  "  --max-connections-per-client N\n"
	  "                       from one client address (default 128)\n"
	  "  --header-timeout D   time for a request line and headers\n"
	  "                       (default 10s)\n"
	  "  --retain AGE         remove the data of executions that ended\n"
	  "                       longer ago (30d, 12h; default: keep all)\n"
	  "  --instance NAME      serve only this instance\n"
	  "  --set KEY=VALUE      override a config value (repeatable)\n"
	  "\n"
	  "The options with a value (but set) also come from the environment:\n"
	  "FLOWRUN_ and the name in capitals, - as _ (FLOWRUN_LISTEN,\n"
	  "FLOWRUN_WORKERS, FLOWRUN_QUEUE_LIMIT...); the command line wins.\n" },
	{ "show", cmd_show, "print one recorded execution's trace",
	  "usage: flowrun show EXECUTION [--as-test | --graph dot|mermaid]\n"
	  "                    [PATH...]\n"
	  "\n"
	  "EXECUTION may be any unique prefix of an id.\n"
	  "\n"
	  "  --as-test            print a test of the execution (flowrun-test(5))\n"
	  "                       instead, with the flows loaded from PATH\n"
	  "  --graph FORMAT       draw the flow (from PATH) with each step\n"
	  "                       coloured by what it did: ok, failed (with its\n"
	  "                       error), skipped or not reached\n" },
	{ "state", cmd_state, "show or change an instance's persisted state",
	  "usage: flowrun state [KEY] [--instance NAME | --all-instances]\n"
	  "                     [--integration NAME]\n"
	  "       flowrun state set KEY JSON|@FILE|- [--instance NAME]\n"
	  "                     [--integration NAME]\n"
	  "       flowrun state delete KEY [--instance NAME] [--integration NAME]\n"
	  "\n"
	  "Without KEY, lists every key of the instance (INTEGRATION/INSTANCE\n"
	  "KEY VALUE, a line each); with KEY, prints its value as JSON (exit 1\n"
	  "when it is not set).  set writes a JSON value, delete removes a\n"
	  "key.  A key named get, set or delete is read with 'state get KEY'.\n"
	  "\n"
	  "  --instance NAME      the instance (default: default)\n"
	  "  --all-instances      list the state of every instance\n"
	  "  --integration NAME   the integration; needed when several have\n"
	  "                       state for the instance (or it has none yet)\n" },
	{ "test", cmd_test, "run the flows' test files offline (*.test.yaml)",
	  "usage: flowrun test [PATH...] [--filter TEXT] [--junit FILE] [--coverage]\n"
	  "                    [--update] [--jobs N] [--json]\n"
	  "\n"
	  "Runs every test of every *.test.yaml under PATH (default: flows and\n"
	  "tests) offline, in parallel; prints one line per test, then each\n"
	  "failure with its diff and trace, then 'N passed, N failed'.  Exit 0\n"
	  "when all pass, 1 when any fails, 3 for invalid files.\n"
	  "\n"
	  "  --filter TEXT        only the tests whose name contains TEXT\n"
	  "  --junit FILE         also write JUnit XML to FILE\n"
	  "  --coverage           the steps and branch cases no test ran, per flow\n"
	  "  --update             rewrite expect.steps of failing tests with the\n"
	  "                       actual values\n"
	  "  --jobs N             run N tests at once (default: one per core)\n" },
	{ "undeploy", cmd_undeploy, "run the remove flows of each instance",
	  "usage: flowrun undeploy [PATH...] [--instance NAME | --all-instances]\n"
	  "                        [--set KEY=VALUE]... [--dry-run]\n"
	  "                        [--public-url URL]\n"
	  "\n"
	  "As deploy, with the flows whose trigger is remove.\n" },
	{ "validate", cmd_validate,
	  "check flow, connector and instance files; report every problem",
	  "usage: flowrun validate [PATH...] [--Werror] [--format text|json|github]\n"
	  "\n"
	  "PATH is a flow file or a directory of them (default: flows).\n"
	  "Problems are printed as FILE:LINE:COL: error: MESSAGE; the exit\n"
	  "status is 3 when there is any error, 0 otherwise.\n"
	  "\n"
	  "  --Werror           treat warnings as errors\n"
	  "  --format FORMAT    text (default), json (a list of {file, line,\n"
	  "                     column, severity, message, hint}; also --json)\n"
	  "                     or github (::error file=... annotations)\n" },
	{ "version", cmd_version,
	  "print the version of flowrun and of its libraries",
	  "usage: flowrun version [--json]\n" },
};

const size_t fr_ncommands = FR_ARRAY_LEN(fr_commands);

static const char common_usage[] =
	"\n"
	"Options every command takes:\n"
	"  --store URL        the store (default sqlite:.flowrun/flowrun.db;\n"
	"                     also FLOWRUN_STORE)\n"
	"  --connectors DIR   also look for connectors in DIR (repeatable;\n"
	"                     also FLOWRUN_CONNECTORS, colon-separated)\n"
	"  --json             machine-readable output on stdout\n"
	"  --log-format F     text or json\n"
	"  --color WHEN       auto, always or never (honours NO_COLOR)\n"
	"  -q, --quiet        print less\n"
	"  -v, --verbose      print more\n"
	"  -h, --help         show this help\n";

static size_t scan_options(const char *text, struct fr_cmd_option *out,
			   size_t n, size_t max)
{
	for (const char *p = text; (p = strstr(p, "--")) != NULL;) {
		size_t len = 0, i;
		bool value;
		p += 2;
		if (p - 2 > text && !strchr(" [|\t", p[-3]))
			continue;
		while (len < sizeof(out->name) - 1 &&
		       (isalnum((unsigned char)p[len]) || p[len] == '-'))
			len++;
		if (len == 0 || !isalpha((unsigned char)p[0]))
			continue;
		value = p[len] == ' ' && isupper((unsigned char)p[len + 1]);
		for (i = 0; i < n; i++) {
			if (strlen(out[i].name) == len &&
			    memcmp(out[i].name, p, len) == 0)
				break;
		}
		if (i == n) {
			if (n == max)
				return n;
			memcpy(out[n].name, p, len);
			out[n].name[len] = '\0';
			out[n].value = false;
			n++;
		}
		out[i].value |= value;
		p += len;
	}
	return n;
}

size_t fr_cmd_options(const struct fr_cmd *cmd, struct fr_cmd_option *out,
		      size_t max)
{
	size_t n = scan_options(cmd->usage, out, 0, max);

	return scan_options(common_usage, out, n, max);
}

char *fr_cmd_suggest(const char *name)
{
	const char *names[64];
	size_t n = 0;

	for (size_t i = 0; i < fr_ncommands && n < FR_ARRAY_LEN(names); i++)
		names[n++] = fr_commands[i].name;
	return fr_did_you_mean(name, names, n);
}

char **fr_cmd_argv;

/* "did you mean '--X'?" for the option getopt refused, or NULL. */
static char *suggest_option(const struct fr_cmd *cmd)
{
	struct fr_cmd_option o[64];
	const char *names[64], *arg, *best;
	size_t n, len;
	char *word, *hint;

	if (!fr_cmd_argv || optind < 1 || !(arg = fr_cmd_argv[optind - 1]) ||
	    strncmp(arg, "--", 2) != 0)
		return NULL;
	n = fr_cmd_options(cmd, o, FR_ARRAY_LEN(o));
	len = strcspn(arg + 2, "=");
	for (size_t i = 0; i < n; i++) {
		if (strlen(o[i].name) == len && memcmp(o[i].name, arg + 2, len) == 0)
			return NULL;	/* known: its value was missing */
		names[i] = o[i].name;
	}
	word = fr_xstrndup(arg + 2, len);
	best = fr_suggest(word, names, n);
	hint = best ? fr_xasprintf("did you mean '--%s'?", best) : NULL;
	free(word);
	return hint;
}

const struct fr_cmd *fr_cmd_find(const char *name)
{
	for (size_t i = 0; i < fr_ncommands; i++) {
		if (strcmp(fr_commands[i].name, name) == 0)
			return &fr_commands[i];
	}
	return NULL;
}

void fr_common_init(struct fr_common *c)
{
	const char *nc = getenv("NO_COLOR");

	memset(c, 0, sizeof(*c));
	c->store = getenv("FLOWRUN_STORE");
	if (!c->store || !*c->store)
		c->store = "sqlite:.flowrun/flowrun.db";
	c->color = nc && *nc ? 0 : -1;
	if (c->color < 0)
		c->color = isatty(STDOUT_FILENO) ? 1 : 0;
	fr_common_log(c, false);
}

void fr_common_log(const struct fr_common *c, bool timestamps)
{
	struct fr_log_opts o = { .verbosity = c->verbosity, .json = c->log_json,
				 .timestamps = timestamps };

	fr_log_setup(&o);
}

void fr_common_finish(struct fr_common *c)
{
	free(c->connector_dirs);
	c->connector_dirs = NULL;
}

int fr_usage_error(const struct fr_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flowrun %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'flowrun %s --help'\n", cmd->name);
	return FR_EXIT_USAGE;
}

int fr_common_option(struct fr_common *c, const struct fr_cmd *cmd, int opt,
		     const char *arg)
{
	switch (opt) {
	case FR_OPT_STORE: {
		char *err = NULL;
		if (fr_store_check_url(arg, &err) < 0) {
			int rc = fr_usage_error(cmd, "--store: %s", err);
			free(err);
			return rc;
		}
		c->store = arg;
		return -1;
	}
	case FR_OPT_CONNECTORS:
		c->connector_dirs = fr_xrealloc(c->connector_dirs,
			(c->nconnector_dirs + 1) * sizeof(*c->connector_dirs));
		c->connector_dirs[c->nconnector_dirs++] = arg;
		return -1;
	case FR_OPT_JSON:
		c->json = true;
		return -1;
	case FR_OPT_LOG_FORMAT:
		if (strcmp(arg, "json") == 0)
			c->log_json = true;
		else if (strcmp(arg, "text") == 0)
			c->log_json = false;
		else
			return fr_usage_error(cmd, "--log-format must be text or json");
		fr_common_log(c, false);
		return -1;
	case FR_OPT_COLOR:
		if (strcmp(arg, "always") == 0)
			c->color = 1;
		else if (strcmp(arg, "never") == 0)
			c->color = 0;
		else if (strcmp(arg, "auto") == 0)
			c->color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
		else
			return fr_usage_error(cmd, "--color must be auto, always or never");
		return -1;
	case 'h':
	case FR_OPT_HELP:
		fputs(cmd->usage, stdout);
		fputs(common_usage, stdout);
		return FR_EXIT_OK;
	case 'q':
		c->verbosity = -1;
		fr_common_log(c, false);
		return -1;
	case 'v':
		c->verbosity++;
		fr_common_log(c, false);
		return -1;
	default: {	/* getopt printed the problem */
		char *hint = suggest_option(cmd);
		if (hint)
			fprintf(stderr, "flowrun %s: %s\n", cmd->name, hint);
		free(hint);
		fprintf(stderr, "see 'flowrun %s --help'\n", cmd->name);
		return FR_EXIT_USAGE;
	}
	}
}

int fr_common_load(struct fr_project **out, const struct fr_common *c,
		   char **paths, size_t n, struct fr_diag *d)
{
	struct fr_load_opts opts = {
		.connector_dirs = c->connector_dirs,
		.nconnector_dirs = c->nconnector_dirs,
	};

	return fr_project_load(out, (const char *const *)paths, n, &opts, d);
}

/* JSON from "JSON", "@FILE" or "-" (stdin); NULL after printing why. */
json_t *fr_json_arg(const char *cmd, const char *what, const char *arg)
{
	json_error_t e;
	json_t *j;

	if (strcmp(arg, "-") == 0)
		j = json_loadf(stdin, JSON_DECODE_ANY, &e);
	else if (arg[0] == '@')
		j = json_load_file(arg + 1, JSON_DECODE_ANY, &e);
	else
		j = json_loads(arg, JSON_DECODE_ANY, &e);
	if (!j) {
		if ((arg[0] == '@' || strcmp(arg, "-") == 0) && e.line < 1)
			fprintf(stderr, "flowrun %s: %s: %s\n", cmd, what, e.text);
		else if (arg[0] == '@' || strcmp(arg, "-") == 0)
			fprintf(stderr, "flowrun %s: %s: %s:%d:%d: %s\n", cmd,
				what,
				arg[0] == '@' ? arg + 1 : "<stdin>", e.line,
				e.column, e.text);
		else
			fprintf(stderr, "flowrun %s: %s is not JSON: %s (column %d)\n",
				cmd, what, e.text, e.column);
	}
	return j;
}

/* Indented; doubles without binary noise (4.881, not 4.8810789999999997). */
void fr_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(12) |
				JSON_ENCODE_ANY);

	puts(s ? s : "null");
	free(s);
}

int fr_common_store(struct fr_store **out, const struct fr_common *c)
{
	char *err = NULL;

	if (fr_store_open(out, c->store, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		return -1;
	}
	return 0;
}
