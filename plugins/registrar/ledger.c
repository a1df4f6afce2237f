/*
 * ledger.c - the registrar's SQLite ledger: one row per registrant, keyed
 * by sheet and normalised e-mail (never by row number, which moves), with
 * the state of each step (card, mail, mark), the sync lease shared by
 * every process using the store, and resend confirmations.
 *
 * Every transition is one committed statement: a kill between any two
 * leaves a state the next sync continues from without repeating a step
 * whose outcome is known.  Prepared statements only.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "registrar.h"

const char *const reg_ledger_schema[] = {
    /* version 1 */
    "CREATE TABLE registrar_registrant ("
    " id INTEGER PRIMARY KEY,"
    " sheet TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK (role IN ('student', 'mentor')),"
    " name TEXT NOT NULL,"
    " fields TEXT NOT NULL,"
    " row INTEGER,"
    " status TEXT NOT NULL DEFAULT 'new' CHECK (status IN"
    "  ('new', 'active', 'waitlist', 'withdrawn', 'complete')),"
    " card_state TEXT NOT NULL DEFAULT 'pending',"
    " card_id TEXT, card_url TEXT, marker TEXT,"
    " mail_state TEXT NOT NULL DEFAULT 'pending',"
    " mail_id TEXT,"
    " mark_state TEXT NOT NULL DEFAULT 'pending',"
    " mark_value TEXT,"
    " last_error TEXT,"
    " imported INTEGER NOT NULL DEFAULT 0,"
    " announced INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (sheet, email));"
    "CREATE INDEX registrar_registrant_name"
    " ON registrar_registrant (name COLLATE NOCASE);"
    /* The one place that says what "new", "carded", ... mean. */
    "CREATE VIEW registrar_progress AS SELECT id, role, name,"
    " CASE"
    "  WHEN status = 'withdrawn' THEN 'withdrawn'"
    "  WHEN mail_state = 'unknown' THEN 'unknown'"
    "  WHEN card_state = 'failed' OR mail_state = 'failed'"
    "   OR mark_state = 'failed' THEN 'failed'"
    "  WHEN mark_state = 'done' THEN 'done'"
    "  WHEN mail_state = 'sent' THEN 'mailed'"
    "  WHEN card_state = 'done' THEN 'carded'"
    "  ELSE 'new' END AS progress"
    " FROM registrar_registrant;"
    "CREATE TABLE registrar_lease ("
    " name TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL,"
    " host TEXT NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE TABLE registrar_confirm ("
    " registrant INTEGER PRIMARY KEY REFERENCES registrar_registrant(id)"
    "  ON DELETE CASCADE,"
    " code TEXT NOT NULL, expires_at INTEGER NOT NULL);",
    /* version 2: a confirmation belongs to whoever asked for it */
    "DELETE FROM registrar_confirm;"
    "ALTER TABLE registrar_confirm ADD COLUMN asker TEXT NOT NULL"
    " DEFAULT '';",
    /* version 3: the guide (guide.c, gerrit.c).  A token is kept as its
       SHA-256 only. */
    "CREATE TABLE registrar_guide_token ("
    " registrant INTEGER PRIMARY KEY REFERENCES registrar_registrant(id)"
    "  ON DELETE CASCADE,"
    " hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
    "CREATE TABLE registrar_guide_step ("
    " registrant INTEGER NOT NULL REFERENCES registrar_registrant(id)"
    "  ON DELETE CASCADE,"
    " step TEXT NOT NULL, done_at INTEGER NOT NULL, by TEXT NOT NULL,"
    " detail TEXT, PRIMARY KEY (registrant, step));"
    "CREATE TABLE registrar_guide_gerrit ("
    " registrant INTEGER PRIMARY KEY REFERENCES registrar_registrant(id)"
    "  ON DELETE CASCADE,"
    " account_id INTEGER,"
    " milestone_announced INTEGER NOT NULL DEFAULT 0);",
    /* version 4: who ticked or un-ticked a step, and when (a step's row
       in registrar_guide_step goes when it is un-ticked) */
    "CREATE TABLE registrar_guide_step_log ("
    " id INTEGER PRIMARY KEY,"
    " registrant INTEGER NOT NULL REFERENCES registrar_registrant(id)"
    "  ON DELETE CASCADE,"
    " step TEXT NOT NULL,"
    " action TEXT NOT NULL CHECK (action IN ('done', 'undone')),"
    " at INTEGER NOT NULL, by TEXT NOT NULL);"
    "INSERT INTO registrar_guide_step_log (registrant, step, action, at, by)"
    " SELECT registrant, step, 'done', done_at, by"
    " FROM registrar_guide_step;",
};

