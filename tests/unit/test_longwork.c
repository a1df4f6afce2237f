/*
 * test_longwork.c - the host API for long work, through the longwork test
 * plugin in the real host: job messages, cancel hooks, time limits, the
 * per-plugin limit, the job pool apart from libuv's, fd watches, progress
 * lines, confirmation, sub-sections, unload policies, reconfigure, and
 * the daemon's bounded shutdown and SIGHUP.
 */
#include "api.h"
#include "say.h"
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "procs.h"
#include "store.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static struct config *cfg;
static struct test_sink sink;
static struct buf said;

static void on_say(const char *target, const char *group, const char *text,
		   size_t len)
{
	UNUSED(group);
	buf_addf(&said, "%s %.*s\n", target, (int)len, text);
}

static void start_with(const char *config_text)
{
	char *db, *plugins, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("longwork");
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string(config_text, "t.conf");
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "t", &err) == 0,
		      "%s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	say_set_sink(on_say);
	buf_reset(&said);
	ck_assert_msg(plugin_load("longwork", &err) != NULL, "%s", err);
	memset(&sink, 0, sizeof(sink));
	test_sink_use(&sink);
}

static void setup(void)
{
	start_with("[bot]\njob_limit = 3\nconfirm_timeout = 2s\n"
		   "[plugin.longwork]\nkey = one\n"
		   "[plugin.longwork.server.main]\nurl = http://a.example\n"
		   "token = s3cret-token\n"
		   "[plugin.longwork.server.qa]\nurl = http://b.example\n"
		   "timeout = 2m\n");
}

static void teardown(void)
{
	test_sink_use(NULL);
	buf_free(&sink.out);
	buf_free(&said);
	plugin_unload_all();
	host_stop();
	say_set_sink(NULL);
	config_free(cfg);
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
}

/* Runs text as typed in #test by nick@host, waits until it finished. */
static const char *run(const char *nick, const char *host, const char *text,
		       long wait_ms)
{
	struct command_source src;

	buf_reset(&sink.out);
	sink.finished = 0;
	test_source(&src, OPSBOT_ORIGIN_CHANNEL, nick, host);
	command_dispatch_text(&src, text);
	if (!sink.finished)
		test_run_until(&sink.finished, wait_ms);
	return sink.out.data ? sink.out.data : "";
}

/* ---- jobs ---- */

START_TEST(ten_thousand_messages_arrive_in_order_before_done)
{
	ck_assert_str_eq(run("ann", "a", "longwork post 10000", 20000),
			 "received 10000 of 10000, in order: yes, status 0\n");
}
END_TEST

START_TEST(messages_still_arrive_when_the_job_is_cancelled)
{
	/* The job is cancelled at the first message; it posts on (it never
	 * looks at job_is_cancelled), and every message still comes before
	 * the final ECANCELED. */
	ck_assert_str_eq(run("ann", "a", "longwork post 5000 cancel", 20000),
			 "received 5000 of 5000, in order: yes, status -3\n");
}
END_TEST

START_TEST(job_post_wait_returns_after_the_callback_ran)
{
	ck_assert_str_eq(run("ann", "a", "longwork post 2000 wait", 20000),
			 "received 2000 of 2000, in order: yes, status 0\n"
			 "returned before delivery: 0\n");
}
END_TEST

START_TEST(cancel_hook_interrupts_a_blocking_job)
{
	int64_t start = time_now_ms();

	/* A 20 s block with a 300 ms limit: the hook unblocks it. */
	ck_assert_str_eq(run("ann", "a", "longwork block 20000 300", 10000),
			 "job done, status -4\n");
	ck_assert_int_lt(time_now_ms() - start, 5000);
}
END_TEST

START_TEST(a_plugin_runs_at_most_job_limit_jobs_at_once)
{
	ck_assert_str_eq(run("ann", "a", "longwork limit 8", 10000),
			 "at most 3 at once\n");
}
END_TEST

static int dns_done;
static int dns_status;

static void on_dns(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	dns_status = status;
	dns_done = 1;
	uv_freeaddrinfo(res);
	free(req);
}

/*
 * Plugin jobs have threads of their own: with every thread of libuv's
 * pool's size taken by blocking jobs (several plugins' worth, the limit
 * raised), a DNS lookup on libuv's pool still answers at once.
 */
