/*
 * test_http_redirect.c - OPSBOT_HTTP_FOLLOW_REDIRECTS follows a redirect
 * only to the same scheme, host and port, at most 5 times.  libcurl's own
 * following went to another host and sent it the plugin's X-Api-Key
 * (curl drops only Authorization).  Two listeners on 127.0.0.1 with
 * different ports are two origins; each records what it received.
 */
#include "api.h"
#include "check_main.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct server {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	struct buf seen; /* every request's head, in order */
	int requests;
	int stop;
	int other_port; /* where "/cross" sends a client */
};

static struct server origin, other;
static char *dir;
static struct config *cfg;

static void answer(int c, struct server *s, const char *head)
{
	char path[128] = "", out[512];
	int n;

	sscanf(head, "%*s %127s", path);
	if (!strcmp(path, "/cross"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 302 Found\r\nLocation: "
			     "http://127.0.0.1:%d/stolen\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n",
			     s->other_port);
	else if (!strcmp(path, "/same") || !strcmp(path, "/loop"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 302 Found\r\nLocation: %s\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n",
			     !strcmp(path, "/same") ? "/final" : "/loop");
	else if (!strcmp(path, "/scheme"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 301 Moved\r\nLocation: "
			     "https://127.0.0.1:%d/final\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n",
			     s->port);
	else
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			     "Connection: close\r\n\r\nfinal");
	if (write(c, out, (size_t)n) < 0)
		perror("write");
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		char head[4096];
		size_t len = 0;
		ssize_t n;
		int c, stop;

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		while (len < sizeof(head) - 1 &&
		       (n = read(c, head + len, sizeof(head) - 1 - len)) > 0) {
			len += (size_t)n;
			head[len] = '\0';
			if (strstr(head, "\r\n\r\n"))
				break;
		}
		head[len] = '\0';
		pthread_mutex_lock(&s->lock);
		buf_addf(&s->seen, "%s\n", head);
		s->requests++;
		pthread_mutex_unlock(&s->lock);
		answer(c, s, head);
		close(c);
	}
}

static void server_start(struct server *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(s->fd, 16), 0);
	getsockname(s->fd, (struct sockaddr *)&sa, &len);
	s->port = ntohs(sa.sin_port);
}

static void server_stop(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	close(s->fd);
	buf_free(&s->seen);
	pthread_mutex_destroy(&s->lock);
}

static void setup(void)
{
	char *db, *plugins, *modules, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	modules = test_build_path("modules");
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	dir = test_make_dir("redirect");
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string("[plugin.review]\nkey = one\n", "t.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "t", &err) == 0,
		      "%s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	ck_assert_msg(plugin_load("review", &err) != NULL, "%s", err);
	server_start(&origin);
	server_start(&other);
	origin.other_port = other.port;
	pthread_create(&origin.thread, NULL, serve, &origin);
	pthread_create(&other.thread, NULL, serve, &other);
}

static void teardown(void)
{
	server_stop(&origin);
	server_stop(&other);
	plugin_unload_all();
	host_stop();
	config_free(cfg);
	cfg = NULL;
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
	dir = NULL;
}

static int done;
static int status;
static long code;
static char body[64], error_text[256];

static void on_done(struct opsbot_plugin *p,
		    const struct opsbot_http_response *res, void *data)
{
	UNUSED(p);
	UNUSED(data);
	status = res->status;
	code = res->code;
	snprintf(body, sizeof(body), "%s", res->body);
	snprintf(error_text, sizeof(error_text), "%s",
		 res->error ? res->error : "");
	done = 1;
}

static void get(const char *path, unsigned flags)
{
	static const char *const headers[] = {"X-Api-Key: key-4711", NULL};
	struct opsbot_http_request req = {.size = sizeof(req)};
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", origin.port, path);
	req.url = url;
	req.headers = headers;
	req.flags = flags;
	done = 0;
	ck_assert_int_gt(
	    host_api.http_start(plugin_find("review"), &req, on_done, NULL), 0);
	ck_assert(test_run_until(&done, 10000));
}

static int requests(struct server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

START_TEST(redirect_to_another_port_is_refused)
{
	get("/cross", OPSBOT_HTTP_FOLLOW_REDIRECTS);
	ck_assert_int_eq(requests(&other), 0);
	ck_assert_msg(!other.seen.data || !strstr(other.seen.data, "key-4711"),
		      "the key went to another origin:\n%s", other.seen.data);
	ck_assert_int_eq(status, OPSBOT_ERR);
	ck_assert_int_eq(code, 302);
	ck_assert_msg(strstr(error_text, "redirect to another origin") &&
			  strstr(error_text, "127.0.0.1:"),
		      "%s", error_text);
}
END_TEST

START_TEST(redirect_to_another_scheme_is_refused)
{
	get("/scheme", OPSBOT_HTTP_FOLLOW_REDIRECTS);
	ck_assert_int_eq(requests(&origin), 1);
	ck_assert_int_eq(status, OPSBOT_ERR);
	ck_assert_msg(strstr(error_text, "redirect to another origin"), "%s",
		      error_text);
}
END_TEST

START_TEST(redirect_on_the_same_origin_is_followed)
{
	get("/same", OPSBOT_HTTP_FOLLOW_REDIRECTS);
	ck_assert_msg(status == OPSBOT_OK, "%s", error_text);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(body, "final");
	ck_assert_int_eq(requests(&origin), 2);
	ck_assert_ptr_nonnull(strstr(origin.seen.data, "GET /final "));
	ck_assert_ptr_nonnull(
	    strstr(strstr(origin.seen.data, "GET /final "), "key-4711"));
}
END_TEST

START_TEST(at_most_five_redirects)
{
	get("/loop", OPSBOT_HTTP_FOLLOW_REDIRECTS);
	ck_assert_int_eq(status, OPSBOT_ERR);
	ck_assert_int_eq(requests(&origin), 6);
	ck_assert_msg(strstr(error_text, "redirect"), "%s", error_text);
}
END_TEST

START_TEST(without_the_flag_the_redirect_is_the_answer)
{
	get("/cross", 0);
	ck_assert_int_eq(status, OPSBOT_OK);
	ck_assert_int_eq(code, 302);
	ck_assert_int_eq(requests(&other), 0);
}
END_TEST

static Suite *redirect_suite(void)
{
	Suite *s = suite_create("http_redirect");
	TCase *tc = tcase_create("redirect");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, redirect_to_another_port_is_refused);
	tcase_add_test(tc, redirect_to_another_scheme_is_refused);
	tcase_add_test(tc, redirect_on_the_same_origin_is_followed);
	tcase_add_test(tc, at_most_five_redirects);
	tcase_add_test(tc, without_the_flag_the_redirect_is_the_answer);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(redirect_suite)
