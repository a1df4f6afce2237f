/*
 * test_host_review.c - regressions found by a review of host/: each test
 * failed (or crashed the host) before the fix it names.
 */
#include "access.h"
#include "builtin.h"
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "http.h"
#include "irc.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "procs.h"
#include "store.h"
#include "testutil.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static struct config *cfg;

/* ---- the real host: loop, store, plugins, webhooks ---- */

static void host_setup(void)
{
	char *db, *plugins, *modules, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("review");
	db = xasprintf("%s/state.db", dir);
	/* The listener is modules/httpd.so. */
	modules = test_build_path("modules");
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	cfg = config_load_string("[http]\nlisten = 127.0.0.1:0\n"
				 "[plugin.review]\nkey = one\n",
				 "test.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "test", &err) ==
			  0,
		      "store: %s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
}

static void host_teardown(void)
{
	plugin_unload_all();
	host_stop();
	config_free(cfg);
	cfg = NULL;
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
}

/* A blocking client socket to the webhook port; rcvbuf > 0 shrinks its
 * receive buffer so that a large answer stays pending on the host. */
static int http_connect(int rcvbuf)
{
	struct sockaddr_in addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)webhook_port());
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The listen backlog accepts before the loop runs. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	return fd;
}

static void send_text(int fd, const char *text)
{
	size_t len = strlen(text);

	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
}

/* Runs the loop for ms, then returns what the host answered so far
 * (static; at most 4 KiB). */
static const char *http_answer(int fd, long ms)
{
	static char buf[4096];
	ssize_t n;

	test_run_for(ms);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Ambiguous framing is refused: both Transfer-Encoding and
 * Content-Length, a repeated Content-Length, a coding that is not plain
 * chunked, a signed length.  A proxy in front could read any of these
 * differently from the bot. */
START_TEST(webhook_ambiguous_framing_is_refused)
{
	static const struct {
		const char *headers;
		const char *want;
	} cases[] = {
	    {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "400"},
	    {"Content-Length: 5\r\nContent-Length: 6\r\n", "400"},
	    {"Transfer-Encoding: chunkedX\r\n", "501"},
	    {"Transfer-Encoding: gzip, chunked\r\n", "501"},
	    {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
	     "400"},
	    {"Content-Length: +5\r\n", "400"},
	    {"Content-Length: 5\r\n", "404"},
	};
	size_t i;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char req[512], want[32];
		const char *answer;
		int fd = http_connect(0);

		snprintf(req, sizeof(req),
			 "POST /hooks/x HTTP/1.1\r\nHost: x\r\n%s\r\nhello",
			 cases[i].headers);
		send_text(fd, req);
		answer = http_answer(fd, 100);
		snprintf(want, sizeof(want), "HTTP/1.1 %s ", cases[i].want);
		ck_assert_msg(!strncmp(answer, want, strlen(want)),
			      "case %zu: '%s'", i, answer);
		close(fd);
	}
}
END_TEST

/* Connections are bounded per client address ([http]
 * max_connections_per_ip, 16 by default): past that, libmicrohttpd closes
 * a new one at once, without an answer. */
START_TEST(webhook_connections_are_bounded)
{
	int fds[80], i, closed = 0;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	for (i = 0; i < 80; i++) {
		fds[i] = http_connect(0);
		test_run_for(2);
	}
	test_run_for(100);
	for (i = 0; i < 80; i++) {
		char buf[64];
		ssize_t n;

		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		n = read(fds[i], buf, sizeof(buf) - 1);
		closed += n == 0 || (n < 0 && errno != EAGAIN);
		close(fds[i]);
	}
	/* Everything past the 16th was turned away at once. */
	ck_assert_int_eq(closed, 64);
}
END_TEST

/* The review plugin, whose route /hooks/review/big?N answers N bytes:
 * the chunked bodies below are read only for a route that exists. */
static void load_review(void)
{
	char *err = NULL;

	ck_assert_msg(plugin_load("review", &err) != NULL, "%s", err);
}

/*
 * A chunk size is read with strtoul, and "size + 2" wrapped around for a
 * size near ULONG_MAX: the host then memmove()d 2^64 bytes and died.  Any
 * client that can reach [http] listen could crash the bot.  libmicrohttpd
 * takes a chunk size up to 2^64 - 1 and passes the data as it comes (the
 * route's body limit answers 413 once it is passed): such a request is
 * refused, or still waits for its data, and the bot keeps serving.
 */
