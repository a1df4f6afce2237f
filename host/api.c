/*
 * api.c - the function table plugins get (struct opsbot_api): argument
 * checks, the thread check, and calls into the host's modules.
 */
#include "api.h"
#include "command.h"
#include "config.h"
#include "http.h"
#include "fdwatch.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "process.h"
#include "progress.h"
#include "say.h"
#include "state.h"
#include "store.h"
#include "timer.h"
#include "webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_mode = OPSBOT_MODE_DAEMON;

void api_set_mode(int mode)
{
	run_mode = mode;
}

static int api_mode(void)
{
	return run_mode;
}

/* Everything but log, job_is_cancelled, url_encode and now_ms belongs to
 * the loop thread; a plugin calling from a job thread gets an error. */
static int wrong_thread(struct opsbot_plugin *p, const char *what)
{
	if (loop_on_loop_thread())
		return 0;
	error(p ? plugin_log_name(p) : "plugin",
	      "%s called from a job thread; only log() and "
	      "job_is_cancelled() may be",
	      what);
	return 1;
}

/* The format attributes the table's types carry, on the definitions. */
static void api_reply(struct opsbot_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void api_reply_private(struct opsbot_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void api_reply_error(struct opsbot_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void api_say(struct opsbot_plugin *p, const char *target,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void api_say_grouped(struct opsbot_plugin *p, const char *target,
			    const char *group, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void api_log(struct opsbot_plugin *p, enum opsbot_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void api_say_progress(struct opsbot_plugin *p, const char *target,
			     const char *key, long min_interval_ms,
			     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int api_command_add(struct opsbot_plugin *p,
			   const struct opsbot_command *cmd)
{
	if (wrong_thread(p, "command_add"))
		return OPSBOT_EINVAL;
	if (p->state != PLUGIN_LOADING) {
		error(plugin_log_name(p), "command_add is only valid in init");
		return OPSBOT_EINVAL;
	}
	return command_add(p, cmd);
}

static void api_reply(struct opsbot_request *req, const char *fmt, ...)
{
	va_list ap;

	if (wrong_thread(NULL, "reply"))
		return;
	va_start(ap, fmt);
	request_reply((struct request *)req, 0, 0, fmt, ap);
	va_end(ap);
}

static void api_reply_private(struct opsbot_request *req, const char *fmt, ...)
{
	va_list ap;

	if (wrong_thread(NULL, "reply_private"))
		return;
	va_start(ap, fmt);
	request_reply((struct request *)req, 1, 0, fmt, ap);
	va_end(ap);
}

static void api_reply_error(struct opsbot_request *req, const char *fmt, ...)
{
	va_list ap;

	if (wrong_thread(NULL, "reply_error"))
		return;
	va_start(ap, fmt);
	request_reply((struct request *)req, 0, 1, fmt, ap);
	va_end(ap);
}

static void api_done(struct opsbot_request *req, int status)
{
	if (wrong_thread(NULL, "done"))
		return;
	request_done((struct request *)req, status);
}

static int api_has_capability(const struct opsbot_request *req,
			      const char *capability)
{
	return request_has_capability((const struct request *)req, capability);
}

static int target_valid(const char *t)
{
	return t && *t && strlen(t) < 200 && !strpbrk(t, " ,\r\n\a\x01:") &&
	       t[0] != ':';
}

static void say_v(struct opsbot_plugin *p, const char *target,
		  const char *group, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void say_v(struct opsbot_plugin *p, const char *target,
		  const char *group, const char *fmt, va_list ap)
{
	char *text;

	if (wrong_thread(p, "say"))
		return;
	if (!target_valid(target)) {
		warning(plugin_log_name(p), "say: invalid target");
		return;
	}
	if (group &&
	    (!*group || strlen(group) > 32 || strpbrk(group, "\r\n\001"))) {
		warning(plugin_log_name(p), "say_grouped: invalid group");
		return;
	}
	text = xvasprintf(fmt, ap);
	say_emit(target, group, text, strlen(text));
	free(text);
}

static void api_say(struct opsbot_plugin *p, const char *target,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_v(p, target, NULL, fmt, ap);
	va_end(ap);
}

static void api_say_grouped(struct opsbot_plugin *p, const char *target,
			    const char *group, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_v(p, target, group, fmt, ap);
	va_end(ap);
}

static void api_say_progress(struct opsbot_plugin *p, const char *target,
			     const char *key, long min_interval_ms,
			     const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (wrong_thread(p, "say_progress"))
		return;
	if (!target_valid(target) || !key || !*key || strlen(key) > 200) {
		warning(plugin_log_name(p),
			"say_progress: invalid target or key");
		return;
	}
	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	progress_say(p, target, key, min_interval_ms, text);
	free(text);
}

static void api_progress_end(struct opsbot_plugin *p, const char *target,
			     const char *key)
{
	if (wrong_thread(p, "progress_end") || !target || !key)
		return;
	progress_end(p, target, key);
}

static void api_log(struct opsbot_plugin *p, enum opsbot_log_level level,
		    const char *fmt, ...)
{
	va_list ap;

	if ((int)level > LOG_DEBUG)
		level = OPSBOT_LOG_DEBUG;
	va_start(ap, fmt);
	log_vmsg((enum log_level)level, p ? plugin_log_name(p) : "plugin", fmt,
		 ap);
	va_end(ap);
}

/* ---- configuration ---- */

/*
 * Where a config read goes: section NULL is [plugin.<name>] with the
 * descriptor's keys; "kind.instance" is [plugin.<name>.kind.instance]
 * with the keys of that sub-section kind.  Returns the schema and fills
 * buf with the section name, or NULL (logged) for an unknown kind.
 */
static const struct opsbot_config_key *
section_of(struct opsbot_plugin *p, const char *section, char *buf, size_t size)
{
	const struct opsbot_config_section *kind;

	if (!section) {
		snprintf(buf, size, "plugin.%s", p->name);
		return p->desc->config;
	}
	kind = config_section_kind(p->desc->sections, section);
	if (!kind) {
		error(plugin_log_name(p),
		      "config section '%s' is not of a kind the descriptor "
		      "declares",
		      section);
		return NULL;
	}
	snprintf(buf, size, "plugin.%s.%s", p->name, section);
	return kind->keys;
}

/* The schema entry of key in section, checked against the type read. */
static const struct opsbot_config_key *
declared(struct opsbot_plugin *p, const char *section, const char *key,
	 enum opsbot_config_type type, char *sec, size_t size,
	 const struct opsbot_config_key **schema)
{
	const struct opsbot_config_key *k;

	if (!key)
		return NULL;
	*schema = section_of(p, section, sec, size);
	if (!*schema)
		return NULL;
	k = config_schema_find(*schema, key);
	if (!k) {
		error(plugin_log_name(p),
		      "config key '%s' is not declared in the descriptor", key);
		return NULL;
	}
	if (k->type != type &&
	    !(type == OPSBOT_CONFIG_STRING && k->type != OPSBOT_CONFIG_SECRET &&
	      k->type != OPSBOT_CONFIG_LIST)) {
		error(plugin_log_name(p),
		      "config key '%s' read with the wrong type", key);
		return NULL;
	}
	return k;
}

#define SECTION_NAME_MAX 200

static const char *api_config_string(struct opsbot_plugin *p,
				     const char *section, const char *key)
{
	const struct opsbot_config_key *schema;
	char sec[SECTION_NAME_MAX];

	if (!declared(p, section, key, OPSBOT_CONFIG_STRING, sec, sizeof(sec),
		      &schema))
		return NULL;
	return config_get(p->config, sec, schema, key);
}

static long long api_config_int(struct opsbot_plugin *p, const char *section,
				const char *key)
{
	const struct opsbot_config_key *schema;
	char sec[SECTION_NAME_MAX];

	if (!declared(p, section, key, OPSBOT_CONFIG_INT, sec, sizeof(sec),
		      &schema))
		return 0;
	return config_get_int(p->config, sec, schema, key);
}

static int api_config_bool(struct opsbot_plugin *p, const char *section,
			   const char *key)
{
	const struct opsbot_config_key *schema;
	char sec[SECTION_NAME_MAX];

	if (!declared(p, section, key, OPSBOT_CONFIG_BOOL, sec, sizeof(sec),
		      &schema))
		return 0;
	return config_get_bool(p->config, sec, schema, key);
}

static long long api_config_duration_ms(struct opsbot_plugin *p,
					const char *section, const char *key)
{
	const struct opsbot_config_key *schema;
	char sec[SECTION_NAME_MAX];

	if (!declared(p, section, key, OPSBOT_CONFIG_DURATION, sec, sizeof(sec),
		      &schema))
		return 0;
	return config_get_duration_ms(p->config, sec, schema, key);
}

/* Secrets and lists are resolved once and kept, keyed by section + key,
 * so the pointers handed out stay valid. */
static struct plugin_cache *cache_find(struct opsbot_plugin *p, const char *sec,
				       const char *key)
{
	struct plugin_cache *c;
	char *name = xasprintf("%s %s", sec, key);

	for (c = p->cache; c; c = c->next)
		if (!strcmp(c->key, name)) {
			free(name);
			return c;
		}
	c = xcalloc(1, sizeof(*c));
	c->key = name;
	c->next = p->cache;
	p->cache = c;
	return c;
}

static const char *api_config_secret(struct opsbot_plugin *p,
				     const char *section, const char *key)
{
	const struct opsbot_config_key *schema;
	struct plugin_cache *c;
	char sec[SECTION_NAME_MAX], *err = NULL;

	if (!declared(p, section, key, OPSBOT_CONFIG_SECRET, sec, sizeof(sec),
		      &schema))
		return NULL;
	c = cache_find(p, sec, key);
	if (!c->secret) {
		c->secret = config_get_secret(p->config, sec, key, &err);
		if (err) {
			/* The message names the file or variable only. */
			error(plugin_log_name(p), "%s: %s", key, err);
			free(err);
		}
		if (c->secret)
			secret_register(c->secret);
	}
	return c->secret;
}

static struct plugin_cache *list_of(struct opsbot_plugin *p,
				    const char *section, const char *key)
{
	const struct opsbot_config_key *schema;
	struct plugin_cache *c;
	char sec[SECTION_NAME_MAX];

	if (!declared(p, section, key, OPSBOT_CONFIG_LIST, sec, sizeof(sec),
		      &schema))
		return NULL;
	c = cache_find(p, sec, key);
	if (!c->items)
		c->items =
		    config_get_list(p->config, sec, schema, key, &c->count);
	return c;
}

static int api_config_list_count(struct opsbot_plugin *p, const char *section,
				 const char *key)
{
	struct plugin_cache *c = list_of(p, section, key);

	return c ? c->count : 0;
}

static const char *api_config_list_item(struct opsbot_plugin *p,
					const char *section, const char *key,
					int i)
{
	struct plugin_cache *c = list_of(p, section, key);

	return c && i >= 0 && i < c->count ? c->items[i] : NULL;
}

/* The instance names of a sub-section kind, cached like lists. */
static struct plugin_cache *instances_of(struct opsbot_plugin *p,
					 const char *kind)
{
	struct plugin_cache *c;
	char sec[SECTION_NAME_MAX];

	if (!kind || !config_section_kind(p->desc->sections, kind))
		return NULL;
	snprintf(sec, sizeof(sec), "plugin.%s.%s", p->name, kind);
	c = cache_find(p, sec, "(instances)");
	if (!c->items)
		c->items = config_instances(p->config, sec, &c->count);
	return c;
}

static int api_config_section_count(struct opsbot_plugin *p, const char *kind)
{
	struct plugin_cache *c = instances_of(p, kind);

	return c ? c->count : 0;
}

static const char *api_config_section_name(struct opsbot_plugin *p,
					   const char *kind, int i)
{
	struct plugin_cache *c = instances_of(p, kind);

	return c && i >= 0 && i < c->count ? c->items[i] : NULL;
}

/* ---- store ---- */

static struct sqlite3 *api_store(struct opsbot_plugin *p)
{
	if (wrong_thread(p, "store"))
		return NULL;
	return store_db();
}

static int api_store_migrate(struct opsbot_plugin *p, const char *const *steps,
			     int count)
{
	char *err = NULL;

	if (wrong_thread(p, "store_migrate") || !steps || count < 0)
		return OPSBOT_EINVAL;
	if (store_migrate(p->name, steps, count, &err) < 0) {
		error(plugin_log_name(p), "store migration failed: %s", err);
		free(err);
		return OPSBOT_ERR;
	}
	return OPSBOT_OK;
}

/* ---- asynchronous operations ---- */

/* In --check-config nothing may start: it is a dry run. */
static int checking(struct opsbot_plugin *p, const char *what)
{
	if (run_mode != OPSBOT_MODE_CHECK)
		return 0;
	debug(plugin_log_name(p), "%s refused while checking the config", what);
	return 1;
}

/*
 * A plugin-filled struct must carry its size (see "Versions" in
 * opsbot.h); one smaller than the struct of minor 0 is refused.
 */
static int size_bad(struct opsbot_plugin *p, const char *what, size_t size,
		    size_t min, const char *type)
{
	if (size >= min)
		return 0;
	error(p ? plugin_log_name(p) : "plugin",
	      "%s: set .size = sizeof(struct %s) (got %zu)", what, type, size);
	return 1;
}

#define SIZE_BAD(p, what, s, type)                                             \
	size_bad(p, what, (s)->size, sizeof(struct type), #type)

static int64_t api_timer_start(struct opsbot_plugin *p, long delay_ms,
			       opsbot_timer_fn *fn, void *data)
{
	if (wrong_thread(p, "timer_start") || checking(p, "timer_start"))
		return OPSBOT_EINVAL;
	return timer_start(p, delay_ms, fn, data);
}

static int64_t api_http_start(struct opsbot_plugin *p,
			      const struct opsbot_http_request *req,
			      opsbot_http_fn *fn, void *data)
{
	if (wrong_thread(p, "http_start") || checking(p, "http_start"))
		return OPSBOT_EINVAL;
	if (!req || SIZE_BAD(p, "http_start", req, opsbot_http_request))
		return OPSBOT_EINVAL;
	return http_start(p, req, fn, data);
}

static int64_t api_process_start(struct opsbot_plugin *p,
				 const struct opsbot_process_options *opts,
				 opsbot_process_fn *fn, void *data)
{
	if (wrong_thread(p, "process_start") || checking(p, "process_start"))
		return OPSBOT_EINVAL;
	if (!opts || SIZE_BAD(p, "process_start", opts, opsbot_process_options))
		return OPSBOT_EINVAL;
	return process_start(p, opts, fn, data);
}

static int api_process_signal(struct opsbot_plugin *p, int64_t id, int sig)
{
	if (wrong_thread(p, "process_signal"))
		return OPSBOT_EINVAL;
	return process_signal(p, id, sig);
}

static int64_t api_job_start(struct opsbot_plugin *p,
			     const struct opsbot_job_options *opts, void *data)
{
	if (wrong_thread(p, "job_start") || checking(p, "job_start"))
		return OPSBOT_EINVAL;
	if (!opts || SIZE_BAD(p, "job_start", opts, opsbot_job_options))
		return OPSBOT_EINVAL;
	return job_start(p, opts, data);
}

static int64_t api_fd_watch(struct opsbot_plugin *p, int fd, unsigned events,
			    opsbot_fd_fn *fn, void *data)
{
	if (wrong_thread(p, "fd_watch") || checking(p, "fd_watch"))
		return OPSBOT_EINVAL;
	return fdwatch_start(p, fd, events, fn, data);
}

static int api_fd_watch_update(struct opsbot_plugin *p, int64_t id,
			       unsigned events)
{
	if (wrong_thread(p, "fd_watch_update"))
		return OPSBOT_EINVAL;
	return fdwatch_update(p, id, events);
}

static int api_cancel(struct opsbot_plugin *p, int64_t id)
{
	struct op *op;

	if (wrong_thread(p, "cancel"))
		return OPSBOT_EINVAL;
	op = op_find(p, id);
	if (!op)
		return OPSBOT_ENOENT;
	op_cancel(op, OPSBOT_ECANCELED);
	return OPSBOT_OK;
}

/* ---- state ---- */

static int api_state_set(struct opsbot_plugin *p, const char *key,
			 const void *value, size_t len)
{
	if (wrong_thread(p, "state_set"))
		return OPSBOT_EINVAL;
	return state_set(p->name, key, value, len);
}

static int api_state_get(struct opsbot_plugin *p, const char *key, char **value,
			 size_t *len)
{
	if (wrong_thread(p, "state_get"))
		return OPSBOT_EINVAL;
	return state_get(p->name, key, value, len);
}

static int api_state_delete(struct opsbot_plugin *p, const char *key)
{
	if (wrong_thread(p, "state_delete"))
		return OPSBOT_EINVAL;
	return state_delete(p->name, key);
}

static int api_state_each(struct opsbot_plugin *p, const char *prefix,
			  int (*fn)(const char *key, const void *value,
				    size_t len, void *data),
			  void *data)
{
	if (wrong_thread(p, "state_each"))
		return OPSBOT_EINVAL;
	return state_each(p->name, prefix, fn, data);
}

static int api_seen_before(struct opsbot_plugin *p, const char *key,
			   long lifetime_ms)
{
	if (wrong_thread(p, "seen_before"))
		return OPSBOT_EINVAL;
	return state_seen_before(p->name, key, lifetime_ms);
}

/* ---- webhooks ---- */

static int api_webhook_add(struct opsbot_plugin *p,
			   const struct opsbot_webhook_route *route)
{
	if (wrong_thread(p, "webhook_add"))
		return OPSBOT_EINVAL;
	if (p->state != PLUGIN_LOADING) {
		error(plugin_log_name(p), "webhook_add is only valid in init");
		return OPSBOT_EINVAL;
	}
	if (!route || SIZE_BAD(p, "webhook_add", route, opsbot_webhook_route))
		return OPSBOT_EINVAL;
	return webhook_add(p, route);
}

static size_t api_command_example(const struct opsbot_request *req, char *out,
				  size_t size, const char *text)
{
	return request_command_example((const struct request *)req, out, size,
				       text);
}

static int64_t api_now_ms(void)
{
	return time_now_ms();
}

const struct opsbot_api host_api = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .command_add = api_command_add,
    .reply = api_reply,
    .reply_private = api_reply_private,
    .reply_error = api_reply_error,
    .done = api_done,
    .has_capability = api_has_capability,
    .command_example = api_command_example,
    .say = api_say,
    .say_grouped = api_say_grouped,
    .say_progress = api_say_progress,
    .progress_end = api_progress_end,
    .log = api_log,
    .config_string = api_config_string,
    .config_int = api_config_int,
    .config_bool = api_config_bool,
    .config_duration_ms = api_config_duration_ms,
    .config_secret = api_config_secret,
    .config_list_count = api_config_list_count,
    .config_list_item = api_config_list_item,
    .config_section_count = api_config_section_count,
    .config_section_name = api_config_section_name,
    .store = api_store,
    .store_migrate = api_store_migrate,
    .state_set = api_state_set,
    .state_get = api_state_get,
    .state_delete = api_state_delete,
    .state_each = api_state_each,
    .timer_start = api_timer_start,
    .http_start = api_http_start,
    .http_header = http_header,
    .process_start = api_process_start,
    .process_signal = api_process_signal,
    .job_start = api_job_start,
    .job_is_cancelled = job_is_cancelled,
    .job_post = job_post,
    .job_post_wait = job_post_wait,
    .fd_watch = api_fd_watch,
    .fd_watch_update = api_fd_watch_update,
    .cancel = api_cancel,
    .webhook_add = api_webhook_add,
    .webhook_respond = webhook_respond,
    .webhook_header = webhook_header,
    .webhook_verify_token = webhook_verify_token,
    .webhook_verify_hmac = webhook_verify_hmac,
    .seen_before = api_seen_before,
    .url_encode = http_url_encode,
    .now_ms = api_now_ms,
    .mode = api_mode,
    .webhook_respond_header = webhook_respond_header,
};
