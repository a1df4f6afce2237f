/*
 * webhook.c - a deliberately small HTTP/1.1 server: one request per
 * connection, Content-Length or chunked bodies up to [http] max_body,
 * 10 s to send the whole request, exact path routing; per route a body
 * limit and a rate limit, and the token and HMAC checks handlers call.
 *
 * The parser (try_parse, handle_request) is this file's own; what a route
 * allows (route_body_limit, route_admit) and the checks do not depend on
 * it, so they carry over to another HTTP server unchanged.
 */
#include "webhook.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "plugin.h"
#include "tls_backend.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_MAX (16 * 1024)
#define REQUEST_TIMEOUT_MS 10000
#define HEADER_COUNT_MAX 64
#define CONNECTIONS_MAX 64 /* more at once are answered 503 and closed */
#define ROUTE_BODY_DEFAULT (1024 * 1024)

/* A token bucket: burst tokens at most, refilled at rate per minute. */
struct rate_limit {
	int rate_per_minute; /* 0: unlimited */
	int burst;
	double tokens;
	int64_t updated_ms; /* monotonic */
};

struct route {
	struct opsbot_plugin *plugin;
	char *method;
	char *path;
	opsbot_webhook_fn *fn;
	void *data;
	size_t max_body; /* the route's limit, before [http] max_body */
	struct rate_limit limit;
	struct list link;
};

struct hook_request {
	struct opsbot_webhook pub;
	struct opsbot_plugin *plugin;	 /* the route's, for log lines */
	char *headers[HEADER_COUNT_MAX]; /* "name: value" inside conn->in */
	int header_count;
	const char *content_type;
	char *body_out;
	size_t body_out_len;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct buf in;
	char remote[64];
	int closing;
	int handles;
	uv_write_t write;
	char *out;
	int admitted;	  /* route_admit() let the request in */
	struct list link; /* in connections, until freed */
};

static struct list routes = LIST_INIT(routes);
static struct list connections = LIST_INIT(connections);
/* A new handle for every listen: one being closed stays libuv's until its
 * close callback, so a reconfigure must not initialise it again. */
static uv_tcp_t *server;
static int bound_port;
static size_t max_body = 1024 * 1024;
static int open_connections;

static void conn_unref(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles == 0) {
		list_del(&c->link);
		buf_free(&c->in);
		free(c->out);
		free(c);
		open_connections--;
	}
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_unref);
	uv_close((uv_handle_t *)&c->tcp, conn_unref);
}

static void on_written(uv_write_t *w, int status)
{
	UNUSED(status);
	conn_close(w->data);
}

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	}
	return "Status";
}

/* extra: more header lines ("Retry-After: 5\r\n"), or NULL. */
static void respond_with(struct conn *c, int code, const char *type,
			 const char *body, size_t len, const char *extra)
{
	struct buf b = BUF_INIT;
	uv_buf_t ub;

	if (code < 100 || code > 599)
		code = 500;
	if (!body) {
		body = reason(code);
		len = strlen(body);
		type = "text/plain";
	}
	buf_addf(&b,
		 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
		 code, reason(code), type ? type : "text/plain", len,
		 extra ? extra : "");
	buf_add(&b, body, len);
	/* b.len, not strlen: the body may hold NUL bytes. */
	ub = uv_buf_init(b.data, (unsigned)b.len);
	c->out = buf_detach(&b);
	c->write.data = c;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &ub, 1, on_written))
		conn_close(c);
}

static void respond(struct conn *c, int code, const char *type,
		    const char *body, size_t len)
{
	respond_with(c, code, type, body, len, NULL);
}

static struct route *find_route(const char *method, const char *path,
				int *path_known)
{
	struct list *pos, *tmp;

	*path_known = 0;
	list_for_each_safe(pos, tmp, &routes)
	{
		struct route *r = list_entry(pos, struct route, link);

		if (strcmp(r->path, path))
			continue;
		*path_known = 1;
		if (!strcmp(r->method, method))
			return r;
	}
	return NULL;
}

