/*
 * test_process.c - child processes for plugins (host/process.c) in the real
 * host: how a child is ended (cancel signal, output until it is gone,
 * SIGKILL after the grace, no process of its group left), the time limit,
 * process_signal, the output log, exactly one EXIT, unload and shutdown.
 * The test plugin tests/plugins/proctest.c writes what it sees to a
 * transcript file that the tests read.
 */
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "process.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

static char *dir, *transcript_path;
static struct config *cfg;
static struct opsbot_plugin *plugin;
static struct test_sink sink;
static struct command_source src;

/* Prints "ready", then waits; on SIGINT prints ten clean-up lines over
 * 2 s (as packer tears down its VMs) and exits 3. */
#define SCRIPT_INT_CLEANUP                                                     \
	"trap 'i=1; while [ $i -le 10 ]; do echo clean $i; i=$((i+1)); "       \
	"sleep 0.2; done; exit 3' INT; echo ready; "                           \
	"while :; do sleep 0.05; done"
/* Waits, ignoring SIGTERM (and so do its children). */
#define SCRIPT_IGNORE_TERM                                                     \
	"trap '' TERM; echo ready; while :; do sleep 0.05; done"
#define SCRIPT_WAIT "echo ready; while :; do sleep 0.05; done"

static void setup(void)
{
	char *db, *plugins, *keeper, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("process");
	keeper = test_build_path("opsbot");
	process_set_keeper(keeper);
	free(keeper);
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string("[bot]\n", "test.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "test", &err) ==
			  0,
		      "store: %s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	transcript_path = xasprintf("%s/transcript", dir);
	setenv("PROCTEST_TRANSCRIPT", transcript_path, 1);
	plugin = plugin_load("proctest", &err);
	ck_assert_msg(plugin != NULL, "%s", err);
	memset(&sink, 0, sizeof(sink));
	test_sink_use(&sink);
	test_source(&src, OPSBOT_ORIGIN_CLI, "op", "localhost");
}

static void teardown(void)
{
	plugin_unload_all();
	host_stop();
	test_sink_use(NULL);
	buf_free(&sink.out);
	config_free(cfg);
	cfg = NULL;
	plugin_set_dir(NULL);
	unsetenv("PROCTEST_TRANSCRIPT");
	process_set_keeper(NULL);
	free(transcript_path);
	test_cleanup_dir(dir);
}

/* proctest <a> [<b> [<c> [<d>]]] */
static void run_cmd(const char *a, const char *b, const char *c, const char *d)
{
	char *argv[] = {"proctest", (char *)a, (char *)b,
			(char *)c,  (char *)d, NULL};
	int argc = 1;

	while (argv[argc])
		argc++;
	command_dispatch_argv(&src, argc, argv);
}

static void start(const char *tag, const char *options, const char *script)
{
	run_cmd("start", tag, options, script);
}

/* The transcript so far (static; replaced by the next call). */
static const char *transcript(void)
{
	static struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(transcript_path, "r");

	buf_reset(&b);
	if (!f)
		return "";
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return b.data ? b.data : "";
}

static int count_of(const char *text)
{
	const char *t = transcript(), *p = t;
	int n = 0;

	while ((p = strstr(p, text))) {
		n++;
		p += strlen(text);
	}
	return n;
}

/* Runs the loop until the transcript holds text, or ms passed. */
static int wait_for(const char *text, long ms)
{
	int64_t end = time_now_ms() + ms;

	while (!strstr(transcript(), text)) {
		if (time_now_ms() >= end)
			return 0;
		test_run_for(5);
	}
	return 1;
}

/* Is a before b in the transcript (both present)? */
static int before(const char *a, const char *b)
{
	const char *t = transcript(), *pa = strstr(t, a), *pb = strstr(t, b);

	return pa && pb && pa < pb;
}

struct exit_line {
	int status, code, sig;
	long pid;
	char id[8];
};

/* The EXIT of tag, which must be in the transcript. */
static struct exit_line exit_of(const char *tag)
{
	struct exit_line e = {0};
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "exit %s ", tag);
	p = strstr(transcript(), key);
	ck_assert_msg(p != NULL, "no exit of %s: %s", tag, transcript());
	ck_assert_int_eq(sscanf(p + strlen(key),
				"status=%d code=%d sig=%d pid=%ld id=%7s",
				&e.status, &e.code, &e.sig, &e.pid, e.id),
			 5);
	ck_assert_str_eq(e.id, "ok");
	return e;
}

