/*
 * client.c - every HTTP call of the registrar goes through here: a FIFO
 * queue with a bound on calls in flight ([plugin.registrar] concurrency),
 * a token bucket and a pause-after-429 per service, and retries with
 * jittered exponential backoff that honour Retry-After.
 *
 * What is retried, and what is handed back as "unknown":
 *  - a 2xx is OK;
 *  - 429 (and Mailgun's 420) pause the whole service and retry: the
 *    request was refused, so it cannot have been acted on; a
 *    Retry-After longer than backoff_max is not waited out: the call
 *    fails as passing, and so do calls to that service until it ends;
 *  - a failure before any byte reached the server is retried;
 *  - 5xx and failures after sending are retried only for idempotent
 *    calls; otherwise the caller gets REG_UNKNOWN (Mailgun documents 5xx
 *    as not sent, so its calls do not set REG_CALL_5XX_UNKNOWN);
 *  - any other 4xx is a definite failure with the service's cause.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registrar.h"

struct reg_call {
	struct reg *reg;
	struct reg_call *next;
	enum reg_service service;
	char *method, *url, *body, *username, *password;
	size_t body_len;
	char **headers;
	unsigned flags;
	size_t max_response_bytes;
	int attempt;
	int64_t not_before; /* monotonic ms: backoff of this call */
	reg_call_fn *fn;
	void *data;
	reg_send_fn *on_send;
	void *send_data;
};

static void reg_pump(struct reg *reg);

void reg_limiter_setup(struct reg_limiter *l, int n, long window_ms,
		       int64_t now)
{
	memset(l, 0, sizeof(*l));
	if (n <= 0 || window_ms <= 0)
		return;
	l->capacity = n;
	l->tokens = n;
	l->refill_per_ms = (double)n / (double)window_ms;
	l->refilled_at = now;
}

long reg_limiter_take(struct reg_limiter *l, int64_t now)
{
	if (l->blocked_until > now)
		return (long)(l->blocked_until - now);
	if (l->refill_per_ms <= 0)
		return 0;
	l->tokens += (double)(now - l->refilled_at) * l->refill_per_ms;
	if (l->tokens > l->capacity)
		l->tokens = l->capacity;
	l->refilled_at = now;
	if (l->tokens >= 1.0) {
		l->tokens -= 1.0;
		return 0;
	}
	return (long)((1.0 - l->tokens) / l->refill_per_ms) + 1;
}

void reg_client_init(struct reg *reg)
{
	int64_t now = reg->api->now_ms();

	reg->rng = (uint32_t)reg_wall_ms() ^ (uint32_t)getpid() * 2654435761u;
	for (int i = 0; i < REG_SVC_COUNT; i++)
		reg_limiter_setup(&reg->limit[i], 0, 0, now);
}

static void reg_call_free(struct reg_call *c)
{
	if (c->headers)
		for (char **h = c->headers; *h; h++)
			free(*h);
	free(c->headers);
	free(c->method);
	free(c->url);
	free(c->body);
	free(c->username);
	free(c->password);
	free(c);
}

static char *reg_dup_or_null(const char *s)
{
	return s ? reg_xstrdup(s) : NULL;
}

static void reg_enqueue(struct reg *reg, struct reg_call *c)
{
	c->next = NULL;
	if (reg->queue_tail)
		reg->queue_tail->next = c;
	else
		reg->queue_head = c;
	reg->queue_tail = c;
}

void reg_call(struct reg *reg, const struct reg_call_spec *spec,
	      reg_call_fn *fn, void *data)
{
	struct reg_call *c = reg_xcalloc(1, sizeof(*c));
	size_t nh = 0;

	c->reg = reg;
	c->service = spec->service;
	c->method = reg_dup_or_null(spec->method);
	c->url = reg_xstrdup(spec->url);
	if (spec->body) {
		c->body = reg_xstrndup(spec->body, spec->body_len);
		c->body_len = spec->body_len;
	}
	c->username = reg_dup_or_null(spec->username);
	c->password = reg_dup_or_null(spec->password);
	if (spec->headers)
		while (spec->headers[nh])
			nh++;
	c->headers = reg_xcalloc(nh + 2, sizeof(char *));
	for (size_t i = 0; i < nh; i++)
		c->headers[i] = reg_xstrdup(spec->headers[i]);
	/*
	 * libcurl silently sends a request again when a reused connection
	 * dies before the answer ("Connection died, retrying a fresh
	 * connect"), even a POST the server already acted on: a second card
	 * or mail.  Connections to the services we POST to are therefore
	 * never reused.  Google calls are idempotent and keep theirs.
	 */
	if (spec->service != REG_SVC_GOOGLE)
		c->headers[nh] = reg_xstrdup("Connection: close");
	c->flags = spec->flags;
	c->max_response_bytes = spec->max_response_bytes;
	c->fn = fn;
	c->data = data;
	c->on_send = spec->on_send;
	c->send_data = spec->send_data;
	reg_enqueue(reg, c);
	reg_pump(reg);
}

