/*
 * fakehost.c - see fakehost.h.  One fake host at a time (the API's
 * reply/log functions carry no host pointer).  This file keeps virtual
 * time and the event queue, timers, HTTP, output and config; the other
 * kinds live in fakehost_work.c, fakehost_web.c and fakehost_life.c.
 */
#include "fakehost.h"
#include "confirm.h"
#include "fakehost_internal.h"
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
	/* A piece of another part (a job's start, a process's line): no
	 * operation of its own, never cancelled here. */
	fh_event_fn *run;
	void *arg;
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
	struct fh_parts parts;
	/* The timer whose callback runs now, and whether it cancelled
	 * itself there (then it is not re-armed). */
	int64_t firing_timer;
	int firing_cancelled;
	/* The config at the last load or accepted reconfigure. */
	struct fakehost_kv *saved;
	int nsaved;
	char **names; /* section names handed out */
	int nnames;
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
		const char *pre = prefix;                                      \
		if (!strcmp(pre, "reply") &&                                   \
		    fh_life_force_private(current, req))                       \
			pre = "private";                                       \
		va_start(ap, fmt);                                             \
		out_add(pre, fmt, ap);                                         \
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

static int fh_has_capability(const struct opsbot_request *req, const char *cap)
{
	return 1;
}

/* A key of a sub-section is set as "kind.instance.key". */
static void full_key(char *out, size_t size, const char *section,
		     const char *key)
{
	snprintf(out, size, "%s%s%s", section ? section : "",
		 section ? "." : "", key ? key : "");
}

/* Does the instance "kind.instance" have any key (or a declaration)? */
static int section_exists(const char *section)
{
	size_t n = strlen(section);

	for (int i = 0; i < current->nconfig; i++)
		if (!strncmp(current->config[i].key, section, n) &&
		    current->config[i].key[n] == '.')
			return 1;
	return 0;
}

/* The descriptor's default of key, after fakehost_load(). */
static const char *config_default(const char *section, const char *key)
{
	const struct opsbot_plugin_descriptor *d = current->parts.desc;
	const struct opsbot_config_key *keys = d ? d->config : NULL;

	if (!d || !key)
		return NULL;
	if (section) {
		const char *dot = strchr(section, '.');

		keys = NULL;
		if (!dot || !section_exists(section))
			return NULL;
		for (const struct opsbot_config_section *k = d->sections;
		     k && k->kind; k++)
			if (strlen(k->kind) == (size_t)(dot - section) &&
			    !strncmp(k->kind, section, (size_t)(dot - section)))
				keys = k->keys;
	}
	for (; keys && keys->key; keys++)
		if (!strcmp(keys->key, key))
			return keys->default_value;
	return NULL;
}

static const char *fh_config_string(struct opsbot_plugin *self,
				    const char *section, const char *key)
{
	char full[256];

	full_key(full, sizeof(full), section, key);
	for (int i = current->nconfig - 1; i >= 0; i--)
		if (!strcmp(current->config[i].key, full))
			return current->config[i].value;
	return config_default(section, key);
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
	char full[256];
	int n = 0;

	full_key(full, sizeof(full), section, key);
	for (int i = 0; i < current->nconfig; i++)
		n += !strcmp(current->config[i].key, full);
	return n;
}

static const char *fh_list_item(struct opsbot_plugin *self, const char *section,
				const char *key, int index)
{
	char full[256];

	full_key(full, sizeof(full), section, key);
	for (int i = 0; i < current->nconfig; i++)
		if (!strcmp(current->config[i].key, full) && index-- == 0)
			return current->config[i].value;
	return NULL;
}

/*
 * The instance of kind named by config key i ("jenkins.main.url" ->
 * "main"), copied into out; 0 if key i is not of kind.
 */
static int instance_of(int i, const char *kind, char *out, size_t size)
{
	const char *k = current->config[i].key, *end;
	size_t n = strlen(kind);

	if (strncmp(k, kind, n) || k[n] != '.')
		return 0;
	end = strchr(k + n + 1, '.');
	if (!end || (size_t)(end - (k + n + 1)) >= size)
		return 0;
	memcpy(out, k + n + 1, (size_t)(end - (k + n + 1)));
	out[end - (k + n + 1)] = '\0';
	return 1;
}

