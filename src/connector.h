/*
 * connector: loads connector files (connectors/NAME.yaml) into the model.
 * See flowrun-connector(5).  Expressions compile into the project's batch.
 */
#ifndef FR_CONNECTOR_H
#define FR_CONNECTOR_H

#include "jqx.h"
#include "model.h"
#include "ydoc.h"

/* Returns 0, or -1 when doc is no connector at all (*out NULL then). */
int fr_connector_load(struct fr_connector **out, const struct fr_ydoc *doc,
		      struct fr_jqx_prog *prog, struct fr_diag *d);

/* The built-in `http` connector, with its one action `request`. */
struct fr_connector *fr_connector_builtin_http(void);

void fr_connector_destroy(struct fr_connector *c);

#endif
