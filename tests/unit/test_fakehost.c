/*
 * test_fakehost.c - the fake host itself, driven through its api table
 * with small callbacks: jobs (order of messages, cancel before and while
 * running, time limits, the per-plugin limit), scripted processes (lines
 * in virtual time, reactions to the cancel signal, SIGKILL after the
 * grace, time limits), fd watches, webhooks (routes, limits, real token
 * and HMAC checks), state and seen_before, progress lines, config
 * sub-sections and reconfigure, commands with confirmation, unload
 * policies, and one final callback per operation whatever happens.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check_main.h"
#include "../lib/fakehost.h"

static struct fakehost *host;
static const struct opsbot_api *api;
static struct opsbot_plugin *self;
static char trace[8192];

/* Appends one "word" to the trace, with the virtual time since start. */
static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec(const char *fmt, ...)
{
	size_t n = strlen(trace);
	va_list ap;

	if (n)
		n += (size_t)snprintf(trace + n, sizeof(trace) - n, " ");
	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

static long t(void)
{
	return (long)(fakehost_now(host) - 1000000);
}

static void setup(void)
{
	host = fakehost_new();
	api = fakehost_api(host);
	self = fakehost_plugin(host);
	trace[0] = '\0';
}

static void teardown(void)
{
	fakehost_free(host);
}

/* ------------------------------------------------------------------------ */
/* Jobs                                                                       */

static int64_t job_id;
static int cancel_in_message; /* cancel when this message arrives */

static void work_posting(struct opsbot_job *job, void *data)
{
	rec("work@%ld", t());
	api->job_post(job, "a", 1);
	api->job_post(job, "b", 1);
	rec("cancelled=%d", api->job_is_cancelled(job));
	api->job_post(job, "c", 1);
}

static void job_message(struct opsbot_plugin *p, const void *msg, size_t len,
			void *data)
{
	rec("msg:%.*s", (int)len, (const char *)msg);
	if (cancel_in_message && ((const char *)msg)[0] == cancel_in_message)
		rec("cancel=%d", api->cancel(p, job_id));
}

static void job_done(struct opsbot_plugin *p, int status, void *data)
{
	rec("done:%d@%ld", status, t());
}

static void job_hook(struct opsbot_plugin *p, void *data)
{
	rec("hook");
}

static struct opsbot_job_options job_opts(opsbot_job_work_fn *work)
{
	struct opsbot_job_options o = {
	    .size = sizeof(o),
	    .work = work,
	    .done = job_done,
	    .message = job_message,
	    .cancel = job_hook,
	    .name = "test job",
	};
	return o;
}

START_TEST(test_job_messages_in_order)
{
	struct opsbot_job_options o = job_opts(work_posting);

	job_id = api->job_start(self, &o, NULL);
	ck_assert_int_gt(job_id, 0);
	ck_assert_str_eq(trace, ""); /* nothing before the loop runs */
	fakehost_run(host, 0);
	ck_assert_str_eq(trace,
			 "work@0 msg:a msg:b cancelled=0 msg:c done:0@0");
	ck_assert_int_eq(api->cancel(self, job_id), OPSBOT_ENOENT);
	fakehost_run(host, 1000);
	ck_assert_str_eq(trace,
			 "work@0 msg:a msg:b cancelled=0 msg:c done:0@0");
}
END_TEST

START_TEST(test_job_cancel_before_start)
{
	struct opsbot_job_options o = job_opts(work_posting);

	job_id = api->job_start(self, &o, NULL);
	ck_assert_int_eq(api->cancel(self, job_id), OPSBOT_OK);
	ck_assert_int_eq(api->cancel(self, job_id), OPSBOT_OK); /* twice */
	ck_assert_str_eq(trace, ""); /* never from inside cancel() */
	fakehost_run(host, 0);
	ck_assert_str_eq(trace, "done:-3@0");
	ck_assert_int_eq(api->cancel(self, job_id), OPSBOT_ENOENT);
	ck_assert_int_eq(fakehost_jobs_active(host), 0);
}
END_TEST

START_TEST(test_job_cancel_while_running)
{
	struct opsbot_job_options o = job_opts(work_posting);

	cancel_in_message = 'a';
	job_id = api->job_start(self, &o, NULL);
	fakehost_run(host, 0);
	cancel_in_message = 0;
	/* the hook runs while the work is on the stack, once; the work goes
	 * on, its messages still arrive, done comes last */
	ck_assert_str_eq(trace, "work@0 msg:a cancel=0 hook msg:b cancelled=1 "
				"msg:c done:-3@0");
}
END_TEST

static void cancel_from_test(struct fakehost *h, int64_t id, const void *msg,
			     size_t len, void *data)
{
	rec("test-saw:%.*s", (int)len, (const char *)msg);
	if (((const char *)msg)[0] == 'b') {
		rec("cancel=%d", api->cancel(self, id));
		rec("again=%d", api->cancel(self, id));
	}
}

START_TEST(test_job_cancel_from_test_hook)
{
	struct opsbot_job_options o = job_opts(work_posting);

	fakehost_on_job_message(host, cancel_from_test, NULL);
	job_id = api->job_start(self, &o, NULL);
	fakehost_run(host, 0);
	ck_assert_str_eq(trace,
			 "work@0 msg:a test-saw:a msg:b test-saw:b cancel=0 "
			 "again=0 hook cancelled=1 msg:c test-saw:c done:-3@0");
}
END_TEST

/* A work function that takes 1 s of virtual time in two steps. */
static void work_slow(struct opsbot_job *job, void *data)
{
	rec("start@%ld/active=%d", t(), fakehost_jobs_active(host));
	fakehost_advance(host, 500);
	fakehost_advance(host, 500);
	rec("end@%ld/cancelled=%d", t(), api->job_is_cancelled(job));
}

START_TEST(test_job_time_limit)
{
	struct opsbot_job_options o = job_opts(work_slow);

	o.timeout_ms = 700;
	job_id = api->job_start(self, &o, NULL);
	fakehost_run(host, 5000);
	ck_assert_str_eq(trace, "start@0/active=1 hook end@1000/cancelled=1 "
				"done:-4@1000");
}
END_TEST

START_TEST(test_job_time_limit_while_waiting)
{
	struct opsbot_job_options o = job_opts(work_slow);
	struct opsbot_job_options quick = job_opts(work_slow);

	fakehost_job_limit(host, 1);
	o.timeout_ms = 0;
	api->job_start(self, &o, NULL);
	quick.timeout_ms = 300;
	api->job_start(self, &quick, NULL);
	fakehost_run(host, 5000);
	/* the second never ran: its limit passed while it waited */
	ck_assert_str_eq(trace, "start@0/active=1 done:-4@300 "
				"end@1000/cancelled=0 done:0@1000");
}
END_TEST

START_TEST(test_job_limit)
{
	struct opsbot_job_options o = job_opts(work_slow);

	fakehost_job_limit(host, 2);
	for (int i = 0; i < 3; i++)
		ck_assert_int_gt(api->job_start(self, &o, NULL), 0);
	ck_assert_int_eq(fakehost_jobs_active(host), 2);
	fakehost_run(host, 10000);
	/* two at once (the second nested in the first's time), the third
	 * only after one of them finished */
	ck_assert_str_eq(trace, "start@0/active=2 start@0/active=2 "
				"end@1000/cancelled=0 done:0@1000 "
				"start@1000/active=2 end@2000/cancelled=0 "
				"done:0@2000 end@2000/cancelled=0 done:0@2000");
	ck_assert_int_eq(fakehost_jobs_active(host), 0);
}
END_TEST

static struct opsbot_job *kept_job;

static void work_keep(struct opsbot_job *job, void *data)
{
	kept_job = job;
}

START_TEST(test_job_bad_arguments)
{
	struct opsbot_job_options o = job_opts(work_keep);
	struct opsbot_job_options bad = o;

	ck_assert_int_eq(api->job_start(self, NULL, NULL), OPSBOT_EINVAL);
	bad.size = 0;
	ck_assert_int_eq(api->job_start(self, &bad, NULL), OPSBOT_EINVAL);
	bad.size = sizeof(bad) - 1;
	ck_assert_int_eq(api->job_start(self, &bad, NULL), OPSBOT_EINVAL);
	bad = o;
	bad.work = NULL;
	ck_assert_int_eq(api->job_start(self, &bad, NULL), OPSBOT_EINVAL);
	bad = o;
	bad.timeout_ms = -1;
	ck_assert_int_eq(api->job_start(self, &bad, NULL), OPSBOT_EINVAL);
	ck_assert_int_eq(api->job_post(NULL, "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->job_is_cancelled(NULL), 0);
	api->job_start(self, &o, NULL);
	fakehost_run(host, 0);
	/* after the final callback the job takes no more messages */
	ck_assert_int_eq(api->job_post(kept_job, "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->cancel(self, 99999), OPSBOT_ENOENT);
	fakehost_mode(host, OPSBOT_MODE_CHECK);
	ck_assert_int_eq(api->job_start(self, &o, NULL), OPSBOT_EINVAL);
}
END_TEST

static void work_no_message(struct opsbot_job *job, void *data)
{
	rec("post=%d", api->job_post(job, "x", 1));
	rec("huge=%d", api->job_post(job, "x", 2 * 1024 * 1024));
	rec("null=%d", api->job_post(job, NULL, 3));
}

START_TEST(test_job_post_refused)
{
	struct opsbot_job_options o = job_opts(work_no_message);

	api->job_start(self, &o, NULL);
	o.message = NULL;
	api->job_start(self, &o, NULL);
	fakehost_run(host, 0);
	/* the message arrives while job_post() runs */
	ck_assert_str_eq(trace, "msg:x post=0 huge=-5 null=-5 done:0@0 "
				"post=-5 huge=-5 null=-5 done:0@0");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Processes                                                                  */

static void proc_event(struct opsbot_plugin *p,
		       const struct opsbot_process_event *ev, void *data)
{
	switch (ev->kind) {
	case OPSBOT_PROCESS_STDOUT:
		rec("out:%s@%ld", ev->line, t());
		break;
	case OPSBOT_PROCESS_STDERR:
		rec("err:%s@%ld", ev->line, t());
		break;
	case OPSBOT_PROCESS_EXIT:
		rec("exit:%d/%d/%d@%ld", ev->status, ev->exit_code,
		    ev->term_signal, t());
		break;
	}
}

static char seen_opts[512];

/* A packer-like build: two lines, then exit 0 at 10 s; SIGINT makes it
 * clean up for 2 s and exit 130; SIGUSR1 prints a status line. */
static void packer_script(const struct opsbot_process_options *o,
			  struct fakehost_script *s, void *data)
{
	const char *mode = data;

	snprintf(seen_opts, sizeof(seen_opts),
		 "%s %s cwd=%s env=%s sig=%d "
		 "grace=%ld log=%s timeout=%ld",
		 o->argv[0], o->argv[1], o->cwd, o->env ? o->env[0] : "-",
		 o->cancel_signal, o->kill_grace_ms,
		 o->log_path ? o->log_path : "-", o->timeout_ms);
	if (mode && !strcmp(mode, "missing")) {
		fakehost_script_refuse(s, OPSBOT_ENOENT);
		return;
	}
	fakehost_script_stdout(s, 100, "building");
	fakehost_script_stderr(s, 1000, "warning");
	fakehost_script_exit(s, 10000, 0);
	if (mode && !strcmp(mode, "ignore")) {
		fakehost_script_ignore(s, SIGINT);
		return;
	}
	fakehost_script_on(s, SIGINT);
	fakehost_script_stdout(s, 0, "cleaning up");
	fakehost_script_stdout(s, 1000, "removing vm");
	fakehost_script_exit(s, 2000, 130);
	fakehost_script_on(s, SIGUSR1);
	fakehost_script_stdout(s, 0, "status 40%");
}

static int64_t start_packer(const char *mode, long timeout_ms)
{
	static const char *const argv[] = {"packer", "build", NULL};
	static const char *const env[] = {"PACKER_LOG=1", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(o),
	    .argv = argv,
	    .env = env,
	    .cwd = "/srv/images",
	    .cancel_signal = SIGINT,
	    .kill_grace_ms = 3000,
	    .log_path = "/tmp/build.log",
	    .timeout_ms = timeout_ms,
	};

	fakehost_on_process(host, packer_script, (void *)mode);
	return api->process_start(self, &o, proc_event, NULL);
}

START_TEST(test_process_runs_script)
{
	int64_t id = start_packer(NULL, 0);

	ck_assert_int_gt(id, 0);
	ck_assert_str_eq(seen_opts, "packer build cwd=/srv/images "
				    "env=PACKER_LOG=1 sig=2 grace=3000 "
				    "log=/tmp/build.log timeout=0");
	fakehost_run(host, 60000);
	ck_assert_str_eq(trace, "out:building@100 err:warning@1000 "
				"exit:0/0/0@10000");
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_ENOENT);
	ck_assert_int_eq(api->process_signal(self, id, SIGINT), OPSBOT_ENOENT);
	ck_assert_int_eq(fakehost_process_count(host), 1);
}
END_TEST

START_TEST(test_process_cancel_reaction)
{
	int64_t id = start_packer(NULL, 0);

	fakehost_run(host, 500);
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_OK);
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_OK);
	fakehost_run(host, 60000);
	/* the clean-up lines stream, EXIT last with the code it chose */
	ck_assert_str_eq(trace, "out:building@100 out:cleaning up@500 "
				"err:warning@1000 out:removing vm@1500 "
				"exit:-3/130/0@2500");
}
END_TEST

START_TEST(test_process_ignores_cancel)
{
	int64_t id = start_packer("ignore", 0);

	fakehost_run(host, 500);
	api->cancel(self, id);
	fakehost_run(host, 60000);
	/* SIGKILL after kill_grace_ms (3 s), before its own exit at 10 s */
	ck_assert_str_eq(trace, "out:building@100 err:warning@1000 "
				"exit:-3/-1/9@3500");
}
END_TEST

START_TEST(test_process_time_limit)
{
	start_packer(NULL, 4000);
	fakehost_run(host, 60000);
	ck_assert_str_eq(trace, "out:building@100 err:warning@1000 "
				"out:cleaning up@4000 out:removing vm@5000 "
				"exit:-4/130/0@6000");
}
END_TEST

START_TEST(test_process_signal)
{
	int64_t id = start_packer(NULL, 0);

	fakehost_run(host, 200);
	ck_assert_int_eq(api->process_signal(self, id, SIGUSR1), OPSBOT_OK);
	ck_assert_int_eq(api->process_signal(self, id, 0), OPSBOT_EINVAL);
	ck_assert_int_eq(api->process_signal(self, id, 999), OPSBOT_EINVAL);
	ck_assert_int_eq(api->process_signal(self, id + 1000, SIGUSR1),
			 OPSBOT_ENOENT);
	fakehost_run(host, 2000);
	/* a signal without a reaction kills it; the plugin sent it, so,
	 * as in the host, that is no error: OK with term_signal 1 */
	ck_assert_int_eq(api->process_signal(self, id, SIGHUP), OPSBOT_OK);
	fakehost_run(host, 60000);
	ck_assert_str_eq(trace, "out:building@100 out:status 40%@200 "
				"err:warning@1000 exit:0/-1/1@2200");
}
END_TEST

static void long_line_script(const struct opsbot_process_options *o,
			     struct fakehost_script *s, void *data)
{
	static char line[40000];

	memset(line, 'x', sizeof(line) - 1);
	fakehost_script_stdout(s, 0, line);
	fakehost_script_exit(s, 0, 3);
}

static void proc_sizes(struct opsbot_plugin *p,
		       const struct opsbot_process_event *ev, void *data)
{
	if (ev->kind == OPSBOT_PROCESS_EXIT)
		rec("exit:%d/%d", ev->status, ev->exit_code);
	else
		rec("%zu/%d", ev->line_len, ev->truncated);
}

START_TEST(test_process_long_line_and_refusals)
{
	static const char *const argv[] = {"tool", NULL};
	static const char *const bad_env[] = {"NOEQUALS", NULL};
	struct opsbot_process_options o = {.size = sizeof(o), .argv = argv};
	struct opsbot_process_options bad = o;

	/* no script: "no such program" */
	ck_assert_int_eq(api->process_start(self, &o, proc_event, NULL),
			 OPSBOT_ENOENT);
	fakehost_on_process(host, long_line_script, NULL);
	ck_assert_int_eq(api->process_start(self, NULL, proc_event, NULL),
			 OPSBOT_EINVAL);
	bad.size = 8;
	ck_assert_int_eq(api->process_start(self, &bad, proc_event, NULL),
			 OPSBOT_EINVAL);
	bad = o;
	bad.argv = NULL;
	ck_assert_int_eq(api->process_start(self, &bad, proc_event, NULL),
			 OPSBOT_EINVAL);
	bad = o;
	bad.env = bad_env;
	ck_assert_int_eq(api->process_start(self, &bad, proc_event, NULL),
			 OPSBOT_EINVAL);
	ck_assert_int_eq(api->process_start(self, &o, NULL, NULL),
			 OPSBOT_EINVAL);
	ck_assert_int_gt(api->process_start(self, &o, proc_sizes, NULL), 0);
	fakehost_run(host, 0);
	ck_assert_str_eq(trace, "16384/1 16384/1 7231/0 exit:0/3");
	trace[0] = '\0';
	ck_assert_int_eq(start_packer("missing", 0), OPSBOT_ENOENT);
	fakehost_run(host, 60000);
	ck_assert_str_eq(trace, "");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* fd watches                                                                 */

static void fd_event(struct opsbot_plugin *p, int64_t id, int fd,
		     unsigned events, int status, void *data)
{
	rec("fd:%u/%d", events, status);
}

START_TEST(test_fd_watch)
{
	int fds[2];
	int64_t id;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(
	    api->fd_watch(self, -1, OPSBOT_FD_READABLE, fd_event, NULL),
	    OPSBOT_EINVAL);
	ck_assert_int_eq(
	    api->fd_watch(self, fds[0], OPSBOT_FD_ERROR, fd_event, NULL),
	    OPSBOT_EINVAL);
	ck_assert_int_eq(
	    api->fd_watch(self, 987, OPSBOT_FD_READABLE, fd_event, NULL),
	    OPSBOT_EINVAL); /* not an open fd */
	id = api->fd_watch(self, fds[0], OPSBOT_FD_READABLE, fd_event, NULL);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(fakehost_fd_ready(host, fds[0], OPSBOT_FD_READABLE),
			 1);
	ck_assert_int_eq(fakehost_fd_ready(host, fds[0], OPSBOT_FD_WRITABLE),
			 0); /* not asked for */
	ck_assert_int_eq(fakehost_fd_ready(host, fds[1], OPSBOT_FD_READABLE),
			 0);
	ck_assert_int_eq(api->fd_watch_update(self, id, 0), OPSBOT_OK);
	ck_assert_int_eq(fakehost_fd_ready(host, fds[0], OPSBOT_FD_READABLE),
			 0);
	ck_assert_int_eq(api->fd_watch_update(self, id, 8), OPSBOT_EINVAL);
	ck_assert_int_eq(api->fd_watch_update(self, id + 77, 1), OPSBOT_ENOENT);
	api->fd_watch_update(self, id, OPSBOT_FD_READABLE);
	/* an error is always reported, then the watch rests */
	fakehost_fd_ready(host, fds[0], OPSBOT_FD_ERROR | OPSBOT_FD_READABLE);
	ck_assert_int_eq(fakehost_fd_ready(host, fds[0], OPSBOT_FD_READABLE),
			 0);
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_OK);
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_OK);
	ck_assert_int_eq(api->fd_watch_update(self, id, 1), OPSBOT_ENOENT);
	ck_assert_int_eq(fakehost_fd_ready(host, fds[0], OPSBOT_FD_READABLE),
			 0);
	fakehost_run(host, 0);
	ck_assert_int_eq(api->cancel(self, id), OPSBOT_ENOENT);
	fakehost_run(host, 1000);
	ck_assert_str_eq(trace, "fd:1/0 fd:5/0 fd:0/-3");
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Webhooks                                                                   */

static int hook_fn(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		   void *data)
{
	const char *secret = data;

	rec("hook:%s:%s:%s", hook->method, hook->query, hook->body);
	if (secret && api->webhook_verify_hmac(hook, "X-Hub-Signature-256",
					       "sha256=", secret) != OPSBOT_OK)
		return 403;
	if (api->webhook_verify_token(hook, "X-Gitlab-Token", "token",
				      "s3cret") != OPSBOT_OK &&
	    !secret)
		return 401;
	api->webhook_respond(hook, "application/json", "{\"ok\":1}", 8);
	return 202;
}

static struct opsbot_webhook_route route(const char *path, void *data)
{
	struct opsbot_webhook_route r = {
	    .size = sizeof(r),
	    .method = "POST",
	    .path = path,
	    .fn = hook_fn,
	    .data = data,
	    .max_body_bytes = 16,
	    .rate_per_minute = 60,
	    .burst = 2,
	};
	return r;
}

START_TEST(test_webhook_routes_and_limits)
{
	struct opsbot_webhook_route r = route("/hooks/plugin/ci", NULL);
	const char *good[] = {"X-Gitlab-Token: s3cret", NULL};
	const char *bad[] = {"X-Gitlab-Token: s3cre", NULL};

	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_OK);
	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_EEXIST);
	r.path = "/hooks/other";
	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_EINVAL);
	r.path = "/hooks/plugin/x?y";
	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_EINVAL);
	r.path = "/hooks/plugin/y";
	r.size = 4;
	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_EINVAL);
	ck_assert_int_eq(api->webhook_add(self, NULL), OPSBOT_EINVAL);

	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin/ci", good, "{}"),
	    202);
	ck_assert_str_eq(fakehost_webhook_body(host), "{\"ok\":1}");
	ck_assert_str_eq(fakehost_webhook_content_type(host),
			 "application/json");
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin/ci", bad, "{}"), 401);
	ck_assert_str_eq(fakehost_webhook_body(host), "Status");
	/* the burst of 2 is used up: 429, handler not called */
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/plugin/ci?token=s3cret", NULL,
					  "{}"),
			 429);
	ck_assert_str_eq(fakehost_webhook_retry_after(host), "1");
	fakehost_advance(host, 1000); /* one token back */
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/plugin/ci?a=1&token=s3cr%65t",
					  NULL, "{}"),
			 202);
	ck_assert_ptr_null(fakehost_webhook_retry_after(host));
	fakehost_advance(host, 5000);
	ck_assert_int_eq(fakehost_webhook(host, "POST", "/hooks/plugin/ci",
					  good, "this body is far too long"),
			 413);
	ck_assert_int_eq(
	    fakehost_webhook(host, "GET", "/hooks/plugin/ci", good, NULL), 405);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/nothing", good, NULL), 404);
	ck_assert_str_eq(fakehost_webhook_body(host), "Not Found");
	ck_assert_int_eq(fakehost_webhook(host, "GET", "/healthz", NULL, NULL),
			 200);
	ck_assert_str_eq(trace, "hook:POST::{} hook:POST::{} "
				"hook:POST:a=1&token=s3cr%65t:{}");
}
END_TEST

