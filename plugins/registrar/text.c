/*
 * text.c - pure text helpers of the registrar: records, {Column}
 * templates, name folding, e-mail normalisation and scrubbing, base64url,
 * A1 notation.  No I/O, no host calls: unit-tested directly.  Buffers,
 * UTF-8, Retry-After and backoff are the SDK's (plugins/sdk).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "registrar.h"

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
	out = sdk_json_dump(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
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
	rec->headers = sdk_xcalloc(n, sizeof(char *));
	rec->values = sdk_xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *pair = json_array_get(arr, i);
		const char *h = json_string_value(json_array_get(pair, 0));
		const char *v = json_string_value(json_array_get(pair, 1));

		rec->headers[rec->ncols] = sdk_xstrdup(h ? h : "");
		rec->values[rec->ncols] = sdk_xstrdup(v ? v : "");
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

void reg_html_escape(struct sdk_buf *out, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "&<>\"'");

		/* runs without a special character go in at once */
		if (n)
			sdk_buf_add(out, s, n);
		s += n;
		switch (*s) {
		case '&':
			sdk_buf_adds(out, "&amp;");
			break;
		case '<':
			sdk_buf_adds(out, "&lt;");
			break;
		case '>':
			sdk_buf_adds(out, "&gt;");
			break;
		case '"':
			sdk_buf_adds(out, "&quot;");
			break;
		case '\'':
			sdk_buf_adds(out, "&#39;");
			break;
		default:
			return;
		}
		s++;
	}
}

int reg_template_render(const char *tpl, const struct reg_record *rec,
			enum reg_tpl_mode mode, struct sdk_buf *out,
			struct sdk_buf *err)
{
	const char *p = tpl;

	while (*p) {
		const char *end;
		char *name;
		const char *value;

		if (p[0] == '{' && p[1] == '{') {
			sdk_buf_adds(out, "{");
			p += 2;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			sdk_buf_adds(out, "}");
			p += 2;
			continue;
		}
		if (*p != '{') {
			size_t n = strcspn(p, "{}");

			if (n == 0) /* a lone '}' */
				n = 1;
			sdk_buf_add(out, p, n);
			p += n;
			continue;
		}
		end = strchr(p + 1, '}');
		if (!end || memchr(p + 1, '\n', (size_t)(end - p - 1)) ||
		    memchr(p + 1, '{', (size_t)(end - p - 1))) {
			sdk_buf_addf(err, "unclosed \"{\" near \"%.20s\"", p);
			return -1;
		}
		name = sdk_xstrndup(p + 1, (size_t)(end - p - 1));
		value = reg_record_get(rec, name);
		if (!value) {
			sdk_buf_addf(err,
				     "no column \"%s\" in the sheet; fix the "
				     "template or the header row",
				     name);
			free(name);
			return -1;
		}
		free(name);
		if (mode == REG_TPL_HTML) {
			reg_html_escape(out, value);
		} else if (mode == REG_TPL_LINE) {
			/* a subject or a card name: never a line break */
			sdk_text_clean(out, value, strlen(value),
				       SDK_TEXT_SQUEEZE, 0);
		} else {
			sdk_buf_adds(out, value);
		}
		p = end + 1;
	}
	return 0;
}

