/*
 * longwork.c - a test plugin for the host API for long work: job messages,
 * cancel hooks, time limits and the per-plugin limit, fd watches, progress
 * lines, confirmation, sub-sections, unload policies and reconfigure.
 * Background work can be started from init ([plugin.longwork] on_start),
 * so daemon tests can signal the bot while it runs.
 */
#include "opsbot.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;

/* ---- job messages ---- */

struct post_run {
	struct opsbot_request *req;
	long count, received, next;
	int in_order, cancel_at_first, wait;
	atomic_long recorded; /* written by the callback, read by the job */
	long not_yet;	      /* job_post_wait returned before delivery */
	int64_t id;
};

static void post_work(struct opsbot_job *job, void *data)
{
	struct post_run *r = data;
	long i;

	for (i = 0; i < r->count; i++) {
		if (!r->wait) {
			bot->job_post(job, &i, sizeof(i));
			continue;
		}
		/* Returns only once the loop has "recorded" message i. */
		if (bot->job_post_wait(job, &i, sizeof(i)) == OPSBOT_OK &&
		    atomic_load(&r->recorded) != i + 1)
			r->not_yet++;
	}
}

static void post_message(struct opsbot_plugin *p, const void *msg, size_t len,
			 void *data)
{
	struct post_run *r = data;
	long v;

	if (len != sizeof(v)) {
		r->in_order = 0;
		return;
	}
	memcpy(&v, msg, sizeof(v));
	if (v != r->next)
		r->in_order = 0;
	r->next = v + 1;
	r->received++;
	atomic_store(&r->recorded, v + 1);
	if (r->cancel_at_first && r->received == 1)
		bot->cancel(self, r->id);
}

static void post_done(struct opsbot_plugin *p, int status, void *data)
{
	struct post_run *r = data;

	bot->reply(r->req, "received %ld of %ld, in order: %s, status %d",
		   r->received, r->count, r->in_order ? "yes" : "no", status);
	if (r->wait)
		bot->reply(r->req, "returned before delivery: %ld", r->not_yet);
	bot->done(r->req, OPSBOT_OK);
	free(r);
}

static int cmd_post(struct opsbot_plugin *p, struct opsbot_request *req,
		    void *data)
{
	struct opsbot_job_options o = {.size = sizeof(o),
				       .work = post_work,
				       .done = post_done,
				       .message = post_message,
				       .name = "post"};
	struct post_run *r = calloc(1, sizeof(*r));

	r->req = req;
	r->count = strtol(req->argv[0], NULL, 10);
	r->in_order = 1;
	r->cancel_at_first = req->argc > 1 && !strcmp(req->argv[1], "cancel");
	r->wait = req->argc > 1 && !strcmp(req->argv[1], "wait");
	atomic_init(&r->recorded, 0);
	r->id = bot->job_start(self, &o, r);
	if (r->id < 0) {
		free(r);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* ---- blocking jobs ---- */

struct block_run {
	struct opsbot_request *req; /* NULL: started from init */
	int pipe[2];
	long ms;
	int stuck; /* ignores the cancel */
};

static void block_work(struct opsbot_job *job, void *data)
{
	struct block_run *r = data;

	if (r->stuck) {
		usleep((useconds_t)r->ms * 1000);
		return;
	}
	/* Blocks until the time is over or the cancel hook writes; a
	 * signal handled by another part of the process only interrupts. */
	struct pollfd pfd = {.fd = r->pipe[0], .events = POLLIN};
	struct timespec t0, t1;
	long left = r->ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0 && poll(&pfd, 1, (int)left) < 0 && errno == EINTR) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = r->ms - ((t1.tv_sec - t0.tv_sec) * 1000 +
				(t1.tv_nsec - t0.tv_nsec) / 1000000);
	}
}

static void block_cancel(struct opsbot_plugin *p, void *data)
{
	struct block_run *r = data;

	bot->log(self, OPSBOT_LOG_INFO, "longwork: cancel hook ran");
	if (write(r->pipe[1], "x", 1) < 0)
		bot->log(self, OPSBOT_LOG_ERROR, "longwork: write: %s",
			 strerror(errno));
}

static void block_done(struct opsbot_plugin *p, int status, void *data)
{
	struct block_run *r = data;

	bot->log(self, OPSBOT_LOG_INFO, "longwork: job done, status %d",
		 status);
	if (r->req) {
		bot->reply(r->req, "job done, status %d", status);
		bot->done(r->req, OPSBOT_OK);
	}
	close(r->pipe[0]);
	close(r->pipe[1]);
	free(r);
}