static void hmac_header(const char *secret, const char *body, int upper,
			char *out, size_t size)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t n = (size_t)snprintf(out, size, "X-Hub-Signature-256: sha256=");

	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	     (const unsigned char *)body, strlen(body), mac, &len);
	for (unsigned i = 0; i < len; i++)
		n += (size_t)snprintf(out + n, size - n,
				      upper ? "%02X" : "%02x", mac[i]);
}

START_TEST(test_webhook_hmac)
{
	struct opsbot_webhook_route r = route("/hooks/plugin", "key");
	char sig[128], upper[128], wrong[128];
	const char *h1[] = {sig, NULL}, *h2[] = {upper, NULL};
	const char *h3[] = {wrong, NULL};
	const char *h4[] = {"X-Hub-Signature-256: sha1=00", NULL};

	r.rate_per_minute = 0;
	ck_assert_int_eq(api->webhook_add(self, &r), OPSBOT_OK);
	hmac_header("key", "{\"a\":1}", 0, sig, sizeof(sig));
	hmac_header("key", "{\"a\":1}", 1, upper, sizeof(upper));
	hmac_header("other", "{\"a\":1}", 0, wrong, sizeof(wrong));
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", h1, "{\"a\":1}"),
	    202);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", h2, "{\"a\":1}"),
	    202);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", h1, "{\"a\":2}"),
	    403);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", h3, "{\"a\":1}"),
	    403);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", h4, "{\"a\":1}"),
	    403);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/plugin", NULL, "{\"a\":1}"),
	    403);
	/* and a stale hook pointer is ignored */
	api->webhook_respond(NULL, "text/plain", "x", 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* State and seen_before                                                      */

static int each_fn(const char *key, const void *value, size_t len, void *data)
{
	int *stop_after = data;

	rec("%s=%.*s", key, (int)len, (const char *)value);
	/* deleting while walking is safe */
	api->state_delete(self, key);
	return --*stop_after == 0;
}

START_TEST(test_state)
{
	char long_key[300], *value = NULL;
	size_t len = 0;
	int stop_after = 2;

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ck_assert_int_eq(api->state_set(self, "b/2", "two", 3), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(self, "b/1", "one", 3), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(self, "a", "x\0y", 3), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(self, "b/3", "three", 5), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(self, "b/1", "uno", 3), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(self, "", "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_set(self, long_key, "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_set(self, "n", NULL, 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_get(self, "a", &value, &len), OPSBOT_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(value, "x\0y", 4), 0); /* NUL after it */
	free(value);
	ck_assert_int_eq(api->state_get(self, "zz", &value, &len),
			 OPSBOT_ENOENT);
	ck_assert_int_eq(api->state_each(self, "b/", each_fn, &stop_after), 2);
	ck_assert_str_eq(trace, "b/1=uno b/2=two");
	ck_assert_int_eq(api->state_delete(self, "b/1"), OPSBOT_ENOENT);
	stop_after = 99;
	ck_assert_int_eq(api->state_each(self, "", each_fn, &stop_after), 2);
	ck_assert_str_eq(trace, "b/1=uno b/2=two a=x b/3=three");
}
END_TEST

START_TEST(test_seen_before)
{
	ck_assert_int_eq(api->seen_before(self, "delivery-1", 60000), 0);
	ck_assert_int_eq(api->seen_before(self, "delivery-1", 60000), 1);
	ck_assert_int_eq(api->seen_before(self, "delivery-2", 1000), 0);
	fakehost_advance(host, 59999);
	ck_assert_int_eq(api->seen_before(self, "delivery-1", 60000), 1);
	ck_assert_int_eq(api->seen_before(self, "delivery-2", 1000), 0);
	fakehost_advance(host, 1);
	ck_assert_int_eq(api->seen_before(self, "delivery-1", 60000), 0);
	ck_assert_int_eq(api->seen_before(self, "", 1000), OPSBOT_EINVAL);
	ck_assert_int_eq(api->seen_before(self, "x", 0), OPSBOT_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Progress, config                                                           */

START_TEST(test_progress_latest_wins)
{
	api->say_progress(self, "#ops", "build-1", 10000, "10%%");
	fakehost_advance(host, 1000);
	api->say_progress(self, "#ops", "build-1", 10000, "20%%");
	api->say_progress(self, "#ops", "build-2", 10000, "other");
	fakehost_advance(host, 1000);
	api->say_progress(self, "#ops", "build-1", 10000, "30%%");
	ck_assert_str_eq(fakehost_output(host),
			 "say #ops 10%\nsay #ops other\n");
	fakehost_run(host, 60000);
	ck_assert_str_eq(fakehost_output(host),
			 "say #ops 10%\nsay #ops other\nsay #ops 30%\n");
	fakehost_output_clear(host);
	fakehost_advance(host, 1000);
	api->say_progress(self, "#ops", "build-2", 10000, "held");
	api->progress_end(self, "#ops", "build-2");
	api->say(self, "#ops", "build-2 done");
	api->say_progress(self, "bad target", "k", 0, "x");
	fakehost_run(host, 60000);
	ck_assert_str_eq(fakehost_output(host), "say #ops held\nsay #ops "
						"build-2 done\nlog "
						"say_progress: invalid target "
						"or key\n");
}
END_TEST

static int reconfigure_rc;

static int plugin_init(struct opsbot_plugin *p, const struct opsbot_api *a)
{
	rec("init");
	return OPSBOT_OK;
}

static int plugin_reconfigure(struct opsbot_plugin *p)
{
	rec("reconfigure:%s", api->config_string(p, "jenkins.main", "url"));
	return reconfigure_rc;
}

static void plugin_fini(struct opsbot_plugin *p)
{
	rec("fini");
}

static const struct opsbot_config_key ci_keys[] = {
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, "#ci", 0, 0, 0, ""),
    OPSBOT_CONFIG_END,
};
static const struct opsbot_config_key jenkins_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0, ""),
    OPSBOT_CONFIG_KEY("poll", OPSBOT_CONFIG_DURATION, "1m", 0, 0, 0, ""),
    OPSBOT_CONFIG_KEY("job", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0, ""),
    OPSBOT_CONFIG_END,
};
static const struct opsbot_config_section ci_sections[] = {
    {sizeof(struct opsbot_config_section), "jenkins", "", jenkins_keys, 0, 0},
    {0},
};

static struct opsbot_plugin_descriptor ci_desc = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "ci",
    .command = "ci",
    .config = ci_keys,
    .sections = ci_sections,
    .init = plugin_init,
    .fini = plugin_fini,
    .reconfigure = plugin_reconfigure,
};

START_TEST(test_config_sections_and_reconfigure)
{
	fakehost_config(host, "jenkins.main.url", "http://main");
	fakehost_config(host, "jenkins.main.job", "a");
	fakehost_config(host, "jenkins.main.job", "b");
	fakehost_config_section(host, "jenkins", "qa");
	fakehost_config(host, "jenkins.main.poll", "5m");
	ck_assert_int_eq(fakehost_load(host, &ci_desc), OPSBOT_OK);
	ck_assert_int_eq(api->config_section_count(self, "jenkins"), 2);
	ck_assert_str_eq(api->config_section_name(self, "jenkins", 0), "main");
	ck_assert_str_eq(api->config_section_name(self, "jenkins", 1), "qa");
	ck_assert_ptr_null(api->config_section_name(self, "jenkins", 2));
	ck_assert_ptr_null(api->config_section_name(self, "jenkins", -1));
	ck_assert_int_eq(api->config_section_count(self, "zuul"), 0);
	ck_assert_int_eq(api->config_list_count(self, "jenkins.main", "job"),
			 2);
	ck_assert_str_eq(api->config_list_item(self, "jenkins.main", "job", 1),
			 "b");
	ck_assert_int_eq(api->config_list_count(self, NULL, "job"), 0);
	ck_assert_int_eq(api->config_duration_ms(self, "jenkins.main", "poll"),
			 300000);
	/* defaults of the descriptor, for existing sections only */
	ck_assert_int_eq(api->config_duration_ms(self, "jenkins.qa", "poll"),
			 60000);
	ck_assert_ptr_null(api->config_string(self, "jenkins.nope", "poll"));
	ck_assert_str_eq(api->config_string(self, NULL, "channel"), "#ci");

	fakehost_config(host, "jenkins.main.url", "http://new");
	reconfigure_rc = OPSBOT_ERR;
	ck_assert_int_eq(fakehost_reconfigure(host), OPSBOT_ERR);
	ck_assert_str_eq(api->config_string(self, "jenkins.main", "url"),
			 "http://main"); /* the old values stay */
	fakehost_config_unset(host, "jenkins.main.url");
	fakehost_config(host, "jenkins.main.url", "http://new");
	reconfigure_rc = OPSBOT_OK;
	ck_assert_int_eq(fakehost_reconfigure(host), OPSBOT_OK);
	ck_assert_str_eq(api->config_string(self, "jenkins.main", "url"),
			 "http://new");
	ck_assert_str_eq(trace, "init reconfigure:http://new "
				"reconfigure:http://new");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Commands                                                                   */

static struct opsbot_request *pending_req;

static int cmd_fn(struct opsbot_plugin *p, struct opsbot_request *req,
		  void *data)
{
	char ex[128];

	rec("%s[%d]", req->command, req->argc);
	for (int i = 0; i < req->argc; i++)
		rec("'%s'", req->argv[i]);
	rec("args='%s' confirmed=%d", req->args, req->confirmed);
	api->command_example(req, ex, sizeof(ex), "status");
	api->reply(req, "%s", ex);
	if (data) {
		pending_req = req;
		return OPSBOT_PENDING;
	}
	return OPSBOT_OK;
}

static int init_commands(struct opsbot_plugin *p, const struct opsbot_api *a)
{
	static const struct opsbot_command cmds[] = {
	    OPSBOT_COMMAND("destroy", "<vm>", "deletes a vm", NULL, 1, 1,
			   cmd_fn, NULL, OPSBOT_COMMAND_CONFIRM, "the vm"),
	    OPSBOT_COMMAND("secret", "", "private", NULL, 0, 0, cmd_fn, NULL,
			   OPSBOT_COMMAND_PRIVATE),
	    OPSBOT_COMMAND("wait", "", "pending", NULL, 0, -1, cmd_fn,
			   (void *)1),
	    OPSBOT_COMMAND("", "", "bare", NULL, 0, -1, cmd_fn, NULL),
	};
	struct opsbot_command bad = cmds[0];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_int_eq(a->command_add(p, &cmds[i]), OPSBOT_OK);
	ck_assert_int_eq(a->command_add(p, &cmds[0]), OPSBOT_EEXIST);
	bad.name = "Bad Name";
	ck_assert_int_eq(a->command_add(p, &bad), OPSBOT_EINVAL);
	bad.name = "small";
	bad.size = 0;
	ck_assert_int_eq(a->command_add(p, &bad), OPSBOT_EINVAL);
	return OPSBOT_OK;
}

START_TEST(test_commands_and_confirmation)
{
	struct opsbot_plugin_descriptor d = ci_desc;
	struct opsbot_command late =
	    OPSBOT_COMMAND("late", "", "", NULL, 0, 0, cmd_fn, NULL);

	d.init = init_commands;
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_OK);
	ck_assert_int_eq(api->command_add(self, &late), OPSBOT_EINVAL);

	/* --yes with nothing to confirm */
	ck_assert_int_eq(fakehost_command(host, "destroy vm1 --yes"),
			 OPSBOT_EPERM);
	ck_assert_int_eq(fakehost_command(host, "destroy vm1"), OPSBOT_OK);
	ck_assert_str_eq(trace, ""); /* asked, not run */
	fakehost_advance(host, 30000);
	ck_assert_int_eq(fakehost_command(host, "destroy --yes vm1"),
			 OPSBOT_OK);
	ck_assert_str_eq(trace, "destroy[1] 'vm1' args='--yes vm1' "
				"confirmed=1");
	ck_assert_str_eq(fakehost_output(host),
			 "error error: nothing to confirm; type !ci destroy "
			 "vm1 first, then the same with --yes from the "
			 "same account\n"
			 "reply this deletes the vm; to confirm, type !ci "
			 "destroy vm1 --yes within 60 s\n"
			 "reply !ci status\n");
	fakehost_output_clear(host);
	trace[0] = '\0';
	/* too late */
	fakehost_command(host, "destroy vm2");
	fakehost_advance(host, 61000);
	ck_assert_int_eq(fakehost_command(host, "destroy vm2 --yes"),
			 OPSBOT_EPERM);
	/* the CLI confirms at once */
	fakehost_asker(host, OPSBOT_ORIGIN_CLI, "me", NULL, NULL);
	ck_assert_int_eq(fakehost_command(host, "destroy vm3 --yes"),
			 OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "destroy"), OPSBOT_EUSAGE);
	ck_assert_int_eq(fakehost_command(host, "secret"), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "some \"quoted words\""),
			 OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "unterminated \"quote"),
			 OPSBOT_EUSAGE);
	ck_assert_str_eq(trace, "destroy[1] 'vm3' args='vm3' confirmed=1 "
				"secret[0] args='' confirmed=0 [2] 'some' "
				"'quoted words' args='some \"quoted words\"' "
				"confirmed=0");
	ck_assert_ptr_nonnull(strstr(fakehost_output(host),
				     "error usage: opsbot run ci destroy <vm>\n"
				     "private opsbot run ci status\n"));
	/* pending, then done (once) */
	ck_assert_int_eq(fakehost_command(host, "wait"), OPSBOT_PENDING);
	ck_assert_int_eq(fakehost_command_status(host), OPSBOT_PENDING);
	api->done(pending_req, OPSBOT_ERR);
	api->done(pending_req, OPSBOT_OK);
	ck_assert_int_eq(fakehost_command_status(host), OPSBOT_ERR);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "secret"), OPSBOT_ENOENT);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Final callbacks, unloading                                                 */

