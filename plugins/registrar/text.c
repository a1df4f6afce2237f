/*
 * text.c - pure text helpers of the registrar: growing buffers, {Column}
 * templates, e-mail normalisation, percent and base64url encodings, error
 * bodies, Retry-After and backoff.  No I/O, no host calls: unit-tested
 * directly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "registrar.h"

/* ------------------------------------------------------------------------ */
/* Allocation: failure aborts, as a bot that cannot allocate 100 bytes can
   do nothing useful anyway. */

static void *reg_nomem(void)
{
	fputs("registrar: out of memory\n", stderr);
	abort();
}

void *reg_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : reg_nomem();
}

void *reg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	return p ? p : reg_nomem();
}

void *reg_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : reg_nomem();
}

char *reg_xstrdup(const char *s)
{
	return reg_xstrndup(s, strlen(s));
}

char *reg_xstrndup(const char *s, size_t n)
{
	char *p = reg_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *reg_xasprintf(const char *fmt, ...)
{
	struct reg_buf b = REG_BUF_INIT;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return reg_xstrdup("");
	b.buf = reg_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.buf;
}

/* ------------------------------------------------------------------------ */
/* Buffers */

static void reg_buf_grow(struct reg_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->alloc)
		return;
	b->alloc = b->alloc ? b->alloc : 64;
	while (b->alloc < need)
		b->alloc *= 2;
	b->buf = reg_xrealloc(b->buf, b->alloc);
}

void reg_buf_add(struct reg_buf *b, const char *s, size_t n)
{
	reg_buf_grow(b, n);
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void reg_buf_adds(struct reg_buf *b, const char *s)
{
	reg_buf_add(b, s, strlen(s));
}

void reg_buf_addf(struct reg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	reg_buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void reg_buf_reset(struct reg_buf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

void reg_buf_release(struct reg_buf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->alloc = 0;
}

const char *reg_buf_str(const struct reg_buf *b)
{
	return b->buf ? b->buf : "";
}

char *reg_buf_detach(struct reg_buf *b)
{
	char *s = b->buf ? b->buf : reg_xstrdup("");

	b->buf = NULL;
	b->len = b->alloc = 0;
	return s;
}

/* ------------------------------------------------------------------------ */
/* Records and headers */

void reg_record_free(struct reg_record *rec)
{
	for (int i = 0; i < rec->ncols; i++) {
		free(rec->headers[i]);
		free(rec->values[i]);
	}
	free(rec->headers);
	free(rec->values);
	rec->headers = rec->values = NULL;
	rec->ncols = 0;
}

char *reg_record_to_json(const struct reg_record *rec)
{
	json_t *arr = json_array();
	char *out;

	for (int i = 0; i < rec->ncols; i++)
		json_array_append_new(
		    arr, json_pack("[ss]", rec->headers[i], rec->values[i]));
	out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!out)
		return reg_xstrdup("[]");
	/* jansson allocates with malloc by default; hand out our own copy
	   so callers free() consistently. */
	char *copy = reg_xstrdup(out);
	free(out);
	return copy;
}

int reg_record_from_json(const char *json, struct reg_record *rec)
{
	json_t *arr = json_loads(json, 0, NULL);
	size_t n;

	rec->ncols = 0;
	rec->headers = rec->values = NULL;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return -1;
	}
	n = json_array_size(arr);
	rec->headers = reg_xcalloc(n, sizeof(char *));
	rec->values = reg_xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *pair = json_array_get(arr, i);
		const char *h = json_string_value(json_array_get(pair, 0));
		const char *v = json_string_value(json_array_get(pair, 1));

		rec->headers[rec->ncols] = reg_xstrdup(h ? h : "");
		rec->values[rec->ncols] = reg_xstrdup(v ? v : "");
		rec->ncols++;
	}
	json_decref(arr);
	return 0;
}

static int reg_trimmed_equal(const char *a, const char *b)
{
	size_t la, lb;

	while (isspace((unsigned char)*a))
		a++;
	while (isspace((unsigned char)*b))
		b++;
	la = strlen(a);
	lb = strlen(b);
	while (la && isspace((unsigned char)a[la - 1]))
		la--;
	while (lb && isspace((unsigned char)b[lb - 1]))
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

int reg_header_find(char *const *headers, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (headers[i] && strcmp(headers[i], name) == 0)
			return i;
	for (int i = 0; i < n; i++)
		if (headers[i] && reg_trimmed_equal(headers[i], name))
			return i;
	return -1;
}

const char *reg_record_get(const struct reg_record *rec, const char *header)
{
	int i = reg_header_find(rec->headers, rec->ncols, header);

	return i < 0 ? NULL : rec->values[i];
}

/* ------------------------------------------------------------------------ */
/* Templates */

static void reg_html_escape(struct reg_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			reg_buf_adds(out, "&amp;");
			break;
		case '<':
			reg_buf_adds(out, "&lt;");
			break;
		case '>':
			reg_buf_adds(out, "&gt;");
			break;
		case '"':
			reg_buf_adds(out, "&quot;");
			break;
		case '\'':
			reg_buf_adds(out, "&#39;");
			break;
		default:
			reg_buf_add(out, s, 1);
		}
	}
}

