/*
 * hooktest.c - a test plugin for tests/unit/test_webhooks.c: one route per
 * thing the host checks for a webhook (a token in a header or the query,
 * an HMAC signature with and without a prefix, a delivery id seen
 * before, a body limit, a rate limit), a route that tells how often
 * the other handlers ran, so a test sees a refused request never reached
 * its handler, one that tells a body's size, a GET page in HTML with
 * headers of its own (and the ones the host refuses), and a POST that
 * answers with a redirect.
 */
#include "opsbot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "s3cret-token"
#define HMAC_SECRET "Jefe"

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;
static int small_calls, limited_calls, default_calls, acted;

static int answer(const struct opsbot_webhook *hook, int code, const char *text)
{
	bot->webhook_respond(hook, "text/plain", text, strlen(text));
	return code;
}

/* The verifying routes: which check, with what. */
struct check {
	const char *header, *query, *prefix, *secret;
	int hmac;
};

static const struct check token_header = {"X-Token", NULL, NULL, TOKEN, 0};
static const struct check token_query = {NULL, "token", NULL, TOKEN, 0};
static const struct check token_both = {"X-Token", "token", NULL, TOKEN, 0};
static const struct check token_unset = {"X-Token", "token", NULL, "", 0};
static const struct check hmac_github = {"X-Hub-Signature-256", NULL,
					 "sha256=", HMAC_SECRET, 1};
static const struct check hmac_raw = {"X-Signature", NULL, "", HMAC_SECRET, 1};

static int on_verify(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		     void *data)
{
	const struct check *c = data;
	int rc = c->hmac ? bot->webhook_verify_hmac(hook, c->header, c->prefix,
						    c->secret)
			 : bot->webhook_verify_token(hook, c->header, c->query,
						     c->secret);

	if (rc == OPSBOT_EPERM)
		return answer(hook, 403, "refused");
	if (rc != OPSBOT_OK)
		return answer(hook, 500, "unexpected status");
	return answer(hook, 200, "verified");
}

/* Acts once per X-Delivery-Id within X-Lifetime-Ms (default 60 s). */
static int on_delivery(struct opsbot_plugin *p,
		       const struct opsbot_webhook *hook, void *data)
{
	const char *id = bot->webhook_header(hook, "X-Delivery-Id");
	const char *lifetime = bot->webhook_header(hook, "X-Lifetime-Ms");
	char text[64];
	int rc;

	if (!id)
		return answer(hook, 400, "no delivery id");
	rc = bot->seen_before(self, id,
			      lifetime ? strtol(lifetime, NULL, 10) : 60000);
	if (rc < 0)
		return answer(hook, 500, "seen_before failed");
	if (rc == 1)
		return answer(hook, 200, "duplicate");
	snprintf(text, sizeof(text), "acted %d", ++acted);
	return answer(hook, 200, text);
}

static int on_small(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		    void *data)
{
	char text[64];

	small_calls++;
	snprintf(text, sizeof(text), "%zu bytes", hook->body_len);
	return answer(hook, 200, text);
}

static int on_limited(struct opsbot_plugin *p,
		      const struct opsbot_webhook *hook, void *data)
{
	++*(int *)data;
	return answer(hook, 200, "passed");
}

static int on_count(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		    void *data)
{
	char text[128];

	snprintf(text, sizeof(text), "small=%d limited=%d default=%d acted=%d",
		 small_calls, limited_calls, default_calls, acted);
	return answer(hook, 200, text);
}

/* Any body up to the default limit: its size, not counted. */
static int on_size(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		   void *data)
{
	char text[64];

	snprintf(text, sizeof(text), "%zu bytes", hook->body_len);
	return answer(hook, 200, text);
}

/* A page, as a plugin serving HTML would. */
static int on_page(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		   void *data)
{
	static const char html[] = "<!DOCTYPE html><title>hooktest</title>"
				   "<p>hello</p>";

	char refused[160];

	bot->webhook_respond(hook, "text/html", html, strlen(html));
	bot->webhook_respond_header(hook, "Content-Security-Policy",
				    "default-src 'none'");
	bot->webhook_respond_header(hook, "Cache-Control", "no-store");
	/* Each refused: a header the host owns, a CR/LF in a value, a name
	 * that is no token; their refusals are listed in X-Refused. */
	snprintf(
	    refused, sizeof(refused), "%d %d %d %d",
	    bot->webhook_respond_header(hook, "Content-Length", "1"),
	    bot->webhook_respond_header(hook, "X-Evil", "a\r\nSet-Cookie: x=1"),
	    bot->webhook_respond_header(hook, "X Bad", "v"),
	    bot->webhook_respond_header(hook, "content-type", "text/x"));
	bot->webhook_respond_header(hook, "X-Refused", refused);
	return 200;
}

/* Post/redirect/get: 303 with a Location. */
static int on_redirect(struct opsbot_plugin *p,
		       const struct opsbot_webhook *hook, void *data)
{
	int i, busy = 0;

	bot->webhook_respond_header(hook, "Location", "page?x=1");
	/* 15 more fit, the 17th is refused */
	for (i = 0; i < 16; i++)
		if (bot->webhook_respond_header(hook, "X-N", "n") ==
		    OPSBOT_EBUSY)
			busy++;
	return busy == 1 ? 303 : 500;
}

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	const struct opsbot_webhook_route routes[] = {
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/token-header", on_verify, (void *)&token_header,
	     0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/token-query", on_verify, (void *)&token_query, 0,
	     0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/token-both", on_verify, (void *)&token_both, 0, 0,
	     0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/token-unset", on_verify, (void *)&token_unset, 0,
	     0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/hmac", on_verify, (void *)&hmac_github, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/hmac-raw", on_verify, (void *)&hmac_raw, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/delivery", on_delivery, NULL, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/small", on_small, NULL, 64, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/limited", on_limited, &limited_calls, 0, 60, 3},
	    /* burst 0: rate / 6 + 1 = 11 at once */
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/limited-default", on_limited, &default_calls, 0,
	     60, 0},
	    {sizeof(struct opsbot_webhook_route), "GET",
	     "/hooks/hooktest/count", on_count, NULL, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/size", on_size, NULL, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "GET", "/hooks/hooktest/page",
	     on_page, NULL, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST",
	     "/hooks/hooktest/redirect", on_redirect, NULL, 0, 0, 0},
	};
	size_t i;

	bot = api;
	self = p;
	small_calls = limited_calls = default_calls = acted = 0;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (bot->webhook_add(self, &routes[i]) != OPSBOT_OK) {
			bot->log(self, OPSBOT_LOG_ERROR,
				 "hooktest: cannot add %s", routes[i].path);
			return OPSBOT_ERR;
		}
	return OPSBOT_OK;
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "hooktest",
    .version = "1",
    .description = "webhook checks tests",
    .init = init,
};
