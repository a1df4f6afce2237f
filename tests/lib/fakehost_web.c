/*
 * fakehost_web.c - the fake host's webhook routes and requests (with the
 * body and rate limits), the real token and HMAC-SHA256 checks, and the
 * plugin's key/value state and seen_before() records, in memory and on
 * virtual time.
 */
#include "fakehost_internal.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_MAX_DEFAULT (1024 * 1024)
#define STATE_KEY_MAX 256
#define STATE_VALUE_MAX (1024 * 1024)
/* A request costs one token; tokens are counted in 1/60000 so that a
 * rate per minute refills a whole number of them each millisecond. */
#define TOKEN 60000LL

struct route {
	struct route *next;
	char *method, *path;
	opsbot_webhook_fn *fn;
	void *data;
	size_t max_body;
	int rate;	     /* per minute; 0: unlimited */
	long long tokens;    /* in 1/TOKEN */
	long long capacity;  /* burst * TOKEN */
	int64_t refilled_at; /* virtual time */
};

/* The request a handler sees. */
struct hook {
	struct opsbot_webhook pub;
	const char *const *headers;
	int responded;
};

struct entry {
	struct entry *next; /* in key order */
	char *key;	    /* "<plugin>\x1f<key>" */
	char *value;
	size_t len;
	int64_t expires; /* seen_before records */
};

struct fh_web {
	struct route *routes;
	const struct hook *active;
	char *body, *content_type;
	size_t body_len;
	char retry_after[24];
	char *headers; /* webhook_respond_header(): "Name: value\n" lines */
	int nheaders;
	struct entry *state, *seen;
};

static struct fh_web *web_of(struct fakehost *h)
{
	struct fh_parts *parts = fh_parts(h);

	if (!parts->web)
		parts->web = calloc(1, sizeof(*parts->web));
	return parts->web;
}

/* ------------------------------------------------------------------------ */
/* Routes and requests                                                        */

static int fh_webhook_add(struct opsbot_plugin *self,
			  const struct opsbot_webhook_route *route)
{
	struct fakehost *h = fh_current();
	struct fh_web *w = web_of(h);
	enum fh_phase phase = fh_parts(h)->phase;
	char prefix[64];
	size_t n;
	struct route *r, **pp;
	int burst;

	if (phase != FH_NONE && phase != FH_LOADING)
		return OPSBOT_EINVAL; /* only in init() */
	if (!route || route->size < sizeof(*route) || !route->method ||
	    !route->path || !route->fn || route->rate_per_minute < 0 ||
	    route->burst < 0)
		return OPSBOT_EINVAL;
	n = (size_t)snprintf(prefix, sizeof(prefix), "/hooks/%s",
			     fh_parts(h)->name);
	if (strncmp(route->path, prefix, n) ||
	    (route->path[n] && route->path[n] != '/') ||
	    strpbrk(route->path, "?# \r\n"))
		return OPSBOT_EINVAL;
	for (pp = &w->routes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->path, route->path) &&
		    !strcmp((*pp)->method, route->method))
			return OPSBOT_EEXIST;
	r = calloc(1, sizeof(*r));
	r->method = strdup(route->method);
	r->path = strdup(route->path);
	r->fn = route->fn;
	r->data = route->data;
	r->max_body =
	    route->max_body_bytes ? route->max_body_bytes : BODY_MAX_DEFAULT;
	r->rate = route->rate_per_minute;
	burst = route->burst ? route->burst : r->rate / 6 + 1;
	r->capacity = r->tokens = burst * TOKEN;
	r->refilled_at = fakehost_now(h);
	*pp = r;
	return OPSBOT_OK;
}

/* Takes a token; 0, or the seconds until one is there. */
static long rate_take(struct route *r, int64_t now)
{
	long long missing;

	if (!r->rate)
		return 0;
	r->tokens += (now - r->refilled_at) * r->rate;
	if (r->tokens > r->capacity)
		r->tokens = r->capacity;
	r->refilled_at = now;
	if (r->tokens >= TOKEN) {
		r->tokens -= TOKEN;
		return 0;
	}
	missing = TOKEN - r->tokens; /* refilled at rate per ms */
	return (long)((missing / r->rate + 999) / 1000);
}

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	}
	return "Status";
}

