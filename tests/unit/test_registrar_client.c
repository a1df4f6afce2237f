/*
 * test_registrar_client.c - the registrar's HTTP call policy, on the fake
 * host's virtual time: what is retried (429 after Retry-After or the
 * Trello floor, failures before sending, 5xx where safe), what comes back
 * as unknown (a POST whose answer was lost), definite failures with their
 * cause, the concurrency bound, and connections never reused for POSTs.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/registrar/registrar.h"
#include "../lib/check_main.h"
#include "../lib/fakehost.h"

static struct fakehost *host;
static struct reg reg;

/* The script: replies for the first requests, then 200 "{}". */
static struct fakehost_reply script[16];
static int nscript, served, inflight, max_inflight;
static char last_headers[512];

struct outcome {
	int done;
	enum reg_outcome outcome;
	long code;
	int transient;
	char cause[256];
	int64_t at;
};

static void http_fn(const struct opsbot_http_request *req,
		    struct fakehost_reply *reply, void *data)
{
	last_headers[0] = '\0';
	for (const char *const *h = req->headers; h && *h; h++) {
		strncat(last_headers, *h,
			sizeof(last_headers) - strlen(last_headers) - 2);
		strncat(last_headers, "|",
			sizeof(last_headers) - strlen(last_headers) - 1);
	}
	if (served < nscript)
		*reply = script[served];
	if (!reply->body)
		reply->body = "{}";
	if (!reply->delay_ms)
		reply->delay_ms = 100;
	served++;
	if (++inflight > max_inflight)
		max_inflight = inflight;
}

static void call_done(struct reg *r, const struct reg_result *res, void *data)
{
	struct outcome *o = data;

	inflight--;
	o->done = 1;
	o->outcome = res->outcome;
	o->code = res->code;
	o->transient = res->transient;
	o->at = r->api->now_ms();
	snprintf(o->cause, sizeof(o->cause), "%s",
		 res->cause ? res->cause : "");
}

static void start(enum reg_service svc, const char *method, unsigned flags,
		  struct outcome *o)
{
	struct sdk_http_call spec = {
	    .service = svc,
	    .method = method,
	    .url = "http://127.0.0.1:1/x",
	    .body = method ? "a=b" : NULL,
	    .body_len = method ? 3 : 0,
	    .flags = flags,
	};

	reg_call(&reg, &spec, call_done, o);
}

static void setup(void)
{
	host = fakehost_new();
	memset(&reg, 0, sizeof(reg));
	reg.api = fakehost_api(host);
	reg.self = fakehost_plugin(host);
	reg.concurrency = 3;
	reg.max_attempts = 4;
	reg.backoff_base_ms = 100;
	reg.backoff_max_ms = 10000;
	reg.trello_429_ms = 5000;
	reg.http_timeout_ms = 1000;
	reg_client_init(&reg);
	fakehost_on_http(host, http_fn, NULL);
	memset(script, 0, sizeof(script));
	nscript = served = inflight = max_inflight = 0;
}

static void teardown(void)
{
	fakehost_free(host);
}

START_TEST(test_ok_and_headers)
{
	struct outcome o = {0};

	start(REG_SVC_MAILGUN, "POST", 0, &o);
	fakehost_run(host, 10000);
	ck_assert_int_eq(o.done, 1);
	ck_assert_int_eq(o.outcome, REG_OK);
	ck_assert_ptr_nonnull(strstr(last_headers, "Connection: close"));
	start(REG_SVC_GOOGLE, NULL, SDK_HTTP_IDEMPOTENT, &o);
	fakehost_run(host, 10000);
	ck_assert_ptr_null(strstr(last_headers, "Connection: close"));
}
END_TEST

START_TEST(test_429_retry_after_pauses_the_service)
{
	struct outcome a = {0}, b = {0}, c = {0};
	int64_t t0 = fakehost_now(host);

	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK,
	    .code = 429,
	    .body = "{\"message\":\"Too many requests\"}",
	    .headers = {"Retry-After: 2", NULL},
	    .request_sent = 1};
	nscript = 1;
	start(REG_SVC_MAILGUN, "POST", 0, &a);
	fakehost_run(host, 150); /* the 429 is in */
	start(REG_SVC_MAILGUN, "POST", 0, &b);
	start(REG_SVC_TRELLO, NULL, SDK_HTTP_IDEMPOTENT, &c);
	fakehost_run(host, 20000);
	ck_assert_int_eq(a.outcome, REG_OK);
	ck_assert_int_ge(a.at - t0, 100 + 2000 + 100);
	/* the other mail waited for the pause too; Trello did not */
	ck_assert_int_ge(b.at - t0, 100 + 2000 + 100);
	ck_assert_int_lt(c.at - t0, 400);
	ck_assert_int_eq(served, 4);
}
END_TEST

