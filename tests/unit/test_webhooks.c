/*
 * test_webhooks.c - the webhook checks, through the real host and its
 * listener, with tests/plugins/hooktest.c handling the routes: token and
 * HMAC verification, replayed deliveries, body limits and rate limits; and
 * the HTTP server itself (modules/httpd.so): hostile requests, linear
 * cost, idle connections, keep-alive, a GET page, and the loop's fairness
 * under many requests at once ([http] requests_per_pass).
 */
#include "waitscale.h"
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

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

/* A client socket to the listener from source (NULL: any loopback). */
static int connect_from(const char *source)
{
	struct sockaddr_in addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	if (source) {
		ck_assert_int_eq(inet_pton(AF_INET, source, &addr.sin_addr), 1);
		ck_assert_int_eq(
		    bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	}
	addr.sin_port = htons((uint16_t)webhook_port());
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The listen backlog accepts before the loop runs. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	return fd;
}

/* Is in one whole answer (its head and Content-Length bytes of body)? */
static int answer_complete(const struct buf *in)
{
	const char *end, *cl;

	if (!in->len)
		return 0;
	end = strstr(in->data, "\r\n\r\n");
	if (!end)
		return 0;
	cl = strcasestr(in->data, "\r\nContent-Length: ");
	if (!cl || cl > end)
		return 0;
	return in->len >=
	       (size_t)(end + 4 - in->data) + strtoul(cl + 18, NULL, 10);
}

/*
 * Sends request (len bytes) on fd and runs the loop until the host has
 * answered it in full or closed the connection (2 s at most).
 */
static struct answer exchange_on(int fd, const char *request, size_t len)
{
	struct answer a;
	struct buf in = BUF_INIT;
	int i;
	char *end;

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(write(fd, request, len), (ssize_t)len);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 400 && !answer_complete(&in); i++) {
		char chunk[4096];
		ssize_t n;

		test_run_for(5);
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			buf_add(&in, chunk, (size_t)n);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
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

/* exchange_on() a new connection, closed after the answer. */
static struct answer exchange(const char *request, size_t len)
{
	int fd = connect_from(NULL);
	struct answer a = exchange_on(fd, request, len);

	close(fd);
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
	/* A lifetime long enough for three posts, also under valgrind. */
	long life = test_wait_ms(1000);
	char h1[96];

	snprintf(h1, sizeof(h1), "X-Delivery-Id: d-1\r\nX-Lifetime-Ms: %ld\r\n",
		 life);

	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "acted 1");
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "duplicate");
	ASSERT_ANSWER(post_text(t, h1, "{}"), 200, "duplicate");
	ASSERT_ANSWER(post_text(t, "X-Delivery-Id: d-2\r\n", "{}"), 200,
		      "acted 2");
	ck_assert_str_eq(counts(), "small=0 limited=0 default=0 acted=2");
	/* Once its lifetime passed, the id is new again. */
	test_run_for(life + 100);
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

/* ---- the HTTP server (libmicrohttpd in modules/httpd.so) ---- */

#define ASSERT_STATUS(request, code)                                           \
	do {                                                                   \
		const char *r_ = (request);                                    \
		int s_ = exchange(r_, strlen(r_)).status;                      \
		ck_assert_msg(s_ == (code), "line %d: want %d, got %d",        \
			      __LINE__, (code), s_);                           \
	} while (0)

START_TEST(content_length_with_junk_is_refused)
{
	ASSERT_STATUS("POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
		      "Content-Length: 5 junk\r\n\r\nhello",
		      400);
	ASSERT_STATUS("POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
		      "Content-Length: 5\r\n\r\nhello",
		      200);
}
END_TEST

START_TEST(unknown_http_version_is_refused)
{
	int s = exchange("POST /hooks/hooktest/size HTTP/1.9\r\nHost: x\r\n"
			 "Content-Length: 2\r\n\r\n{}",
			 strlen("POST /hooks/hooktest/size HTTP/1.9\r\nHost: "
				"x\r\nContent-Length: 2\r\n\r\n{}"))
		    .status;

	ck_assert_msg(s == 505 || s == 400, "HTTP/1.9: %d", s);
}
END_TEST

START_TEST(space_before_a_colon_is_refused)
{
	ASSERT_STATUS("POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
		      "X-Token : s3cret-token\r\nContent-Length: 2\r\n\r\n{}",
		      400);
	ASSERT_STATUS("POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
		      "Content-Length : 2\r\n\r\n{}",
		      400);
}
END_TEST

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The old listener parsed the whole request again on every read: 170,000
 * one-byte chunks took 1.7 s of CPU.  Now the cost is linear. */
START_TEST(many_small_chunks_take_linear_time)
{
	enum { CHUNKS = 170000 };
	static const char head[] =
	    "POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	struct buf req = BUF_INIT, in = BUF_INIT;
	double start, used, bound = getenv("VALGRIND") ? 60.0 : 0.5;
	size_t sent = 0;
	int fd, i;

	buf_add(&req, head, strlen(head));
	for (i = 0; i < CHUNKS; i++)
		buf_add(&req, "1\r\nx\r\n", 6);
	buf_add(&req, "0\r\n\r\n", 5);
	fd = connect_from(NULL);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	start = cpu_seconds();
	for (i = 0; i < 20000 && !answer_complete(&in); i++) {
		char chunk[4096];
		ssize_t n;

		while (sent < req.len &&
		       (n = write(fd, req.data + sent, req.len - sent)) > 0)
			sent += (size_t)n;
		test_run_for(1);
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			buf_add(&in, chunk, (size_t)n);
	}
	used = cpu_seconds() - start;
	close(fd);
	ck_assert_msg(in.len && strstr(in.data, "\r\n\r\n170000 bytes"),
		      "answer: '%.200s'", in.len ? in.data : "");
	ck_assert_msg(used < bound, "%.3f s of CPU for %d chunks", used,
		      CHUNKS);
	buf_free(&req);
	buf_free(&in);
}
END_TEST

/* Sends one line on a new connection from 127.0.0.1 and leaves it. */
static int idle_connection(void)
{
	static const char line[] = "POST /hooks/hooktest/size HTTP/1.1\r\n";
	int fd = connect_from(NULL);

	ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* The old listener took 64 connections in all: 64 idle ones, sent one
 * line each and reopened when closed, starved every delivery. */
START_TEST(idle_connections_do_not_starve_deliveries)
{
	enum { IDLE = 64, DELIVERIES = 60 };
	int idle[IDLE], i, j, delivered = 0;
	int64_t start;

	for (i = 0; i < IDLE; i++)
		idle[i] = idle_connection();
	test_run_for(50);
	start = time_now_ms();
	for (i = 0; i < DELIVERIES; i++) {
		static const char req[] =
		    "POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
		int fd = connect_from("127.0.0.2");
		struct answer a = exchange_on(fd, req, strlen(req));

		close(fd);
		delivered += a.status == 200;
		/* Whatever the host closed comes back at once. */
		for (j = 0; j < IDLE; j++) {
			char c;
			ssize_t n = read(idle[j], &c, 1);

			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				close(idle[j]);
				idle[j] = idle_connection();
			}
		}
	}
	ck_assert_int_eq(delivered, DELIVERIES);
	ck_assert_msg(time_now_ms() - start < 15000, "%lld ms",
		      (long long)(time_now_ms() - start));
	for (i = 0; i < IDLE; i++)
		close(idle[i]);
}
END_TEST

START_TEST(keep_alive_serves_two_requests_on_one_connection)
{
	static const char req[] =
	    "POST /hooks/hooktest/size HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 3\r\n\r\nabc";
	static const char get[] =
	    "GET /hooks/hooktest/count HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = connect_from(NULL);

	ASSERT_ANSWER(exchange_on(fd, req, strlen(req)), 200, "3 bytes");
	ASSERT_ANSWER(exchange_on(fd, get, strlen(get)), 200,
		      "small=0 limited=0 default=0 acted=0");
	ASSERT_ANSWER(exchange_on(fd, health, strlen(health)), 200, "ok\n");
	ASSERT_ANSWER(exchange_on(fd, req, strlen(req)), 200, "3 bytes");
	close(fd);
}
END_TEST

START_TEST(get_route_serves_html)
{
	static const char get[] =
	    "GET /hooks/hooktest/page HTTP/1.1\r\nHost: x\r\n\r\n";
	struct answer a = exchange(get, strlen(get));

	ck_assert_int_eq(a.status, 200);
	ck_assert_msg(
	    strcasestr(a.head, "\r\nContent-Type: text/html; charset=utf-8"),
	    "%s", a.head);
	ck_assert_str_eq(a.body, "<!DOCTYPE html><title>hooktest</title>"
				 "<p>hello</p>");
	/* Its own headers; those the host owns or that would split the
	 * answer are refused (EINVAL -5), and none reached the wire. */
	ck_assert_msg(strcasestr(a.head, "\r\nContent-Security-Policy: "
					 "default-src 'none'\r\n"),
		      "%s", a.head);
	ck_assert_msg(strcasestr(a.head, "\r\nCache-Control: no-store"), "%s",
		      a.head);
	ck_assert_msg(strcasestr(a.head, "\r\nX-Refused: -5 -5 -5 -5"), "%s",
		      a.head);
	ck_assert_msg(!strcasestr(a.head, "Set-Cookie") &&
			  !strcasestr(a.head, "X-Evil") &&
			  !strcasestr(a.head, "text/x"),
		      "%s", a.head);
	ck_assert_msg(strcasestr(a.head, "\r\nContent-Length: 50"), "%s",
		      a.head);
	/* The route is GET only; an unknown path is 404. */
	ASSERT_STATUS("POST /hooks/hooktest/page HTTP/1.1\r\nHost: x\r\n"
		      "Content-Length: 0\r\n\r\n",
		      405);
	ASSERT_STATUS("GET /hooks/hooktest/nope HTTP/1.1\r\nHost: x\r\n\r\n",
		      404);
}
END_TEST

START_TEST(post_answers_a_redirect)
{
	struct answer a = post_text("/hooks/hooktest/redirect", NULL, "a=1");

	ck_assert_int_eq(a.status, 303);
	ck_assert_msg(strcasestr(a.head, "HTTP/1.1 303 See Other"), "%s",
		      a.head);
	ck_assert_msg(strcasestr(a.head, "\r\nLocation: page?x=1\r\n"), "%s",
		      a.head);
}
END_TEST

/* ---- fairness: [http] requests_per_pass (4 by default) ---- */

enum { CONCURRENT = 64, PER_PASS = 4 };

/* 64 connections, 8 per source address ([http] max_connections_per_ip is
 * 16), accepted and idle before their requests are sent. */
static void open_concurrent(int *fds)
{
	int i;

	for (i = 0; i < CONCURRENT; i++) {
		char source[32];

		snprintf(source, sizeof(source), "127.0.1.%d", i / 8 + 1);
		fds[i] = connect_from(source);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	test_run_for(50);
}

static void send_concurrent(const int *fds)
{
	static const char get[] =
	    "GET /hooks/hooktest/page HTTP/1.1\r\nHost: x\r\n\r\n";
	int i;

	for (i = 0; i < CONCURRENT; i++)
		ck_assert_int_eq(write(fds[i], get, strlen(get)),
				 (ssize_t)strlen(get));
}

/* How many of fds have an answer's first bytes (or were closed). */
static int answered(const int *fds)
{
	int i, n = 0;

	for (i = 0; i < CONCURRENT; i++) {
		char c;

		if (fds[i] < 0 ||
		    recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
			n++;
	}
	return n;
}

/* The IRC side: a socket the loop watches, as it watches the server's.
 * Each event records how many answers were out and asks for the next
 * event at once, so there is one event in every turn of the loop. */
struct irc_side {
	uv_poll_t poll;
	int pair[2];
	const int *fds;
	int seen[1024];
	int events;
};

static void on_irc_line(uv_poll_t *p, int status, int events)
{
	struct irc_side *irc = p->data;
	char c;
	int n;

	(void)status;
	(void)events;
	ck_assert_int_eq(read(irc->pair[0], &c, 1), 1);
	n = answered(irc->fds);
	if (irc->events < 1024)
		irc->seen[irc->events++] = n;
	if (n < CONCURRENT)
		ck_assert_int_eq(write(irc->pair[1], "x", 1), 1);
}

static void irc_side_start(struct irc_side *irc, const int *fds)
{
	memset(irc, 0, sizeof(*irc));
	irc->fds = fds;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, irc->pair), 0);
	uv_poll_init(loop_get(), &irc->poll, irc->pair[0]);
	irc->poll.data = irc;
	uv_poll_start(&irc->poll, UV_READABLE, on_irc_line);
}

static void irc_side_stop(struct irc_side *irc)
{
	uv_close((uv_handle_t *)&irc->poll, NULL);
	uv_run(loop_get(), UV_RUN_NOWAIT);
	close(irc->pair[0]);
	close(irc->pair[1]);
}

/* Reads every fd's answer to its end: how many were 200. */
static int read_answers(int *fds)
{
	struct buf in[CONCURRENT];
	int i, ok = 0, done = 0, round;

	for (i = 0; i < CONCURRENT; i++)
		in[i] = (struct buf)BUF_INIT;
	for (round = 0; round < 400 && done < CONCURRENT; round++) {
		test_run_for(5);
		done = 0;
		for (i = 0; i < CONCURRENT; i++) {
			char chunk[4096];
			ssize_t n;

			while ((n = read(fds[i], chunk, sizeof(chunk))) > 0)
				buf_add(&in[i], chunk, (size_t)n);
			done += answer_complete(&in[i]);
		}
	}
	for (i = 0; i < CONCURRENT; i++) {
		ok += answer_complete(&in[i]) &&
		      !strncmp(in[i].data, "HTTP/1.1 200 ", 13);
		buf_free(&in[i]);
	}
	return ok;
}

/* 64 requests in at once: the IRC side's events come between small
 * batches of answers (the server answers PER_PASS per turn of the loop,
 * oldest first), not after all 64; and every one is answered. */
START_TEST(irc_events_run_between_batches_of_requests)
{
	struct irc_side irc;
	int fds[CONCURRENT], i, most = 0, before_all = 0;

	open_concurrent(fds);
	irc_side_start(&irc, fds);
	send_concurrent(fds);
	ck_assert_int_eq(write(irc.pair[1], "x", 1), 1);
	ck_assert_int_eq(read_answers(fds), CONCURRENT);
	for (i = 0; i < irc.events; i++) {
		int grew = irc.seen[i] - (i ? irc.seen[i - 1] : 0);

		if (grew > most)
			most = grew;
		before_all += irc.seen[i] < CONCURRENT;
	}
	/* A turn is the check's batch, then the I/O phase's (a budget
	 * shared by both): at most PER_PASS answers between two events. */
	ck_assert_msg(most <= PER_PASS,
		      "%d answers between two IRC events (%d events)", most,
		      irc.events);
	ck_assert_msg(before_all >= CONCURRENT / PER_PASS - 1,
		      "%d IRC events before the last answer", before_all);
	ck_assert_int_gt(irc.events, 1);
	ck_assert_uint_eq(webhook_waiting(), 0);
	irc_side_stop(&irc);
	for (i = 0; i < CONCURRENT; i++)
		close(fds[i]);
}
END_TEST

/* Clients that went away while their requests waited: their connections
 * are closed and freed when their turn comes (ASan and valgrind see no
 * leak), and the others are answered. */
START_TEST(waiting_request_of_a_gone_client_is_cleaned_up)
{
	int fds[CONCURRENT], i, n, round;
	struct buf in = BUF_INIT;

	open_concurrent(fds);
	send_concurrent(fds);
	for (round = 0; round < 200 && !webhook_waiting(); round++)
		uv_run(loop_get(), UV_RUN_NOWAIT);
	ck_assert_uint_gt(webhook_waiting(), CONCURRENT / 2);
	/* The last half waits: those clients go. */
	for (i = CONCURRENT / 2; i < CONCURRENT; i++) {
		close(fds[i]);
		fds[i] = -1;
	}
	for (round = 0; round < 400 && webhook_waiting(); round++)
		test_run_for(5);
	ck_assert_uint_eq(webhook_waiting(), 0);
	for (i = 0, n = 0; i < CONCURRENT / 2; i++) {
		char chunk[4096];
		ssize_t got;

		buf_reset(&in);
		for (round = 0; round < 100 && !answer_complete(&in); round++) {
			while ((got = read(fds[i], chunk, sizeof(chunk))) > 0)
				buf_add(&in, chunk, (size_t)got);
			if (!answer_complete(&in))
				test_run_for(2);
		}
		n += answer_complete(&in);
		close(fds[i]);
	}
	buf_free(&in);
	ck_assert_int_eq(n, CONCURRENT / 2);
	/* The server still answers. */
	{
		static const char health[] =
		    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

		ASSERT_ANSWER(exchange(health, strlen(health)), 200, "ok\n");
	}
}
END_TEST

/* Stopping the listener with requests waiting (suspended connections
 * make libmicrohttpd abort if it is stopped over them): no crash, no
 * leak, and their clients see the connection closed. */
START_TEST(stop_with_requests_waiting_is_clean)
{
	int fds[CONCURRENT], i, round, closed = 0;

	open_concurrent(fds);
	send_concurrent(fds);
	for (round = 0; round < 200 && !webhook_waiting(); round++)
		uv_run(loop_get(), UV_RUN_NOWAIT);
	ck_assert_uint_gt(webhook_waiting(), 0);
	webhook_stop();
	ck_assert_uint_eq(webhook_waiting(), 0);
	test_run_for(20);
	for (i = 0; i < CONCURRENT; i++) {
		char chunk[4096];
		ssize_t n;

		while ((n = read(fds[i], chunk, sizeof(chunk))) > 0)
			;
		closed += n == 0 || (n < 0 && errno != EAGAIN);
		close(fds[i]);
	}
	ck_assert_int_eq(closed, CONCURRENT);
}
END_TEST

static Suite *webhooks_suite(void)
{
	Suite *s = suite_create("webhooks");
	TCase *verify = tcase_create("verify");
	TCase *limits = tcase_create("limits");
	TCase *server = tcase_create("server");

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

	tcase_add_checked_fixture(server, setup, teardown);
	tcase_set_timeout(server, 60);
	tcase_add_test(server, content_length_with_junk_is_refused);
	tcase_add_test(server, unknown_http_version_is_refused);
	tcase_add_test(server, space_before_a_colon_is_refused);
	tcase_add_test(server, many_small_chunks_take_linear_time);
	tcase_add_test(server, idle_connections_do_not_starve_deliveries);
	tcase_add_test(server,
		       keep_alive_serves_two_requests_on_one_connection);
	tcase_add_test(server, get_route_serves_html);
	tcase_add_test(server, post_answers_a_redirect);
	tcase_add_test(server, irc_events_run_between_batches_of_requests);
	tcase_add_test(server, waiting_request_of_a_gone_client_is_cleaned_up);
	tcase_add_test(server, stop_with_requests_waiting_is_clean);
	suite_add_tcase(s, server);
	return s;
}

CHECK_MAIN(webhooks_suite)
