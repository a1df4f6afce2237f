/*
 * http.c - the HTTP call queue and its helpers (see sdk_http.h for the
 * policy: what is retried, what ends UNKNOWN).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sdk_http.h"
#include "sdk_json.h"
#include "sdk_text.h"

/* ------------------------------------------------------------------------ */
/* Encoding and parsing */

void sdk_url_encode(struct sdk_buf *b, const struct opsbot_api *api,
		    const char *s)
{
	size_t n = api->url_encode(NULL, 0, s);

	sdk_buf_add(b, "", 0);
	b->buf = sdk_xrealloc(b->buf, b->len + n + 1);
	b->alloc = b->len + n + 1;
	api->url_encode(b->buf + b->len, n + 1, s);
	b->len += n;
}

void sdk_form_add(struct sdk_buf *b, const struct opsbot_api *api,
		  const char *name, const char *value)
{
	if (b->len)
		sdk_buf_adds(b, "&");
	sdk_url_encode(b, api, name);
	sdk_buf_adds(b, "=");
	sdk_url_encode(b, api, value);
}

long sdk_http_retry_after_ms(const char *value, time_t now)
{
	struct tm tm;
	const char *end;
	char *num_end;
	long secs;
	time_t when;

	if (!value)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		secs = strtol(value, &num_end, 10);
		while (isspace((unsigned char)*num_end))
			num_end++;
		if (*num_end || secs < 0)
			return -1;
		if (secs > 86400)
			secs = 86400;
		return secs * 1000;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	when = timegm(&tm);
	if (when <= now)
		return 0;
	if (when - now > 86400)
		return 86400L * 1000;
	return (long)(when - now) * 1000;
}

#define SDK_CAUSE_FLAGS (SDK_TEXT_SQUEEZE | SDK_TEXT_NO_ELLIPSIS)
#define SDK_CAUSE_MAX 200

char *sdk_http_error_cause(const char *body)
{
	json_t *root;
	const char *msg = NULL;
	char *out;

	if (!body || !*body)
		return sdk_xstrdup("");
	root = json_loads(body, 0, NULL);
	if (json_is_object(root)) {
		msg = sdk_json_string(root, "error.message", NULL);
		if (!msg)
			msg = sdk_json_string(root, "error_description", NULL);
		if (!msg)
			msg = sdk_json_string(root, "message", NULL);
		if (!msg)
			msg = sdk_json_string(root, "error", NULL);
	}
	if (msg) {
		out = sdk_text_clean_str(msg, SDK_CAUSE_FLAGS, SDK_CAUSE_MAX);
	} else if (root) {
		out = sdk_xstrdup("unexpected json answer");
	} else if (body[strspn(body, " \t\r\n")] == '<') {
		/* HTML from a proxy */
		out = sdk_xstrdup("unexpected html answer");
	} else {
		struct sdk_buf b = SDK_BUF_INIT;

		sdk_text_clean(&b, body, strcspn(body, "\r\n"), SDK_CAUSE_FLAGS,
			       SDK_CAUSE_MAX);
		out = sdk_buf_detach(&b);
	}
	json_decref(root);
	return out;
}

/* ------------------------------------------------------------------------ */
/* The host API, in one place: every use of the table by the queue. */

static int64_t sdk_http_now(const struct sdk_http_queue *q)
{
	return q->api->now_ms();
}

static void sdk_http_log_retry(const struct sdk_http_queue *q,
			       const char *service, const char *method,
			       int attempt, long delay)
{
	q->api->log(q->self, OPSBOT_LOG_DEBUG, "%s: %s retry %d in %ld ms",
		    service, method, attempt, delay);
}

static const char *sdk_http_header(const struct sdk_http_queue *q,
				   const struct opsbot_http_response *res,
				   const char *name)
{
	return q->api->http_header(res, name, 0);
}

static opsbot_http_fn sdk_http_answered;
static opsbot_timer_fn sdk_http_timer_fired;

/* Returns 0, or -1 if the host refused the timer. */
static int sdk_http_arm_timer(struct sdk_http_queue *q, long delay)
{
	/* the data is the queue: a plugin's queue outlives its timers */
	return q->api->timer_start(q->self, delay, sdk_http_timer_fired, q) < 0
		   ? -1
		   : 0;
}

/* ------------------------------------------------------------------------ */
/* Queued calls */

