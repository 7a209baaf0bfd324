/*
 * diag: source files and located diagnostics.
 *
 * A struct fr_source holds one file's text and is shared by everything that
 * points into it (refcounted: fr_source_ref / fr_source_unref).  A struct
 * fr_loc is a borrowed pointer to its source plus a 1-based line and column;
 * line 0 means "no position".
 *
 * Diagnostics are printed as compilers print them:
 *
 *     flows/a.yaml:4:11: error: unknown connection 'htp'
 *           uses: htp.get
 *                 ^
 *
 * and counted, so a command can report every problem and then decide its exit
 * status from d->nerrors.
 */
#ifndef FR_DIAG_H
#define FR_DIAG_H

#include <stdio.h>

#define FR_SOURCE_MARK_LINES 64

struct fr_source {
	char *path;
	char *text;		/* NUL-terminated; may hold NULs before len */
	size_t len;
	int refs;
	/* offsets of lines 1, 1 + 64, 1 + 128, ... (NULL: scan from the top) */
	size_t *marks;
	size_t nmarks;
};

struct fr_loc {
	const struct fr_source *src;
	unsigned line, col;
};

enum fr_severity { FR_ERROR, FR_WARNING, FR_NOTE };

/*
 * How fr_diag_flush prints: the compiler-like text above; GitHub Actions
 * workflow commands (::error file=F,line=L,col=C::MESSAGE; HINT); or, for
 * JSON, nothing: the diagnostics are collected as a JSON array of {file,
 * line, column, severity, message, hint} (null where there is none) for
 * fr_diag_take_json.  The text and GitHub forms stop after d->max.
 */
enum fr_diag_format { FR_DIAG_TEXT, FR_DIAG_JSON, FR_DIAG_GITHUB };

struct fr_diag_entry;

struct fr_diag {
	FILE *out;
	unsigned nerrors, nwarnings;
	unsigned max;		/* stop printing after this many; 0 = no cap */
	struct fr_diag_entry *held;	/* waiting for fr_diag_flush */
	size_t nheld, held_cap;
	enum fr_diag_format format;	/* FR_DIAG_TEXT after fr_diag_init */
	struct json_t *json;		/* FR_DIAG_JSON: flushed so far */
};

/* Takes ownership of text (malloc'd, NUL-terminated). */
struct fr_source *fr_source_create(const char *path, char *text, size_t len);
struct fr_source *fr_source_ref(struct fr_source *src);
void fr_source_unref(struct fr_source *src);

void fr_diag_init(struct fr_diag *d, FILE *out);

/*
 * Diagnostics are held and printed by fr_diag_flush, sorted by file, line
 * and column (those without a position first), so that a file's problems
 * read top to bottom whichever check found them.  Flushing also frees them;
 * fr_diag_flush must be called before the diag goes out of scope.
 */
void fr_diag_flush(struct fr_diag *d);

/*
 * FR_DIAG_JSON: the array of everything flushed so far (a new reference;
 * an empty array when there was nothing); the diag starts a new one.
 */
struct json_t *fr_diag_take_json(struct fr_diag *d);

void fr_diag_at(struct fr_diag *d, enum fr_severity sev,
		const struct fr_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * fr_diag_at with a hint on how to fix it (NULL: none), e.g. the "did you
 * mean 'X'?" of fr_did_you_mean; text output prints "MESSAGE; HINT".
 */
void fr_diag_hint(struct fr_diag *d, enum fr_severity sev,
		  const struct fr_loc *loc, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A diagnostic with no position: "flowrun: error: ..." */
void fr_diag(struct fr_diag *d, enum fr_severity sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
