/*
 * example.c - the teaching plugin: every member of the host API in use,
 * each in the smallest command that needs it.  Read it after opsbot.h.
 *
 *   !example echo <text>          reply
 *   !example whisper <text>       reply_private
 *   !example fail                 reply_error
 *   !example wait <ms>            timer + a pending request + done
 *   !example fetch <url>          HTTP
 *   !example run <words...>       a child process, line by line
 *   !example sleep <ms>           blocking work on the job pool, with
 *                                 progress messages, a cancel hook, a
 *                                 time limit and the drain policy; at
 *                                 most [plugin.example] sleeps at once
 *   !example signal <id> <sig>    a signal to a child the asker started
 *   !example cancel <id>          cancels what the asker started above
 *   !example pipe <text>          an fd watch on a pipe
 *   !example count                the store, with a migration
 *   !example reset                a destructive command: asks for --yes
 *   !example remember <k> [<v>]   the plugin's key/value state
 *   !example memory               every key remembered
 *   !example config               every kind of config value
 *   !example servers              the [plugin.example.server.*] sections
 *   !example announce <text>      say() to the configured channel
 *   POST /hooks/example/echo      a webhook with a shared token
 *   POST /hooks/example/signed    a webhook signed with HMAC-SHA256,
 *                                 de-duplicated by X-Delivery-Id
 *
 * Capabilities ([access] grant): whatever uses the machine, the network or
 * the store on someone's behalf needs one; echo, whisper, fail, wait,
 * count, config and servers are open to everyone.
 *
 *   example.fetch     fetch           example.remember  remember, memory
 *   example.run       run             example.signal    signal
 *   example.sleep     sleep           example.cancel    cancel
 *   example.pipe      pipe            example.announce  announce
 *   example.reset     reset           example.secret    config's token length
 *
 * Ownership: every operation a command starts is kept on a list with who
 * asked (the services account, or the nick when there is none); cancel
 * and signal act only on the asker's own entries.  The heartbeat timer is
 * the plugin's, never on that list, so no command can stop it.
 *
 * Writes: every store and state write is checked, and a failed one is
 * answered with reply_error, never with "ok".
 */
#include "opsbot.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;
static int64_t heartbeat_id;
static long heartbeats;
static int sleeps_running;

/*
 * A pending command, what it waits for and who asked.  Once its operation
 * has started it is on the started list (pending_track) until its final
 * callback (pending_free): that list is what cancel and signal may touch.
 * A struct pending is the first member of the larger ones (sleeper,
 * piper), so pending_free frees them whole.
 */
struct pending {
	struct opsbot_request *req;
	int64_t started_ms;
	long ms;
	int lines;
	int64_t id;  /* the operation, once started */
	char *owner; /* "account NAME" or "nick NAME" */
	struct pending *next;
};

static struct pending *started;

/* Who is asking: the services account when known, else the nick. */
static void asker_name(const struct opsbot_request *req, char *out, size_t size)
{
	if (req->account)
		snprintf(out, size, "account %s", req->account);
	else
		snprintf(out, size, "nick %s", req->nick);
}

static int pending_init(struct pending *p, struct opsbot_request *req)
{
	char who[256];

	asker_name(req, who, sizeof(who));
	p->req = req;
	p->started_ms = bot->now_ms();
	p->owner = strdup(who);
	return p->owner ? 0 : -1;
}

/* size: of the container whose first member is the struct pending. */
static void *pending_alloc(struct opsbot_request *req, size_t size)
{
	struct pending *p = calloc(1, size);

	if (p && pending_init(p, req) < 0) {
		free(p);
		p = NULL;
	}
	return p;
}

static void pending_track(struct pending *p, int64_t id)
{
	p->id = id;
	p->next = started;
	started = p;
}

static struct pending *pending_find(int64_t id)
{
	struct pending *p;