static void reg_finish(struct reg_call *c, const struct reg_result *res)
{
	struct reg *reg = c->reg;

	c->fn(reg, res, c->data);
	reg_call_free(c);
}

static void reg_finish_simple(struct reg_call *c, enum reg_outcome outcome,
			      const char *cause)
{
	struct reg_result res = {outcome, 0, "", 0, cause, 0};

	reg_finish(c, &res);
}

static const char *reg_service_name(enum reg_service s)
{
	switch (s) {
	case REG_SVC_GOOGLE:
		return "sheets";
	case REG_SVC_TRELLO:
		return "trello";
	case REG_SVC_MAILGUN:
		return "mailgun";
	default:
		return "http";
	}
}

/* Backs a call off and puts it back in the queue. */
static void reg_retry_later(struct reg *reg, struct reg_call *c, long delay)
{
	int64_t now = reg->api->now_ms();

	if (c->on_send)
		c->on_send(reg, 0, c->send_data);
	c->attempt++;
	c->not_before = now + delay;
	reg_enqueue(reg, c);
	reg->api->log(reg->self, OPSBOT_LOG_DEBUG, "%s: %s retry %d in %ld ms",
		      reg_service_name(c->service),
		      c->method ? c->method : "GET", c->attempt, delay);
}

static void reg_http_done(struct opsbot_plugin *self,
			  const struct opsbot_http_response *res, void *data)
{
	struct reg_call *c = data;
	struct reg *reg = c->reg;
	struct reg_limiter *lim = &reg->limit[c->service];
	int64_t now = reg->api->now_ms();
	struct reg_result out = {
	    REG_OK,	   res->code, res->body ? res->body : "",
	    res->body_len, NULL,      0};
	char *cause = NULL;
	int retryable = 0, may_have_acted = 0, later = 0;
	long delay = -1;

	reg->inflight--;
	if (res->status == OPSBOT_ECANCELED || reg->closing) {
		/* we never cancel requests: the plugin is being unloaded */
		reg->closing = 1;
		reg_finish_simple(c, REG_CANCELLED, "cancelled");
		reg_client_cancel_all(reg);
		return;
	}
	if (res->status == OPSBOT_OK && res->code >= 200 && res->code < 300) {
		reg_finish(c, &out);
		reg_pump(reg);
		return;
	}
	if (res->status != OPSBOT_OK) {
		cause = reg_xasprintf("%s", res->error ? res->error
						       : "request failed");
		retryable = 1;
		may_have_acted = res->request_sent;
	} else {
		char *why = reg_error_cause(out.body);

		cause =
		    reg_xasprintf("%ld%s%s", res->code, *why ? " " : "", why);
		free(why);
		if (res->code == 429 ||
		    (res->code == 420 && c->service == REG_SVC_MAILGUN)) {
			long ra = reg_retry_after_ms(
			    reg->api->http_header(res, "Retry-After", 0),
			    (time_t)(reg_wall_ms() / 1000));
			long floor = c->service == REG_SVC_TRELLO
					 ? (long)reg->trello_429_ms
					 : 0;

			retryable = 1;
			delay = reg_backoff_ms(
			    c->attempt, (long)reg->backoff_base_ms,
			    (long)reg->backoff_max_ms, &reg->rng);
			if (delay < floor)
				delay =
				    floor + (long)(reg_random(&reg->rng) %
						   (uint32_t)(floor / 10 + 1));
			if (ra >= 0)
				delay =
				    ra + (long)(reg_random(&reg->rng) % 250);
			/* the limit is per key: pause every call to it */
			if (lim->blocked_until < now + delay)
				lim->blocked_until = now + delay;
			/*
			 * A Retry-After longer than any backoff (Mailgun's
			 * 420 can say "try again after" hours) is not waited
			 * out: the sync would hold its lease for that long.
			 * The step stays pending for a later sync.
			 */
			if (ra > reg->backoff_max_ms) {
				lim->deferred_until = now + delay;
				char *longer = reg_xasprintf(
				    "%s; paused for %ld s, left for a later "
				    "sync",
				    cause, (ra + 999) / 1000);

				free(cause);
				cause = longer;
				later = 1;
			}
		} else if (res->code >= 500) {
			retryable = 1;
			may_have_acted = (c->flags & REG_CALL_5XX_UNKNOWN) != 0;
		}
	}
	out.cause = cause;
	if (may_have_acted && !(c->flags & REG_CALL_IDEMPOTENT)) {
		out.outcome = REG_UNKNOWN;
		reg_finish(c, &out);
	} else if (retryable && !later && !(c->flags & REG_CALL_NO_RETRY) &&
		   c->attempt + 1 < reg->max_attempts) {
		if (delay < 0)
			delay = reg_backoff_ms(
			    c->attempt, (long)reg->backoff_base_ms,
			    (long)reg->backoff_max_ms, &reg->rng);
		reg_retry_later(reg, c, delay);
	} else {
		out.outcome = REG_FAILED;
		out.transient = retryable;
		reg_finish(c, &out);
	}
	free(cause);
	reg_pump(reg);
}