struct sdk_http_pending {
	struct sdk_http_queue *q;
	struct sdk_http_pending *next;
	int service;
	char *method, *url, *body, *username, *password;
	size_t body_len;
	char **headers;
	size_t max_response_bytes;
	unsigned flags;
	int idempotent;
	int attempt;	    /* attempts started */
	int request_sent;   /* some attempt reached the server */
	int64_t not_before; /* backoff of this call */
	sdk_http_done_fn *fn;
	void *data;
	sdk_http_send_fn *on_send;
	void *send_data;
};

static void sdk_http_pump(struct sdk_http_queue *q);

void sdk_http_queue_init(struct sdk_http_queue *q, struct opsbot_plugin *self,
			 const struct opsbot_api *api,
			 const struct sdk_http_options *opts)
{
	memset(q, 0, sizeof(*q));
	q->self = self;
	q->api = api;
	if (opts)
		q->opts = *opts;
	q->rng = q->opts.seed ? q->opts.seed : sdk_random_seed();
}

int sdk_http_service_add(struct sdk_http_queue *q,
			 const struct sdk_http_service *svc)
{
	struct sdk_http_service_state *s;

	if (q->nservices == SDK_HTTP_MAX_SERVICES)
		return -1;
	s = &q->services[q->nservices];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s",
		 svc->name ? svc->name : "http");
	s->flags = svc->flags;
	s->min_429_pause_ms = svc->min_429_pause_ms;
	s->rate_limit_code = svc->rate_limit_code;
	sdk_bucket_init(&s->bucket, svc->per_second, svc->burst,
			sdk_http_now(q));
	return q->nservices++;
}

void sdk_http_service_limit(struct sdk_http_queue *q, int service,
			    double per_second, double burst)
{
	struct sdk_bucket *b;
	int64_t paused;

	if (service < 0 || service >= q->nservices)
		return;
	b = &q->services[service].bucket;
	paused = b->paused_until;
	sdk_bucket_init(b, per_second, burst, sdk_http_now(q));
	b->paused_until = paused;
}

static void sdk_http_pending_free(struct sdk_http_pending *c)
{
	if (c->headers)
		for (char **h = c->headers; *h; h++)
			free(*h);
	free(c->headers);
	free(c->method);
	free(c->url);
	free(c->body);
	free(c->username);
	if (c->password) {
		/* do not leave credentials in freed memory */
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c);
}

static int sdk_http_method_idempotent(const char *method)
{
	static const char *const safe[] = {"GET",    "HEAD",	"PUT",
					   "DELETE", "OPTIONS", NULL};

	for (int i = 0; safe[i]; i++)
		if (strcasecmp(method, safe[i]) == 0)
			return 1;
	return 0;
}

