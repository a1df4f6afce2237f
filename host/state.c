/*
 * state.c - see state.h.  TODO: implemented in the state/webhook work.
 */
#include "state.h"
#include "opsbot.h"
#include "util.h"

int state_set(const char *plugin, const char *key, const void *value,
	      size_t len)
{
	UNUSED(plugin);
	UNUSED(key);
	UNUSED(value);
	UNUSED(len);
	return OPSBOT_ERR;
}

int state_get(const char *plugin, const char *key, char **value, size_t *len)
{
	UNUSED(plugin);
	UNUSED(key);
	UNUSED(value);
	UNUSED(len);
	return OPSBOT_ERR;
}

int state_delete(const char *plugin, const char *key)
{
	UNUSED(plugin);
	UNUSED(key);
	return OPSBOT_ERR;
}

int state_each(const char *plugin, const char *prefix,
	       int (*fn)(const char *key, const void *value, size_t len,
			 void *data),
	       void *data)
{
	UNUSED(plugin);
	UNUSED(prefix);
	UNUSED(fn);
	UNUSED(data);
	return OPSBOT_ERR;
}

int state_seen_before(const char *plugin, const char *key, long lifetime_ms)
{
	UNUSED(plugin);
	UNUSED(key);
	UNUSED(lifetime_ms);
	return OPSBOT_ERR;
}
