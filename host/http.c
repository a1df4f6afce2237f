/*
 * http.c - plugin HTTP requests: validation, ownership, cancellation and
 * the exactly-once callback.  The transfer itself is the curl module's.
 */
#include "http.h"
#include "http_backend.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "plugin.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE (8u * 1024 * 1024)

struct http_op {
	struct op op;
	void *handle; /* the backend's, NULL once done or cancelled */
	opsbot_http_fn *fn;
	void *data;
	char url_log[256];
};

/* The host-private tail of a response: its headers. */
struct response {
	struct opsbot_http_response pub;
	const char *const *headers;
	int header_count;
};

static const struct http_backend *backend;

static void on_backend_done(void *ctx, const struct http_result *r)
{
	struct http_op *h = ctx;
	struct opsbot_plugin *p = h->op.plugin;
	struct response res;

	h->handle = NULL;
	memset(&res, 0, sizeof(res));
	res.pub.status = r->status;
	res.pub.code = r->code;
	res.pub.body = r->body;
	res.pub.body_len = r->body_len;
	res.pub.error = r->error;
	res.pub.request_sent = r->request_sent;
	res.pub.elapsed_ms = r->elapsed_ms;
	res.headers = r->headers;
	res.header_count = r->header_count;
	if (r->status != OPSBOT_OK)
		debug(plugin_log_name(p), "http %s: %s", h->url_log, r->error);
	else
		debug(plugin_log_name(p), "http %s: %ld in %ld ms", h->url_log,
		      r->code, r->elapsed_ms);
	op_finish(&h->op);
	plugin_enter(p);
	h->fn(p, &res.pub, h->data);
	plugin_leave(p);
	free(h);
}

static void deliver_cancel(void *data)
{
	struct http_op *h = data;
	struct opsbot_plugin *p = h->op.plugin;
	struct response res;

	memset(&res, 0, sizeof(res));
	res.pub.status = OPSBOT_ECANCELED;
	res.pub.body = "";
	res.pub.error = "cancelled";
	op_finish(&h->op);
	plugin_enter(p);
	h->fn(p, &res.pub, h->data);
	plugin_leave(p);
	free(h);
}

static void http_cancel(struct op *op)
{
	struct http_op *h = (struct http_op *)op;

	if (h->handle) {
		backend->cancel(h->handle);
		h->handle = NULL;
	}
	loop_defer(deliver_cancel, h);
}

static const struct op_kind http_kind = {"http", http_cancel, NULL};

static int load_backend(struct opsbot_plugin *p)
{
	char err[256], *msg = NULL;
	const struct http_backend *b;

	if (backend)
		return 0;
	b = module_load("http", HTTP_BACKEND_SYMBOL, HTTP_BACKEND_VERSION,
			&msg);
	if (!b) {
		error(plugin_log_name(p), "http: %s", msg);
		free(msg);
		return -1;
	}
	if (b->init(loop_get(), on_backend_done, err, sizeof(err))) {
		error(plugin_log_name(p), "http: %s", err);
		return -1;
	}
	backend = b;
	return 0;
}

void http_url_for_log(const char *url, char *out, size_t size)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	const char *at, *end = url + strcspn(url, "?#");
	size_t prefix;

	/* Drop "user:password@" and everything from '?' on. */
	at = memchr(host, '@', (size_t)(end - host));
	if (at && at < host + strcspn(host, "/")) {
		prefix = (size_t)(host - url);
		snprintf(out, size, "%.*s%.*s", (int)prefix, url,
			 (int)(end - at - 1), at + 1);
	} else {
		snprintf(out, size, "%.*s", (int)(end - url), url);
	}
}

static int header_ok(const char *h)
{
	return h && !strpbrk(h, "\r\n") && strchr(h, ':');
}

int64_t http_start(struct opsbot_plugin *p,
		   const struct opsbot_http_request *req, opsbot_http_fn *fn,
		   void *data)
{
	struct http_spec spec;
	struct http_op *h;
	char err[256];
	int i;

	if (!req || !req->url || !fn)
		return OPSBOT_EINVAL;
	if (strncasecmp(req->url, "http://", 7) &&
	    strncasecmp(req->url, "https://", 8)) {
		warning(plugin_log_name(p), "http: refusing a URL that is not "
					    "http or https");
		return OPSBOT_EINVAL;
	}
	if (strpbrk(req->url, "\r\n \t"))
		return OPSBOT_EINVAL;
	if (req->method && (strpbrk(req->method, "\r\n \t") || !*req->method))
		return OPSBOT_EINVAL;
	for (i = 0; req->headers && req->headers[i]; i++)
		if (!header_ok(req->headers[i])) {
			warning(plugin_log_name(p),
				"http: refusing a header with CR, LF or no "
				"colon");
			return OPSBOT_EINVAL;
		}
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	if (load_backend(p) < 0)
		return OPSBOT_ERR;

	memset(&spec, 0, sizeof(spec));
	spec.method = req->method ? req->method : req->body ? "POST" : "GET";
	spec.url = req->url;
	spec.headers = req->headers;
	spec.body = req->body;
	spec.body_len = req->body_len;
	spec.username = req->username;
	spec.password = req->password;
	spec.timeout_ms =
	    req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
	spec.connect_timeout_ms = req->connect_timeout_ms > 0
				      ? req->connect_timeout_ms
				      : DEFAULT_CONNECT_TIMEOUT_MS;
	spec.max_response_bytes = req->max_response_bytes
				      ? req->max_response_bytes
				      : DEFAULT_MAX_RESPONSE;
	spec.follow_redirects = !!(req->flags & OPSBOT_HTTP_FOLLOW_REDIRECTS);

	h = xcalloc(1, sizeof(*h));
	h->fn = fn;
	h->data = data;
	http_url_for_log(req->url, h->url_log, sizeof(h->url_log));
	h->handle = backend->start(&spec, h, err, sizeof(err));
	if (!h->handle) {
		warning(plugin_log_name(p), "http %s: %s", h->url_log, err);
		free(h);
		return OPSBOT_ERR;
	}
	op_start(&h->op, p, &http_kind);
	debug(plugin_log_name(p), "http %s %s", spec.method, h->url_log);
	return h->op.id;
}

const char *http_header(const struct opsbot_http_response *pub,
			const char *name, int n)
{
	const struct response *res = (const struct response *)pub;
	size_t len;
	int i;

	if (!pub || !name || n < 0)
		return NULL;
	len = strlen(name);
	for (i = 0; i < res->header_count; i++) {
		const char *h = res->headers[i];

		if (!strncasecmp(h, name, len) && h[len] == ':' && n-- == 0) {
			h += len + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

size_t http_url_encode(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~';

		if (plain) {
			if (n + 1 < size)
				dst[n] = (char)c;
			n++;
		} else {
			if (n + 3 < size) {
				dst[n] = '%';
				dst[n + 1] = hex[c >> 4];
				dst[n + 2] = hex[c & 15];
			}
			n += 3;
		}
	}
	if (size)
		dst[n < size ? n : size - 1] = '\0';
	return n;
}

void http_shutdown(void)
{
	if (backend)
		backend->shutdown();
	backend = NULL;
}
