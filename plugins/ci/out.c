/*
 * out.c - the ci plugin's output: event names, patterns, transitions,
 * the wording of announcements, routing to channels, and each channel's
 * budget (a token bucket; lines that must wait are merged by event into
 * "3 jobs fixed: a #6, b #3, c #9"), plus one notice per outage.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ci.h"

static const char *const event_names[CI_EV_COUNT] = {
    "none",    "broken",      "fixed",	     "failing",	      "aborted",
    "started", "zuul-failed", "zuul-passed", "zuul-dequeued", "notice",
};

const char *ci_event_name(enum ci_event ev)
{
	return (unsigned)ev < CI_EV_COUNT ? event_names[ev] : "none";
}

long ci_event_mask(const char *list, struct sdk_buf *err)
{
	char **words = ci_strv_split(list);
	long mask = 0;

	for (char **w = words; *w; w++) {
		int found = 0;

		if (!strcmp(*w, "all")) {
			mask |= (1L << CI_EV_COUNT) - 2;
			continue;
		}
		for (int i = 1; i < CI_EV_COUNT; i++)
			if (!strcmp(*w, event_names[i])) {
				mask |= 1L << i;
				found = 1;
			}
		if (!found) {
			sdk_buf_addf(err,
				     "unknown event \"%s\" (known: broken, "
				     "fixed, failing, aborted, started, "
				     "zuul-failed, zuul-passed, zuul-dequeued, "
				     "notice, all)",
				     *w);
			ci_strv_free(words);
			return -1;
		}
	}
	ci_strv_free(words);
	return mask;
}

int ci_match_any(char *const *patterns, const char *s)
{
	if (!patterns || !*patterns)
		return 1;
	for (; *patterns; patterns++)
		if (!fnmatch(*patterns, s, 0))
			return 1;
	return 0;
}

char **ci_strv_split(const char *s)
{
	char **v = sdk_xcalloc(1, sizeof(char *));
	size_t n = 0;

	while (s && *s) {
		size_t skip = strspn(s, " \t,"), len;

		s += skip;
		len = strcspn(s, " \t,");
		if (!len)
			break;
		v = sdk_xreallocarray(v, n + 2, sizeof(char *));
		v[n++] = sdk_xstrndup(s, len);
		v[n] = NULL;
		s += len;
	}
	return v;
}

char **ci_strv_from_list(const struct opsbot_api *api,
			 struct opsbot_plugin *self, const char *section,
			 const char *key)
{
	int n = api->config_list_count(self, section, key);
	struct sdk_buf all = SDK_BUF_INIT;
	char **v;

	for (int i = 0; i < n; i++) {
		sdk_buf_adds(&all, " ");
		sdk_buf_adds(&all,
			     api->config_list_item(self, section, key, i));
	}
	v = ci_strv_split(sdk_buf_str(&all));
	sdk_buf_release(&all);
	return v;
}

void ci_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void ci_duration(struct sdk_buf *b, long long ms)
{
	long long s = (ms + 500) / 1000;

	if (s < 60)
		sdk_buf_addf(b, "%llds", s);
	else if (s < 3600)
		sdk_buf_addf(b, "%lldm%02llds", s / 60, s % 60);
	else
		sdk_buf_addf(b, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
}

void ci_clean(struct sdk_buf *b, const char *s, size_t max)
{
	if (!s)
		return;
	sdk_text_clean(b, s, strlen(s), SDK_TEXT_SQUEEZE, max);
}

static int failed(enum sdk_jenkins_result r)
{
	return r == SDK_JENKINS_FAILURE || r == SDK_JENKINS_UNSTABLE;
}

enum ci_event ci_transition(enum sdk_jenkins_result prev,
			    enum sdk_jenkins_result now)
{
	if (now == SDK_JENKINS_ABORTED)
		return CI_EV_ABORTED;
	if (now == SDK_JENKINS_SUCCESS)
		return failed(prev) ? CI_EV_FIXED : CI_EV_NONE;
	if (failed(now))
		return failed(prev) ? CI_EV_FAILING : CI_EV_BROKEN;
	return CI_EV_NONE;
}

/* "database=sqlite" -> "sqlite" (the value, for the "ok" list) */
static const char *axis_value(const char *axis)
{
	const char *eq = strchr(axis, '=');

	return eq && !strchr(axis, ',') ? eq + 1 : axis;
}

