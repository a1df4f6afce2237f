/*
 * httpd_backend.h - the contract between the host's webhook listener
 * (webhook.c: routes, limits, plugin handlers, checks) and
 * modules/httpd.so (module_httpd.c), which holds libmicrohttpd and runs it
 * from the host's libuv loop.
 *
 * All HTTP parsing (request line, headers, Content-Length, chunked
 * bodies, keep-alive, timeouts, connection limits) is libmicrohttpd's.  A
 * bot without [http] listen never loads the module, so it pays nothing
 * for it in memory.
 */
#ifndef HTTPD_BACKEND_H
#define HTTPD_BACKEND_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#define HTTPD_BACKEND_VERSION 3
#define HTTPD_BACKEND_SYMBOL "opsbot_httpd_backend"

struct httpd_settings {
	const struct sockaddr *addr; /* IPv4 or IPv6, port 0: any */
	unsigned timeout_s;	     /* idle time before a connection closes */
	unsigned connections_max;    /* open at once, in all */
	unsigned connections_per_ip; /* open at once from one address */
	unsigned requests_per_pass;  /* handler calls between two turns of
					the loop's I/O phase; more wait */
};

/* A request as libmicrohttpd parsed it; valid during the handler call. */
struct httpd_request {
	const char *method;
	const char *target;  /* as sent: path, then '?' and the query */
	const char *version; /* "HTTP/1.1" */
	const char *remote_addr;
	const char *body; /* NUL-terminated; NULL in HTTPD_HEAD */
	size_t body_len;
	void *conn; /* the module's, for header() */
};

/* The answer; the module takes body (malloc'd, may be NULL). */
struct httpd_answer {
	int code;
	const char *content_type; /* static; NULL: text/plain */
	char *body;
	size_t body_len;
	const char *header_name; /* one more header ("Retry-After"), static */
	char header_value[32];
	char *headers; /* more headers, malloc'd (the module takes it) or
			  NULL: "Name: value\r\n" lines, checked by the
			  host (no CR or LF inside a line) */
};

enum httpd_phase {
	/* The headers are in: refuse now, or set *body_limit.  An answer
	 * here closes the connection afterwards (the body is not read). */
	HTTPD_HEAD,
	HTTPD_BODY, /* the whole body is in: answer */
};

/*
 * Called from the loop inside the module's run of libmicrohttpd, at most
 * settings->requests_per_pass times with HTTPD_BODY between two turns of
 * the loop's I/O phase (requests past it wait, in order).  Returns
 * 1 with *answer filled, or 0 (HTTPD_HEAD only) to read a body of at most
 * *body_limit bytes; a longer one is answered 413 without another call.
 */
typedef int httpd_handler_fn(enum httpd_phase phase,
			     const struct httpd_request *req,
			     size_t *body_limit, struct httpd_answer *answer);

struct httpd_backend {
	unsigned version;
	/* log: one line about a refused request or a failure (debug). */
	void (*init)(uv_loop_t *loop, httpd_handler_fn *handler,
		     void (*log)(const char *line));
	/* Listens; returns 0 and the bound port, or -1 with err filled. */
	int (*start)(const struct httpd_settings *settings, int *port,
		     char *err, size_t err_size);
	/* Closes the listener and every connection (no handler calls). */
	void (*stop)(void);
	/* The first header called name (any case), trimmed, or NULL. */
	const char *(*header)(const struct httpd_request *req,
			      const char *name);
	/* How many header lines are called name. */
	int (*header_count)(const struct httpd_request *req, const char *name);
	/* Complete requests waiting for their turn (suspended). */
	size_t (*waiting)(void);
};

#endif /* HTTPD_BACKEND_H */