/* The largest body r takes: its own limit, within [http] max_body (the
 * operator's bound on what one request may make the bot hold). */
static size_t route_body_limit(const struct route *r)
{
	return r && r->max_body < max_body ? r->max_body : max_body;
}

/*
 * Takes a token from l at now_ms (monotonic): 1, or 0 with
 * *retry_after_s set to the whole seconds until one is there (at least 1).
 */
static int rate_limit_take(struct rate_limit *l, int64_t now_ms,
			   int *retry_after_s)
{
	double per_ms;

	if (l->rate_per_minute <= 0)
		return 1;
	per_ms = l->rate_per_minute / 60000.0;
	if (now_ms > l->updated_ms) {
		l->tokens += (double)(now_ms - l->updated_ms) * per_ms;
		if (l->tokens > l->burst)
			l->tokens = l->burst;
		l->updated_ms = now_ms;
	}
	if (l->tokens >= 1.0) {
		l->tokens -= 1.0;
		return 1;
	}
	*retry_after_s = (int)ceil((1.0 - l->tokens) / per_ms / 1000.0);
	if (*retry_after_s < 1)
		*retry_after_s = 1;
	return 0;
}

/*
 * Lets a request for r in before its body is read: 0, or 429 (over the
 * route's rate; *retry_after_s says when to come back), in which case the
 * handler must not run.  Call it once per request.
 */
static int route_admit(struct route *r, int64_t now_ms, int *retry_after_s)
{
	return rate_limit_take(&r->limit, now_ms, retry_after_s) ? 0 : 429;
}

/* The route the request line at the start of head names, or NULL. */
static struct route *route_of_head(const char *head, size_t head_len)
{
	const char *end = memmem(head, head_len, "\r\n", 2);
	const char *space, *target, *target_end;
	char *method, *path;
	struct route *r;
	int known;

	if (!end)
		return NULL;
	space = memchr(head, ' ', (size_t)(end - head));
	if (!space)
		return NULL;
	target = space + 1;
	for (target_end = target; target_end < end; target_end++)
		if (*target_end == ' ' || *target_end == '?')
			break;
	method = xstrndup(head, (size_t)(space - head));
	path = xstrndup(target, (size_t)(target_end - target));
	r = find_route(method, path, &known);
	free(method);
	free(path);
	return r;
}

/* The value of a hex digit, or -1. */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a chunked body in place; returns its length, or -1 if it is
 * malformed, -2 if incomplete, -3 if a chunk is larger than max. */
static long dechunk(char *p, size_t len, size_t max)
{
	char *in = p, *end = p + len, *out = p;

	for (;;) {
		char *line_end = memmem(in, (size_t)(end - in), "\r\n", 2);
		size_t size = 0;
		char *num_end;

		if (!line_end)
			return -2;
		/*
		 * 1*HEXDIG, read by hand: strtoul also takes a sign, spaces
		 * and "0x" (which a proxy in front reads differently), and
		 * its ULONG_MAX made "size + 2" below wrap around.  Bounded
		 * by max, so the size cannot overflow either.
		 */
		for (num_end = in; isxdigit((unsigned char)*num_end);
		     num_end++) {
			if (size > max)
				return -3;
			size = size * 16 + (size_t)hex_digit(*num_end);
		}
		if (num_end == in || (num_end != line_end && *num_end != ';'))
			return -1;
		if (size > max)
			return -3;
		in = line_end + 2;
		if (size == 0)
			return memmem(in, (size_t)(end - in), "\r\n", 2)
				   ? (long)(out - p)
				   : -2;
		if ((size_t)(end - in) < size + 2)
			return -2;
		memmove(out, in, size);
		out += size;
		in += size;
		if (in[0] != '\r' || in[1] != '\n')
			return -1;
		in += 2;
	}
}

