/*
 * packer.c - the packer plugin: builds Packer templates, one job per
 * builder, on this machine (the local runner: `packer build
 * -machine-readable -only=<build>` through the host's process API) with
 * per-hypervisor locks and queues, throttled progress in chat, a capped
 * redacted log per job, and a job ledger in SQLite (jobs.c).
 *
 *   !packer templates                      the templates folder
 *   !packer builders <template>            its builds, runners, variables
 *   !packer build <template> [<b>,..|all] [var=value...]   (packer)
 *   !packer status [job]                   what runs and waits, or a job
 *   !packer log <job> [lines]              a job's log (private reply)
 *   !packer cancel <job>                   (packer) SIGINT, then SIGKILL
 *   !packer history [template]             the newest jobs
 *
 * A running build is never ended by a configuration change
 * (reconfigure() takes the new values for the next builds); its process
 * has the REFUSE unload policy, so `!plugin unload packer` names it, and a
 * shutdown lets it run for [bot] shutdown_grace and then cancels it.
 */
#include "sdk_jenkins.h"
#include "opsbot.h"
#include "opsbot_sdk.h"
#include "packer.h"
#include "pmr.h"
#include "tmpl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX 300
#define LOG_TAIL_MAX 200
#define LOG_TAIL_BYTES (64 * 1024)

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;
static int64_t expire_timer;

/* The configuration, copied (host strings die with reconfigure()). */
static struct {
	char *templates, *packer, *channel, *log_dir;
	long long progress_ms, timeout_ms, grace_ms, keep_ms, poll_ms;
	uint32_t rng;
	uint64_t log_max;
	int error_burst, lock_slots;
} cfg;

struct lock;

/* A Jenkins server of [plugin.packer.jenkins.<name>]. */
struct server {
	char *name;
	struct sdk_jenkins j;
	struct server *next;
};

static struct sdk_http_queue httpq;
static struct server *servers;

/* One request: `build` with its builders, variables and secrets. */
struct request {
	int64_t id;
	struct opsbot_request *req; /* CLI: pending until every job ended */
	char *template_name, *target;
	int njobs, left, failed;
	char **vars; /* "-var", "name=value" pairs for argv (not secret) */
	int nvars;
	char **secrets; /* values to redact */
	int nsecrets;
	char *secret_dir, *secret_file; /* 0600 var-file of secrets */
	char **var_files;		/* resolved -var-file paths */
	int nvar_files;
	char *template_path, *template_dir;
	struct sdk_buf summary;
};

enum phase { QUEUED, RUNNING, ENDED };

struct job {
	int64_t id;
	struct request *rq;
	char *build, *type, *runner;
	enum phase phase;
	struct lock *lock;
	int64_t proc;
	int64_t started_ms;
	int user_cancel;
	struct pmr parser;
	struct pmr_build out;
	FILE *log;
	uint64_t log_bytes;
	int log_cut;
	char *log_path;
	struct sdk_bucket errors;
	char key[32];
	/* the Jenkins runner */
	struct server *srv;
	char *jjob; /* the Jenkins job's full name */
	long queue_id, number;
	char *url, *why;
	int64_t timer;
	int poll_errors, outage, in_call;
	struct job *next; /* all jobs in memory */
	struct job *next_queued;
};

struct lock {
	char *name;
	int used;
	struct job *queue;
	struct lock *next;
};

static struct job *jobs;
static struct lock *locks;

/* ---- helpers ---- */

static sqlite3 *db(void)
{
	return bot->store(self);
}

static void fmt_duration(char *out, size_t size, int64_t ms)
{
	long long s = (long long)(ms / 1000);

	if (s < 60)
		snprintf(out, size, "%llds", s);
	else if (s < 3600)
		snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, size, "%lldh%02lldm", s / 3600, (s / 60) % 60);
}

/* text with every secret of rq replaced by <sensitive> (malloc'd). */
static char *redact(const struct request *rq, const char *text)
{
	struct sdk_buf b = SDK_BUF_INIT;
	const char *p = text;

	if (!rq || !rq->nsecrets)
		return sdk_xstrdup(text);
	while (*p) {
		size_t best = 0;

		for (int i = 0; i < rq->nsecrets; i++) {
			size_t n = strlen(rq->secrets[i]);

			if (n && n > best && !strncmp(p, rq->secrets[i], n))
				best = n;
		}
		if (best) {
			sdk_buf_adds(&b, "<sensitive>");
			p += best;
		} else {
			sdk_buf_add(&b, p, 1);
			p++;
		}
	}
	sdk_buf_adds(&b, "");
	return sdk_buf_detach(&b);
}

static void asker_name(const struct opsbot_request *req, char *out, size_t size)
{
	if (req->account)
		snprintf(out, size, "%s", req->account);
	else
		snprintf(out, size, "%s", req->nick ? req->nick : "?");
}

/* Where a build's lines go: the channel it was asked in, the configured
 * channel, or the asker. */
static const char *target_for(const struct opsbot_request *req)
{
	if (req->channel && *req->channel)
		return req->channel;
	if (cfg.channel && *cfg.channel)
		return cfg.channel;
	return req->nick;
}

/* An announcement of a job: to the CLI's stdout, or to the target. */
static void announce_v(struct request *rq, int final, const char *fmt,
		       va_list ap) __attribute__((format(printf, 3, 0)));
static void announce_v(struct request *rq, int final, const char *fmt,
		       va_list ap)
{
	char *text, *clean;
	struct sdk_buf b = SDK_BUF_INIT;

	sdk_buf_vaddf(&b, fmt, ap);
	text = sdk_buf_detach(&b);
	clean = redact(rq, text);
	if (rq->req)
		bot->reply(rq->req, "%s", clean);
	else if (rq->target && final)
		/* results are never summarised away by flood control */
		bot->say(self, rq->target, "%s", clean);
	else if (rq->target)
		bot->say_grouped(self, rq->target, "packer", "%s", clean);
	free(text);
	free(clean);
}

/* A line about a job (start, queue, errors): may be summarised when
 * flood control holds lines back. */
