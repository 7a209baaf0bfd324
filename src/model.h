/*
 * model: what flow, connector and instance files say, once loaded.
 *
 * The model is built by the loaders (flow.c, connector.c, project.c) and is
 * immutable afterwards: executions read it and never touch YAML.  Every node
 * keeps its struct fr_loc, so every error can point at the file.  The whole
 * model is owned by its struct fr_project (project.h) and freed with it;
 * pointers between model objects are borrowed.
 *
 * Expressions are ids into the project's jq batch (jqx.h); templates are
 * described in tmpl.h.
 */
#ifndef FR_MODEL_H
#define FR_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

struct fr_tmpl;

struct fr_expr {
	int id;			/* in the project's jqx batch */
	struct fr_loc loc;
	const char *text;	/* borrowed from the batch */
};

enum fr_type { FR_TYPE_ANY, FR_TYPE_STRING, FR_TYPE_NUMBER, FR_TYPE_BOOLEAN,
	       FR_TYPE_OBJECT, FR_TYPE_ARRAY };

struct fr_config_var {
	char *name;
	struct fr_loc loc;
	char *description;
	json_t *def;		/* default, or NULL */
	bool required, secret;
	char *env;		/* environment variable, or NULL */
	char *file;		/* `file:` as a path from the working directory */
	enum fr_type type;
};

struct fr_retry {
	int attempts;		/* total tries, >= 1 */
	int64_t delay_ms;
	double backoff;
	int64_t max_delay_ms;
};

/* connectors */

struct fr_input {
	char *name;
	struct fr_loc loc;
	bool required, secret;
};

enum fr_body_kind { FR_BODY_NONE, FR_BODY_JSON, FR_BODY_FORM, FR_BODY_RAW };

struct fr_action {
	char *name;
	struct fr_loc loc;
	char *description;
	bool write;
	char *method;
	struct fr_tmpl *path;
	struct fr_tmpl *query;		/* object, or NULL */
	struct fr_tmpl *headers;	/* object, or NULL */
	enum fr_body_kind body_kind;
	struct fr_tmpl *body;
	char *content_type;		/* raw bodies */
	int *expect;			/* statuses; none = any 2xx */
	size_t nexpect;
	struct fr_expr *result;		/* NULL = .body */
	struct fr_expr *error;		/* response is an error when truthy */
	struct fr_expr *paginate_next;	/* NULL = no pagination */
	char *paginate_query;		/* carries the cursor next yields */
	bool paginate_url;		/* next_url: next yields a URL */
	int paginate_max;		/* pages at most */
	struct fr_tmpl *sample;		/* dry-run output, or NULL */
	int64_t timeout_ms;		/* 0 = the connector's */
};

/*
 * auth: oauth2 (flowrun-connector(5)).  The templates render over
 * {connection: ...} only.  apply_header and apply_query: exactly one is set
 * (the default is header "Authorization", prefix "Bearer ").
 */
enum fr_grant { FR_GRANT_CLIENT_CREDENTIALS, FR_GRANT_AUTHORIZATION_CODE,
		FR_GRANT_REFRESH_TOKEN };

struct fr_oauth2 {
	struct fr_loc loc;
	enum fr_grant grant;
	struct fr_tmpl *token_url;
	struct fr_tmpl *authorize_url;	/* authorization_code; else NULL */
	struct fr_tmpl *client_id;
	struct fr_tmpl *client_secret;	/* NULL: a public client */
	struct fr_tmpl *refresh_token;	/* refresh_token grant; else NULL */
	char **scopes;
	size_t nscopes;
	bool pkce;
	bool client_basic;		/* client_auth: basic (else body) */
	char *apply_header, *apply_prefix;
	char *apply_query;
};

struct fr_connector {
	char *name;
	struct fr_loc loc;
	char *description;
	struct fr_input *inputs;
	size_t ninputs;
	struct fr_tmpl *base_url;
	struct fr_tmpl *headers;	/* object, or NULL */
	int64_t timeout_ms;
	struct fr_retry retry;
	int *retry_on;
	size_t nretry_on;
	bool retry_writes;
	struct fr_oauth2 *oauth2;	/* auth: oauth2, or NULL */
	struct fr_action *actions;
	size_t nactions;
	bool builtin;			/* the `http` connector */
};

/* flows */

struct fr_connection {
	char *name;
	struct fr_loc loc;
	char *connector_name;
	struct fr_loc connector_loc;
	const struct fr_connector *connector;	/* resolved, borrowed */
	struct fr_tmpl *with;			/* object, or NULL */
};

