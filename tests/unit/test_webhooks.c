/*
 * test_webhooks.c - the webhook checks, through the real host and its
 * listener, with tests/plugins/hooktest.c handling the routes: token and
 * HMAC verification, replayed deliveries, body limits and rate limits.
 */
#include "check_main.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "testutil.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* RFC 4231, test case 2: HMAC-SHA256 of this body with key "Jefe". */
#define RFC4231_BODY "what do ya want for nothing?"
#define RFC4231_HMAC                                                           \
	"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

static char *dir;
static struct config *cfg;

static void setup(void)
{
	char *db, *plugins, *modules, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("webhooks");
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string("[http]\nlisten = 127.0.0.1:0\n", "test.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "test", &err) ==
			  0,
		      "store: %s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	/* The HMAC comes from modules/tls.so. */
	modules = test_build_path("modules");
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	ck_assert_int_eq(webhook_configure(cfg), 0);
	ck_assert_msg(plugin_load("hooktest", &err) != NULL, "%s", err);
}

static void teardown(void)
{
	plugin_unload_all();
	host_stop();
	config_free(cfg);
	cfg = NULL;
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
	dir = NULL;
}

struct answer {
	int status;
	char head[1024]; /* status line and headers */
	char body[1024];
};

/*
 * Sends request (len bytes) to the listener and runs the loop until the
 * host has answered and closed the connection (2 s at most).
 */
static struct answer exchange(const char *request, size_t len)
{
	struct answer a;
	struct sockaddr_in addr;
	struct buf in = BUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM, 0), i;
	char *end;

	memset(&a, 0, sizeof(a));
	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)webhook_port());
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The listen backlog accepts before the loop runs. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	ck_assert_int_eq(write(fd, request, len), (ssize_t)len);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 400; i++) {
		char chunk[4096];
		ssize_t n;

		test_run_for(5);
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			buf_add(&in, chunk, (size_t)n);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	close(fd);
	ck_assert_msg(in.len > 12 && !strncmp(in.data, "HTTP/1.1 ", 9),
		      "no answer to '%.60s'", request);
	a.status = (int)strtol(in.data + 9, NULL, 10);
	end = strstr(in.data, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	snprintf(a.head, sizeof(a.head), "%.*s", (int)(end - in.data), in.data);
	snprintf(a.body, sizeof(a.body), "%s", end + 4);
	buf_free(&in);
	return a;
}

/* POST target with extra header lines (each ending in CRLF) and body. */
static struct answer post(const char *target, const char *headers,
			  const char *body, size_t body_len)
{
	struct buf req = BUF_INIT;
	struct answer a;

	buf_addf(&req,
		 "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n",
		 target, headers ? headers : "", body_len);
	buf_add(&req, body, body_len);
	a = exchange(req.data, req.len);
	buf_free(&req);
	return a;
}

static struct answer post_text(const char *target, const char *headers,
			       const char *body)
{
	return post(target, headers, body, strlen(body));
}

/* What hooktest's handlers counted: "small=1 limited=3 ...". */
static const char *counts(void)
{
	static char text[1024];
	const char *req =
	    "GET /hooks/hooktest/count HTTP/1.1\r\nHost: x\r\n\r\n";
	struct answer a = exchange(req, strlen(req));

	ck_assert_int_eq(a.status, 200);
	snprintf(text, sizeof(text), "%s", a.body);
	return text;
}

#define ASSERT_ANSWER(a, code, text)                                           \
	do {                                                                   \
		struct answer a_ = (a);                                        \
		ck_assert_msg(a_.status == (code) && !strcmp(a_.body, (text)), \
			      "line %d: want %d '%s', got %d '%s'", __LINE__,  \
			      (code), (text), a_.status, a_.body);             \
	} while (0)

/* ---- tokens ---- */

START_TEST(token_in_a_header)
{
	const char *t = "/hooks/hooktest/token-header";

	ASSERT_ANSWER(post_text(t, "X-Token: s3cret-token\r\n", "{}"), 200,
		      "verified");
	/* Spaces around the value are not part of it. */
	ASSERT_ANSWER(post_text(t, "x-token:   s3cret-token  \r\n", "{}"), 200,
		      "verified");
	ASSERT_ANSWER(post_text(t, "X-Token: s3cret-tokeN\r\n", "{}"), 403,
		      "refused");
	ASSERT_ANSWER(post_text(t, "X-Token: s3cret-token2\r\n", "{}"), 403,
		      "refused");
	ASSERT_ANSWER(post_text(t, "X-Token: s3cret-toke\r\n", "{}"), 403,
		      "refused");
	ASSERT_ANSWER(post_text(t, "X-Token: \r\n", "{}"), 403, "refused");
	ASSERT_ANSWER(post_text(t, NULL, "{}"), 403, "refused");
	/* The route looks at the header only. */
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-header?token="
				"s3cret-token",
				NULL, "{}"),
		      403, "refused");
}
END_TEST

