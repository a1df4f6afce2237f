/*
 * job.c - plugin jobs on the host's own pool of threads.
 *
 * Why not libuv's pool: it also runs the host's DNS lookups (the IRC
 * reconnect), and eight slow disk clones would leave a reconnect waiting
 * behind them.  Jobs here have threads of their own ([bot] job_threads,
 * started when first needed), and each plugin at most [bot] job_limit jobs
 * at once; more wait on the loop, in the order started.
 *
 * A job goes WAITING (loop only) -> QUEUED (on the ready queue) -> RUNNING
 * (a thread took it) -> RETURNED.  The pool mutex guards the ready queue,
 * each job's phase and its posted messages; everything else is the loop's.
 * Posted messages and the return reach the loop through one uv_async; the
 * loop delivers a job's messages in order and its done callback last.
 */
#include "job.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THREADS 8
#define DEFAULT_LIMIT 4
#define MESSAGE_MAX (1024 * 1024)

enum job_phase { JOB_WAITING, JOB_QUEUED, JOB_RUNNING, JOB_RETURNED };

struct job_message {
	struct job_message *next;
	size_t len;
	int wait; /* job_post_wait(): the poster waits for delivered */
	int delivered;
	char data[];
};

struct opsbot_job {
	struct op op;
	opsbot_job_work_fn *work;
	opsbot_job_done_fn *done;
	opsbot_job_message_fn *message;
	opsbot_job_cancel_fn *cancel_hook;
	void *data;
	char *name;
	atomic_int cancelled;
	int refs;	  /* base + open timer + deferred calls */
	int finished;	  /* done() was called */
	int counted;	  /* counts against its plugin's limit */
	uv_timer_t timer; /* the time limit */
	int timer_open;
	struct list wait_link; /* in waiting, while WAITING */
	/* Under pool.mutex: */
	enum job_phase phase;
	struct opsbot_job *ready_next;
	struct job_message *msgs, **msgs_tail;
	int notify_queued;
	struct opsbot_job *notify_next;
};

static struct {
	pthread_mutex_t mutex;
	pthread_cond_t wake;
	pthread_cond_t delivered; /* a waited-for message was handled */
	struct opsbot_job *ready_head, **ready_tail;
	struct opsbot_job *notify_head; /* jobs with news for the loop */
	int threads, idle, running;
	int max_threads, limit;
	uv_async_t async;
	unsigned async_generation; /* loop generation the async belongs to */
	int async_refs;		   /* jobs alive: keep the loop running */
	int closed;		   /* job_shutdown(): the async is gone */
} pool = {
    .mutex = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .delivered = PTHREAD_COND_INITIALIZER,
    .ready_tail = &pool.ready_head,
    .max_threads = DEFAULT_THREADS,
    .limit = DEFAULT_LIMIT,
};

static struct list waiting = LIST_INIT(waiting);

void job_configure(int threads, int per_plugin_limit)
{
	pool.max_threads = threads > 0 ? threads : DEFAULT_THREADS;
	pool.limit = per_plugin_limit > 0 ? per_plugin_limit : DEFAULT_LIMIT;
}

int job_running_count(void)
{
	int n;

	pthread_mutex_lock(&pool.mutex);
	n = pool.running;
	pthread_mutex_unlock(&pool.mutex);
	return n;
}

static void job_unref(struct opsbot_job *job)
{
	struct job_message *m, *next;

	if (--job->refs > 0)
		return;
	for (m = job->msgs; m; m = next) {
		next = m->next;
		free(m);
	}
	free((char *)job->op.name);
	free(job);
}

/* ---- the threads ---- */

/* Under the mutex: tell the loop this job has news. */
static void notify_locked(struct opsbot_job *job)
{
	if (job->notify_queued)
		return;
	job->notify_queued = 1;
	job->notify_next = pool.notify_head;
	pool.notify_head = job;
}

static void *worker(void *arg)
{
	UNUSED(arg);
	pthread_mutex_lock(&pool.mutex);
	for (;;) {
		struct opsbot_job *job;

		while (!pool.ready_head) {
			pool.idle++;
			pthread_cond_wait(&pool.wake, &pool.mutex);
			pool.idle--;
		}
		job = pool.ready_head;
		pool.ready_head = job->ready_next;
		if (!pool.ready_head)
			pool.ready_tail = &pool.ready_head;
		job->phase = JOB_RUNNING;
		pool.running++;
		pthread_mutex_unlock(&pool.mutex);

		job->work(job, job->data);

		pthread_mutex_lock(&pool.mutex);
		pool.running--;
		job->phase = JOB_RETURNED;
		notify_locked(job);
		/* After job_shutdown() the loop is gone: a job that ignored
		 * its cancel just ends here. */
		if (!pool.closed)
			uv_async_send(&pool.async);
	}
	return NULL;
}