START_TEST(webhook_huge_chunk_size_is_refused)
{
	static const char *const sizes[] = {"ffffffffffffffff",
					    "fffffffffffffffe", "-1",
					    "100000000", "10000000000000000"};
	size_t i;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	load_review();
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		char req[256];
		const char *answer;
		int fd = http_connect(0);

		snprintf(req, sizeof(req),
			 "POST /hooks/review/big?2 HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n%s\r\nabcdef",
			 sizes[i]);
		send_text(fd, req);
		answer = http_answer(fd, 100);
		ck_assert_msg(!strncmp(answer, "HTTP/1.1 400 ", 13) ||
				  !strncmp(answer, "HTTP/1.1 413 ", 13) ||
				  !*answer,
			      "chunk size %s: '%s'", sizes[i], answer);
		close(fd);
		fd = http_connect(0);
		send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
		answer = http_answer(fd, 100);
		ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%s'",
			      answer);
		close(fd);
	}
}
END_TEST

/* strtoul also took "0x", a sign and spaces in a chunk size, which a
 * proxy in front reads differently (RFC 9112: 1*HEXDIG). */
START_TEST(webhook_chunk_size_is_hex_digits_only)
{
	static const char *const sizes[] = {"0x5", "+5", " 5"};
	size_t i;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	load_review();
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		char req[256];
		const char *answer;
		int fd = http_connect(0);

		snprintf(req, sizeof(req),
			 "POST /hooks/review/big?2 HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n%s\r\nhello\r\n"
			 "0\r\n\r\n",
			 sizes[i]);
		send_text(fd, req);
		answer = http_answer(fd, 100);
		ck_assert_msg(!strncmp(answer, "HTTP/1.1 400 ", 13),
			      "chunk size '%s': '%s'", sizes[i], answer);
		close(fd);
	}
	/* A well-formed body still reaches its route. */
	{
		int fd = http_connect(0);
		const char *answer;

		send_text(fd, "POST /hooks/review/big?2 HTTP/1.1\r\nHost: x\r\n"
			      "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\n"
			      "hello\r\nA\r\n0123456789\r\n0\r\n\r\n");
		answer = http_answer(fd, 100);
		ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%s'",
			      answer);
		close(fd);
	}
}
END_TEST

/*
 * webhook_configure() (SIGHUP with a changed [http] section) closed the
 * listening handle and at once initialised the same uv_tcp_t again while
 * libuv still had it on its closing list.
 */
START_TEST(webhook_reconfigure_does_not_reuse_a_closing_handle)
{
	const char *answer;
	int fd, first;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	first = webhook_port();
	ck_assert_int_gt(first, 0);
	ck_assert_int_eq(webhook_configure(cfg), 0);
	ck_assert_int_gt(webhook_port(), 0);
	test_run_for(50);
	fd = http_connect(0);
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	answer = http_answer(fd, 100);
	ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%s'", answer);
	close(fd);
	/* And a second time, right after, with nothing run in between. */
	ck_assert_int_eq(webhook_configure(cfg), 0);
	ck_assert_int_eq(webhook_configure(cfg), 0);
	fd = http_connect(0);
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	answer = http_answer(fd, 100);
	ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%s'", answer);
	close(fd);
}
END_TEST

/*
 * The request timer (10 s from accept) was not stopped once an answer was
 * on its way: a client reading a large answer slowly got a second
 * respond() (408) that reused the uv_write_t still in flight.
 */
START_TEST(webhook_timeout_while_answer_is_pending)
{
	struct opsbot_plugin *p;
	char *err = NULL;
	const char *answer;
	int fd;

	ck_assert_int_eq(webhook_configure(cfg), 0);
	p = plugin_load("review", &err);
	ck_assert_msg(p != NULL, "%s", err);
	fd = http_connect(4096);
	send_text(fd, "POST /hooks/review/big?33554432 HTTP/1.1\r\n"
		      "Host: x\r\nContent-Length: 0\r\n\r\n");
	/* Past the 10 s request timer, the answer still unread. */
	answer = http_answer(fd, 10800);
	ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%.40s'", answer);
	/* The host gave up on the slow reader; it is still serving. */
	test_run_for(100);
	close(fd);
	fd = http_connect(0);
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	answer = http_answer(fd, 100);
	ck_assert_msg(!strncmp(answer, "HTTP/1.1 200 ", 13), "'%s'", answer);
	close(fd);
}
END_TEST

static int unload_done;
static char unload_err[256];

