/*
 * module_http.c - modules/http.so: HTTP requests with libcurl's multi
 * interface driven by the host's libuv loop (curl_multi_socket_action, as
 * in curl's docs/examples/multi-uv.c).
 *
 * Completions are collected after curl_multi_socket_action() returns and
 * reported from there, so the host's callback may start or cancel other
 * requests freely.
 *
 * Redirects (OPSBOT_HTTP_FOLLOW_REDIRECTS) are followed here, not by
 * libcurl: its CURLOPT_FOLLOWLOCATION sends the plugin's headers (an
 * X-Api-Key) to any host a server names, dropping only Authorization.  A
 * redirect is re-issued only to the same scheme, host and port, at most
 * MAX_REDIRECTS times; any other ends the request with an error.
 */
#include "http_backend.h"
#include "opsbot.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REDIRECTS 5

struct socket_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
};

struct transfer {
	CURL *easy;
	void *ctx;
	struct curl_slist *headers;
	char *body; /* response body */
	size_t body_len, body_cap, max_body;
	int too_large;
	char **resp_headers;
	int resp_header_count;
	char errbuf[CURL_ERROR_SIZE];
	char *post; /* request body copy */
	int follow_redirects;
	int redirects;	       /* followed so far */
	int sent;	       /* a request went out, on any hop */
	char *method;	       /* as given, for a 303 (or 301/302 of a POST) */
	long timeout_ms;       /* for the whole chain of requests */
	uint64_t start_ms;     /* loop time of the first request */
	curl_off_t earlier_us; /* time of the hops before this one */
};

static uv_loop_t *loop;
static CURLM *multi;
static uv_timer_t curl_timer;
static http_backend_done_fn *done_cb;
static int initialized;

static void check_done(void);

static void on_poll_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
	struct socket_ctx *sc = handle->data;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (!status && (events & UV_READABLE))
		flags |= CURL_CSELECT_IN;
	if (!status && (events & UV_WRITABLE))
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, sc->fd, flags, &running);
	check_done();
}

static void on_curl_timer(uv_timer_t *timer)
{
	int running;

	(void)timer;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	if (timeout_ms < 0)
		uv_timer_stop(&curl_timer);
	else
		/* 0 means "now": run from the loop, not from inside curl. */
		uv_timer_start(&curl_timer, on_curl_timer,
			       (uint64_t)(timeout_ms ? timeout_ms : 1), 0);
	return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp,
		     void *socketp)
{
	struct socket_ctx *sc = socketp;
	int events = 0;

	(void)easy;
	(void)userp;
	if (action == CURL_POLL_REMOVE) {
		if (sc) {
			uv_poll_stop(&sc->poll);
			uv_close((uv_handle_t *)&sc->poll, on_poll_closed);
			curl_multi_assign(multi, fd, NULL);
		}
		return 0;
	}
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc)
			return -1;
		sc->fd = fd;
		if (uv_poll_init_socket(loop, &sc->poll, fd)) {
			free(sc);
			return -1;
		}
		sc->poll.data = sc;
		curl_multi_assign(multi, fd, sc);
	}
	if (action != CURL_POLL_OUT)
		events |= UV_READABLE;
	if (action != CURL_POLL_IN)
		events |= UV_WRITABLE;
	uv_poll_start(&sc->poll, events, on_poll);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * nmemb;

	if (t->body_len + len > t->max_body) {
		t->too_large = 1;
		return 0; /* aborts the transfer */
	}
	if (t->body_len + len + 1 > t->body_cap) {
		size_t cap = t->body_cap ? t->body_cap * 2 : 4096;
		char *p;

		while (cap < t->body_len + len + 1)
			cap *= 2;
		p = realloc(t->body, cap);
		if (!p)
			return 0;
		t->body = p;
		t->body_cap = cap;
	}
	memcpy(t->body + t->body_len, data, len);
	t->body_len += len;
	t->body[t->body_len] = '\0';
	return len;
}

static void free_resp_headers(struct transfer *t)
{
	int i;

	for (i = 0; i < t->resp_header_count; i++)
		free(t->resp_headers[i]);
	free(t->resp_headers);
	t->resp_headers = NULL;
	t->resp_header_count = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * nmemb, n = len;
	char **grown, *line;

	/* A new status line starts a new response (redirects, 100). */
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		free_resp_headers(t);
		return len;
	}
	while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (!n || t->resp_header_count >= 200)
		return len;
	grown = realloc(t->resp_headers,
			(size_t)(t->resp_header_count + 1) * sizeof(char *));
	if (!grown)
		return 0;
	t->resp_headers = grown;
	line = malloc(n + 1);
	if (!line)
		return 0;
	memcpy(line, data, n);
	line[n] = '\0';
	t->resp_headers[t->resp_header_count++] = line;
	return len;
}

