/*
 * packer.h - the packer plugin's internal interface: the machine-readable
 * parser (pmr.h), templates (tmpl.h), the job ledger in SQLite (jobs.c)
 * and the plugin with its local runner (packer.c).
 */
#ifndef PACKER_H
#define PACKER_H

#include <stdint.h>
#include <time.h>

#include "opsbot.h"

struct sqlite3;

/* jobs.c: one row per build of one builder. */
struct pk_row {
	int64_t id, request;
	char *template_name, *build, *runner, *state, *asker, *target;
	char *result, *log_path, *remote;
	int64_t created, started, finished; /* unix seconds; 0: not yet */
	long owner_pid;
};

extern const char *const pk_schema[];
extern const int pk_schema_count;

/* Inserts a queued job; its id, or -1. */
int64_t pk_job_insert(struct sqlite3 *db, int64_t request,
		      const char *template_name, const char *build,
		      const char *runner, const char *asker,
		      const char *target);
/* The next request number (max + 1). */
int64_t pk_request_next(struct sqlite3 *db);
int pk_job_started(struct sqlite3 *db, int64_t id, const char *log_path);
int pk_job_finished(struct sqlite3 *db, int64_t id, const char *state,
		    const char *result);
int pk_job_set_remote(struct sqlite3 *db, int64_t id, const char *remote);
int pk_job_load(struct sqlite3 *db, int64_t id, struct pk_row *r);
void pk_row_free(struct pk_row *r);
/*
 * Local jobs left queued or running by a bot that is gone (its pid not
 * alive, or ours: a previous life): marked interrupted; fn is called for
 * each before.  Returns how many, or -1.
 */
int pk_jobs_interrupt_stale(struct sqlite3 *db,
			    void (*fn)(const struct pk_row *r, void *data),
			    void *data);
/*
 * Remote (Jenkins) jobs left queued or running by a bot that is gone:
 * taken over (owner_pid = ours), fn called for each.  How many, or -1.
 */
int pk_jobs_remote_open(struct sqlite3 *db,
			void (*fn)(const struct pk_row *r, void *data),
			void *data);
/*
 * Claims lock_name for local job id when fewer than free_slots builds of
 * other live processes (an `opsbot run` next to the daemon) hold it:
 * returns 1 (the row is now running with the lock), 0 (held elsewhere)
 * or -1.  Check and claim are one IMMEDIATE transaction.
 */
int pk_lock_claim(struct sqlite3 *db, int64_t id, const char *lock_name,
		  int free_slots);
/* The newest jobs (of template_name, or all if NULL), up to limit. */
int pk_jobs_recent(struct sqlite3 *db, const char *template_name, int limit,
		   void (*fn)(const struct pk_row *r, void *data), void *data);
/* Logs of jobs finished before `before`: fn(path), then forgotten. */
int pk_jobs_expire_logs(struct sqlite3 *db, int64_t before,
			void (*fn)(const char *path, void *data), void *data);

#endif /* PACKER_H */
