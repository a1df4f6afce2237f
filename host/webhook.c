/*
 * webhook.c - the webhook listener ([http] listen): exact path routing to
 * plugin handlers; per route a body limit and a rate limit; the token and
 * HMAC checks handlers call.
 *
 * The HTTP server is libmicrohttpd in modules/httpd.so (httpd_backend.h),
 * loaded on the first listen: it parses requests (no HTTP parsing here),
 * keeps connections alive, times idle ones out ([http] timeout) and bounds
 * them per client address and in all.  This file decides, once a
 * request's headers are in, whether its body is read at all.
 */
#include "webhook.h"
#include "config.h"
#include "httpd_backend.h"
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

/* The request a handler sees, behind its struct opsbot_webhook. */
struct hook_request {
	struct opsbot_webhook pub;
	struct opsbot_plugin *plugin; /* the route's, for log lines */
	const struct httpd_request *req;
	const char *content_type;
	char *body_out;
	size_t body_out_len;
	struct buf headers; /* webhook_respond_header(): "Name: value\r\n" */
	int nheaders;
};

#define HEADERS_MAX 16
#define HEADER_NAME_MAX 64
#define HEADER_VALUE_MAX 4096

static struct list routes = LIST_INIT(routes);
static const struct httpd_backend *backend;
static int bound_port;
static size_t max_body = 1024 * 1024;

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
	case 303:
		return "See Other";
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
/* An answer with the short text for code as its body. */
static int answer_code(struct httpd_answer *a, int code)
{
	a->code = code;
	a->content_type = "text/plain";
	a->body = xstrdup(reason(code));
	a->body_len = strlen(a->body);
	return 1;
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
/* The target's path into a new string, and where its query starts. */
static char *target_split(const char *target, const char **query)
{
	const char *q = strchr(target, '?');

	*query = q ? q + 1 : "";
	return xstrndup(target, q ? (size_t)(q - target) : strlen(target));
}

/* GET /healthz, answered by the host itself. */
static int is_healthz(const struct httpd_request *req, const char *path)
{
	return !strcmp(path, "/healthz") && !strcmp(req->method, "GET");
}

/*
 * A request's headers are in: refuse what a proxy in front could frame
 * differently from libmicrohttpd (both Content-Length and
 * Transfer-Encoding, either twice, a coding other than chunked), then
 * route it, check its announced length and its route's rate.  Returns 1
 * with *a filled, or 0 with *body_limit set to read the body.
 */
static int on_head(const struct httpd_request *req, const char *path,
		   size_t *body_limit, struct httpd_answer *a)
{
	const char *te = backend->header(req, "Transfer-Encoding");
	const char *cl = backend->header(req, "Content-Length");
	struct route *r;
	int known, retry_after = 0;

	/* libmicrohttpd takes any HTTP/1.x as 1.1. */
	if (strcmp(req->version, "HTTP/1.1") &&
	    strcmp(req->version, "HTTP/1.0"))
		return answer_code(a, 505);
	if ((te && cl) || backend->header_count(req, "Content-Length") > 1 ||
	    backend->header_count(req, "Transfer-Encoding") > 1)
		return answer_code(a, 400);
	if (te && strcasecmp(te, "chunked"))
		return answer_code(a, 501);
	/* Answered with the body (none): an answer before it would cost
	 * the connection its keep-alive. */
	if (is_healthz(req, path)) {
		*body_limit = 0;
		return 0;
	}
	r = find_route(req->method, path, &known);
	if (!r)
		return answer_code(a, known ? 405 : 404);
	*body_limit = route_body_limit(r);
	/* Refused before the body is read, and before the rate limit
	 * counts it (libmicrohttpd answered a malformed length 400). */
	if (cl && strtoull(cl, NULL, 10) > *body_limit)
		return answer_code(a, 413);
	if (route_admit(r, time_now_ms(), &retry_after)) {
		debug("http", "%s from %s: over its rate limit", r->path,
		      req->remote_addr);
		answer_code(a, 429);
		a->header_name = "Retry-After";
		snprintf(a->header_value, sizeof(a->header_value), "%d",
			 retry_after);
		return 1;
	}
	return 0;
}

/* The whole body is in: the route's handler answers. */
static void on_body(const struct httpd_request *req, const char *path,
		    const char *query, struct httpd_answer *a)
{
	struct hook_request hr;
	struct route *r;
	int known, code;

	if (is_healthz(req, path)) {
		a->code = 200;
		a->content_type = "text/plain";
		a->body = xstrdup("ok\n");
		a->body_len = 3;
		return;
	}
	/* Looked up again: the plugin may have gone while the body came. */
	r = find_route(req->method, path, &known);
	if (!r) {
		answer_code(a, known ? 405 : 404);
		return;
	}
	if (req->body_len > route_body_limit(r)) {
		answer_code(a, 413);
		return;
	}
	if (!plugin_accepts_work(r->plugin)) {
		answer_code(a, 503);
		return;
	}
	memset(&hr, 0, sizeof(hr));
	hr.pub.method = req->method;
	hr.pub.path = path;
	hr.pub.query = query;
	hr.pub.body = req->body;
	hr.pub.body_len = req->body_len;
	hr.pub.remote_addr = req->remote_addr;
	hr.plugin = r->plugin;
	hr.req = req;
	plugin_enter(r->plugin);
	code = r->fn(r->plugin, &hr.pub, r->data);
	plugin_leave(r->plugin);
	debug("http", "%s %s from %s: %d", req->method, path, req->remote_addr,
	      code);
	if (code < 100 || code > 599)
		code = 500;
	if (!hr.body_out)
		answer_code(a, code);
	else {
		a->code = code;
		a->content_type = hr.content_type;
		a->body = hr.body_out;
		a->body_len = hr.body_out_len;
	}
	/* Not on an error the host made of a bad code. */
	if (hr.headers.len && a->code == code)
		a->headers = buf_detach(&hr.headers);
	buf_free(&hr.headers);
}

static int on_http(enum httpd_phase phase, const struct httpd_request *req,
		   size_t *body_limit, struct httpd_answer *a)
{
	const char *query;
	char *path = target_split(req->target, &query);
	int answered = 1;

	if (phase == HTTPD_HEAD)
		answered = on_head(req, path, body_limit, a);
	else
		on_body(req, path, query, a);
	free(path);
	return answered;
}

static void on_httpd_log(const char *line)
{
	debug("http", "%s", line);
}

/* modules/httpd.so, loaded on the first listen; NULL after logging why. */
static const struct httpd_backend *load_backend(void)
{
	char *err = NULL;

	if (backend)
		return backend;
	backend = module_httpd(&err);
	if (!backend) {
		error("http", "webhooks are off: %s", err);
		free(err);
		return NULL;
	}
	backend->init(loop_get(), on_http, on_httpd_log);
	return backend;
}

void webhook_stop(void)
{
	/* Connections in progress end with the listener (shutdown, or a
	 * new [http] section). */
	if (backend)
		backend->stop();
	bound_port = 0;
}

int webhook_port(void)
{
	return bound_port;
}

size_t webhook_waiting(void)
{
	return backend && bound_port ? backend->waiting() : 0;
}

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
	struct httpd_settings set;
	char why[200];

	max_body =
	    (size_t)config_get_int(cfg, "http", config_http_keys, "max_body");
	webhook_stop();
	if (!listen || !*listen)
		return 0;
	if (parse_listen(listen, &addr, why, sizeof(why)) < 0)
		return error("http", "[http] listen: %s", why);
	if (!load_backend())
		return -1;
	memset(&set, 0, sizeof(set));
	set.addr = (struct sockaddr *)&addr;
	set.timeout_s =
	    (unsigned)((config_get_duration_ms(cfg, "http", config_http_keys,
					       "timeout") +
			999) /
		       1000);
	set.connections_max = (unsigned)config_get_int(
	    cfg, "http", config_http_keys, "max_connections");
	set.connections_per_ip = (unsigned)config_get_int(
	    cfg, "http", config_http_keys, "max_connections_per_ip");
	set.requests_per_pass = (unsigned)config_get_int(
	    cfg, "http", config_http_keys, "requests_per_pass");
	if (backend->start(&set, &bound_port, why, sizeof(why)) < 0)
		return error("http", "cannot listen on %s: %s", listen, why);
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
	if (content_type && strstr(content_type, "json"))
		hr->content_type = "application/json";
	else if (content_type && strstr(content_type, "text/html"))
		hr->content_type = "text/html; charset=utf-8";
	else
		hr->content_type = "text/plain; charset=utf-8";
}

