/*
 * module_httpd.c - modules/httpd.so: the webhook listener's HTTP server,
 * libmicrohttpd in external select mode driven by the host's libuv loop.
 * libmicrohttpd's epoll fd is watched by a uv_poll, its timeout by a
 * uv_timer, and MHD_run() does the work; handlers run inside MHD_run().
 *
 * This file owns the server, the connections' bodies as they come in (up
 * to the limit the host set for the route), the answers, and the fair
 * share of the loop HTTP gets: at most [http] requests_per_pass handler
 * calls between two turns of the loop.  A complete request past that
 * budget is suspended (MHD_suspend_connection) into a FIFO, and a uv_check
 * resumes the FIFO's head, a budget's worth, after the loop's I/O phase
 * (the IRC socket's lines) of every turn; a uv_idle keeps the loop from
 * blocking while the FIFO is not empty.  What a route allows and the
 * plugins are webhook.c's.
 */
#include "httpd_backend.h"
#include "util.h" /* struct list: inline only */

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes of a refused body read on before the connection is closed, so a
 * client that sent a little too much still gets its 413. */
#define DISCARD_MAX (64 * 1024)

/* One request, from its request line to its completion. */
struct exchange {
	char *target;
	char remote[INET6_ADDRSTRLEN];
	int started; /* HTTPD_HEAD was handled */
	int too_large;
	char *body;
	size_t body_len, body_cap, body_limit, discarded;
	/* Waiting for its turn: suspended, in the server's FIFO. */
	struct MHD_Connection *conn;
	struct list link; /* in the server's fifo */
	int queued;
	int admitted; /* resumed for its turn: answered without a budget */
};

/* One server; a new one for every start, since its handles close later. */
struct server {
	struct MHD_Daemon *daemon;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_check_t check; /* resumes a budget's worth after the I/O phase */
	uv_idle_t idle;	  /* active while requests wait: no blocking poll */
	int open_handles;
	unsigned per_pass; /* handler calls between two I/O phases */
	unsigned budget;   /* what is left of it until the next check */
	struct list fifo;  /* suspended requests, oldest first */
	size_t waiting;
	int stopping; /* no handler call any more: close what comes */
};

static uv_loop_t *loop;
static httpd_handler_fn *handler;
static void (*log_line)(const char *line);
static struct server *current;
static char last_log[256];

static void on_log(void *cls, const char *fmt, va_list ap)
{
	size_t n;

	(void)cls;
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	n = strlen(last_log);
	while (n && (last_log[n - 1] == '\n' || last_log[n - 1] == '.'))
		last_log[--n] = '\0';
	if (log_line)
		log_line(last_log);
}

/* The request target as sent, before libmicrohttpd splits and decodes it:
 * routes match the path exactly and the checks decode the query. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct exchange *x = calloc(1, sizeof(*x));

	(void)cls;
	(void)conn;
	if (x && !(x->target = strdup(uri))) {
		free(x);
		x = NULL;
	}
	return x;
}

static void fifo_remove(struct server *s, struct exchange *x)
{
	if (!x->queued)
		return;
	list_del(&x->link);
	x->queued = 0;
	s->waiting--;
}

static void fifo_append(struct server *s, struct exchange *x)
{
	list_add_tail(&s->fifo, &x->link);
	x->queued = 1;
	s->waiting++;
}

/* The oldest waiting request, or NULL. */
static struct exchange *fifo_head(struct server *s)
{
	return list_empty(&s->fifo)
		   ? NULL
		   : list_entry(s->fifo.next, struct exchange, link);
}

static void exchange_free(struct exchange *x)
{
	if (!x)
		return;
	/* A suspended connection is not completed; this is a backstop. */
	if (x->queued && current)
		fifo_remove(current, x);
	free(x->target);
	free(x->body);
	free(x);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	exchange_free(*req_cls);
	*req_cls = NULL;
}

