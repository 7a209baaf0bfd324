/* util: durations, edit distance, fr_buf, fr_read_file and its size cap */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static void durations(void)
{
	static const struct {
		const char *text;
		long long ms;
	} good[] = {
		{ "250ms", 250 },
		{ "10s", 10000 },
		{ "5m", 300000 },
		{ "1h", 3600000 },
		{ "0s", 0 },
		{ "0ms", 0 },
		{ "007s", 7000 },
		{ "100000000ms", 100000000 },
		{ "100000000h", 100000000LL * 3600000 },
	};
	static const char *const bad[] = {
		"", "10", "ms", "s", "10 s", " 10s", "10s ", "-1s", "+5s",
		"1.5s", "10S", "10MS", "10sec", "10ss", "1h30m", "1d", "0x10s",
		"100000001ms", "99999999999999999999s", "1e3ms", "\t5m",
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(good); i++)
		is_int(fr_parse_duration_ms(good[i].text), good[i].ms,
		       "duration '%s'", good[i].text);
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++)
		is_int(fr_parse_duration_ms(bad[i]), -1,
		       "invalid duration '%s' refused", bad[i]);
	is_int(fr_parse_duration_ms(NULL), -1, "NULL duration refused");
}

static void edit_distance(void)
{
	char a[80], b[80];

	is_int(fr_edit_distance("timeout", "timeout", 2), 0, "equal: 0");
	is_int(fr_edit_distance("", "", 2), 0, "two empty strings: 0");
	is_int(fr_edit_distance("", "abc", 5), 3, "from empty: length");
	is_int(fr_edit_distance("abc", "", 5), 3, "to empty: length");
	is_int(fr_edit_distance("kitten", "sitting", 5), 3, "kitten/sitting: 3");
	is_int(fr_edit_distance("sitting", "kitten", 5), 3, "symmetric");
	is_int(fr_edit_distance("tmeout", "timeout", 2), 1, "one insertion");
	is_int(fr_edit_distance("timeoutt", "timeout", 2), 1, "one deletion");
	is_int(fr_edit_distance("timeout", "tymeout", 2), 1, "one substitution");
	is_int(fr_edit_distance("tiemout", "timeout", 2), 2,
	       "a transposition costs two (Levenshtein)");
	is_int(fr_edit_distance("flaws", "lawn", 3), 2, "flaws/lawn: 2");
	ok(fr_edit_distance("abc", "xyz", 1) > 1,
	   "over the cap: more than max");
	is_int(fr_edit_distance("abc", "xyz", 3), 3, "at the cap: exact");
	ok(fr_edit_distance("a", "abcdef", 2) > 2,
	   "length difference over the cap: more than max");
	ok(fr_edit_distance("actoin", "transform", 2) > 2,
	   "unrelated words exceed a small cap");
	memset(a, 'x', 70);
	a[70] = '\0';
	memset(b, 'x', 70);
	b[69] = 'y';
	b[70] = '\0';
	ok(fr_edit_distance(a, b, 2) > 2, "very long words are not compared");
	is_int(fr_edit_distance("Steps", "steps", 2), 1, "case matters");
}

static void buffers(void)
{
	struct fr_buf b;
	char *s;

	fr_buf_init(&b);
	is_int(b.len, 0, "new buffer is empty");
	is_str(fr_buf_cstr(&b), "", "cstr of an empty buffer is \"\"");
	fr_buf_puts(&b, "key");
	fr_buf_putc(&b, '=');
	fr_buf_printf(&b, "%d/%s", 42, "x");
	is_str(fr_buf_cstr(&b), "key=42/x", "puts, putc, printf append");
	is_int(b.len, 8, "length counts the bytes");
	fr_buf_add(&b, "a\0b", 3);
	is_int(b.len, 11, "add keeps NUL bytes");
	ok(memcmp(b.data + 8, "a\0b", 4) == 0, "NUL-terminated after add");
	s = fr_buf_steal(&b);
	ok(memcmp(s, "key=42/xa\0b", 12) == 0, "steal returns the data");
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "steal empties the buffer");
	free(s);

	fr_buf_init(&b);
	for (int i = 0; i < 10000; i++)
		fr_buf_printf(&b, "%04d", i);
	is_int(b.len, 40000, "grows over many appends");
	ok(memcmp(b.data + 39996, "9999", 5) == 0, "last append at the end");
	ok(b.cap > b.len, "capacity leaves room for the NUL");
	fr_buf_finish(&b);
	ok(b.data == NULL && b.len == 0, "finish empties the buffer");

	s = fr_xasprintf("%s-%03d", "id", 7);
	is_str(s, "id-007", "fr_xasprintf");
	free(s);
	s = fr_xstrndup("abcdef", 3);
	is_str(s, "abc", "fr_xstrndup cuts");
	free(s);
}

