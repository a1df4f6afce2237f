/*
 * ircclient.c - the integration tests' IRC client.
 */
#include "waitscale.h"
#include "ircclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ircclient_send_raw(struct ircclient *c, const char *bytes, size_t len)
{
	while (len) {
		ssize_t n = write(c->fd, bytes, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		bytes += n;
		len -= (size_t)n;
	}
	return 0;
}

int ircclient_send(struct ircclient *c, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_add(&b, "\r\n", 2);
	rc = ircclient_send_raw(c, b.data, b.len);
	buf_free(&b);
	return rc;
}

/* Reads until a full line is buffered or the deadline passes; returns the
 * line (malloc'd, no CRLF) or NULL. */
static char *read_line(struct ircclient *c, int64_t deadline)
{
	for (;;) {
		char *nl =
		    c->in.data ? memchr(c->in.data, '\n', c->in.len) : NULL;
		struct pollfd pfd = {c->fd, POLLIN, 0};
		char chunk[4096];
		int64_t left;
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - c->in.data);
			char *line = xstrndup(
			    c->in.data, len && nl[-1] == '\r' ? len - 1 : len);

			buf_consume(&c->in, len + 1);
			buf_adds(&c->log, line);
			buf_addch(&c->log, '\n');
			/* Answer the server's PING so it keeps us. */
			if (!strncmp(line, "PING ", 5)) {
				ircclient_send(c, "PONG %s", line + 5);
			}
			return line;
		}
		left = deadline - time_now_ms();
		if (left <= 0)
			return NULL;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(c->fd, chunk, sizeof(chunk));
		if (n <= 0)
			return NULL;
		buf_add(&c->in, chunk, (size_t)n);
	}
}

const char *ircclient_wait(struct ircclient *c, const char *want,
			   long timeout_ms)
{
	static char *last;
	int64_t deadline = time_now_ms() + test_wait_ms(timeout_ms);
	char *line;

	while ((line = read_line(c, deadline))) {
		if (strstr(line, want)) {
			free(last);
			last = line;
			return last;
		}
		free(line);
	}
	return NULL;
}

int ircclient_count(const struct ircclient *c, const char *want)
{
	const char *p = c->log.data, *end = p ? p + c->log.len : NULL;
	int n = 0;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = xstrndup(p, len);

		n += strstr(line, want) != NULL;
		free(line);
		p += len + 1;
	}
	return n;
}

int ircclient_wait_count(struct ircclient *c, const char *want, int n,
			 long timeout_ms)
{
	int64_t deadline = time_now_ms() + test_wait_ms(timeout_ms);
	char *line;

	if (ircclient_count(c, want) >= n)
		return 0;
	while ((line = read_line(c, deadline))) {
		free(line);
		if (ircclient_count(c, want) >= n)
			return 0;
	}
	return -1;
}

int ircclient_drain(struct ircclient *c, long ms)
{
	int64_t deadline = time_now_ms() + ms;
	char *line;
	int n = 0;

	while ((line = read_line(c, deadline))) {
		free(line);
		n++;
	}
	return n;
}

int ircclient_connect(struct ircclient *c, const char *host, int port,
		      const char *nick, long timeout_ms)
{
	struct sockaddr_in addr;
	int one = 1;

	memset(c, 0, sizeof(*c));
	snprintf(c->nick, sizeof(c->nick), "%s", nick);
	/* CLOEXEC: a bot started later must not inherit our connections. */
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &addr.sin_addr);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("ircclient: connect");
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ircclient_send(c, "NICK %s", nick);
	ircclient_send(c, "USER %s 0 * :test client", nick);
	if (!ircclient_wait(c, " 001 ", timeout_ms)) {
		fprintf(stderr, "ircclient: %s not registered\n", nick);
		return -1;
	}
	return 0;
}

void ircclient_close(struct ircclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	buf_free(&c->log);
}

int ircclient_join(struct ircclient *c, const char *channel, long timeout_ms)
{
	ircclient_send(c, "JOIN %s", channel);
	return ircclient_wait(c, " 366 ", timeout_ms) ? 0 : -1;
}

int ircclient_in_channel(struct ircclient *c, const char *channel,
			 const char *nick, long timeout_ms)
{
	int64_t deadline = time_now_ms() + timeout_ms;
	int found = 0;
	char *line;

	ircclient_send(c, "NAMES %s", channel);
	while ((line = read_line(c, deadline))) {
		if (strstr(line, " 353 ")) {
			const char *names = strstr(line + 1, " :");
			const char *p = names ? names + 2 : "";
			size_t n = strlen(nick);

			while (*p) {
				size_t len = strcspn(p, " ");

				/* Skip a mode prefix such as @ or +. */
				if (*p == '@' || *p == '+') {
					p++;
					len--;
				}
				if (len == n && !strncasecmp(p, nick, n))
					found = 1;
				p += len;
				while (*p == ' ')
					p++;
			}
		}
		if (strstr(line, " 366 ")) {
			free(line);
			return found;
		}
		free(line);
	}
	return -1;
}