static void remote_name(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	snprintf(out, size, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

/* Queues answer (taking its body); MHD_NO closes the connection. */
static enum MHD_Result send_answer(struct MHD_Connection *conn,
				   struct httpd_answer *answer)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (answer->body)
		resp = MHD_create_response_from_buffer(
		    answer->body_len, answer->body, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(answer->body);
		free(answer->headers);
		return MHD_NO;
	}
	answer->body = NULL;
	/* "Name: value\r\n" lines the host checked. */
	for (char *line = answer->headers, *end; line && *line; line = end) {
		char *colon = strstr(line, ": ");

		end = strstr(line, "\r\n");
		if (!end || !colon || colon > end)
			break;
		*colon = '\0';
		*end = '\0';
		end += 2;
		MHD_add_response_header(resp, line, colon + 2);
	}
	free(answer->headers);
	answer->headers = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				answer->content_type ? answer->content_type
						     : "text/plain");
	if (answer->header_name)
		MHD_add_response_header(resp, answer->header_name,
					answer->header_value);
	rc = MHD_queue_response(conn, (unsigned)answer->code, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, int code,
				   const char *text)
{
	struct httpd_answer a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	a.body = strdup(text);
	a.body_len = a.body ? strlen(text) : 0;
	return send_answer(conn, &a);
}

/* Appends data to x's body: 0, or -1 when it would pass the limit. */
static int body_add(struct exchange *x, const char *data, size_t len)
{
	if (len > x->body_limit - x->body_len)
		return -1;
	if (x->body_len + len + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *grown;

		while (cap < x->body_len + len + 1)
			cap *= 2;
		grown = realloc(x->body, cap);
		if (!grown)
			return -1;
		x->body = grown;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return 0;
}

/* The idle handle only keeps the loop's poll from blocking. */
static void on_idle(uv_idle_t *h)
{
	(void)h;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct exchange *x = *req_cls;
	struct server *s = cls;
	struct httpd_request req;
	struct httpd_answer answer;

	(void)url;
	if (!x || !s || s->stopping)
		return MHD_NO; /* out of memory in on_uri(), or stopping */
	memset(&req, 0, sizeof(req));
	memset(&answer, 0, sizeof(answer));
	req.method = method;
	req.target = x->target;
	req.version = version;
	req.remote_addr = x->remote;
	req.conn = conn;
	if (!x->started) {
		size_t limit = 0;

		x->started = 1;
		remote_name(conn, x->remote, sizeof(x->remote));
		if (handler(HTTPD_HEAD, &req, &limit, &answer))
			return send_answer(conn, &answer);
		x->body_limit = limit;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (!x->too_large && body_add(x, upload_data, n) == 0)
			return MHD_YES;
		x->too_large = 1;
		free(x->body);
		x->body = NULL;
		x->body_len = x->body_cap = 0;
		x->discarded += n;
		/* An endless body is not read to its end. */
		return x->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (x->too_large)
		return answer_text(conn, 413, "Payload Too Large");
	/* The whole request is in: its handler runs now if it is its turn
	 * (resumed from the FIFO, or nothing waits and the pass has budget
	 * left), else it waits, suspended, behind the others. */
	if (x->admitted)
		x->admitted = 0;
	else if (!s->waiting && s->budget > 0)
		s->budget--;
	else {
		x->conn = conn;
		fifo_append(s, x);
		MHD_suspend_connection(conn);
		uv_idle_start(&s->idle, on_idle);
		return MHD_YES;
	}
	req.body = x->body ? x->body : "";
	req.body_len = x->body_len;
	handler(HTTPD_BODY, &req, NULL, &answer);
	return send_answer(conn, &answer);
}

static void server_run(struct server *s);

/*
 * After the loop's I/O phase: a new budget, spent first on the oldest
 * waiting requests, which are resumed and answered in this pass.
 */
static void on_check(uv_check_t *h)
{
	struct server *s = h->data;
	struct exchange *x;
	unsigned n = 0;

	s->budget = s->per_pass;
	if (!s->waiting)
		return;
	while (n < s->per_pass && (x = fifo_head(s))) {
		fifo_remove(s, x);
		x->admitted = 1;
		MHD_resume_connection(x->conn);
		n++;
	}
	s->budget -= n;
	if (!s->waiting)
		uv_idle_stop(&s->idle);
	server_run(s);
}

static void server_closed(uv_handle_t *h)
{
	struct server *s = h->data;

	if (--s->open_handles == 0)
		free(s);
}

static void on_timer(uv_timer_t *t)
{
	server_run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	server_run(p->data);
}

/* One pass of libmicrohttpd, then its next deadline on the timer. */
static void server_run(struct server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(s->daemon);
	uv_timer_stop(&s->timer);
	if (MHD_get_timeout(s->daemon, &ms) == MHD_YES) {
		/* Counted from now, not from the loop's cached time. */
		uv_update_time(loop);
		uv_timer_start(&s->timer, on_timer, ms, 0);
	}
}

static void backend_init(uv_loop_t *l, httpd_handler_fn *fn,
			 void (*log)(const char *line))
{
	loop = l;
	handler = fn;
	log_line = log;
}

static void backend_stop(void)
{
	struct server *s = current;
	struct exchange *x;

	if (!s)
		return;
	uv_poll_stop(&s->poll);
	uv_timer_stop(&s->timer);
	uv_check_stop(&s->check);
	uv_idle_stop(&s->idle);
	/* libmicrohttpd must not be stopped with a connection suspended
	 * (MHD_PANIC): the waiting ones are resumed, and one pass with no
	 * handler call (stopping) closes them, completed. */
	s->stopping = 1;
	while ((x = fifo_head(s))) {
		fifo_remove(s, x);
		MHD_resume_connection(x->conn);
	}
	MHD_run(s->daemon);
	current = NULL;
	/* Completes every connection (on_completed frees its exchange) and
	 * closes the epoll fd, which the poll no longer watches. */
	MHD_stop_daemon(s->daemon);
	uv_close((uv_handle_t *)&s->poll, server_closed);
	uv_close((uv_handle_t *)&s->timer, server_closed);
	uv_close((uv_handle_t *)&s->check, server_closed);
	uv_close((uv_handle_t *)&s->idle, server_closed);
}

static int backend_start(const struct httpd_settings *set, int *port, char *err,
			 size_t err_size)
{
	unsigned flags =
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	const union MHD_DaemonInfo *info;
	struct server *s;
	int fd;

	backend_stop();
	if (set->addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	s->per_pass = set->requests_per_pass ? set->requests_per_pass : 1;
	s->budget = s->per_pass;
	list_init(&s->fifo);
	last_log[0] = '\0';
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	    on_log, NULL, MHD_OPTION_SOCK_ADDR, set->addr,
	    MHD_OPTION_CONNECTION_TIMEOUT, set->timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, set->connections_max,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, set->connections_per_ip,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    /* In 0.9.75, -1 is what answers 400 to a space before a
	     * header's colon (RFC 9112 5.1; 1 does not, and also
	     * requires Host, which the old listener did not). */
	    MHD_OPTION_STRICT_FOR_CLIENT, -1, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, err_size, "%s",
			 last_log[0] ? last_log
				     : "libmicrohttpd did not start");
		free(s);
		return -1;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	fd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	if (fd < 0 || uv_poll_init(loop, &s->poll, fd)) {
		snprintf(err, err_size,
			 "cannot watch libmicrohttpd's epoll fd");
		MHD_stop_daemon(s->daemon);
		free(s);
		return -1;
	}
	uv_timer_init(loop, &s->timer);
	uv_check_init(loop, &s->check);
	uv_idle_init(loop, &s->idle);
	s->poll.data = s->timer.data = s->check.data = s->idle.data = s;
	s->open_handles = 4;
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	uv_check_start(&s->check, on_check);
	current = s;
	server_run(s);
	return 0;
}

static const char *backend_header(const struct httpd_request *req,
				  const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct header_count {
	const char *name;
	int count;
};

static enum MHD_Result count_one(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct header_count *c = cls;

	(void)kind;
	(void)value;
	if (key && !strcasecmp(key, c->name))
		c->count++;
	return MHD_YES;
}

static size_t backend_waiting(void)
{
	return current ? current->waiting : 0;
}

static int backend_header_count(const struct httpd_request *req,
				const char *name)
{
	struct header_count c = {name, 0};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_one, &c);
	return c.count;
}

__attribute__((visibility("default")))
const struct httpd_backend opsbot_httpd_backend = {
    HTTPD_BACKEND_VERSION, backend_init,	 backend_start,	  backend_stop,
    backend_header,	   backend_header_count, backend_waiting,
};