static int64_t start_block(struct opsbot_request *req, long ms, int stuck,
			   long timeout_ms, enum opsbot_unload_policy policy)
{
	struct opsbot_job_options o = {.size = sizeof(o),
				       .work = block_work,
				       .done = block_done,
				       .cancel = block_cancel,
				       .timeout_ms = timeout_ms,
				       .unload_policy = policy,
				       .name = stuck ? "stuck job"
						     : "blocking job"};
	struct block_run *r = calloc(1, sizeof(*r));
	int64_t id;

	r->req = req;
	r->ms = ms;
	r->stuck = stuck;
	if (pipe(r->pipe) < 0) {
		free(r);
		return OPSBOT_ERR;
	}
	id = bot->job_start(self, &o, r);
	if (id < 0) {
		close(r->pipe[0]);
		close(r->pipe[1]);
		free(r);
	}
	return id;
}

static enum opsbot_unload_policy policy_of(const char *s)
{
	if (!s)
		return OPSBOT_UNLOAD_DEFAULT;
	if (!strcmp(s, "drain"))
		return OPSBOT_UNLOAD_DRAIN;
	if (!strcmp(s, "refuse"))
		return OPSBOT_UNLOAD_REFUSE;
	if (!strcmp(s, "cancel"))
		return OPSBOT_UNLOAD_CANCEL;
	return OPSBOT_UNLOAD_DEFAULT;
}

/* longwork block <ms> [<timeout ms>] [cancel|drain|refuse] */
static int cmd_block(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	long ms = strtol(req->argv[0], NULL, 10);
	long limit = req->argc > 1 ? strtol(req->argv[1], NULL, 10) : 0;

	if (start_block(req, ms, 0, limit,
			policy_of(req->argc > 2 ? req->argv[2] : NULL)) < 0)
		return OPSBOT_ERR;
	return OPSBOT_PENDING;
}

/* ---- the per-plugin limit ---- */

static atomic_int limit_now, limit_max;

struct limit_run {
	struct opsbot_request *req;
	int left;
};

static void limit_work(struct opsbot_job *job, void *data)
{
	int now = atomic_fetch_add(&limit_now, 1) + 1;
	int max = atomic_load(&limit_max);

	while (now > max &&
	       !atomic_compare_exchange_weak(&limit_max, &max, now))
		;
	usleep(100000);
	atomic_fetch_sub(&limit_now, 1);
}

static void limit_done(struct opsbot_plugin *p, int status, void *data)
{
	struct limit_run *r = data;

	if (--r->left)
		return;
	bot->reply(r->req, "at most %d at once", atomic_load(&limit_max));
	bot->done(r->req, OPSBOT_OK);
	free(r);
}

static int cmd_limit(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	struct opsbot_job_options o = {.size = sizeof(o),
				       .work = limit_work,
				       .done = limit_done,
				       .name = "limit"};
	struct limit_run *r = calloc(1, sizeof(*r));
	int i, n = (int)strtol(req->argv[0], NULL, 10);

	atomic_store(&limit_max, 0);
	r->req = req;
	r->left = n;
	for (i = 0; i < n; i++)
		if (bot->job_start(self, &o, r) < 0)
			return OPSBOT_ERR;
	return OPSBOT_PENDING;
}

/* ---- fd watches ---- */

struct fd_run {
	struct opsbot_request *req;
	int pipe[2];
	int64_t watch;
	char got[16];
};

static long fd_write_later(struct opsbot_plugin *p, int status, void *data)
{
	struct fd_run *r = data;

	if (status == OPSBOT_OK && write(r->pipe[1], "ping", 4) != 4)
		bot->log(self, OPSBOT_LOG_ERROR, "longwork: write failed");
	return OPSBOT_TIMER_STOP;
}

static void on_fd(struct opsbot_plugin *p, int64_t id, int fd, unsigned events,
		  int status, void *data)
{
	struct fd_run *r = data;

	if (status != OPSBOT_OK) {
		/* The final call: the watch is gone, the fd is ours. */
		bot->reply(r->req, "read '%s', watch ended with %d", r->got,
			   status);
		close(r->pipe[0]);
		close(r->pipe[1]);
		bot->done(r->req, OPSBOT_OK);
		free(r);
		return;
	}
	if (events & OPSBOT_FD_READABLE) {
		ssize_t n = read(fd, r->got, sizeof(r->got) - 1);

		r->got[n > 0 ? n : 0] = '\0';
		bot->cancel(self, id);
	}
}

