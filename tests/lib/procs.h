/*
 * procs.h - processes for integration tests: a private ngIRCd (through
 * tests/servers/ngircd-start) and the opsbot binary, started and stopped
 * by PID.
 */
#ifndef PROCS_H
#define PROCS_H

#include <stddef.h>
#include <sys/types.h>

struct ngircd {
	char *dir;
	int port;
	pid_t pid;
};

/* Starts ngIRCd in dir (extra: more options for ngircd-start, or NULL). */
int ngircd_start(struct ngircd *s, const char *dir, const char *extra);
void ngircd_stop(struct ngircd *s);

struct bot {
	pid_t pid;
	char *log_path;
	int exit_status; /* after bot_stop/bot_wait: wait status */
};

/* Starts build/opsbot with args (NULL-terminated), output to log_path. */
int bot_start(struct bot *b, const char *log_path, const char *const *args);
/* Sends sig and waits up to ms for the exit; returns 0 if it exited. */
int bot_signal_and_wait(struct bot *b, int sig, long ms);
/* SIGTERM, then SIGKILL after 5 s. */
void bot_stop(struct bot *b);
/* Does the log contain text? */
int bot_log_contains(const struct bot *b, const char *text);
/* Waits up to ms for text in the bot's log; 1 if it came. */
int bot_wait_log(const struct bot *b, const char *text, long ms);

/*
 * Runs a script (argv[0] a path) to completion within timeout_ms; returns
 * its stdout (malloc'd) or NULL if it failed (its stderr is printed).
 */
char *script_run(const char *const *argv, long timeout_ms);
/* The value of "KEY=value" in text (a script's output) into out; 0 or -1.
 * Values quoted by printf %q are taken as they are (the kit's never need
 * quoting). */
int kv_get(const char *text, const char *key, char *out, size_t size);

/*
 * Runs build/opsbot with args to completion (up to 30 s), capturing
 * stdout and stderr; returns the exit code (or -1).
 */
int run_opsbot(const char *const *args, char **out, char **err);

#endif /* PROCS_H */