static long tick(struct opsbot_plugin *self, int status, void *data)
{
	return OPSBOT_TIMER_STOP;
}

/*
 * Mailgun's 420 can ask for hours.  Waiting it out would hold the sync
 * (and its lease) that long: the call and every later call to the
 * service fail as passing at once, and other services go on.
 */
START_TEST(test_long_retry_after_is_left_for_a_later_sync)
{
	struct outcome a = {0}, b = {0}, c = {0}, d = {0};
	int64_t t0 = fakehost_now(host);

	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK,
	    .code = 420,
	    .body = "{\"message\":\"recipient limit exceeded\"}",
	    .headers = {"Retry-After: 3600", NULL},
	    .request_sent = 1};
	nscript = 1;
	start(REG_SVC_MAILGUN, "POST", 0, &a);
	fakehost_run(host, 150);
	start(REG_SVC_MAILGUN, "POST", 0, &b);
	start(REG_SVC_TRELLO, NULL, SDK_HTTP_IDEMPOTENT, &c);
	fakehost_run(host, 5000);
	ck_assert_int_eq(a.done, 1);
	ck_assert_int_eq(a.outcome, REG_FAILED);
	ck_assert_int_eq(a.transient, 1);
	ck_assert_int_lt(a.at - t0, 1000);
	ck_assert_ptr_nonnull(strstr(a.cause, "420 recipient limit exceeded"));
	ck_assert_ptr_nonnull(strstr(a.cause, "paused for 36"));
	ck_assert_int_eq(b.done, 1);
	ck_assert_int_eq(b.outcome, REG_FAILED);
	ck_assert_int_eq(b.transient, 1);
	ck_assert_ptr_nonnull(strstr(b.cause, "left for a later sync"));
	ck_assert_int_eq(c.outcome, REG_OK);
	/* only the first mail and the Trello call reached a server */
	ck_assert_int_eq(served, 2);
	/* once the pause is over, mails go out again */
	reg.api->timer_start(reg.self, 3700 * 1000, tick, NULL);
	fakehost_run(host, 3700 * 1000);
	start(REG_SVC_MAILGUN, "POST", 0, &d);
	fakehost_run(host, 5000);
	ck_assert_int_eq(d.outcome, REG_OK);
}
END_TEST

/* Without Retry-After a 429 is retried after a jittered backoff. */
START_TEST(test_429_without_retry_after_backs_off)
{
	struct outcome o = {0};
	int64_t t0 = fakehost_now(host);

	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK, .code = 429, .request_sent = 1};
	nscript = 1;
	start(REG_SVC_MAILGUN, "POST", 0, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, REG_OK);
	ck_assert_int_eq(served, 2);
	/* 100 ms answer, backoff in [50, 100] ms, 100 ms answer */
	ck_assert_int_ge(o.at - t0, 250);
	ck_assert_int_le(o.at - t0, 300);
}
END_TEST

static char sends[32];

static int on_send(int sending, void *data)
{
	size_t n = strlen(sends);

	if (n + 1 < sizeof(sends))
		sends[n] = sending ? '1' : '0';
	return 0;
}

START_TEST(test_on_send_only_while_out)
{
	struct outcome o = {0};
	struct sdk_http_call spec = {
	    .service = REG_SVC_MAILGUN,
	    .method = "POST",
	    .url = "http://127.0.0.1:1/x",
	    .body = "a=b",
	    .body_len = 3,
	    .on_send = on_send,
	};

	sends[0] = '\0';
	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK, .code = 429, .request_sent = 1};
	script[1] = (struct fakehost_reply){
	    .status = OPSBOT_ERR, .error = "refused", .request_sent = 0};
	nscript = 2;
	reg_call(&reg, &spec, call_done, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, REG_OK);
	/* out, back (429), out, back (not sent), out, done */
	ck_assert_str_eq(sends, "10101");
}
END_TEST