static long timer_fn(struct opsbot_plugin *p, int status, void *data)
{
	rec("timer:%d@%ld", status, t());
	return 1000;
}

static int64_t self_cancelling;

static long timer_cancels_itself(struct opsbot_plugin *p, int status,
				 void *data)
{
	rec("self:%d@%ld", status, t());
	if (status == OPSBOT_OK)
		rec("cancel=%d", api->cancel(p, self_cancelling));
	return 500;
}

static void http_fn(struct opsbot_plugin *p,
		    const struct opsbot_http_response *res, void *data)
{
	rec("http:%d", res->status);
}

START_TEST(test_cancel_all_once_each)
{
	struct opsbot_http_request req = {.size = sizeof(req),
					  .url = "http://x/"};
	struct opsbot_job_options o = job_opts(work_posting);
	int fds[2];
	int64_t timer;

	ck_assert_int_eq(pipe(fds), 0);
	timer = api->timer_start(self, 1000, timer_fn, NULL);
	self_cancelling =
	    api->timer_start(self, 100, timer_cancels_itself, NULL);
	api->http_start(self, &req, http_fn, NULL);
	api->job_start(self, &o, NULL);
	start_packer(NULL, 0);
	api->fd_watch(self, fds[0], OPSBOT_FD_READABLE, fd_event, NULL);
	req.size = 3;
	ck_assert_int_eq(api->http_start(self, &req, http_fn, NULL),
			 OPSBOT_EINVAL);
	fakehost_run(host, 0); /* the job ran; the http answer is due now */
	fakehost_run(host, 1500);
	trace[0] = '\0';
	fakehost_cancel_all(host);
	fakehost_cancel_all(host); /* twice: nothing more */
	ck_assert_int_eq(api->cancel(self, timer), OPSBOT_OK);
	fakehost_run(host, 60000);
	/* in the order cancelled: timers first, then the rest as started */
	ck_assert_str_eq(trace, "timer:-3@1500 out:cleaning up@1500 fd:0/-3 "
				"out:removing vm@2500 exit:-3/130/0@3500");
	ck_assert_int_eq(api->cancel(self, timer), OPSBOT_ENOENT);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_timer_cancels_itself)
{
	self_cancelling =
	    api->timer_start(self, 100, timer_cancels_itself, NULL);
	fakehost_run(host, 10000);
	ck_assert_str_eq(trace, "self:0@100 cancel=0 self:-3@100");
}
END_TEST