int reg_template_render(const char *tpl, const struct reg_record *rec, int html,
			struct reg_buf *out, struct reg_buf *err)
{
	const char *p = tpl;

	while (*p) {
		const char *end;
		char *name;
		const char *value;

		if (p[0] == '{' && p[1] == '{') {
			reg_buf_adds(out, "{");
			p += 2;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			reg_buf_adds(out, "}");
			p += 2;
			continue;
		}
		if (*p != '{') {
			size_t n = strcspn(p, "{}");

			if (n == 0) /* a lone '}' */
				n = 1;
			reg_buf_add(out, p, n);
			p += n;
			continue;
		}
		end = strchr(p + 1, '}');
		if (!end || memchr(p + 1, '\n', (size_t)(end - p - 1)) ||
		    memchr(p + 1, '{', (size_t)(end - p - 1))) {
			reg_buf_addf(err, "unclosed \"{\" near \"%.20s\"", p);
			return -1;
		}
		name = reg_xstrndup(p + 1, (size_t)(end - p - 1));
		value = reg_record_get(rec, name);
		if (!value) {
			reg_buf_addf(err,
				     "no column \"%s\" in the sheet; fix the "
				     "template or the header row",
				     name);
			free(name);
			return -1;
		}
		free(name);
		if (html)
			reg_html_escape(out, value);
		else
			reg_buf_adds(out, value);
		p = end + 1;
	}
	return 0;
}