static void on_unloaded(const char *name, const char *err, void *data)
{
	unload_done++;
	snprintf(unload_err, sizeof(unload_err), "%s", err ? err : "");
}

/*
 * A plugin leaves the registry at once when its unload is requested, but
 * lives on (ops finishing, fini not yet run) until the loop gets to it.
 * plugin_load() only looked in the registry, so loading it again in that
 * window (!plugin load, or SIGHUP: reload_config() unloads a plugin whose
 * section changed and then calls load_plugins()) ran a second init in the
 * same mapping before the first instance's fini: two live instances
 * sharing the plugin's globals, then "plugin is already loaded" when the
 * reload came due.
 */
START_TEST(plugin_load_waits_for_the_old_instance)
{
	struct opsbot_plugin *p;
	char *err = NULL;

	p = plugin_load("review", &err);
	ck_assert_msg(p != NULL, "%s", err);
	unload_done = 0;
	ck_assert_int_eq(plugin_unload(p, 1, on_unloaded, NULL), OPSBOT_OK);
	ck_assert_ptr_null(plugin_load("review", &err));
	ck_assert_msg(err && strstr(err, "still being unloaded"), "%s",
		      err ? err : "(loaded twice)");
	free(err);
	err = NULL;
	ck_assert_int_eq(test_run_until(&unload_done, 3000), 1);
	/* The reload itself went through. */
	ck_assert_str_eq(unload_err, "");
	p = plugin_find("review");
	ck_assert_ptr_nonnull(p);

	/* The same with a plain unload: once it is done, a load works. */
	unload_done = 0;
	ck_assert_int_eq(plugin_unload(p, 0, on_unloaded, NULL), OPSBOT_OK);
	ck_assert_ptr_null(plugin_load("review", &err));
	free(err);
	err = NULL;
	ck_assert_int_eq(test_run_until(&unload_done, 3000), 1);
	p = plugin_load("review", &err);
	ck_assert_msg(p != NULL, "%s", err);
}
END_TEST

/*
 * request_done() and request_reply() guard against a request that already
 * ended (done() twice, a reply from a late callback) by reading
 * req->finished, but an ended request has been freed: the guard itself
 * read freed memory (ASan: heap-use-after-free), and behaved only while
 * the allocator left that byte alone.
 */
