/*
 * job.h - blocking plugin work on libuv's thread pool (api->job_start).
 */
#ifndef JOB_H
#define JOB_H

#include "opsbot.h"

int64_t job_start(struct opsbot_plugin *p, opsbot_job_work_fn *work,
		  opsbot_job_done_fn *done, void *data);
int job_is_cancelled(const struct opsbot_job *job);

#endif /* JOB_H */
