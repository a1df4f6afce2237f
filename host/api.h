/*
 * api.h - where announcements (api->say) go: IRC in the daemon, stdout in
 * the command line runner.  main.c sets it.
 */
#ifndef API_H
#define API_H

#include <stddef.h>

/* group: NULL, or a group whose waiting lines may be summarised. */
typedef void api_say_fn(const char *target, const char *group, const char *text,
			size_t len);
void api_set_say(api_say_fn *fn);
/* Sends an announcement through the current sink. */
void api_emit_say(const char *target, const char *group, const char *text,
		  size_t len);
/* Where progress lines go when they may replace a waiting older one
 * (IRC); without it they go through the say sink. */
typedef void api_progress_fn(const char *target, const char *key,
			     const char *text, size_t len);
void api_set_progress(api_progress_fn *fn);
void api_emit_progress(const char *target, const char *key, const char *text,
		       size_t len);
/* OPSBOT_MODE_DAEMON (the default) or OPSBOT_MODE_CLI. */
void api_set_mode(int mode);

#endif /* API_H */
