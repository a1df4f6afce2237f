/*
 * test_plugin.c - loading, refusing, unloading and sweeping plugins in
 * the real host (loop, store, HTTP module, processes), with the test
 * plugins from tests/plugins.
 */
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "http.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static struct config *cfg;

/* A TCP server that accepts and never answers: an HTTP request to it
 * stays in flight until cancelled. */
static uv_tcp_t silent_server;
static int silent_port;
static uv_tcp_t *silent_clients[8];
static int silent_client_count;

static void on_silent_connection(uv_stream_t *srv, int status)
{
	uv_tcp_t *c;

	if (status < 0 || silent_client_count >= 8)
		return;
	c = xcalloc(1, sizeof(*c));
	uv_tcp_init(loop_get(), c);
	uv_accept(srv, (uv_stream_t *)c);
	silent_clients[silent_client_count++] = c;
}

static void start_silent_server(void)
{
	struct sockaddr_in addr;
	struct sockaddr_storage name;
	int len = sizeof(name);

	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_tcp_init(loop_get(), &silent_server);
	ck_assert_int_eq(
	    uv_tcp_bind(&silent_server, (struct sockaddr *)&addr, 0), 0);
	ck_assert_int_eq(
	    uv_listen((uv_stream_t *)&silent_server, 8, on_silent_connection),
	    0);
	uv_tcp_getsockname(&silent_server, (struct sockaddr *)&name, &len);
	silent_port = ntohs(((struct sockaddr_in *)&name)->sin_port);
}

static void setup(void)
{
	char *db, *plugins, *modules, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("plugin");
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string("[plugin.probe]\nkey = hunter2-secret\n",
				 "test.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "test", &err) ==
			  0,
		      "store: %s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	modules = test_build_path("modules");
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	silent_client_count = 0;
	silent_port = 0;
}

static void teardown(void)
{
	int i;

	plugin_unload_all();
	http_shutdown();
	for (i = 0; i < silent_client_count; i++)
		uv_close((uv_handle_t *)silent_clients[i], (uv_close_cb)free);
	host_stop();
	config_free(cfg);
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
}

static char *load_error(const char *name)
{
	char *err = NULL;
	struct opsbot_plugin *p = plugin_load(name, &err);

	ck_assert_msg(p == NULL, "plugin %s should have been refused", name);
	ck_assert_ptr_nonnull(err);
	return err;
}

START_TEST(refuses_wrong_abi_major)
{
	char *err = load_error("bad_major"), want[80];

	/* Refused from the descriptor: init (which aborts) never ran. */
	snprintf(want, sizeof(want), "built for ABI 3.0, this host has %d.%d",
		 OPSBOT_ABI_MAJOR, OPSBOT_ABI_MINOR);
	ck_assert_msg(strstr(err, want) && strstr(err, "rebuild the plugin"),
		      "%s", err);
	free(err);
}
END_TEST

START_TEST(refuses_newer_minor)
{
	char *err = load_error("newer_minor");

	ck_assert_msg(strstr(err, "newer than this host") &&
			  strstr(err, "upgrade opsbot"),
		      "%s", err);
	free(err);
}
END_TEST

START_TEST(refuses_missing_descriptor)
{
	char *err = load_error("no_descriptor");

	ck_assert_msg(strstr(err, "has no 'opsbot_plugin' descriptor"), "%s",
		      err);
	free(err);
}
END_TEST

START_TEST(refuses_wrong_name_and_missing_file)
{
	char *err = load_error("wrong_name");

	ck_assert_msg(strstr(err, "its descriptor names it 'someone_else'"),
		      "%s", err);
	free(err);
	err = load_error("does_not_exist");
	ck_assert_msg(strstr(err, "not found (check [bot] plugin_dir)"), "%s",
		      err);
	free(err);
	err = load_error("../etc/passwd");
	ck_assert_msg(strstr(err, "invalid name"), "%s", err);
	free(err);
}
END_TEST

START_TEST(init_failure_is_swept)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	char *err = load_error("init_fail");
	char *argv[] = {"init_fail", "x", NULL};

	ck_assert_msg(strstr(err, "failed to start"), "%s", err);
	free(err);
	/* The sweep happens from the loop. */
	test_run_for(100);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM "
					  "init_fail_events WHERE kind = "
					  "'timer' AND status = -3"),
			 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM "
					  "init_fail_events WHERE kind = "
					  "'fini'"),
			 0);
	ck_assert_ptr_null(plugin_find("init_fail"));
	/* Its command went with it. */
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 2, argv);
	ck_assert_msg(strstr(sink.out.data, "unknown command 'init_fail'"),
		      "%s", sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

static int unload_done;
static char unload_err[256];

static void on_unloaded(const char *name, const char *err, void *data)
{
	unload_done++;
	snprintf(unload_err, sizeof(unload_err), "%s", err ? err : "");
}

static long probe_pid_from_events(void)
{
	sqlite3_stmt *st;
	long pid = 0;

	sqlite3_prepare_v2(store_db(),
			   "SELECT kind FROM probe_events WHERE kind LIKE "
			   "'pid %'",
			   -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		pid = strtol((const char *)sqlite3_column_text(st, 0) + 4, NULL,
			     10);
	sqlite3_finalize(st);
	return pid;
}

START_TEST(unload_sweeps_timer_http_process_job)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	struct opsbot_plugin *p;
	char url[64], *err = NULL;
	char *argv[] = {"probe", "inflight", url, "300", NULL};
	long pid;

	start_silent_server();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", silent_port);
	p = plugin_load("probe", &err);
	ck_assert_msg(p != NULL, "%s", err);
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 4, argv);
	ck_assert_msg(strstr(sink.out.data, "in flight: timer"), "%s",
		      sink.out.data);
	/* Let the request connect and the job start running. */
	test_run_for(150);
	ck_assert_int_eq(silent_client_count, 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events"),
			 0);

	unload_done = 0;
	ck_assert_int_eq(plugin_unload(p, 0, on_unloaded, NULL), OPSBOT_OK);
	/* A second request while closing is refused, not doubled. */
	ck_assert_int_eq(plugin_unload(p, 0, on_unloaded, NULL),
			 OPSBOT_ECLOSING);
	ck_assert_int_eq(test_run_until(&unload_done, 5000), 1);
	ck_assert_str_eq(unload_err, "");
	ck_assert_ptr_null(plugin_find("probe"));

	/* Exactly one final, cancelled callback each (-3 = ECANCELED); the
	 * running job was not interrupted but reports the cancel. */
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events "
					  "WHERE kind = 'timer' AND status = "
					  "-3"),
			 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events "
					  "WHERE kind = 'http' AND status = "
					  "-3"),
			 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events "
					  "WHERE kind = 'process' AND status "
					  "= -3"),
			 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events "
					  "WHERE kind = 'job' AND status = -3"),
			 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM probe_events "
					  "WHERE kind IN ('timer', 'http', "
					  "'process', 'job')"),
			 4);
	/* The child was killed by the host after the plugin let go. */
	pid = probe_pid_from_events();
	ck_assert_int_gt(pid, 0);
	test_run_for(300);
	ck_assert_msg(kill((pid_t)pid, 0) != 0, "child %ld still alive", pid);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