static int group_gone(long pgid)
{
	return kill(-(pid_t)pgid, 0) == -1 && errno == ESRCH;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int unload_done;
static void on_unloaded(const char *name, const char *err, void *data)
{
	unload_done = 1;
}

/* 1. Cancelled with SIGINT, a child that cleans up for 2 s: every
 * clean-up line arrives, then EXIT/ECANCELED, and its group is gone. */
START_TEST(cancel_signal_then_cleanup_lines_then_exit)
{
	struct exit_line e;

	start("t", "signal=2,grace=4000", SCRIPT_INT_CLEANUP);
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	run_cmd("cancel", "t", NULL, NULL);
	ck_assert(wait_for("cancel t 0", 10));
	ck_assert_msg(wait_for("exit t ", 6000), "%s", transcript());
	ck_assert_int_eq(count_of("out t clean "), 10);
	ck_assert_msg(before("out t clean 10", "exit t "), "%s", transcript());
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_int_eq(e.code, 3);
	ck_assert_int_eq(e.sig, 0);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
	ck_assert_int_eq(count_of("exit t "), 1);
}
END_TEST

/* 2. A child that ignores the cancel signal: SIGKILL once kill_grace_ms
 * is over, not sooner and not much later. */
START_TEST(ignored_cancel_signal_gets_sigkill_after_grace)
{
	struct exit_line e;
	int64_t t0, dt;

	start("t", "grace=1000", SCRIPT_IGNORE_TERM);
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	t0 = time_now_ms();
	run_cmd("cancel", "t", NULL, NULL);
	ck_assert_msg(wait_for("exit t ", 5000), "%s", transcript());
	dt = time_now_ms() - t0;
	ck_assert_msg(dt >= 1000 && dt < 2500, "EXIT after %lld ms",
		      (long long)dt);
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_int_eq(e.sig, SIGKILL);
	ck_assert_int_eq(e.code, -1);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 3. The leader exits by itself, a grandchild keeps its pipes open: EXIT
 * still comes once the grace is over, and the grandchild is gone. */
START_TEST(grandchild_holding_the_pipes_does_not_hold_exit)
{
	struct exit_line e;
	int64_t t0 = time_now_ms(), dt;

	start("t", "grace=500", "sleep 30 & echo leader-done");
	ck_assert_msg(wait_for("exit t ", 5000), "%s", transcript());
	dt = time_now_ms() - t0;
	ck_assert_msg(dt < 2500, "EXIT after %lld ms", (long long)dt);
	ck_assert(before("out t leader-done", "exit t "));
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_OK);
	ck_assert_int_eq(e.code, 0);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 3b. A grandchild that closed its output and outlived the leader: the
 * group is still the child's, and is gone after EXIT. */
START_TEST(grandchild_without_pipes_is_gone_after_exit)
{
	struct exit_line e;
	int64_t t0 = time_now_ms(), dt;

	start("t", "grace=300", "sleep 30 >/dev/null 2>&1 & echo leader-done");
	ck_assert_msg(wait_for("exit t ", 5000), "%s", transcript());
	dt = time_now_ms() - t0;
	ck_assert_msg(dt < 2000, "EXIT after %lld ms", (long long)dt);
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_OK);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 4. The time limit ends the child like a cancel, with its signal: the
 * output before it and the clean-up after it arrive, then ETIMEDOUT. */
START_TEST(timeout_ends_with_cancel_signal_and_etimedout)
{
	struct exit_line e;

	start("t", "signal=2,timeout=300",
	      "trap 'echo timeout-cleanup; exit 0' INT; echo before; "
	      "while :; do sleep 0.05; done");
	ck_assert_msg(wait_for("exit t ", 5000), "%s", transcript());
	ck_assert(before("out t before", "out t timeout-cleanup"));
	ck_assert(before("out t timeout-cleanup", "exit t "));
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ETIMEDOUT);
	ck_assert_int_eq(e.code, 0);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 5. process_signal reaches the child and does not end it; bad signals
 * and unknown or finished ids are refused. */
START_TEST(process_signal_reaches_the_child)
{
	struct exit_line e;

	start("t", "-",
	      "trap 'echo got-usr1' USR1; echo ready; "
	      "while :; do sleep 0.05; done");
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	run_cmd("signal", "t", "10", NULL);
	ck_assert(wait_for("signal t 0", 10));
	ck_assert_msg(wait_for("out t got-usr1", 3000), "%s", transcript());
	test_run_for(100);
	ck_assert_int_eq(count_of("exit t "), 0);
	run_cmd("signal", "t", "0", NULL);
	run_cmd("signal", "t", "999", NULL);
	ck_assert_int_eq(count_of("signal t -5"), 2);
	run_cmd("signal", "999999", "10", NULL);
	ck_assert(wait_for("signal 999999 -7", 10));
	run_cmd("cancel", "t", NULL, NULL);
	ck_assert_msg(wait_for("exit t ", 7000), "%s", transcript());
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	run_cmd("signal", "t", "10", NULL);
	ck_assert(wait_for("signal t -7", 10));
}
END_TEST

/* 5b. Killed by a signal the plugin sent: it ended by itself (OK, with
 * the signal); by one nobody sent: OPSBOT_ERR. */
START_TEST(exit_status_of_a_signalled_child)
{
	struct exit_line e;

	start("mine", "-", SCRIPT_WAIT);
	start("other", "-", "echo ready; kill -USR2 $$; sleep 5");
	ck_assert_msg(wait_for("out mine ready", 3000), "%s", transcript());
	run_cmd("signal", "mine", "10", NULL);
	ck_assert_msg(wait_for("exit mine ", 3000), "%s", transcript());
	ck_assert_msg(wait_for("exit other ", 3000), "%s", transcript());
	e = exit_of("mine");
	ck_assert_int_eq(e.status, OPSBOT_OK);
	ck_assert_int_eq(e.sig, SIGUSR1);
	ck_assert_int_eq(e.code, -1);
	e = exit_of("other");
	ck_assert_int_eq(e.status, OPSBOT_ERR);
	ck_assert_int_eq(e.sig, SIGUSR2);
}
END_TEST

/* 6. log_path: prefixed lines up to log_max_bytes, then one line saying
 * the log was cut; the file is 0600; the plugin still gets every line. */
START_TEST(log_file_holds_prefixed_lines_up_to_the_cap)
{
	char *log_path = xasprintf("%s/child.log", dir), *opts, *cut;
	const char *log;
	struct stat st;
	FILE *f;
	char text[4096];
	size_t n;

	opts = xasprintf("log=%s,logmax=100", log_path);
	start("t", opts,
	      "echo to-stderr >&2; sleep 0.1; i=1; "
	      "while [ $i -le 20 ]; do echo line $i; i=$((i+1)); done");
	ck_assert_msg(wait_for("exit t ", 5000), "%s", transcript());
	ck_assert_int_eq(exit_of("t").status, OPSBOT_OK);
	ck_assert_int_eq(count_of("out t line "), 20);

	ck_assert_int_eq(stat(log_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	log = text;
	/* 16 + 6 * 13 = 94 bytes; "[out] line 7\n" would pass 100. */
	ck_assert_msg(!strncmp(log,
			       "[err] to-stderr\n[out] line 1\n[out] line 2\n"
			       "[out] line 3\n[out] line 4\n[out] line 5\n"
			       "[out] line 6\n",
			       94),
		      "%s", log);
	cut = (char *)log + 94;
	ck_assert_msg(strstr(cut, "cut") && !strncmp(cut, "[", 1) &&
			  strchr(cut, '\n') == log + n - 1,
		      "%s", log);
	ck_assert_msg(!strstr(log, "line 7"), "%s", log);
	free(opts);
	free(log_path);
}
END_TEST

/* 6b. A log that cannot be opened: the child is not started. */
START_TEST(log_open_failure_refuses_the_start)
{
	char *opts = xasprintf("log=%s/no/such/dir/x.log", dir);

	start("t", opts, "echo should-not-run");
	ck_assert_msg(strstr(transcript(), "failed t -5"), "%s", transcript());
	test_run_for(200);
	ck_assert_int_eq(count_of("should-not-run"), 0);
	ck_assert_int_eq(count_of("exit t "), 0);
	free(opts);
}
END_TEST

/* 7. cancel() in the loop pass where the child exits: one EXIT, with
 * ECANCELED (cancel returned OK), after the output; then ENOENT. */
START_TEST(cancel_in_the_exit_pass_gives_one_exit)
{
	struct exit_line e;

	/* Cancel from outside before the loop saw the exit and EOF. */
	start("a", "-", "echo bye");
	/* Cancel from the callback of the last line, in the same pass. */
	start("b", "cancel-on=bye", "echo bye");
	sleep_ms(800); /* both have exited: a keeper takes ~10 ms */
	run_cmd("cancel", "a", NULL, NULL);
	ck_assert(strstr(transcript(), "cancel a 0"));
	ck_assert_msg(wait_for("exit a ", 3000), "%s", transcript());
	ck_assert_msg(wait_for("exit b ", 3000), "%s", transcript());
	test_run_for(200);
	run_cmd("cancel", "a", NULL, NULL);
	run_cmd("cancel", "b", NULL, NULL);
	ck_assert_int_eq(count_of("exit a "), 1);
	ck_assert_int_eq(count_of("exit b "), 1);
	ck_assert_msg(before("out a bye", "exit a "), "%s", transcript());
	ck_assert(before("cancel b 0", "exit b "));
	ck_assert_int_eq(count_of("cancel a -7"), 1);
	ck_assert_int_eq(count_of("cancel b -7"), 1);
	e = exit_of("a");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_int_eq(e.code, 0);
	e = exit_of("b");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
}
END_TEST

/* 7b. Unloading the plugin while its child runs: EXIT/ECANCELED once,
 * then fini. */
START_TEST(unload_gives_one_exit_before_fini)
{
	struct exit_line e;

	start("t", "-", SCRIPT_WAIT);
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	unload_done = 0;
	ck_assert_int_eq(plugin_unload(plugin, 0, on_unloaded, NULL),
			 OPSBOT_OK);
	ck_assert_int_eq(test_run_until(&unload_done, 7000), 1);
	ck_assert_int_eq(count_of("exit t "), 1);
	ck_assert_int_eq(count_of("fini"), 1);
	ck_assert_msg(before("exit t ", "fini"), "%s", transcript());
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 8. Shutdown with a SIGINT-trapping child whose policy is CANCEL: its
 * clean-up lines, then EXIT, then fini; every plugin gone. */
START_TEST(shutdown_waits_for_cleanup_lines)
{
	struct exit_line e;

	start("t", "signal=2,grace=4000,policy=cancel", SCRIPT_INT_CLEANUP);
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	ck_assert_int_eq(plugin_unload_all_wait(0), 1);
	ck_assert_int_eq(count_of("out t clean "), 10);
	ck_assert_msg(before("out t clean 10", "exit t "), "%s", transcript());
	ck_assert_msg(before("exit t ", "fini"), "%s", transcript());
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_int_eq(e.code, 3);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/* 9. unload_policy and name reach the core: a refusal names the work
 * (name, or argv[0]); a draining child finishes by itself first. */
START_TEST(unload_policy_and_name)
{
	char *msg;

	start("r", "policy=refuse,name=packer-build-qemu", SCRIPT_WAIT);
	start("s", "policy=refuse", SCRIPT_WAIT);
	msg = plugin_unload_refusal(plugin);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, "packer-build-qemu (") &&
			  strstr(msg, "/bin/sh ("),
		      "%s", msg);
	free(msg);
	run_cmd("cancel", "r", NULL, NULL);
	run_cmd("cancel", "s", NULL, NULL);
	ck_assert_msg(wait_for("exit s ", 7000), "%s", transcript());
	ck_assert_msg(wait_for("exit r ", 7000), "%s", transcript());
	ck_assert_ptr_null(plugin_unload_refusal(plugin));

	start("d", "policy=drain", "sleep 0.3; echo drained");
	unload_done = 0;
	ck_assert_int_eq(plugin_unload(plugin, 0, on_unloaded, NULL),
			 OPSBOT_OK);
	ck_assert_int_eq(test_run_until(&unload_done, 5000), 1);
	ck_assert(before("out d drained", "exit d "));
	ck_assert(before("exit d ", "fini"));
	ck_assert_int_eq(exit_of("d").status, OPSBOT_OK);
}
END_TEST

/* process_kill_all() (host_stop, after the shutdown's deadline): SIGKILL
 * to every group at once, whatever its grace. */
START_TEST(kill_all_kills_every_group)
{
	struct exit_line e;
	int64_t t0;

	start("t", "grace=20000", SCRIPT_IGNORE_TERM);
	ck_assert_msg(wait_for("out t ready", 3000), "%s", transcript());
	run_cmd("cancel", "t", NULL, NULL);
	test_run_for(200);
	ck_assert_int_eq(count_of("exit t "), 0);
	t0 = time_now_ms();
	process_kill_all();
	ck_assert_msg(wait_for("exit t ", 3000), "%s", transcript());
	ck_assert_int_lt(time_now_ms() - t0, 1500);
	e = exit_of("t");
	ck_assert_int_eq(e.status, OPSBOT_ECANCELED);
	ck_assert_int_eq(e.sig, SIGKILL);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

/*
 * 15. The host killed with SIGKILL (no shutdown, no kill_all): the keeper
 * sends the cancel signal to the group, the child's clean-up runs to its
 * end although nobody reads its output any more (20,000 lines, more than
 * a pipe holds, then a marker file), and the group (a background grandchild
 * too) is gone.
 */
START_TEST(host_killed_ends_the_group)
{
	char *marker = xasprintf("%s/cleaned", dir);
	char *script =
	    xasprintf("trap 'i=0; while [ $i -lt 20000 ]; do echo clean $i; "
		      "i=$((i+1)); done; touch %s; exit 3' TERM; "
		      "sleep 300 & echo ready $$; wait; wait",
		      marker);
	long sh_pid = 0, pgid;
	pid_t host;
	const char *p;
	int64_t end;

	/* Orphans of the killed host come here, to be reaped. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	host = fork();
	ck_assert_int_ge(host, 0);
	if (host == 0) {
		char *keeper = test_build_path("opsbot");

		uv_loop_fork(loop_get());
		process_set_keeper(keeper); /* a lifeline of its own */
		free(keeper);
		start("t", "grace=5000", script);
		test_run_for(60000);
		_exit(0);
	}
	ck_assert_msg(wait_for("out t ready ", 5000), "%s", transcript());
	p = strstr(transcript(), "out t ready ");
	ck_assert_int_eq(sscanf(p, "out t ready %ld", &sh_pid), 1);
	pgid = getpgid((pid_t)sh_pid);
	ck_assert_int_gt(pgid, 0);
	ck_assert_int_ne(pgid, sh_pid); /* the keeper leads the group */
	kill(host, SIGKILL);
	ck_assert_int_eq(waitpid(host, NULL, 0), host);
	end = time_now_ms() + 4000;
	while (!group_gone(pgid) && time_now_ms() < end) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sleep_ms(20);
	}
	ck_assert_msg(group_gone(pgid), "group %ld outlived its host", pgid);
	ck_assert_msg(access(marker, F_OK) == 0,
		      "the child's clean-up did not finish");
	/* The host never saw any of it: no exit line. */
	ck_assert_int_eq(count_of("exit t "), 0);
	free(marker);
	free(script);
}
END_TEST

/* 16. What the keeper changes must not show: a missing program is refused
 * at once, the exit code and the pid are the program's group's. */
START_TEST(missing_program_is_refused_at_once)
{
	struct exit_line e;

	start("n", "prog=/nonexistent/prog", "x");
	ck_assert_msg(strstr(transcript(), "failed n -7") != NULL, "%s",
		      transcript());
	start("p", "prog=no-such-program-here", "x");
	ck_assert_msg(strstr(transcript(), "failed p -7") != NULL, "%s",
		      transcript());
	start("q", "-", "exit 7");
	ck_assert_msg(wait_for("exit q ", 3000), "%s", transcript());
	e = exit_of("q");
	ck_assert_int_eq(e.code, 7);
	ck_assert_msg(group_gone(e.pid), "group %ld still there", e.pid);
}
END_TEST

static Suite *process_suite(void)
{
	Suite *s = suite_create("process");
	TCase *tc = tcase_create("process");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cancel_signal_then_cleanup_lines_then_exit);
	tcase_add_test(tc, ignored_cancel_signal_gets_sigkill_after_grace);
	tcase_add_test(tc, grandchild_holding_the_pipes_does_not_hold_exit);
	tcase_add_test(tc, grandchild_without_pipes_is_gone_after_exit);
	tcase_add_test(tc, timeout_ends_with_cancel_signal_and_etimedout);
	tcase_add_test(tc, process_signal_reaches_the_child);
	tcase_add_test(tc, exit_status_of_a_signalled_child);
	tcase_add_test(tc, log_file_holds_prefixed_lines_up_to_the_cap);
	tcase_add_test(tc, log_open_failure_refuses_the_start);
	tcase_add_test(tc, cancel_in_the_exit_pass_gives_one_exit);
	tcase_add_test(tc, unload_gives_one_exit_before_fini);
	tcase_add_test(tc, shutdown_waits_for_cleanup_lines);
	tcase_add_test(tc, unload_policy_and_name);
	tcase_add_test(tc, kill_all_kills_every_group);
	tcase_add_test(tc, host_killed_ends_the_group);
	tcase_add_test(tc, missing_program_is_refused_at_once);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(process_suite)
