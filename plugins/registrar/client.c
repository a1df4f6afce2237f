/*
 * client.c - every HTTP call of the registrar goes through the SDK's call
 * queue (plugins/sdk/sdk_http.h: concurrency, rate limits, retries,
 * Retry-After), with one service per API: their rate limits differ, and a
 * 429 from one must not pause the others.
 *
 * What each service adds to the queue's policy:
 *  - Trello sends no Retry-After with its 429: a pause of at least
 *    trello_429_backoff;
 *  - Mailgun's 420 is a rate limit too, and its 5xx means not sent, so a
 *    mail is retried after one (a card POST's 5xx stays unknown);
 *  - connections to the services we POST to are never reused (libcurl
 *    could send a POST again on a dead reused connection: a second card
 *    or mail).  Google calls are idempotent and keep theirs.
 *
 * A Retry-After longer than backoff_max is not waited out (the sync would
 * hold its lease that long): the call fails as passing, and the step is
 * left for a later sync.
 */
#include <stdlib.h>

#include "registrar.h"

void reg_client_init(struct reg *reg)
{
	const struct sdk_http_options opts = {
	    .concurrency = reg->concurrency,
	    .max_attempts = reg->max_attempts,
	    .backoff_base_ms = (long)reg->backoff_base_ms,
	    .backoff_max_ms = (long)reg->backoff_max_ms,
	    .timeout_ms = (long)reg->http_timeout_ms,
	    .pause_note = "left for a later sync",
	};
	/* in the order of enum reg_service; rate limits come later */
	const struct sdk_http_service services[REG_SVC_COUNT] = {
	    [REG_SVC_GOOGLE] = {.name = "sheets"},
	    [REG_SVC_TRELLO] = {.name = "trello",
				.min_429_pause_ms = (long)reg->trello_429_ms,
				.flags = SDK_HTTP_SERVICE_CLOSE},
	    [REG_SVC_MAILGUN] = {.name = "mailgun",
				 .rate_limit_code = 420,
				 .flags = SDK_HTTP_SERVICE_CLOSE |
					  SDK_HTTP_SERVICE_5XX_NOT_SENT},
	    /* the guide's checks: GETs only, gently */
	    [REG_SVC_GERRIT] = {.name = "gerrit"},
	};

	sdk_http_queue_init(&reg->http, reg->self, reg->api, &opts);
	for (int i = 0; i < REG_SVC_COUNT; i++)
		sdk_http_service_add(&reg->http, &services[i]);
}

struct reg_call_ctx {
	struct reg *reg;
	reg_call_fn *fn;
	void *data;
};

static void reg_call_done(const struct sdk_http_result *res, void *data)
{
	struct reg_call_ctx ctx = *(struct reg_call_ctx *)data;
	struct reg_result out = {REG_OK,	res->code,  res->body,
				 res->body_len, res->cause, 0};

	free(data);
	switch (res->outcome) {
	case SDK_HTTP_OK:
		out.cause = NULL;
		break;
	case SDK_HTTP_FAILED:
		out.outcome = REG_FAILED;
		break;
	case SDK_HTTP_NOT_SENT:
		out.outcome = REG_FAILED;
		out.transient = 1;
		break;
	case SDK_HTTP_UNKNOWN:
		out.outcome = REG_UNKNOWN;
		break;
	case SDK_HTTP_CANCELLED:
		out.outcome = REG_CANCELLED;
		break;
	case SDK_HTTP_SKIPPED:
		out.outcome = REG_SKIPPED;
		out.cause = "not sent: the step is no longer pending, or the "
			    "store failed";
		break;
	}
	ctx.fn(ctx.reg, &out, ctx.data);
}

void reg_call(struct reg *reg, const struct sdk_http_call *call,
	      reg_call_fn *fn, void *data)
{
	struct reg_call_ctx *ctx = sdk_xcalloc(1, sizeof(*ctx));

	*ctx = (struct reg_call_ctx){reg, fn, data};
	sdk_http_queue_add(&reg->http, call, reg_call_done, ctx);
}

void reg_client_cancel_all(struct reg *reg)
{
	sdk_http_queue_cancel_all(&reg->http);
}
