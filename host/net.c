/*
 * net.c - an outgoing TCP connection on libuv.
 *
 * Lifetime: c->refs counts what can still call back into c (the timer,
 * the TCP handle, a pending DNS lookup, connect or write); each such
 * callback releases its reference, and the last one frees c.
 */
#include "net.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "tls_backend.h"
#include "util.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum net_state {
	NET_RESOLVING,
	NET_CONNECTING,
	NET_HANDSHAKE, /* TCP up, TLS handshake running */
	NET_OPEN,
	NET_DEAD
};

static const struct tls_backend *tls;

struct net_conn {
	enum net_state state;
	struct net_callbacks cb;
	void *data;
	uv_getaddrinfo_t gai;
	uv_connect_t connect_req;
	uv_tcp_t *tcp; /* one per connection attempt */
	uv_timer_t timer;
	int closing, refs;
	struct addrinfo *addrs, *next_addr;
	char port_text[8];
	char host[256];
	char peer[80];
	char reason[256];
	/* "sending" is with the kernel (one uv_write at a time); "queued"
	 * waits for it to finish. */
	uv_write_t write_req;
	struct buf sending, queued;
	int writing;
	char read_buf[65536];
	/* TLS, when asked for. */
	int use_tls;
	struct tls_options *tls_opts;
	struct tls_ctx *tls_ctx;
	struct tls_session *tls_session;
	char tls_info[200];
};

static void release(struct net_conn *c)
{
	if (--c->refs > 0)
		return;
	if (c->addrs)
		uv_freeaddrinfo(c->addrs);
	buf_free(&c->sending);
	buf_free(&c->queued);
	if (c->tls_session)
		tls->session_free(c->tls_session);
	if (c->tls_ctx)
		tls->ctx_free(c->tls_ctx);
	if (c->tls_opts) {
		free((char *)c->tls_opts->ca_file);
		free((char *)c->tls_opts->fingerprint);
		free((char *)c->tls_opts->client_cert);
		free((char *)c->tls_opts->client_key);
		free(c->tls_opts);
	}
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct net_conn *c = h->data;

	if (h != (uv_handle_t *)&c->timer)
		free(h);
	release(c);
}

static void close_tcp(struct net_conn *c)
{
	if (!c->tcp)
		return;
	uv_close((uv_handle_t *)c->tcp, on_handle_closed);
	c->tcp = NULL;
}

static void report_closed(void *data)
{
	struct net_conn *c = data;

	if (!c->closing && c->cb.closed)
		c->cb.closed(c->data, c->reason);
	release(c);
}

/* Marks the connection dead and reports why, from the loop. */
static void fail(struct net_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct net_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == NET_DEAD)
		return;
	c->state = NET_DEAD;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	uv_timer_stop(&c->timer);
	if (c->tcp)
		uv_read_stop((uv_stream_t *)c->tcp);
	c->refs++;
	loop_defer(report_closed, c);
}

static void on_timeout(uv_timer_t *t)
{
	struct net_conn *c = t->data;

	fail(c, "connecting to %s port %s timed out", c->host, c->port_text);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct net_conn *c = h->data;

	UNUSED(suggested);
	b->base = c->read_buf;
	b->len = sizeof(c->read_buf);
}

static void tls_received(struct net_conn *c, const char *bytes, size_t len);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct net_conn *c = s->data;

	if (n == UV_EOF) {
		fail(c, "the server closed the connection");
		return;
	}
	if (n < 0) {
		fail(c, "read error: %s", uv_strerror((int)n));
		return;
	}
	if (n <= 0 || c->closing)
		return;
	if (!c->use_tls) {
		if (c->state == NET_OPEN)
			c->cb.received(c->data, b->base, (size_t)n);
		return;
	}
	tls_received(c, b->base, (size_t)n);
}

static void start_write(struct net_conn *c);

static void on_written(uv_write_t *w, int status)
{
	struct net_conn *c = w->data;

	c->writing = 0;
	/* Handshake writes (TLS) are writes like any other. */
	if ((c->state == NET_OPEN || c->state == NET_HANDSHAKE) &&
	    !c->closing) {
		if (status < 0) {
			fail(c, "write error: %s", uv_strerror(status));
		} else {
			buf_reset(&c->sending);
			if (c->queued.len)
				start_write(c);
		}
	}
	release(c);
}