const int reg_ledger_schema_count =
    (int)(sizeof(reg_ledger_schema) / sizeof(reg_ledger_schema[0]));

void reg_registrant_free(struct reg_registrant *r)
{
	char **strings[] = {
	    &r->sheet,	    &r->email,	    &r->role,	    &r->name,
	    &r->fields,	    &r->status,	    &r->card_state, &r->card_id,
	    &r->card_url,   &r->marker,	    &r->mail_state, &r->mail_id,
	    &r->mark_state, &r->mark_value, &r->last_error, &r->progress};

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		free(*strings[i]);
		*strings[i] = NULL;
	}
}

/*
 * Prepared statements are kept between calls: preparing was a third of
 * the plugin's CPU time during a sync.  The cache is keyed by connection
 * and by the address of the SQL text (string literals), and emptied by
 * reg_ledger_close() before the plugin goes away.
 */
#define REG_STMT_CACHE 64

static struct reg_stmt_slot {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *st;
	int busy;
} reg_stmt_cache[REG_STMT_CACHE];

static sqlite3_stmt *reg_stmt_get(sqlite3 *db, const char *sql)
{
	struct reg_stmt_slot *free_slot = NULL;
	sqlite3_stmt *st;

	for (int i = 0; i < REG_STMT_CACHE; i++) {
		struct reg_stmt_slot *slot = &reg_stmt_cache[i];

		if (slot->db == db && slot->sql == sql && !slot->busy) {
			slot->busy = 1;
			return slot->st;
		}
		if (!slot->db && !free_slot)
			free_slot = slot;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (free_slot)
		*free_slot = (struct reg_stmt_slot){db, sql, st, 1};
	return st;
}

/* Ends a statement from reg_stmt_get: reset if cached, else finalized. */
static void reg_stmt_put(sqlite3_stmt *st)
{
	for (int i = 0; i < REG_STMT_CACHE; i++) {
		if (reg_stmt_cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			reg_stmt_cache[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

void reg_ledger_close(sqlite3 *db)
{
	for (int i = 0; i < REG_STMT_CACHE; i++) {
		if (reg_stmt_cache[i].db == db || !db) {
			sqlite3_finalize(reg_stmt_cache[i].st);
			memset(&reg_stmt_cache[i], 0,
			       sizeof(reg_stmt_cache[i]));
		}
	}
}

/* Prepares sql and binds the text/int arguments described by types:
   's' text (NULL allowed), 'i' int64. */
static sqlite3_stmt *reg_prepare(sqlite3 *db, const char *sql,
				 const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int i = 1;

	st = reg_stmt_get(db, sql);
	if (!st)
		return NULL;
	va_start(ap, types);
	for (const char *t = types; *t; t++, i++) {
		int rc;

		if (*t == 's') {
			const char *s = va_arg(ap, const char *);

			rc = s ? sqlite3_bind_text(st, i, s, -1,
						   SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, i);
		} else {
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		}
		if (rc != SQLITE_OK) {
			va_end(ap);
			reg_stmt_put(st);
			return NULL;
		}
	}
	va_end(ap);
	return st;
}

/* Runs a prepared statement to completion; returns changes or -1. */
static int reg_run(sqlite3 *db, sqlite3_stmt *st)
{
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	reg_stmt_put(st);
	return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

int reg_ledger_exec(sqlite3 *db, const char *sql)
{
	return reg_run(db, reg_prepare(db, sql, "")) < 0 ? -1 : 0;
}

static char *reg_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? sdk_xstrdup((const char *)t) : NULL;
}

int reg_ledger_upsert(sqlite3 *db, const char *sheet, const char *email,
		      const char *role, const char *name, const char *fields,
		      int64_t row, int imported, int64_t *id, int *is_new)
{
	int64_t now = reg_wall_ms();
	sqlite3_stmt *st;
	int rc;

	st =
	    reg_prepare(db,
			"UPDATE registrar_registrant SET name = ?, fields = ?,"
			" row = ?, updated_at = ? WHERE sheet = ? AND email = ?"
			" RETURNING id",
			"ssiiss", name, fields, row, now, sheet, email);
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*is_new = 0;
		reg_stmt_put(st);
		return 0;
	}
	reg_stmt_put(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (imported)
		st = reg_prepare(
		    db,
		    "INSERT INTO registrar_registrant (sheet, email, role,"
		    " name, fields, row, card_state, mail_state, mark_state,"
		    " imported, announced, created_at, updated_at)"
		    " VALUES (?, ?, ?, ?, ?, ?, 'skipped', 'skipped', 'done',"
		    " 1, 1, ?, ?)",
		    "sssssiii", sheet, email, role, name, fields, row, now,
		    now);
	else
		st = reg_prepare(
		    db,
		    "INSERT INTO registrar_registrant (sheet, email, role,"
		    " name, fields, card_state, row, created_at, updated_at)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    "ssssssiii", sheet, email, role, name, fields,
		    strcmp(role, "mentor") == 0 ? "skipped" : "pending", row,
		    now, now);
	if (reg_run(db, st) != 1)
		return -1;
	*id = sqlite3_last_insert_rowid(db);
	*is_new = 1;
	return 0;
}

int reg_ledger_load(sqlite3 *db, int64_t id, struct reg_registrant *r)
{
	sqlite3_stmt *st = reg_prepare(
	    db,
	    "SELECT r.id, sheet, email, r.role, r.name, fields, status,"
	    " card_state, card_id, card_url, marker, mail_state, mail_id,"
	    " mark_state, mark_value, last_error, p.progress, imported, row,"
	    " created_at, updated_at FROM registrar_registrant r"
	    " JOIN registrar_progress p ON p.id = r.id WHERE r.id = ?",
	    "i", id);
	int rc;

	memset(r, 0, sizeof(*r));
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		reg_stmt_put(st);
		return -1;
	}
	r->id = sqlite3_column_int64(st, 0);
	r->sheet = reg_col_text(st, 1);
	r->email = reg_col_text(st, 2);
	r->role = reg_col_text(st, 3);
	r->name = reg_col_text(st, 4);
	r->fields = reg_col_text(st, 5);
	r->status = reg_col_text(st, 6);
	r->card_state = reg_col_text(st, 7);
	r->card_id = reg_col_text(st, 8);
	r->card_url = reg_col_text(st, 9);
	r->marker = reg_col_text(st, 10);
	r->mail_state = reg_col_text(st, 11);
	r->mail_id = reg_col_text(st, 12);
	r->mark_state = reg_col_text(st, 13);
	r->mark_value = reg_col_text(st, 14);
	r->last_error = reg_col_text(st, 15);
	r->progress = reg_col_text(st, 16);
	r->imported = sqlite3_column_int(st, 17);
	r->row = sqlite3_column_int64(st, 18);
	r->created_at = sqlite3_column_int64(st, 19);
	r->updated_at = sqlite3_column_int64(st, 20);
	reg_stmt_put(st);
	return 0;
}

static int reg_update(sqlite3 *db, sqlite3_stmt *st)
{
	return reg_run(db, st) == 1 ? 0 : -1;
}

/* An update that applies only in the expected state: 0, 1 if it did
   not apply, -1. */
static int reg_update_if(sqlite3 *db, sqlite3_stmt *st)
{
	int n = reg_run(db, st);

	return n < 0 ? -1 : n == 1 ? 0 : 1;
}

int reg_ledger_card_begin(sqlite3 *db, int64_t id, const char *marker)
{
	return reg_update_if(
	    db,
	    reg_prepare(db,
			"UPDATE registrar_registrant SET card_state ="
			" 'sending', marker = ?, updated_at = ? WHERE id = ?"
			" AND card_state = 'pending'",
			"sii", marker, reg_wall_ms(), id));
}

int reg_ledger_card_done(sqlite3 *db, int64_t id, const char *card_id,
			 const char *url)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET card_state ="
			    " 'done', card_id = ?, card_url = ?, last_error ="
			    " NULL, updated_at = ? WHERE id = ?",
			    "ssii", card_id, url, reg_wall_ms(), id));
}

int reg_ledger_card_set(sqlite3 *db, int64_t id, const char *state,
			const char *error)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET card_state = ?,"
			    " last_error = ?, updated_at = ? WHERE id = ?",
			    "ssii", state, error, reg_wall_ms(), id));
}

