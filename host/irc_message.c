/*
 * irc_message.c - IRC lines in and out.  See irc_message.h.
 *
 * Everything here works on caller buffers: no allocation, no I/O, no
 * global state, so the parser can sit on the hot path of every inbound
 * line and the same code runs in the unit tests and the fuzzers.
 */
#include "irc_message.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/*
 * Byte classes for the scanners.  irc_message_parse() writes a NUL at
 * line[len], so every scan loop also stops at the end of the line without
 * a bounds check; a NUL before the end is then told apart by position.
 */
enum {
	CLASS_SPACE = 1 << 0,
	CLASS_BAD = 1 << 1, /* NUL, CR, LF */
	CLASS_SEMICOLON = 1 << 2,
	CLASS_EQUALS = 1 << 3,
	CLASS_BACKSLASH = 1 << 4,
};

#define STOP_WORD (CLASS_SPACE | CLASS_BAD)
#define STOP_TAG_KEY (STOP_WORD | CLASS_SEMICOLON | CLASS_EQUALS)
#define STOP_TAG_VALUE (STOP_WORD | CLASS_SEMICOLON)

static const unsigned char byte_class[256] = {
    ['\0'] = CLASS_BAD,	      ['\r'] = CLASS_BAD,      ['\n'] = CLASS_BAD,
    [' '] = CLASS_SPACE,      [';'] = CLASS_SEMICOLON, ['='] = CLASS_EQUALS,
    ['\\'] = CLASS_BACKSLASH,
};

static inline unsigned char class_of(const char *p)
{
	return byte_class[(unsigned char)*p];
}

static char *scan_until(char *p, unsigned char stop)
{
	while (!(class_of(p) & stop))
		p++;
	return p;
}

static inline int is_letter(unsigned char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}

static inline int is_digit(unsigned char c)
{
	return (unsigned char)(c - '0') < 10;
}

/* A command is letters only ("PRIVMSG") or exactly three digits ("001"). */
static int verb_valid(const char *verb, size_t len)
{
	size_t letters = 0, digits = 0, i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)verb[i];

		if (is_letter(c))
			letters++;
		else if (is_digit(c))
			digits++;
		else
			return 0;
	}
	return (len > 0 && letters == len) || (len == 3 && digits == 3);
}

static const char *const parse_error_names[IRC_ERR_COUNT] = {
    [IRC_PARSE_OK] = "ok",
    [IRC_ERR_LINE_EMPTY] = "empty line",
    [IRC_ERR_BAD_CHAR] = "nul, cr or lf inside the line",
    [IRC_ERR_BODY_TOO_LONG] = "line too long",
    [IRC_ERR_TAGS_TOO_LONG] = "tags too long",
    [IRC_ERR_TOO_MANY_TAGS] = "too many tags",
    [IRC_ERR_INVALID_TAG] = "invalid tag",
    [IRC_ERR_SOURCE_EMPTY] = "empty source",
    [IRC_ERR_COMMAND_MISSING] = "command missing",
    [IRC_ERR_COMMAND_INVALID] = "invalid command",
    [IRC_ERR_TOO_MANY_PARAMS] = "too many parameters",
};

const char *irc_parse_error_name(enum irc_parse_error err)
{
	if ((unsigned)err >= IRC_ERR_COUNT)
		return "unknown error";
	return parse_error_names[err];
}

static char unescape_tag_char(char c)
{
	switch (c) {
	case ':':
		return ';';
	case 's':
		return ' ';
	case 'r':
		return '\r';
	case 'n':
		return '\n';
	default:
		/* "\\" is a backslash; any other escaped byte stands for
		 * itself, as the IRCv3 message-tags spec says. */
		return c;
	}
}

/* The spec lets a repeated key override the earlier one. */
static void add_tag(struct irc_message *msg, const char *key, const char *value)
{
	int i;

	for (i = 0; i < msg->tag_count; i++) {
		if (strcmp(msg->tags[i].key, key) == 0) {
			msg->tags[i].value = value;
			return;
		}
	}
	msg->tags[msg->tag_count].key = key;
	msg->tags[msg->tag_count].value = value;
	msg->tag_count++;
}

/*
 * Parses "@k=v;k2 " starting at line[0] == '@'.  On success *body points
 * just past the single space that ends the tag section.  Values are
 * unescaped in place: the unescaped form is never longer than the escaped
 * one, so the write cursor never overtakes the read cursor.
 */