START_TEST(blocking_jobs_do_not_stall_dns_lookups)
{
	uv_getaddrinfo_t *req = calloc(1, sizeof(*req));
	int64_t start;
	int i;

	job_configure(16, 16);
	for (i = 0; i < 12; i++) {
		struct command_source src;

		test_source(&src, OPSBOT_ORIGIN_CHANNEL, "ann", "a");
		/* Long enough to be running whatever the machine's load;
		 * teardown's unload cancels them through their hook. */
		command_dispatch_text(&src, "longwork block 30000");
	}
	/* Threads start on demand: give them time on a slow run. */
	start = time_now_ms();
	while (job_running_count() < 12 && time_now_ms() - start < 20000)
		test_run_for(50);
	ck_assert_msg(job_running_count() >= 12, "%d running; replies: %s",
		      job_running_count(), sink.out.data ? sink.out.data : "");
	start = time_now_ms();
	dns_done = 0;
	ck_assert_int_eq(
	    uv_getaddrinfo(loop_get(), req, on_dns, "localhost", NULL, NULL),
	    0);
	test_run_until(&dns_done, 5000);
	ck_assert_int_eq(dns_done, 1);
	ck_assert_int_eq(dns_status, 0);
	ck_assert_int_lt(time_now_ms() - start, 1000);
	/* Let the blocking jobs be cancelled by teardown's unload. */
}
END_TEST

/* ---- fd watches ---- */

START_TEST(fd_watch_reads_a_pipe_and_ends_once)
{
	ck_assert_str_eq(run("ann", "a", "longwork fd", 5000),
			 "read 'ping', watch ended with -3\n");
}
END_TEST

START_TEST(fd_watch_is_swept_on_unload)
{
	struct opsbot_plugin *p;

	log_set_level(LOG_INFO);
	ck_assert_str_eq(run("ann", "a", "longwork watch", 1000), "watching\n");
	p = plugin_find("longwork");
	ck_assert_ptr_nonnull(p);
	ck_assert(!list_empty(&p->ops));
	plugin_unload_all();
	ck_assert_ptr_null(plugin_find("longwork"));
}
END_TEST

/* ---- progress ---- */

START_TEST(progress_lines_latest_wins)
{
	run("ann", "a", "longwork progress #ops 5 300", 1000);
	/* The first goes out at once; 2..4 were replaced by 5. */
	ck_assert_str_eq(said.data, "#ops step 1 of 5\n");
	test_run_for(500);
	ck_assert_str_eq(said.data, "#ops step 1 of 5\n#ops step 5 of 5\n");
	buf_reset(&said);
	run("ann", "a", "longwork progress #ops 3 300", 1000);
	run("ann", "a", "longwork progress-end #ops", 1000);
	test_run_for(500);
	/* Within the interval: held, then dropped by the end. */
	ck_assert_str_eq(said.data, "#ops build finished\n");
}
END_TEST

/* ---- confirmation ---- */

START_TEST(destructive_commands_need_the_same_asker_to_confirm)
{
	const char *out;

	out = run("ann", "a.example", "longwork destroy c1", 1000);
	ck_assert_msg(strstr(out, "this deletes the cluster and its disks; "
				  "to confirm, type !longwork destroy c1 "
				  "--yes within 2 s"),
		      "%s", out);
	/* Someone else cannot confirm it. */
	out = run("mallory", "m.example", "longwork destroy c1 --yes", 1000);
	ck_assert_msg(strstr(out, "[error] error: nothing to confirm"), "%s",
		      out);
	ck_assert_int_eq(sink.status, OPSBOT_EPERM);
	/* Another argument is another command. */
	out = run("ann", "a.example", "longwork destroy c2 --yes", 1000);
	ck_assert_msg(strstr(out, "nothing to confirm"), "%s", out);
	out = run("ann", "a.example", "longwork destroy c1 --yes", 1000);
	ck_assert_str_eq(out, "destroyed c1 (confirmed 1)\n");
	/* Used up. */
	out = run("ann", "a.example", "longwork destroy c1 --yes", 1000);
	ck_assert_msg(strstr(out, "nothing to confirm"), "%s", out);
}
END_TEST

