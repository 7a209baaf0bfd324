/*
 * schema: checks the shape of YAML nodes against what a file format expects,
 * reporting each problem at its node and going on, so that one pass reports
 * everything.  Used by the flow, connector and instance loaders.
 *
 * Every function returns false (or NULL) after reporting, and true (or the
 * value) when the node has the wanted shape.  `what` names the key or item
 * in messages ("'timeout'").
 */
#ifndef FR_SCHEMA_H
#define FR_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "ydoc.h"

/*
 * Reports keys of map not in known (NULL-terminated), with a "did you mean"
 * hint; context names the mapping ("step", "connector").
 */
void fr_schema_keys(struct fr_diag *d, const struct fr_ynode *map,
		    const char *const *known, const char *context);

bool fr_schema_is_map(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what);
bool fr_schema_is_seq(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what);
/* A string scalar (any scalar that is not null) */
const char *fr_schema_string(struct fr_diag *d, const struct fr_ynode *n,
			     const char *what);
bool fr_schema_bool(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what, bool *out);
bool fr_schema_int(struct fr_diag *d, const struct fr_ynode *n,
		   const char *what, long long min, long long max, long long *out);
bool fr_schema_number(struct fr_diag *d, const struct fr_ynode *n,
		      const char *what, double *out);
bool fr_schema_duration(struct fr_diag *d, const struct fr_ynode *n,
			const char *what, int64_t *out_ms);
/* Size like 1MiB, 512KiB, 1000 (bytes) */
bool fr_schema_size(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what, size_t *out);
/* A name matching [a-z0-9][a-z0-9_-]* */
bool fr_schema_name(struct fr_diag *d, const struct fr_ynode *n,
		    const char *what);
/* Requires key in map; reports "missing 'key'" at the map. */
const struct fr_ynode *fr_schema_require(struct fr_diag *d,
					 const struct fr_ynode *map,
					 const char *key, const char *context);

#endif
