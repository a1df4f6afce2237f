/*
 * sdk_jenkins.h - a Jenkins remote-API client for plugins (part of the
 * plugin SDK), on the SDK's HTTP call queue (sdk_http.h): one server's
 * address and credentials, CSRF crumbs, job and build queries with
 * `tree=` filters, triggering builds, following a queue item to its
 * build and the build to its end, stopping builds and cancelling queue
 * items.  Contract: Jenkins remote access API (job/.../api/json,
 * queue/item/N/api/json, buildWithParameters, crumbIssuer).
 *
 * Naming.  A job is named by its full name, folders separated by '/':
 * "kallithea", "team/app", "team/app/main" (a multibranch branch whose
 * own name holds '/' cannot be named this way; use its URL path).  The
 * client builds "job/team/job/app/" from it, each segment URL-encoded,
 * under the configured root (which may hold a context path:
 * "https://ci.example/jenkins/").
 *
 * Auth.  user + API token (Basic): no crumb is needed (Jenkins >= 2.96).
 * user + password: POSTs carry a crumb from crumbIssuer/api/json, with
 * the session cookie it came with (crumbs are tied to the session since
 * 2.176.2); a 404 from crumbIssuer means CSRF protection is off.  A POST
 * refused with 403 "No valid crumb" gets a fresh crumb and is sent once
 * more (a 403 for a crumb was never acted on).  No user: anonymous.
 *
 * Errors.  Every callback gets `error`: NULL on success, else one line
 * for chat and logs, never holding the credentials: "jenkins main: job
 * kallithea is disabled (409)", "jenkins main: no such job foo (404)",
 * "jenkins main: unexpected html answer (200)".  Jenkins error bodies
 * are HTML pages: the status code is what counts.  Outside text (job
 * names, culprits, `why`) is handed over as Jenkins sent it: clean it
 * (sdk_text_clean) before it reaches chat.
 *
 * Lifetime.  Every call ends with exactly one callback (the queue's
 * promise), possibly with error "cancelled" when the queue is cancelled.
 * Do not free a struct sdk_jenkins while calls or follows are pending:
 * stop follows with sdk_jenkins_follow_stop() and cancel the queue first.
 *
 * Host API use: through the queue, plus timer_start, cancel, now_ms and
 * http_header.
 */
#ifndef SDK_JENKINS_H
#define SDK_JENKINS_H

#include <jansson.h>
#include <stdint.h>

#include "opsbot.h"
#include "sdk_buf.h"
#include "sdk_http.h"

/* One server (copied by sdk_jenkins_init()). */
struct sdk_jenkins_config {
	const char *name;     /* for messages: "main" */
	const char *url;      /* root, http(s)://host[:port][/context][/] */
	const char *user;     /* NULL or "": anonymous */
	const char *token;    /* API token (preferred), or NULL */
	const char *password; /* a password: crumbs on POSTs; or NULL */
	int service;	      /* the queue's service for this server */
	size_t max_response_bytes; /* 0: the queue's default */
};

struct sdk_jenkins {
	struct sdk_http_queue *q;
	const struct opsbot_api *api;
	struct opsbot_plugin *self;
	char name[32];
	char *root; /* ends with '/' */
	char *user, *secret;
	int service;
	size_t max_response_bytes;
	int use_crumb;	    /* password auth */
	int crumb_state;    /* 0 unknown, 1 have one, 2 CSRF off */
	char *crumb_header; /* "Jenkins-Crumb: 6e78..." */
	char *cookie;	    /* "Cookie: JSESSIONID.x=...", or NULL */
};

/* Sets j up for one server; -1 with a message in err for a bad URL. */
int sdk_jenkins_init(struct sdk_jenkins *j, struct sdk_http_queue *q,
		     const struct sdk_jenkins_config *cfg, struct sdk_buf *err);
/* Frees what j holds (nothing may be pending). */
void sdk_jenkins_free(struct sdk_jenkins *j);

/* "team/app" -> "job/team/job/app/" appended to b (URL-encoded). */
void sdk_jenkins_job_path(struct sdk_buf *b, const struct opsbot_api *api,
			  const char *full_name);
/* The job's web page, root + job path: malloc'd. */
char *sdk_jenkins_job_url(const struct sdk_jenkins *j, const char *full_name);

/* ------------------------------------------------------------------------ */
/* Results and parsed objects                                                */