START_TEST(done_twice_is_ignored_without_touching_freed_memory)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	char *err = NULL;
	char *hold[] = {"review", "hold", NULL};
	char *twice[] = {"review", "release-twice", NULL};

	ck_assert_ptr_nonnull(plugin_load("review", &err));
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_PRIVATE, "alice", "example.org");
	command_dispatch_argv(&src, 2, hold);
	ck_assert_int_eq(command_pending_count(), 1);
	command_dispatch_argv(&src, 2, twice);
	ck_assert_int_eq(command_pending_count(), 0);
	/* The held request and the release-twice request: one end each. */
	ck_assert_int_eq(sink.finished, 2);
	ck_assert_msg(!strstr(sink.out.data ? sink.out.data : "", "too late"),
		      "%s", sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

/*
 * A cancelled child's output went on reaching the plugin until a deferred
 * EXIT/ECANCELED, then stopped mid-stream.  The contract is now that the
 * output keeps streaming until the child is gone (packer's clean-up lines
 * matter) and nothing comes after EXIT: the lines after cancel() arrive
 * (the rest of the first read at least), and the plugin, which frees its
 * state in the EXIT callback, sees no line after it (ASan would).
 */
START_TEST(process_output_after_cancel_until_exit)
{
	const char *after;
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	char *err = NULL;
	char *argv[] = {"review", "seq-cancel", NULL};

	ck_assert_ptr_nonnull(plugin_load("review", &err));
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 2, argv);
	ck_assert_int_eq(test_run_until(&sink.finished, 5000), 1);
	after = strstr(sink.out.data, "lines after cancel: ");
	ck_assert_msg(after && strtol(after + 20, NULL, 10) > 0 &&
			  strstr(after, ", status -3"),
		      "%s", sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

/*
 * libuv counts a timer from the loop's cached time, taken when the loop
 * pass began.  A timer started late in a busy pass (a handler that did
 * 300 ms of work, a long init) fired that much too early: a Retry-After
 * of 100 ms was no wait at all.
 */
START_TEST(timer_waits_its_delay_after_a_busy_pass)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	char *err = NULL, *fired;
	char *argv[] = {"review", "after", "100", NULL};
	int64_t busy;

	ck_assert_ptr_nonnull(plugin_load("review", &err));
	test_run_for(10);
	/* A busy pass: the loop's clock stands still meanwhile. */
	busy = time_now_ms() + 300;
	while (time_now_ms() < busy)
		;
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 3, argv);
	ck_assert_int_eq(test_run_until(&sink.finished, 2000), 1);
	fired = strstr(sink.out.data, "fired after ");
	ck_assert_ptr_nonnull(fired);
	ck_assert_msg(strtol(fired + 12, NULL, 10) >= 99, "%s", sink.out.data);
	/* A child's time limit had the same flaw: killed early. */
	buf_reset(&sink.out);
	sink.finished = 0;
	argv[1] = "timeout";
	busy = time_now_ms() + 300;
	while (time_now_ms() < busy)
		;
	command_dispatch_argv(&src, 3, argv);
	ck_assert_int_eq(test_run_until(&sink.finished, 5000), 1);
	fired = strstr(sink.out.data, "ended after ");
	ck_assert_ptr_nonnull(fired);
	ck_assert_msg(strtol(fired + 12, NULL, 10) >= 99, "%s", sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

/*
 * Shutdown unloads every plugin; one whose reload was still waiting for
 * its old instance (a !plugin reload with a job running) came back in the
 * middle of it, ran init, and was never unloaded: no fini, its timers
 * and requests cut off by the exit.
 */
START_TEST(shutdown_drops_a_pending_reload)
{
	struct opsbot_plugin *p;
	char *err = NULL;

	p = plugin_load("review", &err);
	ck_assert_msg(p != NULL, "%s", err);
	unload_done = 0;
	ck_assert_int_eq(plugin_unload(p, 1, on_unloaded, NULL), OPSBOT_OK);
	plugin_unload_all();
	ck_assert_int_eq(unload_done, 1);
	ck_assert_ptr_null(plugin_find("review"));
}
END_TEST

/* ---- the daemon: SIGHUP ---- */

static void write_daemon_config(const char *key)
{
	char *path, *text, *rel = test_build_path("test-plugins");
	char *plugins = realpath(rel, NULL);

	ck_assert_ptr_nonnull(plugins);
	/* Nothing listens on port 1: the bot keeps retrying, which is all
	 * this test needs of IRC. */
	text = xasprintf("[irc]\nserver = 127.0.0.1\nnick = opsbot\nport = 1\n"
			 "reconnect_min = 60s\n"
			 "[bot]\nplugins = review\nplugin_dir = %s\n"
			 "state = state.db\n"
			 "[plugin.review]\nkey = %s\n",
			 plugins, key);
	path = test_write_file(dir, "opsbot.conf", text);
	free(path);
	free(text);
	free(plugins);
	free(rel);
}

/* The daemon side of plugin_load_waits_for_the_old_instance: a SIGHUP
 * that changes a plugin's section reloads it once, cleanly. */
START_TEST(sighup_reloads_a_changed_plugin_once)
{
	struct bot b;
	char *conf, *log;
	const char *args[] = {"-c", NULL, NULL};

	dir = test_make_dir("review-hup");
	write_daemon_config("one");
	conf = xasprintf("%s/opsbot.conf", dir);
	log = xasprintf("%s/bot.log", dir);
	args[1] = conf;
	ck_assert_int_eq(bot_start(&b, log, args), 0);
	ck_assert(bot_wait_log(&b, "review: init (key one)", 5000));
	write_daemon_config("two");
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b, "review: init (key two)", 5000));
	usleep(200000);
	ck_assert_msg(!bot_log_contains(&b, "instances live at once"),
		      "two instances of the plugin ran at once (see %s)", log);
	ck_assert_msg(!bot_log_contains(&b, "already loaded") &&
			  !bot_log_contains(&b, "failed to start"),
		      "the reload failed (see %s)", log);
	ck_assert_int_eq(bot_signal_and_wait(&b, SIGTERM, 5000), 0);
	ck_assert_msg(!bot_log_contains(&b, "Sanitizer"), "see %s", log);
	bot_stop(&b);
	free(conf);
	free(log);
	test_cleanup_dir(dir);
	dir = NULL;
}
END_TEST

/*
 * SIGHUP replaces the secret registry with the new config's secrets.  A
 * plugin whose section text is unchanged is not reloaded and keeps the
 * secret it read: after a token file was rewritten (a rotation), that
 * old token, still in use, was no longer redacted anywhere.
 */
