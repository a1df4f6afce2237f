/*
 * test_packer_plugin.c - the packer plugin on the fake host's virtual
 * time, with scripted packer processes: 10,000 lines in 100 s reach the
 * channel as at most one progress line per interval (plus the error
 * burst), a cancelled build's lock is released only when its process has
 * exited (the queued build starts after the clean-up, not at the cancel),
 * sensitive variables go to a 0600 var-file and never into argv, chat or
 * the log.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/check_main.h"
#include "../lib/fakehost.h"
#include "testutil.h"

extern const struct opsbot_plugin_descriptor opsbot_plugin;

static struct fakehost *h;
static char *dir, *tdir, *ldir;

/* What the scripted packer saw at its start. */
static char argv_seen[4096];
static char varfile_seen[4096];
static int varfile_mode;
static int starts;

static void setup(void)
{
	dir = test_make_dir("packer-plugin");
	tdir = xasprintf("%s/templates", dir);
	ldir = xasprintf("%s/logs", dir);
	ck_assert_int_eq(mkdir(tdir, 0700), 0);
	free(test_write_file(
	    tdir, "t.json",
	    "{\"variables\": {\"pw\": \"\", \"greeting\": \"hi\"},\n"
	    " \"sensitive-variables\": [\"pw\"],\n"
	    " \"builders\": [{\"type\": \"null\", \"name\": \"a\"},\n"
	    "                {\"type\": \"null\", \"name\": \"b\"},\n"
	    "                {\"type\": \"file\", \"name\": \"flood\"}]}\n"));
	h = fakehost_new();
	fakehost_config(h, "templates", tdir);
	fakehost_config(h, "log_dir", ldir);
	fakehost_config(h, "progress", "10s");
	fakehost_config(h, "error_burst", "2");
	fakehost_config(h, "kill_grace", "5s");
	argv_seen[0] = varfile_seen[0] = '\0';
	varfile_mode = 0;
	starts = 0;
}

static void teardown(void)
{
	fakehost_unload(h, NULL);
	fakehost_free(h);
	test_cleanup_dir(dir);
	free(tdir);
	free(ldir);
}

static const char *only_of(const struct opsbot_process_options *o)
{
	for (int i = 0; o->argv[i]; i++)
		if (!strncmp(o->argv[i], "-only=", 6))
			return o->argv[i] + 6;
	return "";
}

static void artifact(struct fakehost_script *s, long at, const char *name)
{
	char line[256];

	snprintf(line, sizeof(line), "2,%s,artifact-count,1", name);
	fakehost_script_stdout(s, at, line);
	snprintf(line, sizeof(line), "2,%s,artifact,0,string,built %s", name,
		 name);
	fakehost_script_stdout(s, at, line);
}

static void script(const struct opsbot_process_options *o,
		   struct fakehost_script *s, void *data)
{
	const char *only = only_of(o);
	char line[256];
	size_t n = 0;