static void sdk_http_enqueue(struct sdk_http_queue *q,
			     struct sdk_http_pending *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

static void sdk_http_finish(struct sdk_http_pending *c,
			    struct sdk_http_result *res)
{
	res->attempts = c->attempt;
	res->request_sent = c->request_sent;
	if (!res->body)
		res->body = "";
	if (!res->cause)
		res->cause = "";
	c->fn(res, c->data);
	sdk_http_pending_free(c);
}

static void sdk_http_finish_simple(struct sdk_http_pending *c,
				   enum sdk_http_outcome outcome,
				   const char *cause)
{
	struct sdk_http_result res = {.outcome = outcome, .cause = cause};

	sdk_http_finish(c, &res);
}

void sdk_http_queue_add(struct sdk_http_queue *q,
			const struct sdk_http_call *call, sdk_http_done_fn *fn,
			void *data)
{
	struct sdk_http_pending *c = sdk_xcalloc(1, sizeof(*c));
	size_t nh = 0;
	int service = call->service;

	if (service < 0 || service >= q->nservices)
		service = 0;
	c->q = q;
	c->service = service;
	c->method = sdk_xstrdup(call->method ? call->method
				: call->body ? "POST"
					     : "GET");
	c->url = sdk_xstrdup(call->url ? call->url : "");
	if (call->body) {
		c->body = sdk_xstrndup(call->body, call->body_len);
		c->body_len = call->body_len;
	}
	c->username = sdk_xstrdup_or_null(call->username);
	c->password = sdk_xstrdup_or_null(call->password);
	if (call->headers)
		while (call->headers[nh])
			nh++;
	c->headers = sdk_xcalloc(nh + 2, sizeof(char *));
	for (size_t i = 0; i < nh; i++)
		c->headers[i] = sdk_xstrdup(call->headers[i]);
	if (service < q->nservices &&
	    (q->services[service].flags & SDK_HTTP_SERVICE_CLOSE))
		c->headers[nh] = sdk_xstrdup("Connection: close");
	c->max_response_bytes = call->max_response_bytes;
	c->flags = call->flags;
	c->idempotent = (call->flags & SDK_HTTP_IDEMPOTENT) ||
			sdk_http_method_idempotent(c->method);
	c->fn = fn;
	c->data = data;
	c->on_send = call->on_send;
	c->send_data = call->send_data;
	if (q->closing) {
		sdk_http_finish_simple(c, SDK_HTTP_CANCELLED, "cancelled");
		return;
	}
	sdk_http_enqueue(q, c);
	sdk_http_pump(q);
}

void sdk_http_queue_cancel_all(struct sdk_http_queue *q)
{
	struct sdk_http_pending *c = q->head;

	q->closing = 1;
	q->head = q->tail = NULL;
	while (c) {
		struct sdk_http_pending *next = c->next;

		sdk_http_finish_simple(c, SDK_HTTP_CANCELLED, "cancelled");
		c = next;
	}
}

static const char *sdk_http_pause_note(const struct sdk_http_queue *q)
{
	return q->opts.pause_note ? q->opts.pause_note : "try again later";
}

static long sdk_http_backoff(struct sdk_http_queue *q, int attempt)
{
	long base =
	    q->opts.backoff_base_ms > 0 ? q->opts.backoff_base_ms : 1000;
	long cap = q->opts.backoff_max_ms > 0 ? q->opts.backoff_max_ms : 300000;

	return sdk_backoff_ms(attempt, base, cap, &q->rng);
}

static long sdk_http_max_wait(const struct sdk_http_queue *q)
{
	if (q->opts.max_wait_ms > 0)
		return q->opts.max_wait_ms;
	return q->opts.backoff_max_ms > 0 ? q->opts.backoff_max_ms : 300000;
}

/* Backs a call off and puts it back in the queue. */
static void sdk_http_retry_later(struct sdk_http_queue *q,
				 struct sdk_http_pending *c, long delay)
{
	if (c->on_send)
		c->on_send(0, c->send_data);
	c->not_before = sdk_http_now(q) + delay;
	sdk_http_enqueue(q, c);
	sdk_http_log_retry(q, q->services[c->service].name, c->method,
			   c->attempt, delay);
}

/* The decision on one failed attempt. */
struct sdk_http_verdict {
	char *cause;
	int retryable; /* a passing condition: worth another attempt */
	int acted;     /* the server may have acted on it */
	int paused;    /* a long Retry-After: not waited out */
	long delay;    /* before the retry; -1: backoff */
};

/* A 429 (or the service's code): pause the service, maybe for long. */
static void sdk_http_rate_limited(struct sdk_http_queue *q,
				  struct sdk_http_pending *c, long retry_after,
				  struct sdk_http_verdict *v)
{
	struct sdk_http_service_state *s = &q->services[c->service];
	long floor = s->min_429_pause_ms;
	int64_t now = sdk_http_now(q);

	v->retryable = 1;
	v->delay = sdk_http_backoff(q, c->attempt - 1);
	if (v->delay < floor)
		v->delay = floor + (long)(sdk_random(&q->rng) %
					  (uint32_t)(floor / 10 + 1));
	if (retry_after >= 0)
		v->delay = retry_after + (long)(sdk_random(&q->rng) % 250);
	/* the limit is the service's: pause every call to it */
	sdk_bucket_pause(&s->bucket, now + v->delay);
	/*
	 * A Retry-After longer than any backoff (Mailgun's 420 can say
	 * hours) is not waited out: the caller would be held that long.
	 */
	if (retry_after > sdk_http_max_wait(q)) {
		char *longer = sdk_xasprintf(
		    "%s; paused for %ld s, %s", v->cause,
		    (retry_after + 999) / 1000, sdk_http_pause_note(q));

		if (s->deferred_until < now + v->delay)
			s->deferred_until = now + v->delay;
		free(v->cause);
		v->cause = longer;
		v->paused = 1;
	}
}

static void sdk_http_judge(struct sdk_http_queue *q, struct sdk_http_pending *c,
			   const struct opsbot_http_response *res,
			   struct sdk_http_verdict *v)
{
	const struct sdk_http_service_state *s = &q->services[c->service];
	long retry_after;
	char *why;

	if (res->status != OPSBOT_OK) {
		v->cause = sdk_text_clean_str(res->error ? res->error
							 : "request failed",
					      SDK_CAUSE_FLAGS, SDK_CAUSE_MAX);
		v->retryable = 1;
		v->acted = res->request_sent;
		return;
	}
	why = sdk_http_error_cause(res->body);
	v->cause = sdk_xasprintf("%ld%s%s", res->code, *why ? " " : "", why);
	free(why);
	retry_after = sdk_http_retry_after_ms(
	    sdk_http_header(q, res, "Retry-After"), time(NULL));
	if (res->code == 429 ||
	    (s->rate_limit_code && res->code == s->rate_limit_code)) {
		sdk_http_rate_limited(q, c, retry_after, v);
	} else if (res->code >= 500) {
		v->retryable = 1;
		v->acted = (c->flags & SDK_HTTP_5XX_UNKNOWN) ||
			   !(s->flags & SDK_HTTP_SERVICE_5XX_NOT_SENT);
		/* a 503 may say when to come back */
		if (retry_after >= 0 && retry_after <= sdk_http_max_wait(q))
			v->delay =
			    retry_after + (long)(sdk_random(&q->rng) % 250);
	}
}

static void sdk_http_answered(struct opsbot_plugin *self,
			      const struct opsbot_http_response *res,
			      void *data)
{
	struct sdk_http_pending *c = data;
	struct sdk_http_queue *q = c->q;
	struct sdk_http_result out = {
	    .code = res->code,
	    .body = res->body ? res->body : "",
	    .body_len = res->body ? res->body_len : 0,
	    .response = res,
	};
	struct sdk_http_verdict v = {NULL, 0, 0, 0, -1};
	int max_attempts = q->opts.max_attempts > 0 ? q->opts.max_attempts : 1;

	q->inflight--;
	c->request_sent |= res->request_sent;
	if (res->status == OPSBOT_ECANCELED || q->closing) {
		/* the queue never cancels requests: the plugin is going */
		out.outcome = SDK_HTTP_CANCELLED;
		out.cause = "cancelled";
		sdk_http_finish(c, &out);
		sdk_http_queue_cancel_all(q);
		return;
	}
	if (res->status == OPSBOT_OK && res->code >= 200 && res->code < 300) {
		out.outcome = SDK_HTTP_OK;
		sdk_http_finish(c, &out);
		sdk_http_pump(q);
		return;
	}
	sdk_http_judge(q, c, res, &v);
	out.cause = v.cause;
	if (v.acted && !c->idempotent) {
		out.outcome = SDK_HTTP_UNKNOWN;
		sdk_http_finish(c, &out);
	} else if (v.retryable && !v.paused &&
		   !(c->flags & SDK_HTTP_NO_RETRY) &&
		   c->attempt < max_attempts) {
		sdk_http_retry_later(q, c,
				     v.delay >= 0
					 ? v.delay
					 : sdk_http_backoff(q, c->attempt - 1));
	} else {
		out.outcome = v.retryable ? SDK_HTTP_NOT_SENT : SDK_HTTP_FAILED;
		sdk_http_finish(c, &out);
	}
	free(v.cause);
	sdk_http_pump(q);
}

/*
 * The earliest backoff or rate-limit wait is over.  The queue never
 * cancels its timers, so a cancelled one means the plugin is going.
 */
static long sdk_http_timer_fired(struct opsbot_plugin *self, int status,
				 void *data)
{
	struct sdk_http_queue *q = data;

	if (q->wake_at && q->wake_at <= sdk_http_now(q))
		q->wake_at = 0;
	if (status == OPSBOT_OK)
		sdk_http_pump(q);
	else
		sdk_http_queue_cancel_all(q);
	return OPSBOT_TIMER_STOP;
}

static void sdk_http_wake_at(struct sdk_http_queue *q, int64_t at)
{
	int64_t now = sdk_http_now(q);

	/* an earlier wake-up is pending: it re-arms if needed */
	if (q->wake_at && q->wake_at <= at && q->wake_at >= now)
		return;
	if (sdk_http_arm_timer(q, at > now ? (long)(at - now) : 0) == 0)
		q->wake_at = at;
}

/* Starts one attempt; -1 if the host refused (closing: -2). */
static int sdk_http_start(struct sdk_http_queue *q, struct sdk_http_pending *c)
{
	struct opsbot_http_request req = {
	    .size = sizeof(struct opsbot_http_request),
	    .method = c->method,
	    .url = c->url,
	    .headers = (const char *const *)c->headers,
	    .body = c->body,
	    .body_len = c->body_len,
	    .username = c->username,
	    .password = c->password,
	    .timeout_ms = q->opts.timeout_ms,
	    .max_response_bytes = c->max_response_bytes,
	};
	int64_t id = q->api->http_start(q->self, &req, sdk_http_answered, c);

	if (id < 0)
		return id == OPSBOT_ECLOSING ? -2 : -1;
	c->attempt++;
	q->inflight++;
	return 0;
}

static void sdk_http_unlink(struct sdk_http_queue *q,
			    struct sdk_http_pending **pp,
			    struct sdk_http_pending *prev,
			    struct sdk_http_pending *c)
{
	*pp = c->next;
	if (q->tail == c)
		q->tail = prev;
	c->next = NULL;
}

/* A call to a service paused by a long Retry-After: fail fast. */
static void sdk_http_refuse_paused(struct sdk_http_queue *q,
				   struct sdk_http_pending *c, long wait)
{
	char *cause =
	    sdk_xasprintf("paused for %ld more s after a rate "
			  "limit; %s",
			  (wait + 999) / 1000, sdk_http_pause_note(q));

	sdk_http_finish_simple(c, SDK_HTTP_NOT_SENT, cause);
	free(cause);
}

/* Sends one call that may go now; it may end at once. */
static void sdk_http_send(struct sdk_http_queue *q, struct sdk_http_pending *c)
{
	int rc;

	if (c->on_send && c->on_send(1, c->send_data) != 0) {
		sdk_http_finish_simple(c, SDK_HTTP_SKIPPED,
				       "not sent: on_send refused");
		return;
	}
	rc = sdk_http_start(q, c);
	if (rc == -2) {
		q->closing = 1;
		sdk_http_finish_simple(c, SDK_HTTP_CANCELLED, "cancelled");
		sdk_http_queue_cancel_all(q);
	} else if (rc < 0) {
		sdk_http_finish_simple(c, SDK_HTTP_NOT_SENT,
				       "could not start the request");
	}
}

/*
 * Starts every queued call that may start now, in order; a call held by
 * its service's limit does not hold back calls to other services.  A call
 * that ends here runs its callback, which may queue calls: the scan then
 * starts again from the head.
 */
static void sdk_http_pump(struct sdk_http_queue *q)
{
	struct sdk_http_pending **pp = &q->head, *prev = NULL;
	int64_t now = sdk_http_now(q), wake = 0;
	int blocked[SDK_HTTP_MAX_SERVICES] = {0};
	int concurrency = q->opts.concurrency > 0 ? q->opts.concurrency : 1;

	while (*pp && q->inflight < concurrency && !q->closing) {
		struct sdk_http_pending *c = *pp;
		struct sdk_http_service_state *s = &q->services[c->service];
		long wait;

		if (blocked[c->service] || c->not_before > now) {
			if (!blocked[c->service] &&
			    (!wake || c->not_before < wake))
				wake = c->not_before;
			prev = c;
			pp = &c->next;
			continue;
		}
		wait = (long)(s->deferred_until - now);
		if (wait <= 0) {
			wait = sdk_bucket_take(&s->bucket, now);
			if (wait > 0) {
				blocked[c->service] = 1;
				if (!wake || now + wait < wake)
					wake = now + wait;
				prev = c;
				pp = &c->next;
				continue;
			}
			sdk_http_unlink(q, pp, prev, c);
			sdk_http_send(q, c);
		} else {
			sdk_http_unlink(q, pp, prev, c);
			sdk_http_refuse_paused(q, c, wait);
		}
		pp = &q->head;
		prev = NULL;
		memset(blocked, 0, sizeof(blocked));
		wake = 0;
		now = sdk_http_now(q);
	}
	if (wake && q->inflight < concurrency)
		sdk_http_wake_at(q, wake);
}
