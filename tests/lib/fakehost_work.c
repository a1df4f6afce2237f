/*
 * fakehost_work.c - the fake host's jobs, scripted processes and fd
 * watches: one list of operations with the host's rules (one final
 * callback each, cancel() answered from the loop, unload policies), on the
 * virtual time of fakehost.c.  What each kind fakes is in fakehost.h.
 *
 * Operations are kept until fakehost_free(), finished or not, so a stale
 * id or job pointer from a test is answered (ENOENT, EINVAL) instead of
 * touching freed memory.
 */
#include "fakehost_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_LIMIT_DEFAULT 4
#define JOB_MESSAGE_MAX (1024 * 1024)
#define GRACE_DEFAULT_MS 5000
#define LINE_MAX_BYTES (16 * 1024)
#define SIGNAL_MAX 65

enum op_kind { OP_JOB, OP_PROCESS, OP_FDWATCH };

struct op {
	struct op *next; /* every operation, in start order */
	enum op_kind kind;
	int64_t id;
	int cancel_requested;
	int cancel_status; /* OPSBOT_ECANCELED or OPSBOT_ETIMEDOUT */
	int finished;	   /* the final callback ran (or is running) */
	enum opsbot_unload_policy policy; /* resolved: never DEFAULT */
	char *name;
	int64_t started;
	void *data;
};

struct fh_work {
	struct op *ops, **tail;
	int job_limit, jobs_active;
	fakehost_job_message_fn *message_fn;
	void *message_data;
	fakehost_process_fn *process_fn;
	void *process_data;
	int process_count;
};

static struct fh_work *work_of(struct fakehost *h)
{
	struct fh_parts *parts = fh_parts(h);

	if (!parts->work) {
		parts->work = calloc(1, sizeof(*parts->work));
		parts->work->tail = &parts->work->ops;
		parts->work->job_limit = JOB_LIMIT_DEFAULT;
	}
	return parts->work;
}

static void op_add(struct fakehost *h, struct op *op, enum op_kind kind,
		   enum opsbot_unload_policy policy, const char *name,
		   void *data)
{
	const struct opsbot_plugin_descriptor *d = fh_parts(h)->desc;
	struct fh_work *w = work_of(h);

	if (policy == OPSBOT_UNLOAD_DEFAULT && d)
		policy = d->unload_policy;
	if (policy < OPSBOT_UNLOAD_CANCEL || policy > OPSBOT_UNLOAD_REFUSE)
		policy = OPSBOT_UNLOAD_CANCEL;
	op->kind = kind;
	op->id = fh_new_id(h);
	op->cancel_status = OPSBOT_ECANCELED;
	op->policy = policy;
	op->name = strdup(name);
	op->started = fakehost_now(h);
	op->data = data;
	*w->tail = op;
	w->tail = &op->next;
}

