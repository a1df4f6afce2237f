/*
 * store.c - the host's SQLite connection and migrations.
 *
 * WAL with synchronous=NORMAL survives a killed process without losing
 * committed transactions; only a power loss may roll back the last ones.
 * Every statement that carries values uses bindings.
 *
 * The file holds personal data (registrants' names and e-mail addresses):
 * it is created 0600 before SQLite opens it, and SQLite gives the -wal and
 * -shm files the main file's mode.  An existing file (or -wal, -shm) that
 * group or others may read or write is refused unless the operator says
 * it is fine (STORE_LOOSE_PERMISSIONS_OK).
 */
#include "store.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static sqlite3 *db;
static char *db_path;

/* Host schema steps; user_version is the number applied. */
static const char *const host_steps[] = {
    "CREATE TABLE plugin_schema ("
    " plugin TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL)",
};

/*
 * Tables of the host's services for plugins (state.c), migrated like a
 * plugin's schema under an owner no plugin can be named (plugin names are
 * [a-z0-9_]+).  Their own list, not host_steps: user_version numbers the
 * core schema only, so the services' tables can grow independently.
 * Keys are TEXT compared bytewise (BINARY), which state_each's range scan
 * relies on.
 */
static const char *const host_service_steps[] = {
    "CREATE TABLE host_state ("
    " plugin TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value BLOB NOT NULL,"
    " PRIMARY KEY (plugin, key)) WITHOUT ROWID;"
    "CREATE TABLE host_seen ("
    " plugin TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " PRIMARY KEY (plugin, key));"
    "CREATE INDEX host_seen_expires ON host_seen (expires_ms)",
};

