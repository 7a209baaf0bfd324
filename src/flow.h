/*
 * flow: loads an integration (a flow file) into the model, checking its
 * shape and compiling its expressions into the project's jq batch.
 * References to connectors and actions are resolved later, by project.c,
 * once every connector is loaded.
 */
#ifndef FR_FLOW_H
#define FR_FLOW_H

#include "jqx.h"
#include "model.h"
#include "ydoc.h"

/*
 * Builds *out from doc.  Problems go to d; the integration is built as far
 * as it can be, so later checks can still run.  Returns 0, or -1 when the
 * document is not an integration at all (*out is NULL then).
 */
int fr_integration_load(struct fr_integration **out, const struct fr_ydoc *doc,
			struct fr_jqx_prog *prog, struct fr_diag *d);
void fr_integration_destroy(struct fr_integration *in);

void fr_steps_finish(struct fr_steps *steps);

/* Calls fn for every step, depth first, in file order. */
void fr_steps_walk(const struct fr_steps *steps,
		   void (*fn)(const struct fr_step *s, void *data), void *data);

#endif
