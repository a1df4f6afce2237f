/*
 * jobs.c - the packer plugin's job ledger in the host's SQLite store:
 * one row per build, written before anything starts and after it ended,
 * so a restart (or kill -9) knows what was running.
 */
#include "packer.h"
#include "sdk_buf.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const pk_schema[] = {
    "CREATE TABLE packer_jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " request INTEGER NOT NULL,"
    " template TEXT NOT NULL,"
    " build TEXT NOT NULL,"
    " runner TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " asker TEXT NOT NULL,"
    " target TEXT,"
    " result TEXT,"
    " log_path TEXT,"
    " remote TEXT,"
    " owner_pid INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " started INTEGER NOT NULL DEFAULT 0,"
    " finished INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX packer_jobs_state ON packer_jobs(state);"
    "CREATE INDEX packer_jobs_template ON packer_jobs(template, id);",
    /* 2: locks shared with other processes on this machine */
    "ALTER TABLE packer_jobs ADD COLUMN lock_name TEXT;",
};
const int pk_schema_count = 2;

#define COLS                                                                   \
	"id, request, template, build, runner, state, asker, target, "         \
	"result, log_path, remote, created, started, finished, owner_pid"

static char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? sdk_xstrdup((const char *)t) : NULL;
}

static void row_read(sqlite3_stmt *st, struct pk_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->request = sqlite3_column_int64(st, 1);
	r->template_name = col(st, 2);
	r->build = col(st, 3);
	r->runner = col(st, 4);
	r->state = col(st, 5);
	r->asker = col(st, 6);
	r->target = col(st, 7);
	r->result = col(st, 8);
	r->log_path = col(st, 9);
	r->remote = col(st, 10);
	r->created = sqlite3_column_int64(st, 11);
	r->started = sqlite3_column_int64(st, 12);
	r->finished = sqlite3_column_int64(st, 13);
	r->owner_pid = (long)sqlite3_column_int64(st, 14);
}

void pk_row_free(struct pk_row *r)
{
	free(r->template_name);
	free(r->build);
	free(r->runner);
	free(r->state);
	free(r->asker);
	free(r->target);
	free(r->result);
	free(r->log_path);
	free(r->remote);
	memset(r, 0, sizeof(*r));
}