START_TEST(token_in_the_query)
{
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-query?token=s3cret-token", NULL,
		      "{}"),
	    200, "verified");
	/* Percent-decoded, among other parameters, the first one counts. */
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query?a=1&token=s3cret"
				"%2Dtoken&token=wrong",
				NULL, "{}"),
		      200, "verified");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query?%74oken=s3cret-"
				"token",
				NULL, "{}"),
		      200, "verified");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query?token=wrong&"
				"token=s3cret-token",
				NULL, "{}"),
		      403, "refused");
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-query?token=s3cret-tokenx", NULL,
		      "{}"),
	    403, "refused");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query?token=s3cret-"
				"token%00",
				NULL, "{}"),
		      403, "refused");
	/* A bad escape is no value at all. */
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query?token=s3cret-"
				"token%2",
				NULL, "{}"),
		      403, "refused");
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-query?xtoken=s3cret-token", NULL,
		      "{}"),
	    403, "refused");
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-query?token", NULL, "{}"), 403,
	    "refused");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query", NULL, "{}"), 403,
		      "refused");
	/* The route looks at the query only. */
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-query",
				"X-Token: s3cret-token\r\n", "{}"),
		      403, "refused");
}
END_TEST

START_TEST(token_in_header_or_query)
{
	const char *t = "/hooks/hooktest/token-both";

	ASSERT_ANSWER(post_text(t, "X-Token: s3cret-token\r\n", "{}"), 200,
		      "verified");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-both?token=s3cret-token",
				NULL, "{}"),
		      200, "verified");
	ASSERT_ANSWER(post_text(t, NULL, "{}"), 403, "refused");
}
END_TEST

/* No token configured: nothing matches, not even an empty token. */
START_TEST(token_unset_refuses_everything)
{
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-unset?token=", NULL, "{}"), 403,
	    "refused");
	ASSERT_ANSWER(
	    post_text("/hooks/hooktest/token-unset", "X-Token: \r\n", "{}"),
	    403, "refused");
	ASSERT_ANSWER(post_text("/hooks/hooktest/token-unset",
				"X-Token: s3cret-token\r\n", "{}"),
		      403, "refused");
}
END_TEST

/* ---- HMAC signatures ---- */