static enum irc_parse_error parse_tags(char *line, const char *end,
				       struct irc_message *msg, char **body)
{
	char *p = line + 1;
	int seen = 0;

	for (;;) {
		char *key = p;
		const char *value = "";
		char stop;

		p = scan_until(p, STOP_TAG_KEY);
		if (p - line >= IRC_TAGS_MAX)
			return IRC_ERR_TAGS_TOO_LONG;
		stop = *p;
		if ((class_of(p) & CLASS_BAD) && p != end)
			return IRC_ERR_BAD_CHAR;
		if (p == key)
			return IRC_ERR_INVALID_TAG;
		if (stop == '=') {
			char *out;

			*p++ = '\0';
			value = out = p;
			while (!(class_of(p) & STOP_TAG_VALUE)) {
				char c = *p;

				if (c == '\\') {
					/* A backslash at the end of the value
					 * is dropped. */
					if (class_of(++p) & STOP_TAG_VALUE)
						break;
					c = unescape_tag_char(*p);
				}
				*out++ = c;
				p++;
			}
			if (p - line >= IRC_TAGS_MAX)
				return IRC_ERR_TAGS_TOO_LONG;
			stop = *p;
			if ((class_of(p) & CLASS_BAD) && p != end)
				return IRC_ERR_BAD_CHAR;
			*out = '\0';
		} else {
			*p = '\0';
		}
		/* Duplicates count too, which bounds the work of add_tag(). */
		if (++seen > IRC_TAG_COUNT_MAX)
			return IRC_ERR_TOO_MANY_TAGS;
		add_tag(msg, key, value);
		if (stop == ';') {
			p++;
			continue;
		}
		if (stop == ' ') {
			*body = p + 1;
			return IRC_PARSE_OK;
		}
		return IRC_ERR_COMMAND_MISSING;
	}
}

enum irc_parse_error irc_message_parse(char *line, size_t len,
				       struct irc_message *msg)
{
	char *end = line + len;
	char *p = line;
	char *word;
	enum irc_parse_error err;

	msg->tag_count = 0;
	msg->source = NULL;
	msg->command = NULL;
	msg->param_count = 0;
	*end = '\0';

	if (*p == '@') {
		err = parse_tags(line, end, msg, &p);
		if (err != IRC_PARSE_OK)
			return err;
	}
	if ((size_t)(end - p) > IRC_LINE_MAX - 2)
		return IRC_ERR_BODY_TOO_LONG;
	while (*p == ' ')
		p++;
	if (p == end)
		return msg->tag_count ? IRC_ERR_COMMAND_MISSING
				      : IRC_ERR_LINE_EMPTY;

	if (*p == ':') {
		word = ++p;
		p = scan_until(p, STOP_WORD);
		if (p != end && *p != ' ')
			return IRC_ERR_BAD_CHAR;
		if (p == word)
			return IRC_ERR_SOURCE_EMPTY;
		if (p == end)
			return IRC_ERR_COMMAND_MISSING;
		*p++ = '\0';
		while (*p == ' ')
			p++;
		if (p == end)
			return IRC_ERR_COMMAND_MISSING;
		msg->source = word;
	}

	word = p;
	p = scan_until(p, STOP_WORD);
	if (p != end && *p != ' ')
		return IRC_ERR_BAD_CHAR;
	if (!verb_valid(word, (size_t)(p - word)))
		return IRC_ERR_COMMAND_INVALID;
	msg->command = word;

	while (*p == ' ') {
		*p++ = '\0';
		while (*p == ' ')
			p++;
		if (p == end)
			break;
		if (msg->param_count == IRC_PARAMS_MAX)
			return IRC_ERR_TOO_MANY_PARAMS;
		if (*p == ':') {
			msg->params[msg->param_count++] = ++p;
			p = scan_until(p, CLASS_BAD);
			break;
		}
		msg->params[msg->param_count++] = p;
		p = scan_until(p, STOP_WORD);
	}
	if (p != end)
		return IRC_ERR_BAD_CHAR;
	return IRC_PARSE_OK;
}

const char *irc_message_tag(const struct irc_message *msg, const char *key)
{
	int i;

	for (i = 0; i < msg->tag_count; i++)
		if (strcmp(msg->tags[i].key, key) == 0)
			return msg->tags[i].value;
	return NULL;
}