static void handle_request(struct conn *c, char *head, size_t head_len,
			   char *body, size_t body_len)
{
	struct hook_request hr;
	struct route *r;
	char *line_end, *method, *target, *version, *q, *p;
	int known, code;

	memset(&hr, 0, sizeof(hr));
	head[head_len] = '\0';
	line_end = strstr(head, "\r\n");
	if (!line_end)
		return respond(c, 400, NULL, NULL, 0);
	*line_end = '\0';
	method = head;
	target = strchr(method, ' ');
	if (!target)
		return respond(c, 400, NULL, NULL, 0);
	*target++ = '\0';
	version = strchr(target, ' ');
	if (!version || strncmp(version + 1, "HTTP/1.", 7))
		return respond(c, 400, NULL, NULL, 0);
	*version = '\0';
	/* Header lines, kept as "name: value" for webhook_header(). */
	for (p = line_end + 2; *p;) {
		char *e = strstr(p, "\r\n");

		if (!e)
			break;
		*e = '\0';
		if (*p && hr.header_count < HEADER_COUNT_MAX)
			hr.headers[hr.header_count++] = p;
		p = e + 2;
	}
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';
	body[body_len] = '\0';
	hr.pub.method = method;
	hr.pub.path = target;
	hr.pub.query = q ? q : "";
	hr.pub.body = body;
	hr.pub.body_len = body_len;
	hr.pub.remote_addr = c->remote;

	if (!strcmp(target, "/healthz") && !strcmp(method, "GET"))
		return respond(c, 200, "text/plain", "ok\n", 3);
	r = find_route(method, target, &known);
	if (!r)
		return respond(c, known ? 405 : 404, NULL, NULL, 0);
	/* The route's own limit, whatever the parser checked before. */
	if (body_len > route_body_limit(r))
		return respond(c, 413, NULL, NULL, 0);
	hr.plugin = r->plugin;
	if (!plugin_accepts_work(r->plugin))
		return respond(c, 503, NULL, NULL, 0);
	plugin_enter(r->plugin);
	code = r->fn(r->plugin, &hr.pub, r->data);
	plugin_leave(r->plugin);
	debug("http", "%s %s from %s: %d", method, target, c->remote, code);
	respond(c, code, hr.content_type, hr.body_out, hr.body_out_len);
	free(hr.body_out);
}

static const char *find_header(char *head, size_t head_len, const char *name)
{
	size_t n = strlen(name);
	char *p = head;

	while (p < head + head_len) {
		char *e = memmem(p, (size_t)(head + head_len - p), "\r\n", 2);

		if (!e)
			break;
		if ((size_t)(e - p) > n && !strncasecmp(p, name, n) &&
		    p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = e + 2;
	}
	return NULL;
}

/* How many header lines are called name. */
static int count_header(char *head, size_t head_len, const char *name)
{
	size_t n = strlen(name);
	char *p = head;
	int count = 0;

	while (p < head + head_len) {
		char *e = memmem(p, (size_t)(head + head_len - p), "\r\n", 2);

		if (!e)
			break;
		if ((size_t)(e - p) > n && !strncasecmp(p, name, n) &&
		    p[n] == ':')
			count++;
		p = e + 2;
	}
	return count;
}

/* Is the header value (up to CR) exactly word, ignoring case and
 * trailing spaces? */
static int header_value_is(const char *value, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(value, word, n))
		return 0;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\r' || *value == '\0';
}

