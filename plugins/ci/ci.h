/*
 * ci.h - the ci plugin's shared state: Jenkins servers (polled with the
 * SDK's Jenkins client and fed by Notification-plugin webhooks), Zuul
 * tenants (polled status), routes from (server, job or project,
 * pipeline, event) to channels, and each channel's output budget.
 *
 * Files: ci.c (descriptor, config, commands), watch.c (Jenkins polling,
 * webhooks, transitions, persisted last-seen builds), zuul.c (Zuul
 * status polling and queries), out.c (routing, budgets, merged lines,
 * formatting: pure parts unit-tested).
 */
#ifndef CI_H
#define CI_H

#include <stdint.h>

#include "opsbot.h"
#include "opsbot_sdk.h"

#define CI_MAX_SERVERS 6 /* Jenkins + Zuul share the queue's 8 services */

/* What can be announced; routes select them by name (ci_event_name). */
enum ci_event {
	CI_EV_NONE = 0,
	CI_EV_BROKEN,	     /* failure after success (or a first failure) */
	CI_EV_FIXED,	     /* success after failure */
	CI_EV_FAILING,	     /* still failing (rate-limited per job) */
	CI_EV_ABORTED,	     /* aborted */
	CI_EV_STARTED,	     /* a build started (off unless routed) */
	CI_EV_ZUUL_FAILED,   /* a change left a pipeline, failed */
	CI_EV_ZUUL_PASSED,   /* ... passed */
	CI_EV_ZUUL_DEQUEUED, /* ... left before its jobs ended */
	CI_EV_NOTICE,	     /* outages and recoveries */
	CI_EV_COUNT,
};
#define CI_EV_DEFAULT                                                          \
	((1u << CI_EV_BROKEN) | (1u << CI_EV_FIXED) | (1u << CI_EV_FAILING) |  \
	 (1u << CI_EV_ABORTED) | (1u << CI_EV_ZUUL_FAILED) |                   \
	 (1u << CI_EV_NOTICE))

const char *ci_event_name(enum ci_event ev);
/* "broken,fixed" -> mask; -1 with a message naming the bad word. */
long ci_event_mask(const char *list, struct sdk_buf *err);

/* One Jenkins job as the plugin knows it. */
struct ci_job {
	char *name;		      /* full name */
	long number;		      /* the last completed build handled */
	enum sdk_jenkins_result last; /* its result */
	enum sdk_jenkins_result prev; /* the last result other than
					 ABORTED: what broken/fixed compare */
	long long duration_ms;
	int64_t failing_told; /* wall ms of the last "still failing" */
	long started;	      /* the last build announced as started */
	long pending;	      /* a completed build whose details are asked */
	int matrix, building, generation;
	struct sdk_bucket flap; /* announcements per job */
	int flap_told;
	struct ci_job *next; /* hash chain */
};

struct ci_outage {
	int down;
	int failures;
	int64_t since; /* monotonic ms */
	char *error;
};

struct ci_jserver {
	char name[33];
	struct sdk_jenkins jk;
	int configured; /* jk set up (a url) */
	int poll;
	int depth;
	char **patterns; /* job name patterns (fnmatch), NULL-ended */
	char *folder;
	char *hook_token;
	char hook_path[80];
	struct ci_job **table;
	size_t nbuckets, njobs;
	int generation, polled_once;
	int64_t timer, last_ok;
	struct ci_outage out;
	long polls, requests;
	struct ci *ci;
};

/* A Zuul job of an item, as last seen. */
struct ci_zjob {
	char *name;
	char *result;		/* NULL while running */
	long long remaining_ms; /* -1: unknown */
	int voting;
};

struct ci_zitem {
	char *key; /* pipeline + item identity */
	char *pipeline, *change, *project, *url, *queue;
	int position; /* in its change queue, from 1 */
	long long remaining_ms, enqueue_ms;
	struct ci_zjob *jobs;
	int njobs;
	int generation;
	char state[16]; /* persisted summary: running, passed, failed */
	struct ci_zitem *next;
};

struct ci_zserver {
	char name[33];
	char *url, *tenant, *status_url;
	int legacy; /* a v2 /status.json url */
	char **projects, **pipelines;
	int service;
	struct ci_zitem *items;
	int generation, polled_once;
	int64_t timer, last_ok;
	struct ci_outage out;
	long polls;
	struct ci *ci;
};

