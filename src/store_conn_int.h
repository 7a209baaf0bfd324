/*
 * store_conn_int: the rows of connections (OAuth 2.0 tokens, pending
 * authorizations) as backends keep them, private to store_conn.c, which
 * seals and opens them, and the backends' store_*_conn.c files.  Members
 * are owned by the row (fr_token_row_finish / fr_pending_row_finish).
 */
#ifndef FR_STORE_CONN_INT_H
#define FR_STORE_CONN_INT_H

#include <stddef.h>

#include "store.h"

struct fr_token_row {
	char *integration, *instance, *connection;
	enum fr_conn_status status;
	double expires_at;	/* 0: not said */
	char *scopes;		/* or NULL */
	double updated_at;	/* set by the backend on write */
	unsigned char *sealed;	/* the tokens sealed; NULL: none */
	size_t sealed_len;
};

struct fr_pending_row {
	char *state;
	char *integration, *instance, *connection;
	char *redirect_uri;	/* or NULL */
	double expires_at;
	unsigned char *sealed;	/* the verifier sealed; NULL: none */
	size_t sealed_len;
};

void fr_token_row_finish(struct fr_token_row *r);
void fr_token_rows_free(struct fr_token_row *r, size_t n);
void fr_pending_row_finish(struct fr_pending_row *r);

/* The words the backends store for a status. */
const char *fr_conn_status_word(enum fr_conn_status s);
enum fr_conn_status fr_conn_status_of_word(const char *word);

#endif