int reg_ledger_mail_begin(sqlite3 *db, int64_t id)
{
	return reg_update_if(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mail_state ="
			    " 'sending', updated_at = ? WHERE id = ?"
			    " AND mail_state = 'pending'",
			    "ii", reg_wall_ms(), id));
}

int reg_ledger_mail_sent(sqlite3 *db, int64_t id, const char *mail_id)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mail_state ="
			    " 'sent', mail_id = ?, last_error = NULL,"
			    " updated_at = ? WHERE id = ?",
			    "sii", mail_id, reg_wall_ms(), id));
}

int reg_ledger_mail_set(sqlite3 *db, int64_t id, const char *state,
			const char *error)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mail_state = ?,"
			    " last_error = ?, updated_at = ? WHERE id = ?",
			    "ssii", state, error, reg_wall_ms(), id));
}

int reg_ledger_mark_set(sqlite3 *db, int64_t id, const char *state,
			const char *value, const char *error)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mark_state = ?1,"
			    " mark_value = coalesce(?2, mark_value),"
			    " last_error = CASE WHEN ?1 = 'done' THEN NULL"
			    "  ELSE coalesce(?3, last_error) END,"
			    " updated_at = ?4 WHERE id = ?5",
			    "sssii", state, value, error, reg_wall_ms(), id));
}

