/*
 * state.h - the plugins' small key/value store (api->state_*) and the
 * de-duplication of deliveries (api->seen_before), in the host's SQLite
 * database, namespaced by plugin name.
 */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>

int state_set(const char *plugin, const char *key, const void *value,
	      size_t len);
int state_get(const char *plugin, const char *key, char **value, size_t *len);
int state_delete(const char *plugin, const char *key);
int state_each(const char *plugin, const char *prefix,
	       int (*fn)(const char *key, const void *value, size_t len,
			 void *data),
	       void *data);
int state_seen_before(const char *plugin, const char *key, long lifetime_ms);

#endif /* STATE_H */
