/* fuzz_cron: five-field cron expressions (src/cron.c), parsed, then run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fr_xmalloc(size + 1), *err = NULL;
	struct fr_cron c;

	memcpy(text, data, size);
	text[size] = '\0';
	if (fr_cron_parse(&c, text, &err) == 0) {
		time_t t = 1700000000;	/* 2023-11-14 */
		for (int i = 0; i < 3 && t >= 0; i++)
			t = fr_cron_next(&c, t);
	}
	free(err);
	free(text);
	return 0;
}