START_TEST(hmac_with_a_prefix)
{
	const char *t = "/hooks/hooktest/hmac";
	char upper[128];
	size_t i;

	ASSERT_ANSWER(
	    post_text(t, "X-Hub-Signature-256: sha256=" RFC4231_HMAC "\r\n",
		      RFC4231_BODY),
	    200, "verified");
	/* Uppercase hex is the same signature. */
	snprintf(upper, sizeof(upper), "X-Hub-Signature-256: sha256=%s\r\n",
		 RFC4231_HMAC);
	for (i = strlen("X-Hub-Signature-256: sha256="); upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	ASSERT_ANSWER(post_text(t, upper, RFC4231_BODY), 200, "verified");
	/* Another body, the same signature. */
	ASSERT_ANSWER(
	    post_text(t, "X-Hub-Signature-256: sha256=" RFC4231_HMAC "\r\n",
		      "what do ya want for nothing!"),
	    403, "refused");
	/* One digit off. */
	ASSERT_ANSWER(post_text(t,
				"X-Hub-Signature-256: sha256=5bdcc146bf60754e"
				"6a042426089575c75a003f089d2739839dec58b964ec"
				"3844\r\n",
				RFC4231_BODY),
		      403, "refused");
	/* The prefix is required, and exactly so. */
	ASSERT_ANSWER(post_text(t, "X-Hub-Signature-256: " RFC4231_HMAC "\r\n",
				RFC4231_BODY),
		      403, "refused");
	ASSERT_ANSWER(
	    post_text(t, "X-Hub-Signature-256: sha1=" RFC4231_HMAC "\r\n",
		      RFC4231_BODY),
	    403, "refused");
	ASSERT_ANSWER(
	    post_text(t, "X-Hub-Signature-256: SHA256=" RFC4231_HMAC "\r\n",
		      RFC4231_BODY),
	    403, "refused");
	/* Malformed: short, long, not hex. */
	ASSERT_ANSWER(post_text(t,
				"X-Hub-Signature-256: sha256=5bdcc146bf60754e"
				"\r\n",
				RFC4231_BODY),
		      403, "refused");
	ASSERT_ANSWER(
	    post_text(t, "X-Hub-Signature-256: sha256=" RFC4231_HMAC "00\r\n",
		      RFC4231_BODY),
	    403, "refused");
	ASSERT_ANSWER(post_text(t,
				"X-Hub-Signature-256: sha256=5bdcc146bf60754e"
				"6a042426089575c75a003f089d2739839dec58b964ec"
				"384g\r\n",
				RFC4231_BODY),
		      403, "refused");
	/* Missing. */
	ASSERT_ANSWER(post_text(t, NULL, RFC4231_BODY), 403, "refused");
	ASSERT_ANSWER(post_text(t, "X-Hub-Signature-256: \r\n", RFC4231_BODY),
		      403, "refused");
}
END_TEST

START_TEST(hmac_raw_hex)
{
	const char *t = "/hooks/hooktest/hmac-raw";

	ASSERT_ANSWER(
	    post_text(t, "X-Signature: " RFC4231_HMAC "\r\n", RFC4231_BODY),
	    200, "verified");
	ASSERT_ANSWER(post_text(t, "X-Signature: sha256=" RFC4231_HMAC "\r\n",
				RFC4231_BODY),
		      403, "refused");
	ASSERT_ANSWER(post_text(t, "X-Signature: " RFC4231_HMAC "\r\n", ""),
		      403, "refused");
	ASSERT_ANSWER(post_text(t, "X-Hub-Signature-256: " RFC4231_HMAC "\r\n",
				RFC4231_BODY),
		      403, "refused");
}
END_TEST

/* The HMAC covers the raw body, NUL bytes included. */
START_TEST(hmac_covers_a_binary_body)
{
	/* HMAC-SHA256 of "a\0b" with key "Jefe" (Python's hmac module). */
	static const char sig[] =
	    "X-Signature: abe96d286949754c65051de08d3f8b1b"
	    "5d35c314af100829f50c13954d98b7ea\r\n";

	ASSERT_ANSWER(post("/hooks/hooktest/hmac-raw", sig, "a\0b", 3), 200,
		      "verified");
	ASSERT_ANSWER(post("/hooks/hooktest/hmac-raw", sig, "a\0c", 3), 403,
		      "refused");
	ASSERT_ANSWER(post("/hooks/hooktest/hmac-raw", sig, "a", 1), 403,
		      "refused");
}
END_TEST

/* ---- replayed deliveries ---- */

START_TEST(replayed_delivery_is_ignored)
{
	const char *t = "/hooks/hooktest/delivery";
	const char *h1 = "X-Delivery-Id: d-1\r\nX-Lifetime-Ms: 1000\r\n";

	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "acted 1");
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "duplicate");
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "duplicate");
	ASSERT_ANSWER(post_text(t, "X-Delivery-Id: d-2\r\n", "{}"), 200,
		      "acted 2");
	ck_assert_str_eq(counts(), "small=0 limited=0 default=0 acted=2");
	/* Once its lifetime passed, the id is new again. */
	test_run_for(1100);
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "acted 3");
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "duplicate");
	/* d-2 lives for a minute. */
	ASSERT_ANSWER(post_text(t, "X-Delivery-Id: d-2\r\n", "{}"), 200,
		      "duplicate");
}
END_TEST

/* ---- body limit ---- */

START_TEST(body_over_the_route_limit_is_refused)
{
	const char *t = "/hooks/hooktest/small";
	char body[200];
	struct answer a;

	memset(body, 'b', sizeof(body));
	ASSERT_ANSWER(post(t, NULL, body, 64), 200, "64 bytes");
	a = post(t, NULL, body, 65);
	ck_assert_int_eq(a.status, 413);
	ck_assert_str_eq(a.body, "Payload Too Large");
	ck_assert_str_eq(counts(), "small=1 limited=0 default=0 acted=0");
	/* Refused on its Content-Length, before any of the body came. */
	a = exchange("POST /hooks/hooktest/small HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 100000\r\n\r\n",
		     strlen("POST /hooks/hooktest/small HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 100000\r\n\r\n"));
	ck_assert_int_eq(a.status, 413);
	/* A chunked body is measured as it comes. */
	{
		static const char chunked[] =
		    "POST /hooks/hooktest/small HTTP/1.1\r\nHost: x\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"
		    "20\r\n01234567890123456789012345678901\r\n"
		    "20\r\n01234567890123456789012345678901\r\n"
		    "1\r\nx\r\n0\r\n\r\n";
		static const char chunked_fits[] =
		    "POST /hooks/hooktest/small HTTP/1.1\r\nHost: x\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"
		    "20\r\n01234567890123456789012345678901\r\n"
		    "20\r\n01234567890123456789012345678901\r\n"
		    "0\r\n\r\n";

		a = exchange(chunked, strlen(chunked));
		ck_assert_int_eq(a.status, 413);
		ASSERT_ANSWER(exchange(chunked_fits, strlen(chunked_fits)), 200,
			      "64 bytes");
	}
	ck_assert_str_eq(counts(), "small=2 limited=0 default=0 acted=0");
	/* Routes without a limit of their own take the default (1 MiB,
	 * within [http] max_body). */
	{
		size_t n = 200 * 1024;
		char *big = xmalloc(n);

		memset(big, 'x', n);
		ASSERT_ANSWER(post("/hooks/hooktest/delivery",
				   "X-Delivery-Id: big\r\n", big, n),
			      200, "acted 1");
		free(big);
	}
}
END_TEST