START_TEST(test_trello_429_floor)
{
	struct outcome o = {0};
	int64_t t0 = fakehost_now(host);

	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK,
	    .code = 429,
	    .body = "{\"error\":\"API_TOKEN_LIMIT_EXCEEDED\"}",
	    .request_sent = 1};
	nscript = 1;
	start(REG_SVC_TRELLO, "POST", SDK_HTTP_5XX_UNKNOWN, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, REG_OK);
	ck_assert_int_ge(o.at - t0, 5000);
}
END_TEST

START_TEST(test_lost_answer_of_a_post_is_unknown)
{
	struct outcome o = {0};

	script[0] = (struct fakehost_reply){.status = OPSBOT_ETIMEDOUT,
					    .error = "timed out",
					    .request_sent = 1};
	nscript = 1;
	start(REG_SVC_MAILGUN, "POST", 0, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, REG_UNKNOWN);
	ck_assert_int_eq(served, 1);
	ck_assert_ptr_nonnull(strstr(o.cause, "timed out"));
}
END_TEST

START_TEST(test_failure_before_sending_is_retried)
{
	struct outcome o = {0};

	script[0] = (struct fakehost_reply){.status = OPSBOT_ERR,
					    .error = "connection refused",
					    .request_sent = 0};
	nscript = 1;
	start(REG_SVC_MAILGUN, "POST", 0, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, REG_OK);
	ck_assert_int_eq(served, 2);
}
END_TEST

START_TEST(test_5xx)
{
	struct outcome card = {0}, mail = {0};
	struct fakehost_reply r500 = {.status = OPSBOT_OK,
				      .code = 500,
				      .body = "Internal Server Error",
				      .request_sent = 1};

	script[0] = r500;
	script[1] = r500;
	nscript = 2;
	/* a card POST: the 5xx may have created it */
	start(REG_SVC_TRELLO, "POST", SDK_HTTP_5XX_UNKNOWN, &card);
	fakehost_run(host, 60000);
	ck_assert_int_eq(card.outcome, REG_UNKNOWN);
	ck_assert_ptr_nonnull(strstr(card.cause, "500"));
	/* a mail: Mailgun's 5xx means not sent, so it is retried */
	start(REG_SVC_MAILGUN, "POST", 0, &mail);
	fakehost_run(host, 60000);
	ck_assert_int_eq(mail.outcome, REG_OK);
	ck_assert_int_eq(served, 3);
}
END_TEST

START_TEST(test_definite_and_exhausted)
{
	struct outcome bad = {0}, busy = {0};
	struct fakehost_reply r503 = {.status = OPSBOT_OK,
				      .code = 503,
				      .body = "busy",
				      .request_sent = 1};

	script[0] = (struct fakehost_reply){
	    .status = OPSBOT_OK,
	    .code = 400,
	    .body = "{\"message\":\"to parameter is not a valid address\"}",
	    .request_sent = 1};
	for (int i = 1; i < 6; i++)
		script[i] = r503;
	nscript = 6;
	start(REG_SVC_MAILGUN, "POST", 0, &bad);
	fakehost_run(host, 60000);
	ck_assert_int_eq(bad.outcome, REG_FAILED);
	ck_assert_int_eq(bad.transient, 0);
	ck_assert_str_eq(bad.cause, "400 to parameter is not a valid address");
	start(REG_SVC_GOOGLE, NULL, SDK_HTTP_IDEMPOTENT, &busy);
	fakehost_run(host, 60000);
	ck_assert_int_eq(busy.outcome, REG_FAILED);
	ck_assert_int_eq(busy.transient, 1);
	ck_assert_int_eq(served, 1 + 4); /* max_attempts */
}
END_TEST

START_TEST(test_concurrency_bound)
{
	struct outcome o[10];
	int64_t t0 = fakehost_now(host);

	memset(o, 0, sizeof(o));
	for (int i = 0; i < 10; i++)
		start(REG_SVC_TRELLO, NULL, SDK_HTTP_IDEMPOTENT, &o[i]);
	fakehost_run(host, 60000);
	ck_assert_int_eq(max_inflight, 3);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(o[i].outcome, REG_OK);
	/* 10 calls of 100 ms, 3 at a time: 4 rounds */
	ck_assert_int_eq(o[9].at - t0, 400);
}
END_TEST

