/*
 * say.h - where announcements go (api->say, say_grouped, say_progress):
 * IRC in the daemon, stdout in the command line runner.  main.c sets the
 * sinks; api.c and progress.c send through them.
 */
#ifndef SAY_H
#define SAY_H

#include <stddef.h>

/* group: NULL, or a group whose waiting lines may be summarised. */
typedef void say_fn(const char *target, const char *group, const char *text,
		    size_t len);
void say_set_sink(say_fn *fn);
/* Sends an announcement through the current sink (dropped if none). */
void say_emit(const char *target, const char *group, const char *text,
	      size_t len);

/* Where progress lines go when a newer one may replace a waiting older
 * one (IRC); without it they go through the say sink. */
typedef void say_progress_fn(const char *target, const char *key,
			     const char *text, size_t len);
void say_set_progress_sink(say_progress_fn *fn);
void say_emit_progress(const char *target, const char *key, const char *text,
		       size_t len);

#endif /* SAY_H */
