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

/* Opens (creating) path and runs the host's migrations.  Returns 0 or -1
 * with *err set (malloc'd). */
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