static void start_write(struct net_conn *c)
{
	struct buf tmp = c->sending;
	uv_buf_t b;

	/* Swap: what was queued is now being sent. */
	c->sending = c->queued;
	c->queued = tmp;
	buf_reset(&c->queued);
	b = uv_buf_init(c->sending.data, (unsigned)c->sending.len);
	c->write_req.data = c;
	c->writing = 1;
	c->refs++;
	if (uv_write(&c->write_req, (uv_stream_t *)c->tcp, &b, 1, on_written)) {
		c->writing = 0;
		release(c);
		fail(c, "write failed");
	}
}

/* Hands bytes to the socket, keeping what it does not take at once. */
static int raw_write(struct net_conn *c, const char *bytes, size_t len)
{
	if ((c->state != NET_OPEN && c->state != NET_HANDSHAKE) || c->closing)
		return -1;
	if (!c->writing && !c->queued.len) {
		uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)c->tcp, &b, 1);

		if (n == (int)len)
			return 0;
		if (n < 0 && n != UV_EAGAIN) {
			fail(c, "write error: %s", uv_strerror(n));
			return -1;
		}
		if (n > 0) {
			bytes += n;
			len -= (size_t)n;
		}
	}
	buf_add(&c->queued, bytes, len);
	if (!c->writing)
		start_write(c);
	return 0;
}

/* Sends whatever ciphertext the TLS session has produced. */
static int tls_flush(struct net_conn *c)
{
	char chunk[16384];
	size_t n;

	while ((n = tls->take_output(c->tls_session, chunk, sizeof(chunk))))
		if (raw_write(c, chunk, n) < 0)
			return -1;
	return 0;
}

int net_write(struct net_conn *c, const char *bytes, size_t len)
{
	char err[256];

	if (c->state != NET_OPEN || c->closing)
		return -1;
	if (!c->use_tls)
		return raw_write(c, bytes, len);
	if (tls->write(c->tls_session, bytes, len, err, sizeof(err)) < 0) {
		fail(c, "%s", err);
		return -1;
	}
	return tls_flush(c);
}

/* Ciphertext arrived: drive the handshake, then hand up the plaintext. */
static void tls_received(struct net_conn *c, const char *bytes, size_t len)
{
	char err[256], plain[16384];
	int rc;

	if (tls->feed(c->tls_session, bytes, len) < 0) {
		fail(c, "TLS: out of memory");
		return;
	}
	if (c->state == NET_HANDSHAKE) {
		rc = tls->handshake(c->tls_session, err, sizeof(err));
		if (tls_flush(c) < 0)
			return;
		if (rc == TLS_WANT_MORE)
			return;
		if (rc != TLS_OK) {
			fail(c, "TLS with %s: %s", c->host, err);
			return;
		}
		uv_timer_stop(&c->timer);
		c->state = NET_OPEN;
		tls->describe(c->tls_session, c->tls_info, sizeof(c->tls_info));
		c->cb.connected(c->data);
		if (c->state != NET_OPEN || c->closing)
			return;
	}
	for (;;) {
		rc = tls->read(c->tls_session, plain, sizeof(plain), err,
			       sizeof(err));
		if (rc > 0) {
			c->cb.received(c->data, plain, (size_t)rc);
			if (c->state != NET_OPEN || c->closing)
				return;
			continue;
		}
		/* Reading may have produced output (key updates). */
		tls_flush(c);
		if (rc == 0)
			return;
		if (rc == TLS_CLOSED)
			fail(c, "the server closed the TLS session");
		else
			fail(c, "TLS: %s", err);
		return;
	}
}

/* TCP is up: start the TLS handshake (loading the module if needed). */
static int tls_start(struct net_conn *c)
{
	char err[256], *msg = NULL;

	if (!tls) {
		tls = module_tls(&msg);
		if (!tls) {
			fail(c, "TLS: %s", msg);
			free(msg);
			return -1;
		}
	}
	c->tls_ctx = tls->ctx_new(c->tls_opts, err, sizeof(err));
	if (c->tls_ctx)
		c->tls_session =
		    tls->session_new(c->tls_ctx, c->host, err, sizeof(err));
	if (!c->tls_session) {
		fail(c, "TLS: %s", err);
		return -1;
	}
	c->state = NET_HANDSHAKE;
	if (tls->handshake(c->tls_session, err, sizeof(err)) == TLS_ERROR) {
		fail(c, "TLS with %s: %s", c->host, err);
		return -1;
	}
	return tls_flush(c);
}

const char *net_tls_info(const struct net_conn *c)
{
	return c->tls_info;
}

size_t net_pending(const struct net_conn *c)
{
	return c->sending.len + c->queued.len;
}