static void set_response(struct fh_web *w, const char *type, const char *body,
			 size_t len)
{
	free(w->body);
	free(w->content_type);
	w->body = malloc(len + 1);
	memcpy(w->body, body, len);
	w->body[len] = '\0';
	w->body_len = len;
	w->content_type = strdup(type);
}

int fakehost_webhook(struct fakehost *h, const char *method, const char *target,
		     const char *const *headers, const char *body)
{
	struct fh_web *w = web_of(h);
	struct route *r, *found = NULL;
	struct hook hook = {{0}, headers, 0};
	char *path = strdup(target), *q = strchr(path, '?');
	int known = 0, code;
	long wait;

	w->retry_after[0] = '\0';
	free(w->headers);
	w->headers = NULL;
	w->nheaders = 0;
	set_response(w, "text/plain", "", 0);
	if (q)
		*q++ = '\0';
	for (r = w->routes; r; r = r->next) {
		if (strcmp(r->path, path))
			continue;
		known = 1;
		if (!strcmp(r->method, method))
			found = r;
	}
	if (!strcmp(path, "/healthz") && !strcmp(method, "GET"))
		code = 200;
	else if (!found)
		code = known ? 405 : 404;
	else if (fh_parts(h)->phase == FH_CLOSING)
		code = 503;
	else if (body && strlen(body) > found->max_body)
		code = 413;
	else if ((wait = rate_take(found, fakehost_now(h))) > 0) {
		code = 429;
		snprintf(w->retry_after, sizeof(w->retry_after), "%ld", wait);
	} else {
		hook.pub.method = method;
		hook.pub.path = path;
		hook.pub.query = q ? q : "";
		hook.pub.body = body ? body : "";
		hook.pub.body_len = strlen(hook.pub.body);
		hook.pub.remote_addr = "127.0.0.1";
		w->active = &hook;
		code = found->fn(fakehost_plugin(h), &hook.pub, found->data);
		w->active = NULL;
		if (code < 100 || code > 599)
			code = 500;
	}
	if (!hook.responded) {
		const char *text =
		    code == 200 && !found ? "ok\n" : reason(code);

		set_response(w, "text/plain", text, strlen(text));
	}
	free(path);
	return code;
}

const char *fakehost_webhook_body(const struct fakehost *h)
{
	const struct fh_web *w = web_of((struct fakehost *)h);

	return w->body ? w->body : "";
}

const char *fakehost_webhook_content_type(const struct fakehost *h)
{
	const struct fh_web *w = web_of((struct fakehost *)h);

	return w->content_type ? w->content_type : "";
}

const char *fakehost_webhook_retry_after(const struct fakehost *h)
{
	const struct fh_web *w = web_of((struct fakehost *)h);

	return w->retry_after[0] ? w->retry_after : NULL;
}

/* Only during the handler of the request being answered. */
static void fh_webhook_respond(const struct opsbot_webhook *pub,
			       const char *content_type, const char *body,
			       size_t body_len)
{
	struct fh_web *w = web_of(fh_current());
	struct hook *hook = (struct hook *)pub;

	if (!pub || !w->active || pub != &w->active->pub || (body_len && !body))
		return;
	hook->responded = 1;
	/* As the host's webhook_respond() does. */
	if (content_type && strstr(content_type, "json"))
		content_type = "application/json";
	else if (content_type && strstr(content_type, "text/html"))
		content_type = "text/html; charset=utf-8";
	else
		content_type = "text/plain; charset=utf-8";
	set_response(w, content_type, body ? body : "", body_len);
}

/* As the host's: a token name it does not own, a value without control
 * characters, 16 at most. */