START_TEST(a_late_confirmation_is_refused)
{
	const char *out;

	run("ann", "a.example", "longwork destroy c1", 1000);
	test_run_for(2300);
	out = run("ann", "a.example", "longwork destroy c1 --yes", 1000);
	ck_assert_msg(strstr(out, "the confirmation came after 2 s"), "%s",
		      out);
}
END_TEST

/* ---- sub-sections ---- */

START_TEST(sub_sections_have_their_own_values_and_secrets)
{
	const char *out = run("ann", "a", "longwork servers", 1000);

	ck_assert_str_eq(out, "2 servers\n"
			      "main: http://a.example (timeout 10000 ms, "
			      "token set)\n"
			      "qa: http://b.example (timeout 120000 ms, token "
			      "unset)\n");
}
END_TEST

START_TEST(sub_section_errors_name_file_line_and_key)
{
	struct config *bad =
	    config_load_string("[plugin.longwork.server.main]\nurll = x\n"
			       "[plugin.longwork.srv.x]\nurl = y\n"
			       "[plugin.longwork.server.Bad!]\nurl = z\n"
			       "[plugin.longwork.server.b]\nurl = 1\n"
			       "[plugin.longwork.server.c]\nurl = 1\n"
			       "[plugin.longwork.server.d]\nurl = 1\n",
			       "bad.conf");
	const struct opsbot_plugin_descriptor *desc;
	char *err = NULL;
	void *h = plugin_peek("longwork", &desc, &err);

	ck_assert_ptr_nonnull(h);
	config_validate_plugin(bad, "longwork", desc);
	ck_assert_msg(strstr(bad->errors.data, "bad.conf:2: "
					       "[plugin.longwork.server.main] "
					       "urll: unknown key (did you "
					       "mean 'url'?)"),
		      "%s", bad->errors.data);
	ck_assert_msg(strstr(bad->errors.data,
			     "bad.conf:2: [plugin.longwork.server.main] url: "
			     "required") ||
			  strstr(bad->errors.data,
				 "[plugin.longwork.server.main] url: required"),
		      "%s", bad->errors.data);
	ck_assert_msg(strstr(bad->errors.data,
			     "bad.conf:4: [plugin.longwork.srv.x]: unknown "
			     "section (plugin longwork takes "
			     "[plugin.longwork.server.<instance>]; instance "
			     "names of a-z, 0-9, _ and -)"),
		      "%s", bad->errors.data);
	ck_assert_msg(strstr(bad->errors.data,
			     "bad.conf:6: [plugin.longwork.server.Bad!]: "
			     "unknown section"),
		      "%s", bad->errors.data);
	ck_assert_msg(strstr(bad->errors.data,
			     "[plugin.longwork.server.<name>]: 4 sections, "
			     "expected 0 to 3"),
		      "%s", bad->errors.data);
	plugin_peek_release(h);
	config_free(bad);
}
END_TEST

/* ---- HTTP: every value of a repeated header ---- */

static int http_listener;

/* Answers one request with two Set-Cookie headers, then closes. */
static void *answer_once(void *arg)
{
	static const char answer[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Set-Cookie: JSESSIONID=abc; Path=/\r\n"
	    "set-cookie: crumb=xyz\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	char buf[4096];
	int c = accept(http_listener, NULL, NULL);

	UNUSED(arg);
	if (c >= 0) {
		if (read(c, buf, sizeof(buf)) > 0 &&
		    write(c, answer, sizeof(answer) - 1) < 0)
			perror("write");
		close(c);
	}
	return NULL;
}

static int http_done;
static char cookies[256];

static void on_cookies(struct opsbot_plugin *p,
		       const struct opsbot_http_response *res, void *data)
{
	const char *v;
	int i;

	UNUSED(p);
	UNUSED(data);
	cookies[0] = '\0';
	for (i = 0; (v = host_api.http_header(res, "Set-Cookie", i)); i++)
		snprintf(cookies + strlen(cookies),
			 sizeof(cookies) - strlen(cookies), "[%s]", v);
	if (host_api.http_header(res, "Set-Cookie", -1))
		snprintf(cookies, sizeof(cookies), "negative index answered");
	http_done = 1;
}

START_TEST(http_header_gives_every_value_of_a_repeated_header)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct opsbot_http_request req = {.size = sizeof(req)};
	char *modules = test_build_path("modules"), url[64];
	pthread_t t;

	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	http_listener = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(http_listener, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(http_listener, 1), 0);
	getsockname(http_listener, (struct sockaddr *)&sa, &len);
	pthread_create(&t, NULL, answer_once, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(sa.sin_port));
	req.url = url;
	http_done = 0;
	ck_assert_int_gt(host_api.http_start(plugin_find("longwork"), &req,
					     on_cookies, NULL),
			 0);
	test_run_until(&http_done, 10000);
	pthread_join(t, NULL);
	close(http_listener);
	ck_assert_str_eq(cookies, "[JSESSIONID=abc; Path=/][crumb=xyz]");
}
END_TEST

