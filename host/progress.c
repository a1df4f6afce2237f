/*
 * progress.c - progress lines, "latest wins".  Each (plugin, target, key)
 * remembers when its last line went out; a line that comes sooner is held
 * (replacing any held one) and sent by a timer when the interval is over.
 * Entries belong to their plugin: an unload sends what is held (nothing
 * is lost) and frees them.
 */
#include "progress.h"
#include "say.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_INTERVAL_MS 30000
/* An entry idle this long after its last line is forgotten. */
#define FORGET_AFTER_MS (10 * 60 * 1000)

struct progress {
	struct list link;
	struct opsbot_plugin *plugin;
	char *target, *key;
	char *held; /* the newest line not yet sent, or NULL */
	int64_t last_sent;
	long interval_ms;
	uv_timer_t timer;
	int timer_open;
};

static struct list entries = LIST_INIT(entries);
static long default_interval = DEFAULT_INTERVAL_MS;
static unsigned timers_generation;

void progress_configure(long default_interval_ms)
{
	default_interval =
	    default_interval_ms > 0 ? default_interval_ms : DEFAULT_INTERVAL_MS;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void entry_free(struct progress *e)
{
	list_del(&e->link);
	free(e->target);
	free(e->key);
	free(e->held);
	/* A timer made on an earlier loop went with that loop. */
	if (e->timer_open && timers_generation == loop_generation()) {
		e->timer.data = e;
		uv_close((uv_handle_t *)&e->timer, on_timer_closed);
	} else {
		free(e);
	}
}

static void send_line(struct progress *e, const char *text)
{
	/* The queue key is the plugin's and the task's: another plugin's
	 * "build" is another task. */
	char *key = xasprintf("%s\x1f%s", plugin_log_name(e->plugin), e->key);

	say_emit_progress(e->target, key, text, strlen(text));
	free(key);
	e->last_sent = time_now_ms();
}

static void on_due(uv_timer_t *t)
{
	struct progress *e = t->data;

	if (!e->held) {
		/* Nothing new for a long while: forget the key. */
		if (time_now_ms() - e->last_sent >= FORGET_AFTER_MS)
			entry_free(e);
		return;
	}
	send_line(e, e->held);
	free(e->held);
	e->held = NULL;
	loop_timer_start(&e->timer, on_due, FORGET_AFTER_MS, 0);
}

static struct progress *entry_find(struct opsbot_plugin *p, const char *target,
				   const char *key)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &entries)
	{
		struct progress *e = list_entry(pos, struct progress, link);

		if (e->plugin == p && !strcmp(e->target, target) &&
		    !strcmp(e->key, key))
			return e;
	}
	return NULL;
}

void progress_say(struct opsbot_plugin *p, const char *target, const char *key,
		  long min_interval_ms, const char *text)
{
	struct progress *e = entry_find(p, target, key);
	int64_t now = time_now_ms();

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->plugin = p;
		e->target = xstrdup(target);
		e->key = xstrdup(key);
		e->last_sent = INT64_MIN / 2;
		list_add_tail(&entries, &e->link);
	}
	if (!e->timer_open || timers_generation != loop_generation()) {
		uv_timer_init(loop_get(), &e->timer);
		e->timer.data = e;
		e->timer_open = 1;
		timers_generation = loop_generation();
	}
	e->interval_ms =
	    min_interval_ms > 0 ? min_interval_ms : default_interval;
	if (now - e->last_sent >= e->interval_ms) {
		free(e->held);
		e->held = NULL;
		send_line(e, text);
		loop_timer_start(&e->timer, on_due, FORGET_AFTER_MS, 0);
		return;
	}
	if (!e->held)
		loop_timer_start(
		    &e->timer, on_due,
		    (uint64_t)(e->last_sent + e->interval_ms - now), 0);
	free(e->held);
	e->held = xstrdup(text);
}

void progress_end(struct opsbot_plugin *p, const char *target, const char *key)
{
	struct progress *e = entry_find(p, target, key);

	if (e)
		entry_free(e);
}

/* Unload: what is held goes out, then the plugin's entries go. */
static void progress_sweep(struct opsbot_plugin *p)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &entries)
	{
		struct progress *e = list_entry(pos, struct progress, link);

		if (e->plugin != p)
			continue;
		if (e->held)
			send_line(e, e->held);
		entry_free(e);
	}
}

static struct plugin_sweeper sweeper = {"progress", progress_sweep, NULL};

void progress_init(void)
{
	plugin_add_sweeper(&sweeper);
}
