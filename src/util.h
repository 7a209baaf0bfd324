/*
 * util: allocation that cannot fail, a growable string buffer, file reading.
 *
 * fr_xmalloc and friends abort the process with a message when memory runs
 * out (as jq and Redis do): no caller checks for NULL.
 *
 * struct fr_buf is embedded by its owner: fr_buf_init, then appends, then
 * fr_buf_finish (or fr_buf_steal to keep the string).  The data is always
 * NUL-terminated once anything was appended or fr_buf_cstr was called.
 */
#ifndef FR_UTIL_H
#define FR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of every command (flowrun(1), EXIT STATUS). */
enum fr_exit {
	FR_EXIT_OK = 0,
	FR_EXIT_FAILED = 1,	/* an execution failed */
	FR_EXIT_USAGE = 2,
	FR_EXIT_INVALID = 3,	/* invalid files */
	FR_EXIT_CONFIG = 4,	/* missing or invalid configuration */
	FR_EXIT_SYSTEM = 5,	/* store or I/O error */
};

#define FR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Called (when set) before an allocation failure aborts; may not return. */
extern void (*fr_oom_hook)(void);
/* An allocation of n bytes (0: unknown) failed: the hook, a message, abort. */
_Noreturn void fr_out_of_memory(size_t n);
void *fr_xmalloc(size_t n);
void *fr_xcalloc(size_t n, size_t size);
void *fr_xrealloc(void *p, size_t n);
char *fr_xstrdup(const char *s);
char *fr_xstrndup(const char *s, size_t n);
char *fr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *items (of `size` bytes each) so that it holds at least `need`. */
void fr_grow(void *items, size_t *cap, size_t need, size_t size);

struct fr_buf {
	char *data;
	size_t len, cap;
};

void fr_buf_init(struct fr_buf *b);
void fr_buf_finish(struct fr_buf *b);
void fr_buf_add(struct fr_buf *b, const void *data, size_t len);
void fr_buf_puts(struct fr_buf *b, const char *s);
void fr_buf_putc(struct fr_buf *b, char c);
void fr_buf_printf(struct fr_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fr_buf_vprintf(struct fr_buf *b, const char *fmt, va_list ap);
const char *fr_buf_cstr(struct fr_buf *b);
/* Returns the string (caller frees) and leaves the buffer empty. */
char *fr_buf_steal(struct fr_buf *b);

/*
 * Reads a whole file into *out (NUL-terminated, caller frees) and its length
 * into *len.  Files larger than max bytes are refused.  Returns 0, or -1 with
 * a message in *err (caller frees) that does not repeat the path.
 */
int fr_read_file(char **out, size_t *len, const char *path, size_t max,
		 char **err);

/*
 * A copy of s (caller frees) that is safe on one line of a log or a
 * terminal: \n, \r and \t become those two-character escapes, every other
 * C0 control character and DEL becomes \xNN.  Text from data (a body, a
 * response, an error that quotes one) cannot start a line of its own, nor
 * move the cursor or change colours.
 */
char *fr_escape_controls(const char *s);

/*
 * A new id (caller frees): prefix, the time in ms (12 hex digits), then 64
 * random bits (16 hex digits).  Ids made later sort later, so the store's
 * indexes on them grow at one end instead of touching a random page each.
 * Ids are names, not credentials (nothing accepts one as proof of
 * anything), so they need uniqueness, not secrecy: the bits come from
 * getrandom(2), which is the kernel's CSPRNG all the same.
 */
char *fr_new_id(const char *prefix);

/* Monotonic clock in nanoseconds. */
uint64_t fr_now_ns(void);

/* Parses "250ms", "10s", "5m", "1h" into milliseconds; -1 when invalid. */
int64_t fr_parse_duration_ms(const char *s);
/* A size: bytes, or a whole number with KiB, MiB, GiB, KB, MB, GB (B:
 * bytes); -1 when s is none. */
int64_t fr_parse_size(const char *s);
/* The same, and days ("30d"): an age, for retention. */
int64_t fr_parse_age_ms(const char *s);

/* The value of a hex digit (either case), or -1. */
int fr_hex_digit(char c);

/* Levenshtein distance, capped: returns a value > max when it exceeds it. */
size_t fr_edit_distance(const char *a, const char *b, size_t max);

/*
 * The candidate closest to word (edit distance 1 for words under four
 * letters, 2 otherwise; the first on a tie), or NULL when none is close.
 */
const char *fr_suggest(const char *word, const char *const *candidates,
		       size_t n);

/*
 * The "did you mean" hint every unknown name gets: "did you mean 'X'?" for
 * fr_suggest's choice (caller frees), or NULL.
 */
char *fr_did_you_mean(const char *word, const char *const *candidates,
		      size_t n);

#endif