/* Plugin-filled structs without their size are refused, not misread. */
START_TEST(structs_without_a_size_are_refused)
{
	struct opsbot_plugin *p = plugin_find("longwork");
	struct opsbot_job_options jo = {0};
	struct opsbot_process_options po = {0};
	struct opsbot_http_request hr = {0};
	const char *argv[] = {"true", NULL};

	jo.work = (opsbot_job_work_fn *)abort;
	po.argv = argv;
	hr.url = "http://127.0.0.1:1/";
	ck_assert_int_eq(host_api.job_start(p, &jo, NULL), OPSBOT_EINVAL);
	ck_assert_int_eq(host_api.process_start(p, &po, NULL, NULL),
			 OPSBOT_EINVAL);
	ck_assert_int_eq(host_api.http_start(p, &hr, NULL, NULL),
			 OPSBOT_EINVAL);
	jo.size = sizeof(jo) - 1;
	ck_assert_int_eq(host_api.job_start(p, &jo, NULL), OPSBOT_EINVAL);
}
END_TEST

/* ---- unload policies and reconfigure, in process ---- */

static int unloaded;
static char unload_err[256];

static void on_unloaded(const char *name, const char *err, void *data)
{
	UNUSED(name);
	UNUSED(data);
	snprintf(unload_err, sizeof(unload_err), "%s", err ? err : "");
	unloaded = 1;
}

START_TEST(refuse_policy_refuses_the_unload_with_a_message)
{
	struct opsbot_plugin *p;
	const char *out;
	char *why;

	out = run("ann", "a", "longwork child refuse 2", 1000);
	ck_assert_msg(strstr(out, "child "), "%s", out);
	p = plugin_find("longwork");
	why = plugin_unload_refusal(p);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, "plugin longwork is running sleep (0s); "
				  "stop it with the plugin's own command, or "
				  "wait until it has finished"),
		      "%s", why);
	free(why);
	ck_assert_ptr_eq(plugin_find("longwork"), p);
}
END_TEST

START_TEST(drain_policy_lets_work_finish_before_the_unload)
{
	struct opsbot_plugin *p;
	int64_t start = time_now_ms();

	log_set_level(LOG_INFO);
	run("ann", "a", "longwork child drain 1", 1000);
	p = plugin_find("longwork");
	ck_assert_ptr_null(plugin_unload_refusal(p));
	unloaded = 0;
	ck_assert_int_eq(plugin_unload(p, 0, on_unloaded, NULL), OPSBOT_OK);
	test_run_until(&unloaded, 5000);
	ck_assert_int_eq(unloaded, 1);
	/* It waited for the child's second, which exited by itself. */
	ck_assert_int_ge(time_now_ms() - start, 900);
	ck_assert_str_eq(unload_err, "");
}
END_TEST

START_TEST(reconfigure_takes_new_values_without_a_reload)
{
	struct opsbot_plugin *p = plugin_find("longwork");
	struct config *fresh =
	    config_load_string("[plugin.longwork]\nkey = two\n", "t2.conf");
	struct config *worse =
	    config_load_string("[plugin.longwork]\nkey = bad\n", "t3.conf");

	run("ann", "a", "longwork child cancel 5", 1000);
	ck_assert_int_eq(plugin_reconfigure(p, fresh), 0);
	ck_assert_ptr_eq(plugin_find("longwork"), p);
	ck_assert_str_eq(host_api.config_string(p, NULL, "key"), "two");
	/* The child was not touched. */
	ck_assert(!list_empty(&p->ops));
	/* A refusal keeps the old values. */
	ck_assert_int_eq(plugin_reconfigure(p, worse), -1);
	ck_assert_str_eq(host_api.config_string(p, NULL, "key"), "two");
	config_free(fresh);
	config_free(worse);
}
END_TEST