/* Called after every read: is the whole request here? */
static void try_parse(struct conn *c)
{
	char *data = c->in.data, *end_head;
	size_t head_len, limit;
	unsigned long long len = 0;
	const char *cl, *te;
	struct route *r;

	end_head = memmem(data, c->in.len, "\r\n\r\n", 4);
	if (!end_head) {
		if (c->in.len > HEADER_MAX)
			respond(c, 431, NULL, NULL, 0);
		return;
	}
	head_len = (size_t)(end_head - data) + 2; /* keep the last CRLF */
	te = find_header(data, head_len, "Transfer-Encoding");
	cl = find_header(data, head_len, "Content-Length");
	/* Ambiguous framing is refused outright (no request smuggling
	 * through a proxy in front): both headers, a repeated length, or a
	 * coding other than plain "chunked". */
	if ((te && cl) || count_header(data, head_len, "Content-Length") > 1 ||
	    count_header(data, head_len, "Transfer-Encoding") > 1)
		return respond(c, 400, NULL, NULL, 0);
	if (te && !header_value_is(te, "chunked"))
		return respond(c, 501, NULL, NULL, 0);
	/* Looked up again after every read: the plugin may have gone. */
	r = route_of_head(data, head_len);
	limit = route_body_limit(r);
	if (cl) {
		char *num_end;

		len = strtoull(cl, &num_end, 10);
		if (!isdigit((unsigned char)*cl) ||
		    (*num_end != '\r' && *num_end != ' '))
			return respond(c, 400, NULL, NULL, 0);
		/* Refused before the body is read, and before the rate
		 * limit counts it. */
		if (len > limit)
			return respond(c, 413, NULL, NULL, 0);
	}
	if (r && !c->admitted) {
		int retry_after = 0;

		if (route_admit(r, time_now_ms(), &retry_after)) {
			char extra[64];

			debug("http", "%s from %s: over its rate limit",
			      r->path, c->remote);
			snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
				 retry_after);
			return respond_with(c, 429, NULL, NULL, 0, extra);
		}
		c->admitted = 1;
	}
	if (te) {
		size_t avail = c->in.len - head_len - 2;
		char *body = end_head + 4;
		char *copy;
		long n;

		if (avail > limit + 4096)
			return respond(c, 413, NULL, NULL, 0);
		/* Decode a copy: an incomplete body must stay intact. */
		copy = xmalloc(avail + 1);
		memcpy(copy, body, avail);
		n = dechunk(copy, avail, limit);
		if (n >= 0 && (size_t)n <= limit)
			memcpy(body, copy, (size_t)n);
		free(copy);
		if (n == -2)
			return;
		if (n == -3 || (n >= 0 && (size_t)n > limit))
			return respond(c, 413, NULL, NULL, 0);
		if (n < 0)
			return respond(c, 400, NULL, NULL, 0);
		handle_request(c, data, head_len, body, (size_t)n);
		return;
	}
	if (c->in.len - head_len - 2 < len)
		return;
	handle_request(c, data, head_len, end_head + 4, (size_t)len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;

	UNUSED(suggested);
	buf_grow(&c->in, 8192);
	b->base = c->in.data + c->in.len;
	b->len = c->in.cap - c->in.len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	UNUSED(b);
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	if (c->in.len > HEADER_MAX + max_body + 8192) {
		respond(c, 413, NULL, NULL, 0);
		return;
	}
	try_parse(c);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	/* The answer is on its way and the client too slow to take it: a
	 * second respond() would reuse the uv_write_t still in flight. */
	if (c->out) {
		conn_close(c);
		return;
	}
	respond(c, 408, NULL, NULL, 0);
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct sockaddr_storage addr;
	int len = sizeof(addr);
	struct conn *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	uv_tcp_init(loop_get(), &c->tcp);
	uv_timer_init(loop_get(), &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	open_connections++;
	list_add_tail(&connections, &c->link);
	if (uv_accept(srv, (uv_stream_t *)&c->tcp)) {
		conn_close(c);
		return;
	}
	if (open_connections > CONNECTIONS_MAX) {
		/* Bounded: a flood of idle connections cannot eat the bot. */
		respond(c, 503, NULL, NULL, 0);
		return;
	}
	strlcpy_safe(c->remote, "?", sizeof(c->remote));
	if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &len)) {
		if (addr.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&addr, c->remote,
				    sizeof(c->remote));
		else if (addr.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&addr, c->remote,
				    sizeof(c->remote));
	}
	loop_timer_start(&c->timer, on_timeout, REQUEST_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_server_closed(uv_handle_t *h)
{
	free(h);
}

void webhook_stop(void)
{
	struct list *pos, *tmp;

	if (server)
		uv_close((uv_handle_t *)server, on_server_closed);
	server = NULL;
	bound_port = 0;
	/* Connections in progress end with the listener (shutdown, or a
	 * new [http] section). */
	list_for_each_safe(pos, tmp, &connections)
	{
		conn_close(list_entry(pos, struct conn, link));
	}
}

int webhook_port(void)
{
	return bound_port;
}

/* "ADDRESS:PORT" ("[v6]:PORT") into addr; 0, or -1 with why set. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr,
			char *why, size_t size)
{
	const char *colon = strrchr(listen, ':'), *p;
	char host[128];
	long port;

	if (!colon || colon == listen ||
	    (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(why, size, "expected ADDRESS:PORT, got '%s'", listen);
		return -1;
	}
	for (p = colon + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			break;
	port = strtol(colon + 1, NULL, 10);
	if (p == colon + 1 || *p || port > 65535) {
		snprintf(why, size, "'%s' is not a port (0 to 65535)",
			 colon + 1);
		return -1;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) &&
	    uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr)) {
		snprintf(why, size, "'%s' is not an IP address", host);
		return -1;
	}
	return 0;
}

void webhook_validate_config(struct config *cfg)
{
	const struct config_entry *e = config_find(cfg, "http", "listen");
	struct sockaddr_storage addr;
	char why[200];

	if (e && *e->value &&
	    parse_listen(e->value, &addr, why, sizeof(why)) < 0)
		config_error(cfg, e, "%s", why);
}

int webhook_configure(const struct config *cfg)
{
	const char *listen =
	    config_get(cfg, "http", config_http_keys, "listen");
	struct sockaddr_storage addr;
	char why[200];
	int rc, len = sizeof(addr);

	max_body =
	    (size_t)config_get_int(cfg, "http", config_http_keys, "max_body");
	webhook_stop();
	if (!listen || !*listen)
		return 0;
	if (parse_listen(listen, &addr, why, sizeof(why)) < 0)
		return error("http", "[http] listen: %s", why);
	server = xcalloc(1, sizeof(*server));
	uv_tcp_init(loop_get(), server);
	rc = uv_tcp_bind(server, (struct sockaddr *)&addr, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)server, 64, on_connection);
	if (rc) {
		webhook_stop();
		return error("http", "cannot listen on %s: %s", listen,
			     uv_strerror(rc));
	}
	if (!uv_tcp_getsockname(server, (struct sockaddr *)&addr, &len))
		bound_port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
	info("http", "webhooks on %s (port %d)", listen, bound_port);
	return 0;
}

int webhook_add(struct opsbot_plugin *p,
		const struct opsbot_webhook_route *route)
{
	const char *method = route->method, *path = route->path;
	opsbot_webhook_fn *fn = route->fn;
	void *data = route->data;
	struct route *r;
	char prefix[64];
	size_t body_limit = 0;
	int known, rate = 0, burst = 0;

	if (OPSBOT_HAS_MEMBER(route, max_body_bytes))
		body_limit = route->max_body_bytes;
	if (OPSBOT_HAS_MEMBER(route, rate_per_minute))
		rate = route->rate_per_minute;
	if (OPSBOT_HAS_MEMBER(route, burst))
		burst = route->burst;
	if (!method || !path || !fn || rate < 0 || burst < 0)
		return OPSBOT_EINVAL;
	snprintf(prefix, sizeof(prefix), "/hooks/%s", p->name);
	if (!str_has_prefix(path, prefix) ||
	    (path[strlen(prefix)] && path[strlen(prefix)] != '/') ||
	    strpbrk(path, "?# \r\n"))
		return OPSBOT_EINVAL;
	if (find_route(method, path, &known))
		return OPSBOT_EEXIST;
	r = xcalloc(1, sizeof(*r));
	r->plugin = p;
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->fn = fn;
	r->data = data;
	r->max_body = body_limit ? body_limit : ROUTE_BODY_DEFAULT;
	r->limit.rate_per_minute = rate;
	r->limit.burst = burst ? burst : rate / 6 + 1;
	r->limit.tokens = r->limit.burst;
	r->limit.updated_ms = time_now_ms();
	list_add_tail(&routes, &r->link);
	return OPSBOT_OK;
}

static void webhook_remove_plugin(struct opsbot_plugin *p)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &routes)
	{
		struct route *r = list_entry(pos, struct route, link);

		if (r->plugin != p)
			continue;
		list_del(&r->link);
		free(r->method);
		free(r->path);
		free(r);
	}
}

void webhook_respond(const struct opsbot_webhook *hook,
		     const char *content_type, const char *body,
		     size_t body_len)
{
	struct hook_request *hr = (struct hook_request *)hook;

	free(hr->body_out);
	hr->body_out = xmalloc(body_len + 1);
	memcpy(hr->body_out, body, body_len);
	hr->body_out[body_len] = '\0';
	hr->body_out_len = body_len;
	/* Static or plugin-owned strings outlive the handler call only
	 * by accident: accept a few known types, default to text. */
	hr->content_type = content_type && strstr(content_type, "json")
			       ? "application/json"
			       : "text/plain; charset=utf-8";
}