enum sdk_jenkins_result {
	SDK_JENKINS_NONE, /* null: still building (or never built) */
	SDK_JENKINS_SUCCESS,
	SDK_JENKINS_UNSTABLE,
	SDK_JENKINS_FAILURE,
	SDK_JENKINS_NOT_BUILT,
	SDK_JENKINS_ABORTED,
	SDK_JENKINS_OTHER, /* a value this client does not know */
};

/* "SUCCESS" -> SDK_JENKINS_SUCCESS; NULL -> NONE; unknown -> OTHER. */
enum sdk_jenkins_result sdk_jenkins_result_parse(const char *s);
/* "SUCCESS", ..., "NONE", "OTHER" */
const char *sdk_jenkins_result_name(enum sdk_jenkins_result r);

/* One run of a multi-configuration (matrix) build. */
struct sdk_jenkins_run {
	char *axis; /* "database=postgresql" (or "a=1,b=2") */
	long number;
	enum sdk_jenkins_result result;
	int building;
	char *url;
};

/* A build (number 0: none). */
struct sdk_jenkins_build {
	long number;
	enum sdk_jenkins_result result;
	int building;
	long long duration_ms, estimated_ms, timestamp_ms;
	char *url; /* absolute, as Jenkins gives it; may be NULL */
	char *display_name;
	char **culprits; /* full names */
	int nculprits;
	struct sdk_jenkins_run *runs; /* matrix runs of this build */
	int nruns;
};

/* Fills b from a build object (lastBuild, /N/api/json).  NULL: zero. */
void sdk_jenkins_build_parse(struct sdk_jenkins_build *b, const json_t *o);
void sdk_jenkins_build_clear(struct sdk_jenkins_build *b);

enum sdk_jenkins_job_kind {
	SDK_JENKINS_JOB,    /* freestyle, pipeline, anything buildable */
	SDK_JENKINS_MATRIX, /* hudson.matrix.MatrixProject */
	SDK_JENKINS_FOLDER, /* has "jobs" (folder, multibranch, org) */
};

/* A job as listed by sdk_jenkins_list(). */
struct sdk_jenkins_job {
	char *full_name; /* "team/app" (built from the names if Jenkins
			    did not send fullName) */
	char *url;
	char *color; /* "blue", "red_anime", ... or NULL */
	enum sdk_jenkins_job_kind kind;
	int building; /* lastBuild is building */
	long last_number;
	/* the last completed build: number, result, duration, timestamp,
	   url (no culprits or runs in a listing) */
	struct sdk_jenkins_build last_completed;
};

struct sdk_jenkins_job_list {
	struct sdk_jenkins_job *jobs;
	int njobs;
};

void sdk_jenkins_job_list_clear(struct sdk_jenkins_job_list *l);

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

/* A raw JSON answer: json is borrowed (NULL on error). */
typedef void sdk_jenkins_json_fn(const char *error, long code, json_t *json,
				 void *data);
/*
 * GET root + path ("job/x/api/json?tree=number"), expecting JSON.  404
 * gives error "... not found (404)".
 */
void sdk_jenkins_get(struct sdk_jenkins *j, const char *path,
		     sdk_jenkins_json_fn *fn, void *data);

/* list: valid during the callback only (NULL on error). */
typedef void sdk_jenkins_list_fn(const char *error,
				 const struct sdk_jenkins_job_list *list,
				 void *data);
/*
 * Every job under folder (NULL or "": the root) and its sub-folders down
 * to depth levels (0: that folder's own jobs only), in one request with
 * a nested tree= query; folders are listed too (kind FOLDER).  An
 * answer without a "jobs" array is an error, never an empty list.
 */
void sdk_jenkins_list(struct sdk_jenkins *j, const char *folder, int depth,
		      sdk_jenkins_list_fn *fn, void *data);

typedef void sdk_jenkins_build_fn(const char *error,
				  const struct sdk_jenkins_build *build,
				  void *data);
/*
 * One build of a job with culprits and matrix runs (runs of other build
 * numbers are left out).  number > 0, or SDK_JENKINS_LAST (lastBuild),
 * SDK_JENKINS_LAST_COMPLETED.  A job that never ran: error with code 404.
 */
#define SDK_JENKINS_LAST 0
#define SDK_JENKINS_LAST_COMPLETED (-1)
void sdk_jenkins_build(struct sdk_jenkins *j, const char *job, long number,
		       sdk_jenkins_build_fn *fn, void *data);