/* ---- the daemon ---- */

static void write_daemon_config(const char *on_start, const char *key,
				const char *grace)
{
	char *path, *text, *rel = test_build_path("test-plugins");
	char *plugins = realpath(rel, NULL);

	ck_assert_ptr_nonnull(plugins);
	/* Nothing listens on port 1: the bot keeps retrying IRC. */
	text = xasprintf("[irc]\nserver = 127.0.0.1\nnick = opsbot\nport = 1\n"
			 "reconnect_min = 60s\n"
			 "[bot]\nplugins = longwork\nplugin_dir = %s\n"
			 "state = state.db\nshutdown_grace = %s\n"
			 "[plugin.longwork]\non_start = %s\nkey = %s\n",
			 plugins, grace, on_start, key);
	path = test_write_file(dir, "opsbot.conf", text);
	free(path);
	free(text);
	free(plugins);
	free(rel);
}

static void daemon_start(struct bot *b, const char *name)
{
	char *conf, *log;
	const char *args[] = {"-c", NULL, "-v", NULL};

	conf = xasprintf("%s/opsbot.conf", dir);
	log = xasprintf("%s/%s.log", dir, name);
	args[1] = conf;
	ck_assert_int_eq(bot_start(b, log, args), 0);
	ck_assert(bot_wait_log(b, "longwork: init", 5000));
	free(conf);
	free(log);
}

/* Adds a line to the daemon's config (its last section). */
static void append_to_config(const char *line)
{
	char *conf = xasprintf("%s/opsbot.conf", dir);
	FILE *f = fopen(conf, "a");

	ck_assert_ptr_nonnull(f);
	fputs(line, f);
	fclose(f);
	free(conf);
}

static void daemon_dir(const char *name)
{
	dir = test_make_dir(name);
}

static void daemon_done(struct bot *b)
{
	ck_assert_msg(!bot_log_contains(b, "Sanitizer"), "see %s", b->log_path);
	bot_stop(b);
	test_cleanup_dir(dir);
	dir = NULL;
}

/*
 * A job blocking 25 s, then SIGTERM (and SIGINT): the bot exits within
 * the grace + 1 s; the job's cancel hook ran; the store was closed.
 */
static void shutdown_while_a_job_blocks(int sig)
{
	struct bot b;
	int64_t start;

	daemon_dir(sig == SIGTERM ? "lw-term" : "lw-int");
	write_daemon_config("block", "one", "2s");
	daemon_start(&b, "bot");
	usleep(200000);
	start = time_now_ms();
	ck_assert_int_eq(bot_signal_and_wait(&b, sig, 3000), 0);
	ck_assert_int_lt(time_now_ms() - start, 3000);
	ck_assert(bot_log_contains(&b, "longwork: cancel hook ran"));
	ck_assert(bot_log_contains(&b, "longwork: job done, status -3"));
	ck_assert(bot_log_contains(&b, "longwork: fini"));
	ck_assert_int_eq(
	    WIFEXITED(b.exit_status) ? WEXITSTATUS(b.exit_status) : -1, 0);
	daemon_done(&b);
}

START_TEST(sigterm_while_a_job_blocks_is_bounded)
{
	shutdown_while_a_job_blocks(SIGTERM);
}
END_TEST

START_TEST(sigint_while_a_job_blocks_is_bounded)
{
	shutdown_while_a_job_blocks(SIGINT);
}
END_TEST

/* A job that ignores its cancel: the hard deadline ends the wait. */
START_TEST(a_stuck_job_cannot_hold_the_exit)
{
	struct bot b;
	int64_t start;
	char *db;

	daemon_dir("lw-stuck");
	write_daemon_config("stuck", "one", "1s");
	daemon_start(&b, "bot");
	usleep(200000);
	start = time_now_ms();
	ck_assert_int_eq(bot_signal_and_wait(&b, SIGTERM, 4000), 0);
	/* grace 1 s + the 1 s hard deadline, with room for a slow box */
	ck_assert_int_lt(time_now_ms() - start, 3500);
	ck_assert(bot_log_contains(&b, "still running after cancel"));
	/* The store was closed cleanly: no WAL left behind. */
	db = xasprintf("%s/state.db-wal", dir);
	ck_assert_msg(access(db, F_OK) != 0, "%s is left", db);
	free(db);
	daemon_done(&b);
}
END_TEST

