/*
 * job.c - plugin jobs on uv_queue_work.  A queued job can be cancelled
 * outright; a running one only sees job_is_cancelled() turn 1, and its
 * plugin's unload waits for it to return.
 */
#include "job.h"
#include "loop.h"
#include "plugin.h"

#include <stdatomic.h>
#include <stdlib.h>

struct opsbot_job {
	struct op op;
	uv_work_t req;
	opsbot_job_work_fn *work;
	opsbot_job_done_fn *done;
	void *data;
	atomic_int cancelled;
};

static void run_work(uv_work_t *req)
{
	struct opsbot_job *job = req->data;

	job->work(job, job->data);
}

static void after_work(uv_work_t *req, int status)
{
	struct opsbot_job *job = req->data;
	struct opsbot_plugin *p = job->op.plugin;
	int result = OPSBOT_OK;

	if (status == UV_ECANCELED || atomic_load(&job->cancelled))
		result = OPSBOT_ECANCELED;
	plugin_enter(p);
	op_finish(&job->op);
	job->done(p, result, job->data);
	plugin_leave(p);
	free(job);
}

static void job_cancel(struct op *op)
{
	struct opsbot_job *job = (struct opsbot_job *)op;

	atomic_store(&job->cancelled, 1);
	/* Succeeds only while queued; after_work then gets UV_ECANCELED. */
	uv_cancel((uv_req_t *)&job->req);
}

static const struct op_kind job_kind = {"job", job_cancel};

int64_t job_start(struct opsbot_plugin *p, opsbot_job_work_fn *work,
		  opsbot_job_done_fn *done, void *data)
{
	struct opsbot_job *job;
	int rc;

	if (!work || !done)
		return OPSBOT_EINVAL;
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	job = calloc(1, sizeof(*job));
	if (!job)
		return OPSBOT_ENOMEM;
	job->work = work;
	job->done = done;
	job->data = data;
	job->req.data = job;
	atomic_init(&job->cancelled, 0);
	rc = uv_queue_work(loop_get(), &job->req, run_work, after_work);
	if (rc) {
		free(job);
		return OPSBOT_ERR;
	}
	op_start(&job->op, p, &job_kind);
	return job->op.id;
}

int job_is_cancelled(const struct opsbot_job *job)
{
	return atomic_load(&((struct opsbot_job *)job)->cancelled);
}