static int fh_webhook_respond_header(const struct opsbot_webhook *pub,
				     const char *name, const char *value)
{
	static const char *const reserved[] = {
	    "Content-Type", "Content-Length", "Transfer-Encoding",
	    "Connection",   "Keep-Alive",     "Upgrade",
	    "Trailer",	    "Date",	      "Server"};
	struct fh_web *w = web_of(fh_current());
	size_t n, old;

	if (!pub || !w->active || pub != &w->active->pub || !name || !value ||
	    !*name || strlen(name) > 64 || strlen(value) > 4096 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789!#$%&'*+-.^_`|~") != strlen(name))
		return OPSBOT_EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(name, reserved[i]))
			return OPSBOT_EINVAL;
	for (const unsigned char *v = (const unsigned char *)value; *v; v++)
		if ((*v < 0x20 && *v != '\t') || *v == 0x7f)
			return OPSBOT_EINVAL;
	if (w->nheaders >= 16)
		return OPSBOT_EBUSY;
	old = w->headers ? strlen(w->headers) : 0;
	n = strlen(name) + strlen(value) + 3;
	w->headers = realloc(w->headers, old + n + 1);
	snprintf(w->headers + old, n + 1, "%s: %s\n", name, value);
	w->nheaders++;
	return OPSBOT_OK;
}

const char *fakehost_webhook_response_header(const struct fakehost *h,
					     const char *name)
{
	const struct fh_web *w = web_of((struct fakehost *)h);
	static char value[4100];
	size_t n = strlen(name);

	for (const char *p = w->headers; p && *p;) {
		const char *end = strchr(p, '\n');

		if (!strncasecmp(p, name, n) && p[n] == ':') {
			snprintf(value, sizeof(value), "%.*s",
				 (int)(end - p - n - 2), p + n + 2);
			return value;
		}
		p = end + 1;
	}
	return NULL;
}

