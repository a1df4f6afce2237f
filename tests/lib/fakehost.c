/*
 * fakehost.c - see fakehost.h.  One fake host at a time (the API's
 * reply/log functions carry no host pointer).
 */
#include "fakehost.h"
#include "http.h"
#include "sdk_parse.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct fakehost_event {
	struct fakehost_event *next;
	int64_t id;
	int64_t at;
	int is_http;
	opsbot_timer_fn *timer_fn;
	opsbot_http_fn *http_fn;
	void *data;
	struct fakehost_reply reply;
	char *body;
	char *headers[8];
	int cancelled;
};

struct fakehost_kv {
	char *key, *value;
};

struct fakehost {
	struct opsbot_api api;
	struct fakehost_event *events;
	int64_t now, next_id;
	struct fakehost_kv *config;
	int nconfig;
	int mode;
	fakehost_http_fn *http_fn;
	void *http_data;
	int http_count;
	sqlite3 *db;
	char *out;
	size_t out_len;
};

static struct fakehost *current;

static void out_add(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "%s ", prefix);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	current->out = realloc(current->out, current->out_len + n + 2);
	memcpy(current->out + current->out_len, line, n);
	current->out_len += n;
	current->out[current->out_len++] = '\n';
	current->out[current->out_len] = '\0';
}

#define OUT_FN(name, prefix)                                                   \
	static void name(struct opsbot_request *req, const char *fmt, ...)     \
	{                                                                      \
		va_list ap;                                                    \
		(void)req;                                                     \
		va_start(ap, fmt);                                             \
		out_add(prefix, fmt, ap);                                      \
		va_end(ap);                                                    \
	}
OUT_FN(fh_reply, "reply")
OUT_FN(fh_reply_private, "private")
OUT_FN(fh_reply_error, "error")

static void fh_say(struct opsbot_plugin *self, const char *target,
		   const char *fmt, ...)
{
	char prefix[300];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "say %s", target);
	va_start(ap, fmt);
	out_add(prefix, fmt, ap);
	va_end(ap);
}

static void fh_log(struct opsbot_plugin *self, enum opsbot_log_level level,
		   const char *fmt, ...)
{
	va_list ap;

	if (level > OPSBOT_LOG_WARN)
		return;
	va_start(ap, fmt);
	out_add("log", fmt, ap);
	va_end(ap);
}

static void fh_done(struct opsbot_request *req, int status)
{
	(void)req;
	(void)status;
}

static int fh_has_capability(const struct opsbot_request *req, const char *cap)
{
	return 1;
}

static int fh_command_add(struct opsbot_plugin *self,
			  const struct opsbot_command *cmd)
{
	return OPSBOT_OK;
}

/* A key of a sub-section is set as "kind.instance.key". */
static const char *fh_config_string(struct opsbot_plugin *self,
				    const char *section, const char *key)
{
	char full[256];

	if (section) {
		snprintf(full, sizeof(full), "%s.%s", section, key);
		key = full;
	}
	for (int i = current->nconfig - 1; i >= 0; i--)
		if (!strcmp(current->config[i].key, key))
			return current->config[i].value;
	return NULL;
}

static long long fh_config_int(struct opsbot_plugin *self, const char *section,
			       const char *key)
{
	const char *v = fh_config_string(self, section, key);

	return v ? strtoll(v, NULL, 10) : 0;
}

static int fh_config_bool(struct opsbot_plugin *self, const char *section,
			  const char *key)
{
	const char *v = fh_config_string(self, section, key);

	return v && (!strcmp(v, "true") || !strcmp(v, "yes") ||
		     !strcmp(v, "on") || !strcmp(v, "1"));
}

/* The SDK's parser: "90", "90s", "5m", "2h", "1h30m", "250ms" -> ms */
static long long fh_config_duration(struct opsbot_plugin *self,
				    const char *section, const char *key)
{
	const char *v = fh_config_string(self, section, key);
	long long ms;

	return v && sdk_duration_parse(v, &ms, NULL) == 0 ? ms : 0;
}

static int fh_list_count(struct opsbot_plugin *self, const char *section,
			 const char *key)
{
	int n = 0;

	for (int i = 0; i < current->nconfig; i++)
		n += !strcmp(current->config[i].key, key);
	return n;
}

static const char *fh_list_item(struct opsbot_plugin *self, const char *section,
				const char *key, int index)
{
	for (int i = 0; i < current->nconfig; i++)
		if (!strcmp(current->config[i].key, key) && index-- == 0)
			return current->config[i].value;
	return NULL;
}

static struct sqlite3 *fh_store(struct opsbot_plugin *self)
{
	return current->db;
}