static void transfer_free(struct transfer *t)
{
	curl_slist_free_all(t->headers);
	free(t->method);
	free(t->body);
	if (t->post) {
		memset(t->post, 0, strlen(t->post));
		free(t->post);
	}
	free_resp_headers(t);
	free(t);
}

/* scheme://host:port of url (default port filled in), or NULL. */
static char *url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
	size_t len;

	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
	    !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
	    !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		len = strlen(scheme) + strlen(host) + strlen(port) + 5;
		out = malloc(len);
		if (out) {
			size_t i;

			snprintf(out, len, "%s://%s:%s", scheme, host, port);
			/* Scheme and host names are case-insensitive. */
			for (i = 0; out[i]; i++)
				if (out[i] >= 'A' && out[i] <= 'Z')
					out[i] = (char)(out[i] - 'A' + 'a');
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

/* The method of the next hop: a 303 (but for HEAD), and a 301 or 302 of
 * a POST, become a GET without a body, as browsers and libcurl do. */
static void set_redirect_method(struct transfer *t, long code)
{
	int is_head = t->method && !strcmp(t->method, "HEAD");
	int is_post = !t->method || !strcmp(t->method, "POST");

	if ((code == 303 && !is_head) ||
	    ((code == 301 || code == 302) && is_post && t->post)) {
		curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
	}
}

/*
 * A finished hop that redirects: re-issues the request to the same
 * origin and returns 1, or returns 0 (the answer is final) with t->errbuf
 * set if the redirect was refused.
 */
static int follow_redirect(struct transfer *t, long code)
{
	char *location = NULL, *here = NULL, *from, *to;
	curl_off_t hop_us = 0;
	long left;

	if (!t->follow_redirects || (code != 301 && code != 302 &&
				     code != 303 && code != 307 && code != 308))
		return 0;
	curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &location);
	curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &here);
	if (!location || !here)
		return 0;
	from = url_origin(here);
	to = url_origin(location);
	if (!from || !to || strcmp(from, to)) {
		snprintf(t->errbuf, sizeof(t->errbuf),
			 "redirect to another origin (%s) refused: only the "
			 "same scheme, host and port are followed",
			 to ? to : "unreadable location");
		free(from);
		free(to);
		return 0;
	}
	free(from);
	free(to);
	if (t->redirects >= MAX_REDIRECTS) {
		snprintf(t->errbuf, sizeof(t->errbuf), "more than %d redirects",
			 MAX_REDIRECTS);
		return 0;
	}
	left = t->timeout_ms - (long)(uv_now(loop) - t->start_ms);
	if (left <= 0)
		return 0; /* the 3xx is the answer; time is up */
	curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &hop_us);
	t->earlier_us += hop_us;
	t->redirects++;
	curl_multi_remove_handle(multi, t->easy);
	/* curl copies the URL; location is the easy handle's until then. */
	curl_easy_setopt(t->easy, CURLOPT_URL, location);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, left);
	set_redirect_method(t, code);
	t->body_len = 0;
	if (t->body)
		t->body[0] = '\0';
	free_resp_headers(t);
	t->errbuf[0] = '\0';
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK) {
		snprintf(t->errbuf, sizeof(t->errbuf),
			 "cannot queue the redirected request");
		return 0;
	}
	return 1;
}

static void finish(struct transfer *t, CURLcode rc)
{
	struct http_result res;
	curl_off_t total_us = 0;
	long request_size = 0;

	memset(&res, 0, sizeof(res));
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.code);
	curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
	t->sent |= request_size > 0;
	if (rc == CURLE_OK) {
		t->errbuf[0] = '\0'; /* where a refused redirect says why */
		if (follow_redirect(t, res.code))
			return;
	}
	curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	res.request_sent = t->sent;
	res.elapsed_ms = (long)((t->earlier_us + total_us) / 1000);
	res.body = t->body ? t->body : "";
	res.body_len = t->body_len;
	res.headers = (const char *const *)t->resp_headers;
	res.header_count = t->resp_header_count;
	if (rc == CURLE_OK && t->errbuf[0]) {
		res.status = OPSBOT_ERR; /* a refused redirect */
		res.error = t->errbuf;
	} else if (rc == CURLE_OK) {
		res.status = OPSBOT_OK;
	} else if (t->too_large) {
		res.status = OPSBOT_ERR;
		snprintf(t->errbuf, sizeof(t->errbuf),
			 "response larger than %zu bytes", t->max_body);
		res.error = t->errbuf;
	} else {
		res.status = rc == CURLE_OPERATION_TIMEDOUT ? OPSBOT_ETIMEDOUT
							    : OPSBOT_ERR;
		if (!t->errbuf[0])
			snprintf(t->errbuf, sizeof(t->errbuf), "%s",
				 curl_easy_strerror(rc));
		res.error = t->errbuf;
	}
	curl_multi_remove_handle(multi, t->easy);
	done_cb(t->ctx, &res);
	curl_easy_cleanup(t->easy);
	transfer_free(t);
}

