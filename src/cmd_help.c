#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int cmd_help(int argc, char **argv)
{
	const struct fr_cmd *cmd;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(fr_cmd_find("help")->usage, stdout);
		return FR_EXIT_OK;
	}
	if (argc > 1) {
		cmd = fr_cmd_find(argv[1]);
		if (!cmd) {
			char *hint = fr_cmd_suggest(argv[1]);
			fprintf(stderr, "flowrun: '%s' is not a command; %s%ssee "
					"'flowrun help'\n", argv[1], hint ? hint : "",
				hint ? " " : "");
			free(hint);
			return FR_EXIT_USAGE;
		}
		char *args[] = { (char *)cmd->name, "--help", NULL };
		return cmd->fn(2, args);
	}
	puts("usage: flowrun COMMAND [OPTIONS] [ARGS]\n\ncommands:");
	for (size_t i = 0; i < fr_ncommands; i++)
		printf("  %-11s %s\n", fr_commands[i].name, fr_commands[i].summary);
	puts("\n'flowrun help COMMAND' or 'flowrun COMMAND --help' shows a "
	     "command's options;\n'man flowrun' documents everything.");
	return FR_EXIT_OK;
}