	for (p = started; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* Off the started list (if it was on it), then freed with its container. */
static void pending_free(struct pending *p)
{
	struct pending **at;

	for (at = &started; *at; at = &(*at)->next)
		if (*at == p) {
			*at = p->next;
			break;
		}
	free(p->owner);
	free(p);
}

/*
 * The asker's own running operation with this id, or NULL after replying
 * why not: nothing of theirs runs with it (the heartbeat, another
 * plugin's work, someone else's sleep).
 */
static struct pending *own_operation(struct opsbot_request *req,
				     const char *text)
{
	char *end, who[256];
	long long id = strtoll(text, &end, 10);
	struct pending *p;

	if (end == text || *end || id <= 0) {
		bot->reply_error(req, "example: '%s' is not an operation id",
				 text);
		return NULL;
	}
	p = pending_find(id);
	asker_name(req, who, sizeof(who));
	if (p && !strcmp(p->owner, who))
		return p;
	if (p)
		bot->reply_error(req,
				 "example: %lld was started by someone else; "
				 "only they can stop it",
				 id);
	else if (id == heartbeat_id)
		bot->reply_error(req,
				 "example: %lld is the plugin's heartbeat, "
				 "not yours to stop",
				 id);
	else {
		char hint[128];

		/* "!example wait 1000" on IRC, "opsbot run example ..." in
		 * a shell: how this asker starts something. */
		bot->command_example(req, hint, sizeof(hint), "wait 1000");
		bot->reply_error(req,
				 "example: nothing you started is running with "
				 "id %lld (start something with %s)",
				 id, hint);
	}
	return NULL;
}

/* ---- replies ---- */

static int cmd_echo(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	/* User text is an argument, never the format. */
	bot->reply(req, "%s", req->args);
	return OPSBOT_OK;
}

static int cmd_whisper(struct opsbot_plugin *pl, struct opsbot_request *req,
		       void *data)
{
	bot->reply_private(req, "only you see this: %s", req->args);
	if (req->origin == OPSBOT_ORIGIN_CHANNEL)
		bot->reply(req, "%s: sent you a private message", req->nick);
	return OPSBOT_OK;
}

static int cmd_fail(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	bot->reply_error(req, "example: this command always fails; try "
			      "!example echo");
	return OPSBOT_ERR;
}

/* ---- timers and pending requests ---- */

static long on_wait_timer(struct opsbot_plugin *pl, int status, void *data)
{
	struct pending *p = data;

	if (status == OPSBOT_OK) {
		bot->reply(p->req, "waited %lld ms",
			   (long long)(bot->now_ms() - p->started_ms));
		bot->done(p->req, OPSBOT_OK);
	} else {
		bot->reply_error(p->req, "wait cancelled");
		bot->done(p->req, status);
	}
	pending_free(p);
	return OPSBOT_TIMER_STOP;
}

static int parse_ms(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0 || v > 3600000)
		return -1;
	*out = v;
	return 0;
}

static int cmd_wait(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	struct pending *p;
	int64_t id;
	long ms;

	if (parse_ms(req->argv[0], &ms) < 0)
		return OPSBOT_EUSAGE;
	p = pending_alloc(req, sizeof(*p));
	if (!p)
		return OPSBOT_ERR;
	id = bot->timer_start(self, ms, on_wait_timer, p);
	if (id < 0) {
		pending_free(p);
		bot->reply_error(req, "example: cannot start a timer");
		return OPSBOT_ERR;
	}
	pending_track(p, id);
	bot->reply(req, "waiting %ld ms (id %lld)", ms, (long long)id);
	return OPSBOT_PENDING;
}

/* ---- HTTP ---- */

static void on_fetched(struct opsbot_plugin *pl,
		       const struct opsbot_http_response *res, void *data)
{
	struct pending *p = data;
	const char *type;

	if (res->status != OPSBOT_OK) {
		bot->reply_error(p->req, "fetch failed: %s", res->error);
		bot->done(p->req, res->status);
	} else {
		int cookies = 0;

		type = bot->http_header(res, "Content-Type", 0);
		/* A header may repeat: ask for the n-th until NULL. */
		while (bot->http_header(res, "Set-Cookie", cookies))
			cookies++;
		bot->reply(
		    p->req, "%ld, %zu bytes of %s in %ld ms, %d cookie%s",
		    res->code, res->body_len, type ? type : "unknown type",
		    res->elapsed_ms, cookies, cookies == 1 ? "" : "s");
		bot->done(p->req, OPSBOT_OK);
	}
	pending_free(p);
}

static int cmd_fetch(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct opsbot_http_request r = {.size =
					    sizeof(struct opsbot_http_request)};
	struct pending *p = pending_alloc(req, sizeof(*p));
	int64_t id;

	if (!p)
		return OPSBOT_ERR;
	r.url = req->argv[0];
	r.timeout_ms = 10000;
	r.max_response_bytes = 1024 * 1024;
	id = bot->http_start(self, &r, on_fetched, p);
	if (id < 0) {
		pending_free(p);
		bot->reply_error(req, "example: cannot fetch that URL (http "
				      "and https only)");
		return OPSBOT_ERR;
	}
	pending_track(p, id);
	bot->reply(req, "fetching (id %lld)", (long long)id);
	return OPSBOT_PENDING;
}

/* ---- processes ---- */

static void on_process(struct opsbot_plugin *pl,
		       const struct opsbot_process_event *ev, void *data)
{
	struct pending *p = data;

	switch (ev->kind) {
	case OPSBOT_PROCESS_STDOUT:
	case OPSBOT_PROCESS_STDERR:
		if (p->lines++ < 5)
			bot->reply(p->req, "%s%s",
				   ev->kind == OPSBOT_PROCESS_STDERR ? "! "
								     : "",
				   ev->line);
		return;
	case OPSBOT_PROCESS_EXIT:
		if (ev->status == OPSBOT_OK)
			bot->reply(p->req, "exit %d", ev->exit_code);
		else
			bot->reply_error(p->req, "process ended: %s",
					 ev->status == OPSBOT_ETIMEDOUT
					     ? "timed out"
					 : ev->status == OPSBOT_ECANCELED
					     ? "cancelled"
					     : "killed by a signal");
		bot->done(p->req, ev->status == OPSBOT_OK && !ev->exit_code
				      ? OPSBOT_OK
				      : OPSBOT_ERR);
		pending_free(p);
		return;
	}
}

static int cmd_run(struct opsbot_plugin *pl, struct opsbot_request *req,
		   void *data)
{
	/* Arguments go to echo as argv: no shell ever sees them. */
	const char *argv[18] = {"echo"};
	const char *env[] = {"EXAMPLE=1", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	struct pending *p;
	int64_t id;
	int i;

	for (i = 0; i < req->argc && i < 16; i++)
		argv[i + 1] = req->argv[i];
	argv[i + 1] = NULL;
	o.argv = argv;
	o.env = env;
	o.timeout_ms = 10000;
	p = pending_alloc(req, sizeof(*p));
	if (!p)
		return OPSBOT_ERR;
	id = bot->process_start(self, &o, on_process, p);
	if (id < 0) {
		pending_free(p);
		bot->reply_error(req, "example: cannot start echo");
		return OPSBOT_ERR;
	}
	pending_track(p, id);
	return OPSBOT_PENDING;
}

/* ---- jobs ---- */

/* What the loop and the pool thread share: the cancel hook only sets a
 * flag here (a real plugin would close a connection to unblock a call). */
struct sleeper {
	struct pending p;
	atomic_int woken;
};

static void sleep_work(struct opsbot_job *job, void *data)
{
	struct sleeper *s = data;
	long left = s->p.ms, slept = 0;

	/* Blocking is fine here: this is a job thread.  Progress goes to
	 * the loop as messages; only log, job_is_cancelled and job_post
	 * may be called from here. */
	while (left > 0 && !bot->job_is_cancelled(job) &&
	       !atomic_load(&s->woken)) {
		long slice = left < 50 ? left : 50;
		struct timespec ts = {0, slice * 1000000L};

		nanosleep(&ts, NULL);
		left -= slice;
		slept += slice;
		if (slept % 1000 == 0)
			bot->job_post(job, &slept, sizeof(slept));
	}
	bot->log(self, OPSBOT_LOG_DEBUG, "slept %ld ms", slept);
}

static void sleep_message(struct opsbot_plugin *pl, const void *msg, size_t len,
			  void *data)
{
	struct sleeper *s = data;
	const char *channel = bot->config_string(self, NULL, "channel");
	long slept;

	if (len != sizeof(slept))
		return;
	memcpy(&slept, msg, sizeof(slept));
	/* One line per 10 s at most; the newest wins. */
	if (channel && *channel)
		bot->say_progress(self, channel, "sleep", 10000,
				  "sleeping: %ld of %ld ms", slept, s->p.ms);
}

static void sleep_cancel(struct opsbot_plugin *pl, void *data)
{
	struct sleeper *s = data;

	atomic_store(&s->woken, 1);
}

static void sleep_done(struct opsbot_plugin *pl, int status, void *data)
{
	struct sleeper *s = data;
	const char *channel = bot->config_string(self, NULL, "channel");

	if (channel && *channel)
		bot->progress_end(self, channel, "sleep");
	if (status == OPSBOT_OK)
		bot->reply(s->p.req, "slept %ld ms on a job thread", s->p.ms);
	else
		bot->reply_error(s->p.req, "sleep %s",
				 status == OPSBOT_ETIMEDOUT ? "timed out"
							    : "cancelled");
	bot->done(s->p.req, status);
	sleeps_running--;
	pending_free(&s->p);
}

static int cmd_sleep(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct opsbot_job_options jo = {
	    .size = sizeof(jo),
	    .work = sleep_work,
	    .done = sleep_done,
	    .message = sleep_message,
	    .cancel = sleep_cancel,
	    .name = "sleep",
	    /* An unload or config reload waits for it. */
	    .unload_policy = OPSBOT_UNLOAD_DRAIN,
	};
	long long limit = bot->config_int(self, NULL, "sleeps");
	struct sleeper *s;
	int64_t id;
	long ms;

	if (parse_ms(req->argv[0], &ms) < 0)
		return OPSBOT_EUSAGE;
	/* Each sleep holds a job thread: a few may, a crowd may not. */
	if (sleeps_running >= limit) {
		bot->reply_error(req,
				 "example: %d sleep%s already running, the "
				 "limit ([plugin.example] sleeps); wait or "
				 "cancel yours",
				 sleeps_running,
				 sleeps_running == 1 ? "" : "s");
		return OPSBOT_ERR;
	}
	s = pending_alloc(req, sizeof(*s));
	if (!s)
		return OPSBOT_ERR;
	s->p.ms = ms;
	jo.timeout_ms = ms + 60000;
	id = bot->job_start(self, &jo, s);
	if (id < 0) {
		pending_free(&s->p);
		bot->reply_error(req, "example: cannot start a job");
		return OPSBOT_ERR;
	}
	pending_track(&s->p, id);
	sleeps_running++;
	bot->reply(req, "sleeping %ld ms (id %lld)", ms, (long long)id);
	return OPSBOT_PENDING;
}

static int cmd_signal(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {{"INT", SIGINT},
		     {"TERM", SIGTERM},
		     {"USR1", SIGUSR1},
		     {"HUP", SIGHUP}};
	struct pending *p;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(req->argv[1], names[i].name))
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return OPSBOT_EUSAGE;
	p = own_operation(req, req->argv[0]);
	if (!p)
		return OPSBOT_ERR;
	if (bot->process_signal(self, p->id, names[i].sig) != OPSBOT_OK) {
		bot->reply_error(req, "example: %lld is not a running child",
				 (long long)p->id);
		return OPSBOT_ERR;
	}
	bot->reply(req, "sent SIG%s to %lld", names[i].name, (long long)p->id);
	return OPSBOT_OK;
}

static int cmd_cancel(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	struct pending *p = own_operation(req, req->argv[0]);

	if (!p)
		return OPSBOT_ERR;
	if (bot->cancel(self, p->id) != OPSBOT_OK) {
		bot->reply_error(req, "example: %lld is already ending",
				 (long long)p->id);
		return OPSBOT_ERR;
	}
	bot->reply(req, "cancelling %lld", (long long)p->id);
	return OPSBOT_OK;
}

/* ---- an fd watch ---- */

struct piper {
	struct pending p;
	int fds[2];
	char got[256];
};

static void on_pipe(struct opsbot_plugin *pl, int64_t id, int fd,
		    unsigned events, int status, void *data)
{
	struct piper *w = data;

	if (status != OPSBOT_OK) {
		/* The final call: the watch is gone, the fds are ours. */
		bot->reply(w->p.req, "read back: %s", w->got);
		close(w->fds[0]);
		close(w->fds[1]);
		bot->done(w->p.req, OPSBOT_OK);
		pending_free(&w->p);
		return;
	}
	if (events & OPSBOT_FD_READABLE) {
		ssize_t n = read(fd, w->got, sizeof(w->got) - 1);

		w->got[n > 0 ? n : 0] = '\0';
		bot->cancel(self, id);
	}
}

static int cmd_pipe(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	struct piper *w = pending_alloc(req, sizeof(*w));
	size_t len = strlen(req->args);
	int64_t id;

	if (!w)
		return OPSBOT_ERR;
	if (pipe(w->fds) < 0) {
		pending_free(&w->p);
		return OPSBOT_ERR;
	}
	/* Watch nothing yet, write, then ask for readability. */
	id = bot->fd_watch(self, w->fds[0], 0, on_pipe, w);
	if (id > 0)
		pending_track(&w->p, id);
	if (id < 0 || write(w->fds[1], req->args, len < 200 ? len : 200) < 0) {
		if (id > 0)
			bot->cancel(self, id); /* on_pipe cleans up */
		else {
			close(w->fds[0]);
			close(w->fds[1]);
			pending_free(&w->p);
		}
		return id > 0 ? OPSBOT_PENDING : OPSBOT_ERR;
	}
	bot->fd_watch_update(self, id, OPSBOT_FD_READABLE);
	return OPSBOT_PENDING;
}

/* ---- key/value state ---- */

static int cmd_remember(struct opsbot_plugin *pl, struct opsbot_request *req,
			void *data)
{
	char *value = NULL;
	size_t len;

	if (req->argc == 2) {
		/* A full disk or a read-only database: say so, never "ok". */
		if (bot->state_set(self, req->argv[0], req->argv[1],
				   strlen(req->argv[1])) != OPSBOT_OK) {
			bot->reply_error(req,
					 "example: cannot remember %s: the "
					 "store refused the write (see the "
					 "bot's log)",
					 req->argv[0]);
			return OPSBOT_ERR;
		}
		bot->reply(req, "remembered %s", req->argv[0]);
		return OPSBOT_OK;
	}
	if (bot->state_get(self, req->argv[0], &value, &len) != OPSBOT_OK) {
		bot->reply(req, "%s: not remembered", req->argv[0]);
		return OPSBOT_OK;
	}
	bot->reply(req, "%s = %s", req->argv[0], value);
	free(value);
	return OPSBOT_OK;
}

static int list_key(const char *key, const void *value, size_t len, void *data)
{
	struct opsbot_request *req = data;

	bot->reply(req, "%s = %.*s", key, (int)len, (const char *)value);
	return 0;
}

static int cmd_memory(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	if (bot->state_each(self, "", list_key, req) == 0)
		bot->reply(req, "nothing remembered");
	return OPSBOT_OK;
}

/* Destructive: the host asks for "--yes" first (OPSBOT_COMMAND_CONFIRM). */
static int cmd_reset(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	sqlite3 *db = bot->store(self);
	int rc;

	/* The state shares the store's connection: one transaction makes the
	 * reset and the record of who did it happen together, or neither. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto failed;
	if (sqlite3_exec(db, "DELETE FROM example_counter", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto failed;
	rc = bot->state_delete(self, "last-reset-by");
	if ((rc != OPSBOT_OK && rc != OPSBOT_ENOENT) ||
	    bot->state_set(self, "last-reset-by", req->nick,
			   strlen(req->nick)) != OPSBOT_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto failed;
	bot->reply(req, "counter reset");
	return OPSBOT_OK;
failed:
	bot->reply_error(req, "example: counter not reset: %s",
			 sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return OPSBOT_ERR;
}

/* ---- sub-sections ---- */

static int cmd_servers(struct opsbot_plugin *pl, struct opsbot_request *req,
		       void *data)
{
	int i, n = bot->config_section_count(self, "server");

	if (!n)
		bot->reply(req, "no [plugin.example.server.<name>] sections");
	for (i = 0; i < n; i++) {
		char section[80];
		const char *name = bot->config_section_name(self, "server", i);

		snprintf(section, sizeof(section), "server.%s", name);
		bot->reply(req, "%s: %s (key %s)", name,
			   bot->config_string(self, section, "url"),
			   bot->config_secret(self, section, "key") ? "set"
								    : "unset");
	}
	return OPSBOT_OK;
}

/* ---- the store ---- */

static const char *const migrations[] = {
    "CREATE TABLE example_counter (name TEXT PRIMARY KEY, n INTEGER)",
    "ALTER TABLE example_counter ADD COLUMN updated INTEGER",
};

static int cmd_count(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	sqlite3 *db = bot->store(self);
	sqlite3_stmt *st = NULL;
	long long n = 0;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO example_counter (name, n, updated) "
			       "VALUES ('count', 1, unixepoch()) "
			       "ON CONFLICT(name) DO UPDATE SET n = n + 1, "
			       "updated = unixepoch() RETURNING n",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		bot->reply_error(req, "example: store error: %s",
				 sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return OPSBOT_ERR;
	}
	n = sqlite3_column_int64(st, 0);
	/* The write commits when the statement runs to its end: a commit
	 * that fails (a full disk) shows there, not on the first row. */
	if (sqlite3_step(st) != SQLITE_DONE) {
		bot->reply_error(req, "example: store error: %s",
				 sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return OPSBOT_ERR;
	}
	sqlite3_finalize(st);
	bot->reply(req, "count is %lld", n);
	return OPSBOT_OK;
}

/* ---- configuration ---- */

static int cmd_config(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	const char *secret = bot->config_secret(self, NULL, "token");
	int i, n = bot->config_list_count(self, NULL, "words");

	bot->reply(req,
		   "greeting=%s limit=%lld loud=%s heartbeat=%lld ms "
		   "words=%d token=%s",
		   bot->config_string(self, NULL, "greeting"),
		   bot->config_int(self, NULL, "limit"),
		   bot->config_bool(self, NULL, "loud") ? "yes" : "no",
		   bot->config_duration_ms(self, NULL, "heartbeat"), n,
		   /* Never the secret itself. */
		   secret ? "set" : "unset");
	for (i = 0; i < n && i < 5; i++)
		bot->reply(req, "word %d: %s", i + 1,
			   bot->config_list_item(self, NULL, "words", i));
	if (secret && bot->has_capability(req, "example.secret"))
		bot->reply_private(req, "the token has %zu characters",
				   strlen(secret));
	return OPSBOT_OK;
}

static int cmd_announce(struct opsbot_plugin *pl, struct opsbot_request *req,
			void *data)
{
	const char *channel = bot->config_string(self, NULL, "channel");

	if (!channel || !*channel) {
		bot->reply_error(req, "example: set [plugin.example] channel "
				      "first");
		return OPSBOT_ERR;
	}
	/* Lines of one group may be summarised when they pile up. */
	bot->say_grouped(self, channel, "announce", "%s says: %s", req->nick,
			 req->args);
	return OPSBOT_OK;
}

/* ---- webhooks ---- */

static int on_echo_hook(struct opsbot_plugin *pl,
			const struct opsbot_webhook *hook, void *data)
{
	const char *token = bot->config_secret(self, NULL, "token");
	char encoded[256];

	/* Constant-time, header or ?token=. */
	if (token && bot->webhook_verify_token(hook, "X-Example-Token", "token",
					       token) != OPSBOT_OK)
		return 403;
	bot->url_encode(encoded, sizeof(encoded), hook->query);
	bot->log(self, OPSBOT_LOG_INFO, "webhook from %s, query %s",
		 hook->remote_addr, encoded);
	bot->webhook_respond(hook, "text/plain", hook->body, hook->body_len);
	return 200;
}

static int on_signed_hook(struct opsbot_plugin *pl,
			  const struct opsbot_webhook *hook, void *data)
{
	const char *token = bot->config_secret(self, NULL, "token");
	const char *delivery = bot->webhook_header(hook, "X-Delivery-Id");
	char key[160];

	if (!token || bot->webhook_verify_hmac(hook, "X-Signature",
					       "sha256=", token) != OPSBOT_OK)
		return 403;
	if (!delivery)
		return 400;
	snprintf(key, sizeof(key), "delivery %.100s", delivery);
	/* A retried delivery is acknowledged, not acted on twice. */
	switch (bot->seen_before(self, key, 24L * 3600 * 1000)) {
	case 0:
		break;
	case 1:
		bot->webhook_respond(hook, "text/plain", "duplicate", 9);
		return 200;
	default:
		/* Not recorded: the sender retries later. */
		return 503;
	}
	bot->log(self, OPSBOT_LOG_INFO, "signed delivery %s: %zu bytes",
		 delivery, hook->body_len);
	return 200;
}

/* ---- a background timer ---- */

static long on_heartbeat(struct opsbot_plugin *pl, int status, void *data)
{
	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	heartbeats++;
	bot->log(self, OPSBOT_LOG_DEBUG, "heartbeat %ld", heartbeats);
	return (long)bot->config_duration_ms(self, NULL, "heartbeat");
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("echo", "<text>", "repeats the text", NULL, 1, -1, cmd_echo,
		   NULL),
    OPSBOT_COMMAND("whisper", "<text>", "repeats the text in private", NULL, 1,
		   -1, cmd_whisper, NULL),
    OPSBOT_COMMAND("fail", "", "fails on purpose", NULL, 0, 0, cmd_fail, NULL),
    OPSBOT_COMMAND("wait", "<ms>", "answers after a delay", NULL, 1, 1,
		   cmd_wait, NULL),
    OPSBOT_COMMAND("fetch", "<url>", "fetches a URL and reports its size",
		   "example.fetch", 1, 1, cmd_fetch, NULL),
    OPSBOT_COMMAND("run", "<words...>", "runs echo with the words",
		   "example.run", 0, 16, cmd_run, NULL),
    OPSBOT_COMMAND("sleep", "<ms>", "blocks a pool thread that long",
		   "example.sleep", 1, 1, cmd_sleep, NULL),
    OPSBOT_COMMAND("signal", "<id> INT|TERM|USR1|HUP",
		   "sends a signal to a child you started", "example.signal", 2,
		   2, cmd_signal, NULL),
    OPSBOT_COMMAND("cancel", "<id>",
		   "cancels a wait, fetch, run, sleep or pipe you started",
		   "example.cancel", 1, 1, cmd_cancel, NULL),
    OPSBOT_COMMAND("pipe", "<text>", "reads text back through an fd watch",
		   "example.pipe", 1, -1, cmd_pipe, NULL),
    OPSBOT_COMMAND("remember", "<key> [<value>]",
		   "stores or shows a value in the plugin's state",
		   "example.remember", 1, 2, cmd_remember, NULL),
    OPSBOT_COMMAND("memory", "", "lists the plugin's state", "example.remember",
		   0, 0, cmd_memory, NULL),
    OPSBOT_COMMAND("servers", "", "lists [plugin.example.server.*]", NULL, 0, 0,
		   cmd_servers, NULL),
    {.size = sizeof(struct opsbot_command),
     .name = "reset",
     .usage = "",
     .help = "resets the counter (asks for --yes)",
     .capability = "example.reset",
     .fn = cmd_reset,
     .flags = OPSBOT_COMMAND_CONFIRM,
     .confirm = "the counter"},
    OPSBOT_COMMAND("count", "", "counts calls in the store", NULL, 0, 0,
		   cmd_count, NULL),
    OPSBOT_COMMAND("config", "", "shows this plugin's configuration", NULL, 0,
		   0, cmd_config, NULL),
    OPSBOT_COMMAND("announce", "<text>", "announces in the configured channel",
		   "example.announce", 1, -1, cmd_announce, NULL),
};

static int example_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	size_t i;

	bot = api;
	self = p;
	heartbeats = 0;
	heartbeat_id = 0;
	sleeps_running = 0;
	started = NULL;
	if (bot->store_migrate(self, migrations, 2) != OPSBOT_OK)
		return OPSBOT_ERR;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	{
		struct opsbot_webhook_route echo = {
		    .size = sizeof(echo),
		    .method = "POST",
		    .path = "/hooks/example/echo",
		    .fn = on_echo_hook,
		    .max_body_bytes = 64 * 1024,
		    .rate_per_minute = 60,
		};
		struct opsbot_webhook_route signed_route = {
		    .size = sizeof(signed_route),
		    .method = "POST",
		    .path = "/hooks/example/signed",
		    .fn = on_signed_hook,
		};

		if (bot->webhook_add(self, &echo) != OPSBOT_OK ||
		    bot->webhook_add(self, &signed_route) != OPSBOT_OK)
			return OPSBOT_ERR;
	}
	/* Background work belongs to the daemon, not to `opsbot run`. */
	if (bot->mode() == OPSBOT_MODE_DAEMON)
		heartbeat_id = bot->timer_start(
		    self,
		    (long)bot->config_duration_ms(self, NULL, "heartbeat"),
		    on_heartbeat, NULL);
	bot->log(self, OPSBOT_LOG_INFO, "ready (%s), heartbeat id %lld",
		 bot->config_string(self, NULL, "greeting"),
		 (long long)heartbeat_id);
	return OPSBOT_OK;
}

/* A changed [plugin.example] (SIGHUP) arrives here; nothing is reloaded,
 * so a running sleep goes on. */
static int example_reconfigure(struct opsbot_plugin *p)
{
	const char *channel = bot->config_string(self, NULL, "channel");

	bot->log(self, OPSBOT_LOG_INFO, "reconfigured (%s)",
		 bot->config_string(self, NULL, "greeting"));
	if (channel && *channel)
		bot->say(self, channel, "example: new greeting: %s",
			 bot->config_string(self, NULL, "greeting"));
	return OPSBOT_OK;
}

static void example_fini(struct opsbot_plugin *p)
{
	bot->log(p, OPSBOT_LOG_INFO, "stopping after %ld heartbeats",
		 heartbeats);
}

static const struct opsbot_config_key config_keys[] = {
    OPSBOT_CONFIG_KEY("greeting", OPSBOT_CONFIG_STRING, "hello", 0, 0, 0,
		      "text logged at start"),
    OPSBOT_CONFIG_KEY("limit", OPSBOT_CONFIG_INT, "10", 0, 1, 1000, "a number"),
    OPSBOT_CONFIG_KEY("loud", OPSBOT_CONFIG_BOOL, "false", 0, 0, 0, "a switch"),
    OPSBOT_CONFIG_KEY("heartbeat", OPSBOT_CONFIG_DURATION, "60s", 0, 100,
		      86400000, "how often the background timer runs"),
    OPSBOT_CONFIG_KEY("words", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0, "a list"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "checked on the webhook (X-Example-Token)"),
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "where !example announce and sleep progress speak"),
    OPSBOT_CONFIG_KEY("sleeps", OPSBOT_CONFIG_INT, "2", 0, 1, 16,
		      "how many !example sleep may run at once (each holds a "
		      "job thread)"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key server_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, OPSBOT_CONFIG_REQUIRED,
		      0, 0, "the server's address"),
    OPSBOT_CONFIG_KEY("key", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "its API key"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_section config_sections[] = {
    {.size = sizeof(struct opsbot_config_section),
     .kind = "server",
     .help = "a server (any number, each with its own key)",
     .keys = server_keys},
    {0},
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "example",
    .version = "1.0.0",
    .description = "shows every part of the plugin API",
    .command = NULL,
    .config = config_keys,
    .sections = config_sections,
    .init = example_init,
    .reconfigure = example_reconfigure,
    .unload_policy = OPSBOT_UNLOAD_CANCEL,
    .fini = example_fini,
};