/* Under the mutex: a thread for every queued job, up to the maximum. */
static void spawn_threads_locked(void)
{
	int queued = 0;
	struct opsbot_job *j;

	for (j = pool.ready_head; j; j = j->ready_next)
		queued++;
	while (pool.idle < queued && pool.threads < pool.max_threads) {
		pthread_attr_t attr;
		pthread_t t;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, worker, NULL)) {
			pthread_attr_destroy(&attr);
			if (!pool.threads) {
				error("job", "cannot start a job thread");
				abort();
			}
			break;
		}
		pthread_attr_destroy(&attr);
		pool.threads++;
		queued--;
	}
}

/* ---- the loop side ---- */

static void pump(void);
static void finish(struct opsbot_job *job);

/* Jobs handled per wake-up: a job posting without pause cannot keep the
 * loop from its other work; the rest waits for the next pass. */
#define NOTIFY_BATCH 256

static void on_async(uv_async_t *handle)
{
	int handled;

	UNUSED(handle);
	for (handled = 0; handled < NOTIFY_BATCH; handled++) {
		struct job_message *msgs, *m;
		struct opsbot_job *job;
		enum job_phase phase;

		/* One job at a time off the shared list: a thread may queue
		 * the same job again as soon as it is off, and would
		 * overwrite a link we were still to follow. */
		pthread_mutex_lock(&pool.mutex);
		job = pool.notify_head;
		if (!job) {
			pthread_mutex_unlock(&pool.mutex);
			return;
		}
		pool.notify_head = job->notify_next;
		job->notify_queued = 0;
		msgs = job->msgs;
		job->msgs = NULL;
		job->msgs_tail = &job->msgs;
		phase = job->phase;
		pthread_mutex_unlock(&pool.mutex);

		job->refs++;
		for (m = msgs; m; m = msgs) {
			struct opsbot_plugin *p = job->op.plugin;

			msgs = m->next;
			if (!job->finished) {
				plugin_enter(p);
				job->message(p, m->data, m->len, job->data);
				plugin_leave(p);
			}
			if (m->wait) {
				/* Its poster frees it once it woke up. */
				pthread_mutex_lock(&pool.mutex);
				m->delivered = 1;
				pthread_cond_broadcast(&pool.delivered);
				pthread_mutex_unlock(&pool.mutex);
			} else {
				free(m);
			}
		}
		if (phase == JOB_RETURNED && !job->finished)
			finish(job);
		job_unref(job);
	}
	uv_async_send(&pool.async);
}

static void ensure_async(void)
{
	if (pool.async_generation == loop_generation())
		return;
	uv_async_init(loop_get(), &pool.async, on_async);
	pthread_mutex_lock(&pool.mutex);
	pool.closed = 0;
	pthread_mutex_unlock(&pool.mutex);
	uv_unref((uv_handle_t *)&pool.async);
	pool.async_generation = loop_generation();
	pool.async_refs = 0;
}

static void async_hold(int delta)
{
	pool.async_refs += delta;
	if (pool.async_refs == 1 && delta > 0)
		uv_ref((uv_handle_t *)&pool.async);
	else if (pool.async_refs == 0)
		uv_unref((uv_handle_t *)&pool.async);
}

static void on_timer_closed(uv_handle_t *h)
{
	job_unref(h->data);
}

static void finish(struct opsbot_job *job)
{
	struct opsbot_plugin *p = job->op.plugin;
	int status =
	    atomic_load(&job->cancelled) ? job->op.cancel_status : OPSBOT_OK;

	job->finished = 1;
	if (job->timer_open) {
		job->timer_open = 0;
		uv_close((uv_handle_t *)&job->timer, on_timer_closed);
	}
	if (job->counted) {
		job->counted = 0;
		p->jobs_active--;
	}
	async_hold(-1);
	plugin_enter(p);
	op_finish(&job->op);
	job->done(p, status, job->data);
	plugin_leave(p);
	job_unref(job);
	pump();
}

/* Moves waiting jobs whose plugin is under its limit to the threads. */
static void pump(void)
{
	struct list *pos, *tmp;
	int queued = 0;

	list_for_each_safe(pos, tmp, &waiting)
	{
		struct opsbot_job *job =
		    list_entry(pos, struct opsbot_job, wait_link);

		if (job->op.plugin->jobs_active >= pool.limit)
			continue;
		list_del(&job->wait_link);
		job->op.plugin->jobs_active++;
		job->counted = 1;
		pthread_mutex_lock(&pool.mutex);
		job->phase = JOB_QUEUED;
		job->ready_next = NULL;
		*pool.ready_tail = job;
		pool.ready_tail = &job->ready_next;
		pthread_mutex_unlock(&pool.mutex);
		queued++;
	}
	if (!queued)
		return;
	pthread_mutex_lock(&pool.mutex);
	spawn_threads_locked();
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.mutex);
}

static void finish_deferred(void *data)
{
	struct opsbot_job *job = data;

	if (!job->finished)
		finish(job);
	job_unref(job);
}

