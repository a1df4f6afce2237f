/*
 * log.c - levelled, redacted log lines on stderr: with a UTC timestamp on
 * a terminal or in a file, or, when stderr is the systemd journal's stream
 * ($JOURNAL_STREAM names its device and inode), without one and with a
 * syslog priority prefix ("<4>") the journal turns into the entry's
 * priority.
 *
 * One mutex serialises writers (job threads log too) and guards the
 * secret registry, which only the loop thread changes.
 */
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define REDACTED "[redacted]"

static enum log_level current_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t secret_count;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const char level_priority[] = {'3', '4', '6', '7'};
static int journal_mode = -1; /* -1: not looked at yet */

int log_to_journal(void)
{
	const char *env;
	struct stat st;
	unsigned long long dev, ino;
	char end;

	if (journal_mode >= 0)
		return journal_mode;
	journal_mode = 0;
	env = getenv("JOURNAL_STREAM");
	/* Only if stderr is still that stream: a child whose stderr went
	 * elsewhere inherits the variable too. */
	if (env && sscanf(env, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		journal_mode = 1;
	return journal_mode;
}

void log_set_level(enum log_level level)
{
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_enabled(enum log_level level)
{
	return level <= current_level;
}

void secret_register(const char *value)
{
	size_t i;

	if (!value || strlen(value) < 4)
		return;
	pthread_mutex_lock(&log_lock);
	for (i = 0; i < secret_count; i++)
		if (!strcmp(secrets[i], value))
			goto out;
	secrets = xrealloc(secrets, (secret_count + 1) * sizeof(*secrets));
	secrets[secret_count++] = xstrdup(value);
out:
	pthread_mutex_unlock(&log_lock);
}

void secret_clear_all(void)
{
	size_t i;

	pthread_mutex_lock(&log_lock);
	for (i = 0; i < secret_count; i++)
		free_secret(secrets[i]);
	free(secrets);
	secrets = NULL;
	secret_count = 0;
	pthread_mutex_unlock(&log_lock);
}

static int redact_locked(char *s, size_t *len, size_t size)
{
	size_t i, rlen = strlen(REDACTED);
	int count = 0;

	for (i = 0; i < secret_count; i++) {
		size_t slen = strlen(secrets[i]);
		char *p = s;

		while (
		    (p = memmem(p, *len - (size_t)(p - s), secrets[i], slen))) {
			size_t off = (size_t)(p - s);
			size_t tail = *len - off - slen;
			size_t newlen = *len - slen + rlen;

			if (newlen + 1 > size) {
				/* No room for the marker: blank it out. */
				memset(p, '*', slen);
				p += slen;
				count++;
				continue;
			}
			memmove(p + rlen, p + slen, tail + 1);
			memcpy(p, REDACTED, rlen);
			*len = newlen;
			p += rlen;
			count++;
		}
	}
	return count;
}

int secret_redact(char *s, size_t *len, size_t size)
{
	if (!secret_count)
		return 0;
	return redact_locked(s, len, size);
}

char *secret_redact_copy(const char *text, size_t len, size_t *out_len)
{
	/* "[redacted]" is at most 10 bytes longer than a 4-byte secret. */
	size_t size = len * 3 + 64;
	char *copy;

	if (!secret_found(text, len))
		return NULL;
	copy = xmalloc(size);
	memcpy(copy, text, len);
	copy[len] = '\0';
	*out_len = len;
	secret_redact(copy, out_len, size);
	return copy;
}

int secret_found(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < secret_count; i++)
		if (memmem(s, len, secrets[i], strlen(secrets[i])))
			return 1;
	return 0;
}

void log_vmsg(enum log_level level, const char *component, const char *fmt,
	      va_list ap)
{
	char line[LOG_LINE_MAX];
	va_list copy;
	struct timeval tv;
	struct tm tm;
	size_t len, i;
	int n;

	if (level > current_level)
		return;
	if (log_to_journal()) {
		/* The journal stamps each line itself. */
		n = snprintf(line, sizeof(line), "<%c>%-5s [%s] ",
			     level_priority[level], level_names[level],
			     component);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
			     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-5s [%s] ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec,
			     (long)(tv.tv_usec / 1000), level_names[level],
			     component);
	}
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	va_copy(copy, ap);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0 && (size_t)n >= sizeof(line) - len) {
		/* Cut: a secret across the cut would escape redaction, so
		 * redact the whole text first (it may grow: 4 bytes become
		 * "[redacted]"), then cut. */
		char *full = xvasprintf(fmt, copy);
		size_t flen = strlen(full), cap = flen * 3 + 64;

		full = xrealloc(full, cap);
		pthread_mutex_lock(&log_lock);
		redact_locked(full, &flen, cap);
		pthread_mutex_unlock(&log_lock);
		n = (int)(flen < sizeof(line) - len ? flen
						    : sizeof(line) - len - 1);
		memcpy(line + len, full, (size_t)n);
		line[len + (size_t)n] = '\0';
		free_secret(full);
	}
	va_end(copy);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n
						      : sizeof(line) - len - 1;
	/* One line per message, whatever the text held. */
	for (i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	pthread_mutex_lock(&log_lock);
	redact_locked(line, &len, sizeof(line) - 1);
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nowhere left to report it. */
	}
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, component, fmt, ap);
	va_end(ap);
}

int error(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, component, fmt, ap);
	va_end(ap);
	return -1;
}

void warning(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARN, component, fmt, ap);
	va_end(ap);
}

void info(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_INFO, component, fmt, ap);
	va_end(ap);
}

void debug(const char *component, const char *fmt, ...)
{
	va_list ap;

	if (current_level < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_DEBUG, component, fmt, ap);
	va_end(ap);
}