static void announce(struct request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void announce(struct request *rq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	announce_v(rq, 0, fmt, ap);
	va_end(ap);
}

/* A job's final line or a request's summary: always sent whole. */
static void announce_final(struct request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void announce_final(struct request *rq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	announce_v(rq, 1, fmt, ap);
	va_end(ap);
}

/* ---- configuration ---- */

static void cfg_free(void)
{
	free(cfg.templates);
	free(cfg.packer);
	free(cfg.channel);
	free(cfg.log_dir);
	memset(&cfg, 0, sizeof(cfg));
}

static int cfg_read(char **err)
{
	const char *s;
	struct sdk_buf e = SDK_BUF_INIT;
	uint64_t max;

	s = bot->config_string(self, NULL, "templates");
	{
		struct stat st;

		if (!s || stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
			*err = sdk_xasprintf("templates: %s is not a directory",
					     s ? s : "(unset)");
			return -1;
		}
	}
	s = bot->config_string(self, NULL, "log_max");
	if (sdk_size_parse(s ? s : "10M", &max, &e) < 0) {
		*err = sdk_xasprintf("log_max: %s", sdk_buf_str(&e));
		sdk_buf_release(&e);
		return -1;
	}
	for (int i = 0; i < bot->config_list_count(self, NULL, "runner"); i++) {
		const char *r = bot->config_list_item(self, NULL, "runner", i);
		const char *eq = strchr(r, '=');

		if (!eq || eq == r ||
		    (strcmp(eq + 1, "local") &&
		     strncmp(eq + 1, "jenkins:", 8))) {
			*err = sdk_xasprintf("runner '%s': write <build or "
					     "builder type>=local or "
					     "=jenkins:<server>/<job>",
					     r);
			return -1;
		}
	}
	for (int i = 0; i < bot->config_list_count(self, NULL, "lock"); i++) {
		const char *r = bot->config_list_item(self, NULL, "lock", i);
		const char *eq = strchr(r, '=');

		if (!eq || eq == r || !eq[1]) {
			*err = sdk_xasprintf("lock '%s': write <builder "
					     "type>=<lock name>",
					     r);
			return -1;
		}
	}
	cfg_free();
	cfg.log_max = max;
	cfg.templates =
	    sdk_xstrdup_or_null(bot->config_string(self, NULL, "templates"));
	cfg.packer = sdk_xstrdup(bot->config_string(self, NULL, "packer"));
	cfg.channel =
	    sdk_xstrdup_or_null(bot->config_string(self, NULL, "channel"));
	cfg.log_dir = sdk_xstrdup(bot->config_string(self, NULL, "log_dir"));
	cfg.progress_ms = bot->config_duration_ms(self, NULL, "progress");
	cfg.timeout_ms = bot->config_duration_ms(self, NULL, "timeout");
	cfg.grace_ms = bot->config_duration_ms(self, NULL, "kill_grace");
	cfg.keep_ms = bot->config_duration_ms(self, NULL, "log_keep");
	cfg.poll_ms = bot->config_duration_ms(self, NULL, "jenkins_poll");
	cfg.rng = sdk_random_seed();
	cfg.error_burst = (int)bot->config_int(self, NULL, "error_burst");
	cfg.lock_slots = (int)bot->config_int(self, NULL, "lock_slots");
	return 0;
}

/* The runner of a build: the first "runner" item naming its build name
 * or builder type, else "*", else local. */
static const char *runner_for(const char *build, const char *type)
{
	const char *star = NULL;
	int n = bot->config_list_count(self, NULL, "runner");

	for (int i = 0; i < n; i++) {
		const char *r = bot->config_list_item(self, NULL, "runner", i);
		size_t k = (size_t)(strchr(r, '=') - r);

		if ((strlen(build) == k && !strncmp(r, build, k)) ||
		    (strlen(type) == k && !strncmp(r, type, k)))
			return r + k + 1;
		if (k == 1 && r[0] == '*' && !star)
			star = r + 2;
	}
	return star ? star : "local";
}

/* The lock name of a builder type: "lock = qemu=kvm", or the type. */
static const char *lock_name_for(const char *type)
{
	int n = bot->config_list_count(self, NULL, "lock");

	for (int i = 0; i < n; i++) {
		const char *r = bot->config_list_item(self, NULL, "lock", i);
		size_t k = (size_t)(strchr(r, '=') - r);

		if (strlen(type) == k && !strncmp(r, type, k))
			return r + k + 1;
	}
	return type;
}

/* ---- jobs in memory ---- */

static struct job *job_find(int64_t id)
{
	for (struct job *j = jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

static struct lock *lock_get(const char *name)
{
	struct lock *l;

	for (l = locks; l; l = l->next)
		if (!strcmp(l->name, name))
			return l;
	l = sdk_xcalloc(1, sizeof(*l));
	l->name = sdk_xstrdup(name);
	l->next = locks;
	locks = l;
	return l;
}

static int queue_position(const struct job *j)
{
	int pos = 1;

	for (struct job *q = j->lock ? j->lock->queue : NULL; q;
	     q = q->next_queued, pos++)
		if (q == j)
			return pos;
	return 0;
}

static void queue_remove(struct job *j)
{
	struct job **at;

	if (!j->lock)
		return;
	for (at = &j->lock->queue; *at; at = &(*at)->next_queued)
		if (*at == j) {
			*at = j->next_queued;
			j->next_queued = NULL;
			return;
		}
}

static void request_free(struct request *rq)
{
	int i;

	if (rq->secret_file) {
		unlink(rq->secret_file);
		free(rq->secret_file);
	}
	if (rq->secret_dir) {
		rmdir(rq->secret_dir);
		free(rq->secret_dir);
	}
	for (i = 0; i < rq->nvars; i++)
		free(rq->vars[i]);
	free(rq->vars);
	for (i = 0; i < rq->nsecrets; i++) {
		explicit_bzero(rq->secrets[i], strlen(rq->secrets[i]));
		free(rq->secrets[i]);
	}
	free(rq->secrets);
	for (i = 0; i < rq->nvar_files; i++)
		free(rq->var_files[i]);
	free(rq->var_files);
	free(rq->template_name);
	free(rq->template_path);
	free(rq->template_dir);
	free(rq->target);
	sdk_buf_release(&rq->summary);
	free(rq);
}

static void job_free(struct job *j)
{
	struct job **at;

	for (at = &jobs; *at; at = &(*at)->next)
		if (*at == j) {
			*at = j->next;
			break;
		}
	pmr_free(&j->parser);
	pmr_build_free(&j->out);
	if (j->log)
		fclose(j->log);
	free(j->log_path);
	free(j->build);
	free(j->type);
	free(j->runner);
	free(j->jjob);
	free(j->url);
	free(j->why);
	free(j);
}

/* ---- the log of a job: redacted, capped ---- */

static void log_write(struct job *j, const char *prefix, const char *text)
{
	char *clean;
	size_t n;

	if (!j->log || j->log_cut)
		return;
	clean = redact(j->rq, text);
	n = strlen(prefix) + strlen(clean) + 1;
	if (j->log_bytes + n > cfg.log_max) {
		fprintf(j->log,
			"[log cut at %llu bytes (log_max); later lines are "
			"not kept]\n",
			(unsigned long long)j->log_bytes);
		j->log_cut = 1;
	} else {
		fprintf(j->log, "%s%s\n", prefix, clean);
		j->log_bytes += n;
	}
	fflush(j->log);
	free(clean);
}

/* One parsed line as the log keeps it: ui text line by line, other
 * types as "[target] type: fields". */
static void log_line(struct job *j, const struct pmr_line *l)
{
	if (!strcmp(l->type, "ui") && l->nfields >= 2) {
		const char *p = l->fields[1], *nl;
		const char *prefix = !strcmp(l->fields[0], "error") ? "! " : "";

		do {
			char *one;

			nl = strchr(p, '\n');
			one = nl ? sdk_xstrndup(p, (size_t)(nl - p))
				 : sdk_xstrdup(p);
			if (*one || !nl)
				log_write(j, prefix, one);
			free(one);
			p = nl ? nl + 1 : p;
		} while (nl);
	} else {
		struct sdk_buf b = SDK_BUF_INIT;

		sdk_buf_addf(&b, "[%s] %s:", l->target, l->type);
		for (int i = 0; i < l->nfields; i++)
			sdk_buf_addf(&b, " %s", l->fields[i]);
		log_write(j, "", sdk_buf_str(&b));
		sdk_buf_release(&b);
	}
}

/* ---- the end of a job ---- */

static void request_job_ended(struct request *rq, struct job *j, int ok,
			      const char *word, int64_t ms);

/* Verdict, final line, ledger, lock; then the next in the queue. */
static void lock_release(struct lock *l);

static void job_end(struct job *j, const char *state, int ok, const char *word,
		    const char *detail)
{
	char dur[32], *result;
	int64_t ms = j->started_ms ? bot->now_ms() - j->started_ms : 0;
	struct request *rq = j->rq;

	fmt_duration(dur, sizeof(dur), ms);
	result = detail && *detail
		     ? sdk_xasprintf("%s %s: %s", word, dur, detail)
		     : sdk_xasprintf("%s %s", word, dur);
	{
		char *clean = redact(rq, result);

		free(result);
		result = clean;
	}
	if (pk_job_finished(db(), j->id, state, result) < 0)
		bot->log(self, OPSBOT_LOG_ERROR,
			 "job %lld: cannot record its end (%s): %s",
			 (long long)j->id, state, sqlite3_errmsg(db()));
	if (!rq->req && rq->target)
		bot->progress_end(self, rq->target, j->key);
	log_write(j, "", result);
	announce_final(rq, "packer job %lld %s/%s: %s", (long long)j->id,
		       rq->template_name, j->build, result);
	free(result);
	j->phase = ENDED;
	request_job_ended(rq, j, ok, word, ms);
	job_free(j);
}

/* The end of a request: its summary, done() for the CLI, freed. */
static void request_complete(struct request *rq)
{
	if (rq->njobs > 1)
		announce_final(rq, "packer %s: %s", rq->template_name,
			       sdk_buf_str(&rq->summary));
	if (rq->req)
		bot->done(rq->req, rq->failed ? OPSBOT_ERR : OPSBOT_OK);
	request_free(rq);
}

static void request_job_ended(struct request *rq, struct job *j, int ok,
			      const char *word, int64_t ms)
{
	char dur[32];

	fmt_duration(dur, sizeof(dur), ms);
	sdk_buf_addf(&rq->summary, "%s%s %s %s", rq->summary.len ? ", " : "",
		     j->build, word, dur);
	if (!ok)
		rq->failed++;
	if (--rq->left == 0)
		request_complete(rq);
}

/* ---- the local runner ---- */

static void on_line(const struct pmr_line *l, void *data)
{
	struct job *j = data;
	const char *text;
	enum pmr_kind kind = pmr_build_note(&j->out, l, &text);
	struct request *rq = j->rq;

	log_line(j, l);
	if (!text)
		return;
	if (rq->req) {
		/* `opsbot run`: every step and error, as it comes. */
		if (kind == PMR_SAY || kind == PMR_ERROR)
			announce(rq, "job %lld %s: %s%s", (long long)j->id,
				 j->build, kind == PMR_ERROR ? "! " : "", text);
		return;
	}
	if (kind == PMR_ERROR && cfg.error_burst > 0 &&
	    sdk_bucket_take(&j->errors, bot->now_ms()) == 0) {
		char *clean = redact(rq, text);

		bot->say_grouped(
		    self, rq->target, "packer", "packer job %lld %s/%s: ! %s",
		    (long long)j->id, rq->template_name, j->build, clean);
		free(clean);
	} else if (kind == PMR_SAY || kind == PMR_ERROR) {
		char *clean = redact(rq, text);

		bot->say_progress(self, rq->target, j->key, cfg.progress_ms,
				  "packer job %lld %s/%s: %s%s",
				  (long long)j->id, rq->template_name, j->build,
				  kind == PMR_ERROR ? "! " : "", clean);
		free(clean);
	}
}

static void on_process(struct opsbot_plugin *pl,
		       const struct opsbot_process_event *ev, void *data)
{
	struct job *j = data;
	struct lock *l;
	char detail[512];

	switch (ev->kind) {
	case OPSBOT_PROCESS_STDOUT:
		pmr_feed_line(&j->parser, ev->line, ev->line_len,
			      ev->truncated);
		return;
	case OPSBOT_PROCESS_STDERR:
		log_write(j, "[stderr] ", ev->line);
		return;
	case OPSBOT_PROCESS_EXIT:
		break;
	}
	pmr_finish(&j->parser);
	l = j->lock;
	/* The group is gone: the lock is free for the next build. */
	j->lock = NULL;
	detail[0] = '\0';
	if (ev->status == OPSBOT_ETIMEDOUT) {
		job_end(j, "timeout", 0, "TIMED OUT", "past the timeout");
	} else if (ev->status == OPSBOT_ECANCELED || j->out.cancelled) {
		if (j->user_cancel)
			job_end(j, "cancelled", 0, "cancelled",
				"clean-up lines are in the log");
		else
			job_end(j, "interrupted", 0, "interrupted",
				"the bot stopped; clean-up lines are in the "
				"log");
	} else if (ev->status != OPSBOT_OK) {
		snprintf(detail, sizeof(detail), "killed by signal %d",
			 ev->term_signal);
		job_end(j, "failed", 0, "FAILED", detail);
	} else {
		switch (pmr_build_verdict(&j->out, ev->exit_code)) {
		case PMR_OK:
			job_end(j, "ok", 1, "ok",
				sdk_buf_str(&j->out.artifacts));
			break;
		case PMR_NOTHING:
			snprintf(detail, sizeof(detail),
				 "packer built nothing: no build named '%s' "
				 "ran",
				 j->out.name);
			job_end(j, "failed", 0, "FAILED", detail);
			break;
		case PMR_FAILED: {
			struct sdk_buf b = SDK_BUF_INIT;

			if (j->out.failure)
				sdk_buf_adds(&b, j->out.failure);
			else
				for (int i = 0; i < j->out.nerrors; i++)
					sdk_buf_addf(&b, "%s%s", i ? " | " : "",
						     j->out.last_errors[i]);
			if (!b.len)
				sdk_buf_addf(&b, "exit code %d", ev->exit_code);
			job_end(j, "failed", 0, "FAILED", sdk_buf_str(&b));
			sdk_buf_release(&b);
			break;
		}
		}
	}
	if (l)
		lock_release(l);
}

static int job_start_local(struct job *j, char **err)
{
	struct request *rq = j->rq;
	const char **argv;
	const char *env[] = {"CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1", NULL};
	struct opsbot_process_options o = {.size = sizeof(o)};
	char *only, name[128];
	int n = 0, i, fd;
	int64_t id;

	j->log_path =
	    sdk_xasprintf("%s/job-%lld.log", cfg.log_dir, (long long)j->id);
	fd = open(j->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(j->log = fdopen(fd, "w"))) {
		*err = sdk_xasprintf("cannot write the log %s: %s", j->log_path,
				     strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	argv = sdk_xcalloc((size_t)(8 + rq->nvar_files + 2 * rq->nvars + 2),
			   sizeof(*argv));
	only = sdk_xasprintf("-only=%s", j->build);
	argv[n++] = cfg.packer;
	argv[n++] = "build";
	argv[n++] = "-machine-readable";
	argv[n++] = "-color=false";
	argv[n++] = only;
	for (i = 0; i < rq->nvar_files; i++)
		argv[n++] = rq->var_files[i];
	for (i = 0; i < rq->nvars; i++) {
		argv[n++] = "-var";
		argv[n++] = rq->vars[i];
	}
	argv[n++] = rq->template_path;
	argv[n] = NULL;
	snprintf(name, sizeof(name), "packer build %s/%s", rq->template_name,
		 j->build);
	o.argv = argv;
	o.env = env;
	o.cwd = rq->template_dir;
	o.timeout_ms = (long)cfg.timeout_ms;
	o.kill_grace_ms = (long)cfg.grace_ms;
	o.cancel_signal = SIGINT;
	o.unload_policy = OPSBOT_UNLOAD_REFUSE;
	o.name = name;
	pmr_init(&j->parser, 0, on_line, j);
	pmr_build_init(&j->out, j->build);
	sdk_bucket_init(&j->errors, 1000.0 / (double)cfg.progress_ms,
			cfg.error_burst, bot->now_ms());
	id = bot->process_start(self, &o, on_process, j);
	free(argv);
	free(only);
	if (id < 0) {
		*err = sdk_xasprintf("cannot start %s (%s)", cfg.packer,
				     id == OPSBOT_ENOENT ? "not installed?"
							 : "see the log");
		return -1;
	}
	j->proc = id;
	j->phase = RUNNING;
	j->started_ms = bot->now_ms();
	if (pk_job_started(db(), j->id, j->log_path) < 0)
		bot->log(self, OPSBOT_LOG_ERROR, "job %lld: store: %s",
			 (long long)j->id, sqlite3_errmsg(db()));
	log_write(j, "", "packer build started");
	announce(rq, "packer job %lld %s/%s: started (local, lock %s)",
		 (long long)j->id, rq->template_name, j->build,
		 j->lock ? j->lock->name : "-");
	return 0;
}

/* Starts j now that it holds its lock; a failure ends it at once. */
static void job_go(struct job *j)
{
	char *err = NULL;

	if (job_start_local(j, &err) < 0) {
		struct lock *l = j->lock;

		j->lock = NULL;
		job_end(j, "failed", 0, "FAILED", err);
		free(err);
		if (l)
			lock_release(l);
	}
}

static int lock_slots(void)
{
	return cfg.lock_slots > 0 ? cfg.lock_slots : 1;
}

/* Claims the lock for j in the store too (other processes); 1 if so. */
static int lock_claim(struct lock *l, struct job *j)
{
	int rc = pk_lock_claim(db(), j->id, l->name, lock_slots() - l->used);

	if (rc < 0) {
		bot->log(self, OPSBOT_LOG_ERROR, "lock %s: store: %s", l->name,
			 sqlite3_errmsg(db()));
		return 0;
	}
	return rc;
}

static int64_t retry_timer;

static long on_lock_retry(struct opsbot_plugin *pl, int status, void *data);

/* Starts whoever waits on l and may go now; says the new positions. */
static void lock_drain(struct lock *l)
{
	int moved = 0;

	while (l->queue && l->used < lock_slots() && lock_claim(l, l->queue)) {
		struct job *next = l->queue;

		l->queue = next->next_queued;
		next->next_queued = NULL;
		l->used++;
		moved = 1;
		job_go(next);
	}
	if (l->queue && !retry_timer) {
		/* Held by another process: look again in a while. */
		int64_t id = bot->timer_start(self, 2000, on_lock_retry, NULL);

		retry_timer = id > 0 ? id : 0;
	}
	if (!moved)
		return;
	for (struct job *q = l->queue; q; q = q->next_queued)
		if (!q->rq->req)
			bot->say_progress(
			    self, q->rq->target, q->key, cfg.progress_ms,
			    "packer job %lld %s/%s: waiting for lock %s "
			    "(position %d)",
			    (long long)q->id, q->rq->template_name, q->build,
			    l->name, queue_position(q));
}

static long on_lock_retry(struct opsbot_plugin *pl, int status, void *data)
{
	retry_timer = 0;
	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	for (struct lock *l = locks; l; l = l->next)
		lock_drain(l);
	return OPSBOT_TIMER_STOP;
}

static void lock_release(struct lock *l)
{
	l->used--;
	lock_drain(l);
}

/* Takes the lock or queues; returns the queue position (0: started). */
static int job_submit_local(struct job *j)
{
	struct lock *l = lock_get(lock_name_for(j->type));
	struct job **at;

	j->lock = l;
	if (l->used < lock_slots() && !l->queue && lock_claim(l, j)) {
		l->used++;
		job_go(j);
		return 0;
	}
	for (at = &l->queue; *at; at = &(*at)->next_queued)
		;
	*at = j;
	if (!retry_timer) {
		int64_t id = bot->timer_start(self, 2000, on_lock_retry, NULL);

		retry_timer = id > 0 ? id : 0;
	}
	return queue_position(j);
}

/* ---- the Jenkins runner ---- */

#define POLL_MAX_MS (5 * 60 * 1000L)

static struct server *server_find(const char *name, size_t len)
{
	for (struct server *v = servers; v; v = v->next)
		if (strlen(v->name) == len && !strncmp(v->name, name, len))
			return v;
	return NULL;
}

/* "jenkins:<server>/<job>" -> the server and the job; NULL with *err. */
static struct server *jenkins_target(const char *runner, const char **job,
				     char **err)
{
	const char *s = runner + 8, *slash = strchr(s, '/');
	struct server *v;

	if (strncmp(runner, "jenkins:", 8) || !slash || slash == s ||
	    !slash[1]) {
		*err = sdk_xasprintf("runner %s: write jenkins:<server>/<job>",
				     runner);
		return NULL;
	}
	v = server_find(s, (size_t)(slash - s));
	if (!v) {
		*err =
		    sdk_xasprintf("runner %s: no [plugin.packer.jenkins.%.*s]",
				  runner, (int)(slash - s), s);
		return NULL;
	}
	*job = slash + 1;
	return v;
}

static void jenkins_persist(struct job *j)
{
	char remote[512];

	if (j->number)
		snprintf(remote, sizeof(remote), "build %ld %s", j->number,
			 j->url ? j->url : "");
	else
		snprintf(remote, sizeof(remote), "queue %ld", j->queue_id);
	if (pk_job_set_remote(db(), j->id, remote) < 0)
		bot->log(self, OPSBOT_LOG_ERROR, "job %lld: store: %s",
			 (long long)j->id, sqlite3_errmsg(db()));
}

static void jenkins_poll_later(struct job *j);

/* A poll failed for a reason other than an answer about the build: one
 * notice when the outage starts, then backoff. */
static void jenkins_outage(struct job *j, const char *error)
{
	j->poll_errors++;
	if (!j->outage) {
		char *clean = pmr_clean_line(error, TEXT_MAX);

		j->outage = 1;
		announce(j->rq,
			 "packer job %lld %s/%s: cannot reach jenkins %s (%s); "
			 "still following it, retrying with backoff",
			 (long long)j->id, j->rq->template_name, j->build,
			 j->srv->name, clean);
		free(clean);
	}
	jenkins_poll_later(j);
}

static void jenkins_reached(struct job *j)
{
	if (j->outage)
		announce(j->rq,
			 "packer job %lld %s/%s: jenkins %s answers again",
			 (long long)j->id, j->rq->template_name, j->build,
			 j->srv->name);
	j->outage = 0;
	j->poll_errors = 0;
}

static void jenkins_progress(struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void jenkins_progress(struct job *j, const char *fmt, ...)
{
	struct sdk_buf b = SDK_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sdk_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (j->rq->req)
		announce(j->rq, "job %lld %s: %s", (long long)j->id, j->build,
			 sdk_buf_str(&b));
	else
		bot->say_progress(self, j->rq->target, j->key, cfg.progress_ms,
				  "packer job %lld %s/%s: %s", (long long)j->id,
				  j->rq->template_name, j->build,
				  sdk_buf_str(&b));
	sdk_buf_release(&b);
}

static void on_build(const char *error, const struct sdk_jenkins_build *b,
		     void *data)
{
	struct job *j = data;
	char detail[600];

	j->in_call = 0;
	if (error && !strcmp(error, "cancelled"))
		return; /* unloading: followed again after the next start */
	if (error) {
		jenkins_outage(j, error);
		return;
	}
	jenkins_reached(j);
	if (b->building || b->result == SDK_JENKINS_NONE) {
		jenkins_poll_later(j);
		return;
	}
	snprintf(detail, sizeof(detail), "jenkins %s build %ld%s%s",
		 j->srv->name, j->number, j->url ? " " : "",
		 j->url ? j->url : "");
	switch (b->result) {
	case SDK_JENKINS_SUCCESS:
		job_end(j, "ok", 1, "ok", detail);
		break;
	case SDK_JENKINS_ABORTED:
		if (j->user_cancel)
			job_end(j, "cancelled", 0, "cancelled", detail);
		else
			job_end(j, "failed", 0, "ABORTED", detail);
		break;
	default: {
		char more[700];

		snprintf(more, sizeof(more), "%s (%s)", detail,
			 sdk_jenkins_result_name(b->result));
		job_end(j, "failed", 0, "FAILED", more);
	}
	}
}

static void on_item(const char *error, long code,
		    const struct sdk_jenkins_item *it, void *data)
{
	struct job *j = data;

	j->in_call = 0;
	if (error && !strcmp(error, "cancelled"))
		return;
	if (error && code == 404) {
		job_end(j, "failed", 0, "FAILED",
			"Jenkins forgot the queue item before its build was "
			"seen (queue items are kept ~5 min)");
		return;
	}
	if (error) {
		jenkins_outage(j, error);
		return;
	}
	jenkins_reached(j);
	if (it->state == SDK_JENKINS_ITEM_CANCELLED) {
		job_end(j, "cancelled", 0, "cancelled",
			"the Jenkins queue item was cancelled");
		return;
	}
	if (it->state == SDK_JENKINS_ITEM_STARTED) {
		j->number = it->number;
		free(j->url);
		j->url = it->url ? pmr_clean_line(it->url, 300) : NULL;
		jenkins_persist(j);
		jenkins_progress(j, "running as jenkins %s build %ld %s",
				 j->srv->name, j->number, j->url ? j->url : "");
	} else if (it->why && (!j->why || strcmp(j->why, it->why))) {
		free(j->why);
		j->why = pmr_clean_line(it->why, 200);
		jenkins_progress(j, "waiting in the Jenkins queue: %s", j->why);
	}
	jenkins_poll_later(j);
}

static long on_poll(struct opsbot_plugin *pl, int status, void *data)
{
	struct job *j = data;

	j->timer = 0;
	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP; /* unloading */
	if (cfg.timeout_ms && bot->now_ms() - j->started_ms > cfg.timeout_ms) {
		job_end(j, "timeout", 0, "TIMED OUT",
			"stopped following it (the Jenkins build may go on)");
		return OPSBOT_TIMER_STOP;
	}
	j->in_call = 1;
	if (j->number)
		sdk_jenkins_build(&j->srv->j, j->jjob, j->number, on_build, j);
	else
		sdk_jenkins_queue_item(&j->srv->j, j->queue_id, on_item, j);
	return OPSBOT_TIMER_STOP;
}

static void jenkins_poll_later(struct job *j)
{
	long delay = (long)cfg.poll_ms;
	int64_t id;

	if (j->poll_errors)
		delay = sdk_backoff_ms(j->poll_errors, (long)cfg.poll_ms,
				       POLL_MAX_MS, &cfg.rng);
	id = bot->timer_start(self, delay, on_poll, j);
	j->timer = id > 0 ? id : 0;
}

static void on_cancel_sent(const char *error, long code, void *data)
{
	struct job *j = data;

	if (!error || !strcmp(error, "cancelled") || !job_find(j->id))
		return;
	announce(j->rq, "packer job %lld: Jenkins refused the cancel: %s",
		 (long long)j->id, error);
}

static void jenkins_cancel(struct job *j)
{
	if (j->number)
		sdk_jenkins_stop(&j->srv->j, j->jjob, j->number, on_cancel_sent,
				 j);
	else if (j->queue_id)
		sdk_jenkins_cancel_item(&j->srv->j, j->queue_id, on_cancel_sent,
					j);
	/* else the trigger is out: cancelled when its answer comes */
}

static void on_trigger(const char *error, long code,
		       const struct sdk_jenkins_queued *q, void *data)
{
	struct job *j = data;

	j->in_call = 0;
	if (error && !strcmp(error, "cancelled"))
		return; /* the row stays queued without a remote: at the
			   next start it is reported, never sent again */
	if (error) {
		job_end(j, "failed", 0, "FAILED", error);
		return;
	}
	j->queue_id = q->queue_id;
	jenkins_persist(j);
	if (pk_job_started(db(), j->id, NULL) < 0)
		bot->log(self, OPSBOT_LOG_ERROR, "job %lld: store: %s",
			 (long long)j->id, sqlite3_errmsg(db()));
	announce(j->rq,
		 "packer job %lld %s/%s: queued on jenkins %s/%s (queue item "
		 "%ld%s)",
		 (long long)j->id, j->rq->template_name, j->build, j->srv->name,
		 j->jjob, j->queue_id,
		 q->existing ? ", the same build was already queued" : "");
	if (j->user_cancel)
		jenkins_cancel(j);
	jenkins_poll_later(j);
}

static void job_submit_jenkins(struct job *j)
{
	char *err = NULL, label[160];
	const char *jjob;
	const char *params[4];

	j->srv = jenkins_target(j->runner, &jjob, &err);
	if (!j->srv) {
		job_end(j, "failed", 0, "FAILED", err);
		free(err);
		return;
	}
	j->jjob = sdk_xstrdup(jjob);
	j->phase = RUNNING;
	j->started_ms = bot->now_ms();
	snprintf(label, sizeof(label), "packer-%s", j->build);
	params[0] = "machine";
	params[1] = j->rq->template_name;
	params[2] = "builderlabel";
	params[3] = label;
	j->in_call = 1;
	sdk_jenkins_trigger(&j->srv->j, j->jjob, params, 2, on_trigger, j);
}

static void servers_free(void)
{
	while (servers) {
		struct server *v = servers;

		servers = v->next;
		sdk_jenkins_free(&v->j);
		free(v->name);
		free(v);
	}
}

static int servers_setup(char **err)
{
	struct sdk_http_options o = {.concurrency = 4,
				     .max_attempts = 2,
				     .backoff_base_ms = 500,
				     .backoff_max_ms = 5000,
				     .timeout_ms = 30000};
	int n = bot->config_section_count(self, "jenkins");

	sdk_http_queue_init(&httpq, self, bot, &o);
	for (int i = 0; i < n; i++) {
		const char *name = bot->config_section_name(self, "jenkins", i);
		char section[80];
		struct server *v = sdk_xcalloc(1, sizeof(*v));
		struct sdk_http_service svc = {.name = "jenkins"};
		struct sdk_jenkins_config jc = {0};
		struct sdk_buf e = SDK_BUF_INIT;

		snprintf(section, sizeof(section), "jenkins.%s", name);
		v->name = sdk_xstrdup(name);
		v->next = servers;
		servers = v;
		jc.name = name;
		jc.url = bot->config_string(self, section, "url");
		jc.user = bot->config_string(self, section, "user");
		jc.token = bot->config_secret(self, section, "token");
		jc.password = bot->config_secret(self, section, "password");
		jc.service = sdk_http_service_add(&httpq, &svc);
		if (jc.service < 0 ||
		    sdk_jenkins_init(&v->j, &httpq, &jc, &e) < 0) {
			*err = sdk_xasprintf(
			    "[plugin.packer.jenkins.%s]: %s", name,
			    jc.service < 0 ? "too many Jenkins servers"
					   : sdk_buf_str(&e));
			sdk_buf_release(&e);
			return -1;
		}
	}
	return 0;
}

/* ---- commands ---- */

static int reply_err(struct opsbot_request *req, const char *what, char *err)
{
	bot->reply_error(req, "packer: %s%s%s", what ? what : "",
			 what ? ": " : "", err ? err : "failed");
	free(err);
	return OPSBOT_ERR;
}

static int cmd_templates(struct opsbot_plugin *pl, struct opsbot_request *req,
			 void *data)
{
	char **names, *err = NULL;
	int n;
	struct sdk_buf b = SDK_BUF_INIT;

	if (tmpl_list(cfg.templates, &names, &n, &err) < 0)
		return reply_err(req, NULL, err);
	for (int i = 0; i < n; i++) {
		sdk_buf_addf(&b, "%s%s", i ? ", " : "", names[i]);
		free(names[i]);
	}
	free(names);
	if (n)
		bot->reply(req, "templates (%d): %s", n, sdk_buf_str(&b));
	else
		bot->reply(req, "no templates in %s", cfg.templates);
	sdk_buf_release(&b);
	return OPSBOT_OK;
}

static int load_template(struct opsbot_request *req, const char *name,
			 struct tmpl *t)
{
	char *err = NULL, *path = tmpl_find(cfg.templates, name, &err);

	if (!path)
		return reply_err(req, NULL, err);
	if (tmpl_load(path, t, &err) < 0) {
		free(path);
		return reply_err(req, name, err);
	}
	free(path);
	return OPSBOT_OK;
}

static int cmd_builders(struct opsbot_plugin *pl, struct opsbot_request *req,
			void *data)
{
	struct tmpl t;
	struct sdk_buf b = SDK_BUF_INIT;
	int i;

	if (load_template(req, req->argv[0], &t) != OPSBOT_OK)
		return OPSBOT_ERR;
	for (i = 0; i < t.nbuilds; i++)
		sdk_buf_addf(&b, "%s%s (%s, %s)", i ? ", " : "",
			     t.builds[i].name, t.builds[i].type,
			     runner_for(t.builds[i].name, t.builds[i].type));
	if (t.nvars) {
		sdk_buf_adds(&b, "; variables:");
		for (i = 0; i < t.nvars; i++)
			sdk_buf_addf(&b, " %s%s", t.vars[i].name,
				     t.vars[i].sensitive ? " (sensitive)" : "");
	}
	bot->reply(req, "%s: %s", req->argv[0], sdk_buf_str(&b));
	sdk_buf_release(&b);
	tmpl_free(&t);
	return OPSBOT_OK;
}

/* Writes the sensitive variables into a 0600 var-file of their own. */
static int write_secret_file(struct request *rq, json_t *secrets, char **err)
{
	char *tmpl_dir = sdk_xasprintf("%s/tmp-XXXXXX", cfg.log_dir);
	char *text;
	int fd;
	size_t len;

	if (!mkdtemp(tmpl_dir)) {
		*err = sdk_xasprintf("cannot make a private directory in %s: "
				     "%s",
				     cfg.log_dir, strerror(errno));
		free(tmpl_dir);
		return -1;
	}
	rq->secret_dir = tmpl_dir;
	rq->secret_file = sdk_xasprintf("%s/secret.json", tmpl_dir);
	fd = open(rq->secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		*err = sdk_xasprintf("cannot write a private var-file: %s",
				     strerror(errno));
		free(rq->secret_file);
		rq->secret_file = NULL;
		return -1;
	}
	text = json_dumps(secrets, JSON_COMPACT);
	len = text ? strlen(text) : 0;
	if (!text || write(fd, text, len) != (ssize_t)len) {
		*err = sdk_xstrdup("cannot write a private var-file");
		if (text) {
			explicit_bzero(text, len);
			free(text);
		}
		close(fd);
		return -1;
	}
	explicit_bzero(text, len);
	free(text);
	close(fd);
	return 0;
}

static void add_str(char ***arr, int *n, char *s)
{
	*arr = sdk_xreallocarray(*arr, (size_t)*n + 1, sizeof(**arr));
	(*arr)[(*n)++] = s;
}

/* Common var files, then the template's ([plugin.packer.template.<t>]). */
static int resolve_var_files(struct request *rq, char **err)
{
	char section[128];
	const char *sections[2] = {NULL, section};

	snprintf(section, sizeof(section), "template.%s", rq->template_name);
	for (int s = 0; s < 2; s++) {
		int n = bot->config_list_count(self, sections[s], "var_file");

		for (int i = 0; i < n; i++) {
			const char *rel = bot->config_list_item(
			    self, sections[s], "var_file", i);
			char *path = tmpl_inside(cfg.templates, rel, err);

			if (!path)
				return -1;
			add_str(&rq->var_files, &rq->nvar_files,
				sdk_xasprintf("-var-file=%s", path));
			free(path);
		}
	}
	if (rq->secret_file)
		add_str(&rq->var_files, &rq->nvar_files,
			sdk_xasprintf("-var-file=%s", rq->secret_file));
	return 0;
}

static int cmd_build(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct tmpl t;
	struct request *rq;
	const char *which = "all";
	char *err = NULL, who[128];
	int first_var = 1, i, nb = 0;
	const struct tmpl_build **builds;
	json_t *secrets = json_object();
	struct sdk_buf reply = SDK_BUF_INIT;

	if (load_template(req, req->argv[0], &t) != OPSBOT_OK) {
		json_decref(secrets);
		return OPSBOT_ERR;
	}
	if (req->argc > 1 && !strchr(req->argv[1], '=')) {
		which = req->argv[1];
		first_var = 2;
	}
	builds = sdk_xcalloc((size_t)t.nbuilds, sizeof(*builds));
	rq = sdk_xcalloc(1, sizeof(*rq));
	rq->template_name = sdk_xstrdup(req->argv[0]);
	rq->template_path = sdk_xstrdup(t.path);
	rq->template_dir = sdk_xstrdup(t.dir);
	/* Which builds: "all", or a comma list of names. */
	if (!strcmp(which, "all")) {
		for (i = 0; i < t.nbuilds; i++)
			builds[nb++] = &t.builds[i];
	} else {
		char *list = sdk_xstrdup(which), *save = NULL, *w;

		for (w = strtok_r(list, ",", &save); w;
		     w = strtok_r(NULL, ",", &save)) {
			const struct tmpl_build *b = tmpl_build_find(&t, w);
			int dup = 0;

			if (!b) {
				struct sdk_buf names = SDK_BUF_INIT;

				for (i = 0; i < t.nbuilds; i++)
					sdk_buf_addf(&names, "%s%s",
						     i ? ", " : "",
						     t.builds[i].name);
				err = sdk_xasprintf(
				    "template %s has no build '%s' (it has: "
				    "%s)",
				    rq->template_name, w, sdk_buf_str(&names));
				sdk_buf_release(&names);
				break;
			}
			for (i = 0; i < nb; i++)
				dup |= builds[i] == b;
			if (!dup)
				builds[nb++] = b;
		}
		free(list);
		if (!err && !nb)
			err = sdk_xstrdup("name the builds, or all");
	}
	if (!err && nb > 64) {
		err = sdk_xstrdup("at most 64 builds at once; name some");
	}
	/* Variables: declared ones only; sensitive ones never in argv. */
	for (i = first_var; !err && i < req->argc; i++) {
		const struct tmpl_var *v =
		    tmpl_var_check(&t, req->argv[i], &err);
		const char *value = v ? strchr(req->argv[i], '=') + 1 : NULL;

		if (!v)
			break;
		if (v->sensitive) {
			if (req->origin == OPSBOT_ORIGIN_CHANNEL) {
				err = sdk_xasprintf(
				    "'%s' is sensitive: give it in a private "
				    "message (nothing was started; change the "
				    "value, it was shown in the channel)",
				    v->name);
				break;
			}
			json_object_set_new(secrets, v->name,
					    json_string(value));
			if (*value)
				add_str(&rq->secrets, &rq->nsecrets,
					sdk_xstrdup(value));
		} else {
			add_str(&rq->vars, &rq->nvars,
				sdk_xstrdup(req->argv[i]));
		}
	}
	if (!err && json_object_size(secrets))
		write_secret_file(rq, secrets, &err);
	json_decref(secrets);
	if (!err)
		resolve_var_files(rq, &err);
	for (i = 0; !err && i < nb; i++) {
		const char *runner =
		    runner_for(builds[i]->name, builds[i]->type);
		const char *jj;

		if (!strcmp(runner, "local"))
			continue;
		if (!jenkins_target(runner, &jj, &err))
			break;
		if (rq->nvars || rq->nsecrets)
			err = sdk_xasprintf(
			    "build %s runs on %s, which takes no variables "
			    "(only machine and builderlabel)",
			    builds[i]->name, runner);
	}
	if (err) {
		request_free(rq);
		free(builds);
		tmpl_free(&t);
		return reply_err(req, NULL, err);
	}
	/* Record every job before any starts. */
	asker_name(req, who, sizeof(who));
	rq->target = sdk_xstrdup(target_for(req));
	rq->id = pk_request_next(db());
	if (req->origin == OPSBOT_ORIGIN_CLI)
		rq->req = req;
	struct job *made[64];
	int nmade = 0;

	for (i = 0; i < nb && i < 64; i++) {
		struct job *j = sdk_xcalloc(1, sizeof(*j));

		j->rq = rq;
		j->build = sdk_xstrdup(builds[i]->name);
		j->type = sdk_xstrdup(builds[i]->type);
		j->runner =
		    sdk_xstrdup(runner_for(builds[i]->name, builds[i]->type));
		j->id = pk_job_insert(db(), rq->id, rq->template_name, j->build,
				      j->runner, who, rq->target);
		if (j->id < 0) {
			bot->log(self, OPSBOT_LOG_ERROR, "store: %s",
				 sqlite3_errmsg(db()));
			free(j->build);
			free(j->type);
			free(j->runner);
			free(j);
			break;
		}
		snprintf(j->key, sizeof(j->key), "job-%lld", (long long)j->id);
		j->next = jobs;
		jobs = j;
		made[nmade++] = j;
	}
	free(builds);
	tmpl_free(&t);
	if (nmade < nb) {
		for (i = 0; i < nmade; i++) {
			pk_job_finished(db(), made[i]->id, "failed",
					"not started: the store failed");
			job_free(made[i]);
		}
		request_free(rq);
		bot->reply_error(req, "packer: cannot record the jobs (the "
				      "store failed; see the bot's log)");
		return OPSBOT_ERR;
	}
	rq->njobs = nmade;
	/* One more than the jobs while the handler runs: jobs that end
	 * inside it (packer missing) cannot end the request under it. */
	rq->left = nmade + 1;
	for (i = 0; i < nmade; i++)
		sdk_buf_addf(&reply, "%sjob %lld %s", i ? ", " : "",
			     (long long)made[i]->id, made[i]->build);
	{
		char hint[96];

		bot->command_example(req, hint, sizeof(hint), "cancel <job>");
		bot->reply(req, "packer %s: %s%s%s%s", rq->template_name,
			   sdk_buf_str(&reply),
			   rq->req ? "" : " (progress here; ",
			   rq->req ? "" : hint, rq->req ? "" : ")");
	}
	sdk_buf_release(&reply);
	/* Start or queue; a start may fail and end the request at once. */
	{
		int64_t ids[64];
		int pending = rq->req != NULL;

		for (i = 0; i < nmade; i++)
			ids[i] = made[i]->id;
		for (i = 0; i < nmade; i++) {
			struct job *j = job_find(ids[i]);
			int pos;

			if (!j)
				continue;
			if (strcmp(j->runner, "local")) {
				job_submit_jenkins(j);
				continue;
			}
			pos = job_submit_local(j);
			if (pos > 0)
				announce(j->rq,
					 "packer job %lld %s/%s: waiting for "
					 "lock %s (position %d)",
					 (long long)j->id, j->rq->template_name,
					 j->build, j->lock->name, pos);
		}
		if (--rq->left == 0) {
			/* Every job ended already: answer now, not done(). */
			int failed = rq->failed;

			rq->req = NULL;
			if (rq->njobs > 1)
				bot->reply(req, "packer %s: %s",
					   rq->template_name,
					   sdk_buf_str(&rq->summary));
			request_free(rq);
			return failed ? OPSBOT_ERR : OPSBOT_OK;
		}
		return pending ? OPSBOT_PENDING : OPSBOT_OK;
	}
}

static int parse_job_id(struct opsbot_request *req, const char *text,
			int64_t *id)
{
	char *end;
	long long v;

	if (*text == '#')
		text++;
	v = strtoll(text, &end, 10);
	if (end == text || *end || v <= 0) {
		bot->reply_error(req, "packer: a job is its number, as in "
				      "\"job 12\"");
		return -1;
	}
	*id = v;
	return 0;
}

static void status_row(const struct pk_row *r, void *data)
{
	struct opsbot_request *req = data;

	bot->reply(req, "job %lld %s/%s (%s, by %s): %s", (long long)r->id,
		   r->template_name, r->build, r->runner, r->asker,
		   r->result ? r->result : r->state);
}

static int cmd_status(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	int n = 0;

	if (req->argc == 1) {
		int64_t id;
		struct job *j;
		struct pk_row r;

		if (parse_job_id(req, req->argv[0], &id) < 0)
			return OPSBOT_ERR;
		j = job_find(id);
		if (j && j->srv) {
			char dur[32];

			fmt_duration(dur, sizeof(dur),
				     bot->now_ms() - j->started_ms);
			bot->reply(req,
				   "job %lld %s/%s: on jenkins %s for %s, %s"
				   "%s%s",
				   (long long)id, j->rq->template_name,
				   j->build, j->srv->name, dur,
				   j->number ? "building " : "queued",
				   j->number && j->url ? j->url : "",
				   j->outage ? " (jenkins unreachable now)"
					     : "");
			return OPSBOT_OK;
		}
		if (j && j->phase == RUNNING) {
			char dur[32];

			fmt_duration(dur, sizeof(dur),
				     bot->now_ms() - j->started_ms);
			bot->reply(req,
				   "job %lld %s/%s: running for %s "
				   "(local); last: %s",
				   (long long)id, j->rq->template_name,
				   j->build, dur,
				   j->out.last_say ? j->out.last_say : "-");
			return OPSBOT_OK;
		}
		if (j && j->phase == QUEUED) {
			bot->reply(req,
				   "job %lld %s/%s: waiting for lock %s "
				   "(position %d)",
				   (long long)id, j->rq->template_name,
				   j->build, j->lock ? j->lock->name : "-",
				   queue_position(j));
			return OPSBOT_OK;
		}
		if (pk_job_load(db(), id, &r) < 0) {
			bot->reply_error(req, "packer: no job %lld",
					 (long long)id);
			return OPSBOT_ERR;
		}
		status_row(&r, req);
		pk_row_free(&r);
		return OPSBOT_OK;
	}
	for (struct job *j = jobs; j; j = j->next) {
		char dur[32] = "";

		if (j->phase == RUNNING)
			fmt_duration(dur, sizeof(dur),
				     bot->now_ms() - j->started_ms);
		if (j->srv)
			bot->reply(req, "job %lld %s/%s: on jenkins %s, %s",
				   (long long)j->id, j->rq->template_name,
				   j->build, j->srv->name,
				   j->number ? "building" : "queued");
		else if (j->phase == RUNNING)
			bot->reply(req, "job %lld %s/%s: running %s; %s",
				   (long long)j->id, j->rq->template_name,
				   j->build, dur,
				   j->out.last_say ? j->out.last_say : "-");
		else
			bot->reply(req,
				   "job %lld %s/%s: waiting for lock %s "
				   "(position %d)",
				   (long long)j->id, j->rq->template_name,
				   j->build, j->lock ? j->lock->name : "-",
				   queue_position(j));
		n++;
	}
	if (!n)
		bot->reply(req, "no builds running or waiting");
	return OPSBOT_OK;
}

static int cmd_log(struct opsbot_plugin *pl, struct opsbot_request *req,
		   void *data)
{
	int64_t id;
	long lines = 20;
	struct pk_row r;
	FILE *f;
	char *buf, *p;
	long size, from, got;
	int count = 0;

	if (parse_job_id(req, req->argv[0], &id) < 0)
		return OPSBOT_ERR;
	if (req->argc > 1) {
		char *end;

		lines = strtol(req->argv[1], &end, 10);
		if (*end || lines <= 0 || lines > LOG_TAIL_MAX) {
			bot->reply_error(req, "packer: lines is 1 to %d",
					 LOG_TAIL_MAX);
			return OPSBOT_ERR;
		}
	}
	if (pk_job_load(db(), id, &r) < 0) {
		bot->reply_error(req, "packer: no job %lld", (long long)id);
		return OPSBOT_ERR;
	}
	if (!r.log_path || !(f = fopen(r.log_path, "r"))) {
		bot->reply_error(
		    req, "packer: job %lld has no log (%s)", (long long)id,
		    r.log_path ? "removed" : "expired or never ran");
		pk_row_free(&r);
		return OPSBOT_ERR;
	}
	/* Only the tail is read: a 10 MB log costs 64 KiB here. */
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	from = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
	fseek(f, from, SEEK_SET);
	buf = sdk_xmalloc(LOG_TAIL_BYTES + 1);
	got = (long)fread(buf, 1, LOG_TAIL_BYTES, f);
	fclose(f);
	buf[got] = '\0';
	/* Back from the end to the start of the lines-th last line. */
	p = buf + got;
	if (p > buf && p[-1] == '\n')
		p--;
	while (p > buf) {
		if (p[-1] == '\n' && ++count == lines)
			break;
		p--;
	}
	if (from > 0 && p == buf) {
		char *nl = strchr(p, '\n');

		p = nl ? nl + 1 : p;
	}
	bot->reply_private(req, "log of job %lld %s/%s (%s):", (long long)id,
			   r.template_name, r.build, r.state);
	while (*p && p < buf + got) {
		char *nl = strchr(p, '\n'), *clean;

		if (nl)
			*nl = '\0';
		clean = sdk_text_clean_str(p, SDK_TEXT_KEEP_TABS, 400);
		bot->reply_private(req, "%s", clean);
		free(clean);
		if (!nl)
			break;
		p = nl + 1;
	}
	free(buf);
	pk_row_free(&r);
	return OPSBOT_OK;
}

static int cmd_cancel(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	int64_t id;
	struct job *j;
	char grace[32];

	if (parse_job_id(req, req->argv[0], &id) < 0)
		return OPSBOT_ERR;
	j = job_find(id);
	if (!j) {
		struct pk_row r;

		if (pk_job_load(db(), id, &r) == 0) {
			bot->reply_error(req,
					 "packer: job %lld is not "
					 "running (%s)",
					 (long long)id, r.state);
			pk_row_free(&r);
		} else {
			bot->reply_error(req, "packer: no job %lld",
					 (long long)id);
		}
		return OPSBOT_ERR;
	}
	if (j->user_cancel) {
		bot->reply(req, "job %lld is already being cancelled",
			   (long long)id);
		return OPSBOT_OK;
	}
	j->user_cancel = 1;
	if (j->phase == QUEUED) {
		queue_remove(j);
		bot->reply(req, "job %lld cancelled before it started",
			   (long long)id);
		j->lock = NULL;
		job_end(j, "cancelled", 0, "cancelled", "before it started");
		return OPSBOT_OK;
	}
	if (j->srv) {
		jenkins_cancel(j);
		bot->reply(req,
			   "cancelling job %lld on jenkins %s (%s); its end "
			   "follows",
			   (long long)id, j->srv->name,
			   j->number ? "stopping the build"
				     : "cancelling the queue item");
		return OPSBOT_OK;
	}
	fmt_duration(grace, sizeof(grace), cfg.grace_ms);
	if (bot->cancel(self, j->proc) != OPSBOT_OK) {
		bot->reply_error(req, "packer: job %lld is ending already",
				 (long long)id);
		return OPSBOT_ERR;
	}
	bot->reply(req,
		   "cancelling job %lld: packer cleans up (SIGINT), stopped "
		   "after %s",
		   (long long)id, grace);
	return OPSBOT_OK;
}

static void history_row(const struct pk_row *r, void *data)
{
	struct opsbot_request *req = data;
	char when[32] = "";
	time_t t = (time_t)r->created;
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	bot->reply(req, "job %lld %s %s/%s by %s: %s", (long long)r->id, when,
		   r->template_name, r->build, r->asker,
		   r->result ? r->result : r->state);
}

static int cmd_history(struct opsbot_plugin *pl, struct opsbot_request *req,
		       void *data)
{
	const char *name = req->argc ? req->argv[0] : NULL;

	if (name && !tmpl_name_valid(name)) {
		bot->reply_error(req, "packer: not a template name");
		return OPSBOT_ERR;
	}
	if (pk_jobs_recent(db(), name, 10, history_row, req) == 0)
		bot->reply(req, "no builds yet");
	return OPSBOT_OK;
}

/* ---- start-up, retention ---- */

static void announce_stale(const struct pk_row *r, void *data)
{
	bot->log(self, OPSBOT_LOG_WARN,
		 "job %lld %s/%s was %s when the bot stopped: interrupted",
		 (long long)r->id, r->template_name, r->build, r->state);
	if (bot->mode() == OPSBOT_MODE_DAEMON && r->target && *r->target)
		bot->say_grouped(self, r->target, "packer",
				 "packer job %lld %s/%s: interrupted (the bot "
				 "stopped while it %s)",
				 (long long)r->id, r->template_name, r->build,
				 strcmp(r->state, "running") ? "waited"
							     : "ran");
}

static void unlink_log(const char *path, void *data)
{
	if (path)
		unlink(path);
}

static long on_expire(struct opsbot_plugin *pl, int status, void *data)
{
	int64_t before;

	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	before = (int64_t)time(NULL) - cfg.keep_ms / 1000;
	if (pk_jobs_expire_logs(db(), before, unlink_log, NULL) < 0)
		bot->log(self, OPSBOT_LOG_ERROR, "log expiry: %s",
			 sqlite3_errmsg(db()));
	return 3600 * 1000L;
}

/* A Jenkins job of a previous life: followed again from what was stored. */
static void resume_row(const struct pk_row *r, void *data)
{
	struct request *rq = sdk_xcalloc(1, sizeof(*rq));
	struct job *j = sdk_xcalloc(1, sizeof(*j));
	const char *jj;
	char *err = NULL, url[400] = "";
	long n = 0;

	rq->id = r->request;
	rq->template_name = sdk_xstrdup(r->template_name);
	rq->target = sdk_xstrdup_or_null(r->target);
	rq->njobs = rq->left = 1;
	j->id = r->id;
	j->rq = rq;
	j->build = sdk_xstrdup(r->build);
	j->type = sdk_xstrdup("");
	j->runner = sdk_xstrdup(r->runner);
	snprintf(j->key, sizeof(j->key), "job-%lld", (long long)j->id);
	j->next = jobs;
	jobs = j;
	j->started_ms =
	    bot->now_ms() - ((int64_t)time(NULL) - r->started) * 1000;
	j->srv = jenkins_target(r->runner, &jj, &err);
	if (!j->srv) {
		job_end(j, "failed", 0, "FAILED", err);
		free(err);
		return;
	}
	j->jjob = sdk_xstrdup(jj);
	j->phase = RUNNING;
	if (r->remote && sscanf(r->remote, "build %ld %399s", &n, url) >= 1) {
		j->number = n;
		j->url = url[0] ? sdk_xstrdup(url) : NULL;
	} else if (r->remote && sscanf(r->remote, "queue %ld", &n) == 1) {
		j->queue_id = n;
	} else {
		/* The trigger was out when the bot stopped: never sent
		 * again blindly (it may have queued a build). */
		job_end(j, "failed", 0, "unknown",
			"the bot stopped while it asked Jenkins; look there "
			"before building again");
		return;
	}
	announce(rq,
		 "packer job %lld %s/%s: following it on jenkins %s "
		 "again after a restart",
		 (long long)j->id, rq->template_name, j->build, j->srv->name);
	jenkins_poll_later(j);
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("templates", "", "lists the templates", NULL, 0, 0,
		   cmd_templates, NULL),
    OPSBOT_COMMAND("builders", "<template>",
		   "lists a template's builds, their runners and variables",
		   NULL, 1, 1, cmd_builders, NULL),
    OPSBOT_COMMAND("build", "<template> [<build>,...|all] [var=value...]",
		   "builds a template, one job per build", "packer", 1, -1,
		   cmd_build, NULL),
    OPSBOT_COMMAND("status", "[<job>]", "shows running and waiting builds",
		   NULL, 0, 1, cmd_status, NULL),
    {.size = sizeof(struct opsbot_command),
     .name = "log",
     .usage = "<job> [<lines>]",
     .help = "sends the end of a job's log in private",
     .min_args = 1,
     .max_args = 2,
     .fn = cmd_log,
     .flags = OPSBOT_COMMAND_PRIVATE},
    OPSBOT_COMMAND("cancel", "<job>", "cancels a build (packer cleans up)",
		   "packer", 1, 1, cmd_cancel, NULL),
    OPSBOT_COMMAND("history", "[<template>]", "shows the newest builds", NULL,
		   0, 1, cmd_history, NULL),
};

static int packer_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	char *err = NULL;
	size_t i;

	bot = api;
	self = p;
	jobs = NULL;
	locks = NULL;
	expire_timer = 0;
	retry_timer = 0;
	if (cfg_read(&err) < 0) {
		bot->log(self, OPSBOT_LOG_ERROR, "%s", err);
		free(err);
		return OPSBOT_ERR;
	}
	if (bot->mode() == OPSBOT_MODE_CHECK)
		return OPSBOT_OK;
	if (mkdir(cfg.log_dir, 0700) != 0 && errno != EEXIST) {
		bot->log(self, OPSBOT_LOG_ERROR, "log_dir %s: %s", cfg.log_dir,
			 strerror(errno));
		return OPSBOT_ERR;
	}
	if (bot->store_migrate(self, pk_schema, pk_schema_count) != OPSBOT_OK)
		return OPSBOT_ERR;
	if (servers_setup(&err) < 0) {
		bot->log(self, OPSBOT_LOG_ERROR, "%s", err);
		free(err);
		servers_free();
		return OPSBOT_ERR;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	/* Builds a previous life left running: their groups were stopped
	 * at its shutdown (or died with it); their locks are free. */
	pk_jobs_interrupt_stale(db(), announce_stale, NULL);
	if (bot->mode() == OPSBOT_MODE_DAEMON) {
		expire_timer = bot->timer_start(self, 1000, on_expire, NULL);
		pk_jobs_remote_open(db(), resume_row, NULL);
	}
	return OPSBOT_OK;
}

static int packer_reconfigure(struct opsbot_plugin *p)
{
	char *err = NULL;

	/* Running builds keep their argv, locks and targets. */
	if (cfg_read(&err) < 0) {
		bot->log(self, OPSBOT_LOG_ERROR, "%s; the old values stay",
			 err);
		free(err);
		return OPSBOT_ERR;
	}
	bot->log(self, OPSBOT_LOG_INFO, "reconfigured; running builds go on");
	return OPSBOT_OK;
}

static void packer_fini(struct opsbot_plugin *p)
{
	/* Jenkins follows (and local jobs that never started) end with the
	 * plugin; their rows stay open for the next start. */
	while (jobs) {
		struct request *rq = jobs->rq;
		int last = --rq->left == 0;

		job_free(jobs);
		if (last)
			request_free(rq);
	}
	if (httpq.api)
		sdk_http_queue_cancel_all(&httpq);
	servers_free();
	while (locks) {
		struct lock *l = locks;

		locks = l->next;
		free(l->name);
		free(l);
	}
	cfg_free();
}

static const struct opsbot_config_key config_keys[] = {
    OPSBOT_CONFIG_KEY("templates", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0,
		      "the templates folder: <name>.json or "
		      "<name>/template.json"),
    OPSBOT_CONFIG_KEY("packer", OPSBOT_CONFIG_STRING, "packer", 0, 0, 0,
		      "the packer program"),
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "where builds asked in private announce themselves"),
    OPSBOT_CONFIG_KEY("var_file", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "a -var-file for every build, relative to templates"),
    OPSBOT_CONFIG_KEY("runner", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "<build or builder type or *>=local (the default)"),
    OPSBOT_CONFIG_KEY("lock", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "<builder type>=<lock name>: types sharing a hypervisor "
		      "(default: one lock per type)"),
    OPSBOT_CONFIG_KEY("lock_slots", OPSBOT_CONFIG_INT, "1", 0, 1, 64,
		      "builds at once per lock"),
    OPSBOT_CONFIG_KEY("progress", OPSBOT_CONFIG_DURATION, "30s", 0, 100,
		      86400000, "at most one progress line per job this often"),
    OPSBOT_CONFIG_KEY("error_burst", OPSBOT_CONFIG_INT, "3", 0, 0, 100,
		      "error lines per job sent at once; more wait like "
		      "progress (one per interval)"),
    OPSBOT_CONFIG_KEY("timeout", OPSBOT_CONFIG_DURATION, "3h", 0, 1000,
		      7 * 86400000LL, "a build running longer is cancelled"),
    OPSBOT_CONFIG_KEY("kill_grace", OPSBOT_CONFIG_DURATION, "2m", 0, 100,
		      86400000, "clean-up time after SIGINT before SIGKILL"),
    OPSBOT_CONFIG_KEY("jenkins_poll", OPSBOT_CONFIG_DURATION, "10s", 0, 100,
		      3600000,
		      "how often a Jenkins build is polled (backoff while "
		      "Jenkins cannot be reached)"),
    OPSBOT_CONFIG_KEY("log_dir", OPSBOT_CONFIG_STRING, "packer-logs", 0, 0, 0,
		      "where each job's log is kept (0700)"),
    OPSBOT_CONFIG_KEY("log_max", OPSBOT_CONFIG_STRING, "10M", 0, 0, 0,
		      "the size cap of one job's log (K, M, G)"),
    OPSBOT_CONFIG_KEY("log_keep", OPSBOT_CONFIG_DURATION, "30d", 0, 60000,
		      3650 * 86400000LL,
		      "logs of builds that ended longer ago are removed"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key template_keys[] = {
    OPSBOT_CONFIG_KEY("var_file", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "a -var-file for this template (after the common ones)"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key jenkins_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED | OPSBOT_CONFIG_RELOAD, 0, 0,
		      "the server's root, with its context path"),
    OPSBOT_CONFIG_KEY("user", OPSBOT_CONFIG_STRING, NULL, OPSBOT_CONFIG_RELOAD,
		      0, 0, "the user"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, OPSBOT_CONFIG_RELOAD,
		      0, 0, "the user's API token (no CSRF crumb needed)"),
    OPSBOT_CONFIG_KEY("password", OPSBOT_CONFIG_SECRET, NULL,
		      OPSBOT_CONFIG_RELOAD, 0, 0,
		      "or a password (POSTs then carry a crumb)"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_section config_sections[] = {
    {.size = sizeof(struct opsbot_config_section),
     .kind = "jenkins",
     .help = "a Jenkins server for runner = <build>=jenkins:<name>/<job>",
     .keys = jenkins_keys},
    {.size = sizeof(struct opsbot_config_section),
     .kind = "template",
     .help = "settings of one template (by its name)",
     .keys = template_keys},
    {0},
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "packer",
    .version = "1.0.0",
    .description = "builds Packer templates with progress in chat",
    .command = NULL,
    .config = config_keys,
    .sections = config_sections,
    .init = packer_init,
    .fini = packer_fini,
    .reconfigure = packer_reconfigure,
    .unload_policy = OPSBOT_UNLOAD_REFUSE,
};