static int cmd_fd(struct opsbot_plugin *p, struct opsbot_request *req,
		  void *data)
{
	struct fd_run *r = calloc(1, sizeof(*r));

	r->req = req;
	if (pipe(r->pipe) < 0) {
		free(r);
		return OPSBOT_ERR;
	}
	r->watch =
	    bot->fd_watch(self, r->pipe[0], OPSBOT_FD_READABLE, on_fd, r);
	if (r->watch < 0) {
		close(r->pipe[0]);
		close(r->pipe[1]);
		free(r);
		return OPSBOT_ERR;
	}
	bot->timer_start(self, 50, fd_write_later, r);
	return OPSBOT_PENDING;
}

/* longwork watch: a watch left running, for the sweep on unload. */
static void on_idle_fd(struct opsbot_plugin *p, int64_t id, int fd,
		       unsigned events, int status, void *data)
{
	int *fds = data;

	if (status == OPSBOT_OK)
		return;
	bot->log(self, OPSBOT_LOG_INFO, "longwork: watch swept, status %d",
		 status);
	close(fds[0]);
	close(fds[1]);
	free(fds);
}

static int cmd_watch(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	int *fds = calloc(2, sizeof(int));

	if (pipe(fds) < 0) {
		free(fds);
		return OPSBOT_ERR;
	}
	if (bot->fd_watch(self, fds[0], OPSBOT_FD_READABLE, on_idle_fd, fds) <
	    0) {
		close(fds[0]);
		close(fds[1]);
		free(fds);
		return OPSBOT_ERR;
	}
	bot->reply(req, "watching");
	return OPSBOT_OK;
}

/* ---- progress ---- */

/* longwork progress <target> <n> <interval ms>: n lines at once. */
static int cmd_progress(struct opsbot_plugin *p, struct opsbot_request *req,
			void *data)
{
	long i, n = strtol(req->argv[1], NULL, 10);
	long interval = strtol(req->argv[2], NULL, 10);

	for (i = 1; i <= n; i++)
		bot->say_progress(self, req->argv[0], "build", interval,
				  "step %ld of %ld", i, n);
	return OPSBOT_OK;
}

static int cmd_progress_end(struct opsbot_plugin *p, struct opsbot_request *req,
			    void *data)
{
	bot->progress_end(self, req->argv[0], "build");
	bot->say(self, req->argv[0], "build finished");
	return OPSBOT_OK;
}

/* ---- confirmation ---- */

static int cmd_destroy(struct opsbot_plugin *p, struct opsbot_request *req,
		       void *data)
{
	bot->reply(req, "destroyed %s (confirmed %d)", req->argv[0],
		   req->confirmed);
	return OPSBOT_OK;
}

/* ---- sub-sections ---- */

static int cmd_servers(struct opsbot_plugin *p, struct opsbot_request *req,
		       void *data)
{
	int i, n = bot->config_section_count(self, "server");

	bot->reply(req, "%d server%s", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		char section[80];
		const char *name = bot->config_section_name(self, "server", i);
		const char *token;

		snprintf(section, sizeof(section), "server.%s", name);
		token = bot->config_secret(self, section, "token");
		bot->reply(req, "%s: %s (timeout %lld ms, token %s)", name,
			   bot->config_string(self, section, "url"),
			   bot->config_duration_ms(self, section, "timeout"),
			   token ? "set" : "unset");
	}
	return OPSBOT_OK;
}

/* ---- children with a policy ---- */

static void on_child(struct opsbot_plugin *p,
		     const struct opsbot_process_event *ev, void *data)
{
	if (ev->kind == OPSBOT_PROCESS_EXIT)
		bot->log(self, OPSBOT_LOG_INFO,
			 "longwork: child exited, status %d", ev->status);
}

static int64_t start_child(long secs, enum opsbot_unload_policy policy)
{
	char arg[32];
	const char *argv[] = {"sleep", arg, NULL};
	struct opsbot_process_options o = {.size = sizeof(o),
					   .argv = argv,
					   .unload_policy = policy,
					   .name = "sleep"};

	snprintf(arg, sizeof(arg), "%ld", secs);
	return bot->process_start(self, &o, on_child, NULL);
}

static int cmd_child(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	int64_t id = start_child(strtol(req->argv[1], NULL, 10),
				 policy_of(req->argv[0]));

	bot->reply(req, "child %lld", (long long)id);
	return id > 0 ? OPSBOT_OK : OPSBOT_ERR;
}

/* ---- life cycle ---- */