static void drain_script(const struct opsbot_process_options *o,
			 struct fakehost_script *s, void *data)
{
	fakehost_script_stdout(s, 1000, "still going");
	fakehost_script_exit(s, 5000, 0);
}

static void forever_script(const struct opsbot_process_options *o,
			   struct fakehost_script *s, void *data)
{
	fakehost_script_stdout(s, 1000, "forever");
}

START_TEST(test_unload_policies)
{
	static const char *const argv[] = {"sleep", NULL};
	struct opsbot_process_options o = {.size = sizeof(o),
					   .argv = argv,
					   .name = "build qemu",
					   .unload_policy =
					       OPSBOT_UNLOAD_REFUSE};
	struct opsbot_job_options j = job_opts(work_posting);
	int64_t refused;

	ck_assert_int_eq(fakehost_load(host, &ci_desc), OPSBOT_OK);
	fakehost_on_process(host, forever_script, NULL);
	refused = api->process_start(self, &o, proc_event, NULL);
	fakehost_advance(host, 65000);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_EBUSY);
	ck_assert_ptr_nonnull(strstr(
	    fakehost_output(host),
	    "refused plugin ci is running build qemu (65s); stop it with the "
	    "plugin's own command, or wait until it has finished\n"));
	/* still loaded: cancel the refusing work, then drain another */
	api->cancel(self, refused);
	fakehost_on_process(host, drain_script, NULL);
	o.unload_policy = OPSBOT_UNLOAD_DRAIN;
	api->process_start(self, &o, proc_event, NULL);
	api->timer_start(self, 100000, timer_fn, NULL);
	fakehost_run(host, 0);
	trace[0] = '\0';
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	/* the timer is cancelled, the drained build ends by itself, then
	 * fini */
	ck_assert_str_eq(trace, "timer:-3@65000 out:still going@66000 "
				"exit:0/0/0@70000 fini");
	ck_assert_int_eq(api->job_start(self, &j, NULL), OPSBOT_ECLOSING);
	ck_assert_int_eq(api->timer_start(self, 1, timer_fn, NULL),
			 OPSBOT_ECLOSING);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_ECLOSING);
}
END_TEST

