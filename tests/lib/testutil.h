/*
 * testutil.h - what the host's tests share: a scratch directory, the
 * build's paths, running the loop until something happens, and a reply
 * sink that records what commands answered.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include "command.h"
#include "util.h"

#include <stddef.h>

/* A fresh directory under $TMPDIR, removed by test_cleanup_dir(). */
char *test_make_dir(const char *name);
void test_cleanup_dir(char *dir);

/* The build directory ($BUILD, default "build"), and paths inside it. */
const char *test_build_dir(void);
char *test_build_path(const char *rel);

/* Runs the loop until *flag is non-zero or ms pass; returns *flag. */
int test_run_until(const int *flag, long ms);
/* Runs the loop for ms. */
void test_run_for(long ms);

/* A sink that appends "[private] [error] text\n" lines to a buffer. */
struct test_sink {
	struct buf out;
	int finished;
	int status;
};
extern const struct reply_sink test_reply_sink;
/* The current sink for test_reply_sink; set before dispatching. */
void test_sink_use(struct test_sink *s);

/* A command source as typed in #test by nick!user@host. */
void test_source(struct command_source *src, enum opsbot_origin origin,
		 const char *nick, const char *host);

/* Writes text into dir/name; returns the path (malloc'd). */
char *test_write_file(const char *dir, const char *name, const char *text);

/* Counts rows of "SELECT count(*) FROM ..." on the host's store. */
int test_store_count(const char *sql);

#endif /* TESTUTIL_H */