int reg_ledger_set_error(sqlite3 *db, int64_t id, const char *error)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET last_error = ?,"
			    " updated_at = ? WHERE id = ?",
			    "sii", error, reg_wall_ms(), id));
}

int reg_ledger_set_status(sqlite3 *db, int64_t id, const char *status)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET status = ?,"
			    " updated_at = ? WHERE id = ?",
			    "sii", status, reg_wall_ms(), id));
}

int reg_ledger_recover(sqlite3 *db)
{
	return reg_run(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mail_state ="
			    " 'unknown', last_error = 'mailgun: interrupted"
			    " while sending; the mail may have gone out: check"
			    " the mailgun log, then !reg resend or !reg set',"
			    " updated_at = ? WHERE mail_state = 'sending'",
			    "i", reg_wall_ms()));
}

int reg_ledger_retry(sqlite3 *db, int64_t id)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET"
			    " card_state = CASE card_state WHEN 'failed'"
			    "  THEN 'pending' ELSE card_state END,"
			    " mail_state = CASE mail_state WHEN 'failed'"
			    "  THEN 'pending' ELSE mail_state END,"
			    " mark_state = CASE mark_state WHEN 'failed'"
			    "  THEN 'pending' ELSE mark_state END,"
			    " last_error = NULL, updated_at = ? WHERE id = ?",
			    "ii", reg_wall_ms(), id));
}

int reg_ledger_resend(sqlite3 *db, int64_t id)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_registrant SET mail_state ="
			    " 'pending', mail_id = NULL, mark_state ="
			    " 'pending', last_error = NULL, updated_at = ?"
			    " WHERE id = ? AND mail_state != 'sending'",
			    "ii", reg_wall_ms(), id));
}

static int reg_find_add(int64_t *ids, int max, int n, int64_t id)
{
	if (n < max)
		ids[n] = id;
	return n + 1;
}

