/* flowrun: run integrations between SaaS applications, from YAML files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "serve_child.h"

int main(int argc, char **argv)
{
	const struct fr_cmd *cmd;
	char name[64];
	int rc;

	if (argc < 2) {
		fputs("usage: flowrun COMMAND [OPTIONS] [ARGS]\n"
		      "see 'flowrun help'\n", stderr);
		return FR_EXIT_USAGE;
	}
	/* serve's worker processes (not a user's command) */
	if (argc == 2 && strcmp(argv[1], "__worker") == 0)
		return fr_serve_child_main();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		argv[1] = "help";
	else if (strcmp(argv[1], "--version") == 0)
		argv[1] = "version";
	cmd = fr_cmd_find(argv[1]);
	if (!cmd) {
		char *hint = fr_cmd_suggest(argv[1]);
		fprintf(stderr, "flowrun: '%s' is not a command; %s%ssee 'flowrun "
			"help'\n", argv[1], hint ? hint : "", hint ? " " : "");
		free(hint);
		return FR_EXIT_USAGE;
	}
	/* getopt names the program in its messages: "flowrun run: ..." */
	snprintf(name, sizeof(name), "flowrun %s", cmd->name);
	argv[1] = name;
	fr_cmd_argv = argv + 1;
	rc = cmd->fn(argc - 1, argv + 1);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("flowrun: error writing standard output");
		return FR_EXIT_SYSTEM;
	}
	return rc;
}
