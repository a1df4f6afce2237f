/*
 * http.h - plugin HTTP requests (api->http_start), through the curl
 * module loaded on first use.
 */
#ifndef HTTP_H
#define HTTP_H

#include "opsbot.h"

int64_t http_start(struct opsbot_plugin *p,
		   const struct opsbot_http_request *req, opsbot_http_fn *fn,
		   void *data);
/* The n-th value (from 0) of header name, or NULL. */
const char *http_header(const struct opsbot_http_response *res,
			const char *name, int n);
/* The URL without query or credentials, for log lines. */
void http_url_for_log(const char *url, char *out, size_t size);
size_t http_url_encode(char *dst, size_t size, const char *src);
void http_shutdown(void);

#endif /* HTTP_H */