/* Instance number index of kind in first-set order: its first key, or
 * -1.  Returns the count when index is -1. */
static int section_walk(const char *kind, int index)
{
	int count = 0;

	for (int i = 0; kind && i < current->nconfig; i++) {
		char name[64], other[64];
		int seen = 0;

		if (!instance_of(i, kind, name, sizeof(name)))
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = instance_of(j, kind, other, sizeof(other)) &&
			       !strcmp(name, other);
		if (seen)
			continue;
		if (count++ == index)
			return i;
	}
	return index < 0 ? count : -1;
}

static int fh_section_count(struct opsbot_plugin *self, const char *kind)
{
	return section_walk(kind, -1);
}

static const char *fh_section_name(struct opsbot_plugin *self, const char *kind,
				   int index)
{
	int i = index >= 0 ? section_walk(kind, index) : -1;
	char name[64];

	if (i < 0 || !instance_of(i, kind, name, sizeof(name)))
		return NULL;
	/* Host-owned and stable until fakehost_free(), like the host's. */
	for (int j = 0; j < current->nnames; j++)
		if (!strcmp(current->names[j], name))
			return current->names[j];
	current->names = realloc(current->names, (size_t)(current->nnames + 1) *
						     sizeof(*current->names));
	current->names[current->nnames] = strdup(name);
	return current->names[current->nnames++];
}

static struct sqlite3 *fh_store(struct opsbot_plugin *self)
{
	return current->db;
}

/* As the host's: the version reached is kept, so a plugin loaded again
 * (after fakehost_unload) runs only the steps it has not run yet; each
 * step in a transaction with its version. */