static int reconfigure(struct opsbot_plugin *p)
{
	const char *key = bot->config_string(self, NULL, "key");

	if (key && !strcmp(key, "bad")) {
		bot->log(self, OPSBOT_LOG_ERROR,
			 "longwork: key 'bad' is not acceptable");
		return OPSBOT_ERR;
	}
	bot->log(self, OPSBOT_LOG_INFO, "longwork: reconfigured (key %s)",
		 key ? key : "");
	return OPSBOT_OK;
}

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	static const struct opsbot_command cmds[] = {
	    OPSBOT_COMMAND("post", "<n> [cancel]",
			   "posts n messages from a job", NULL, 1, 2, cmd_post,
			   NULL),
	    OPSBOT_COMMAND("block", "<ms> [<limit ms>] [<policy>]",
			   "a job that blocks", NULL, 1, 3, cmd_block, NULL),
	    OPSBOT_COMMAND("limit", "<n>", "n short jobs at once", NULL, 1, 1,
			   cmd_limit, NULL),
	    OPSBOT_COMMAND("fd", "", "reads a pipe through an fd watch", NULL,
			   0, 0, cmd_fd, NULL),
	    OPSBOT_COMMAND("watch", "", "leaves an fd watch running", NULL, 0,
			   0, cmd_watch, NULL),
	    OPSBOT_COMMAND("progress", "<target> <n> <ms>", "progress lines",
			   NULL, 3, 3, cmd_progress, NULL),
	    OPSBOT_COMMAND("progress-end", "<target>", "ends progress", NULL, 1,
			   1, cmd_progress_end, NULL),
	    OPSBOT_COMMAND("servers", "", "lists [plugin.longwork.server.*]",
			   NULL, 0, 0, cmd_servers, NULL),
	    OPSBOT_COMMAND("child", "<policy> <secs>", "a sleeping child", NULL,
			   2, 2, cmd_child, NULL),
	    {.size = sizeof(struct opsbot_command),
	     .name = "destroy",
	     .usage = "<name>",
	     .help = "pretends to destroy something",
	     .min_args = 1,
	     .max_args = 1,
	     .fn = cmd_destroy,
	     .flags = OPSBOT_COMMAND_CONFIRM,
	     .confirm = "the cluster and its disks"},
	};
	const char *on_start;
	size_t i;

	bot = api;
	self = p;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (bot->command_add(self, &cmds[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	bot->log(self, OPSBOT_LOG_INFO, "longwork: init (key %s)",
		 bot->config_string(self, NULL, "key"));
	if (bot->mode() != OPSBOT_MODE_DAEMON)
		return OPSBOT_OK;
	on_start = bot->config_string(self, NULL, "on_start");
	if (!strcmp(on_start, "block"))
		start_block(NULL, 25000, 0, 0, OPSBOT_UNLOAD_DRAIN);
	else if (!strcmp(on_start, "stuck"))
		start_block(NULL, 25000, 1, 0, OPSBOT_UNLOAD_DRAIN);
	else if (!strcmp(on_start, "child-drain"))
		start_child(3, OPSBOT_UNLOAD_DRAIN);
	else if (!strcmp(on_start, "child-refuse"))
		start_child(3, OPSBOT_UNLOAD_REFUSE);
	return OPSBOT_OK;
}

static void fini(struct opsbot_plugin *p)
{
	bot->log(p, OPSBOT_LOG_INFO, "longwork: fini");
}

static const struct opsbot_config_key server_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, OPSBOT_CONFIG_REQUIRED,
		      0, 0, "where it is"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "its token"),
    OPSBOT_CONFIG_KEY("timeout", OPSBOT_CONFIG_DURATION, "10s", 0, 0, 0,
		      "how long to wait"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_section sections[] = {
    {.size = sizeof(struct opsbot_config_section),
     .kind = "server",
     .help = "a server to talk to",
     .keys = server_keys,
     .max_count = 3},
    {0},
};

static const struct opsbot_config_key keys[] = {
    OPSBOT_CONFIG_KEY("key", OPSBOT_CONFIG_STRING, "none", 0, 0, 0,
		      "a value reconfigure() takes"),
    OPSBOT_CONFIG_KEY("on_start", OPSBOT_CONFIG_STRING, "", 0, 0, 0,
		      "work started by init: block, stuck, child-drain, "
		      "child-refuse"),
    OPSBOT_CONFIG_KEY("restart_key", OPSBOT_CONFIG_STRING, "",
		      OPSBOT_CONFIG_RELOAD, 0, 0, "needs a reload"),
    OPSBOT_CONFIG_END,
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "longwork",
    .version = "1",
    .description = "long work test plugin",
    .config = keys,
    .sections = sections,
    .init = init,
    .fini = fini,
    .reconfigure = reconfigure,
};
