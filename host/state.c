/*
 * state.c - see state.h.  Two host tables (store.c creates them):
 * host_state (plugin, key) -> value, and host_seen (plugin, key) ->
 * expires_ms, the wall-clock time a delivery id may be seen again.
 *
 * Statements are prepared per call, not cached: nothing stays open on
 * the connection that store_close() would have to know about, and these
 * calls are rare next to the work a plugin does around them.  Each call
 * is one autocommit statement (a plugin may hold a transaction of its own
 * on the same connection; a BEGIN here would fail inside it).
 */
#include "state.h"
#include "log.h"
#include "opsbot.h"
#include "store.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATE_KEY_MAX 256
#define STATE_VALUE_MAX (1024 * 1024)
/* Expired host_seen rows deleted per seen_before() call: enough to keep
 * up with any delivery rate, bounded so one call never scans a backlog. */
#define SEEN_PURGE_BATCH 16

static int key_valid(const char *key)
{
	size_t n;

	if (!key)
		return 0;
	n = strlen(key);
	return n >= 1 && n <= STATE_KEY_MAX;
}

/* Prepares sql on the store; NULL after logging why. */
static sqlite3_stmt *prepare(const char *what, const char *sql)
{
	sqlite3 *db = store_db();
	sqlite3_stmt *st = NULL;

	if (!db) {
		error("state", "%s: no database open", what);
		return NULL;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		error("state", "%s: %s", what, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Finalizes st; rc is what its last step returned. */
static int finish(sqlite3_stmt *st, const char *what, const char *plugin,
		  int rc, int want)
{
	if (rc != want) {
		error("state", "%s for %s: %s", what, plugin,
		      sqlite3_errmsg(store_db()));
		sqlite3_finalize(st);
		return OPSBOT_ERR;
	}
	sqlite3_finalize(st);
	return OPSBOT_OK;
}

int state_set(const char *plugin, const char *key, const void *value,
	      size_t len)
{
	sqlite3_stmt *st;

	if (!key_valid(key) || len > STATE_VALUE_MAX || (!value && len)) {
		error("state",
		      "%s: state_set: key must be 1 to %d bytes, value "
		      "at most %d bytes",
		      plugin, STATE_KEY_MAX, STATE_VALUE_MAX);
		return OPSBOT_EINVAL;
	}
	st = prepare("state_set",
		     "INSERT INTO host_state (plugin, key, value) "
		     "VALUES (?1, ?2, ?3) ON CONFLICT (plugin, key) "
		     "DO UPDATE SET value = excluded.value");
	if (!st)
		return OPSBOT_ERR;
	sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	/* A NULL pointer would bind SQL NULL, not an empty value. */
	sqlite3_bind_blob(st, 3, len ? value : "", (int)len, SQLITE_STATIC);
	return finish(st, "state_set", plugin, sqlite3_step(st), SQLITE_DONE);
}

int state_get(const char *plugin, const char *key, char **value, size_t *len)
{
	sqlite3_stmt *st;
	const void *blob;
	size_t n;
	int rc;

	if (value)
		*value = NULL;
	if (len)
		*len = 0;
	if (!key_valid(key) || !value) {
		error("state",
		      "%s: state_get: key must be 1 to %d bytes and "
		      "value not NULL",
		      plugin, STATE_KEY_MAX);
		return OPSBOT_EINVAL;
	}
	st = prepare("state_get", "SELECT value FROM host_state "
				  "WHERE plugin = ?1 AND key = ?2");
	if (!st)
		return OPSBOT_ERR;
	sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return OPSBOT_ENOENT;
	}
	if (rc != SQLITE_ROW)
		return finish(st, "state_get", plugin, rc, SQLITE_ROW);
	blob = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	*value = xmalloc(n + 1);
	if (n)
		memcpy(*value, blob, n);
	(*value)[n] = '\0';
	if (len)
		*len = n;
	sqlite3_finalize(st);
	return OPSBOT_OK;
}

int state_delete(const char *plugin, const char *key)
{
	sqlite3_stmt *st;
	int rc;

	if (!key_valid(key)) {
		error("state", "%s: state_delete: key must be 1 to %d bytes",
		      plugin, STATE_KEY_MAX);
		return OPSBOT_EINVAL;
	}
	st = prepare("state_delete", "DELETE FROM host_state "
				     "WHERE plugin = ?1 AND key = ?2");
	if (!st)
		return OPSBOT_ERR;
	sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = finish(st, "state_delete", plugin, sqlite3_step(st), SQLITE_DONE);
	if (rc == OPSBOT_OK && sqlite3_changes(store_db()) == 0)
		return OPSBOT_ENOENT;
	return rc;
}

/*
 * The smallest string greater than every string that starts with prefix
 * (bytewise): prefix with its last byte below 0xff incremented and what
 * follows dropped.  0 if there is none (an empty prefix, or all 0xff).
 */
static int prefix_successor(const char *prefix, char *out, size_t size)
{
	size_t n = strlen(prefix);

	if (n >= size)
		return 0;
	memcpy(out, prefix, n);
	while (n > 0 && (unsigned char)out[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	out[n] = '\0';
	return 1;
}

/*
 * One row at a time, each found again from the last key visited, so no
 * statement is open while fn runs: fn may set or delete keys (even the
 * one it is given) and the walk goes on from where it was.
 */
int state_each(const char *plugin, const char *prefix,
	       int (*fn)(const char *key, const void *value, size_t len,
			 void *data),
	       void *data)
{
	char last[STATE_KEY_MAX + 1], upper[STATE_KEY_MAX + 1];
	struct buf value = BUF_INIT;
	sqlite3_stmt *st;
	int count = 0, bounded, stop = 0;

	if (!prefix)
		prefix = "";
	if (!fn || strlen(prefix) > STATE_KEY_MAX) {
		error("state",
		      "%s: state_each: needs a function and a prefix "
		      "of at most %d bytes",
		      plugin, STATE_KEY_MAX);
		return OPSBOT_EINVAL;
	}
	bounded = prefix_successor(prefix, upper, sizeof(upper));
	/* The first row is the first key >= prefix: "key > last" with
	 * last = prefix would skip a key equal to the prefix. */
	st = prepare("state_each",
		     "SELECT key, value FROM host_state WHERE plugin = ?1 "
		     "AND (key > ?2 OR (?4 AND key = ?2)) "
		     "AND (?3 IS NULL OR key < ?3) ORDER BY key LIMIT 1");
	if (!st)
		return OPSBOT_ERR;
	strlcpy_safe(last, prefix, sizeof(last));
	while (!stop && count < INT_MAX) {
		const unsigned char *key;
		int rc;

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, last, -1, SQLITE_TRANSIENT);
		if (bounded)
			sqlite3_bind_text(st, 3, upper, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int(st, 4, count == 0);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			buf_free(&value);
			return finish(st, "state_each", plugin, rc, SQLITE_ROW);
		}
		key = sqlite3_column_text(st, 0);
		strlcpy_safe(last, key ? (const char *)key : "", sizeof(last));
		buf_reset(&value);
		buf_add(&value, sqlite3_column_blob(st, 1),
			(size_t)sqlite3_column_bytes(st, 1));
		sqlite3_reset(st);
		count++;
		stop = fn(last, value.data ? value.data : "", value.len, data);
	}
	sqlite3_finalize(st);
	buf_free(&value);
	return count;
}

static int64_t wall_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deletes a few expired rows of any plugin; failures only cost space. */
static void seen_purge(int64_t now)
{
	sqlite3_stmt *st = prepare(
	    "seen_before", "DELETE FROM host_seen WHERE rowid IN (SELECT rowid "
			   "FROM host_seen WHERE expires_ms <= ?1 LIMIT ?2)");

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, SEEN_PURGE_BATCH);
	if (sqlite3_step(st) != SQLITE_DONE)
		warning("state", "purging expired delivery ids: %s",
			sqlite3_errmsg(store_db()));
	sqlite3_finalize(st);
}

int state_seen_before(const char *plugin, const char *key, long lifetime_ms)
{
	int64_t now = wall_clock_ms(), expires;
	sqlite3_stmt *st;
	int rc;

	if (!key_valid(key) || lifetime_ms <= 0) {
		error("state",
		      "%s: seen_before: key must be 1 to %d bytes, "
		      "lifetime more than 0 ms",
		      plugin, STATE_KEY_MAX);
		return OPSBOT_EINVAL;
	}
	expires = lifetime_ms > INT64_MAX - now ? INT64_MAX
						: now + (int64_t)lifetime_ms;
	seen_purge(now);
	/*
	 * One statement decides and records: a new key is inserted, an
	 * expired one gets its new expiry (a change either way: "not
	 * seen"), a live one is left alone (no change: "seen").
	 */
	st = prepare("seen_before",
		     "INSERT INTO host_seen (plugin, key, expires_ms) "
		     "VALUES (?1, ?2, ?3) ON CONFLICT (plugin, key) DO UPDATE "
		     "SET expires_ms = excluded.expires_ms "
		     "WHERE host_seen.expires_ms <= ?4");
	if (!st)
		return OPSBOT_ERR;
	sqlite3_bind_text(st, 1, plugin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, expires);
	sqlite3_bind_int64(st, 4, now);
	rc = finish(st, "seen_before", plugin, sqlite3_step(st), SQLITE_DONE);
	if (rc != OPSBOT_OK)
		return rc;
	return sqlite3_changes(store_db()) ? 0 : 1;
}
