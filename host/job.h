/*
 * job.h - blocking plugin work on the host's own job pool (api->job_start):
 * threads of their own, so plugin jobs never take the libuv pool threads
 * the host needs for DNS; a per-plugin concurrency limit; messages posted
 * from the work function delivered in order on the loop; a cancel hook and
 * a time limit.
 */
#ifndef JOB_H
#define JOB_H

#include "opsbot.h"

/* Pool size and per-plugin limit ([bot] job_threads, job_limit). */
void job_configure(int threads, int per_plugin_limit);
int64_t job_start(struct opsbot_plugin *p,
		  const struct opsbot_job_options *opts, void *data);
int job_is_cancelled(const struct opsbot_job *job);
int job_post(struct opsbot_job *job, const void *msg, size_t len);
int job_post_wait(struct opsbot_job *job, const void *msg, size_t len);
/* Jobs whose work function is running now (all plugins). */
int job_running_count(void);

/*
 * Before the loop closes: threads still inside a work function (a job
 * that ignored its cancel) no longer signal the loop; they are left to
 * the process exit.
 */
void job_shutdown(void);

#endif /* JOB_H */