int reg_template_check(const char *tpl, struct sdk_buf *err)
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
			sdk_buf_addf(err, "unclosed \"{\" near \"%.20s\"", p);
			return -1;
		}
		if (end == p + 1) {
			sdk_buf_adds(err, "\"{}\" names no column (write {{}} "
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

char *reg_fold(const char *s)
{
	struct sdk_buf b = SDK_BUF_INIT;
	const char *p = s, *end = s + strlen(s);

	sdk_buf_adds(&b, "");
	while (p < end) {
		uint32_t cp;
		int n = sdk_utf8_decode(p, (size_t)(end - p), &cp);

		if (!n) {
			/* not UTF-8: the byte as it is */
			sdk_buf_add(&b, p, 1);
			p++;
			continue;
		}
		p += n;
		if (cp < 0x80 && isspace((int)cp)) {
			if (b.len && b.buf[b.len - 1] != ' ')
				sdk_buf_adds(&b, " ");
		} else if (cp < 0x80) {
			char c = (char)tolower((int)cp);

			sdk_buf_add(&b, &c, 1);
		} else if (cp >= 0xC0 && cp <= 0xFF &&
			   reg_latin1_fold[cp - 0xC0]) {
			sdk_buf_adds(&b, reg_latin1_fold[cp - 0xC0]);
		} else if (cp >= 0x100 && cp <= 0x17F) {
			char c = reg_latin_ext_fold[cp - 0x100];

			sdk_buf_adds(&b, c == '1'   ? "ij"
					 : c == '2' ? "oe"
						    : "");
			if (c != '1' && c != '2')
				sdk_buf_add(&b, &c, 1);
		} else {
			/* Greek and Cyrillic capitals to small letters */
			if ((cp >= 0x391 && cp <= 0x3A9) ||
			    (cp >= 0x410 && cp <= 0x42F))
				cp += 0x20;
			else if (cp >= 0x400 && cp <= 0x40F)
				cp += 0x50;
			sdk_utf8_encode(&b, cp);
		}
	}
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = '\0';
	return sdk_buf_detach(&b);
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
	struct sdk_buf b = SDK_BUF_INIT;
	const char *p = text;

	sdk_buf_adds(&b, "");
	while (*p) {
		const char *at = strchr(p, '@');
		const char *s, *e;

		if (!at) {
			sdk_buf_adds(&b, p);
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
			sdk_buf_add(&b, p, (size_t)(at + 1 - p));
			p = at + 1;
			continue;
		}
		sdk_buf_add(&b, p, (size_t)(s - p));
		sdk_buf_adds(&b, "<e-mail>");
		p = e;
	}
	return sdk_buf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* Encodings */

void reg_base64url(struct sdk_buf *b, const unsigned char *data, size_t n)
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

		sdk_buf_add(b, out, 4);
	}
	if (n - i == 1) {
		char out[2] = {alphabet[data[i] >> 2],
			       alphabet[(data[i] & 3) << 4]};

		sdk_buf_add(b, out, 2);
	} else if (n - i == 2) {
		char out[3] = {
		    alphabet[data[i] >> 2],
		    alphabet[((data[i] & 3) << 4) | (data[i + 1] >> 4)],
		    alphabet[(data[i + 1] & 15) << 2],
		};

		sdk_buf_add(b, out, 3);
	}
}

/* ------------------------------------------------------------------------ */
/* Clocks, A1 notation, hashing */

int64_t reg_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

void reg_a1_tab(struct sdk_buf *b, const char *tab)
{
	sdk_buf_adds(b, "'");
	for (; *tab; tab++) {
		if (*tab == '\'')
			sdk_buf_adds(b, "''");
		else
			sdk_buf_add(b, tab, 1);
	}
	sdk_buf_adds(b, "'");
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

/* ------------------------------------------------------------------------ */
/* Text from the sheet, and lines for chat */

char *reg_clean_cell(const char *s)
{
	return sdk_text_clean_str(s, SDK_TEXT_KEEP_NEWLINES, REG_CELL_MAX);
}

char *reg_clean_line(const char *s, size_t max)
{
	return sdk_text_clean_str(s, SDK_TEXT_SQUEEZE, max);
}

int reg_pack_lines(char *const *items, int n, int per_line, int max_lines,
		   size_t line_max, char **lines, int *nlines)
{
	struct sdk_buf line = SDK_BUF_INIT;
	int in_line = 0, i;

	*nlines = 0;
	for (i = 0; i < n && *nlines < max_lines; i++) {
		size_t len = strlen(items[i]);

		if (in_line &&
		    (in_line == per_line || line.len + 2 + len > line_max)) {
			lines[(*nlines)++] = sdk_buf_detach(&line);
			in_line = 0;
			if (*nlines == max_lines)
				break;
		}
		if (in_line)
			sdk_buf_adds(&line, ", ");
		sdk_buf_adds(&line, items[i]);
		in_line++;
	}
	if (in_line)
		lines[(*nlines)++] = sdk_buf_detach(&line);
	sdk_buf_release(&line);
	return n - i;
}

/*
 * The length of the longest tail of a that ends b too and starts after
 * ": " in a (a whole cause, not a few words that happen to match).
 */
static size_t reg_shared_cause(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = 0, best = 0;

	while (n < la && n < lb && a[la - 1 - n] == b[lb - 1 - n]) {
		n++;
		if (la - n >= 2 && a[la - n - 2] == ':' &&
		    a[la - n - 1] == ' ' && lb - n >= 2 &&
		    b[lb - n - 2] == ':' && b[lb - n - 1] == ' ')
			best = n;
	}
	return best;
}

char *reg_summary_line(const char *head, char *const *errors, int n,
		       const char *notes, size_t line_max)
{
	struct sdk_buf out = SDK_BUF_INIT, one = SDK_BUF_INIT;
	int shown = 0;

	sdk_buf_adds(&out, head);
	/* newest first: an older error that recurs must not hide it */
	for (int i = n - 1; i >= 0; i--) {
		const char *e = errors[i];
		size_t keep = strlen(e), room;
		const char *same = "";

		/* a cause already given (both sheets refused alike) once */
		for (int k = n - 1; k > i; k--) {
			size_t t = reg_shared_cause(e, errors[k]);

			if (t >= 24 && strlen(e) - t < keep) {
				keep = strlen(e) - t;
				same = "the same";
			}
		}
		sdk_buf_reset(&one);
		sdk_buf_add(&one, e, keep);
		sdk_buf_adds(&one, same);
		/* room for "; " and for the count of those left out; one
		   cause takes at most a third of the line, so older ones
		   still fit (each is in the log in full) */
		room = out.len + 2 + 32 < line_max ? line_max - out.len - 2 - 32
						   : 0;
		if (room > line_max / 3)
			room = line_max / 3;
		if (room < 40 && one.len > room)
			break; /* not even the start of a cause */
		sdk_buf_adds(&out, "; ");
		sdk_text_clean(&out, one.buf, one.len, SDK_TEXT_SQUEEZE, room);
		shown++;
	}
	if (shown < n)
		sdk_buf_addf(&out, "; %d more in the log", n - shown);
	if (notes && *notes && out.len + 8 + strlen(notes) <= line_max)
		sdk_buf_addf(&out, "; note: %s", notes);
	sdk_buf_release(&one);
	return sdk_buf_detach(&out);
}