int64_t pk_request_next(struct sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t n = 1;

	if (sqlite3_prepare_v2(db,
			       "SELECT coalesce(max(request), 0) + 1 FROM "
			       "packer_jobs",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int64_t pk_job_insert(struct sqlite3 *db, int64_t request,
		      const char *template_name, const char *build,
		      const char *runner, const char *asker, const char *target)
{
	sqlite3_stmt *st;
	int64_t id = -1;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO packer_jobs (request, template, "
			       "build, runner, state, asker, target, "
			       "owner_pid, created) VALUES (?, ?, ?, ?, "
			       "'queued', ?, ?, ?, strftime('%s','now'))",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, request);
	sqlite3_bind_text(st, 2, template_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, build, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, runner, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, asker, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, target, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, (int64_t)getpid());
	if (sqlite3_step(st) == SQLITE_DONE)
		id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	return id;
}

static int exec_id(struct sqlite3 *db, const char *sql, int64_t id,
		   const char *a, const char *b)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_text(st, 3, b, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

int pk_job_started(struct sqlite3 *db, int64_t id, const char *log_path)
{
	return exec_id(db,
		       "UPDATE packer_jobs SET state = 'running', started = "
		       "strftime('%s','now'), log_path = ?2 WHERE id = ?1",
		       id, log_path, NULL);
}

int pk_job_finished(struct sqlite3 *db, int64_t id, const char *state,
		    const char *result)
{
	return exec_id(db,
		       "UPDATE packer_jobs SET state = ?2, result = ?3, "
		       "finished = strftime('%s','now') WHERE id = ?1",
		       id, state, result);
}

int pk_job_set_remote(struct sqlite3 *db, int64_t id, const char *remote)
{
	return exec_id(db, "UPDATE packer_jobs SET remote = ?2 WHERE id = ?1",
		       id, remote, NULL);
}

int pk_job_load(struct sqlite3 *db, int64_t id, struct pk_row *r)
{
	sqlite3_stmt *st;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(db,
			       "SELECT " COLS " FROM packer_jobs WHERE "
			       "id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		row_read(st, r);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int pid_gone(long pid)
{
	if (pid <= 0 || pid == (long)getpid())
		return 1;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int pk_jobs_interrupt_stale(struct sqlite3 *db,
			    void (*fn)(const struct pk_row *r, void *data),
			    void *data)
{
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	int n = 0, alloc = 0, i;

	if (sqlite3_prepare_v2(db,
			       "SELECT " COLS " FROM packer_jobs WHERE state "
			       "IN ('queued', 'running') AND runner = 'local' "
			       "ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pk_row r;

		row_read(st, &r);
		if (pid_gone(r.owner_pid)) {
			if (fn)
				fn(&r, data);
			if (n == alloc) {
				alloc = alloc ? alloc * 2 : 8;
				ids = sdk_xreallocarray(ids, (size_t)alloc,
							sizeof(*ids));
			}
			ids[n++] = r.id;
		}
		pk_row_free(&r);
	}
	sqlite3_finalize(st);
	for (i = 0; i < n; i++)
		pk_job_finished(db, ids[i], "interrupted",
				"interrupted: the bot stopped while it ran");
	free(ids);
	return n;
}

int pk_jobs_recent(struct sqlite3 *db, const char *template_name, int limit,
		   void (*fn)(const struct pk_row *r, void *data), void *data)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(
		db,
		"SELECT " COLS " FROM packer_jobs WHERE ?1 IS "
		"NULL OR template = ?1 ORDER BY id DESC LIMIT ?2",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	if (template_name)
		sqlite3_bind_text(st, 1, template_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pk_row r;

		row_read(st, &r);
		fn(&r, data);
		pk_row_free(&r);
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

int pk_jobs_expire_logs(struct sqlite3 *db, int64_t before,
			void (*fn)(const char *path, void *data), void *data)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db,
			       "SELECT log_path FROM packer_jobs WHERE "
			       "log_path IS NOT NULL AND finished > 0 AND "
			       "finished < ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(st, 0), data);
		n++;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db,
			       "UPDATE packer_jobs SET log_path = NULL WHERE "
			       "log_path IS NOT NULL AND finished > 0 AND "
			       "finished < ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return n;
}

int pk_jobs_remote_open(struct sqlite3 *db,
			void (*fn)(const struct pk_row *r, void *data),
			void *data)
{
	sqlite3_stmt *st;
	struct pk_row *rows = NULL;
	int n = 0, alloc = 0, i;

	if (sqlite3_prepare_v2(db,
			       "SELECT " COLS " FROM packer_jobs WHERE state "
			       "IN ('queued', 'running') AND runner != 'local' "
			       "ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pk_row r;

		row_read(st, &r);
		if (!pid_gone(r.owner_pid)) {
			pk_row_free(&r);
			continue;
		}
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			rows = sdk_xreallocarray(rows, (size_t)alloc,
						 sizeof(*rows));
		}
		rows[n++] = r;
	}
	sqlite3_finalize(st);
	for (i = 0; i < n; i++) {
		sqlite3_stmt *up;

		if (sqlite3_prepare_v2(db,
				       "UPDATE packer_jobs SET owner_pid = ? "
				       "WHERE id = ?",
				       -1, &up, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(up, 1, (int64_t)getpid());
			sqlite3_bind_int64(up, 2, rows[i].id);
			sqlite3_step(up);
			sqlite3_finalize(up);
		}
		fn(&rows[i], data);
		pk_row_free(&rows[i]);
	}
	free(rows);
	return n;
}

int pk_lock_claim(struct sqlite3 *db, int64_t id, const char *lock_name,
		  int free_slots)
{
	sqlite3_stmt *st;
	int others = 0, rc = -1;

	if (free_slots <= 0)
		return 0;
	/* One writer at a time across processes: the check and the claim
	 * are one transaction. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT owner_pid FROM packer_jobs WHERE state "
			       "= 'running' AND runner = 'local' AND lock_name "
			       "= ? AND owner_pid != ?",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, lock_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)getpid());
	while (sqlite3_step(st) == SQLITE_ROW)
		if (!pid_gone((long)sqlite3_column_int64(st, 0)))
			others++;
	sqlite3_finalize(st);
	if (others >= free_slots) {
		rc = 0;
		goto out;
	}
	if (sqlite3_prepare_v2(db,
			       "UPDATE packer_jobs SET state = 'running', "
			       "lock_name = ?, started = strftime('%s','now') "
			       "WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, lock_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(st);
out:
	sqlite3_exec(db, rc == 1 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