int reg_template_check(const char *tpl, struct reg_buf *err)
{
	for (const char *p = tpl; *p; p++) {
		const char *end;

		if ((p[0] == '{' && p[1] == '{') ||
		    (p[0] == '}' && p[1] == '}')) {
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		end = strchr(p + 1, '}');
		if (!end || memchr(p + 1, '\n', (size_t)(end - p - 1)) ||
		    memchr(p + 1, '{', (size_t)(end - p - 1))) {
			reg_buf_addf(err, "unclosed \"{\" near \"%.20s\"", p);
			return -1;
		}
		if (end == p + 1) {
			reg_buf_adds(err, "\"{}\" names no column (write {{}} "
					  "for braces)");
			return -1;
		}
		p = end;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Folding names for lookups */

/* U+00C0..U+00FF: the letters without accents, lower case; NULL: not a
   letter (multiplication and division signs). */
static const char *const reg_latin1_fold[64] = {
    "a", "a", "a", "a",	 "a",  "a",  "ae", "c", "e", "e", "e",	"e", "i",
    "i", "i", "i", "d",	 "n",  "o",  "o",  "o", "o", "o", NULL, "o", "u",
    "u", "u", "u", "y",	 "th", "ss", "a",  "a", "a", "a", "a",	"a", "ae",
    "c", "e", "e", "e",	 "e",  "i",  "i",  "i", "i", "d", "n",	"o", "o",
    "o", "o", "o", NULL, "o",  "u",  "u",  "u", "u", "y", "th", "y"};

/* U+0100..U+017F (Latin Extended-A); '1' is "ij", '2' is "oe". */
static const char reg_latin_ext_fold[] = "aaaaaaccccccccdd"
					 "ddeeeeeeeeeegggg"
					 "gggghhhhiiiiiiii"
					 "ii11jjkkklllllll"
					 "lllnnnnnnnnnoooo"
					 "oo22rrrrrrssssss"
					 "ssttttttuuuuuuuu"
					 "uuuuwwyyyzzzzzzs";
_Static_assert(sizeof(reg_latin_ext_fold) == 0x80 + 1,
	       "one letter per code point from U+0100 to U+017F");

/* Decodes one UTF-8 sequence; returns its length, or 0 if invalid. */
static int reg_utf8_decode(const unsigned char *p, uint32_t *cp)
{
	int n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		*cp = p[0] & 0x1F;
		n = 2;
	} else if ((p[0] & 0xF0) == 0xE0) {
		*cp = p[0] & 0x0F;
		n = 3;
	} else if ((p[0] & 0xF8) == 0xF0) {
		*cp = p[0] & 0x07;
		n = 4;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) ||
	    (n == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) ||
	    (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return n;
}

static void reg_utf8_encode(struct reg_buf *b, uint32_t cp)
{
	char out[4];

	if (cp < 0x80) {
		out[0] = (char)cp;
		reg_buf_add(b, out, 1);
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		reg_buf_add(b, out, 2);
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		reg_buf_add(b, out, 3);
	} else {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		reg_buf_add(b, out, 4);
	}
}

int reg_utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		int len;

		/* a sequence cut by the end of the buffer is invalid too */
		if (p[i] >= 0x80 && i + 4 > n) {
			unsigned char tmp[4] = {0, 0, 0, 0};

			memcpy(tmp, p + i, n - i);
			len = reg_utf8_decode(tmp, &cp);
		} else {
			len = reg_utf8_decode(p + i, &cp);
		}
		if (!len || cp == 0) {
			if (bad)
				*bad = i;
			return 0;
		}
		i += (size_t)len;
	}
	return 1;
}

char *reg_fold(const char *s)
{
	struct reg_buf b = REG_BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;

	reg_buf_adds(&b, "");
	while (*p) {
		uint32_t cp;
		int n = reg_utf8_decode(p, &cp);

		if (!n) {
			/* not UTF-8: the byte as it is */
			reg_buf_add(&b, (const char *)p, 1);
			p++;
			continue;
		}
		p += n;
		if (cp < 0x80 && isspace((int)cp)) {
			if (b.len && b.buf[b.len - 1] != ' ')
				reg_buf_adds(&b, " ");
		} else if (cp < 0x80) {
			char c = (char)tolower((int)cp);

			reg_buf_add(&b, &c, 1);
		} else if (cp >= 0xC0 && cp <= 0xFF &&
			   reg_latin1_fold[cp - 0xC0]) {
			reg_buf_adds(&b, reg_latin1_fold[cp - 0xC0]);
		} else if (cp >= 0x100 && cp <= 0x17F) {
			char c = reg_latin_ext_fold[cp - 0x100];

			reg_buf_adds(&b, c == '1'   ? "ij"
					 : c == '2' ? "oe"
						    : "");
			if (c != '1' && c != '2')
				reg_buf_add(&b, &c, 1);
		} else {
			/* Greek and Cyrillic capitals to small letters */
			if ((cp >= 0x391 && cp <= 0x3A9) ||
			    (cp >= 0x410 && cp <= 0x42F))
				cp += 0x20;
			else if (cp >= 0x400 && cp <= 0x40F)
				cp += 0x50;
			reg_utf8_encode(&b, cp);
		}
	}
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = '\0';
	return reg_buf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* E-mail addresses */

int reg_email_normalise(const char *in, char *out, size_t size)
{
	const char *start = in, *end, *lt, *at;
	size_t n;

	lt = strchr(in, '<');
	if (lt) {
		const char *gt = strchr(lt, '>');

		if (!gt)
			return -1;
		start = lt + 1;
		end = gt;
	} else {
		end = in + strlen(in);
	}
	if (strncasecmp(start, "mailto:", 7) == 0)
		start += 7;
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - start);
	if (n == 0 || n >= size)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)start[i];

		if (isspace(c) || c == ',' || c == ';' || c == '<' ||
		    c == '>' || c < 0x20)
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	at = strchr(out, '@');
	if (!at || at == out || strchr(at + 1, '@') || !at[1] ||
	    !strchr(at + 1, '.') || at[strlen(at) - 1] == '.')
		return -1;
	return 0;
}

static int reg_email_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+' ||
	       c == '%' || c >= 0x80;
}

char *reg_scrub_emails(const char *text)
{
	struct reg_buf b = REG_BUF_INIT;
	const char *p = text;

	reg_buf_adds(&b, "");
	while (*p) {
		const char *at = strchr(p, '@');
		const char *s, *e;

		if (!at) {
			reg_buf_adds(&b, p);
			break;
		}
		s = at;
		while (s > p && reg_email_char((unsigned char)s[-1]))
			s--;
		e = at + 1;
		while (reg_email_char((unsigned char)*e))
			e++;
		if (s == at || e == at + 1 ||
		    !memchr(at, '.', (size_t)(e - at))) {
			reg_buf_add(&b, p, (size_t)(at + 1 - p));
			p = at + 1;
			continue;
		}
		reg_buf_add(&b, p, (size_t)(s - p));
		reg_buf_adds(&b, "<e-mail>");
		p = e;
	}
	return reg_buf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* Encodings */

void reg_url_encode(struct reg_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			reg_buf_add(b, s, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			reg_buf_add(b, esc, 3);
		}
	}
}

void reg_form_add(struct reg_buf *b, const char *name, const char *value)
{
	if (b->len)
		reg_buf_adds(b, "&");
	reg_url_encode(b, name);
	reg_buf_adds(b, "=");
	reg_url_encode(b, value);
}