int reg_ledger_find(sqlite3 *db, const char *who, int64_t *ids, int max)
{
	char email[256], *folded, *end;
	sqlite3_stmt *st;
	int n = 0, rc;
	long long num;

	while (*who == ' ')
		who++;
	if (who[0] == '#' && who[1] >= '0' && who[1] <= '9') {
		num = strtoll(who + 1, &end, 10);
		if (*end)
			return 0;
		st = reg_prepare(db,
				 "SELECT id FROM registrar_registrant WHERE"
				 " id = ?",
				 "i", (int64_t)num);
	} else if (strchr(who, '@')) {
		if (reg_email_normalise(who, email, sizeof(email)) < 0)
			return 0;
		st = reg_prepare(db,
				 "SELECT id FROM registrar_registrant WHERE"
				 " email = ? ORDER BY id",
				 "s", email);
	} else {
		/*
		 * Names are compared folded (case and accents), which SQLite
		 * only does for ASCII: every name is read and folded here.
		 * Equal names first; if none, names containing the text.
		 */
		int64_t *sub = NULL;
		int nsub = 0;

		st = reg_prepare(db,
				 "SELECT id, name FROM registrar_registrant"
				 " ORDER BY id",
				 "");
		if (!st)
			return -1;
		folded = reg_fold(who);
		if (!*folded) {
			free(folded);
			reg_stmt_put(st);
			return 0;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			char *name =
			    reg_fold((const char *)sqlite3_column_text(st, 1));

			if (strcmp(name, folded) == 0) {
				n = reg_find_add(ids, max, n, id);
			} else if (!n && strstr(name, folded)) {
				sub = sdk_xrealloc(sub, (size_t)(nsub + 1) *
							    sizeof(*sub));
				sub[nsub++] = id;
			}
			free(name);
		}
		reg_stmt_put(st);
		free(folded);
		for (int i = 0; !n && i < nsub; i++)
			reg_find_add(ids, max, i, sub[i]);
		if (!n)
			n = nsub;
		free(sub);
		return rc == SQLITE_DONE ? n : -1;
	}
	if (!st)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		n = reg_find_add(ids, max, n, sqlite3_column_int64(st, 0));
	reg_stmt_put(st);
	return n;
}

static int reg_each(sqlite3_stmt *st, reg_ledger_row_fn *fn, void *data)
{
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(st, 0),
		   (const char *)sqlite3_column_text(st, 1),
		   (const char *)sqlite3_column_text(st, 2), data);
	reg_stmt_put(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int reg_ledger_list(sqlite3 *db, const char *progress, reg_ledger_row_fn *fn,
		    void *data)
{
	return reg_each(reg_prepare(db,
				    "SELECT name, role, progress FROM"
				    " registrar_progress WHERE ?1 IS NULL OR"
				    " progress = ?1 ORDER BY name COLLATE"
				    " NOCASE, id",
				    "s", progress),
			fn, data);
}

int reg_ledger_stats(sqlite3 *db, reg_ledger_row_fn *fn, void *data)
{
	return reg_each(reg_prepare(db,
				    "SELECT progress, role, CAST(count(*) AS"
				    " TEXT) FROM registrar_progress GROUP BY"
				    " progress, role ORDER BY progress, role",
				    ""),
			fn, data);
}

int reg_ledger_take_unannounced(sqlite3 *db, reg_ledger_row_fn *fn, void *data)
{
	int rc = reg_each(reg_prepare(db,
				      "SELECT r.name, r.role, p.progress FROM"
				      " registrar_registrant r JOIN"
				      " registrar_progress p ON p.id = r.id"
				      " WHERE announced = 0 ORDER BY r.id",
				      ""),
			  fn, data);

	if (rc < 0)
		return -1;
	return reg_ledger_exec(db, "UPDATE registrar_registrant SET"
				   " announced = 1 WHERE announced = 0");
}

/* ------------------------------------------------------------------------ */
/* The lease */

static int reg_pid_alive(long pid)
{
	if (pid <= 0)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int reg_ledger_lease_acquire(sqlite3 *db, const char *owner, long pid,
			     const char *host, int64_t now_ms, int64_t ttl_ms,
			     char **holder)
{
	sqlite3_stmt *st;
	int free_lease = 1, rc;

	*holder = NULL;
	/* IMMEDIATE: take the write lock first, so two processes cannot
	   both see the lease free. */
	if (reg_ledger_exec(db, "BEGIN IMMEDIATE") < 0)
		return -1;
	st = reg_prepare(db,
			 "SELECT owner, pid, host, expires_at FROM"
			 " registrar_lease WHERE name = 'sync'",
			 "");
	if (!st)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0);
		long p = (long)sqlite3_column_int64(st, 1);
		const char *h = (const char *)sqlite3_column_text(st, 2);
		int64_t exp = sqlite3_column_int64(st, 3);

		if (strcmp(o, owner) != 0 && exp > now_ms &&
		    (strcmp(h, host) != 0 || reg_pid_alive(p))) {
			free_lease = 0;
			*holder = sdk_xasprintf("pid %ld on %s", p, h);
		}
	} else if (rc != SQLITE_DONE) {
		reg_stmt_put(st);
		goto fail;
	}
	reg_stmt_put(st);
	if (free_lease &&
	    reg_run(db, reg_prepare(db,
				    "INSERT OR REPLACE INTO registrar_lease"
				    " (name, owner, pid, host, expires_at)"
				    " VALUES ('sync', ?, ?, ?, ?)",
				    "sisi", owner, (int64_t)pid, host,
				    now_ms + ttl_ms)) != 1)
		goto fail;
	if (reg_ledger_exec(db, "COMMIT") < 0)
		goto fail;
	return free_lease ? 0 : 1;
fail:
	reg_ledger_exec(db, "ROLLBACK");
	free(*holder);
	*holder = NULL;
	return -1;
}

