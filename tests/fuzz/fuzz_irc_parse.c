// fuzz-sources: host/irc_message.c
// fuzz-options: -max_len=10000
/*
 * fuzz_irc_parse.c - the inbound line parser on arbitrary bytes.  Whatever
 * parses must satisfy the header's promises, serialize again, and parse
 * back to the same message; the serialized form is never longer than the
 * input, since every escape the serializer writes was in the input too.
 * Any broken promise is an abort().
 */
#include "irc_message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static int inside(const char *p, const char *buf, size_t size)
{
	return p >= buf && p <= buf + size;
}

static int verb_valid(const char *s)
{
	size_t len = strlen(s), i, letters = 0, digits = 0;

	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z'))
			letters++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
	}
	return len > 0 && (letters == len || (len == 3 && digits == 3));
}

/* What the header promises about a message the parser accepted. */
static void check_message(const struct irc_message *msg, const char *buf,
			  size_t size)
{
	int i, j;

	check(msg->tag_count >= 0 && msg->tag_count <= IRC_TAG_COUNT_MAX);
	check(msg->param_count >= 0 && msg->param_count <= IRC_PARAMS_MAX);
	check(msg->command && inside(msg->command, buf, size));
	check(verb_valid(msg->command));
	if (msg->source) {
		check(inside(msg->source, buf, size));
		check(msg->source[0] != '\0');
		check(!strpbrk(msg->source, " \r\n"));
	}
	for (i = 0; i < msg->tag_count; i++) {
		const char *key = msg->tags[i].key;

		check(inside(key, buf, size));
		check(key[0] != '\0' && !strpbrk(key, " ;=\r\n"));
		check(msg->tags[i].value != NULL);
		for (j = 0; j < i; j++)
			check(strcmp(msg->tags[j].key, key) != 0);
		check(irc_message_tag(msg, key) == msg->tags[i].value);
	}
	for (i = 0; i < msg->param_count; i++) {
		const char *param = msg->params[i];

		check(inside(param, buf, size));
		check(!strpbrk(param, "\r\n"));
		if (i < msg->param_count - 1)
			check(param[0] != '\0' && param[0] != ':' &&
			      !strchr(param, ' '));
	}
}

static int same_message(const struct irc_message *a,
			const struct irc_message *b)
{
	int i;

	if (a->tag_count != b->tag_count || a->param_count != b->param_count ||
	    strcmp(a->command, b->command) != 0 || !a->source != !b->source ||
	    (a->source && strcmp(a->source, b->source) != 0))
		return 0;
	for (i = 0; i < a->tag_count; i++)
		if (strcmp(a->tags[i].key, b->tags[i].key) != 0 ||
		    strcmp(a->tags[i].value, b->tags[i].value) != 0)
			return 0;
	for (i = 0; i < a->param_count; i++)
		if (strcmp(a->params[i], b->params[i]) != 0)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[IRC_INPUT_MAX + 1];
	struct irc_message msg, again;
	struct irc_userhost uh;
	char userhost[IRC_LINE_MAX], ctcp[IRC_LINE_MAX];
	const char *verb, *args;
	enum irc_parse_error err;
	char *buf;
	int len;

	/* Exactly size + 1 bytes, so AddressSanitizer sees any overrun. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	err = irc_message_parse(buf, size, &msg);
	check((unsigned)err < IRC_ERR_COUNT);
	check(irc_parse_error_name(err) != NULL);
	if (err != IRC_PARSE_OK) {
		free(buf);
		return 0;
	}
	check(size > 0 && size <= IRC_INPUT_MAX - 2);
	check_message(&msg, buf, size);

	len = irc_message_format_with_source(
	    line, sizeof(line), msg.tags, msg.tag_count, msg.source,
	    msg.command, msg.param_count, msg.params);
	check(len >= 0 && (size_t)len <= size);
	check(strlen(line) == (size_t)len);
	check(irc_message_parse(line, (size_t)len, &again) == IRC_PARSE_OK);
	check(same_message(&msg, &again));

	if (msg.source) {
		check(irc_userhost_split(msg.source, userhost, sizeof(userhost),
					 &uh) == 0);
		check(uh.nick != NULL);
	}
	if (msg.param_count > 0 &&
	    irc_ctcp_parse(msg.params[msg.param_count - 1], ctcp, sizeof(ctcp),
			   &verb, &args)) {
		check(verb[0] != '\0' && !strchr(verb, ' '));
		check(!strchr(verb, '\x01') && !strchr(args, '\x01'));
	}
	free(buf);
	return 0;
}