/* The answer to a trigger. */
struct sdk_jenkins_queued {
	long queue_id;	 /* from Location .../queue/item/<id>/; 0: none */
	const char *url; /* the Location */
	int existing;	 /* 303: the same job + parameters was queued
			    already, this is that item */
};
typedef void sdk_jenkins_trigger_fn(const char *error, long code,
				    const struct sdk_jenkins_queued *queued,
				    void *data);
/*
 * Queues a build: buildWithParameters with params (names and values,
 * nparams pairs: params[2i] = params[2i+1]) as a form body, or build
 * when nparams is 0.  201 and 303 succeed; 409 (disabled), 404, 500 for
 * a job without parameters, 401, 403 and HTML answers give one-line
 * errors.  Never sent twice, except after a crumb refusal.  An answer
 * lost after sending (code 0) says the build may have been queued.
 */
void sdk_jenkins_trigger(struct sdk_jenkins *j, const char *job,
			 const char *const *params, int nparams,
			 sdk_jenkins_trigger_fn *fn, void *data);

/* A queue item. */
enum sdk_jenkins_item_state {
	SDK_JENKINS_ITEM_WAITING,   /* waiting, blocked or buildable */
	SDK_JENKINS_ITEM_STARTED,   /* left the queue: executable set */
	SDK_JENKINS_ITEM_CANCELLED, /* left the queue, cancelled */
};
struct sdk_jenkins_item {
	long id;
	enum sdk_jenkins_item_state state;
	const char *why; /* WAITING: Jenkins' reason, or NULL */
	long number;	 /* STARTED: the build */
	const char *url; /* STARTED: the build's URL */
};
typedef void sdk_jenkins_item_fn(const char *error, long code,
				 const struct sdk_jenkins_item *item,
				 void *data);
void sdk_jenkins_queue_item(struct sdk_jenkins *j, long id,
			    sdk_jenkins_item_fn *fn, void *data);

/* A POST that only succeeds or fails. */
typedef void sdk_jenkins_done_fn(const char *error, long code, void *data);
/* POST job/N/stop (aborts a running build). */
void sdk_jenkins_stop(struct sdk_jenkins *j, const char *job, long number,
		      sdk_jenkins_done_fn *fn, void *data);
/* POST queue/cancelItem?id=N (a 404 says it is no longer queued). */
void sdk_jenkins_cancel_item(struct sdk_jenkins *j, long id,
			     sdk_jenkins_done_fn *fn, void *data);

/* ------------------------------------------------------------------------ */
/* Following a queue item to its build and the build to its end              */

enum sdk_jenkins_follow_event {
	SDK_JENKINS_FOLLOW_QUEUED,    /* first seen waiting; why set */
	SDK_JENKINS_FOLLOW_STARTED,   /* build number and url known */
	SDK_JENKINS_FOLLOW_FINISHED,  /* final: build done, result set */
	SDK_JENKINS_FOLLOW_CANCELLED, /* final: the queue item was cancelled */
	SDK_JENKINS_FOLLOW_ERROR,     /* final: error set (gave up) */
};

struct sdk_jenkins_follow_update {
	enum sdk_jenkins_follow_event event;
	long queue_id;
	const char *why;
	long number;
	const char *url;
	const struct sdk_jenkins_build *build; /* FINISHED; else NULL */
	const char *error;
};
typedef void sdk_jenkins_follow_fn(const struct sdk_jenkins_follow_update *u,
				   void *data);

struct sdk_jenkins_follow_options {
	long poll_ms; /* between polls; 0: 5 s */
	long max_ms;  /* give up after (ERROR "still running after"); 0: 6 h */
	int errors;   /* consecutive failed polls before giving up; 0: 10 */
};

struct sdk_jenkins_follow;
/*
 * Follows queue item queue_id of job (or, queue_id 0, build number of
 * job): QUEUED (once), STARTED (once), then one final event, after which
 * the follow is gone.  Polls are GETs (retried by the queue).  opts may
 * be NULL.  Returns NULL if it ended at once (the callback was told).
 */
struct sdk_jenkins_follow *
sdk_jenkins_follow_start(struct sdk_jenkins *j, const char *job, long queue_id,
			 long number,
			 const struct sdk_jenkins_follow_options *opts,
			 sdk_jenkins_follow_fn *fn, void *data);
/* No more callbacks; the follow frees itself once its calls ended. */
void sdk_jenkins_follow_stop(struct sdk_jenkins_follow *f);

#endif /* SDK_JENKINS_H */
