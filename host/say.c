/*
 * say.c - see say.h.  Two pointers: the sinks of the running mode.
 */
#include "say.h"

static say_fn *sink;
static say_progress_fn *progress_sink;

void say_set_sink(say_fn *fn)
{
	sink = fn;
}

void say_emit(const char *target, const char *group, const char *text,
	      size_t len)
{
	if (sink)
		sink(target, group, text, len);
}

void say_set_progress_sink(say_progress_fn *fn)
{
	progress_sink = fn;
}

void say_emit_progress(const char *target, const char *key, const char *text,
		       size_t len)
{
	if (progress_sink)
		progress_sink(target, key, text, len);
	else
		say_emit(target, NULL, text, len);
}
