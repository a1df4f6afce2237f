/*
 * api.c - the function table plugins get (struct opsbot_api): argument
 * checks, the thread check, and calls into the host's modules.
 */
#include "api.h"
#include "command.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "process.h"
#include "store.h"
#include "timer.h"
#include "webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static api_say_fn *say_fn;
static int run_mode = OPSBOT_MODE_DAEMON;

void api_set_say(api_say_fn *fn)
{
	say_fn = fn;
}

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
	if (say_fn)
		say_fn(target, group, text, strlen(text));
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

static const char *section_of(struct opsbot_plugin *p, char *buf, size_t size)
{
	snprintf(buf, size, "plugin.%s", p->name);
	return buf;
}

static const struct opsbot_config_key *
declared(struct opsbot_plugin *p, const char *key, enum opsbot_config_type type)
{
	const struct opsbot_config_key *k =
	    config_schema_find(p->desc->config, key);

	if (!k) {
		error(plugin_log_name(p),
		      "config key '%s' is not declared in "
		      "the descriptor",
		      key);
		return NULL;
	}
	if (k->type != type &&
	    !(type == OPSBOT_CONFIG_STRING && k->type != OPSBOT_CONFIG_SECRET &&
	      k->type != OPSBOT_CONFIG_LIST)) {
		error(plugin_log_name(p),
		      "config key '%s' read with the wrong "
		      "type",
		      key);
		return NULL;
	}
	return k;
}

static const char *api_config_string(struct opsbot_plugin *p, const char *key)
{
	char sec[80];

	if (!key || !declared(p, key, OPSBOT_CONFIG_STRING))
		return NULL;
	return config_get(p->config, section_of(p, sec, sizeof(sec)),
			  p->desc->config, key);
}

static long long api_config_int(struct opsbot_plugin *p, const char *key)
{
	char sec[80];

	if (!key || !declared(p, key, OPSBOT_CONFIG_INT))
		return 0;
	return config_get_int(p->config, section_of(p, sec, sizeof(sec)),
			      p->desc->config, key);
}

static int api_config_bool(struct opsbot_plugin *p, const char *key)
{
	char sec[80];

	if (!key || !declared(p, key, OPSBOT_CONFIG_BOOL))
		return 0;
	return config_get_bool(p->config, section_of(p, sec, sizeof(sec)),
			       p->desc->config, key);
}

static long long api_config_duration_ms(struct opsbot_plugin *p,
					const char *key)
{
	char sec[80];

	if (!key || !declared(p, key, OPSBOT_CONFIG_DURATION))
		return 0;
	return config_get_duration_ms(
	    p->config, section_of(p, sec, sizeof(sec)), p->desc->config, key);
}

static struct plugin_cache *cache_find(struct opsbot_plugin *p, const char *key)
{
	struct plugin_cache *c;

	for (c = p->cache; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	c = xcalloc(1, sizeof(*c));
	c->key = xstrdup(key);
	c->next = p->cache;
	p->cache = c;
	return c;
}

static const char *api_config_secret(struct opsbot_plugin *p, const char *key)
{
	struct plugin_cache *c;
	char sec[80], *err = NULL;

	if (!key || !declared(p, key, OPSBOT_CONFIG_SECRET))
		return NULL;
	c = cache_find(p, key);
	if (!c->secret) {
		c->secret = config_get_secret(
		    p->config, section_of(p, sec, sizeof(sec)), key, &err);
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

static struct plugin_cache *list_of(struct opsbot_plugin *p, const char *key)
{
	struct plugin_cache *c;
	char sec[80];

	if (!key || !declared(p, key, OPSBOT_CONFIG_LIST))
		return NULL;
	c = cache_find(p, key);
	if (!c->items)
		c->items =
		    config_get_list(p->config, section_of(p, sec, sizeof(sec)),
				    p->desc->config, key, &c->count);
	return c;
}

static int api_config_list_count(struct opsbot_plugin *p, const char *key)
{
	struct plugin_cache *c = list_of(p, key);

	return c ? c->count : 0;
}

static const char *api_config_list_item(struct opsbot_plugin *p,
					const char *key, int i)
{
	struct plugin_cache *c = list_of(p, key);

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
	return http_start(p, req, fn, data);
}

static int64_t api_process_start(struct opsbot_plugin *p,
				 const struct opsbot_process_options *opts,
				 opsbot_process_fn *fn, void *data)
{
	if (wrong_thread(p, "process_start") || checking(p, "process_start"))
		return OPSBOT_EINVAL;
	return process_start(p, opts, fn, data);
}

static int64_t api_job_start(struct opsbot_plugin *p, opsbot_job_work_fn *work,
			     opsbot_job_done_fn *done, void *data)
{
	if (wrong_thread(p, "job_start") || checking(p, "job_start"))
		return OPSBOT_EINVAL;
	return job_start(p, work, done, data);
}

static int api_cancel(struct opsbot_plugin *p, int64_t id)
{
	struct op *op;

	if (wrong_thread(p, "cancel"))
		return OPSBOT_EINVAL;
	op = op_find(p, id);
	if (!op)
		return OPSBOT_ENOENT;
	if (!op->cancel_requested) {
		op->cancel_requested = 1;
		op->kind->cancel(op);
	}
	return OPSBOT_OK;
}

static int api_webhook_add(struct opsbot_plugin *p, const char *method,
			   const char *path, opsbot_webhook_fn *fn, void *data)
{
	if (wrong_thread(p, "webhook_add"))
		return OPSBOT_EINVAL;
	if (p->state != PLUGIN_LOADING) {
		error(plugin_log_name(p), "webhook_add is only valid in init");
		return OPSBOT_EINVAL;
	}
	return webhook_add(p, method, path, fn, data);
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
    .say = api_say,
    .log = api_log,
    .config_string = api_config_string,
    .config_int = api_config_int,
    .config_bool = api_config_bool,
    .config_duration_ms = api_config_duration_ms,
    .config_secret = api_config_secret,
    .config_list_count = api_config_list_count,
    .config_list_item = api_config_list_item,
    .store = api_store,
    .store_migrate = api_store_migrate,
    .timer_start = api_timer_start,
    .http_start = api_http_start,
    .http_header = http_header,
    .process_start = api_process_start,
    .job_start = api_job_start,
    .job_is_cancelled = job_is_cancelled,
    .cancel = api_cancel,
    .webhook_add = api_webhook_add,
    .webhook_respond = webhook_respond,
    .webhook_header = webhook_header,
    .url_encode = http_url_encode,
    .now_ms = api_now_ms,
    .say_grouped = api_say_grouped,
    .mode = api_mode,
    .command_example = api_command_example,
};