const char *webhook_header(const struct opsbot_webhook *hook, const char *name)
{
	const struct hook_request *hr = (const struct hook_request *)hook;
	size_t n = strlen(name);
	int i;

	for (i = 0; i < hr->header_count; i++) {
		const char *h = hr->headers[i];

		if (!strncasecmp(h, name, n) && h[n] == ':') {
			h += n + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

static struct plugin_sweeper webhook_sweeper = {"webhooks",
						webhook_remove_plugin, NULL};

void webhook_init(void)
{
	plugin_add_sweeper(&webhook_sweeper);
}

/* Log lines of the checks name the plugin whose handler called them. */
static const char *hook_log_name(const struct opsbot_webhook *hook)
{
	const struct hook_request *hr = (const struct hook_request *)hook;

	return hr->plugin ? plugin_log_name(hr->plugin) : "http";
}

/* A header's value without the spaces before the line end. */
static const char *header_trimmed(const struct opsbot_webhook *hook,
				  const char *name, size_t *len)
{
	const char *v = webhook_header(hook, name);

	if (!v)
		return NULL;
	*len = strlen(v);
	while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		(*len)--;
	return v;
}

/*
 * Percent-decodes src (len bytes) into out; 0, or -1 for a '%' without
 * two hex digits.  '+' stays '+': tokens are often base64, and a client
 * that does not encode them sends it as it is.
 */
static int percent_decode(const char *src, size_t len, struct buf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (src[i] != '%') {
			buf_addch(out, src[i]);
			continue;
		}
		if (i + 2 >= len)
			return -1;
		hi = hex_digit(src[i + 1]);
		lo = hex_digit(src[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		buf_addch(out, (char)(hi * 16 + lo));
		i += 2;
	}
	return 0;
}

/*
 * The decoded value of the first parameter called name in query ("a=1&
 * b=2") into out: 0, or -1 if there is none or it is badly encoded.
 */
static int query_param(const char *query, const char *name, struct buf *out)
{
	const char *p = query;

	while (*p) {
		const char *end = strchr(p, '&'), *eq;
		struct buf key = BUF_INIT;
		int match;

		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		match = percent_decode(p, (size_t)((eq ? eq : end) - p),
				       &key) == 0 &&
			key.len == strlen(name) &&
			!memcmp(key.data ? key.data : "", name, key.len);
		buf_free(&key);
		if (match) {
			buf_reset(out);
			if (!eq)
				return 0; /* "?token": present, empty */
			return percent_decode(eq + 1, (size_t)(end - eq - 1),
					      out);
		}
		p = *end ? end + 1 : end;
	}
	return -1;
}

int webhook_verify_token(const struct opsbot_webhook *hook, const char *header,
			 const char *query, const char *expected)
{
	struct buf got = BUF_INIT;
	const char *where = NULL;
	int ok;

	if (!expected || !*expected) {
		error(hook_log_name(hook),
		      "webhook %s: no token configured to check against; "
		      "refusing the request",
		      hook->path);
		return OPSBOT_EPERM;
	}
	if (header) {
		size_t len;
		const char *v = header_trimmed(hook, header, &len);

		if (v) {
			buf_add(&got, v, len);
			where = header;
		}
	}
	if (!where && query && query_param(hook->query, query, &got) == 0)
		where = query;
	if (!where) {
		info(hook_log_name(hook), "webhook %s from %s: no token",
		     hook->path, hook->remote_addr);
		buf_free(&got);
		return OPSBOT_EPERM;
	}
	ok = mem_equal_constant_time(got.data ? got.data : "", got.len,
				     expected, strlen(expected));
	free_secret(buf_detach(&got));
	if (!ok) {
		info(hook_log_name(hook),
		     "webhook %s from %s: wrong token in %s", hook->path,
		     hook->remote_addr, where);
		return OPSBOT_EPERM;
	}
	return OPSBOT_OK;
}

int webhook_verify_hmac(const struct opsbot_webhook *hook, const char *header,
			const char *prefix, const char *secret)
{
	const struct tls_backend *tls;
	unsigned char want[32], got[32];
	const char *v;
	char *err = NULL;
	size_t len, plen, i;

	if (!header || !secret || !*secret) {
		error(hook_log_name(hook),
		      "webhook %s: no %s configured to check the signature "
		      "with; refusing the request",
		      hook->path, header ? "secret" : "header");
		return OPSBOT_EPERM;
	}
	if (!prefix)
		prefix = "";
	plen = strlen(prefix);
	v = header_trimmed(hook, header, &len);
	/* The value's form is no secret: checked plainly. */
	if (!v || len != plen + 64 || strncmp(v, prefix, plen)) {
		info(hook_log_name(hook),
		     "webhook %s from %s: %s %s (expected '%s' and 64 hex "
		     "digits)",
		     hook->path, hook->remote_addr, header,
		     v ? "malformed" : "missing", prefix);
		return OPSBOT_EPERM;
	}
	for (i = 0; i < 32; i++) {
		int hi = hex_digit(v[plen + 2 * i]);
		int lo = hex_digit(v[plen + 2 * i + 1]);

		if (hi < 0 || lo < 0) {
			info(hook_log_name(hook),
			     "webhook %s from %s: %s is not hex", hook->path,
			     hook->remote_addr, header);
			return OPSBOT_EPERM;
		}
		got[i] = (unsigned char)(hi * 16 + lo);
	}
	tls = module_tls(&err);
	if (!tls) {
		error(hook_log_name(hook),
		      "webhook %s: cannot check its signature: %s", hook->path,
		      err);
		free(err);
		return OPSBOT_EPERM;
	}
	if (tls->hmac_sha256(secret, strlen(secret), hook->body, hook->body_len,
			     want) < 0) {
		error(hook_log_name(hook),
		      "webhook %s: computing its HMAC failed", hook->path);
		return OPSBOT_EPERM;
	}
	if (!mem_equal_constant_time(got, sizeof(got), want, sizeof(want))) {
		info(hook_log_name(hook),
		     "webhook %s from %s: wrong signature in %s", hook->path,
		     hook->remote_addr, header);
		return OPSBOT_EPERM;
	}
	return OPSBOT_OK;
}
