/* serve_world: the loaded files and their routes (see serve_world.h). */
#include "serve_world.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "expr.h"
#include "json.h"
#include "jqx.h"
#include "util.h"

const int serve_counted[SERVE_NCOUNTED] = {
	200, 202, 400, 401, 405, 413, 500, 503, 504,
};

struct world *serve_world_ref(struct world *w)
{
	atomic_fetch_add(&w->refs, 1);
	return w;
}

void serve_world_put(struct world *w)
{
	if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	for (size_t i = 0; i < w->nroutes; i++) {
		free(w->routes[i].path);
		free(w->routes[i].key);
		for (size_t j = 0; j < w->routes[i].nvsecrets; j++)
			free(w->routes[i].vsecrets[j]);
		free(w->routes[i].vsecrets);
	}
	free(w->routes);
	for (size_t i = 0; i < w->ntargets; i++) {
		free(w->targets[i].instance);
		json_decref(w->targets[i].config);
		fr_redact_destroy(w->targets[i].secrets);
	}
	free(w->targets);
	fr_project_destroy(w->p);
	free(w);
}

struct target *serve_world_target(struct world *w, const char *integration,
				  const char *instance)
{
	for (size_t i = 0; i < w->ntargets; i++) {
		if (strcmp(w->targets[i].in->name, integration) == 0 &&
		    strcmp(w->targets[i].instance, instance) == 0)
			return &w->targets[i];
	}
	return NULL;
}

const struct fr_flow *serve_world_flow(const struct world *w,
				       const char *integration, const char *flow)
{
	for (size_t i = 0; i < w->p->nintegrations; i++) {
		if (strcmp(w->p->integrations[i]->name, integration) == 0)
			return fr_integration_flow(w->p->integrations[i], flow);
	}
	return NULL;
}

const struct route *serve_world_route(const struct world *w, const char *path)
{
	for (size_t i = 0; i < w->nroutes; i++) {
		if (strcmp(w->routes[i].path, path) == 0)
			return &w->routes[i];
	}
	return NULL;
}

static void add_vsecret(struct route *rt, const char *v)
{
	if (!v || !*v)
		return;
	rt->vsecrets = fr_xrealloc(rt->vsecrets, (rt->nvsecrets + 1) * sizeof(char *));
	rt->vsecrets[rt->nvsecrets++] = fr_xstrdup(v);
}

/* The verification secrets of flow f for target t: rendered once, here. */
static void render_vsecrets(struct route *rt, struct fr_jqx *jx,
			    struct fr_diag *d)
{
	const struct fr_flow *f = rt->flow;
	json_t *v = NULL;
	char *err = NULL;
	jv ctx = jv_object_set(jv_object(), jv_string("config"),
			       fr_json_to_jv(rt->t->config));
	jv none = jv_array();

	if (fr_tmpl_render(f->webhook.verify.secret, jx, ctx, none, &v, &err) < 0) {
		fr_diag_at(d, FR_ERROR, fr_tmpl_loc(f->webhook.verify.secret),
			   "verify secret of flow '%s', instance '%s': %s",
			   f->name, rt->t->instance, err);
		free(err);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			add_vsecret(rt, json_string_value(x));
	} else {
		add_vsecret(rt, json_string_value(v));
	}
	if (!rt->nvsecrets && !err)
		fr_diag_at(d, FR_ERROR, fr_tmpl_loc(f->webhook.verify.secret),
			   "verify secret of flow '%s', instance '%s' is empty",
			   f->name, rt->t->instance);
	json_decref(v);
	jv_free(ctx);
	jv_free(none);
}

static void add_route(struct world *w, struct target *t, const struct fr_flow *f,
		      const char *path, struct fr_jqx *jx, struct fr_diag *d)
{
	struct route *rt;

	w->routes = fr_xrealloc(w->routes, (w->nroutes + 1) * sizeof(*w->routes));
	rt = &w->routes[w->nroutes++];
	memset(rt, 0, sizeof(*rt));
	rt->path = fr_xstrdup(path);
	rt->flow = f;
	rt->t = t;
	rt->key = fr_xasprintf("%s/%s/%s", t->in->name, t->instance, f->name);
	if (w->nroutes > 1 && w->routes[w->nroutes - 2].flow == f &&
	    w->routes[w->nroutes - 2].t == t) {
		/* the default instance's second path: same secrets */
		const struct route *prev = &w->routes[w->nroutes - 2];
		for (size_t i = 0; i < prev->nvsecrets; i++)
			add_vsecret(rt, prev->vsecrets[i]);
	} else if (f->webhook.verify.scheme && f->webhook.verify.secret) {
		render_vsecrets(rt, jx, d);
	}
}