/* Output cursor of irc_message_format(); end leaves room for the NUL. */
struct line_writer {
	char *pos;
	char *end;
};

static int put_bytes(struct line_writer *w, const char *s, size_t n)
{
	if ((size_t)(w->end - w->pos) < n)
		return -1;
	memcpy(w->pos, s, n);
	w->pos += n;
	return 0;
}

static int put_char(struct line_writer *w, char c)
{
	if (w->pos == w->end)
		return -1;
	*w->pos++ = c;
	return 0;
}

/*
 * A tag key, a source and a middle parameter share a rule: not empty, no
 * space, CR or LF (NUL cannot occur in a C string).  The parser accepts
 * exactly these, so whatever it returns can be sent back unchanged.
 * extra_stop adds bytes the word must not hold; returns the length or -1.
 */
static long word_length(const char *s, unsigned char extra_stop)
{
	const char *p = s;

	while (!(class_of(p) & (STOP_WORD | extra_stop)))
		p++;
	if (*p != '\0' || p == s)
		return -1;
	return p - s;
}

static int put_tag_value(struct line_writer *w, const char *value)
{
	const char *p;

	for (p = value; *p; p++) {
		const char *escaped = NULL;

		switch (*p) {
		case ';':
			escaped = "\\:";
			break;
		case ' ':
			escaped = "\\s";
			break;
		case '\\':
			escaped = "\\\\";
			break;
		case '\r':
			escaped = "\\r";
			break;
		case '\n':
			escaped = "\\n";
			break;
		}
		if (escaped ? put_bytes(w, escaped, 2) : put_char(w, *p))
			return -1;
	}
	return 0;
}

static int put_tags(struct line_writer *w, const struct irc_tag *tags,
		    int tag_count)
{
	int i;

	if (put_char(w, '@'))
		return -1;
	for (i = 0; i < tag_count; i++) {
		long key_len;

		if (!tags[i].key)
			return -1;
		key_len =
		    word_length(tags[i].key, CLASS_SEMICOLON | CLASS_EQUALS);
		if (key_len < 0)
			return -1;
		if (i > 0 && put_char(w, ';'))
			return -1;
		if (put_bytes(w, tags[i].key, (size_t)key_len))
			return -1;
		/* An empty value goes out as a bare key: servers must not
		 * turn "k" into "k=", and "k=" only costs a byte. */
		if (tags[i].value && tags[i].value[0] &&
		    (put_char(w, '=') || put_tag_value(w, tags[i].value)))
			return -1;
	}
	return put_char(w, ' ');
}

static int put_params(struct line_writer *w, int param_count,
		      const char *const *params)
{
	int i;

	for (i = 0; i < param_count; i++) {
		const char *param = params[i];
		size_t len;
		int trailing;

		if (!param)
			return -1;
		if (i < param_count - 1) {
			long word_len = word_length(param, 0);

			if (word_len < 0 || param[0] == ':')
				return -1;
			len = (size_t)word_len;
			trailing = 0;
		} else {
			const char *p = param + strcspn(param, "\r\n");

			if (*p)
				return -1;
			len = (size_t)(p - param);
			trailing = len == 0 || param[0] == ':' ||
				   memchr(param, ' ', len);
		}
		if (put_char(w, ' ') || (trailing && put_char(w, ':')) ||
		    put_bytes(w, param, len))
			return -1;
	}
	return 0;
}

int irc_message_format_with_source(char *out, size_t size,
				   const struct irc_tag *tags, int tag_count,
				   const char *source, const char *command,
				   int param_count, const char *const *params)
{
	struct line_writer w;
	size_t command_len;

	if (!out || size == 0)
		return -1;
	out[0] = '\0';
	if (tag_count < 0 || tag_count > IRC_TAG_COUNT_MAX ||
	    (tag_count > 0 && !tags))
		return -1;
	if (param_count < 0 || param_count > IRC_PARAMS_MAX ||
	    (param_count > 0 && !params))
		return -1;
	if (!command)
		return -1;
	command_len = strlen(command);
	if (!verb_valid(command, command_len))
		return -1;

	w.pos = out;
	w.end = out + size - 1;
	if (tag_count > 0 && put_tags(&w, tags, tag_count))
		goto fail;
	if (source) {
		long source_len = word_length(source, 0);

		if (source_len < 0 || put_char(&w, ':') ||
		    put_bytes(&w, source, (size_t)source_len) ||
		    put_char(&w, ' '))
			goto fail;
	}
	if (put_bytes(&w, command, command_len) ||
	    put_params(&w, param_count, params))
		goto fail;
	if (w.pos - out > INT_MAX)
		goto fail;
	*w.pos = '\0';
	return (int)(w.pos - out);

fail:
	out[0] = '\0';
	return -1;
}

