#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "crypto.h"
#include "json.h"
#include "http.h"
#include "server.h"
#include "store.h"
#include "ydoc.h"

int cmd_version(int argc, char **argv)
{
	static const struct option options[] = { FR_COMMON_OPTIONS, { 0 } };
	const struct fr_cmd *cmd = fr_cmd_find("version");
	struct fr_common common;
	int opt, rc = -1;
	const char *names[] = { "libcurl", "jansson", "libyaml", "libjq",
				"libmicrohttpd", "sqlite", "libcrypto" };
	const char *versions[] = { fr_http_curl_version(), jansson_version_str(),
				   fr_yaml_version(), FR_LIBJQ_VERSION,
				   fr_server_mhd_version(),
				   fr_store_sqlite_version(),
				   fr_crypto_version() };

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1)
		rc = fr_common_option(&common, cmd, opt, optarg);
	if (rc < 0 && optind < argc)
		rc = fr_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (rc >= 0) {
		fr_common_finish(&common);
		return rc;
	}
	if (common.json) {
		json_t *j = json_object(), *libs = json_object();
		json_object_set_new(j, "flowrun", json_string(FLOWRUN_VERSION));
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			json_object_set_new(libs, names[i], json_string(versions[i]));
		json_object_set_new(j, "libraries", libs);
		fr_print_json(j);
		json_decref(j);
	} else {
		printf("flowrun %s\n", FLOWRUN_VERSION);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			printf("  %-14s %s\n", names[i], versions[i]);
	}
	fr_common_finish(&common);
	return FR_EXIT_OK;
}
