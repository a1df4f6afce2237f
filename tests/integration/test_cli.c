/*
 * test_cli.c - the opsbot program from a shell: --check-config (with the
 * plugins' own checks), --config-reference, and `opsbot run` with its
 * output streams and exit codes.
 */
#include "waitscale.h"
#include "check_main.h"
#include "procs.h"
#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static char conf[PATH_MAX];

static void setup(void)
{
	char abs_build[PATH_MAX];
	struct buf b = BUF_INIT;
	char *path;

	dir = test_make_dir("cli");
	if (!realpath(test_build_dir(), abs_build))
		ck_abort_msg("no build directory");
	buf_addf(&b,
		 "[bot]\nplugins = example\nplugin_dir = %s/plugins\n"
		 "state = state.db\n"
		 "[plugin.example]\ntoken = s3cret-t0ken\nchannel = #ops\n"
		 "[plugin.example.server.main]\nurl = https://ci.example\n"
		 "key = k3y-of-main\n",
		 abs_build);
	path = test_write_file(dir, "opsbot.conf", b.data);
	snprintf(conf, sizeof(conf), "%s", path);
	free(path);
	buf_free(&b);
}

static void teardown(void)
{
	test_cleanup_dir(dir);
}

static int run(const char *const *args, char **out, char **err)
{
	return run_opsbot(args, out, err);
}

START_TEST(run_exit_codes_and_streams)
{
	char *out, *err;
	const char *ok[] = {"-c",   conf, "run",   "example",
			    "echo", "hi", "there", NULL};
	const char *fail[] = {"-c", conf, "run", "example", "fail", NULL};
	const char *usage[] = {"-c", conf, "run", "example", "wait", NULL};
	const char *unknown[] = {"-c", conf, "run", "nosuch", "x", NULL};
	const char *secret[] = {"-c",	conf,		"run", "example",
				"echo", "s3cret-t0ken", NULL};

	ck_assert_int_eq(run(ok, &out, &err), 0);
	ck_assert_str_eq(out, "hi there\n");
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	ck_assert_int_eq(run(fail, &out, &err), 1);
	ck_assert_str_eq(out, "");
	ck_assert(strstr(err, "this command always fails"));
	free(out);
	free(err);
	ck_assert_int_eq(run(usage, &out, &err), 2);
	ck_assert(strstr(err, "usage: opsbot run example wait <ms>"));
	free(out);
	free(err);
	ck_assert_int_eq(run(unknown, &out, &err), 2);
	ck_assert(strstr(err, "cannot load plugin 'nosuch'"));
	free(out);
	free(err);
	/* A configured secret never reaches the terminal. */
	ck_assert_int_eq(run(secret, &out, &err), 0);
	ck_assert_str_eq(out, "[redacted]\n");
	free(out);
	free(err);
}
END_TEST

/* The example plugin's ABI 2.0 commands, from the shell. */
static void expect(const char *const *args, int code, const char *out_has,
		   const char *err_has)
{
	char *out, *err;
	int rc = run(args, &out, &err);

	ck_assert_msg(rc == code, "exit %d, want %d; out: %s err: %s", rc, code,
		      out, err);
	ck_assert_msg(strstr(out, out_has), "stdout '%s' lacks '%s'", out,
		      out_has);
	ck_assert_msg(strstr(err, err_has), "stderr '%s' lacks '%s'", err,
		      err_has);
	free(out);
	free(err);
}

START_TEST(example_long_work_state_and_confirmation)
{
	const char *reset[] = {"-c", conf, "run", "example", "reset", NULL};
	const char *reset_yes[] = {"-c",    conf,    "run", "example",
				   "reset", "--yes", NULL};
	const char *set[] = {"-c",	 conf,	  "run",  "example",
			     "remember", "color", "blue", NULL};
	const char *get[] = {"-c",	 conf,	  "run", "example",
			     "remember", "color", NULL};
	const char *memory[] = {"-c", conf, "run", "example", "memory", NULL};
	const char *pipe_[] = {"-c",   conf,	"run",	 "example",
			       "pipe", "hello", "world", NULL};
	const char *servers[] = {"-c", conf, "run", "example", "servers", NULL};
	const char *sleep_[] = {"-c",	 conf,	"run", "example",
				"sleep", "120", NULL};

	expect(reset, 1, "",
	       "refusing: this deletes the counter; run it again with --yes: "
	       "opsbot run example reset --yes");
	expect(reset_yes, 0, "counter reset", "");
	expect(set, 0, "remembered color", "");
	expect(get, 0, "color = blue", "");
	/* State persists in the database between runs. */
	expect(memory, 0, "color = blue\nlast-reset-by = ", "");
	expect(pipe_, 0, "read back: hello world", "");
	/* A sub-section's secret is used, never shown. */
	expect(servers, 0, "main: https://ci.example (key set)", "");
	expect(sleep_, 0, "slept 120 ms on a job thread", "");
}
END_TEST