START_TEST(sighup_keeps_redacting_secrets_plugins_hold)
{
	struct bot b;
	char *conf, *log, *path, *text, *rel, *plugins;
	const char *args[] = {"-c", NULL, NULL};

	dir = test_make_dir("review-secret");
	rel = test_build_path("test-plugins");
	plugins = realpath(rel, NULL);
	text = xasprintf("[irc]\nserver = 127.0.0.1\nnick = opsbot\nport = 1\n"
			 "reconnect_min = 60s\n"
			 "[bot]\nplugins = review\nplugin_dir = %s\n"
			 "state = state.db\n"
			 "[plugin.review]\ntoken_file = token\n",
			 plugins);
	conf = test_write_file(dir, "opsbot.conf", text);
	path = test_write_file(dir, "token", "old-token-4711\n");
	chmod(path, 0600);
	log = xasprintf("%s/bot.log", dir);
	args[1] = conf;
	ck_assert_int_eq(bot_start(&b, log, args), 0);
	ck_assert(bot_wait_log(&b, "review: token [redacted]", 5000));
	/* The token is rotated: a new file, same config text. */
	free(test_write_file(dir, "token", "new-token-0815\n"));
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b, "reloaded", 5000));
	usleep(300000);
	ck_assert_int_eq(bot_signal_and_wait(&b, SIGTERM, 5000), 0);
	ck_assert_msg(!bot_log_contains(&b, "old-token-4711"),
		      "the old token reached the log (see %s)", log);
	ck_assert_msg(!bot_log_contains(&b, "Sanitizer"), "see %s", log);
	bot_stop(&b);
	free(path);
	free(conf);
	free(log);
	free(text);
	free(plugins);
	free(rel);
	test_cleanup_dir(dir);
	dir = NULL;
}
END_TEST

/*
 * `opsbot run` with a plugin whose init fails returned at once; the sweep
 * of what init had started then ran from loop_close(), after the store
 * was closed, so the cancelled callbacks could not record anything.
 */
START_TEST(cli_sweeps_a_failed_plugin_before_closing_the_store)
{
	char *conf, *text, *db, *rel = test_build_path("test-plugins");
	char *plugins = realpath(rel, NULL), *out = NULL, *err = NULL;
	const char *args[] = {"-c", NULL, "run", "init_fail", "x", NULL};

	dir = test_make_dir("review-cli");
	text = xasprintf("[bot]\nplugin_dir = %s\nstate = state.db\n", plugins);
	conf = test_write_file(dir, "opsbot.conf", text);
	args[1] = conf;
	/* Exit 1 or 2 (a plugin that cannot start is a setup problem). */
	ck_assert_int_ne(run_opsbot(args, &out, &err), 0);
	ck_assert_msg(strstr(err, "failed to start") &&
			  !strstr(err, "Sanitizer"),
		      "%s", err);
	db = xasprintf("%s/state.db", dir);
	free(err);
	err = NULL;
	ck_assert_msg(store_open(db, &err) == 0, "%s", err);
	/* The timer init started got its cancelled call, with the store. */
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM "
					  "init_fail_events WHERE kind = "
					  "'timer' AND status = -3"),
			 1);
	store_close();
	free(db);
	free(out);
	free(conf);
	free(text);
	free(plugins);
	free(rel);
	test_cleanup_dir(dir);
	dir = NULL;
}
END_TEST

/*
 * A command that ends at once (opsbot run ping) calls loop_stop() before
 * the loop ever ran; libuv kept the stop flag, so loop_close()'s uv_run()
 * returned before any close callback: "event loop closed with handles
 * still open" on every such run, and whatever those callbacks free,
 * leaked.
 */
START_TEST(cli_quick_command_closes_the_loop_cleanly)
{
	char *conf, *text, *out = NULL, *err = NULL;
	const char *args[] = {"-c", NULL, "run", "ping", NULL};

	dir = test_make_dir("review-cli-ping");
	text = xasprintf("[bot]\nstate = state.db\n");
	conf = test_write_file(dir, "opsbot.conf", text);
	args[1] = conf;
	ck_assert_int_eq(run_opsbot(args, &out, &err), 0);
	ck_assert_str_eq(out, "pong\n");
	ck_assert_msg(!strstr(err, "still open") && !strstr(err, "Sanitizer"),
		      "%s", err);
	free(out);
	free(err);
	free(conf);
	free(text);
	test_cleanup_dir(dir);
	dir = NULL;
}
END_TEST

/* ---- IRC, fed server lines directly ---- */

static struct buf sent;