START_TEST(test_cancelled)
{
	struct outcome a = {0}, b = {0};

	reg.http.opts.concurrency = 1;
	start(REG_SVC_TRELLO, NULL, SDK_HTTP_IDEMPOTENT, &a);
	start(REG_SVC_TRELLO, NULL, SDK_HTTP_IDEMPOTENT, &b);
	fakehost_cancel_all(host);
	fakehost_run(host, 1000);
	ck_assert_int_eq(a.outcome, REG_CANCELLED);
	ck_assert_int_eq(b.outcome, REG_CANCELLED);
	ck_assert_int_eq(served, 1);
}
END_TEST

static enum reg_failure mailgun(long code, const char *cause, int transient,
				const char **hint)
{
	struct reg_result res = {REG_FAILED, code, "", 0, cause, transient};

	return reg_mailgun_failure(&res, hint);
}

/*
 * Which failures are the registrant's (failed until retried) and which
 * are the configuration's (pending; fixing the configuration is enough).
 */
START_TEST(test_failure_classes)
{
	const char *hint;
	struct reg_result res = {REG_FAILED,	      401, "", 0,
				 "401 invalid token", 0};

	ck_assert_int_eq(mailgun(400,
				 "400 to parameter is not a valid address. "
				 "please check documentation",
				 0, &hint),
			 REG_FAIL_ROW);
	ck_assert_ptr_nonnull(strstr(hint, "registrant's address"));
	ck_assert_int_eq(
	    mailgun(400, "400 cc parameter is not a valid address", 0, &hint),
	    REG_FAIL_CONFIG);
	ck_assert_ptr_nonnull(strstr(hint, "mail_cc"));
	ck_assert_int_eq(
	    mailgun(400, "400 from parameter is missing", 0, &hint),
	    REG_FAIL_CONFIG);
	ck_assert_int_eq(mailgun(401, "401 Forbidden", 0, &hint),
			 REG_FAIL_CONFIG);
	ck_assert_ptr_nonnull(strstr(hint, "mailgun_key"));
	ck_assert_int_eq(
	    mailgun(404, "404 Domain not found: mg.x.org", 0, &hint),
	    REG_FAIL_CONFIG);
	ck_assert_ptr_nonnull(strstr(hint, "mailgun_region"));
	ck_assert_int_eq(
	    mailgun(403, "403 Domain x is not allowed to send", 0, &hint),
	    REG_FAIL_CONFIG);
	ck_assert_int_eq(mailgun(429, "429 Too many requests", 1, &hint),
			 REG_FAIL_PASSING);
	ck_assert_str_eq(hint, "; rate limited, retried at the next sync");
	ck_assert_int_eq(mailgun(0, "Connection refused", 1, &hint),
			 REG_FAIL_PASSING);
	ck_assert_str_eq(hint, "; retried at the next sync");
	ck_assert_int_eq(mailgun(413, "413 too large", 0, &hint), REG_FAIL_ROW);

	ck_assert_int_eq(reg_trello_failure(&res), REG_FAIL_CONFIG);
	res = (struct reg_result){
	    REG_FAILED, 400, "", 0, "400 invalid value for idList", 0};
	ck_assert_int_eq(reg_trello_failure(&res), REG_FAIL_CONFIG);
	res = (struct reg_result){
	    REG_FAILED, 400, "", 0, "400 invalid value for desc", 0};
	ck_assert_int_eq(reg_trello_failure(&res), REG_FAIL_ROW);
	res = (struct reg_result){REG_FAILED, 503, "", 0, "503 busy", 1};
	ck_assert_int_eq(reg_trello_failure(&res), REG_FAIL_PASSING);
}
END_TEST

static Suite *registrar_client_suite(void)
{
	Suite *s = suite_create("registrar_client");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ok_and_headers);
	tcase_add_test(tc, test_429_retry_after_pauses_the_service);
	tcase_add_test(tc, test_trello_429_floor);
	tcase_add_test(tc, test_long_retry_after_is_left_for_a_later_sync);
	tcase_add_test(tc, test_429_without_retry_after_backs_off);
	tcase_add_test(tc, test_on_send_only_while_out);
	tcase_add_test(tc, test_lost_answer_of_a_post_is_unknown);
	tcase_add_test(tc, test_failure_before_sending_is_retried);
	tcase_add_test(tc, test_5xx);
	tcase_add_test(tc, test_definite_and_exhausted);
	tcase_add_test(tc, test_concurrency_bound);
	tcase_add_test(tc, test_cancelled);
	tcase_add_test(tc, test_failure_classes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registrar_client_suite)