void ci_format_build(struct sdk_buf *line, struct sdk_buf *item,
		     enum ci_event ev, const char *job,
		     const struct sdk_jenkins_build *b)
{
	static const char *const words[CI_EV_COUNT] = {
	    [CI_EV_BROKEN] = "broken",	       [CI_EV_FIXED] = "fixed",
	    [CI_EV_FAILING] = "still failing", [CI_EV_ABORTED] = "aborted",
	    [CI_EV_STARTED] = "started",
	};
	int nfail = 0, nok = 0;

	sdk_buf_reset(item);
	ci_clean(item, job, 120);
	sdk_buf_addf(item, " #%ld", b->number);
	sdk_buf_adds(line, sdk_buf_str(item));
	sdk_buf_addf(line, " %s", words[ev] ? words[ev] : "finished");
	if (b->result == SDK_JENKINS_UNSTABLE &&
	    (ev == CI_EV_BROKEN || ev == CI_EV_FAILING))
		sdk_buf_adds(line, " (unstable)");
	for (int i = 0; i < b->nruns; i++) {
		if (failed(b->runs[i].result) ||
		    b->runs[i].result == SDK_JENKINS_ABORTED)
			nfail++;
		else if (b->runs[i].result == SDK_JENKINS_SUCCESS)
			nok++;
	}
	if (nfail && ev != CI_EV_FIXED && ev != CI_EV_STARTED) {
		int k = 0;

		sdk_buf_adds(line, " on ");
		for (int i = 0; i < b->nruns && k < 6; i++)
			if (failed(b->runs[i].result) ||
			    b->runs[i].result == SDK_JENKINS_ABORTED) {
				if (k++)
					sdk_buf_adds(line, ", ");
				ci_clean(line, b->runs[i].axis, 60);
			}
		if (nfail > k)
			sdk_buf_addf(line, " and %d more", nfail - k);
		if (nok) {
			k = 0;
			sdk_buf_adds(line, " (");
			for (int i = 0; i < b->nruns && k < 6; i++)
				if (b->runs[i].result == SDK_JENKINS_SUCCESS) {
					if (k++)
						sdk_buf_adds(line, ", ");
					ci_clean(line,
						 axis_value(b->runs[i].axis),
						 40);
				}
			if (nok > k)
				sdk_buf_addf(line, " +%d", nok - k);
			sdk_buf_adds(line, " ok)");
		}
	}
	if (ev != CI_EV_STARTED && b->duration_ms > 0) {
		sdk_buf_adds(line, ev == CI_EV_ABORTED ? " after " : ", ");
		ci_duration(line, b->duration_ms);
	}
	if (b->nculprits && ev != CI_EV_STARTED && ev != CI_EV_FIXED) {
		int shown = b->nculprits < 4 ? b->nculprits : 4;

		sdk_buf_adds(line, ", by ");
		for (int i = 0; i < shown; i++) {
			if (i)
				sdk_buf_adds(line, ", ");
			ci_clean(line, b->culprits[i], 40);
		}
		if (b->nculprits > shown)
			sdk_buf_addf(line, " +%d", b->nculprits - shown);
	}
	if (b->url) {
		sdk_buf_adds(line, ": ");
		ci_clean(line, b->url, 200);
	}
}

/* ------------------------------------------------------------------------ */
/* Channels and their budget                                                 */