	starts++;
	for (int i = 0; o->argv[i]; i++) {
		n += (size_t)snprintf(argv_seen + n, sizeof(argv_seen) - n,
				      "%s ", o->argv[i]);
		if (!strncmp(o->argv[i], "-var-file=", 10) &&
		    strstr(o->argv[i], "/tmp-")) {
			struct stat st;
			FILE *f = fopen(o->argv[i] + 10, "r");

			if (f) {
				size_t k = fread(varfile_seen, 1,
						 sizeof(varfile_seen) - 1, f);
				varfile_seen[k] = '\0';
				fclose(f);
			}
			if (stat(o->argv[i] + 10, &st) == 0)
				varfile_mode = (int)(st.st_mode & 0777);
		}
	}
	ck_assert_int_eq(o->cancel_signal, SIGINT);
	if (!strcmp(only, "flood")) {
		/* 10,000 lines over 100 s: a step every 10 ms, every tenth
		 * an error line (provisioner stderr) */
		for (long i = 0; i < 10000; i++) {
			snprintf(line, sizeof(line),
				 "1,,ui,%s,==> flood: step %ld",
				 i % 10 == 9 ? "error" : "say", i);
			fakehost_script_stdout(s, i * 10, line);
		}
		artifact(s, 100000, "flood");
		fakehost_script_exit(s, 100001, 0);
		return;
	}
	if (!strcmp(only, "a")) {
		/* runs until interrupted, then cleans up for 2 s */
		fakehost_script_stdout(s, 0, "1,,ui,say,==> a: ready");
		fakehost_script_stdout(s, 1,
				       "1,,ui,message,    a: pw is "
				       "hunter2-xyz");
		fakehost_script_on(s, SIGINT);
		fakehost_script_stdout(
		    s, 0,
		    "1,,ui,error,Cancelling build after receiving interrupt");
		for (int i = 1; i <= 4; i++) {
			snprintf(line, sizeof(line),
				 "1,,ui,say,==> a: clean %d", i);
			fakehost_script_stdout(s, i * 500, line);
		}
		fakehost_script_stdout(s, 2000,
				       "1,,ui,say,Cleanly cancelled builds "
				       "after being interrupted.");
		fakehost_script_exit(s, 2001, 1);
		return;
	}
	/* "b": quick */
	fakehost_script_stdout(s, 10, "1,,ui,say,==> b: building");
	artifact(s, 100, "b");
	fakehost_script_exit(s, 101, 0);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(test_flood_is_throttled)
{
	const char *out;
	int steps, errors;

	fakehost_on_process(h, script, NULL);
	ck_assert_int_eq(fakehost_load(h, &opsbot_plugin), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(h, "build t flood"), OPSBOT_OK);
	fakehost_run(h, 200000);
	out = fakehost_output(h);
	ck_assert_msg(strstr(out, "say #test packer job 1 t/flood: ok "), "%s",
		      out);
	/* 9,000 say lines in 100 s, progress every 10 s: at most 11 */
	steps = count(out, "t/flood: ==> flood: step");
	errors = count(out, "t/flood: ! ==> flood: step");
	ck_assert_msg(steps >= 5 && steps <= 11, "%d step lines", steps);
	/* 1,000 error lines: the burst of 2 at once, then one a 10 s
	 * refill at once, the rest share the progress line */
	ck_assert_msg(errors >= 2 && errors <= 2 + 11 + 11, "%d errors",
		      errors);
	/* nothing after the final line */
	ck_assert_ptr_null(strstr(strstr(out, "t/flood: ok "), "step"));
}
END_TEST

START_TEST(test_lock_released_when_the_process_is_gone)
{
	const char *out;
	char *log, *p;

	fakehost_on_process(h, script, NULL);
	ck_assert_int_eq(fakehost_load(h, &opsbot_plugin), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(h, "build t a,b"), OPSBOT_OK);
	fakehost_run(h, 1000);
	/* both type null: one lock, b waits */
	ck_assert_int_eq(fakehost_process_count(h), 1);
	out = fakehost_output(h);
	ck_assert(strstr(out, "job 2 t/b: waiting for lock null (position 1)"));
	ck_assert_int_eq(fakehost_command(h, "cancel 1"), OPSBOT_OK);
	ck_assert(strstr(fakehost_output(h), "reply cancelling job 1"));
	/* clean-up runs for 2 s: b must not start meanwhile */
	fakehost_advance(h, 1900);
	ck_assert_int_eq(fakehost_process_count(h), 1);
	fakehost_run(h, 5000);
	ck_assert_int_eq(fakehost_process_count(h), 2);
	out = fakehost_output(h);
	ck_assert_msg(strstr(out, "say #test packer job 1 t/a: cancelled "),
		      "%s", out);
	ck_assert(strstr(out, "say #test packer job 2 t/b: ok "));
	/* the cancel came before b started, the end of a before that */
	p = strstr(out, "t/a: cancelled");
	ck_assert_ptr_nonnull(strstr(p, "job 2 t/b: started"));
	ck_assert(strstr(out, "say #test packer t: "));
	/* clean-up lines after the interrupt are in a's log */
	log = xasprintf("%s/job-1.log", ldir);
	{
		FILE *f = fopen(log, "r");
		char buf[8192];
		size_t n;

		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		ck_assert(strstr(buf, "==> a: clean 4"));
		ck_assert(strstr(buf, "Cleanly cancelled builds"));
		/* the secret of another test never applies here: plain */
		ck_assert(strstr(buf, "pw is hunter2-xyz"));
	}
	free(log);
}
END_TEST

START_TEST(test_sensitive_variable)
{
	const char *out;
	char *log;

	fakehost_on_process(h, script, NULL);
	ck_assert_int_eq(fakehost_load(h, &opsbot_plugin), OPSBOT_OK);
	/* typed in a channel: refused, nothing starts */
	ck_assert_int_eq(fakehost_command(h, "build t a pw=hunter2-xyz"),
			 OPSBOT_ERR);
	ck_assert_int_eq(fakehost_process_count(h), 0);
	ck_assert(strstr(fakehost_output(h), "'pw' is sensitive"));
	ck_assert_ptr_null(strstr(fakehost_output(h), "hunter2"));
	/* in private: taken, through a 0600 var-file */
	fakehost_asker(h, OPSBOT_ORIGIN_PRIVATE, "tester", "tester", NULL);
	fakehost_config(h, "channel", "#builds");
	ck_assert_int_eq(fakehost_reconfigure(h), OPSBOT_OK);
	ck_assert_int_eq(
	    fakehost_command(h, "build t a pw=hunter2-xyz greeting=yo"),
	    OPSBOT_OK);
	fakehost_run(h, 100);
	ck_assert_int_eq(starts, 1);
	ck_assert_ptr_null(strstr(argv_seen, "hunter2"));
	ck_assert(strstr(argv_seen, "-var greeting=yo "));
	ck_assert_str_eq(varfile_seen, "{\"pw\":\"hunter2-xyz\"}");
	ck_assert_int_eq(varfile_mode, 0600);
	ck_assert_int_eq(fakehost_command(h, "cancel 1"), OPSBOT_OK);
	fakehost_run(h, 10000);
	out = fakehost_output(h);
	ck_assert_msg(strstr(out, "say #builds packer job 1 t/a: cancelled"),
		      "%s", out);
	ck_assert_ptr_null(strstr(out, "hunter2"));
	log = xasprintf("%s/job-1.log", ldir);
	{
		FILE *f = fopen(log, "r");
		char buf[8192];
		size_t n;

		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		ck_assert(strstr(buf, "pw is <sensitive>"));
		ck_assert_ptr_null(strstr(buf, "hunter2"));
	}
	free(log);
	/* the var-file and its directory are gone */
	{
		char *tmp = strstr(argv_seen, "-var-file=");
		char path[512];

		ck_assert_ptr_nonnull(tmp);
		sscanf(tmp + 10, "%511s", path);
		ck_assert_int_ne(access(path, F_OK), 0);
	}
}
END_TEST

static Suite *packer_plugin_suite(void)
{
	Suite *s = suite_create("packer_plugin");
	TCase *tc = tcase_create("plugin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_flood_is_throttled);
	tcase_add_test(tc, test_lock_released_when_the_process_is_gone);
	tcase_add_test(tc, test_sensitive_variable);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(packer_plugin_suite)