static int exec(const char *sql, char **err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*err = xasprintf("%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int get_user_version(int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL))
		return -1;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Each step runs in its own write transaction, and the version is read
 * again inside it: a second process opening the same new database at the
 * same moment waits for the first one's step and then skips it (it never
 * runs a step twice: "table plugin_schema already exists").
 */
static int host_migrate(char **err)
{
	int version, n = (int)ARRAY_SIZE(host_steps);

	/* Up to date (a version never goes down): no write lock needed. */
	if (get_user_version(&version) == 0 && version == n)
		return 0;
	for (;;) {
		char pragma[64];
		char *ignored = NULL;

		if (exec("BEGIN IMMEDIATE", err))
			return -1;
		if (get_user_version(&version) < 0) {
			*err = xasprintf("cannot read schema version: %s",
					 sqlite3_errmsg(db));
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (version > n) {
			*err =
			    xasprintf("database schema version %d is newer "
				      "than this opsbot (%d); upgrade opsbot",
				      version, n);
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (version == n)
			return exec("COMMIT", err) ? -1 : 0;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			 version + 1);
		if (exec(host_steps[version], err) || exec(pragma, err)) {
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (exec("COMMIT", err))
			return -1;
	}
}

/* Is path a file name (not ":memory:", "" or a "file:" URI)? */
static int is_plain_file(const char *path)
{
	return *path && strcmp(path, ":memory:") && strncmp(path, "file:", 5);
}

/*
 * Creates path 0600 if it does not exist (O_EXCL: never through a
 * symlink someone placed there), else checks its mode and its -wal and
 * -shm files'.  Returns 0, or -1 with *err set.
 */
static int prepare_file(const char *path, unsigned flags, char **err)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	struct stat st;
	size_t i;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EEXIST) {
		*err = xasprintf("cannot create database '%s': %s", path,
				 strerror(errno));
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(suffix); i++) {
		char *file = xasprintf("%s%s", path, suffix[i]);
		unsigned mode;

		if (stat(file, &st) < 0) {
			/* The main file exists: a dangling symlink. */
			if (i == 0) {
				*err = xasprintf("cannot use database '%s': %s",
						 path, strerror(errno));
				free(file);
				return -1;
			}
			free(file);
			continue;
		}
		mode = (unsigned)(st.st_mode & 07777);
		if ((mode & 077) && !(flags & STORE_LOOSE_PERMISSIONS_OK)) {
			*err = xasprintf(
			    "'%s' is readable or writable by group or others "
			    "(mode 0%o); chmod 600 %s, or set [bot] "
			    "state_permissions_ok = true",
			    file, mode, file);
			free(file);
			return -1;
		}
		free(file);
	}
	return 0;
}

int store_open(const char *path, char **err)
{
	return store_open_flags(path, 0, err);
}

/*
 * Switching a new database to WAL needs it to itself for a moment, and
 * SQLite answers SQLITE_BUSY at once there (the busy timeout does not
 * apply): another process opening the same new file at the same moment
 * made the open fail.  Retried for up to 5 s, like any other lock.
 */
static int set_wal(char **err)
{
	int64_t deadline = time_now_ms() + 5000;

	for (;;) {
		if (exec("PRAGMA journal_mode = WAL", err) == 0)
			return 0;
		if ((sqlite3_errcode(db) & 0xff) != SQLITE_BUSY ||
		    time_now_ms() >= deadline)
			return -1;
		free(*err);
		*err = NULL;
		usleep(10000);
	}
}

int store_open_flags(const char *path, unsigned flags, char **err)
{
	char *msg = NULL;
	int rc;

	*err = NULL;
	if (is_plain_file(path) && prepare_file(path, flags, err) < 0)
		return -1;
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		*err = xasprintf("cannot open database '%s': %s", path,
				 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (set_wal(&msg) || exec("PRAGMA synchronous = NORMAL", &msg) ||
	    exec("PRAGMA foreign_keys = ON", &msg) ||
	    exec("PRAGMA trusted_schema = OFF", &msg) ||
	    exec("PRAGMA cache_size = -512", &msg) || host_migrate(&msg) ||
	    store_migrate(STORE_HOST_SERVICES, host_service_steps,
			  (int)ARRAY_SIZE(host_service_steps), &msg)) {
		*err = xasprintf("database '%s': %s", path, msg);
		free(msg);
		store_close();
		return -1;
	}
	db_path = xstrdup(path);
	return 0;
}

sqlite3 *store_db(void)
{
	return db;
}

const char *store_path(void)
{
	return db_path ? db_path : "";
}

void store_close(void)
{
	if (db) {
		/* Folds the WAL back so the file is complete on its own. */
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
			     NULL);
		sqlite3_close(db);
	}
	db = NULL;
	free(db_path);
	db_path = NULL;
}

static int plugin_version(const char *owner, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(
	    db, "SELECT version FROM plugin_schema WHERE plugin = ?1", -1, &st,
	    NULL);
	if (rc)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int set_plugin_version(const char *owner, int version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db,
				"INSERT INTO plugin_schema (plugin, version) "
				"VALUES (?1, ?2) ON CONFLICT(plugin) DO "
				"UPDATE SET version = excluded.version",
				-1, &st, NULL);
	if (rc)
		return -1;
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, version);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_migrate(const char *owner, const char *const *steps, int count,
		  char **err)
{
	int version;

	*err = NULL;
	if (!db) {
		*err = xstrdup("no database open");
		return -1;
	}
	if (plugin_version(owner, &version) == 0 && version == count)
		return 0;
	/* As host_migrate: the version read inside each step's transaction. */
	for (;;) {
		char *ignored = NULL;

		if (exec("BEGIN IMMEDIATE", err))
			return -1;
		if (plugin_version(owner, &version) < 0) {
			*err = xasprintf("cannot read schema version: %s",
					 sqlite3_errmsg(db));
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (version > count) {
			*err = xasprintf("database schema version %d is newer "
					 "than this plugin's (%d); upgrade the "
					 "plugin",
					 version, count);
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (version == count)
			return exec("COMMIT", err) ? -1 : 0;
		if (exec(steps[version], err) ||
		    set_plugin_version(owner, version + 1)) {
			if (!*err)
				*err = xasprintf("%s", sqlite3_errmsg(db));
			exec("ROLLBACK", &ignored);
			free(ignored);
			return -1;
		}
		if (exec("COMMIT", err))
			return -1;
		info("store", "%s: schema migrated to version %d", owner,
		     version + 1);
	}
}
