/*
 * sdk_http.h - HTTP for plugins on top of api->http_start (part of the
 * plugin SDK): URL and form encoding, Retry-After, a one-line cause from
 * an error body, and a call queue with a bound on calls in flight,
 * per-service rate limits and retries.
 *
 * The queue, in one paragraph.  Calls go out in order, at most
 * `concurrency` at a time; a call held by its service's rate limit does
 * not hold back calls to other services.  A 2xx ends a call.  A 429 (or
 * the service's own rate-limit code) was refused, so it is retried after
 * Retry-After (seconds or an HTTP-date) or a jittered backoff, and the
 * whole service pauses that long; a Retry-After longer than max_wait_ms is
 * not waited out: the call ends NOT_SENT and so does every call to that
 * service until the pause is over.  A failure before any byte reached the
 * server is retried.  A 5xx, or a failure after sending, is retried only
 * if the call is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or
 * SDK_HTTP_IDEMPOTENT) or the service says its 5xx are never acted on;
 * otherwise it ends UNKNOWN: the server may have acted on it, and sending
 * it again could do it twice.  Other answers end the call FAILED.  After
 * max_attempts a call that could be retried ends NOT_SENT.
 *
 * Host API use: http_start, http_header, timer_start, now_ms and log,
 * all from http.c; url_encode from sdk_url_encode().
 */
#ifndef SDK_HTTP_H
#define SDK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "opsbot.h"
#include "sdk_buf.h"
#include "sdk_rate.h"

/* ------------------------------------------------------------------------ */
/* Encoding and parsing                                                      */

/* Appends s percent-encoded by api->url_encode (RFC 3986 unreserved
   characters stay). */
void sdk_url_encode(struct sdk_buf *b, const struct opsbot_api *api,
		    const char *s);
/* application/x-www-form-urlencoded "name=value", '&' first if b is not
   empty. */
void sdk_form_add(struct sdk_buf *b, const struct opsbot_api *api,
		  const char *name, const char *value);

/*
 * Retry-After: delta seconds or an IMF-fixdate ("Sun, 06 Nov 1994
 * 08:49:37 GMT") relative to now (wall clock, seconds).  Returns
 * milliseconds (a date in the past: 0; at most one day), or -1 if value
 * is NULL or unparsable.
 */
long sdk_http_retry_after_ms(const char *value, time_t now);

/*
 * The human cause in an error body, cleaned for chat and logs (one line,
 * at most 200 bytes): the message of Google's {"error":{"message"}}, an
 * OAuth {"error_description"}, a {"message"}, an {"error": "text"}; for
 * other JSON "unexpected json answer"; for HTML "unexpected html answer";
 * otherwise the first line of the text.  Never NULL; free() it.
 */
char *sdk_http_error_cause(const char *body);

/* ------------------------------------------------------------------------ */
/* The call queue                                                            */

#define SDK_HTTP_MAX_SERVICES 8

enum sdk_http_service_flags {
	/* "Connection: close" on every request.  libcurl silently sends a
	   request again when a reused connection dies before the answer,
	   even one the server already acted on. */
	SDK_HTTP_SERVICE_CLOSE = 1 << 0,
	/* the service documents that a 5xx was not acted on (Mailgun): such
	   calls are retried even when not idempotent */
	SDK_HTTP_SERVICE_5XX_NOT_SENT = 1 << 1,
};

/* A service: the calls that share a rate limit (one API key, say). */
struct sdk_http_service {
	const char *name;	  /* for logs: "trello" (copied, 31 bytes) */
	double per_second, burst; /* the token bucket; 0: no limit */
	long min_429_pause_ms;	  /* least pause after a 429 without
				     Retry-After (Trello sends none) */
	long rate_limit_code;	  /* a code meaning what 429 does (Mailgun's
				     420); 0: none */
	unsigned flags;		  /* enum sdk_http_service_flags */
};

struct sdk_http_options {
	int concurrency;		      /* calls in flight; < 1: 1 */
	int max_attempts;		      /* per call; < 1: 1 */
	long backoff_base_ms, backoff_max_ms; /* 0: 1 s and 5 min */
	long timeout_ms;		      /* per attempt; 0: host default */
	long max_wait_ms; /* longest Retry-After waited out; 0: backoff_max */
	/* ends the cause of a call refused by a long pause: "left for a
	   later sync"; NULL: "try again later" */
	const char *pause_note;
	uint32_t seed; /* jitter; 0: sdk_random_seed() */
};

enum sdk_http_call_flags {
	SDK_HTTP_IDEMPOTENT = 1 << 0,  /* safe to repeat after any failure */
	SDK_HTTP_5XX_UNKNOWN = 1 << 1, /* a 5xx may have been acted on,
					  whatever the service says */
	SDK_HTTP_NO_RETRY = 1 << 2,    /* one attempt only */
};

