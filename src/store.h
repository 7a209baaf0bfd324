/*
 * store: executions, traces, state, deployments and the delivery queue.
 * The only module that includes <sqlite3.h>.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

/* SQLite's version, e.g. "3.40.1" */
const char *fr_store_sqlite_version(void);

#endif