START_TEST(sighup_under_drain_leaves_the_child_alone)
{
	struct bot b;

	daemon_dir("lw-hup-drain");
	write_daemon_config("child-drain", "one", "10s");
	daemon_start(&b, "bot");
	/* A key reconfigure() takes: no reload at all. */
	write_daemon_config("child-drain", "two", "10s");
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b, "longwork: reconfigured (key two)", 5000));
	ck_assert(bot_wait_log(&b, "longwork: child exited, status 0", 6000));
	ck_assert(!bot_log_contains(&b, "longwork: fini"));
	daemon_done(&b);
}
END_TEST

START_TEST(sighup_needing_a_reload_under_refuse_is_refused)
{
	struct bot b;

	daemon_dir("lw-hup-refuse");
	write_daemon_config("child-refuse", "one", "10s");
	daemon_start(&b, "bot");
	/* restart_key cannot be reconfigured: a reload, which the running
	 * child refuses. */
	append_to_config("restart_key = new\n");
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b,
			       "cannot be reloaded now: plugin longwork "
			       "is running sleep",
			       5000));
	ck_assert(bot_wait_log(&b, "longwork: child exited, status 0", 6000));
	ck_assert(!bot_log_contains(&b, "longwork: fini"));
	daemon_done(&b);
}
END_TEST

START_TEST(sighup_under_drain_reloads_after_the_child)
{
	struct bot b;

	daemon_dir("lw-hup-reload");
	write_daemon_config("child-drain", "one", "10s");
	daemon_start(&b, "bot");
	append_to_config("restart_key = new\n");
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b, "plugin longwork reloads once sleep", 5000));
	ck_assert(bot_wait_log(&b, "longwork: child exited, status 0", 6000));
	ck_assert(bot_wait_log(&b, "longwork: fini", 2000));
	ck_assert(bot_wait_log(&b, "loaded longwork", 2000));
	daemon_done(&b);
}
END_TEST

static Suite *longwork_suite(void)
{
	Suite *s = suite_create("longwork");
	TCase *tc = tcase_create("api");
	TCase *d = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ten_thousand_messages_arrive_in_order_before_done);
	tcase_add_test(tc, messages_still_arrive_when_the_job_is_cancelled);
	tcase_add_test(tc, job_post_wait_returns_after_the_callback_ran);
	tcase_add_test(tc, cancel_hook_interrupts_a_blocking_job);
	tcase_add_test(tc, a_plugin_runs_at_most_job_limit_jobs_at_once);
	tcase_add_test(tc, blocking_jobs_do_not_stall_dns_lookups);
	tcase_add_test(tc, fd_watch_reads_a_pipe_and_ends_once);
	tcase_add_test(tc, fd_watch_is_swept_on_unload);
	tcase_add_test(tc, progress_lines_latest_wins);
	tcase_add_test(tc, destructive_commands_need_the_same_asker_to_confirm);
	tcase_add_test(tc, a_late_confirmation_is_refused);
	tcase_add_test(tc, sub_sections_have_their_own_values_and_secrets);
	tcase_add_test(tc, sub_section_errors_name_file_line_and_key);
	tcase_add_test(tc, refuse_policy_refuses_the_unload_with_a_message);
	tcase_add_test(tc, drain_policy_lets_work_finish_before_the_unload);
	tcase_add_test(tc, reconfigure_takes_new_values_without_a_reload);
	tcase_add_test(tc, http_header_gives_every_value_of_a_repeated_header);
	tcase_add_test(tc, structs_without_a_size_are_refused);
	suite_add_tcase(s, tc);
	tcase_set_timeout(d, 60);
	tcase_add_test(d, sigterm_while_a_job_blocks_is_bounded);
	tcase_add_test(d, sigint_while_a_job_blocks_is_bounded);
	tcase_add_test(d, a_stuck_job_cannot_hold_the_exit);
	tcase_add_test(d, sighup_under_drain_leaves_the_child_alone);
	tcase_add_test(d, sighup_needing_a_reload_under_refuse_is_refused);
	tcase_add_test(d, sighup_under_drain_reloads_after_the_child);
	suite_add_tcase(s, d);
	return s;
}

CHECK_MAIN(longwork_suite)
