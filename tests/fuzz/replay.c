/*
 * replay: runs a fuzz target's LLVMFuzzerTestOneInput once on each file
 * given (or each file of each directory given), without libFuzzer, so the
 * committed corpora are regression tests in every build.  Prints TAP.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void one(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, k;

	if (!f) {
		printf("not ok %d - %s: cannot open\n", ++n, path);
		return;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		k = fread(buf + len, 1, cap - len, f);
		len += k;
	} while (k > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %d - %s\n", ++n, path);
	fflush(stdout);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *dir = opendir(argv[i]);
			struct dirent *e;
			char **names = NULL;
			size_t nn = 0;
			while (dir && (e = readdir(dir))) {
				if (e->d_name[0] == '.')
					continue;
				names = realloc(names, (nn + 1) * sizeof(*names));
				if (!names)
					abort();
				names[nn] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
				sprintf(names[nn++], "%s/%s", argv[i], e->d_name);
			}
			if (dir)
				closedir(dir);
			qsort(names, nn, sizeof(*names), by_name);
			for (size_t k = 0; k < nn; k++) {
				one(names[k]);
				free(names[k]);
			}
			free(names);
		} else {
			one(argv[i]);
		}
	}
	printf("1..%d\n", n);
	return n == 0;
}