int irc_message_format(char *out, size_t size, const struct irc_tag *tags,
		       int tag_count, const char *command, int param_count,
		       const char *const *params)
{
	return irc_message_format_with_source(out, size, tags, tag_count, NULL,
					      command, param_count, params);
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), with its code point in
 * *cp; 0 if s[0] does not start one within n bytes.
 */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char low = 0x80, high = 0xbf;
	size_t len, i;
	uint32_t value;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		value = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		value = c & 0x0f;
		if (c == 0xe0)
			low = 0xa0;
		else if (c == 0xed)
			high = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		value = c & 0x07;
		if (c == 0xf0)
			low = 0x90;
		else if (c == 0xf4)
			high = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < low || s[1] > high)
		return 0;
	value = (value << 6) | (s[1] & 0x3f);
	for (i = 2; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		value = (value << 6) | (s[i] & 0x3f);
	}
	*cp = value;
	return len;
}

/*
 * Characters that display as part of the one before them: the common
 * combining-mark blocks, joiners, variation selectors, skin-tone
 * modifiers and tag characters.  Not the whole of Unicode's Extend
 * property, only what keeps accents and emoji sequences together.
 */
static int extends_previous(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036f) ||
	       (cp >= 0x1ab0 && cp <= 0x1aff) ||
	       (cp >= 0x1dc0 && cp <= 0x1dff) || cp == 0x200c || cp == 0x200d ||
	       (cp >= 0x20d0 && cp <= 0x20ff) ||
	       (cp >= 0xfe00 && cp <= 0xfe0f) ||
	       (cp >= 0xfe20 && cp <= 0xfe2f) ||
	       (cp >= 0x1f3fb && cp <= 0x1f3ff) ||
	       (cp >= 0xe0020 && cp <= 0xe007f) ||
	       (cp >= 0xe0100 && cp <= 0xe01ef);
}

#define SPLIT_MIN 16
#define SPLIT_MAX IRC_LINE_MAX
/* Bytes beyond max_bytes needed to know every character that starts at
 * or before max_bytes. */
#define SPLIT_LOOKAHEAD 4
#define NO_CODE_POINT UINT32_MAX

/*
 * Where to end the next chunk of buf (n > max bytes, all from one line):
 * after the last space that leaves more than max / 2 bytes, else at the
 * last character boundary that does not detach a combining mark and
 * leaves more than max / 2, else at the last character boundary.  A byte
 * that is not part of a well-formed sequence is a character of its own.
 */
static size_t split_point(const char *buf, size_t n, size_t max)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t pos = 0, boundary = 0, clean = 0, after_space = 0;
	uint32_t previous = NO_CODE_POINT;

	while (pos < n) {
		uint32_t cp = NO_CODE_POINT;
		size_t len = utf8_sequence(s + pos, n - pos, &cp);

		if (len == 0)
			len = 1;
		if (pos > 0) {
			boundary = pos;
			if (!extends_previous(cp) && previous != 0x200d)
				clean = pos;
		}
		if (pos + len > max)
			break;
		if (s[pos] == ' ')
			after_space = pos + 1;
		previous = cp;
		pos += len;
	}
	if (after_space > max / 2)
		return after_space;
	if (clean > max / 2)
		return clean;
	return boundary;
}