static void on_sent(const char *line, size_t len)
{
	buf_add(&sent, line, len);
	buf_addch(&sent, '\n');
}

static void feed(const char *text)
{
	char *copy = xstrdup(text);

	irc_test_receive(copy, strlen(copy));
	free(copy);
}

static const char *take_sent(void)
{
	static char *last;

	free(last);
	last = xstrdup(sent.data ? sent.data : "");
	buf_reset(&sent);
	return last;
}

static struct config *irc_cfg;

static void irc_start_with(const char *text)
{
	log_set_level(LOG_ERROR);
	loop_init();
	command_init();
	builtin_init("test");
	irc_cfg = config_load_string(text, "t.conf");
	command_configure(irc_cfg);
	access_configure(irc_cfg);
	buf_reset(&sent);
	irc_test_attach(irc_cfg, on_sent);
	take_sent();
}

static void irc_stop(void)
{
	irc_fini();
	access_clear();
	command_fini();
	builtin_fini();
	loop_close();
	config_free(irc_cfg);
	irc_cfg = NULL;
	buf_free(&sent);
}

/*
 * A privileged command from a nick whose account is unknown waits for a
 * WHOIS of that nick.  If the nick changes hands meanwhile (the sender
 * renames or quits and someone else takes the nick), the answer describes
 * the new holder, and the command ran with their capabilities.
 */
START_TEST(whois_answer_for_a_new_holder_of_the_nick)
{
	const char *out;

	irc_start_with("[irc]\nchannels = #ops\nflood_control = false\n"
		       "[access]\ngrant = account carol admin\n");
	feed(":irc.test 001 opsbot :Welcome\r\n");
	take_sent();
	feed(":mal!m@h PRIVMSG #ops :!plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS mal\n");
	/* mal renames; carol (an admin) takes the nick "mal". */
	feed(":mal!m@h NICK :mal2\r\n"
	     ":carol!c@h NICK :mal\r\n"
	     ":irc.test 330 opsbot mal carol :is logged in as\r\n"
	     ":irc.test 318 opsbot mal :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "permission denied") &&
			  !strstr(out, "no plugin 'nothing'"),
		      "%s", out);
	/* The same when the sender quits and the nick is taken. */
	feed(":eve!e@h PRIVMSG #ops :!plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS eve\n");
	feed(":eve!e@h QUIT :bye\r\n"
	     ":carol!c@h NICK :eve\r\n"
	     ":irc.test 330 opsbot eve carol :is logged in as\r\n"
	     ":irc.test 318 opsbot eve :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "no plugin 'nothing'"), "%s", out);
	/* An admin who keeps the nick still gets through. */
	feed(":carol!c@h PRIVMSG #ops :!plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS carol\n");
	feed(":irc.test 330 opsbot carol carol :is logged in as\r\n"
	     ":irc.test 318 opsbot carol :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "no plugin 'nothing' is loaded"), "%s", out);
	irc_stop();
}
END_TEST

/*
 * irc_reconfigure() kept an old channel when any new channel merely
 * started with its name: removing "#ops" while "#ops-team" stays never
 * parted #ops.
 */
START_TEST(reconfigure_parts_a_channel_that_prefixes_another)
{
	struct config *fresh;
	const char *out;

	irc_start_with("[irc]\nchannels = #ops, #ops-team\n"
		       "flood_control = false\n");
	feed(":irc.test 001 opsbot :Welcome\r\n");
	take_sent();
	fresh = config_load_string("[irc]\nchannels = #ops-team\n"
				   "flood_control = false\n",
				   "t2.conf");
	irc_reconfigure(fresh);
	out = take_sent();
	ck_assert_msg(strstr(out, "PART #ops\n"), "%s", out);
	ck_assert_msg(!strstr(out, "PART #ops-team"), "%s", out);
	config_free(fresh);
	irc_stop();
}
END_TEST

/*
 * Without SASL, channels wait for NickServ to confirm the IDENTIFY (fail
 * closed).  A SIGHUP in that window joined every channel at once.
 */
START_TEST(reconfigure_does_not_join_before_identification)
{
	struct config *fresh;
	const char *out;

	irc_start_with("[irc]\nchannels = #ops\nflood_control = false\n"
		       "nickserv_password = pass-word-1\n"
		       "nickserv_mask = NickServ!s@services\n");
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 311 opsbot NickServ s services * :x\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "IDENTIFY") && !strstr(out, "JOIN"), "%s",
		      out);
	fresh = config_load_string("[irc]\nchannels = #ops, #dev\n"
				   "flood_control = false\n"
				   "nickserv_password = pass-word-1\n"
				   "nickserv_mask = NickServ!s@services\n",
				   "t2.conf");
	irc_reconfigure(fresh);
	out = take_sent();
	ck_assert_msg(!strstr(out, "JOIN"),
		      "joined before NickServ "
		      "confirmed: %s",
		      out);
	/* Once confirmed, the new list is joined. */
	feed(":NickServ!s@services NOTICE opsbot :You are now identified "
	     "for opsbot.\r\n");
	out = take_sent();
	/* One JOIN line or two: both channels. */
	ck_assert_msg(strstr(out, "JOIN ") && strstr(out, "#ops") &&
			  strstr(out, "#dev"),
		      "%s", out);
	config_free(fresh);
	irc_stop();
}
END_TEST