START_TEST(reload_gives_a_fresh_instance)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	struct opsbot_plugin *p;
	char *err = NULL;
	char *inflight[] = {"probe", "inflight", NULL};
	char *events[] = {"probe", "events", NULL};

	p = plugin_load("probe", &err);
	ck_assert_msg(p != NULL, "%s", err);
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 2, inflight);
	unload_done = 0;
	plugin_unload(p, 1, on_unloaded, NULL);
	ck_assert_int_eq(test_run_until(&unload_done, 5000), 1);
	ck_assert_str_eq(unload_err, "");
	ck_assert_ptr_nonnull(plugin_find("probe"));
	buf_reset(&sink.out);
	command_dispatch_argv(&src, 2, events);
	ck_assert_msg(strstr(sink.out.data, "process -3 x1") &&
			  strstr(sink.out.data, "timer -3 x1"),
		      "%s", sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

/* Unload requested from inside a command of the same plugin: it must
 * wait until the command returned. */
START_TEST(unload_waits_for_pending_request)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	struct opsbot_plugin *p;
	char *err = NULL;
	char *argv[] = {"example", "wait", "5000", NULL};

	p = plugin_load("example", &err);
	if (!p) {
		/* example.so lives in plugins/, not test-plugins/. */
		char *dir2 = test_build_path("plugins");

		free(err);
		plugin_set_dir(dir2);
		free(dir2);
		p = plugin_load("example", &err);
	}
	ck_assert_msg(p != NULL, "%s", err);
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CHANNEL, "alice", "example.org");
	command_dispatch_argv(&src, 3, argv);
	ck_assert_int_eq(command_pending_count(), 1);
	unload_done = 0;
	plugin_unload(p, 0, on_unloaded, NULL);
	ck_assert_int_eq(test_run_until(&unload_done, 3000), 1);
	/* The pending request ended once, with the cancel. */
	ck_assert_int_eq(command_pending_count(), 0);
	ck_assert_int_eq(sink.finished, 1);
	ck_assert_msg(strstr(sink.out.data, "wait cancelled"), "%s",
		      sink.out.data);
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

START_TEST(secrets_are_redacted_from_replies)
{
	struct test_sink sink = {BUF_INIT, 0, 0};
	struct command_source src;
	char *err = NULL;
	char *argv[] = {"probe", "secret", NULL};

	secret_register("hunter2-secret");
	ck_assert_ptr_nonnull(plugin_load("probe", &err));
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
	command_dispatch_argv(&src, 2, argv);
	/* Both sinks (IRC and the terminal) pass what a plugin produced
	 * through secret_redact_copy(). */
	{
		size_t n = sink.out.len;
		char *copy = secret_redact_copy(sink.out.data, n, &n);

		ck_assert_ptr_nonnull(copy);
		ck_assert_msg(!strstr(copy, "hunter2-secret") &&
				  strstr(copy, "the key is [redacted]"),
			      "%s", copy);
		ck_assert_int_eq(n, strlen(copy));
		free(copy);
		/* Text without a secret is not copied at all. */
		ck_assert_ptr_null(secret_redact_copy("pong", 4, &n));
	}
	secret_clear_all();
	buf_free(&sink.out);
	test_sink_use(NULL);
}
END_TEST

static Suite *plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("lifecycle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, refuses_wrong_abi_major);
	tcase_add_test(tc, refuses_newer_minor);
	tcase_add_test(tc, refuses_missing_descriptor);
	tcase_add_test(tc, refuses_wrong_name_and_missing_file);
	tcase_add_test(tc, init_failure_is_swept);
	tcase_add_test(tc, unload_sweeps_timer_http_process_job);
	tcase_add_test(tc, reload_gives_a_fresh_instance);
	tcase_add_test(tc, unload_waits_for_pending_request);
	tcase_add_test(tc, secrets_are_redacted_from_replies);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(plugin_suite)