int irc_text_split(const char *text, size_t len, size_t max_bytes,
		   irc_chunk_fn *fn, void *data)
{
	char buf[SPLIT_MAX + SPLIT_LOOKAHEAD];
	size_t max = max_bytes, i = 0, n = 0;
	int chunks = 0;

	if (max < SPLIT_MIN)
		max = SPLIT_MIN;
	if (max > SPLIT_MAX)
		max = SPLIT_MAX;

	/*
	 * buf holds the pending part of the current line, CR, LF, NUL and
	 * \x01 already left out; it is cut only once it holds more than max
	 * bytes plus the lookahead, or the line has ended.
	 */
	for (;;) {
		size_t cut;

		while (n < max + SPLIT_LOOKAHEAD && i < len) {
			char c = text[i];

			if (c == '\r' || c == '\n')
				break;
			i++;
			if (c != '\0' && c != '\x01')
				buf[n++] = c;
		}
		if (n <= max) {
			/* The line ended: what is left fits in one chunk. */
			if (n > 0) {
				chunks++;
				if (fn(buf, n, data))
					return chunks;
				n = 0;
			}
			if (i == len)
				return chunks;
			i++; /* the CR or LF; empty lines give no chunk */
			continue;
		}
		cut = split_point(buf, n, max);
		chunks++;
		if (fn(buf, cut, data))
			return chunks;
		n -= cut;
		memmove(buf, buf + cut, n);
	}
}

int irc_userhost_split(const char *source, char *buf, size_t size,
		       struct irc_userhost *out)
{
	size_t len;
	char *bang, *at;

	if (!source || !buf || !out)
		return -1;
	len = strlen(source);
	if (len >= size)
		return -1;
	memcpy(buf, source, len + 1);
	/* The host is after the first '@'; the user between the first '!'
	 * before it and the '@'. */
	at = strchr(buf, '@');
	if (at)
		*at = '\0';
	bang = strchr(buf, '!');
	if (bang)
		*bang = '\0';
	out->nick = buf;
	out->user = bang ? bang + 1 : NULL;
	out->host = at ? at + 1 : NULL;
	return 0;
}

int irc_tolower(int c, enum irc_casemapping map)
{
	if (c >= 'A' && c <= 'Z')
		return c + ('a' - 'A');
	if (map == IRC_CASEMAP_ASCII)
		return c;
	/* '[', '\\', ']' are the capitals of '{', '|', '}'; rfc1459 adds
	 * '^' as the capital of '~'. */
	if (c == '[' || c == '\\' || c == ']' ||
	    (c == '^' && map == IRC_CASEMAP_RFC1459))
		return c + ('a' - 'A');
	return c;
}

int irc_casecmp(const char *a, const char *b, enum irc_casemapping map)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	int cx, cy;

	do {
		cx = irc_tolower(*x++, map);
		cy = irc_tolower(*y++, map);
	} while (cx == cy && cx != '\0');
	return cx - cy;
}

/*
 * Iterative glob with one backtrack point: on a mismatch, retry from the
 * last '*' one text byte further.  That is enough for '*' and '?' only
 * and keeps the worst case at O(len(mask) * len(text)), never
 * exponential, whatever a hostile mask looks like.
 */
int irc_mask_match(const char *mask, const char *text, enum irc_casemapping map)
{
	const unsigned char *m = (const unsigned char *)mask;
	const unsigned char *t = (const unsigned char *)text;
	const unsigned char *star_mask = NULL, *star_text = NULL;

	if (!mask || !text)
		return 0;
	while (*t) {
		if (*m == '*') {
			star_mask = ++m;
			star_text = t;
			continue;
		}
		if (*m && (*m == '?' ||
			   irc_tolower(*m, map) == irc_tolower(*t, map))) {
			m++;
			t++;
			continue;
		}
		if (!star_mask)
			return 0;
		m = star_mask;
		t = ++star_text;
	}
	while (*m == '*')
		m++;
	return *m == '\0';
}

int irc_ctcp_parse(const char *text, char *buf, size_t size, const char **verb,
		   const char **args)
{
	const char *start, *stop;
	char *space;
	size_t len;

	if (!text || text[0] != '\x01' || !buf || !verb || !args)
		return 0;
	start = text + 1;
	stop = strchrnul(start, '\x01');
	len = (size_t)(stop - start);
	/* "\x01" and "\x01\x01" carry no verb: not CTCP, just text. */
	if (len == 0 || len >= size || start[0] == ' ')
		return 0;
	memcpy(buf, start, len);
	buf[len] = '\0';
	space = memchr(buf, ' ', len);
	if (space) {
		*space = '\0';
		*args = space + 1;
	} else {
		*args = buf + len;
	}
	*verb = buf;
	return 1;
}