static int fh_store_migrate(struct opsbot_plugin *self,
			    const char *const *steps, int count)
{
	for (int i = 0; i < count; i++)
		if (sqlite3_exec(current->db, steps[i], NULL, NULL, NULL) !=
		    SQLITE_OK)
			return OPSBOT_ERR;
	return OPSBOT_OK;
}

static int64_t fh_add_event(struct fakehost_event *ev)
{
	struct fakehost_event **pp = &current->events;

	ev->id = ++current->next_id;
	/* ordered by time, FIFO among equals */
	while (*pp && (*pp)->at <= ev->at)
		pp = &(*pp)->next;
	ev->next = *pp;
	*pp = ev;
	return ev->id;
}

static int64_t fh_timer_start(struct opsbot_plugin *self, long delay_ms,
			      opsbot_timer_fn *fn, void *data)
{
	struct fakehost_event *ev = calloc(1, sizeof(*ev));

	ev->at = current->now + (delay_ms > 0 ? delay_ms : 0);
	ev->timer_fn = fn;
	ev->data = data;
	return fh_add_event(ev);
}

static int64_t fh_http_start(struct opsbot_plugin *self,
			     const struct opsbot_http_request *req,
			     opsbot_http_fn *fn, void *data)
{
	struct fakehost_event *ev = calloc(1, sizeof(*ev));

	current->http_count++;
	ev->is_http = 1;
	ev->http_fn = fn;
	ev->data = data;
	ev->reply.status = OPSBOT_OK;
	ev->reply.code = 200;
	ev->reply.request_sent = 1;
	if (current->http_fn)
		current->http_fn(req, &ev->reply, current->http_data);
	ev->body = strdup(ev->reply.body ? ev->reply.body : "");
	for (int i = 0; i < 7 && ev->reply.headers[i]; i++)
		ev->headers[i] = strdup(ev->reply.headers[i]);
	ev->at = current->now + ev->reply.delay_ms;
	return fh_add_event(ev);
}

/* What the plugin's callback sees: the public response comes first. */
struct fakehost_response {
	struct opsbot_http_response pub;
	struct fakehost_event *ev;
};

static const char *fh_http_header(const struct opsbot_http_response *res,
				  const char *name, int nth)
{
	const struct fakehost_response *r =
	    (const struct fakehost_response *)res;
	size_t n = strlen(name);

	for (int i = 0; i < 7 && r->ev->headers[i]; i++) {
		const char *h = r->ev->headers[i];

		if (!strncasecmp(h, name, n) && h[n] == ':' && nth-- == 0)
			return h + n + 1 + strspn(h + n + 1, " ");
	}
	return NULL;
}

/* Cancelled operations are called back from the loop, right away. */
static int fh_cancel(struct opsbot_plugin *self, int64_t id)
{
	struct fakehost_event **pp = &current->events, *ev;

	while (*pp && ((*pp)->id != id || (*pp)->cancelled))
		pp = &(*pp)->next;
	if (!*pp)
		return OPSBOT_ENOENT;
	ev = *pp;
	*pp = ev->next;
	ev->cancelled = 1;
	ev->at = current->now;
	id = ev->id;
	fh_add_event(ev);
	ev->id = id;
	return OPSBOT_OK;
}

static int64_t fh_now_ms(void)
{
	return current->now;
}

static int fh_mode(void)
{
	return current->mode;
}

static int64_t fh_process_start(struct opsbot_plugin *self,
				const struct opsbot_process_options *opts,
				opsbot_process_fn *fn, void *data)
{
	return OPSBOT_EINVAL;
}

static int64_t fh_job_start(struct opsbot_plugin *self,
			    const struct opsbot_job_options *opts, void *data)
{
	return OPSBOT_EINVAL;
}

static int fh_webhook_add(struct opsbot_plugin *self,
			  const struct opsbot_webhook_route *route)
{
	return OPSBOT_EINVAL;
}

struct fakehost *fakehost_new(void)
{
	struct fakehost *h = calloc(1, sizeof(*h));

	current = h;
	h->now = 1000000;
	h->mode = OPSBOT_MODE_CLI;
	sqlite3_open(":memory:", &h->db);
	h->api = (struct opsbot_api){
	    .abi_major = OPSBOT_ABI_MAJOR,
	    .abi_minor = OPSBOT_ABI_MINOR,
	    .command_add = fh_command_add,
	    .reply = fh_reply,
	    .reply_private = fh_reply_private,
	    .reply_error = fh_reply_error,
	    .done = fh_done,
	    .has_capability = fh_has_capability,
	    .say = fh_say,
	    .log = fh_log,
	    .config_string = fh_config_string,
	    .config_int = fh_config_int,
	    .config_bool = fh_config_bool,
	    .config_duration_ms = fh_config_duration,
	    .config_secret = fh_config_string,
	    .config_list_count = fh_list_count,
	    .config_list_item = fh_list_item,
	    .store = fh_store,
	    .store_migrate = fh_store_migrate,
	    .timer_start = fh_timer_start,
	    .http_start = fh_http_start,
	    .http_header = fh_http_header,
	    .process_start = fh_process_start,
	    .job_start = fh_job_start,
	    .cancel = fh_cancel,
	    .webhook_add = fh_webhook_add,
	    /* The host's own: the tests link it anyway. */
	    .url_encode = http_url_encode,
	    .now_ms = fh_now_ms,
	    .mode = fh_mode,
	};
	return h;
}

