/*
 * faults.h - what the fault-injection tests (test_faults.c against the
 * scripted fake server, test_faults_ngircd.c against ngIRCd) share: a
 * scratch directory with the probe plugin and a config, the bot started
 * so that it dies with the test, the fake server, and reading the bot's
 * log as it grows.
 */
#ifndef FAULTS_H
#define FAULTS_H

#include "procs.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A scratch directory with plugins/probe.so linked in. */
char *faults_dir(const char *name);

/*
 * Writes dir/opsbot.conf: [irc] on 127.0.0.1:port, nick opsbot, channel
 * #c, plus the irc_extra lines (e.g. "flood_interval = 20ms\n"); [bot]
 * with the probe plugin.  Returns the path (malloc'd).
 */
char *faults_write_config(const char *dir, int port, const char *irc_extra);

/*
 * Starts the bot (test_build_path("opsbot"), so build-asan/ in the
 * sanitizer pass) with "-c conf -v", output to dir/bot.log.  It gets
 * SIGKILL if the test process dies first.  Stop it with bot_stop() or
 * bot_signal_and_wait() from procs.h.
 */
int faults_bot_start(struct bot *b, const char *dir, const char *conf);

/* The whole file (NUL-terminated, *len without it); "" if unreadable. */
char *faults_read_file(const char *path, size_t *len);

/* How often text occurs in the bot's log. */
int faults_log_count(const struct bot *b, const char *text);

/*
 * Waits until text occurs at least n times in the bot's log; returns
 * time_now_ms() when it saw that, or -1 after timeout_ms.
 */
int64_t faults_wait_log(const struct bot *b, const char *text, int n,
			long timeout_ms);

/*
 * The delays of the bot's "reconnecting in X s" log lines, in order, in
 * ms, into out (at most max); returns how many there are.
 */
int faults_reconnect_delays(const struct bot *b, long *out, int max);

/* The scripted IRC server, tests/servers/fakeircd.py. */
struct fake {
	pid_t pid;
	char *dir;
	int port;
};

/*
 * Starts a scenario in dir/fake-<scenario> with more options (a
 * NULL-terminated list, or NULL) and waits for its port.  Returns 0.
 */
int fake_start(struct fake *f, const char *dir, const char *scenario,
	       const char *const *options);
/* Waits (at most ms) until the scenario has played to its end. */
int fake_wait_done(const struct fake *f, long ms);
/* SIGTERM, then waits for it to write its record and exit; returns the
 * record's path (malloc'd), or NULL if it did not exit cleanly.  Frees
 * f->dir; safe on a fake that never started. */
char *fake_stop(struct fake *f);

#endif /* FAULTS_H */
