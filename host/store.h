/*
 * store.h - the SQLite database: one file, WAL, synchronous=NORMAL, a busy
 * timeout, and migrations for the host (user_version) and each plugin (the
 * plugin_schema table).
 */
#ifndef STORE_H
#define STORE_H

#include <sqlite3.h>

/* The owner, in plugin_schema, of the tables of the host's services for
 * plugins (host_state, host_seen); no plugin can have this name. */
#define STORE_HOST_SERVICES "host.services"

/* store_open() flags: the operator accepts a database file (or -wal,
 * -shm) that group or others may read or write ([bot]
 * state_permissions_ok). */
#define STORE_LOOSE_PERMISSIONS_OK 1u

/*
 * Opens path (creating it 0600; its -wal and -shm files get the same
 * mode) and runs the host's migrations.  An existing file that group or
 * others may read or write is refused, unless flags says otherwise.
 * Returns 0 or -1 with *err set (malloc'd, one line).
 */
int store_open_flags(const char *path, unsigned flags, char **err);
/* The same with no flags. */
int store_open(const char *path, char **err);
sqlite3 *store_db(void);
const char *store_path(void);
void store_close(void);

/*
 * Brings owner's schema to version count; see api->store_migrate.
 * Returns 0, or -1 with *err set (malloc'd).
 */
int store_migrate(const char *owner, const char *const *steps, int count,
		  char **err);

#endif /* STORE_H */