static const char *fh_webhook_header(const struct opsbot_webhook *pub,
				     const char *name)
{
	const struct hook *hook = (const struct hook *)pub;
	size_t n;

	if (!pub || !name || !hook->headers)
		return NULL;
	n = strlen(name);
	for (const char *const *p = hook->headers; *p; p++)
		if (!strncasecmp(*p, name, n) && (*p)[n] == ':')
			return *p + n + 1 + strspn(*p + n + 1, " \t");
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                               */

/* Equal, in time independent of where they differ and of their lengths. */
static int secure_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

	SHA256(a, alen, da);
	SHA256(b, blen, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0 && alen == blen;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The percent-decoded value of parameter name in query, malloc'd, or
 * NULL. */
static char *query_param(const char *query, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = query; p && *p;) {
		const char *end = p + strcspn(p, "&");

		if ((size_t)(end - p) > n && !strncmp(p, name, n) &&
		    p[n] == '=') {
			char *out = malloc((size_t)(end - p)), *o = out;

			for (p += n + 1; p < end; p++) {
				if (*p == '%' && p + 2 < end &&
				    hex_digit(p[1]) >= 0 &&
				    hex_digit(p[2]) >= 0) {
					*o++ = (char)(hex_digit(p[1]) * 16 +
						      hex_digit(p[2]));
					p += 2;
				} else {
					*o++ = *p == '+' ? ' ' : *p;
				}
			}
			*o = '\0';
			return out;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static int fh_verify_token(const struct opsbot_webhook *hook,
			   const char *header, const char *query,
			   const char *expected)
{
	int ok = 0;

	if (!hook || !expected || !*expected)
		return OPSBOT_EPERM;
	if (header) {
		const char *v = fh_webhook_header(hook, header);

		ok |=
		    v && secure_equal(v, strlen(v), expected, strlen(expected));
	}
	if (query) {
		char *v = query_param(hook->query, query);

		ok |=
		    v && secure_equal(v, strlen(v), expected, strlen(expected));
		free(v);
	}
	return ok ? OPSBOT_OK : OPSBOT_EPERM;
}

static int fh_verify_hmac(const struct opsbot_webhook *hook, const char *header,
			  const char *prefix, const char *secret)
{
	unsigned char mac[EVP_MAX_MD_SIZE], given[SHA256_DIGEST_LENGTH];
	unsigned int mac_len = 0;
	const char *v;
	size_t n = prefix ? strlen(prefix) : 0;

	if (!hook || !header || !secret || !*secret)
		return OPSBOT_EPERM;
	v = fh_webhook_header(hook, header);
	if (!v || strncmp(v, prefix ? prefix : "", n) ||
	    strlen(v + n) != 2 * sizeof(given))
		return OPSBOT_EPERM;
	for (size_t i = 0; i < sizeof(given); i++) {
		int hi = hex_digit(v[n + 2 * i]),
		    lo = hex_digit(v[n + 2 * i + 1]);

		if (hi < 0 || lo < 0)
			return OPSBOT_EPERM;
		given[i] = (unsigned char)(hi * 16 + lo);
	}
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
		  (const unsigned char *)hook->body, hook->body_len, mac,
		  &mac_len) ||
	    mac_len != sizeof(given))
		return OPSBOT_EPERM;
	return CRYPTO_memcmp(mac, given, sizeof(given)) ? OPSBOT_EPERM
							: OPSBOT_OK;
}

/* ------------------------------------------------------------------------ */
/* State and seen_before                                                      */

/* "<plugin>\x1f<key>": each plugin sees its own keys only. */
static char *ns_key(struct fakehost *h, const char *key)
{
	size_t n = strlen(fh_parts(h)->name) + strlen(key) + 2;
	char *k = malloc(n);

	snprintf(k, n, "%s\x1f%s", fh_parts(h)->name, key);
	return k;
}

static int key_valid(const char *key)
{
	return key && *key && strlen(key) <= STATE_KEY_MAX;
}

/* The entry of key in list, or where it would go. */
static struct entry **entry_find(struct entry **list, const char *key)
{
	while (*list && strcmp((*list)->key, key) < 0)
		list = &(*list)->next;
	return list;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e->value);
	free(e);
}

static int fh_state_set(struct opsbot_plugin *self, const char *key,
			const void *value, size_t len)
{
	struct fakehost *h = fh_current();
	struct entry **pp, *e;
	char *k;

	if (!key_valid(key) || (len && !value) || len > STATE_VALUE_MAX)
		return OPSBOT_EINVAL;
	k = ns_key(h, key);
	pp = entry_find(&web_of(h)->state, k);
	if (*pp && !strcmp((*pp)->key, k)) {
		e = *pp;
		free(k);
		free(e->value);
	} else {
		e = calloc(1, sizeof(*e));
		e->key = k;
		e->next = *pp;
		*pp = e;
	}
	e->value = malloc(len + 1);
	if (len)
		memcpy(e->value, value, len);
	e->value[len] = '\0';
	e->len = len;
	return OPSBOT_OK;
}

static int fh_state_get(struct opsbot_plugin *self, const char *key,
			char **value, size_t *len)
{
	struct fakehost *h = fh_current();
	struct entry **pp;
	char *k;

	if (!key_valid(key) || !value)
		return OPSBOT_EINVAL;
	k = ns_key(h, key);
	pp = entry_find(&web_of(h)->state, k);
	if (!*pp || strcmp((*pp)->key, k)) {
		free(k);
		return OPSBOT_ENOENT;
	}
	free(k);
	*value = malloc((*pp)->len + 1);
	memcpy(*value, (*pp)->value, (*pp)->len + 1);
	if (len)
		*len = (*pp)->len;
	return OPSBOT_OK;
}

static int fh_state_delete(struct opsbot_plugin *self, const char *key)
{
	struct fakehost *h = fh_current();
	struct entry **pp, *e;
	char *k;

	if (!key_valid(key))
		return OPSBOT_EINVAL;
	k = ns_key(h, key);
	pp = entry_find(&web_of(h)->state, k);
	if (!*pp || strcmp((*pp)->key, k)) {
		free(k);
		return OPSBOT_ENOENT;
	}
	free(k);
	e = *pp;
	*pp = e->next;
	entry_free(e);
	return OPSBOT_OK;
}

/*
 * Visits copies, so fn may set or delete keys as it goes (it sees the
 * keys as they were when the call began).
 */
static int fh_state_each(struct opsbot_plugin *self, const char *prefix,
			 int (*fn)(const char *key, const void *value,
				   size_t len, void *data),
			 void *data)
{
	struct fakehost *h = fh_current();
	struct entry *copies = NULL, **tail = &copies;
	char *k;
	size_t skip;
	int n = 0, stopped = 0;

	if (!fn)
		return OPSBOT_EINVAL;
	k = ns_key(h, prefix ? prefix : "");
	skip = strlen(fh_parts(h)->name) + 1;
	for (struct entry *e = web_of(h)->state; e; e = e->next) {
		struct entry *c;

		if (strncmp(e->key, k, strlen(k)))
			continue;
		c = calloc(1, sizeof(*c));
		c->key = strdup(e->key);
		c->value = malloc(e->len + 1);
		memcpy(c->value, e->value, e->len + 1);
		c->len = e->len;
		*tail = c;
		tail = &c->next;
	}
	free(k);
	while (copies) {
		struct entry *c = copies;

		copies = c->next;
		if (!stopped) {
			n++;
			stopped = fn(c->key + skip, c->value, c->len, data);
		}
		entry_free(c);
	}
	return n;
}

static int fh_seen_before(struct opsbot_plugin *self, const char *key,
			  long lifetime_ms)
{
	struct fakehost *h = fh_current();
	struct fh_web *w = web_of(h);
	int64_t now = fakehost_now(h);
	struct entry **pp, *e;
	char *k;

	if (!key_valid(key) || lifetime_ms <= 0)
		return OPSBOT_EINVAL;
	/* Records past their lifetime are gone. */
	for (pp = &w->seen; *pp;) {
		e = *pp;
		if (e->expires <= now) {
			*pp = e->next;
			entry_free(e);
		} else {
			pp = &e->next;
		}
	}
	k = ns_key(h, key);
	pp = entry_find(&w->seen, k);
	if (*pp && !strcmp((*pp)->key, k)) {
		free(k);
		return 1;
	}
	e = calloc(1, sizeof(*e));
	e->key = k;
	e->expires = now + lifetime_ms;
	e->next = *pp;
	*pp = e;
	return 0;
}

/* ------------------------------------------------------------------------ */

void fh_web_sweep(struct fakehost *h)
{
	struct fh_web *w = web_of(h);

	while (w->routes) {
		struct route *r = w->routes;

		w->routes = r->next;
		free(r->method);
		free(r->path);
		free(r);
	}
}

static void entries_free(struct entry *e)
{
	while (e) {
		struct entry *next = e->next;

		entry_free(e);
		e = next;
	}
}

void fh_web_free(struct fakehost *h)
{
	struct fh_web *w = fh_parts(h)->web;

	if (!w)
		return;
	fh_web_sweep(h);
	entries_free(w->state);
	entries_free(w->seen);
	free(w->body);
	free(w->content_type);
	free(w->headers);
	free(w);
	fh_parts(h)->web = NULL;
}

void fh_web_install(struct opsbot_api *api)
{
	api->webhook_add = fh_webhook_add;
	api->webhook_respond = fh_webhook_respond;
	api->webhook_header = fh_webhook_header;
	api->webhook_respond_header = fh_webhook_respond_header;
	api->webhook_verify_token = fh_verify_token;
	api->webhook_verify_hmac = fh_verify_hmac;
	api->seen_before = fh_seen_before;
	api->state_set = fh_state_set;
	api->state_get = fh_state_get;
	api->state_delete = fh_state_delete;
	api->state_each = fh_state_each;
}
