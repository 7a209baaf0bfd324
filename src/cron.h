/*
 * cron: five-field cron expressions (minute hour day-of-month month
 * day-of-week), evaluated in UTC.  Fields take '*', numbers, ranges 'a-b',
 * steps '*' '/n' and 'a-b/n', lists 'a,b', month names JAN-DEC and day names
 * SUN-SAT; day-of-week 7 is Sunday too.  When both day fields are
 * restricted, a day matches either (as in Vixie cron).
 */
#ifndef FR_CRON_H
#define FR_CRON_H

#include <time.h>

#include "model.h"

/* Returns 0, or -1 with a message in *err (caller frees). */
int fr_cron_parse(struct fr_cron *out, const char *text, char **err);

/* The first matching minute strictly after t (UTC), or -1 within 5 years. */
time_t fr_cron_next(const struct fr_cron *c, time_t t);

#endif
