/*
 * completion: shell completion scripts for bash, zsh and fish, made from the
 * command table and each command's options (fr_cmd_options), so that they
 * cannot drift from the program.  They complete command names, long options
 * per command, the words of completion itself, and otherwise files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

#define MAX_OPTIONS 64

static const char *const shells[] = { "bash", "zsh", "fish" };

/* s with ' written as '\'' for a single-quoted shell word. */
static void put_quoted(const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
}

static void put_options(const struct fr_cmd *cmd)
{
	struct fr_cmd_option o[MAX_OPTIONS];
	size_t n = fr_cmd_options(cmd, o, MAX_OPTIONS);

	for (size_t i = 0; i < n; i++)
		printf("%s--%s", i ? " " : "", o[i].name);
}

static void bash(void)
{
	fputs("# bash completion for flowrun: made by 'flowrun completion bash'\n"
	      "_flowrun() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} opts=\n"
	      "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W '", stdout);
	for (size_t i = 0; i < fr_ncommands; i++)
		printf("%s%s", i ? " " : "", fr_commands[i].name);
	fputs("' -- \"$cur\"))\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tcase ${COMP_WORDS[1]} in\n", stdout);
	for (size_t i = 0; i < fr_ncommands; i++) {
		printf("\t%s) opts='", fr_commands[i].name);
		put_options(&fr_commands[i]);
		fputs("' ;;\n", stdout);
	}
	fputs("\tesac\n"
	      "\tif [ \"${COMP_WORDS[1]}\" = completion ] && [ \"$COMP_CWORD\" -eq 2 ] &&\n"
	      "\t   [ \"${cur#-}\" = \"$cur\" ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W 'bash zsh fish' -- \"$cur\"))\n"
	      "\telif [ \"${cur#-}\" != \"$cur\" ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
	      "\telse\n"
	      "\t\tCOMPREPLY=()\t# -o default: file names\n"
	      "\tfi\n"
	      "}\n"
	      "complete -o default -F _flowrun flowrun\n", stdout);
}

static void zsh(void)
{
	fputs("#compdef flowrun\n"
	      "# zsh completion for flowrun: made by 'flowrun completion zsh'\n"
	      "_flowrun() {\n"
	      "\tlocal -a commands opts\n"
	      "\tcommands=(\n", stdout);
	for (size_t i = 0; i < fr_ncommands; i++) {
		printf("\t\t'%s:", fr_commands[i].name);
		put_quoted(fr_commands[i].summary);
		fputs("'\n", stdout);
	}
	fputs("\t)\n"
	      "\tif (( CURRENT == 2 )); then\n"
	      "\t\t_describe 'command' commands\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tcase $words[2] in\n", stdout);
	for (size_t i = 0; i < fr_ncommands; i++) {
		printf("\t%s) opts=(", fr_commands[i].name);
		put_options(&fr_commands[i]);
		fputs(") ;;\n", stdout);
	}
	fputs("\tesac\n"
	      "\tif [[ $words[2] == completion && CURRENT -eq 3 && $PREFIX != -* ]]; then\n"
	      "\t\tcompadd bash zsh fish\n"
	      "\telif [[ $PREFIX == -* ]]; then\n"
	      "\t\tcompadd -- $opts\n"
	      "\telse\n"
	      "\t\t_files\n"
	      "\tfi\n"
	      "}\n"
	      "if [[ $funcstack[1] == _flowrun ]]; then\n"
	      "\t_flowrun \"$@\"\n"
	      "else\n"
	      "\tcompdef _flowrun flowrun\n"
	      "fi\n", stdout);
}

static void fish(void)
{
	fputs("# fish completion for flowrun: made by 'flowrun completion fish'\n"
	      "complete -c flowrun -e\n", stdout);
	for (size_t i = 0; i < fr_ncommands; i++) {
		printf("complete -c flowrun -f -n __fish_use_subcommand -a %s -d '",
		       fr_commands[i].name);
		put_quoted(fr_commands[i].summary);
		fputs("'\n", stdout);
	}
	for (size_t i = 0; i < fr_ncommands; i++) {
		struct fr_cmd_option o[MAX_OPTIONS];
		size_t n = fr_cmd_options(&fr_commands[i], o, MAX_OPTIONS);
		for (size_t j = 0; j < n; j++)
			printf("complete -c flowrun -n '__fish_seen_subcommand_from "
			       "%s' -l %s%s\n", fr_commands[i].name, o[j].name,
			       o[j].value ? " -r" : "");
	}
	fputs("complete -c flowrun -f -n '__fish_seen_subcommand_from completion' "
	      "-a 'bash zsh fish'\n", stdout);
}

int cmd_completion(int argc, char **argv)
{
	static const struct option options[] = { FR_COMMON_OPTIONS, { 0 } };
	const struct fr_cmd *cmd = fr_cmd_find("completion");
	struct fr_common common;
	int opt, rc = -1;
	size_t shell;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1)
		rc = fr_common_option(&common, cmd, opt, optarg);
	if (rc >= 0)
		goto out;
	if (argc - optind != 1) {
		rc = fr_usage_error(cmd, "give one shell: bash, zsh or fish");
		goto out;
	}
	for (shell = 0; shell < FR_ARRAY_LEN(shells); shell++) {
		if (strcmp(argv[optind], shells[shell]) == 0)
			break;
	}
	if (shell == FR_ARRAY_LEN(shells)) {
		char *hint = fr_did_you_mean(argv[optind], shells, FR_ARRAY_LEN(shells));
		rc = fr_usage_error(cmd, "no completion for '%s': bash, zsh or fish%s%s",
				    argv[optind], hint ? "; " : "", hint ? hint : "");
		free(hint);
		goto out;
	}
	if (shell == 0)
		bash();
	else if (shell == 1)
		zsh();
	else
		fish();
	rc = FR_EXIT_OK;
out:
	fr_common_finish(&common);
	return rc;
}
