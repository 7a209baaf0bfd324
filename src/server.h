/*
 * server: the webhook server of `flowrun serve`.  The only module that
 * includes <microhttpd.h>.
 */
#ifndef FR_SERVER_H
#define FR_SERVER_H

/* libmicrohttpd's version, e.g. "0.9.75" */
const char *fr_server_mhd_version(void);

#endif
