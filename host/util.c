/*
 * util.c - allocation, strings, the byte buffer and the clock.
 */
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void out_of_memory(size_t size)
{
	/* Not through log.c: it may need memory itself. */
	fprintf(stderr, "opsbot: out of memory (%zu bytes); aborting\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		out_of_memory(size);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);

	if (!p)
		out_of_memory(count * size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		out_of_memory(size);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;

	buf_vaddf(&b, fmt, ap);
	return buf_detach(&b);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

size_t strlcpy_safe(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int mem_equal_constant_time(const void *a, size_t a_len, const void *b,
			    size_t b_len)
{
	const volatile unsigned char *x = a, *y = b;
	/* volatile: the compiler may not turn the loop into an early exit. */
	volatile unsigned char diff = a_len != b_len;
	size_t i, j = 0;

	/* Walk all of a; b is reread from its start when it is shorter, so
	 * neither its length nor its contents end the loop early. */
	for (i = 0; i < a_len; i++) {
		diff |= x[i] ^ (b_len ? y[j] : 0);
		j = j + 1 < b_len ? j + 1 : 0;
	}
	return diff == 0;
}

int str_edit_distance(const char *a, const char *b, int limit)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[64], prev, best;

	if (lb >= ARRAY_SIZE(row) || la >= 64)
		return limit + 1;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			int cost = tolower((unsigned char)a[i - 1]) !=
				   tolower((unsigned char)b[j - 1]);
			int del = row[j] + 1, ins = row[j - 1] + 1;
			int sub = prev + cost;
			int v = del < ins ? del : ins;

			if (sub < v)
				v = sub;
			prev = row[j];
			row[j] = v;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
	}
	return row[lb] > limit ? limit + 1 : row[lb];
}

char *base64_encode(const void *data, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*p++ = alphabet[in[i] >> 2];
		*p++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*p++ = alphabet[in[i + 2] & 63];
	}
	if (i < len) {
		*p++ = alphabet[in[i] >> 2];
		if (i + 1 < len) {
			*p++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*p++ = alphabet[(in[i + 1] & 15) << 2];
		} else {
			*p++ = alphabet[(in[i] & 3) << 4];
			*p++ = '=';
		}
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (need < 64)
		need = 64;
	if (need < b->cap * 2)
		need = b->cap * 2;
	b->data = xrealloc(b->data, need);
	b->cap = need;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	buf_grow(b, 64);
	va_copy(copy, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, copy);
	va_end(copy);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void buf_consume(struct buf *b, size_t len)
{
	if (len >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + len, b->len - len);
		b->len -= len;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *buf_detach(struct buf *b)
{
	char *s = b->data ? b->data : xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}