struct reg_pump_timer {
	struct reg *reg;
	int64_t at;
};

/*
 * Called when the earliest backoff or rate-limit wait is over.  Pump
 * timers are never cancelled by us, so a cancelled one means the plugin
 * is being unloaded: queued calls are then ended as cancelled.
 */
static long reg_pump_timer_fn(struct opsbot_plugin *self, int status,
			      void *data)
{
	struct reg_pump_timer *t = data;
	struct reg *reg = t->reg;

	if (reg->pump_timer_at == t->at)
		reg->pump_timer_at = 0;
	free(t);
	if (status == OPSBOT_OK) {
		reg_pump(reg);
	} else {
		reg->closing = 1;
		reg_client_cancel_all(reg);
	}
	return OPSBOT_TIMER_STOP;
}

static void reg_pump_wake_at(struct reg *reg, int64_t at)
{
	int64_t now = reg->api->now_ms();
	struct reg_pump_timer *t;

	/* an earlier wake-up is pending: it will re-arm if needed */
	if (reg->pump_timer_at && reg->pump_timer_at <= at &&
	    reg->pump_timer_at >= now)
		return;
	t = reg_xcalloc(1, sizeof(*t));
	t->reg = reg;
	t->at = at;
	if (reg->api->timer_start(reg->self, at > now ? (long)(at - now) : 0,
				  reg_pump_timer_fn, t) < 0) {
		free(t);
		return;
	}
	reg->pump_timer_at = at;
}

static int reg_start_http(struct reg *reg, struct reg_call *c)
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
	    .timeout_ms = (long)reg->http_timeout_ms,
	    .max_response_bytes = c->max_response_bytes,
	};
	int64_t id = reg->api->http_start(reg->self, &req, reg_http_done, c);

	if (id < 0)
		return -1;
	reg->inflight++;
	return 0;
}

static void reg_unlink(struct reg *reg, struct reg_call **pp,
		       struct reg_call *prev, struct reg_call *c)
{
	*pp = c->next;
	if (reg->queue_tail == c)
		reg->queue_tail = prev;
	c->next = NULL;
}

/*
 * Starts every queued call that may start now, in order; a call held by
 * its service's limit does not hold back calls to other services.
 */
static void reg_pump(struct reg *reg)
{
	struct reg_call **pp = &reg->queue_head, *prev = NULL;
	int64_t now = reg->api->now_ms(), wake = 0;
	int blocked[REG_SVC_COUNT] = {0};

	while (*pp && reg->inflight < reg->concurrency && !reg->closing) {
		struct reg_call *c = *pp;
		long wait;

		if (blocked[c->service]) {
			prev = c;
			pp = &c->next;
			continue;
		}
		if (c->not_before > now) {
			if (!wake || c->not_before < wake)
				wake = c->not_before;
			prev = c;
			pp = &c->next;
			continue;
		}
		wait = (long)(reg->limit[c->service].deferred_until - now);
		if (wait > 0) {
			/* paused by a long Retry-After: fail fast, a later
			   sync sends it */
			char *cause = reg_xasprintf(
			    "paused for %ld more s after a rate limit; left "
			    "for a later sync",
			    (wait + 999) / 1000);
			struct reg_result res = {REG_FAILED, 0,	    "",
						 0,	     cause, 1};

			reg_unlink(reg, pp, prev, c);
			reg_finish(c, &res);
			free(cause);
			pp = &reg->queue_head;
			prev = NULL;
			memset(blocked, 0, sizeof(blocked));
			wake = 0;
			now = reg->api->now_ms();
			continue;
		}
		wait = reg_limiter_take(&reg->limit[c->service], now);
		if (wait > 0) {
			blocked[c->service] = 1;
			if (!wake || now + wait < wake)
				wake = now + wait;
			prev = c;
			pp = &c->next;
			continue;
		}
		reg_unlink(reg, pp, prev, c);
		if (c->on_send && c->on_send(reg, 1, c->send_data) != 0)
			reg_finish_simple(c, REG_SKIPPED,
					  "not sent: the step is no longer "
					  "pending, or the store failed");
		else if (reg_start_http(reg, c) < 0)
			reg_finish_simple(c, REG_FAILED,
					  "could not start the request");
		/* reg_finish may have queued calls; restart the scan */
		pp = &reg->queue_head;
		prev = NULL;
		memset(blocked, 0, sizeof(blocked));
		wake = 0;
		now = reg->api->now_ms();
	}
	if (wake && reg->inflight < reg->concurrency)
		reg_pump_wake_at(reg, wake);
}

void reg_client_cancel_all(struct reg *reg)
{
	struct reg_call *c = reg->queue_head;

	reg->queue_head = reg->queue_tail = NULL;
	while (c) {
		struct reg_call *next = c->next;

		reg_finish_simple(c, REG_CANCELLED, "cancelled");
		c = next;
	}
}