/*
 * With SASL configured the bot must not join unauthenticated, and must say
 * why.  A server without CAP (421 CAP), or one that does not hold
 * registration for CAP END, sends 001 while SASL has not even started:
 * the bot then sat registered for ever, joining nothing and logging
 * nothing, and the CAP LS that came later was dropped.
 */
START_TEST(registered_before_sasl_fails_closed_and_says_so)
{
	const char *out;

	irc_start_with("[irc]\nchannels = #ops\nflood_control = false\n"
		       "tls = true\nsasl_mechanism = plain\n"
		       "sasl_password = pass-word-2\n");
	feed(":irc.test 421 * CAP :Unknown command\r\n"
	     ":irc.test 001 opsbot :Welcome\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "JOIN"), "%s", out);
	ck_assert_msg(strstr(out, "QUIT :authentication failed"), "%s", out);
	irc_stop();
	/* The same with CAP offered, but 001 before CAP END. */
	irc_start_with("[irc]\nchannels = #ops\nflood_control = false\n"
		       "tls = true\nsasl_mechanism = plain\n"
		       "sasl_password = pass-word-2\n");
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test CAP * LS :sasl\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "JOIN"), "%s", out);
	ck_assert_msg(strstr(out, "QUIT :authentication failed"), "%s", out);
	irc_stop();
}
END_TEST

/*
 * CAP LS continuation lines ("CAP * LS * :...") were appended to the
 * offered list until the last one came: a hostile server (or anyone on a
 * plain-text path) that never sent it grew the bot's memory until it
 * died.
 */
START_TEST(endless_cap_ls_does_not_grow_memory)
{
	char line[600];
	size_t before, after;
	int i;

	irc_start_with("[irc]\nflood_control = false\n");
	memset(line, 0, sizeof(line));
	snprintf(line, sizeof(line), ":irc.test CAP * LS * :%0400d\r\n", 7);
	/* Heap and mmap()ed blocks: a large buffer is the latter. */
	before = mallinfo2().uordblks + mallinfo2().hblkhd;
	for (i = 0; i < 20000; i++)
		feed(line);
	after = mallinfo2().uordblks + mallinfo2().hblkhd;
	ck_assert_msg(after < before + 1024 * 1024,
		      "%zu bytes more after 20000 CAP LS lines",
		      after - before);
	/* A real list still works afterwards. */
	irc_stop();
	irc_start_with("[irc]\nflood_control = false\n");
	feed(":irc.test CAP * LS * :multi-prefix\r\n"
	     ":irc.test CAP * LS :account-tag\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ :multi-prefix account-tag\n");
	irc_stop();
}
END_TEST

/* ---- configuration ---- */

/*
 * opsbot.conf.example: "Relative paths are relative to this file."  A
 * secret's _file was read relative to the working directory instead, so
 * `opsbot -c /etc/opsbot/opsbot.conf` started from / could not find
 * "password_file = server-password".
 */