static void add_target(struct world *w, const struct fr_integration *in,
		       const struct fr_instance *inst, const char *name,
		       const struct fr_serve_opts *o, struct fr_diag *d)
{
	struct target *t;
	json_t *config = NULL;
	struct fr_redact *rd = fr_redact_create();

	if (fr_config_resolve(&config, in, inst, o->sets, o->nsets, rd, d) < 0) {
		fr_redact_destroy(rd);
		return;
	}
	w->targets = fr_xrealloc(w->targets, (w->ntargets + 1) * sizeof(*w->targets));
	t = &w->targets[w->ntargets++];
	t->in = in;
	t->instance = fr_xstrdup(name);
	t->config = config;
	t->secrets = rd;
}

static void add_routes(struct world *w, struct fr_diag *d)
{
	struct fr_jqx *jx = fr_jqx_create(w->p->prog);

	for (size_t i = 0; i < w->ntargets; i++) {
		struct target *t = &w->targets[i];
		for (size_t j = 0; j < t->in->nflows; j++) {
			const struct fr_flow *f = &t->in->flows[j];
			char *path;
			if (f->trigger != FR_TRIGGER_WEBHOOK)
				continue;
			path = fr_xasprintf("/hooks/%s/%s/%s", t->instance,
					    t->in->name, f->name);
			add_route(w, t, f, path, jx, d);
			free(path);
			if (strcmp(t->instance, "default") == 0) {
				path = f->webhook.path
					       ? fr_xstrdup(f->webhook.path)
					       : fr_xasprintf("/hooks/%s/%s",
							      t->in->name, f->name);
				add_route(w, t, f, path, jx, d);
				free(path);
			}
		}
	}
	fr_jqx_destroy(jx);
	for (size_t i = 0; i < w->nroutes; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(w->routes[i].path, w->routes[j].path) == 0)
				fr_diag(d, FR_ERROR, "two webhook flows answer %s: "
					"%s and %s", w->routes[i].path,
					w->routes[j].key, w->routes[i].key);
		}
	}
}

static void fingerprint(struct world *w)
{
	unsigned char md[FR_SHA256_LEN];
	struct fr_sha256 c;

	fr_sha256_init(&c);
	for (size_t i = 0; i < w->p->nsources; i++) {
		const struct fr_source *src = w->p->sources[i];
		fr_sha256_update(&c, src->path, strlen(src->path) + 1);
		fr_sha256_update(&c, &src->len, sizeof(src->len));
		fr_sha256_update(&c, src->text, src->len);
	}
	fr_sha256_final(&c, md);
	fr_hex(md, sizeof(md), w->fingerprint);
}

struct fr_redact *serve_target_redactor(const struct target *t)
{
	struct fr_redact *rd = fr_redact_create();

	for (size_t i = 0; i < t->in->nconfig; i++) {
		if (t->in->config[i].secret)
			fr_redact_add_json(rd, json_object_get(t->config,
							       t->in->config[i].name));
	}
	return rd;
}

/*
 * Every instance of every integration (instance files, else the default
 * instance), their config, the routes of their webhook flows and the
 * verification secrets.
 */
struct world *serve_world_load(const struct fr_serve_opts *o, struct fr_diag *d,
			       int *status)
{
	struct world *w = fr_xcalloc(1, sizeof(*w));
	struct fr_load_opts lo = { .connector_dirs = o->connector_dirs,
				   .nconnector_dirs = o->nconnector_dirs };

	atomic_init(&w->refs, 1);
	*status = FR_EXIT_INVALID;
	fr_project_load(&w->p, (const char *const *)o->paths, o->npaths, &lo, d);
	if (d->nerrors || !w->p)
		goto fail;
	*status = FR_EXIT_CONFIG;
	fr_config_check_sets((const struct fr_integration *const *)
			     w->p->integrations, w->p->nintegrations, o->sets,
			     o->nsets, d);
	for (size_t i = 0; i < w->p->nintegrations; i++) {
		const struct fr_integration *in = w->p->integrations[i];
		bool any = false;
		for (size_t j = 0; j < w->p->ninstances; j++) {
			const struct fr_instance *inst = w->p->instances[j];
			if (inst->integration != in ||
			    (o->instance && strcmp(o->instance, inst->name) != 0))
				continue;
			add_target(w, in, inst, inst->name, o, d);
			any = true;
		}
		if (!any && (!o->instance || strcmp(o->instance, "default") == 0))
			add_target(w, in, NULL, "default", o, d);
	}
	if (d->nerrors)
		goto fail;
	add_routes(w, d);
	if (d->nerrors)
		goto fail;
	fingerprint(w);
	*status = FR_EXIT_OK;
	return w;
fail:
	serve_world_put(w);
	return NULL;
}