static void run_cancel_hook(void *data)
{
	struct opsbot_job *job = data;
	struct opsbot_plugin *p = job->op.plugin;

	/* Only for work that is still running: once it returned, there is
	 * nothing left to interrupt. */
	if (!job->finished && job->cancel_hook) {
		enum job_phase phase;

		pthread_mutex_lock(&pool.mutex);
		phase = job->phase;
		pthread_mutex_unlock(&pool.mutex);
		if (phase == JOB_RUNNING) {
			plugin_enter(p);
			job->cancel_hook(p, job->data);
			plugin_leave(p);
		}
	}
	job_unref(job);
}

static void job_cancel(struct op *op)
{
	struct opsbot_job *job = (struct opsbot_job *)op;
	enum job_phase phase;

	atomic_store(&job->cancelled, 1);
	pthread_mutex_lock(&pool.mutex);
	phase = job->phase;
	if (phase == JOB_QUEUED) {
		struct opsbot_job **pp = &pool.ready_head;

		/* Not taken by a thread yet: it never runs. */
		while (*pp != job)
			pp = &(*pp)->ready_next;
		*pp = job->ready_next;
		if (!*pp)
			pool.ready_tail = pp;
		job->phase = JOB_RETURNED;
	}
	pthread_mutex_unlock(&pool.mutex);
	if (phase == JOB_WAITING) {
		list_del(&job->wait_link);
		job->phase = JOB_RETURNED;
	}
	job->refs++;
	if (phase == JOB_WAITING || phase == JOB_QUEUED)
		loop_defer(finish_deferred, job);
	else
		loop_defer(run_cancel_hook, job);
}

static const struct op_kind job_kind = {"job", job_cancel, NULL};

static void on_time_limit(uv_timer_t *t)
{
	struct opsbot_job *job = t->data;

	warning(plugin_log_name(job->op.plugin),
		"job '%s' ran out of time; cancelling it", job->op.name);
	op_cancel(&job->op, OPSBOT_ETIMEDOUT);
}

int64_t job_start(struct opsbot_plugin *p,
		  const struct opsbot_job_options *opts, void *data)
{
	struct opsbot_job *job;

	if (!opts->work || !opts->done || opts->timeout_ms < 0)
		return OPSBOT_EINVAL;
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	ensure_async();
	job = xcalloc(1, sizeof(*job));
	job->work = opts->work;
	job->done = opts->done;
	job->message = opts->message;
	job->cancel_hook = opts->cancel;
	job->data = data;
	job->refs = 1;
	job->phase = JOB_WAITING;
	job->msgs_tail = &job->msgs;
	atomic_init(&job->cancelled, 0);
	op_start(&job->op, p, &job_kind);
	op_set_policy(&job->op, opts->unload_policy);
	job->op.name = xstrdup(
	    OPSBOT_HAS_MEMBER(opts, name) && opts->name ? opts->name : "job");
	if (opts->timeout_ms > 0) {
		uv_timer_init(loop_get(), &job->timer);
		job->timer.data = job;
		job->timer_open = 1;
		job->refs++;
		loop_timer_start(&job->timer, on_time_limit,
				 (uint64_t)opts->timeout_ms, 0);
	}
	async_hold(1);
	list_add_tail(&waiting, &job->wait_link);
	pump();
	return job->op.id;
}

int job_is_cancelled(const struct opsbot_job *job)
{
	return atomic_load(&((struct opsbot_job *)job)->cancelled);
}

static int post(struct opsbot_job *job, const void *msg, size_t len, int wait)
{
	struct job_message *m;
	int rc = OPSBOT_OK;

	if (!job || !job->message || (len && !msg) || len > MESSAGE_MAX)
		return OPSBOT_EINVAL;
	m = xmalloc(sizeof(*m) + len + 1);
	m->next = NULL;
	m->len = len;
	m->wait = wait;
	m->delivered = 0;
	if (len)
		memcpy(m->data, msg, len);
	m->data[len] = '\0';
	pthread_mutex_lock(&pool.mutex);
	*job->msgs_tail = m;
	job->msgs_tail = &m->next;
	notify_locked(job);
	if (!pool.closed)
		uv_async_send(&pool.async);
	if (wait) {
		/* Until the loop handled it, or the loop is gone (shutdown):
		 * then the message stays queued and is never delivered. */
		while (!m->delivered && !pool.closed)
			pthread_cond_wait(&pool.delivered, &pool.mutex);
		if (m->delivered)
			free(m);
		else
			rc = OPSBOT_ECANCELED;
	}
	pthread_mutex_unlock(&pool.mutex);
	return rc;
}

int job_post(struct opsbot_job *job, const void *msg, size_t len)
{
	return post(job, msg, len, 0);
}

int job_post_wait(struct opsbot_job *job, const void *msg, size_t len)
{
	return post(job, msg, len, 1);
}

void job_shutdown(void)
{
	pthread_mutex_lock(&pool.mutex);
	pool.closed = 1;
	/* Posters waiting for a delivery give up (ECANCELED). */
	pthread_cond_broadcast(&pool.delivered);
	pthread_mutex_unlock(&pool.mutex);
}