const char *net_peer(const struct net_conn *c)
{
	return c->peer;
}

static void try_next_address(struct net_conn *c);

static void on_connect(uv_connect_t *req, int status)
{
	struct net_conn *c = req->data;

	if (c->closing || c->state == NET_DEAD) {
		release(c);
		return;
	}
	if (status < 0) {
		close_tcp(c);
		if (c->next_addr)
			/* Another address may work (IPv6, then IPv4). */
			try_next_address(c);
		else
			fail(c, "cannot connect to %s: %s", c->peer,
			     uv_strerror(status));
		release(c);
		return;
	}
	uv_tcp_nodelay(c->tcp, 1);
	uv_tcp_keepalive(c->tcp, 1, 60);
	uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
	if (c->use_tls) {
		/* The connect timer also bounds the handshake. */
		tls_start(c);
	} else {
		uv_timer_stop(&c->timer);
		c->state = NET_OPEN;
		c->cb.connected(c->data);
	}
	release(c);
}

static void try_next_address(struct net_conn *c)
{
	struct addrinfo *ai = c->next_addr;
	char ip[64] = "?";
	int rc;

	c->next_addr = ai->ai_next;
	if (ai->ai_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
	else if (ai->ai_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
	snprintf(c->peer, sizeof(c->peer), "%s port %s", ip, c->port_text);
	c->tcp = xcalloc(1, sizeof(*c->tcp));
	uv_tcp_init(loop_get(), c->tcp);
	c->tcp->data = c;
	c->refs++; /* the handle */
	c->connect_req.data = c;
	rc = uv_tcp_connect(&c->connect_req, c->tcp, ai->ai_addr, on_connect);
	if (rc) {
		close_tcp(c);
		fail(c, "cannot connect to %s: %s", c->peer, uv_strerror(rc));
		return;
	}
	c->refs++; /* the connect request */
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct net_conn *c = req->data;

	if (c->closing || c->state == NET_DEAD) {
		if (res)
			uv_freeaddrinfo(res);
		release(c);
		return;
	}
	if (status < 0 || !res) {
		fail(c, "cannot resolve '%s': %s", c->host,
		     uv_strerror(status));
		release(c);
		return;
	}
	c->addrs = c->next_addr = res;
	c->state = NET_CONNECTING;
	try_next_address(c);
	release(c);
}

struct net_conn *net_connect(const struct net_options *opts,
			     const struct net_callbacks *cb, void *data)
{
	struct net_conn *c = xcalloc(1, sizeof(*c));
	struct addrinfo hints;
	int rc;

	c->cb = *cb;
	c->data = data;
	c->state = NET_RESOLVING;
	if (opts->tls) {
		/* Copied: the caller's strings may not outlive the attempt. */
		c->use_tls = 1;
		c->tls_opts = xcalloc(1, sizeof(*c->tls_opts));
		c->tls_opts->verify = opts->tls->verify;
		c->tls_opts->ca_file =
		    opts->tls->ca_file ? xstrdup(opts->tls->ca_file) : NULL;
		c->tls_opts->fingerprint = opts->tls->fingerprint
					       ? xstrdup(opts->tls->fingerprint)
					       : NULL;
		c->tls_opts->client_cert = opts->tls->client_cert
					       ? xstrdup(opts->tls->client_cert)
					       : NULL;
		c->tls_opts->client_key = opts->tls->client_key
					      ? xstrdup(opts->tls->client_key)
					      : NULL;
	}
	snprintf(c->port_text, sizeof(c->port_text), "%d", opts->port);
	strlcpy_safe(c->host, opts->host, sizeof(c->host));
	strlcpy_safe(c->peer, opts->host, sizeof(c->peer));
	uv_timer_init(loop_get(), &c->timer);
	c->timer.data = c;
	c->refs = 1; /* the timer */
	loop_timer_start(&c->timer, on_timeout,
			 (uint64_t)(opts->connect_timeout_ms > 0
					? opts->connect_timeout_ms
					: 30000),
			 0);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	c->gai.data = c;
	rc = uv_getaddrinfo(loop_get(), &c->gai, on_resolved, opts->host,
			    c->port_text, &hints);
	if (rc)
		fail(c, "cannot resolve '%s': %s", opts->host, uv_strerror(rc));
	else
		c->refs++; /* the lookup */
	return c;
}

void net_close(struct net_conn *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	c->state = NET_DEAD;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	close_tcp(c);
	/* A lookup still running finishes with UV_ECANCELED. */
	uv_cancel((uv_req_t *)&c->gai);
}