static const char *hook_log_name(const struct opsbot_webhook *hook);

/* Headers whose framing or meaning the host and libmicrohttpd own. */
static int header_reserved(const char *name)
{
	static const char *const reserved[] = {
	    "Content-Type", "Content-Length", "Transfer-Encoding",
	    "Connection",   "Keep-Alive",     "Upgrade",
	    "Trailer",	    "Date",	      "Server",
	};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(name, reserved[i]))
			return 1;
	return 0;
}

/* An HTTP token (RFC 9110 5.6.2): a header name. */
static int header_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (!n || n > HEADER_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    !strchr("!#$%&'*+-.^_`|~", name[i]))
			return 0;
	return 1;
}

int webhook_respond_header(const struct opsbot_webhook *hook, const char *name,
			   const char *value)
{
	struct hook_request *hr = (struct hook_request *)hook;
	const unsigned char *v;

	if (!hook || !name || !value || !header_name_ok(name) ||
	    header_reserved(name) || strlen(value) > HEADER_VALUE_MAX) {
		error(hook ? hook_log_name(hook) : "http",
		      "webhook answer: header '%.64s' refused (a token name "
		      "the host does not own, a value of at most %d bytes)",
		      name ? name : "(null)", HEADER_VALUE_MAX);
		return OPSBOT_EINVAL;
	}
	for (v = (const unsigned char *)value; *v; v++)
		if ((*v < 0x20 && *v != '\t') || *v == 0x7f) {
			error(hook_log_name(hook),
			      "webhook answer: header '%s' refused: a control "
			      "character in its value",
			      name);
			return OPSBOT_EINVAL;
		}
	if (hr->nheaders >= HEADERS_MAX) {
		error(hook_log_name(hook),
		      "webhook answer: header '%s' refused: %d already", name,
		      HEADERS_MAX);
		return OPSBOT_EBUSY;
	}
	buf_addf(&hr->headers, "%s: %s\r\n", name, value);
	hr->nheaders++;
	return OPSBOT_OK;
}

const char *webhook_header(const struct opsbot_webhook *hook, const char *name)
{
	const struct hook_request *hr = (const struct hook_request *)hook;

	return hr->req && name ? backend->header(hr->req, name) : NULL;
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