/* Nothing started by a command can be cancelled by another asker: a
 * shell run owns nothing, so any id is refused, with a hint. */
START_TEST(example_cancel_refuses_what_the_asker_did_not_start)
{
	const char *cancel[] = {"-c",	  conf, "run", "example",
				"cancel", "1",	NULL};
	const char *signal_[] = {"-c",	   conf, "run",	 "example",
				 "signal", "1",	 "TERM", NULL};
	const char *junk[] = {"-c",	conf, "run", "example",
			      "cancel", "1x", NULL};

	expect(cancel, 1, "",
	       "nothing you started is running with id 1 (start something "
	       "with opsbot run example wait 1000)");
	expect(signal_, 1, "", "nothing you started is running with id 1");
	expect(junk, 1, "", "'1x' is not an operation id");
}
END_TEST

/* Makes every later write of the example plugin fail, as a full disk or
 * a read-only file would.  A trigger rather than chmod 0400: the tests
 * may run as root, whom file modes do not stop. */
static void refuse_writes(void)
{
	static const char *const sql =
	    "CREATE TRIGGER ro_state_insert BEFORE INSERT ON host_state "
	    "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;"
	    "CREATE TRIGGER ro_state_update BEFORE UPDATE ON host_state "
	    "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;"
	    "CREATE TRIGGER ro_counter_update BEFORE UPDATE ON "
	    "example_counter BEGIN SELECT RAISE(ABORT, 'disk full (test)'); "
	    "END;"
	    "CREATE TRIGGER ro_counter_delete BEFORE DELETE ON "
	    "example_counter BEGIN SELECT RAISE(ABORT, 'disk full (test)'); "
	    "END;";
	char *db_path = xasprintf("%s/state.db", dir);
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
		      "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	free(db_path);
}

/* A write the store refuses is answered with an error and exit 1, never
 * with "remembered" or "counter reset"; what was there stays. */
START_TEST(example_reports_a_failed_write)
{
	const char *set[] = {"-c",	 conf,	  "run",  "example",
			     "remember", "color", "blue", NULL};
	const char *set_again[] = {"-c",       conf,	"run", "example",
				   "remember", "color", "red", NULL};
	const char *get[] = {"-c",	 conf,	  "run", "example",
			     "remember", "color", NULL};
	const char *count[] = {"-c", conf, "run", "example", "count", NULL};
	const char *reset_yes[] = {"-c",    conf,    "run", "example",
				   "reset", "--yes", NULL};

	expect(set, 0, "remembered color", "");
	expect(count, 0, "count is 1", "");
	refuse_writes();
	expect(set_again, 1, "",
	       "example: cannot remember color: the store refused the "
	       "write");
	expect(count, 1, "", "example: store error: disk full (test)");
	expect(reset_yes, 1, "",
	       "example: counter not reset: disk full (test)");
	expect(get, 0, "color = blue", "");
}
END_TEST

/* Ctrl-C on `opsbot run`: the running job is cancelled through its
 * cancel hook, the plugin unloads, the store closes, exit 1 at once. */
START_TEST(ctrl_c_cancels_a_running_command)
{
	struct bot b;
	char *log = xasprintf("%s/cli.log", dir);
	const char *args[] = {"-c",    conf,	"run", "example",
			      "sleep", "20000", NULL};
	int64_t start;

	ck_assert_int_eq(bot_start(&b, log, args), 0);
	ck_assert(bot_wait_log(&b, "sleeping 20000 ms", 5000));
	/* "At once": well before the 20 s sleep would end (the bound grows
	 * under valgrind, whose exit alone takes a second). */
	start = time_now_ms();
	ck_assert_int_eq(bot_signal_and_wait(&b, SIGINT, test_wait_ms(3000)),
			 0);
	ck_assert_int_lt(time_now_ms() - start, test_wait_ms(2000));
	ck_assert(bot_log_contains(&b, "sleep cancelled"));
	ck_assert_int_eq(WEXITSTATUS(b.exit_status), 1);
	bot_stop(&b);
	free(log);
}
END_TEST

START_TEST(check_config_runs_plugin_checks_without_side_effects)
{
	char *out, *err, *db;
	const char *args[] = {"-c", conf, "--check-config", NULL};

	ck_assert_int_eq(run(args, &out, &err), 0);
	ck_assert(strstr(out, ": ok"));
	free(out);
	free(err);
	/* The check used a scratch store: no database file appeared. */
	db = xasprintf("%s/state.db", dir);
	ck_assert_msg(access(db, F_OK) != 0, "--check-config created %s", db);
	free(db);
}
END_TEST

/* Sections of a plugin not in [bot] plugins: one warning per plugin, at
 * its first key, whatever the number of keys and sub-sections. */