struct ci_route {
	char *channel;
	char **servers, **jobs, **pipelines; /* patterns, NULL-ended */
	unsigned events;
	int dynamic; /* from !ci watch */
};

struct ci_pending_line {
	enum ci_event ev;
	char *item; /* "app #6" for merged lines */
	char *line; /* the full line */
	struct ci_pending_line *next;
};

struct ci_chan {
	char *name;
	struct sdk_bucket bucket;
	struct ci_pending_line *head, *tail;
	int64_t timer;
	long sent, merged;
	struct ci *ci;
	struct ci_chan *next;
};

struct ci {
	struct opsbot_plugin *self;
	const struct opsbot_api *api;
	struct sdk_http_queue q;
	struct ci_jserver js[CI_MAX_SERVERS];
	int njs;
	struct ci_zserver zs[CI_MAX_SERVERS];
	int nzs;
	struct ci_route *routes;
	int nroutes;
	struct ci_chan *chans;
	/* [plugin.ci] */
	long poll_ms, zuul_poll_ms, backoff_max_ms, failing_every_ms;
	long budget_burst, budget_per_minute;
	long flap_burst, flap_per_hour;
	char *notice_channel;
	long max_body;
	int closing;
	long announced, hooks, hook_dupes;
};

/* ---- out.c ---- */

/* fnmatch over a NULL-ended list; an empty/NULL list matches all. */
int ci_match_any(char *const *patterns, const char *s);
/* Splits "a, b c" into a NULL-ended list of words; free with
   ci_strv_free. */
char **ci_strv_split(const char *s);
char **ci_strv_from_list(const struct opsbot_api *api,
			 struct opsbot_plugin *self, const char *section,
			 const char *key);
void ci_strv_free(char **v);
/* "4m12s", "42s", "1h02m" */
void ci_duration(struct sdk_buf *b, long long ms);
/* Appends outside text cleaned for chat (one line, capped). */
void ci_clean(struct sdk_buf *b, const char *s, size_t max);
/* What a completed result means, given the last non-aborted one. */
enum ci_event ci_transition(enum sdk_jenkins_result prev,
			    enum sdk_jenkins_result now);
/*
 * The announcement of a Jenkins build: "kallithea #212 broken on
 * database=postgresql (sqlite, mysql ok), 4m12s, by alice: URL".
 * item gets "kallithea #212" for merged lines.
 */
void ci_format_build(struct sdk_buf *line, struct sdk_buf *item,
		     enum ci_event ev, const char *job,
		     const struct sdk_jenkins_build *b);
/* Sends ev about (server, job, pipeline) to every route that wants it. */
void ci_announce(struct ci *ci, enum ci_event ev, const char *server,
		 const char *job, const char *pipeline, const char *item,
		 const char *line);
/* An outage notice (ev NOTICE) to the notice channel, or the routes. */
void ci_notice(struct ci *ci, const char *server, const char *line);
void ci_chans_free(struct ci *ci);
void ci_outage_failed(struct ci *ci, struct ci_outage *o, const char *kind,
		      const char *server, const char *error);
void ci_outage_ok(struct ci *ci, struct ci_outage *o, const char *kind,
		  const char *server);
/* The delay before the next poll: interval, or backoff while down. */
long ci_next_poll(struct ci *ci, const struct ci_outage *o, long interval);

/* ---- watch.c ---- */

int ci_jenkins_start(struct ci *ci);
void ci_jenkins_free(struct ci *ci);
struct ci_job *ci_job_find(struct ci_jserver *s, const char *name);
struct ci_jserver *ci_jserver_find(struct ci *ci, const char *name);
opsbot_webhook_fn ci_jenkins_webhook;
/* Handles one completed (or started) build: transition, state, say. */
void ci_build_seen(struct ci_jserver *s, const char *job, int matrix,
		   const struct sdk_jenkins_build *b, int started);

/* ---- zuul.c ---- */

int ci_zuul_start(struct ci *ci);
void ci_zuul_free(struct ci *ci);
struct ci_zserver *ci_zserver_find(struct ci *ci, const char *name);
/* Parses a status document into items (both layouts); -1 and err for a
   document that is not one. */
int ci_zuul_parse(struct ci_zserver *z, const char *body, size_t len,
		  struct sdk_buf *err);
int ci_zuul_cmd(struct ci *ci, struct opsbot_request *req);

#endif /* CI_H */