static char *write_temp(const char *dir, const char *name, const char *data,
			size_t len)
{
	char *path = fr_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
	return path;
}

static void read_files(void)
{
	char dir[] = "/tmp/test_util.XXXXXX";
	char *path, *small, *empty, *out = NULL, *err = NULL;
	size_t len = 99;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	small = write_temp(dir, "small.yaml", "a: 1\n\0b\n", 8);
	empty = write_temp(dir, "empty.yaml", "", 0);

	is_int(fr_read_file(&out, &len, small, 1024, &err), 0, "reads a file");
	is_int(len, 8, "length includes NUL bytes");
	ok(out && memcmp(out, "a: 1\n\0b\n", 9) == 0,
	   "content kept and NUL-terminated");
	ok(err == NULL, "no message on success");
	free(out);

	is_int(fr_read_file(&out, &len, small, 8, &err), 0,
	       "a file of exactly the cap is read");
	free(out);

	is_int(fr_read_file(&out, &len, small, 7, &err), -1,
	       "a file over the cap is refused");
	ok(out == NULL && len == 0, "nothing returned when refused");
	is_str(err, "file too large (8 bytes; the limit is 7)",
	       "message gives the size and the limit");
	ok(err && !strstr(err, small), "message does not repeat the path");
	free(err);

	is_int(fr_read_file(&out, &len, "/dev/zero", 100000, &err), -1,
	       "an endless stream is cut at the cap");
	is_str(err, "file too large (the limit is 100000 bytes)",
	       "stream message gives the limit");
	free(err);

	is_int(fr_read_file(&out, &len, empty, 10, &err), 0, "empty file");
	ok(out && out[0] == '\0' && len == 0, "empty file gives \"\"");
	free(out);

	path = fr_xasprintf("%s/missing.yaml", dir);
	is_int(fr_read_file(&out, &len, path, 10, &err), -1, "missing file");
	is_str(err, "cannot open: No such file or directory",
	       "missing file message");
	free(err);

	is_int(fr_read_file(&out, &len, dir, 10, &err), -1, "directory refused");
	is_str(err, "is a directory", "directory message");
	free(err);

	unlink(small);
	unlink(empty);
	rmdir(dir);
	free(small);
	free(empty);
	free(path);
}

#define ESC_IS(in, want, name)                                               \
	do {                                                                 \
		char *e_ = fr_escape_controls(in);                           \
		is_str(e_, want, name);                                      \
		free(e_);                                                    \
	} while (0)

static void escapes(void)
{
	ESC_IS("plain text, caf\xc3\xa9", "plain text, caf\xc3\xa9", "nothing to escape");
	ESC_IS("", "", "empty");
	ESC_IS("a\nflowrun: error: forged", "a\\nflowrun: error: forged",
	       "a newline cannot start a line");
	ESC_IS("a\r\nb\tc", "a\\r\\nb\\tc", "\\r, \\n and \\t");
	ESC_IS("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m", "terminal escapes");
	ESC_IS("\x01\x1f\x7f end", "\\x01\\x1f\\x7f end", "other C0 controls and DEL");
	ESC_IS("back\\slash", "back\\slash", "a backslash stays");
}

int main(void)
{
	durations();
	edit_distance();
	buffers();
	read_files();
	escapes();
	return done_testing();
}