/* ---- rate limit ---- */

START_TEST(rate_limit_answers_429_with_retry_after)
{
	const char *t = "/hooks/hooktest/limited";
	struct answer a;
	const char *retry;
	long seconds;
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_ANSWER(post_text(t, NULL, "{}"), 200, "passed");
	a = post_text(t, NULL, "{}");
	ck_assert_int_eq(a.status, 429);
	ck_assert_str_eq(a.body, "Too Many Requests");
	retry = strstr(a.head, "\r\nRetry-After: ");
	ck_assert_msg(retry != NULL, "%s", a.head);
	/* 60 a minute: the next token is at most a second away. */
	seconds = strtol(retry + 15, NULL, 10);
	ck_assert_int_ge(seconds, 1);
	ck_assert_int_le(seconds, 1);
	ck_assert_str_eq(counts(), "small=0 limited=3 default=0 acted=0");
	/* Other routes are not affected. */
	ASSERT_ANSWER(post_text("/hooks/hooktest/limited-default", NULL, "{}"),
		      200, "passed");
	/* A second later a token is back: one more passes. */
	test_run_for(1050);
	ASSERT_ANSWER(post_text(t, NULL, "{}"), 200, "passed");
	ck_assert_int_eq(post_text(t, NULL, "{}").status, 429);
	ck_assert_str_eq(counts(), "small=0 limited=4 default=1 acted=0");
}
END_TEST

/* burst 0: rate / 6 + 1 at once (60 a minute: 11). */
START_TEST(rate_limit_default_burst)
{
	const char *t = "/hooks/hooktest/limited-default";
	int i;

	for (i = 0; i < 11; i++)
		ASSERT_ANSWER(post_text(t, NULL, "{}"), 200, "passed");
	ck_assert_int_eq(post_text(t, NULL, "{}").status, 429);
	ck_assert_str_eq(counts(), "small=0 limited=0 default=11 acted=0");
}
END_TEST

static int on_never(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		    void *data)
{
	return 500;
}

/* Negative limits are a mistake, not "unlimited". */
START_TEST(route_limits_are_checked)
{
	struct opsbot_plugin *p = plugin_find("hooktest");
	struct opsbot_webhook_route r = {
	    sizeof(r), "POST", "/hooks/hooktest/neg", on_never, NULL, 0, -1, 0};

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(webhook_add(p, &r), OPSBOT_EINVAL);
	r.rate_per_minute = 10;
	r.burst = -1;
	ck_assert_int_eq(webhook_add(p, &r), OPSBOT_EINVAL);
}
END_TEST

static Suite *webhooks_suite(void)
{
	Suite *s = suite_create("webhooks");
	TCase *verify = tcase_create("verify");
	TCase *limits = tcase_create("limits");

	tcase_add_checked_fixture(verify, setup, teardown);
	tcase_set_timeout(verify, 30);
	tcase_add_test(verify, token_in_a_header);
	tcase_add_test(verify, token_in_the_query);
	tcase_add_test(verify, token_in_header_or_query);
	tcase_add_test(verify, token_unset_refuses_everything);
	tcase_add_test(verify, hmac_with_a_prefix);
	tcase_add_test(verify, hmac_raw_hex);
	tcase_add_test(verify, hmac_covers_a_binary_body);
	tcase_add_test(verify, replayed_delivery_is_ignored);
	suite_add_tcase(s, verify);

	tcase_add_checked_fixture(limits, setup, teardown);
	tcase_set_timeout(limits, 30);
	tcase_add_test(limits, body_over_the_route_limit_is_refused);
	tcase_add_test(limits, rate_limit_answers_429_with_retry_after);
	tcase_add_test(limits, rate_limit_default_burst);
	tcase_add_test(limits, route_limits_are_checked);
	suite_add_tcase(s, limits);
	return s;
}

CHECK_MAIN(webhooks_suite)