START_TEST(secret_file_is_relative_to_the_config)
{
	struct config *c;
	char *path, *secret, *err = NULL, *conf;

	dir = test_make_dir("review-conf");
	path = test_write_file(dir, "server-password", "s3cret-pw\n");
	chmod(path, 0600);
	free(path);
	conf = test_write_file(dir, "opsbot.conf",
			       "[irc]\npassword_file = server-password\n");
	c = config_load(conf, &err);
	ck_assert_msg(c != NULL, "%s", err);
	config_validate_host(c);
	ck_assert_msg(c->error_count == 0, "%s", c->errors.data);
	secret = config_get_secret(c, "irc", "password", &err);
	ck_assert_msg(secret && !strcmp(secret, "s3cret-pw"), "%s",
		      err ? err : "(null)");
	free_secret(secret);
	config_free(c);
	free(conf);
	test_cleanup_dir(dir);
	dir = NULL;
	/* The rule irc.c applies to tls_ca_file and the client certificate
	 * too. */
	c = config_load_string("", "/etc/opsbot/opsbot.conf");
	secret = config_resolve_path(c, "ca.pem");
	ck_assert_str_eq(secret, "/etc/opsbot/ca.pem");
	free(secret);
	secret = config_resolve_path(c, "/srv/ca.pem");
	ck_assert_str_eq(secret, "/srv/ca.pem");
	free(secret);
	config_free(c);
	c = config_load_string("", "opsbot.conf");
	secret = config_resolve_path(c, "ca.pem");
	ck_assert_str_eq(secret, "ca.pem");
	free(secret);
	config_free(c);
}
END_TEST

/* ---- the log ---- */

/*
 * A log line is cut at 2 KiB before its secrets are redacted, so a secret
 * that straddled the cut was not found, and all of it but its last bytes
 * went to the log.
 */
START_TEST(log_line_cut_inside_a_secret_leaks_nothing)
{
	static const char secret[] = "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char path[] = "/tmp/opsbot-review-log-XXXXXX", pad[2100];
	int fd = mkstemp(path), saved = dup(2), i;
	struct buf out = BUF_INIT;
	char chunk[4096];
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	memset(pad, 'x', sizeof(pad));
	secret_register(secret);
	log_set_level(LOG_INFO);
	dup2(fd, 2);
	for (i = 1950; i < 2048; i++)
		error("t", "%.*s%s", i, pad, secret);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&out, chunk, (size_t)n);
	close(fd);
	unlink(path);
	secret_clear_all();
	ck_assert_int_gt(out.len, 0);
	ck_assert_msg(!strstr(out.data, "tok-ABCD"), "a cut secret was logged");
	buf_free(&out);
}
END_TEST

static Suite *review_suite(void)
{
	Suite *s = suite_create("host_review");
	TCase *host = tcase_create("host");
	TCase *daemon = tcase_create("daemon");
	TCase *irc = tcase_create("irc");
	TCase *conf = tcase_create("config");

	tcase_add_checked_fixture(host, host_setup, host_teardown);
	tcase_set_timeout(host, 30);
	tcase_add_test(host, webhook_huge_chunk_size_is_refused);
	tcase_add_test(host, webhook_ambiguous_framing_is_refused);
	tcase_add_test(host, webhook_connections_are_bounded);
	tcase_add_test(host, webhook_chunk_size_is_hex_digits_only);
	tcase_add_test(host,
		       webhook_reconfigure_does_not_reuse_a_closing_handle);
	tcase_add_test(host, webhook_timeout_while_answer_is_pending);
	tcase_add_test(host, plugin_load_waits_for_the_old_instance);
	tcase_add_test(host, shutdown_drops_a_pending_reload);
	tcase_add_test(host,
		       done_twice_is_ignored_without_touching_freed_memory);
	tcase_add_test(host, process_output_after_cancel_until_exit);
	tcase_add_test(host, timer_waits_its_delay_after_a_busy_pass);
	suite_add_tcase(s, host);

	tcase_set_timeout(daemon, 30);
	tcase_add_test(daemon, sighup_reloads_a_changed_plugin_once);
	tcase_add_test(daemon, sighup_keeps_redacting_secrets_plugins_hold);
	tcase_add_test(daemon,
		       cli_sweeps_a_failed_plugin_before_closing_the_store);
	tcase_add_test(daemon, cli_quick_command_closes_the_loop_cleanly);
	suite_add_tcase(s, daemon);

	tcase_set_timeout(irc, 30);
	tcase_add_test(irc, whois_answer_for_a_new_holder_of_the_nick);
	tcase_add_test(irc, reconfigure_parts_a_channel_that_prefixes_another);
	tcase_add_test(irc, reconfigure_does_not_join_before_identification);
	tcase_add_test(irc, registered_before_sasl_fails_closed_and_says_so);
	tcase_add_test(irc, endless_cap_ls_does_not_grow_memory);
	suite_add_tcase(s, irc);

	tcase_add_test(conf, secret_file_is_relative_to_the_config);
	tcase_add_test(conf, log_line_cut_inside_a_secret_leaks_nothing);
	suite_add_tcase(s, conf);
	return s;
}

CHECK_MAIN(review_suite)