static struct ci_chan *chan_get(struct ci *ci, const char *name)
{
	struct ci_chan *c;

	for (c = ci->chans; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	c = sdk_xcalloc(1, sizeof(*c));
	c->name = sdk_xstrdup(name);
	c->ci = ci;
	sdk_bucket_init(&c->bucket, (double)ci->budget_per_minute / 60.0,
			(double)ci->budget_burst, ci->api->now_ms());
	c->next = ci->chans;
	ci->chans = c;
	return c;
}

static void line_free(struct ci_pending_line *p)
{
	free(p->item);
	free(p->line);
	free(p);
}

static void chan_flush(struct ci *ci, struct ci_chan *c);

static long chan_timer_fire(struct opsbot_plugin *self, int status, void *data)
{
	struct ci_chan *c = data;

	(void)self;
	c->timer = 0;
	if (status == OPSBOT_OK && !c->ci->closing)
		chan_flush(c->ci, c);
	return OPSBOT_TIMER_STOP;
}

/*
 * Sends what the budget allows: one line per event kind that waits,
 * merged when several of a kind wait.
 */
static void chan_flush(struct ci *ci, struct ci_chan *c)
{
	while (c->head) {
		long wait = sdk_bucket_take(&c->bucket, ci->api->now_ms());
		enum ci_event ev = c->head->ev;
		struct ci_pending_line **at = &c->head, *p;
		int n = 0;
		struct sdk_buf items = SDK_BUF_INIT;

		if (wait > 0) {
			if (!c->timer) {
				int64_t id = ci->api->timer_start(
				    ci->self, wait, chan_timer_fire, c);

				c->timer = id > 0 ? id : 0;
			}
			return;
		}
		for (p = c->head; p; p = p->next)
			if (p->ev == ev)
				n++;
		if (n == 1) {
			p = c->head;
			ci->api->say_grouped(ci->self, c->name, "ci", "%s",
					     p->line);
		} else {
			int shown = 0;

			while ((p = *at)) {
				if (p->ev != ev) {
					at = &p->next;
					continue;
				}
				if (shown < 8) {
					if (shown++)
						sdk_buf_adds(&items, ", ");
					sdk_buf_adds(&items, p->item);
				}
				if (p != c->head) {
					*at = p->next;
					line_free(p);
					continue;
				}
				at = &p->next;
			}
			if (n > shown)
				sdk_buf_addf(&items, " and %d more", n - shown);
			if (ev == CI_EV_NOTICE)
				ci->api->say_grouped(ci->self, c->name, "ci",
						     "%d notices: %s", n,
						     sdk_buf_str(&items));
			else
				ci->api->say_grouped(
				    ci->self, c->name, "ci", "%d %s %s: %s", n,
				    ev >= CI_EV_ZUUL_FAILED ? "changes"
							    : "jobs",
				    ev == CI_EV_FAILING	      ? "still failing"
				    : ev == CI_EV_ZUUL_FAILED ? "failed"
				    : ev == CI_EV_ZUUL_PASSED ? "passed"
				    : ev == CI_EV_ZUUL_DEQUEUED
					? "dequeued"
					: ci_event_name(ev),
				    sdk_buf_str(&items));
			c->merged += n - 1;
		}
		sdk_buf_release(&items);
		p = c->head;
		c->head = p->next;
		line_free(p);
		c->sent++;
		/* merging may have taken the tail */
		c->tail = c->head;
		while (c->tail && c->tail->next)
			c->tail = c->tail->next;
	}
	c->tail = NULL;
}

static void chan_add(struct ci *ci, const char *channel, enum ci_event ev,
		     const char *item, const char *line)
{
	struct ci_chan *c = chan_get(ci, channel);
	struct ci_pending_line *p = sdk_xcalloc(1, sizeof(*p));

	p->ev = ev;
	p->item = sdk_xstrdup(item ? item : line);
	p->line = sdk_xstrdup(line);
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	ci->announced++;
	if (!c->timer)
		chan_flush(ci, c);
}

void ci_announce(struct ci *ci, enum ci_event ev, const char *server,
		 const char *job, const char *pipeline, const char *item,
		 const char *line)
{
	/* each channel once, whatever the number of routes to it */
	const char *done[64];
	int ndone = 0;

	for (int i = 0; i < ci->nroutes; i++) {
		struct ci_route *r = &ci->routes[i];
		int dup = 0;

		if (!(r->events & (1u << ev)))
			continue;
		/* a notice is about a server: every route of it gets it */
		if (!ci_match_any(r->servers, server) ||
		    (ev != CI_EV_NOTICE &&
		     !ci_match_any(r->jobs, job ? job : "")))
			continue;
		if (pipeline && !ci_match_any(r->pipelines, pipeline))
			continue;
		if (!pipeline && r->pipelines && *r->pipelines &&
		    ev >= CI_EV_ZUUL_FAILED && ev != CI_EV_NOTICE)
			continue;
		for (int k = 0; k < ndone; k++)
			if (!strcmp(done[k], r->channel))
				dup = 1;
		if (dup)
			continue;
		if (ndone < 64)
			done[ndone++] = r->channel;
		chan_add(ci, r->channel, ev, item, line);
	}
}

void ci_notice(struct ci *ci, const char *server, const char *line)
{
	if (ci->notice_channel && *ci->notice_channel)
		chan_add(ci, ci->notice_channel, CI_EV_NOTICE, line, line);
	else
		ci_announce(ci, CI_EV_NOTICE, server, NULL, NULL, line, line);
}

void ci_chans_free(struct ci *ci)
{
	struct ci_chan *c, *next;

	for (c = ci->chans; c; c = next) {
		struct ci_pending_line *p, *pn;

		next = c->next;
		for (p = c->head; p; p = pn) {
			pn = p->next;
			line_free(p);
		}
		free(c->name);
		free(c);
	}
	ci->chans = NULL;
}

/* ------------------------------------------------------------------------ */
/* Outages: one log line and one notice each way                             */

void ci_outage_failed(struct ci *ci, struct ci_outage *o, const char *kind,
		      const char *server, const char *error)
{
	o->failures++;
	if (o->down)
		return;
	o->down = 1;
	o->since = ci->api->now_ms();
	free(o->error);
	o->error = sdk_xstrdup(error);
	ci->api->log(ci->self, OPSBOT_LOG_WARN,
		     "%s %s unreachable: %s; retrying with backoff", kind,
		     server, error);
	{
		struct sdk_buf b = SDK_BUF_INIT;

		sdk_buf_addf(&b, "%s %s is unreachable (", kind, server);
		ci_clean(&b, error, 200);
		sdk_buf_adds(&b, "); watching resumes when it answers");
		ci_notice(ci, server, sdk_buf_str(&b));
		sdk_buf_release(&b);
	}
}

void ci_outage_ok(struct ci *ci, struct ci_outage *o, const char *kind,
		  const char *server)
{
	if (o->down) {
		struct sdk_buf b = SDK_BUF_INIT;

		sdk_buf_addf(&b, "%s %s answers again after ", kind, server);
		ci_duration(&b, ci->api->now_ms() - o->since);
		ci->api->log(ci->self, OPSBOT_LOG_WARN, "%s", sdk_buf_str(&b));
		ci_notice(ci, server, sdk_buf_str(&b));
		sdk_buf_release(&b);
	}
	o->down = 0;
	o->failures = 0;
	free(o->error);
	o->error = NULL;
}

long ci_next_poll(struct ci *ci, const struct ci_outage *o, long interval)
{
	static uint32_t rng = 0x9e3779b9u;

	if (!o->failures)
		return interval;
	return sdk_backoff_ms(o->failures - 1, interval, ci->backoff_max_ms,
			      &rng);
}