static int init_fails(struct opsbot_plugin *p, const struct opsbot_api *a)
{
	a->timer_start(p, 10, timer_fn, NULL);
	return OPSBOT_ERR;
}

START_TEST(test_load_refusals)
{
	struct opsbot_plugin_descriptor d = ci_desc;

	d.abi_major = 1;
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_EINVAL);
	d = ci_desc;
	d.abi_minor = OPSBOT_ABI_MINOR + 1;
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_EINVAL);
	d = ci_desc;
	d.size = 8;
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_EINVAL);
	d = ci_desc;
	d.name = "Bad-Name";
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_EINVAL);
	d = ci_desc;
	d.init = init_fails;
	/* init's timer is swept with its final call; no fini */
	ck_assert_int_eq(fakehost_load(host, &d), OPSBOT_ERR);
	ck_assert_str_eq(trace, "timer:-3@0");
}
END_TEST

static Suite *fakehost_suite(void)
{
	Suite *s = suite_create("fakehost");
	TCase *tc = tcase_create("fakehost");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_job_messages_in_order);
	tcase_add_test(tc, test_job_cancel_before_start);
	tcase_add_test(tc, test_job_cancel_while_running);
	tcase_add_test(tc, test_job_cancel_from_test_hook);
	tcase_add_test(tc, test_job_time_limit);
	tcase_add_test(tc, test_job_time_limit_while_waiting);
	tcase_add_test(tc, test_job_limit);
	tcase_add_test(tc, test_job_bad_arguments);
	tcase_add_test(tc, test_job_post_refused);
	tcase_add_test(tc, test_process_runs_script);
	tcase_add_test(tc, test_process_cancel_reaction);
	tcase_add_test(tc, test_process_ignores_cancel);
	tcase_add_test(tc, test_process_time_limit);
	tcase_add_test(tc, test_process_signal);
	tcase_add_test(tc, test_process_long_line_and_refusals);
	tcase_add_test(tc, test_fd_watch);
	tcase_add_test(tc, test_webhook_routes_and_limits);
	tcase_add_test(tc, test_webhook_hmac);
	tcase_add_test(tc, test_state);
	tcase_add_test(tc, test_seen_before);
	tcase_add_test(tc, test_progress_latest_wins);
	tcase_add_test(tc, test_config_sections_and_reconfigure);
	tcase_add_test(tc, test_commands_and_confirmation);
	tcase_add_test(tc, test_cancel_all_once_each);
	tcase_add_test(tc, test_timer_cancels_itself);
	tcase_add_test(tc, test_unload_policies);
	tcase_add_test(tc, test_load_refusals);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fakehost_suite)
