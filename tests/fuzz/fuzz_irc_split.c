// fuzz-sources: host/irc_message.c
// fuzz-options: -max_len=4096
/*
 * fuzz_irc_split.c - the outbound text splitter and the serializer.  The
 * first two bytes choose max_bytes (0 to 599, so below 16 and above 512
 * both occur); the rest is the text.  Checked, with abort() on any miss:
 *  - every chunk is 1..max bytes, without CR, LF, NUL or \x01, and makes
 *    a PRIVMSG line that the serializer accepts and the parser reads back
 *    as the same chunk;
 *  - the chunks are the lines of the text (split at CR/LF, NUL and \x01
 *    left out, empty lines skipped), in order, byte for byte;
 *  - no cut falls inside a well-formed UTF-8 sequence, so valid text
 *    gives valid chunks;
 *  - a cut comes after the last space that keeps over half of max, and
 *    otherwise still keeps over half; the last part of a line that fits
 *    is never cut.
 */
#include "irc_message.h"
#include "../lib/utf8_reference.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHUNKS_MAX 8192

struct collected {
	char *bytes;
	size_t len;
	size_t max;
	int count;
	size_t start[CHUNKS_MAX];
	size_t size[CHUNKS_MAX];
};

static void check(int ok)
{
	if (!ok)
		abort();
}

static int collect(const char *chunk, size_t len, void *data)
{
	struct collected *c = data;
	/* static: AddressSanitizer would poison big stack frames on every
	 * call, which costs more than the checks. */
	static char param[IRC_LINE_MAX + 1];
	static char line[IRC_INPUT_MAX + 1];
	const char *params[] = {"#channel", param};
	struct irc_message msg;
	int line_len;

	check(c->count < CHUNKS_MAX);
	check(len >= 1 && len <= c->max);
	check(!memchr(chunk, '\r', len) && !memchr(chunk, '\n', len) &&
	      !memchr(chunk, '\0', len) && !memchr(chunk, '\x01', len));
	memcpy(param, chunk, len);
	param[len] = '\0';
	line_len = irc_message_format(line, sizeof(line), NULL, 0, "PRIVMSG", 2,
				      params);
	check(line_len == (int)(len + strlen("PRIVMSG #channel ")) ||
	      line_len == (int)(len + strlen("PRIVMSG #channel :")));
	check(!memchr(line, '\r', (size_t)line_len) &&
	      !memchr(line, '\n', (size_t)line_len));
	/* A budget near 512 makes lines no server takes; the parser says
	 * so, and reads back any line that does fit. */
	if (line_len > IRC_LINE_MAX - 2) {
		check(irc_message_parse(line, (size_t)line_len, &msg) ==
		      IRC_ERR_BODY_TOO_LONG);
	} else {
		check(irc_message_parse(line, (size_t)line_len, &msg) ==
		      IRC_PARSE_OK);
		check(msg.param_count == 2 &&
		      strcmp(msg.params[1], param) == 0);
	}

	c->start[c->count] = c->len;
	c->size[c->count] = len;
	c->count++;
	memcpy(c->bytes + c->len, chunk, len);
	c->len += len;
	return 0;
}

/*
 * Marks in cut_ok which boundaries of the line s (n bytes) may be cut:
 * not inside a well-formed UTF-8 sequence.  cut_ok has n + 1 entries.
 */
static void mark_boundaries(const char *s, size_t n, char *cut_ok)
{
	size_t i = 0, k;

	memset(cut_ok, 1, n + 1);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

		if (need > 1 && i + need <= n &&
		    utf8_reference_valid(s + i, need)) {
			for (k = 1; k < need; k++)
				cut_ok[i + k] = 0;
			i += need;
		} else {
			i++;
		}
	}
}

/* Checks the chunks that make up one line of the text, from chunk *next. */
static void check_line(struct collected *c, int *next, const char *s, size_t n,
		       char *cut_ok)
{
	size_t done = 0;

	mark_boundaries(s, n, cut_ok);
	while (done < n) {
		size_t len, rest = n - done, last_space = 0, i;

		check(*next < c->count);
		len = c->size[*next];
		check(len <= rest);
		check(memcmp(c->bytes + c->start[*next], s + done, len) == 0);
		check(cut_ok[done + len]);
		if (rest <= c->max) {
			check(len == rest);
		} else {
			for (i = 0; i < c->max; i++)
				if (s[done + i] == ' ')
					last_space = i + 1;
			if (last_space > c->max / 2)
				check(len == last_space);
			else
				check(len > c->max / 2);
		}
		done += len;
		(*next)++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct collected c;
	const char *text;
	char *line, *cut_ok;
	size_t len, max, i, line_len = 0;
	int delivered, next = 0;

	if (size < 2)
		return 0;
	max = (size_t)(data[0] | data[1] << 8) % 600;
	text = (const char *)data + 2;
	len = size - 2;

	c.len = 0;
	c.count = 0;
	c.max = max < 16 ? 16 : max > IRC_LINE_MAX ? IRC_LINE_MAX : max;
	c.bytes = malloc(len + 1);
	line = malloc(len + 1);
	cut_ok = malloc(len + 2);
	check(c.bytes && line && cut_ok);

	delivered = irc_text_split(text, len, max, collect, &c);
	check(delivered == c.count);

	/* Walk the text line by line, as the splitter should have. */
	for (i = 0; i <= len; i++) {
		char ch = i < len ? text[i] : '\n';

		if (ch == '\r' || ch == '\n') {
			if (line_len)
				check_line(&c, &next, line, line_len, cut_ok);
			line_len = 0;
		} else if (ch != '\0' && ch != '\x01') {
			line[line_len++] = ch;
		}
	}
	check(next == c.count);

	if (utf8_reference_valid(text, len))
		for (i = 0; i < (size_t)c.count; i++)
			check(utf8_reference_valid(c.bytes + c.start[i],
						   c.size[i]));
	free(c.bytes);
	free(line);
	free(cut_ok);
	return 0;
}
