/*
 * progress.h - "latest wins" progress announcements (api->say_progress):
 * at most one line per (plugin, target, key) per interval; a newer line
 * replaces the one held back.
 */
#ifndef PROGRESS_H
#define PROGRESS_H

#include "opsbot.h"

/* The default interval ([bot] progress_interval). */
void progress_configure(long default_interval_ms);
void progress_say(struct opsbot_plugin *p, const char *target, const char *key,
		  long min_interval_ms, const char *text);
void progress_end(struct opsbot_plugin *p, const char *target, const char *key);
/* Registers the sweep with the plugin core (start-up). */
void progress_init(void);

#endif /* PROGRESS_H */