static void check_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left))) {
		struct transfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
		finish(t, msg->data.result);
	}
}

static int backend_init(uv_loop_t *l, http_backend_done_fn *done, char *err,
			size_t err_size)
{
	if (initialized)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, err_size, "curl_global_init failed");
		return -1;
	}
	multi = curl_multi_init();
	if (!multi) {
		snprintf(err, err_size, "curl_multi_init failed");
		return -1;
	}
	loop = l;
	done_cb = done;
	uv_timer_init(loop, &curl_timer);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	initialized = 1;
	return 0;
}

static void *backend_start(const struct http_spec *spec, void *ctx, char *err,
			   size_t err_size)
{
	struct transfer *t = calloc(1, sizeof(*t));
	CURL *easy;
	int i;

	if (!t || !(easy = curl_easy_init())) {
		free(t);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	t->easy = easy;
	t->ctx = ctx;
	t->max_body = spec->max_response_bytes;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(easy, CURLOPT_URL, spec->url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, spec->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
			 spec->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "opsbot");
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	/* Never libcurl's following: see follow_redirect(). */
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	t->follow_redirects = spec->follow_redirects;
	t->timeout_ms = spec->timeout_ms;
	t->start_ms = uv_now(loop);
	if (spec->method) {
		t->method = strdup(spec->method);
		if (!t->method)
			goto nomem;
	}
	for (i = 0; spec->headers && spec->headers[i]; i++) {
		struct curl_slist *l =
		    curl_slist_append(t->headers, spec->headers[i]);

		if (!l)
			goto nomem;
		t->headers = l;
	}
	/* curl would add "Expect: 100-continue" to larger bodies and wait
	 * a second for an answer; APIs answer directly. */
	if (spec->body) {
		struct curl_slist *l = curl_slist_append(t->headers, "Expect:");

		if (!l)
			goto nomem;
		t->headers = l;
	}
	if (t->headers)
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
	if (spec->body) {
		t->post = malloc(spec->body_len + 1);
		if (!t->post)
			goto nomem;
		memcpy(t->post, spec->body, spec->body_len);
		t->post[spec->body_len] = '\0';
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->post);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)spec->body_len);
	}
	if (spec->method && strcmp(spec->method, "GET") &&
	    !(spec->body && !strcmp(spec->method, "POST"))) {
		if (!strcmp(spec->method, "HEAD"))
			curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
		else
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
					 spec->method);
	} else if (spec->method && !strcmp(spec->method, "POST") &&
		   !spec->body) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
	}
	/* A POST or PATCH on a reused connection that dies before the answer
	 * is sent again by libcurl on a fresh one: the server may then act
	 * twice (a second card, a second e-mail, a second build).  Such
	 * requests get a connection of their own. */
	if (spec->method &&
	    (!strcmp(spec->method, "POST") || !strcmp(spec->method, "PATCH"))) {
		curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
	}
	if (spec->username) {
		curl_easy_setopt(easy, CURLOPT_USERNAME, spec->username);
		curl_easy_setopt(easy, CURLOPT_PASSWORD,
				 spec->password ? spec->password : "");
	}
	if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
		snprintf(err, err_size, "cannot queue the request");
		goto fail;
	}
	return t;
nomem:
	snprintf(err, err_size, "out of memory");
fail:
	curl_easy_cleanup(easy);
	transfer_free(t);
	return NULL;
}

static void backend_cancel(void *handle)
{
	struct transfer *t = handle;

	curl_multi_remove_handle(multi, t->easy);
	curl_easy_cleanup(t->easy);
	transfer_free(t);
}

static void backend_shutdown(void)
{
	if (!initialized)
		return;
	uv_timer_stop(&curl_timer);
	uv_close((uv_handle_t *)&curl_timer, NULL);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	initialized = 0;
}

__attribute__((visibility("default")))
const struct http_backend opsbot_http_backend = {
    .version = HTTP_BACKEND_VERSION,
    .init = backend_init,
    .start = backend_start,
    .cancel = backend_cancel,
    .shutdown = backend_shutdown,
};