static int fh_store_migrate(struct opsbot_plugin *self,
			    const char *const *steps, int count)
{
	sqlite3_stmt *st;
	int version = 0;

	(void)self;
	if (sqlite3_exec(current->db,
			 "CREATE TABLE IF NOT EXISTS fakehost_schema (version "
			 "INTEGER NOT NULL); INSERT INTO fakehost_schema "
			 "SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM "
			 "fakehost_schema)",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(current->db,
			       "SELECT version FROM fakehost_schema", -1, &st,
			       NULL) != SQLITE_OK)
		return OPSBOT_ERR;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	for (int i = version; i < count; i++) {
		char bump[80];

		snprintf(bump, sizeof(bump),
			 "UPDATE fakehost_schema SET version = %d", i + 1);
		if (sqlite3_exec(current->db, "BEGIN", NULL, NULL, NULL) !=
			SQLITE_OK ||
		    sqlite3_exec(current->db, steps[i], NULL, NULL, NULL) !=
			SQLITE_OK ||
		    sqlite3_exec(current->db, bump, NULL, NULL, NULL) !=
			SQLITE_OK ||
		    sqlite3_exec(current->db, "COMMIT", NULL, NULL, NULL) !=
			SQLITE_OK) {
			sqlite3_exec(current->db, "ROLLBACK", NULL, NULL, NULL);
			return OPSBOT_ERR;
		}
	}
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
	struct fakehost_event *ev;
	int refused = fh_refuse_start(current);

	if (refused)
		return refused;
	if (!fn)
		return OPSBOT_EINVAL;
	ev = calloc(1, sizeof(*ev));
	ev->at = current->now + (delay_ms > 0 ? delay_ms : 0);
	ev->timer_fn = fn;
	ev->data = data;
	return fh_add_event(ev);
}

static int64_t fh_http_start(struct opsbot_plugin *self,
			     const struct opsbot_http_request *req,
			     opsbot_http_fn *fn, void *data)
{
	struct fakehost_event *ev;
	int refused = fh_refuse_start(current);

	if (refused)
		return refused;
	if (!req || req->size < sizeof(*req) || !req->url || !fn)
		return OPSBOT_EINVAL;
	ev = calloc(1, sizeof(*ev));
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

/*
 * Cancelled operations are called back from the loop, right away.  A
 * second cancel() changes nothing; a timer may cancel itself from its
 * own callback (then it is not re-armed and gets its final call).
 */
static int fh_cancel(struct opsbot_plugin *self, int64_t id)
{
	struct fakehost_event **pp = &current->events, *ev;
	int rc = fh_work_cancel(current, id, OPSBOT_ECANCELED);

	if (rc != 1)
		return rc;
	if (id > 0 && id == current->firing_timer) {
		current->firing_cancelled = 1;
		return OPSBOT_OK;
	}
	while (*pp && ((*pp)->id != id || (*pp)->run))
		pp = &(*pp)->next;
	if (!*pp)
		return OPSBOT_ENOENT;
	if ((*pp)->cancelled)
		return OPSBOT_OK;
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

/* ---- what the other parts use (fakehost_internal.h) ---- */

struct fakehost *fh_current(void)
{
	return current;
}

struct fh_parts *fh_parts(struct fakehost *h)
{
	return &h->parts;
}

int64_t fh_new_id(struct fakehost *h)
{
	return ++h->next_id;
}

int64_t fh_schedule(struct fakehost *h, long delay_ms, fh_event_fn *fn,
		    void *arg)
{
	struct fakehost_event *ev = calloc(1, sizeof(*ev));
	struct fakehost *saved = current;
	int64_t id;

	current = h;
	ev->at = h->now + (delay_ms > 0 ? delay_ms : 0);
	ev->run = fn;
	ev->arg = arg;
	id = fh_add_event(ev);
	current = saved;
	return id;
}

int fh_unschedule(struct fakehost *h, int64_t event_id)
{
	struct fakehost_event **pp = &h->events, *ev;

	while (*pp && ((*pp)->id != event_id || !(*pp)->run))
		pp = &(*pp)->next;
	if (!*pp)
		return OPSBOT_ENOENT;
	ev = *pp;
	*pp = ev->next;
	free(ev);
	return OPSBOT_OK;
}

void fh_emit(struct fakehost *h, const char *prefix, const char *fmt, ...)
{
	struct fakehost *saved = current;
	va_list ap;

	current = h;
	va_start(ap, fmt);
	out_add(prefix, fmt, ap);
	va_end(ap);
	current = saved;
}

int fh_timers_live(const struct fakehost *h)
{
	int n = h->firing_timer > 0;

	for (struct fakehost_event *ev = h->events; ev; ev = ev->next)
		n += !ev->run;
	return n;
}

int fh_refuse_start(struct fakehost *h)
{
	if (h->mode == OPSBOT_MODE_CHECK)
		return OPSBOT_EINVAL;
	if (h->parts.phase == FH_CLOSING || h->parts.phase == FH_GONE)
		return OPSBOT_ECLOSING;
	return OPSBOT_OK;
}

static void config_free(struct fakehost_kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static struct fakehost_kv *config_copy(const struct fakehost_kv *kv, int n)
{
	struct fakehost_kv *copy = calloc((size_t)n + 1, sizeof(*copy));

	for (int i = 0; i < n; i++) {
		copy[i].key = strdup(kv[i].key);
		copy[i].value = strdup(kv[i].value);
	}
	return copy;
}

void fh_config_save(struct fakehost *h)
{
	config_free(h->saved, h->nsaved);
	h->saved = config_copy(h->config, h->nconfig);
	h->nsaved = h->nconfig;
}

void fh_config_restore(struct fakehost *h)
{
	config_free(h->config, h->nconfig);
	h->config = config_copy(h->saved, h->nsaved);
	h->nconfig = h->nsaved;
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
	    .reply = fh_reply,
	    .reply_private = fh_reply_private,
	    .reply_error = fh_reply_error,
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
	    .config_section_count = fh_section_count,
	    .config_section_name = fh_section_name,
	    .store = fh_store,
	    .store_migrate = fh_store_migrate,
	    .timer_start = fh_timer_start,
	    .http_start = fh_http_start,
	    .http_header = fh_http_header,
	    .cancel = fh_cancel,
	    /* The host's own: the tests link it anyway. */
	    .url_encode = http_url_encode,
	    .now_ms = fh_now_ms,
	    .mode = fh_mode,
	};
	h->parts.name = strdup("plugin");
	fh_work_install(&h->api);
	fh_web_install(&h->api);
	fh_life_install(&h->api);
	return h;
}

void fakehost_free(struct fakehost *h)
{
	current = h;
	fh_work_free(h);
	fh_web_free(h);
	fh_life_free(h);
	free(h->parts.name);
	confirm_clear();
	config_free(h->saved, h->nsaved);
	for (int i = 0; i < h->nnames; i++)
		free(h->names[i]);
	free(h->names);
	while (h->events) {
		struct fakehost_event *ev = h->events;

		h->events = ev->next;
		free(ev->body);
		for (int i = 0; i < 8; i++)
			free(ev->headers[i]);
		free(ev);
	}
	config_free(h->config, h->nconfig);
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

void fakehost_config_unset(struct fakehost *h, const char *key)
{
	int j = 0;

	for (int i = 0; i < h->nconfig; i++) {
		if (!strcmp(h->config[i].key, key)) {
			free(h->config[i].key);
			free(h->config[i].value);
			continue;
		}
		h->config[j++] = h->config[i];
	}
	h->nconfig = j;
}

/* "kind.instance." makes the instance exist without a key of its own. */
void fakehost_config_section(struct fakehost *h, const char *kind,
			     const char *instance)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s.", kind, instance);
	fakehost_config(h, key, "");
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

/*
 * Runs one event (already unlinked); timers may re-arm themselves.
 * Returns the number of callbacks run.
 */
static int fh_fire(struct fakehost *h, struct fakehost_event *ev)
{
	struct opsbot_plugin *self = fakehost_plugin(h);

	if (ev->run) {
		int n = ev->run(h, ev->arg);

		free(ev);
		return n;
	}
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
		int64_t outer = h->firing_timer;
		int outer_cancelled = h->firing_cancelled;
		long next;

		h->firing_timer = ev->cancelled ? 0 : ev->id;
		h->firing_cancelled = 0;
		next = ev->timer_fn(
		    self, ev->cancelled ? OPSBOT_ECANCELED : OPSBOT_OK,
		    ev->data);
		if (!ev->cancelled &&
		    (next != OPSBOT_TIMER_STOP || h->firing_cancelled)) {
			struct fakehost_event *again =
			    calloc(1, sizeof(*again));

			/* cancelled from its own callback: the final call */
			again->cancelled = h->firing_cancelled;
			again->at =
			    h->now + (next > 0 && !again->cancelled ? next : 0);
			again->timer_fn = ev->timer_fn;
			again->data = ev->data;
			fh_add_event(again);
			/* keep the id the plugin knows */
			again->id = ev->id;
		}
		h->firing_timer = outer;
		h->firing_cancelled = outer_cancelled;
	}
	free(ev->body);
	for (int i = 0; i < 8; i++)
		free(ev->headers[i]);
	free(ev);
	return 1;
}

/* Runs what is due up to end; nested calls (from a job's work) are fine. */
static int run_until(struct fakehost *h, int64_t end, int always)
{
	int n = 0;

	current = h;
	while (h->events && h->events->at <= end) {
		struct fakehost_event *ev = h->events;

		h->events = ev->next;
		if (ev->at > h->now)
			h->now = ev->at;
		n += fh_fire(h, ev);
		current = h;
	}
	if ((always || h->events) && h->now < end)
		h->now = end;
	return n;
}

int fakehost_run(struct fakehost *h, long max_ms)
{
	return run_until(h, h->now + max_ms, 0);
}

int fakehost_advance(struct fakehost *h, long ms)
{
	return run_until(h, h->now + (ms > 0 ? ms : 0), 1);
}

void fh_cancel_timers(struct fakehost *h)
{
	struct fakehost_event **pp = &h->events, *taken = NULL, **tail = &taken;

	current = h;
	/* Timers and requests: their final calls are due now, in order. */
	while (*pp) {
		struct fakehost_event *ev = *pp;

		if (ev->run || ev->cancelled) {
			pp = &ev->next;
			continue;
		}
		*pp = ev->next;
		ev->next = NULL;
		*tail = ev;
		tail = &ev->next;
	}
	while (taken) {
		struct fakehost_event *ev = taken;
		int64_t id = ev->id;

		taken = ev->next;
		ev->cancelled = 1;
		ev->at = h->now;
		fh_add_event(ev);
		ev->id = id;
	}
	if (h->firing_timer)
		h->firing_cancelled = 1;
}

void fakehost_cancel_all(struct fakehost *h)
{
	fh_cancel_timers(h);
	fh_work_cancel_all(h, 0);
}