void reg_base64url(struct reg_buf *b, const unsigned char *data, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		char out[4] = {
		    alphabet[data[i] >> 2],
		    alphabet[((data[i] & 3) << 4) | (data[i + 1] >> 4)],
		    alphabet[((data[i + 1] & 15) << 2) | (data[i + 2] >> 6)],
		    alphabet[data[i + 2] & 63],
		};

		reg_buf_add(b, out, 4);
	}
	if (n - i == 1) {
		char out[2] = {alphabet[data[i] >> 2],
			       alphabet[(data[i] & 3) << 4]};

		reg_buf_add(b, out, 2);
	} else if (n - i == 2) {
		char out[3] = {
		    alphabet[data[i] >> 2],
		    alphabet[((data[i] & 3) << 4) | (data[i + 1] >> 4)],
		    alphabet[(data[i + 1] & 15) << 2],
		};

		reg_buf_add(b, out, 3);
	}
}

/* ------------------------------------------------------------------------ */
/* Error bodies */

static char *reg_one_line(const char *s)
{
	struct reg_buf b = REG_BUF_INIT;

	reg_buf_adds(&b, "");
	for (; *s && b.len < 200; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		if (c < 0x20)
			continue;
		if (c == ' ' && b.len && b.buf[b.len - 1] == ' ')
			continue;
		reg_buf_add(&b, (const char *)&c, 1);
	}
	/* cut at 200 bytes: drop a UTF-8 sequence the cut split */
	if (((unsigned char)*s & 0xC0) == 0x80) {
		while (b.len &&
		       ((unsigned char)b.buf[b.len - 1] & 0xC0) == 0x80)
			b.len--;
		if (b.len)
			b.len--; /* its lead byte */
		b.buf[b.len] = '\0';
	}
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = '\0';
	return reg_buf_detach(&b);
}

char *reg_error_cause(const char *body)
{
	json_t *root;
	const char *msg = NULL;
	char *out;

	if (!body || !*body)
		return reg_xstrdup("");
	root = json_loads(body, 0, NULL);
	if (json_is_object(root)) {
		json_t *err = json_object_get(root, "error");

		if (json_is_object(err))
			msg =
			    json_string_value(json_object_get(err, "message"));
		if (!msg)
			msg = json_string_value(
			    json_object_get(root, "error_description"));
		if (!msg)
			msg =
			    json_string_value(json_object_get(root, "message"));
		if (!msg && json_is_string(err))
			msg = json_string_value(err);
	}
	if (msg) {
		out = reg_one_line(msg);
	} else if (root) {
		out = reg_xstrdup("unexpected json answer");
	} else {
		/* plain text, or HTML from a proxy: first line only */
		size_t n = strcspn(body, "\r\n");
		char *line = reg_xstrndup(body, n);

		out = reg_one_line(line[0] == '<' ? "unexpected html answer"
						  : line);
		free(line);
	}
	json_decref(root);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Retry-After and backoff */

long reg_retry_after_ms(const char *value, time_t now)
{
	struct tm tm;
	const char *end;
	char *num_end;
	long secs;
	time_t when;

	if (!value)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		secs = strtol(value, &num_end, 10);
		while (isspace((unsigned char)*num_end))
			num_end++;
		if (*num_end || secs < 0)
			return -1;
		if (secs > 86400)
			secs = 86400;
		return secs * 1000;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	when = timegm(&tm);
	if (when <= now)
		return 0;
	if (when - now > 86400)
		return 86400L * 1000;
	return (long)(when - now) * 1000;
}

int64_t reg_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t reg_random(uint32_t *state)
{
	/* xorshift32: jitter only, not security */
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

long reg_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t *rng)
{
	long d = base_ms > 0 ? base_ms : 1;

	for (int i = 0; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	if (d < 2)
		return d;
	return d / 2 + (long)(reg_random(rng) % (uint32_t)(d / 2 + 1));
}

/* ------------------------------------------------------------------------ */
/* A1 notation, hashing */

void reg_a1_column(int index, char out[8])
{
	char tmp[8];
	int n = 0;

	index++;
	while (index > 0 && n < 7) {
		int rem = (index - 1) % 26;

		tmp[n++] = (char)('A' + rem);
		index = (index - 1) / 26;
	}
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

void reg_a1_tab(struct reg_buf *b, const char *tab)
{
	reg_buf_adds(b, "'");
	for (; *tab; tab++) {
		if (*tab == '\'')
			reg_buf_adds(b, "''");
		else
			reg_buf_add(b, tab, 1);
	}
	reg_buf_adds(b, "'");
}

uint64_t reg_fnv1a(const char *s, uint64_t h)
{
	if (!h)
		h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}