/*
 * Told when an attempt is about to go out (sending 1) and when it came
 * back definitely not acted on and waits for a retry (sending 0): a
 * plugin can record "sending" only while a request is really out.
 * Returning non-zero from sending 1 ends the call SKIPPED, unsent.
 */
typedef int sdk_http_send_fn(int sending, void *data);

/* One call.  Everything is copied by sdk_http_queue_add(). */
struct sdk_http_call {
	int service;	    /* from sdk_http_service_add(); 0 is the first */
	const char *method; /* NULL: GET, or POST when body is set */
	const char *url;    /* may hold secrets in the query: never logged */
	const char *const *headers; /* "Name: value", NULL-terminated */
	const char *body;
	size_t body_len;
	const char *username, *password;
	size_t max_response_bytes; /* 0: the host's default */
	unsigned flags;		   /* enum sdk_http_call_flags */
	sdk_http_send_fn *on_send; /* or NULL */
	void *send_data;
};

enum sdk_http_outcome {
	SDK_HTTP_OK,	    /* a 2xx answer */
	SDK_HTTP_FAILED,    /* an answer refused it (4xx other than rate
			       limits): sending it again will not help */
	SDK_HTTP_NOT_SENT,  /* not acted on as far as anyone can know (or
			       idempotent), but no success either: failures
			       before sending, rate limits, 5xx, a paused
			       service.  Safe to send again later */
	SDK_HTTP_UNKNOWN,   /* a non-idempotent request failed after it was
			       sent (timeout, cut, 5xx): the server may have
			       acted on it; find out before sending again */
	SDK_HTTP_CANCELLED, /* the queue was cancelled (plugin unloading) */
	SDK_HTTP_SKIPPED,   /* on_send refused; nothing was sent */
};

/* What a call came to.  Valid during the callback only. */
struct sdk_http_result {
	enum sdk_http_outcome outcome;
	long code;	  /* HTTP code of the last answer, 0 if none */
	const char *body; /* of the last answer; "" if none */
	size_t body_len;
	const char *cause; /* one line: "429 too many requests", "timed
			      out"; "" for OK */
	int attempts;	   /* requests started */
	int request_sent;  /* some attempt reached the server */
	/* the last answer, for api->http_header(); NULL if none */
	const struct opsbot_http_response *response;
};

/* Called exactly once per call; possibly before sdk_http_queue_add()
   returns (a paused service, a refusing on_send, a closed queue). */
typedef void sdk_http_done_fn(const struct sdk_http_result *res, void *data);

struct sdk_http_pending; /* one queued call */

struct sdk_http_service_state {
	char name[32];
	unsigned flags;
	long min_429_pause_ms, rate_limit_code;
	struct sdk_bucket bucket;
	int64_t deferred_until; /* a long Retry-After: fail fast until */
};

/*
 * A queue.  Embed it and set it up with sdk_http_queue_init(); the
 * members are the SDK's (opts may be changed between calls).  It
 * allocates nothing until calls are added and holds nothing once they
 * ended.
 */
struct sdk_http_queue {
	struct opsbot_plugin *self;
	const struct opsbot_api *api;
	struct sdk_http_options opts;
	struct sdk_http_service_state services[SDK_HTTP_MAX_SERVICES];
	int nservices;
	struct sdk_http_pending *head, *tail;
	int inflight;
	int64_t wake_at; /* the earliest timer armed, 0: none */
	uint32_t rng;
	int closing;
};

void sdk_http_queue_init(struct sdk_http_queue *q, struct opsbot_plugin *self,
			 const struct opsbot_api *api,
			 const struct sdk_http_options *opts);
/*
 * Adds a service; returns its number (0, 1, ... in order), or -1 when
 * SDK_HTTP_MAX_SERVICES are there.  Calls name it in their `service`.
 */
int sdk_http_service_add(struct sdk_http_queue *q,
			 const struct sdk_http_service *svc);
/* Changes a service's rate limit (per_second 0: none); the bucket is
   full again. */
void sdk_http_service_limit(struct sdk_http_queue *q, int service,
			    double per_second, double burst);

/* Queues a call; fn runs exactly once (see sdk_http_done_fn). */
void sdk_http_queue_add(struct sdk_http_queue *q,
			const struct sdk_http_call *call, sdk_http_done_fn *fn,
			void *data);
/*
 * Closes the queue: every queued call ends SDK_HTTP_CANCELLED, now, and
 * later calls end so at once; calls in flight end when the host cancels
 * them.  The host cancelling a request or a timer of the queue (the
 * plugin is unloading) does the same.  Call it from fini().
 */
void sdk_http_queue_cancel_all(struct sdk_http_queue *q);

#endif /* SDK_HTTP_H */