/* A live operation of kind with id, or NULL. */
static struct op *op_find(struct fakehost *h, int64_t id, enum op_kind kind)
{
	for (struct op *op = work_of(h)->ops; op; op = op->next)
		if (op->id == id && op->kind == kind && !op->finished)
			return op;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Jobs                                                                       */

enum job_phase { JOB_WAITING, JOB_QUEUED, JOB_RUNNING, JOB_RETURNED };

/* The struct opsbot_job the work function gets is this. */
struct fh_job {
	struct op op;
	opsbot_job_work_fn *work;
	opsbot_job_done_fn *done;
	opsbot_job_message_fn *message;
	opsbot_job_cancel_fn *cancel_hook;
	enum job_phase phase;
	int counted; /* against the plugin's limit */
	int64_t run_event, timeout_event, hook_event, finish_event;
};

static void job_pump(struct fakehost *h);

static int job_finish(struct fakehost *h, struct fh_job *job)
{
	struct fh_work *w = work_of(h);
	int status =
	    job->op.cancel_requested ? job->op.cancel_status : OPSBOT_OK;

	if (job->op.finished)
		return 0;
	job->op.finished = 1;
	job->phase = JOB_RETURNED;
	fh_unschedule(h, job->timeout_event);
	fh_unschedule(h, job->hook_event);
	fh_unschedule(h, job->run_event);
	fh_unschedule(h, job->finish_event);
	if (job->counted) {
		job->counted = 0;
		w->jobs_active--;
	}
	job->done(fakehost_plugin(h), status, job->op.data);
	job_pump(h);
	return 1;
}

static int job_finish_event(struct fakehost *h, void *arg)
{
	struct fh_job *job = arg;

	job->finish_event = 0;
	return job_finish(h, job);
}

/* The work runs here, on the test's thread; then done, at once. */
static int job_run(struct fakehost *h, void *arg)
{
	struct fh_job *job = arg;

	job->run_event = 0;
	if (job->phase != JOB_QUEUED)
		return 0;
	job->phase = JOB_RUNNING;
	job->work((struct opsbot_job *)job, job->op.data);
	job->phase = JOB_RETURNED;
	/* Nothing left to interrupt. */
	fh_unschedule(h, job->hook_event);
	job->hook_event = 0;
	return 1 + job_finish(h, job);
}

/* Waiting jobs whose plugin is under its limit start, in order. */
static void job_pump(struct fakehost *h)
{
	struct fh_work *w = work_of(h);

	for (struct op *op = w->ops; op; op = op->next) {
		struct fh_job *job = (struct fh_job *)op;

		if (op->kind != OP_JOB || op->finished ||
		    job->phase != JOB_WAITING || w->jobs_active >= w->job_limit)
			continue;
		job->phase = JOB_QUEUED;
		job->counted = 1;
		w->jobs_active++;
		job->run_event = fh_schedule(h, 0, job_run, job);
	}
}

static int job_hook(struct fakehost *h, void *arg)
{
	struct fh_job *job = arg;

	job->hook_event = 0;
	if (job->phase != JOB_RUNNING || job->op.finished || !job->cancel_hook)
		return 0;
	job->cancel_hook(fakehost_plugin(h), job->op.data);
	return 1;
}

static void job_cancel(struct fakehost *h, struct fh_job *job, int status)
{
	if (job->op.cancel_requested)
		return;
	job->op.cancel_requested = 1;
	job->op.cancel_status = status;
	if (job->phase == JOB_WAITING || job->phase == JOB_QUEUED) {
		/* Not started: it never runs; done comes from the loop. */
		fh_unschedule(h, job->run_event);
		job->run_event = 0;
		job->phase = JOB_RETURNED;
		job->finish_event = fh_schedule(h, 0, job_finish_event, job);
	} else if (job->phase == JOB_RUNNING && job->cancel_hook) {
		job->hook_event = fh_schedule(h, 0, job_hook, job);
	}
}

static int job_timeout(struct fakehost *h, void *arg)
{
	struct fh_job *job = arg;

	job->timeout_event = 0;
	if (!job->op.finished)
		job_cancel(h, job, OPSBOT_ETIMEDOUT);
	return 0;
}

static int64_t fh_job_start(struct opsbot_plugin *self,
			    const struct opsbot_job_options *opts, void *data)
{
	struct fakehost *h = fh_current();
	int refused = fh_refuse_start(h);
	struct fh_job *job;

	if (refused)
		return refused;
	if (!opts || opts->size < sizeof(*opts) || !opts->work || !opts->done ||
	    opts->timeout_ms < 0)
		return OPSBOT_EINVAL;
	job = calloc(1, sizeof(*job));
	job->work = opts->work;
	job->done = opts->done;
	job->message = opts->message;
	job->cancel_hook = opts->cancel;
	job->phase = JOB_WAITING;
	op_add(h, &job->op, OP_JOB, opts->unload_policy,
	       opts->name ? opts->name : "job", data);
	if (opts->timeout_ms > 0)
		job->timeout_event =
		    fh_schedule(h, opts->timeout_ms, job_timeout, job);
	job_pump(h);
	return job->op.id;
}

static int fh_job_is_cancelled(const struct opsbot_job *job)
{
	return job ? ((const struct fh_job *)job)->op.cancel_requested : 0;
}

/*
 * The loop keeps up: the message reaches the plugin now, then the test's
 * hook; a cancel hook either of them caused runs before the work goes on.
 */
static int fh_job_post(struct opsbot_job *opsbot_job, const void *msg,
		       size_t len)
{
	struct fh_job *job = (struct fh_job *)opsbot_job;
	struct fakehost *h = fh_current();
	struct fh_work *w = work_of(h);
	char *copy;

	if (!job || !job->message || (len && !msg) || len > JOB_MESSAGE_MAX ||
	    job->phase != JOB_RUNNING)
		return OPSBOT_EINVAL;
	copy = malloc(len + 1);
	if (len)
		memcpy(copy, msg, len);
	copy[len] = '\0';
	job->message(fakehost_plugin(h), copy, len, job->op.data);
	if (w->message_fn)
		w->message_fn(h, job->op.id, copy, len, w->message_data);
	free(copy);
	if (job->hook_event && fh_unschedule(h, job->hook_event) == OPSBOT_OK)
		job_hook(h, job);
	return OPSBOT_OK;
}

void fakehost_job_limit(struct fakehost *h, int limit)
{
	work_of(h)->job_limit = limit > 0 ? limit : JOB_LIMIT_DEFAULT;
	job_pump(h);
}

int fakehost_jobs_active(const struct fakehost *h)
{
	return work_of((struct fakehost *)h)->jobs_active;
}

void fakehost_on_job_message(struct fakehost *h, fakehost_job_message_fn *fn,
			     void *data)
{
	work_of(h)->message_fn = fn;
	work_of(h)->message_data = data;
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                  */

enum step_kind { STEP_STDOUT, STEP_STDERR, STEP_EXIT, STEP_DIE };

struct step {
	struct step *next;
	enum step_kind kind;
	long at;
	char *line;
	int value; /* exit code or signal */
};

struct fakehost_script {
	struct step *steps[SIGNAL_MAX]; /* [0]: the main run */
	int reacts[SIGNAL_MAX];		/* a reaction is defined */
	int current;			/* where steps go now */
	int refuse;
};

struct fh_process;

/* A step on its way: scheduled in the event queue. */
struct pending {
	struct pending *next;
	struct fh_process *proc;
	const struct step *step;
	int64_t event;
};

struct fh_process {
	struct op op;
	opsbot_process_fn *fn;
	struct fakehost_script script;
	struct pending *pending;
	long grace_ms;
	int cancel_signal;
	int exited;
	unsigned long signals_sent; /* bit n: the plugin sent signal n */
	int64_t timeout_event, grace_event;
};

static void script_add(struct fakehost_script *s, enum step_kind kind,
		       long at_ms, const char *line, int value)
{
	struct step *st = calloc(1, sizeof(*st)), **pp = &s->steps[s->current];

	st->kind = kind;
	st->at = at_ms > 0 ? at_ms : 0;
	st->line = line ? strdup(line) : NULL;
	st->value = value;
	while (*pp)
		pp = &(*pp)->next;
	*pp = st;
}

void fakehost_script_stdout(struct fakehost_script *s, long at_ms,
			    const char *line)
{
	script_add(s, STEP_STDOUT, at_ms, line ? line : "", 0);
}

void fakehost_script_stderr(struct fakehost_script *s, long at_ms,
			    const char *line)
{
	script_add(s, STEP_STDERR, at_ms, line ? line : "", 0);
}

void fakehost_script_exit(struct fakehost_script *s, long at_ms, int code)
{
	script_add(s, STEP_EXIT, at_ms, NULL, code);
}

void fakehost_script_die(struct fakehost_script *s, long at_ms, int sig)
{
	script_add(s, STEP_DIE, at_ms, NULL, sig > 0 ? sig : SIGKILL);
}

void fakehost_script_on(struct fakehost_script *s, int sig)
{
	if (sig < 0 || sig >= SIGNAL_MAX || sig == SIGKILL)
		return;
	s->current = sig;
	if (sig)
		s->reacts[sig] = 1;
}

void fakehost_script_ignore(struct fakehost_script *s, int sig)
{
	int was = s->current;

	fakehost_script_on(s, sig);
	s->current = was;
}

void fakehost_script_refuse(struct fakehost_script *s, int status)
{
	s->refuse = status < 0 ? status : OPSBOT_ERR;
}

static void script_free(struct fakehost_script *s)
{
	for (int i = 0; i < SIGNAL_MAX; i++) {
		while (s->steps[i]) {
			struct step *st = s->steps[i];

			s->steps[i] = st->next;
			free(st->line);
			free(st);
		}
	}
}

/* The child is gone: EXIT, the final call, with nothing after it. */
static int proc_end(struct fakehost *h, struct fh_process *proc, int code,
		    int sig)
{
	struct opsbot_process_event ev = {0};

	if (proc->exited)
		return 0;
	proc->exited = 1;
	while (proc->pending) {
		struct pending *p = proc->pending;

		proc->pending = p->next;
		fh_unschedule(h, p->event);
		free(p);
	}
	fh_unschedule(h, proc->timeout_event);
	fh_unschedule(h, proc->grace_event);
	proc->op.finished = 1;
	ev.kind = OPSBOT_PROCESS_EXIT;
	ev.line = "";
	/* As the host: a signal the plugin sent itself is no error. */
	if (proc->op.cancel_requested)
		ev.status = proc->op.cancel_status;
	else if (sig && sig < 64 && (proc->signals_sent >> sig & 1))
		ev.status = OPSBOT_OK;
	else
		ev.status = sig ? OPSBOT_ERR : OPSBOT_OK;
	ev.exit_code = sig ? -1 : code;
	ev.term_signal = sig;
	ev.pid = 10000 + (long)proc->op.id;
	ev.id = proc->op.id;
	proc->fn(fakehost_plugin(h), &ev, proc->op.data);
	return 1;
}

/* A line longer than 16 KiB arrives in pieces, all but the last cut. */
static int proc_line(struct fakehost *h, struct fh_process *proc,
		     enum opsbot_process_event_kind kind, const char *line)
{
	size_t len = strlen(line), off = 0;
	int n = 0;

	do {
		struct opsbot_process_event ev = {0};
		size_t take =
		    len - off > LINE_MAX_BYTES ? LINE_MAX_BYTES : len - off;
		char *piece = strndup(line + off, take);

		ev.kind = kind;
		ev.line = piece;
		ev.line_len = take;
		ev.truncated = off + take < len;
		ev.pid = 10000 + (long)proc->op.id;
		ev.id = proc->op.id;
		proc->fn(fakehost_plugin(h), &ev, proc->op.data);
		free(piece);
		off += take;
		n++;
	} while (off < len && !proc->exited);
	return n;
}

static int step_run(struct fakehost *h, void *arg)
{
	struct pending *p = arg, **pp;
	struct fh_process *proc = p->proc;
	const struct step *st = p->step;

	for (pp = &proc->pending; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
	switch (st->kind) {
	case STEP_STDOUT:
		return proc_line(h, proc, OPSBOT_PROCESS_STDOUT, st->line);
	case STEP_STDERR:
		return proc_line(h, proc, OPSBOT_PROCESS_STDERR, st->line);
	case STEP_EXIT:
		return proc_end(h, proc, st->value, 0);
	case STEP_DIE:
		return proc_end(h, proc, -1, st->value);
	}
	return 0;
}

static void steps_schedule(struct fakehost *h, struct fh_process *proc,
			   const struct step *st)
{
	for (; st; st = st->next) {
		struct pending *p = calloc(1, sizeof(*p)), **pp;

		p->proc = proc;
		p->step = st;
		for (pp = &proc->pending; *pp; pp = &(*pp)->next)
			;
		*pp = p;
		p->event = fh_schedule(h, st->at, step_run, p);
	}
}

/* The step "dies of sig, now", for every signal: the templates never
 * change once made, so all processes share them. */
static const struct step *death_step(int sig)
{
	static struct step deaths[SIGNAL_MAX];

	if (deaths[sig].kind != STEP_DIE) {
		deaths[sig].kind = STEP_DIE;
		deaths[sig].value = sig;
	}
	return &deaths[sig];
}

/* The signal reaches the script: its reaction, or the default. */
static void proc_signal(struct fakehost *h, struct fh_process *proc, int sig)
{
	if (proc->exited)
		return;
	if (sig != SIGKILL && proc->script.reacts[sig]) {
		steps_schedule(h, proc, proc->script.steps[sig]);
		return;
	}
	if (sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	    sig == SIGCONT)
		return; /* ignored by default */
	steps_schedule(h, proc, death_step(sig));
}

static int proc_grace_over(struct fakehost *h, void *arg)
{
	struct fh_process *proc = arg;

	proc->grace_event = 0;
	return proc_end(h, proc, -1, SIGKILL);
}

static void proc_cancel(struct fakehost *h, struct fh_process *proc, int status)
{
	if (proc->op.cancel_requested || proc->exited)
		return;
	proc->op.cancel_requested = 1;
	proc->op.cancel_status = status;
	fh_unschedule(h, proc->timeout_event);
	proc->timeout_event = 0;
	proc_signal(h, proc, proc->cancel_signal);
	proc->grace_event =
	    fh_schedule(h, proc->grace_ms, proc_grace_over, proc);
}

static int proc_timeout(struct fakehost *h, void *arg)
{
	struct fh_process *proc = arg;

	proc->timeout_event = 0;
	proc_cancel(h, proc, OPSBOT_ETIMEDOUT);
	return 0;
}

static int64_t fh_process_start(struct opsbot_plugin *self,
				const struct opsbot_process_options *opts,
				opsbot_process_fn *fn, void *data)
{
	struct fakehost *h = fh_current();
	struct fh_work *w = work_of(h);
	int refused = fh_refuse_start(h);
	struct fakehost_script script = {0};
	struct fh_process *proc;

	if (refused)
		return refused;
	if (!opts || opts->size < sizeof(*opts) || !opts->argv ||
	    !opts->argv[0] || !fn)
		return OPSBOT_EINVAL;
	for (size_t i = 0; opts->env && opts->env[i]; i++)
		if (!strchr(opts->env[i], '='))
			return OPSBOT_EINVAL;
	if (opts->cancel_signal < 0 || opts->cancel_signal >= SIGNAL_MAX)
		return OPSBOT_EINVAL;
	if (!w->process_fn) {
		fh_emit(h, "log",
			"fakehost: no script for '%s' "
			"(fakehost_on_process)",
			opts->argv[0]);
		return OPSBOT_ENOENT;
	}
	w->process_fn(opts, &script, w->process_data);
	if (script.refuse) {
		script_free(&script);
		return script.refuse;
	}
	w->process_count++;
	proc = calloc(1, sizeof(*proc));
	proc->fn = fn;
	proc->script = script;
	proc->grace_ms =
	    opts->kill_grace_ms > 0 ? opts->kill_grace_ms : GRACE_DEFAULT_MS;
	proc->cancel_signal =
	    opts->cancel_signal ? opts->cancel_signal : SIGTERM;
	op_add(h, &proc->op, OP_PROCESS, opts->unload_policy,
	       opts->name ? opts->name : opts->argv[0], data);
	steps_schedule(h, proc, proc->script.steps[0]);
	if (opts->timeout_ms > 0)
		proc->timeout_event =
		    fh_schedule(h, opts->timeout_ms, proc_timeout, proc);
	return proc->op.id;
}

static int fh_process_signal(struct opsbot_plugin *self, int64_t id, int sig)
{
	struct fakehost *h = fh_current();
	struct op *op = op_find(h, id, OP_PROCESS);

	if (!op)
		return OPSBOT_ENOENT;
	if (sig <= 0 || sig >= SIGNAL_MAX)
		return OPSBOT_EINVAL;
	if (sig < 64)
		((struct fh_process *)op)->signals_sent |= 1UL << sig;
	proc_signal(h, (struct fh_process *)op, sig);
	return OPSBOT_OK;
}

void fakehost_on_process(struct fakehost *h, fakehost_process_fn *fn,
			 void *data)
{
	work_of(h)->process_fn = fn;
	work_of(h)->process_data = data;
}

int fakehost_process_count(const struct fakehost *h)
{
	return work_of((struct fakehost *)h)->process_count;
}

/* ------------------------------------------------------------------------ */
/* fd watches                                                                 */

#define FD_ASKABLE (OPSBOT_FD_READABLE | OPSBOT_FD_WRITABLE)

struct fh_fdwatch {
	struct op op;
	opsbot_fd_fn *fn;
	int fd;
	unsigned events;
	int stopped; /* after an error, until fd_watch_update() */
	int64_t final_event;
};

static int fdwatch_final(struct fakehost *h, void *arg)
{
	struct fh_fdwatch *w = arg;

	w->final_event = 0;
	if (w->op.finished)
		return 0;
	w->op.finished = 1;
	w->fn(fakehost_plugin(h), w->op.id, w->fd, 0, w->op.cancel_status,
	      w->op.data);
	return 1;
}

static int64_t fh_fd_watch(struct opsbot_plugin *self, int fd, unsigned events,
			   opsbot_fd_fn *fn, void *data)
{
	struct fakehost *h = fh_current();
	int refused = fh_refuse_start(h);
	struct fh_fdwatch *w;
	char name[32];

	if (refused)
		return refused;
	if (fd < 0 || !fn || (events & ~FD_ASKABLE) || fcntl(fd, F_GETFD) < 0)
		return OPSBOT_EINVAL;
	w = calloc(1, sizeof(*w));
	w->fn = fn;
	w->fd = fd;
	w->events = events;
	snprintf(name, sizeof(name), "fd %d", fd);
	op_add(h, &w->op, OP_FDWATCH, OPSBOT_UNLOAD_CANCEL, name, data);
	w->op.policy = OPSBOT_UNLOAD_CANCEL; /* never drains */
	return w->op.id;
}

static int fh_fd_watch_update(struct opsbot_plugin *self, int64_t id,
			      unsigned events)
{
	struct op *op = op_find(fh_current(), id, OP_FDWATCH);
	struct fh_fdwatch *w = (struct fh_fdwatch *)op;

	if (!op || op->cancel_requested)
		return OPSBOT_ENOENT;
	if (events & ~FD_ASKABLE)
		return OPSBOT_EINVAL;
	w->events = events;
	w->stopped = 0;
	return OPSBOT_OK;
}

int fakehost_fd_ready(struct fakehost *h, int fd, unsigned events)
{
	int64_t last = 0;
	int n = 0;

	for (struct op *op = work_of(h)->ops; op; op = op->next)
		last = op->id;
	/* Watches started by a callback wait for the next call. */
	for (struct op *op = work_of(h)->ops; op && op->id <= last;
	     op = op->next) {
		struct fh_fdwatch *w = (struct fh_fdwatch *)op;
		unsigned got;

		if (op->kind != OP_FDWATCH || op->finished ||
		    op->cancel_requested || w->fd != fd || w->stopped ||
		    !w->events)
			continue;
		got = events & (w->events | OPSBOT_FD_ERROR | OPSBOT_FD_HANGUP);
		if (!got)
			continue;
		w->fn(fakehost_plugin(h), op->id, fd, got, OPSBOT_OK, op->data);
		n++;
		/* An error keeps firing: the host stops the poll. */
		if ((got & OPSBOT_FD_ERROR) && !op->cancel_requested)
			w->stopped = 1;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* For every kind                                                             */

static void op_cancel(struct fakehost *h, struct op *op, int status)
{
	switch (op->kind) {
	case OP_JOB:
		job_cancel(h, (struct fh_job *)op, status);
		break;
	case OP_PROCESS:
		proc_cancel(h, (struct fh_process *)op, status);
		break;
	case OP_FDWATCH:
		if (!op->cancel_requested) {
			struct fh_fdwatch *w = (struct fh_fdwatch *)op;

			op->cancel_requested = 1;
			op->cancel_status = status;
			w->final_event = fh_schedule(h, 0, fdwatch_final, w);
		}
		break;
	}
}

int fh_work_cancel(struct fakehost *h, int64_t id, int status)
{
	for (struct op *op = work_of(h)->ops; op; op = op->next) {
		if (op->id != id)
			continue;
		if (op->finished)
			return OPSBOT_ENOENT;
		op_cancel(h, op, status);
		return OPSBOT_OK;
	}
	return 1;
}

void fh_work_cancel_all(struct fakehost *h, int unloading)
{
	for (struct op *op = work_of(h)->ops; op; op = op->next)
		if (!op->finished &&
		    (!unloading || op->policy == OPSBOT_UNLOAD_CANCEL))
			op_cancel(h, op, OPSBOT_ECANCELED);
}

int fh_work_live(const struct fakehost *h)
{
	int n = 0;

	for (struct op *op = work_of((struct fakehost *)h)->ops; op;
	     op = op->next)
		n += !op->finished;
	return n;
}

/* The host's words (plugin.c, plugin_unload_refusal). */
char *fh_work_refusal(struct fakehost *h)
{
	char list[1024] = "", *msg;
	size_t len = 0;
	int n = 0;

	for (struct op *op = work_of(h)->ops; op; op = op->next) {
		long secs = (long)((fakehost_now(h) - op->started) / 1000);

		if (op->finished || op->cancel_requested ||
		    op->policy != OPSBOT_UNLOAD_REFUSE)
			continue;
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						"%s%s (%lds)", n ? ", " : "",
						op->name, secs);
		n++;
	}
	if (!n)
		return NULL;
	msg = malloc(sizeof(list) + 256);
	snprintf(msg, sizeof(list) + 256,
		 "plugin %s is running %s; stop %s with the plugin's own "
		 "command, or wait until %s finished",
		 fh_parts(h)->name, list, n == 1 ? "it" : "them",
		 n == 1 ? "it has" : "they have");
	return msg;
}

void fh_work_free(struct fakehost *h)
{
	struct fh_work *w = fh_parts(h)->work;

	if (!w)
		return;
	while (w->ops) {
		struct op *op = w->ops;

		w->ops = op->next;
		if (op->kind == OP_PROCESS) {
			struct fh_process *proc = (struct fh_process *)op;

			while (proc->pending) {
				struct pending *p = proc->pending;

				proc->pending = p->next;
				free(p);
			}
			script_free(&proc->script);
		}
		free(op->name);
		free(op);
	}
	free(w);
	fh_parts(h)->work = NULL;
}

void fh_work_install(struct opsbot_api *api)
{
	api->job_start = fh_job_start;
	api->job_is_cancelled = fh_job_is_cancelled;
	api->job_post = fh_job_post;
	/* Delivery is synchronous here: the wait is already over. */
	api->job_post_wait = fh_job_post;
	api->process_start = fh_process_start;
	api->process_signal = fh_process_signal;
	api->fd_watch = fh_fd_watch;
	api->fd_watch_update = fh_fd_watch_update;
}