enum fr_on_error { FR_ON_ERROR_FAIL, FR_ON_ERROR_IGNORE };

enum fr_step_kind { FR_STEP_ACTION, FR_STEP_TRANSFORM, FR_STEP_BRANCH,
		    FR_STEP_LOOP, FR_STEP_LOG, FR_STEP_SET, FR_STEP_RESPOND,
		    FR_STEP_FAIL, FR_STEP_STOP, FR_STEP_UPDATE };

/* One key of an `update` step: its program gets the key's current value. */
struct fr_update {
	char *key;
	struct fr_loc loc;
	struct fr_expr *expr;
};

struct fr_step;

struct fr_steps {
	struct fr_step **v;
	size_t n;
};

struct fr_case {
	char *name;
	struct fr_loc loc;
	struct fr_expr *when;
	struct fr_steps steps;
};

enum fr_log_level { FR_LOG_DEBUG, FR_LOG_INFO, FR_LOG_WARN, FR_LOG_ERROR };

struct fr_step {
	enum fr_step_kind kind;
	char *id;			/* NULL when not given */
	struct fr_loc loc;
	char *description;
	struct fr_expr *cond;		/* `if` */
	enum fr_on_error on_error;	/* after retries */
	struct fr_retry retry;		/* attempts 1 = no retry */
	int64_t timeout_ms;		/* 0 = none beyond the flow's */

	/* action */
	char *action_name;		/* "conn.action" as written */
	struct fr_loc action_loc;
	const struct fr_connection *conn;
	const struct fr_action *action;
	struct fr_tmpl *with;
	/* transform */
	struct fr_expr *expr;
	/* branch */
	struct fr_case *cases;
	size_t ncases;
	bool has_else;
	struct fr_steps else_steps;
	/* loop */
	struct fr_expr *over;
	char *as;
	int concurrency, max;
	struct fr_steps body;
	/* log, fail, stop: text; set, respond: an object template */
	struct fr_tmpl *value;
	/* update */
	struct fr_update *updates;
	size_t nupdates;
	enum fr_log_level level;
};

enum fr_trigger { FR_TRIGGER_MANUAL, FR_TRIGGER_DEPLOY, FR_TRIGGER_REMOVE,
		  FR_TRIGGER_WEBHOOK, FR_TRIGGER_SCHEDULE };

struct fr_verify {
	char *scheme;			/* NULL = no verification */
	struct fr_loc loc;
	char *header, *prefix, *encoding;
	struct fr_tmpl *secret;		/* string or list of strings */
	int64_t tolerance_ms;
};

struct fr_webhook {
	char *path;			/* NULL = the default paths */
	char **methods;
	size_t nmethods;
	struct fr_verify verify;
	bool sync;
	struct fr_expr *dedupe;
	int concurrency;		/* 0 = unbounded */
	bool fifo;
	struct fr_retry retry;
	size_t max_body;
};

struct fr_cron {
	uint64_t minute;		/* bit sets of allowed values */
	uint32_t hour, dom, month, dow;
	bool dom_any, dow_any;
};

struct fr_flow {
	char *name;
	struct fr_loc loc;
	char *description;
	enum fr_trigger trigger;
	struct fr_loc trigger_loc;
	struct fr_webhook webhook;
	char *schedule;
	struct fr_cron cron;
	int64_t timeout_ms;
	struct fr_steps steps;
	const struct fr_integration *integration;
};

struct fr_integration {
	char *name;
	struct fr_loc loc;
	char *description;
	struct fr_config_var *config;
	size_t nconfig;
	struct fr_connection *connections;
	size_t nconnections;
	struct fr_flow *flows;
	size_t nflows;
	char *root;			/* directory holding connectors/, instances/ */
};

/* Where an instance file gives a config value, for located errors. */
struct fr_instance_value {
	char *name;
	struct fr_loc key_loc, value_loc;
};

struct fr_instance {
	char *name;
	struct fr_loc loc;
	char *integration_name;
	const struct fr_integration *integration;
	json_t *config;			/* object of values */
	struct fr_instance_value *values;	/* config's keys, in file order */
	size_t nvalues;
};

const struct fr_flow *fr_integration_flow(const struct fr_integration *in,
					  const char *name);
const struct fr_config_var *fr_integration_config(const struct fr_integration *in,
						  const char *name);
const struct fr_action *fr_connector_action(const struct fr_connector *c,
					    const char *name);
const char *fr_step_kind_name(enum fr_step_kind kind);
const char *fr_grant_name(enum fr_grant g);
const char *fr_trigger_name(enum fr_trigger t);

#endif
