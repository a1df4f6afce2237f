/*
 * log.h - the host's log: levelled lines on stderr (timestamped, or with
 * journal priorities under systemd), safe from any thread,
 * with every registered secret removed before a line is written.
 *
 * The secret registry also serves the IRC and CLI output paths
 * (secret_redact), so a token that slips into a reply, an error or a log
 * line comes out as "[redacted]".
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

void log_set_level(enum log_level level);
/*
 * Is stderr the systemd journal's stream (JOURNAL_STREAM matches its
 * device and inode)?  Then lines carry a "<N>" syslog priority and no
 * timestamp.  Looked at once, on the first call.
 */
int log_to_journal(void);
enum log_level log_get_level(void);
/* Cheap check before building an expensive message. */
int log_enabled(enum log_level level);

/* component: "irc", "plugin registrar", ...; never NULL. */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *component, const char *fmt,
	      va_list ap) __attribute__((format(printf, 3, 0)));

/* Shorthands for host code; error() returns -1 so callers can
 * "return error(...)" as git does. */
int error(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void warning(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void info(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void debug(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Secrets: values that must never appear in output.  Values shorter than
 * 4 bytes are not registered (they would redact ordinary words).  The
 * registry is replaced as a whole when the config is (re)loaded.
 */
void secret_register(const char *value);
void secret_clear_all(void);
/* Replaces every registered secret in s (length *len, NUL-terminated, in
 * a buffer of size bytes) with "[redacted]", as far as it fits; returns
 * the number of replacements.  Loop thread or under the log lock. */
int secret_redact(char *s, size_t *len, size_t size);
/*
 * text (len bytes) with every registered secret replaced: NULL when it
 * holds none (use text as it is), else a malloc'd, NUL-terminated copy
 * with its length in *out_len.  Loop thread.
 */
char *secret_redact_copy(const char *text, size_t len, size_t *out_len);
/* Does s contain a registered secret? */
int secret_found(const char *s, size_t len);

#endif /* LOG_H */
