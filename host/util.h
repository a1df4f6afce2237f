/*
 * util.h - small things every host file uses: allocation that never
 * returns NULL, a doubly linked list, a growable byte buffer, and string
 * helpers that cannot overflow.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED(x) ((void)(x))

/* Allocation: on failure these log and abort; a bot out of memory cannot
 * keep its promises anyway, and checking every call hides real errors. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Frees a string that may hold a secret, wiping it first. */
void free_secret(char *s);

/* Copies src into dst (size bytes), always NUL-terminated; returns the
 * length of src (truncation happened if >= size). */
size_t strlcpy_safe(char *dst, const char *src, size_t size);

/* ASCII case-insensitive comparisons. */
int str_ieq(const char *a, const char *b);
int str_has_prefix(const char *s, const char *prefix);

/*
 * Do a (a_len bytes, from outside: a token, a signature) and b (b_len,
 * the secret) hold the same bytes?  1 or 0, in a time that depends on
 * a_len only, never on where they differ (CRYPTO_memcmp's rule, with the
 * lengths compared too).
 */
int mem_equal_constant_time(const void *a, size_t a_len, const void *b,
			    size_t b_len);

/* Levenshtein distance, capped at limit + 1 (for "did you mean"). */
int str_edit_distance(const char *a, const char *b, int limit);

/* Standard base64 with padding; malloc'd, NUL-terminated. */
char *base64_encode(const void *data, size_t len);

/* Milliseconds on the monotonic clock. */
int64_t time_now_ms(void);

/* ---- intrusive doubly linked list (the Linux kernel's, minimal) ---- */
struct list {
	struct list *prev, *next;
};

#define LIST_INIT(name)                                                        \
	{                                                                      \
		&(name), &(name)                                               \
	}
#define list_entry(ptr, type, member)                                          \
	((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static inline int list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_add_tail(struct list *l, struct list *item)
{
	item->prev = l->prev;
	item->next = l;
	l->prev->next = item;
	l->prev = item;
}

static inline void list_del(struct list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	item->prev = item;
	item->next = item;
}

#define list_for_each_safe(pos, tmp, head)                                     \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);       \
	     (pos) = (tmp), (tmp) = (pos)->next)

/* ---- growable byte buffer, always NUL-terminated ---- */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void buf_consume(struct buf *b, size_t len); /* drop len bytes at front */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the data over (NUL-terminated, never NULL) and empties b. */
char *buf_detach(struct buf *b);

#endif /* UTIL_H */
