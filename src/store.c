/* store: the backend-neutral half of the store interface. */
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int fr_store_open(struct fr_store **out, const char *url, char **err)
{
	*out = NULL;
	if (!url || !*url)
		url = FR_STORE_DEFAULT;
	if (strncmp(url, "sqlite:", 7) == 0)
		return fr_store_sqlite_open(out, url + 7, err);
	if (strstr(url, "://")) {
		*err = fr_xasprintf("unsupported store '%s'; use sqlite:PATH", url);
		return -1;
	}
	return fr_store_sqlite_open(out, url, err);
}

bool fr_store_exists(const char *url)
{
	if (!url || !*url)
		url = FR_STORE_DEFAULT;
	if (strncmp(url, "sqlite:", 7) == 0)
		url += 7;
	return access(url, F_OK) == 0;
}

void fr_store_close(struct fr_store *s)
{
	if (s)
		s->ops->close(s);
}

int fr_store_execution_begin(struct fr_store *s, const json_t *exec, char **err)
{
	return s->ops->execution_begin(s, exec, err);
}

int fr_store_execution_finish(struct fr_store *s, const char *id,
			      const json_t *trace, char **err)
{
	return s->ops->execution_finish(s, id, trace, err);
}

int fr_store_execution_list(struct fr_store *s,
			    const struct fr_execution_filter *f, json_t **out,
			    char **err)
{
	return s->ops->execution_list(s, f, out, err);
}

int fr_store_execution_get(struct fr_store *s, const char *id, json_t **out,
			   char **err)
{
	return s->ops->execution_get(s, id, out, err);
}

int fr_store_state_get(struct fr_store *s, const char *integration,
		       const char *instance, json_t **out, char **err)
{
	return s->ops->state_get(s, integration, instance, out, err);
}

int fr_store_state_set(struct fr_store *s, const char *integration,
		       const char *instance, const char *key,
		       const json_t *value, char **err)
{
	return s->ops->state_set(s, integration, instance, key, value, err);
}

int fr_store_deployment_add(struct fr_store *s, const json_t *deployment,
			    char **err)
{
	return s->ops->deployment_add(s, deployment, err);
}

int fr_store_deployment_list(struct fr_store *s, json_t **out, char **err)
{
	return s->ops->deployment_list(s, out, err);
}

int fr_store_check(struct fr_store *s, char **err)
{
	return s->ops->check(s, err);
}

void fr_delivery_free(struct fr_delivery *d)
{
	if (!d)
		return;
	free(d->id);
	free(d->integration);
	free(d->instance);
	free(d->flow);
	json_decref(d->request);
	free(d->request_text);
	free(d->body);
	json_decref(d->trigger);
	free(d->dedupe_key);
	free(d);
}

int fr_store_delivery_add(struct fr_store *s, struct fr_delivery *const *d,
			  size_t n, char **dup_of, char **err)
{
	return s->ops->delivery_add(s, d, n, dup_of, err);
}

int fr_store_delivery_get(struct fr_store *s, const char *id,
			  struct fr_delivery **out, char **err)
{
	return s->ops->delivery_get(s, id, out, err);
}

int fr_store_delivery_pending(struct fr_store *s, long long after_seq,
			      json_t **out, char **err)
{
	return s->ops->delivery_pending(s, after_seq, out, err);
}

int fr_store_delivery_update(struct fr_store *s, const char *id,
			     const char *status, int attempts, double next_at,
			     char **err)
{
	return s->ops->delivery_update(s, id, status, attempts, next_at, err);
}

int fr_store_replay(struct fr_store *s, const char *id, char **new_id,
		    char **err)
{
	return s->ops->replay(s, id, new_id, err);
}

int fr_store_execution_put(struct fr_store *s, const json_t *exec,
			   const char *input, const char *trace, char **err)
{
	return s->ops->execution_put(s, exec, input, trace, err);
}

int fr_store_set_synchronous(struct fr_store *s, bool on, char **err)
{
	return s->ops->set_synchronous(s, on, err);
}

int fr_store_set_checkpoints(struct fr_store *s, bool on, char **err)
{
	return s->ops->set_checkpoints(s, on, err);
}

int fr_store_checkpoint(struct fr_store *s, bool wait, char **err)
{
	return s->ops->checkpoint(s, wait, err);
}

int fr_store_begin(struct fr_store *s, char **err)
{
	return s->ops->begin(s, err);
}

int fr_store_commit(struct fr_store *s, char **err)
{
	return s->ops->commit(s, err);
}

void fr_store_rollback(struct fr_store *s)
{
	s->ops->rollback(s);
}

double fr_store_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