void fakehost_free(struct fakehost *h)
{
	while (h->events) {
		struct fakehost_event *ev = h->events;

		h->events = ev->next;
		free(ev->body);
		for (int i = 0; i < 8; i++)
			free(ev->headers[i]);
		free(ev);
	}
	for (int i = 0; i < h->nconfig; i++) {
		free(h->config[i].key);
		free(h->config[i].value);
	}
	free(h->config);
	sqlite3_close_v2(h->db);
	free(h->out);
	free(h);
	if (current == h)
		current = NULL;
}

const struct opsbot_api *fakehost_api(struct fakehost *h)
{
	return &h->api;
}

struct opsbot_plugin *fakehost_plugin(struct fakehost *h)
{
	return (struct opsbot_plugin *)h;
}

void fakehost_config(struct fakehost *h, const char *key, const char *value)
{
	h->config =
	    realloc(h->config, (size_t)(h->nconfig + 1) * sizeof(*h->config));
	h->config[h->nconfig].key = strdup(key);
	h->config[h->nconfig].value = strdup(value);
	h->nconfig++;
}

void fakehost_mode(struct fakehost *h, int mode)
{
	h->mode = mode;
}

void fakehost_on_http(struct fakehost *h, fakehost_http_fn *fn, void *data)
{
	h->http_fn = fn;
	h->http_data = data;
}

int64_t fakehost_now(const struct fakehost *h)
{
	return h->now;
}

int fakehost_http_count(const struct fakehost *h)
{
	return h->http_count;
}

const char *fakehost_output(const struct fakehost *h)
{
	return h->out ? h->out : "";
}

void fakehost_output_clear(struct fakehost *h)
{
	h->out_len = 0;
	if (h->out)
		h->out[0] = '\0';
}

/* Runs one event (already unlinked); timers may re-arm themselves. */
static void fh_fire(struct fakehost *h, struct fakehost_event *ev)
{
	struct opsbot_plugin *self = fakehost_plugin(h);

	if (ev->is_http) {
		struct fakehost_response r = {{0}, ev};

		r.pub.status =
		    ev->cancelled ? OPSBOT_ECANCELED : ev->reply.status;
		r.pub.code = ev->cancelled ? 0 : ev->reply.code;
		r.pub.body = ev->cancelled ? "" : ev->body;
		r.pub.body_len = strlen(r.pub.body);
		r.pub.error =
		    r.pub.status == OPSBOT_OK
			? NULL
			: (ev->reply.error ? ev->reply.error : "cancelled");
		r.pub.request_sent = ev->reply.request_sent;
		ev->http_fn(self, &r.pub, ev->data);
	} else {
		long next = ev->timer_fn(
		    self, ev->cancelled ? OPSBOT_ECANCELED : OPSBOT_OK,
		    ev->data);

		if (!ev->cancelled && next != OPSBOT_TIMER_STOP) {
			struct fakehost_event *again =
			    calloc(1, sizeof(*again));

			again->at = h->now + (next > 0 ? next : 0);
			again->timer_fn = ev->timer_fn;
			again->data = ev->data;
			fh_add_event(again);
			/* keep the id the plugin knows */
			again->id = ev->id;
		}
	}
	free(ev->body);
	for (int i = 0; i < 8; i++)
		free(ev->headers[i]);
	free(ev);
}

int fakehost_run(struct fakehost *h, long max_ms)
{
	int64_t end = h->now + max_ms;
	int n = 0;

	current = h;
	while (h->events && h->events->at <= end) {
		struct fakehost_event *ev = h->events;

		h->events = ev->next;
		if (ev->at > h->now)
			h->now = ev->at;
		fh_fire(h, ev);
		n++;
	}
	if (!h->events)
		return n;
	h->now = end;
	return n;
}

void fakehost_cancel_all(struct fakehost *h)
{
	/* all pending ones are due now, in their order */
	for (struct fakehost_event *ev = h->events; ev; ev = ev->next) {
		ev->cancelled = 1;
		ev->at = h->now;
	}
}
