/*
 * net.h - one outgoing TCP connection on the loop: asynchronous DNS,
 * connect with a time limit, TCP_NODELAY, reads handed up as they come,
 * and writes that never block (what the socket does not take at once is
 * kept and sent when it is writable).
 */
#ifndef NET_H
#define NET_H

#include <stddef.h>

struct net_conn;

struct net_callbacks {
	void (*connected)(void *data);
	/* data is writable and valid during the call only. */
	void (*received)(void *data, char *bytes, size_t len);
	/* The connection failed or ended; reason is one line.  No more
	 * callbacks follow; net_close() is still needed to free it. */
	void (*closed)(void *data, const char *reason);
};

struct tls_options;

struct net_options {
	const char *host;
	int port;
	long connect_timeout_ms;
	/* NULL: plain TCP.  Otherwise TLS with these options (the module
	 * is loaded on first use); connected() comes after the handshake
	 * and the certificate checks. */
	const struct tls_options *tls;
};

/* Starts connecting.  Returns NULL only if out of resources (then
 * nothing is called back). */
struct net_conn *net_connect(const struct net_options *opts,
			     const struct net_callbacks *cb, void *data);
/* Queues bytes for sending; returns 0, or -1 if the connection is not
 * open. */
int net_write(struct net_conn *c, const char *bytes, size_t len);
/* Bytes accepted but not yet handed to the kernel. */
size_t net_pending(const struct net_conn *c);
/* The peer's address as text ("127.0.0.1 port 6667"), once connected. */
const char *net_peer(const struct net_conn *c);
/* The TLS session ("TLSv1.3, ..., certificate sha256 ..."), or "". */
const char *net_tls_info(const struct net_conn *c);
/* Closes and frees (later, from the loop); no callbacks after this. */
void net_close(struct net_conn *c);

#endif /* NET_H */
