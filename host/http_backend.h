/*
 * http_backend.h - the contract between the host's HTTP bookkeeping
 * (http.c) and modules/http.so (module_http.c), which holds libcurl.
 *
 * libcurl with OpenSSL maps some 35 shared libraries; linking it into the
 * host would cost about 5 MB of resident memory in every bot, used or not.
 * So the host loads the module on the first HTTP request.
 */
#ifndef HTTP_BACKEND_H
#define HTTP_BACKEND_H

#include <stddef.h>
#include <uv.h>

#define HTTP_BACKEND_VERSION 1
#define HTTP_BACKEND_SYMBOL "opsbot_http_backend"

struct http_spec {
	const char *method;
	const char *url;
	const char *const *headers;
	const char *body;
	size_t body_len;
	const char *username;
	const char *password;
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_response_bytes;
	int follow_redirects;
};

struct http_result {
	int status; /* OPSBOT_OK, OPSBOT_ERR, OPSBOT_ETIMEDOUT */
	long code;
	const char *body; /* NUL-terminated */
	size_t body_len;
	const char *error; /* NULL when status is OPSBOT_OK */
	int request_sent;
	long elapsed_ms;
	const char *const *headers; /* "Name: value", final response only */
	int header_count;
};

/* Called from the loop, outside any libcurl call, once per request that
 * was not cancelled. */
typedef void http_backend_done_fn(void *ctx, const struct http_result *res);

struct http_backend {
	unsigned version;
	int (*init)(uv_loop_t *loop, http_backend_done_fn *done, char *err,
		    size_t err_size);
	/* Returns a handle, or NULL with err filled. */
	void *(*start)(const struct http_spec *spec, void *ctx, char *err,
		       size_t err_size);
	/* Stops a request at once; its done callback will not run. */
	void (*cancel)(void *handle);
	/* Ends everything (no callbacks) and closes the loop handles. */
	void (*shutdown)(void);
};

#endif /* HTTP_BACKEND_H */