START_TEST(unlisted_plugin_sections_warn_once_each)
{
	char *path, *out, *err;
	const char *args[] = {"-c", NULL, "--check-config", NULL};
	const char *p;
	int n = 0;

	path = test_write_file(dir, "unlisted.conf",
			       "[irc]\nserver = 127.0.0.1\nnick = a\n"
			       "[plugin.packer]\na = 1\nb = 2\nc = 3\n"
			       "[plugin.packer.jenkins.main]\nurl = x\n"
			       "[plugin.ci]\nd = 4\ne = 5\n");
	args[1] = path;
	ck_assert_int_eq(run(args, &out, &err), 0);
	for (p = err; (p = strstr(p, "is not in [bot] plugins")); p++)
		n++;
	ck_assert_msg(n == 2, "%d warnings:\n%s", n, err);
	ck_assert_msg(strstr(err, "unlisted.conf:5: [plugin.packer] is "
				  "configured but 'packer' is not in") &&
			  strstr(err, "unlisted.conf:11: [plugin.ci] is "
				      "configured but 'ci' is not in"),
		      "%s", err);
	free(out);
	free(err);
	free(path);
}
END_TEST

START_TEST(check_config_reports_every_error)
{
	char *path, *out, *err;
	const char *args[] = {"-c", NULL, "--check-config", NULL};

	path =
	    test_write_file(dir, "bad.conf",
			    "[irc]\nport = 0\nnick = a\nnick = b\n"
			    "[bot]\nplugins = example, nosuch\n"
			    "[plugin.example]\nlimit = 5000\nloud = maybe\n");
	args[1] = path;
	ck_assert_int_eq(run(args, &out, &err), 2);
	ck_assert_msg(
	    strstr(err, "bad.conf:2: [irc] port: 0 is out of range") &&
		strstr(err, "bad.conf:4: [irc] nick: set twice") &&
		strstr(err, "cannot load plugin 'nosuch'") &&
		strstr(err, "[plugin.example] limit: 5000 is out "
			    "of range") &&
		strstr(err, "[plugin.example] loud: 'maybe'") &&
		strstr(err, "5 errors in"),
	    "%s", err);
	free(out);
	free(err);
	free(path);
	/* SASL ECDSA needs its key; an unknown mechanism names them all. */
	path = test_write_file(dir, "sasl.conf",
			       "[irc]\nserver = 127.0.0.1\nnick = a\n"
			       "sasl_mechanism = ecdsa-nist256p-challenge\n");
	args[1] = path;
	ck_assert_int_eq(run(args, &out, &err), 2);
	ck_assert_msg(strstr(err, "sasl.conf:4: [irc] sasl_mechanism: "
				  "ecdsa-nist256p-challenge needs "
				  "sasl_ecdsa_key"),
		      "%s", err);
	free(out);
	free(err);
	free(path);
	path = test_write_file(dir, "sasl.conf",
			       "[irc]\nserver = 127.0.0.1\nnick = a\n"
			       "sasl_mechanism = ecdsa\n");
	args[1] = path;
	ck_assert_int_eq(run(args, &out, &err), 2);
	ck_assert_msg(strstr(err, "'ecdsa' is not plain, external, "
				  "scram-sha-256, ecdsa-nist256p-challenge "
				  "or auto"),
		      "%s", err);
	free(out);
	free(err);
	free(path);
}
END_TEST

START_TEST(config_reference_lists_host_and_plugins)
{
	char *out, *err;
	const char *args[] = {"-c", conf, "--config-reference", NULL};

	ck_assert_int_eq(run(args, &out, &err), 0);
	ck_assert(strstr(out, "[irc]\n"));
	ck_assert(strstr(out, "  sasl_password | sasl_password_file | "
			      "sasl_password_env"));
	ck_assert(strstr(out, "[plugin.example]"));
	ck_assert(strstr(out, "  heartbeat = 60s"));
	/* Sub-sections, with their own keys and secrets. */
	ck_assert_msg(
	    strstr(out, "[plugin.example.server.<name>]    ; a server"), "%s",
	    out);
	ck_assert(strstr(out, "  key | key_file | key_env"));
	free(out);
	free(err);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, run_exit_codes_and_streams);
	tcase_add_test(tc, example_long_work_state_and_confirmation);
	tcase_add_test(tc, ctrl_c_cancels_a_running_command);
	tcase_add_test(tc, example_cancel_refuses_what_the_asker_did_not_start);
	tcase_add_test(tc, example_reports_a_failed_write);
	tcase_add_test(tc,
		       check_config_runs_plugin_checks_without_side_effects);
	tcase_add_test(tc, check_config_reports_every_error);
	tcase_add_test(tc, unlisted_plugin_sections_warn_once_each);
	tcase_add_test(tc, config_reference_lists_host_and_plugins);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(cli_suite)