int reg_ledger_lease_renew(sqlite3 *db, const char *owner, int64_t now_ms,
			   int64_t ttl_ms)
{
	return reg_update(
	    db, reg_prepare(db,
			    "UPDATE registrar_lease SET expires_at = ?"
			    " WHERE name = 'sync' AND owner = ?",
			    "is", now_ms + ttl_ms, owner));
}

int reg_ledger_lease_release(sqlite3 *db, const char *owner)
{
	return reg_run(db, reg_prepare(db,
				       "DELETE FROM registrar_lease WHERE"
				       " name = 'sync' AND owner = ?",
				       "s", owner)) < 0
		   ? -1
		   : 0;
}

/* ------------------------------------------------------------------------ */
/* Resend confirmations */

int reg_ledger_confirm_put(sqlite3 *db, int64_t id, const char *asker,
			   const char *code, int64_t expires_ms)
{
	return reg_update(db, reg_prepare(db,
					  "INSERT OR REPLACE INTO"
					  " registrar_confirm (registrant,"
					  " asker, code, expires_at)"
					  " VALUES (?, ?, ?, ?)",
					  "issi", id, asker, code, expires_ms));
}

int reg_ledger_confirm_take(sqlite3 *db, int64_t id, const char *asker,
			    const char *code, int64_t now_ms)
{
	sqlite3_stmt *st =
	    reg_prepare(db,
			"SELECT asker, code, expires_at FROM"
			" registrar_confirm WHERE registrant = ?",
			"i", id);
	int rc, result;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		reg_stmt_put(st);
		return REG_CONFIRM_NONE;
	}
	if (rc != SQLITE_ROW) {
		reg_stmt_put(st);
		return -1;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), asker) != 0)
		result = REG_CONFIRM_OTHER; /* theirs to confirm: kept */
	else if (sqlite3_column_int64(st, 2) <= now_ms)
		result = REG_CONFIRM_EXPIRED;
	else if (strcmp((const char *)sqlite3_column_text(st, 1), code) != 0)
		result = REG_CONFIRM_WRONG; /* no second guess */
	else
		result = REG_CONFIRM_OK;
	reg_stmt_put(st);
	if (result != REG_CONFIRM_OTHER &&
	    reg_run(db, reg_prepare(db,
				    "DELETE FROM registrar_confirm WHERE"
				    " registrant = ?",
				    "i", id)) < 0)
		return -1;
	return result;
}
