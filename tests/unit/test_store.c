/*
 * test_store.c - the database file holds registrants' names and e-mail
 * addresses: it and its -wal and -shm files are created 0600 whatever the
 * umask, and a start refuses an existing one that group or others may
 * read or write, unless [bot] state_permissions_ok says so.
 */
#include "check_main.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "procs.h"
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("store");
}

static void teardown(void)
{
	test_cleanup_dir(dir);
	dir = NULL;
}

static unsigned file_mode(const char *path, const char *suffix)
{
	char *full = xasprintf("%s%s", path, suffix);
	struct stat st;

	ck_assert_msg(stat(full, &st) == 0, "%s does not exist", full);
	free(full);
	return (unsigned)(st.st_mode & 07777);
}

/* Starts the host on db with config text; returns host_start()'s code. */
static int start(const char *text, const char *db, char **err)
{
	struct config *cfg = config_load_string(text, "t.conf");
	int rc;

	config_validate_host(cfg);
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	rc = host_start(cfg, OPSBOT_MODE_DAEMON, db, "t", err);
	if (rc == 0)
		host_stop();
	config_free(cfg);
	return rc;
}

START_TEST(database_files_are_created_0600)
{
	char *db = xasprintf("%s/state.db", dir), *err = NULL;
	struct config *cfg = config_load_string("", "t.conf");
	mode_t old = umask(022);

	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "t", &err) == 0,
		      "%s", err);
	/* The WAL and its index exist while the database is open. */
	ck_assert_int_eq(sqlite3_exec(store_db(),
				      "CREATE TABLE t (x); INSERT INTO t "
				      "VALUES (1)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_uint_eq(file_mode(db, ""), 0600);
	ck_assert_uint_eq(file_mode(db, "-wal"), 0600);
	ck_assert_uint_eq(file_mode(db, "-shm"), 0600);
	host_stop();
	config_free(cfg);
	umask(old);
	free(db);
}
END_TEST

/* Several processes opening one new database at the same moment (a
 * daemon and an `opsbot run`, two tests): each step runs exactly once and
 * every process gets the database at the last version.  Before, each read
 * the version outside the transaction and ran the steps again ("table
 * plugin_schema already exists"), and the switch to WAL failed at once
 * with "database is locked" (seen under valgrind). */
START_TEST(concurrent_first_opens_migrate_once)
{
	static const char *const steps[] = {
	    "CREATE TABLE t1 (x)",
	    "INSERT INTO t1 VALUES (1)",
	    "CREATE TABLE t2 (y)",
	};
	enum { N = 6, ROUNDS = 5 };
	int round;

	for (round = 0; round < ROUNDS; round++) {
		char *db = xasprintf("%s/race%d.db", dir, round);
		int go[2], i, status, failures = 0;
		pid_t kids[N];
		sqlite3 *check;
		sqlite3_stmt *st;

		ck_assert_int_eq(pipe(go), 0);
		for (i = 0; i < N; i++) {
			kids[i] = fork();
			ck_assert_int_ge(kids[i], 0);
			if (kids[i] == 0) {
				char c, *err = NULL;
				int rc;

				close(go[1]);
				/* All start together. */
				if (read(go[0], &c, 1) < 0)
					_exit(3);
				rc = store_open(db, &err);
				if (rc == 0)
					rc = store_migrate("race", steps, 3,
							   &err);
				if (rc)
					fprintf(stderr, "child: %s\n", err);
				store_close();
				_exit(rc ? 1 : 0);
			}
		}
		close(go[0]);
		close(go[1]); /* EOF releases them all */
		for (i = 0; i < N; i++) {
			waitpid(kids[i], &status, 0);
			failures +=
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		}
		ck_assert_int_eq(failures, 0);
		/* Step 2 ran once: one row. */
		ck_assert_int_eq(sqlite3_open(db, &check), SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(check,
						    "SELECT count(*) FROM t1",
						    -1, &st, NULL),
				 SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
		sqlite3_finalize(st);
		sqlite3_close(check);
		free(db);
	}
}
END_TEST

START_TEST(loose_database_is_refused_with_the_fix)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char *db = xasprintf("%s/state.db", dir), *err = NULL, *want;
	int i;

	ck_assert_msg(start("", db, &err) == 0, "%s", err);
	for (i = 0; i < 3; i++) {
		char *path = xasprintf("%s%s", db, suffix[i]);

		/* A WAL left behind by a killed bot counts too. */
		if (i)
			free(test_write_file(dir, path + strlen(dir) + 1, ""));
		chmod(path, i == 2 ? 0606 : 0644);
		ck_assert_int_eq(start("", db, &err), -1);
		want = xasprintf("'%s' is readable or writable by group or "
				 "others (mode 0%o); chmod 600 %s",
				 path, i == 2 ? 0606 : 0644, path);
		ck_assert_msg(err && strstr(err, want), "want '%s' in '%s'",
			      want, err ? err : "(null)");
		ck_assert_ptr_null(strchr(err, '\n'));
		free(want);
		free(err);
		err = NULL;
		/* The operator may say it is fine. */
		ck_assert_msg(start("[bot]\nstate_permissions_ok = true\n", db,
				    &err) == 0,
			      "%s", err);
		chmod(path, 0600);
		free(path);
	}
	ck_assert_msg(start("", db, &err) == 0, "%s", err);
	free(db);
}
END_TEST

/* The daemon says it on one line and exits. */
START_TEST(daemon_refuses_a_loose_database)
{
	char *conf, *db, *out = NULL, *errout = NULL, *want;
	const char *args[] = {"-c", NULL, NULL};
	int rc;

	conf = test_write_file(dir, "opsbot.conf",
			       "[irc]\nserver = 127.0.0.1\nport = 1\n"
			       "[bot]\nstate = state.db\n");
	db = test_write_file(dir, "state.db", "");
	chmod(db, 0644);
	args[1] = conf;
	rc = run_opsbot(args, &out, &errout);
	ck_assert_int_eq(rc, 1);
	want = xasprintf("'%s' is readable or writable by group or others "
			 "(mode 0644); chmod 600 %s, or set [bot] "
			 "state_permissions_ok = true",
			 db, db);
	ck_assert_msg(strstr(errout, want), "want '%s' in:\n%s", want, errout);
	free(want);
	free(out);
	free(errout);
	free(db);
	free(conf);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("permissions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, database_files_are_created_0600);
	tcase_add_test(tc, concurrent_first_opens_migrate_once);
	tcase_add_test(tc, loose_database_is_refused_with_the_fix);
	tcase_add_test(tc, daemon_refuses_a_loose_database);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(store_suite)
