/*
 * test_irc_message.c - the IRC message module against the ircdocs
 * parser-tests vectors (tests/fixtures/irc-parser-tests, read with libyaml)
 * and against our own tables: hostile lines, length limits, CR/LF/NUL,
 * CTCP, casemapping, masks and the text splitter.
 *
 * The fixtures are found under $OPSBOT_FIXTURES (default "tests/fixtures",
 * relative to the repository root, where tests run).
 */
#include "irc_message.h"
#include "../lib/check_main.h"
#include "../lib/utf8_reference.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- ircdocs vectors -------------------------------------------------- */

/*
 * Loads tests/fixtures/irc-parser-tests/<name> into doc and returns its
 * "tests" sequence.  The document is the harness's only state, so each
 * test loads its own file.
 */
static yaml_node_t *vectors_load(const char *name, yaml_document_t *doc)
{
	const char *dir = getenv("OPSBOT_FIXTURES");
	char path[4096];
	yaml_parser_t parser;
	yaml_node_t *root, *tests = NULL;
	yaml_node_pair_t *pair;
	FILE *file;
	int ok;

	if (!dir || !*dir)
		dir = "tests/fixtures";
	snprintf(path, sizeof(path), "%s/irc-parser-tests/%s", dir, name);
	file = fopen(path, "rb");
	ck_assert_msg(file != NULL, "cannot open %s (set OPSBOT_FIXTURES)",
		      path);
	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, file);
	ok = yaml_parser_load(&parser, doc);
	yaml_parser_delete(&parser);
	fclose(file);
	ck_assert_msg(ok, "%s: yaml syntax error", path);

	root = yaml_document_get_root_node(doc);
	ck_assert(root && root->type == YAML_MAPPING_NODE);
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(doc, pair->key);

		if (key->type == YAML_SCALAR_NODE &&
		    strcmp((char *)key->data.scalar.value, "tests") == 0)
			tests = yaml_document_get_node(doc, pair->value);
	}
	ck_assert_msg(tests && tests->type == YAML_SEQUENCE_NODE,
		      "%s: no tests sequence", path);
	return tests;
}

/* The value of key in a mapping node, or NULL: a missing key is absent. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map,
			    const char *key)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *node)
{
	if (!node || node->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)node->data.scalar.value;
}

static int sequence_length(yaml_node_t *node)
{
	if (!node || node->type != YAML_SEQUENCE_NODE)
		return 0;
	return (int)(node->data.sequence.items.top -
		     node->data.sequence.items.start);
}

static yaml_node_t *sequence_item(yaml_document_t *doc, yaml_node_t *node,
				  int i)
{
	return yaml_document_get_node(doc, node->data.sequence.items.start[i]);
}

static int strings_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * Compares a parsed message with an ircdocs atoms mapping, following the
 * upstream harness: missing keys are absent, missing params is an empty
 * list, the verb compares case-insensitively and an empty tag value
 * equals a missing one.  Returns NULL on a match, else what differs.
 */
static const char *atoms_differ(yaml_document_t *doc, yaml_node_t *atoms,
				const struct irc_message *msg)
{
	yaml_node_t *params = map_get(doc, atoms, "params");
	yaml_node_t *tags = map_get(doc, atoms, "tags");
	const char *verb = scalar(map_get(doc, atoms, "verb"));
	int i, tag_count = 0;

	if (!verb || !msg->command || strcasecmp(verb, msg->command) != 0)
		return "verb";
	if (!strings_equal(scalar(map_get(doc, atoms, "source")), msg->source))
		return "source";
	if (sequence_length(params) != msg->param_count)
		return "parameter count";
	for (i = 0; i < msg->param_count; i++)
		if (!strings_equal(scalar(sequence_item(doc, params, i)),
				   msg->params[i]))
			return "parameter";
	if (tags) {
		yaml_node_pair_t *pair;

		for (pair = tags->data.mapping.pairs.start;
		     pair < tags->data.mapping.pairs.top; pair++) {
			const char *key =
			    scalar(yaml_document_get_node(doc, pair->key));
			const char *want =
			    scalar(yaml_document_get_node(doc, pair->value));
			const char *got = irc_message_tag(msg, key);

			if (!got || strcmp(got, want ? want : "") != 0)
				return "tag value";
			tag_count++;
		}
	}
	if (tag_count != msg->tag_count)
		return "tag count";
	return NULL;
}

/* Serializes msg (with its source) and parses the result again. */
static int round_trip_agrees(const struct irc_message *msg)
{
	char line[IRC_INPUT_MAX + 1];
	struct irc_message again;
	int len, i;

	len = irc_message_format_with_source(
	    line, sizeof(line), msg->tags, msg->tag_count, msg->source,
	    msg->command, msg->param_count, msg->params);
	if (len < 0 ||
	    irc_message_parse(line, (size_t)len, &again) != IRC_PARSE_OK)
		return 0;
	if (again.tag_count != msg->tag_count ||
	    again.param_count != msg->param_count ||
	    !strings_equal(again.source, msg->source) ||
	    strcmp(again.command, msg->command) != 0)
		return 0;
	for (i = 0; i < msg->tag_count; i++)
		if (strcmp(again.tags[i].key, msg->tags[i].key) != 0 ||
		    strcmp(again.tags[i].value, msg->tags[i].value) != 0)
			return 0;
	for (i = 0; i < msg->param_count; i++)
		if (strcmp(again.params[i], msg->params[i]) != 0)
			return 0;
	return 1;
}

START_TEST(vectors_msg_split)
{
	yaml_document_t doc;
	yaml_node_t *tests = vectors_load("msg-split.yaml", &doc);
	int total = sequence_length(tests), passed = 0, round_trips = 0;
	int i;

	for (i = 0; i < total; i++) {
		yaml_node_t *test = sequence_item(&doc, tests, i);
		yaml_node_t *input = map_get(&doc, test, "input");
		char line[IRC_INPUT_MAX + 1];
		struct irc_message msg;
		enum irc_parse_error err;
		const char *differs;
		size_t len;

		ck_assert(input && input->type == YAML_SCALAR_NODE);
		len = input->data.scalar.length;
		ck_assert_uint_lt(len, sizeof(line));
		memcpy(line, input->data.scalar.value, len);
		err = irc_message_parse(line, len, &msg);
		if (err != IRC_PARSE_OK) {
			fprintf(stderr, "msg-split %d: %s: %s\n", i,
				input->data.scalar.value,
				irc_parse_error_name(err));
			continue;
		}
		differs =
		    atoms_differ(&doc, map_get(&doc, test, "atoms"), &msg);
		if (differs) {
			fprintf(stderr, "msg-split %d: %s: wrong %s\n", i,
				input->data.scalar.value, differs);
			continue;
		}
		passed++;
		round_trips += round_trip_agrees(&msg);
	}
	printf("msg-split: %d/%d passed, %d/%d round trips agree\n", passed,
	       total, round_trips, total);
	ck_assert_int_eq(total, 35);
	ck_assert_int_eq(passed, total);
	ck_assert_int_eq(round_trips, total);
	yaml_document_delete(&doc);
}
END_TEST

START_TEST(vectors_msg_join)
{
	yaml_document_t doc;
	yaml_node_t *tests = vectors_load("msg-join.yaml", &doc);
	int total = sequence_length(tests), passed = 0, i;

	for (i = 0; i < total; i++) {
		yaml_node_t *test = sequence_item(&doc, tests, i);
		yaml_node_t *atoms = map_get(&doc, test, "atoms");
		yaml_node_t *tags_node = map_get(&doc, atoms, "tags");
		yaml_node_t *params_node = map_get(&doc, atoms, "params");
		yaml_node_t *matches = map_get(&doc, test, "matches");
		struct irc_tag tags[IRC_TAG_COUNT_MAX];
		const char *params[IRC_PARAMS_MAX];
		int tag_count = 0, param_count, j, len;
		char line[IRC_INPUT_MAX + 1];

		if (tags_node) {
			yaml_node_pair_t *pair;

			for (pair = tags_node->data.mapping.pairs.start;
			     pair < tags_node->data.mapping.pairs.top; pair++) {
				tags[tag_count].key = scalar(
				    yaml_document_get_node(&doc, pair->key));
				tags[tag_count].value = scalar(
				    yaml_document_get_node(&doc, pair->value));
				tag_count++;
			}
		}
		param_count = sequence_length(params_node);
		ck_assert_int_le(param_count, IRC_PARAMS_MAX);
		for (j = 0; j < param_count; j++)
			params[j] = scalar(sequence_item(&doc, params_node, j));

		len = irc_message_format_with_source(
		    line, sizeof(line), tags, tag_count,
		    scalar(map_get(&doc, atoms, "source")),
		    scalar(map_get(&doc, atoms, "verb")), param_count, params);
		for (j = 0; len >= 0 && j < sequence_length(matches); j++) {
			if (strcmp(line, scalar(sequence_item(&doc, matches,
							      j))) == 0) {
				passed++;
				break;
			}
		}
		if (len < 0 || j == sequence_length(matches))
			fprintf(stderr, "msg-join %d: got \"%s\" (%d)\n", i,
				line, len);
	}
	printf("msg-join: %d/%d passed\n", passed, total);
	ck_assert_int_eq(total, 18);
	ck_assert_int_eq(passed, total);
	yaml_document_delete(&doc);
}
END_TEST

START_TEST(vectors_userhost_split)
{
	yaml_document_t doc;
	yaml_node_t *tests = vectors_load("userhost-split.yaml", &doc);
	int total = sequence_length(tests), passed = 0, i;

	for (i = 0; i < total; i++) {
		yaml_node_t *test = sequence_item(&doc, tests, i);
		yaml_node_t *atoms = map_get(&doc, test, "atoms");
		const char *source = scalar(map_get(&doc, test, "source"));
		const char *nick = scalar(map_get(&doc, atoms, "nick"));
		const char *user = scalar(map_get(&doc, atoms, "user"));
		const char *host = scalar(map_get(&doc, atoms, "host"));
		struct irc_userhost uh;
		char buf[512];

		/* Upstream: a missing key is an empty string. */
		if (irc_userhost_split(source, buf, sizeof(buf), &uh) == 0 &&
		    strcmp(uh.nick, nick ? nick : "") == 0 &&
		    strcmp(uh.user ? uh.user : "", user ? user : "") == 0 &&
		    strcmp(uh.host ? uh.host : "", host ? host : "") == 0)
			passed++;
		else
			fprintf(stderr, "userhost-split %d: %s\n", i, source);
	}
	printf("userhost-split: %d/%d passed\n", passed, total);
	ck_assert_int_eq(total, 7);
	ck_assert_int_eq(passed, total);
	yaml_document_delete(&doc);
}
END_TEST

START_TEST(vectors_mask_match)
{
	static const enum irc_casemapping maps[] = {
	    IRC_CASEMAP_RFC1459,
	    IRC_CASEMAP_STRICT_RFC1459,
	    IRC_CASEMAP_ASCII,
	};
	yaml_document_t doc;
	yaml_node_t *tests = vectors_load("mask-match.yaml", &doc);
	int matches = 0, fails = 0, passed = 0, m, i, j;

	/* Every vector is case-neutral, so it must hold under any map. */
	for (m = 0; m < 3; m++) {
		for (i = 0; i < sequence_length(tests); i++) {
			yaml_node_t *test = sequence_item(&doc, tests, i);
			const char *mask = scalar(map_get(&doc, test, "mask"));
			yaml_node_t *yes = map_get(&doc, test, "matches");
			yaml_node_t *no = map_get(&doc, test, "fails");

			for (j = 0; j < sequence_length(yes); j++) {
				const char *text =
				    scalar(sequence_item(&doc, yes, j));

				matches++;
				if (irc_mask_match(mask, text, maps[m]) == 1)
					passed++;
				else
					fprintf(stderr, "%s !~ %s\n", mask,
						text);
			}
			for (j = 0; j < sequence_length(no); j++) {
				const char *text =
				    scalar(sequence_item(&doc, no, j));

				fails++;
				if (irc_mask_match(mask, text, maps[m]) == 0)
					passed++;
				else
					fprintf(stderr, "%s =~ %s\n", mask,
						text);
			}
		}
	}
	printf("mask-match: %d/%d assertions passed (%d match + %d fail), "
	       "under each of 3 casemappings\n",
	       passed / 3, (matches + fails) / 3, matches / 3, fails / 3);
	ck_assert_int_eq(matches / 3, 14);
	ck_assert_int_eq(fails / 3, 12);
	ck_assert_int_eq(passed, matches + fails);
	yaml_document_delete(&doc);
}
END_TEST

/* ---- parser: our own vectors ------------------------------------------ */

/* Parses len bytes of s (which may hold NUL) from a private copy. */
static enum irc_parse_error parse_bytes(const char *s, size_t len,
					struct irc_message *msg, char *buf)
{
	memcpy(buf, s, len);
	return irc_message_parse(buf, len, msg);
}

#define LINE(s) s, sizeof(s) - 1

static const struct hostile_line {
	const char *line;
	size_t len;
	enum irc_parse_error want;
} hostile_lines[] = {
    {LINE(""), IRC_ERR_LINE_EMPTY},
    {LINE(" "), IRC_ERR_LINE_EMPTY},
    {LINE("      "), IRC_ERR_LINE_EMPTY},
    /* Truncated verbs parse; too few parameters is the caller's call. */
    {LINE("N"), IRC_PARSE_OK},
    {LINE("NOT"), IRC_PARSE_OK},
    {LINE("PRIV"), IRC_PARSE_OK},
    {LINE("NOTICE"), IRC_PARSE_OK},
    {LINE("PRIVMSG"), IRC_PARSE_OK},
    {LINE(":srv NOTICE"), IRC_PARSE_OK},
    {LINE(":srv PRIVMSG #c"), IRC_PARSE_OK},
    {LINE("  PING x"), IRC_PARSE_OK},
    {LINE("001 bot :Welcome"), IRC_PARSE_OK},
    {LINE("PRIVMSG #c :\x01"), IRC_PARSE_OK},
    {LINE("PRIVMSG #c :\x01\x01"), IRC_PARSE_OK},
    {LINE("PRIVMSG #c :\x01VERSION"), IRC_PARSE_OK},
    {LINE("PRIVMSG #c :\xff\xfe\xc0\x80\xed\xa0\x80"), IRC_PARSE_OK},
    {LINE("PRIVMSG #c :\xe2\x80\xa8JOIN #x"), IRC_PARSE_OK},
    {LINE("@+draft/reply=1;+typing=active PRIVMSG #c :x"), IRC_PARSE_OK},
    {LINE("@a=\\ PING"), IRC_PARSE_OK},
    {LINE(":srv"), IRC_ERR_COMMAND_MISSING},
    {LINE(":srv "), IRC_ERR_COMMAND_MISSING},
    {LINE(":srv    "), IRC_ERR_COMMAND_MISSING},
    {LINE("@a"), IRC_ERR_COMMAND_MISSING},
    {LINE("@a "), IRC_ERR_COMMAND_MISSING},
    {LINE("@a=b   "), IRC_ERR_COMMAND_MISSING},
    {LINE("@a=b :srv"), IRC_ERR_COMMAND_MISSING},
    {LINE("@a=b :srv "), IRC_ERR_COMMAND_MISSING},
    {LINE(":"), IRC_ERR_SOURCE_EMPTY},
    {LINE(": NOTICE x"), IRC_ERR_SOURCE_EMPTY},
    {LINE("@a :"), IRC_ERR_SOURCE_EMPTY},
    {LINE("@"), IRC_ERR_INVALID_TAG},
    {LINE("@ "), IRC_ERR_INVALID_TAG},
    {LINE("@ PING x"), IRC_ERR_INVALID_TAG},
    {LINE("@a;;b PING"), IRC_ERR_INVALID_TAG},
    {LINE("@a; PING"), IRC_ERR_INVALID_TAG},
    {LINE("@=v PING"), IRC_ERR_INVALID_TAG},
    {LINE("@;a PING"), IRC_ERR_INVALID_TAG},
    {LINE("\0"), IRC_ERR_BAD_CHAR},
    {LINE("\r"), IRC_ERR_BAD_CHAR},
    {LINE("\n"), IRC_ERR_BAD_CHAR},
    {LINE("PING\0x"), IRC_ERR_BAD_CHAR},
    {LINE("PING :a\0b"), IRC_ERR_BAD_CHAR},
    {LINE("PRIVMSG #c :hi\rJOIN #x"), IRC_ERR_BAD_CHAR},
    {LINE("PRIVMSG #c :hi\nPART #c"), IRC_ERR_BAD_CHAR},
    {LINE("PRIVMSG #c :hi\r\nQUIT"), IRC_ERR_BAD_CHAR},
    {LINE("PRIVMSG #c\r :x"), IRC_ERR_BAD_CHAR},
    {LINE("PRIVMSG #c\n"), IRC_ERR_BAD_CHAR},
    {LINE("PI\rNG"), IRC_ERR_BAD_CHAR},
    {LINE(":sr\0c PING"), IRC_ERR_BAD_CHAR},
    {LINE(":\r PING"), IRC_ERR_BAD_CHAR},
    {LINE("@a=b\rc PING"), IRC_ERR_BAD_CHAR},
    {LINE("@a\n PING"), IRC_ERR_BAD_CHAR},
    {LINE("@\r PING"), IRC_ERR_BAD_CHAR},
    {LINE("@a=\\\r PING"), IRC_ERR_BAD_CHAR},
    {LINE("12 x"), IRC_ERR_COMMAND_INVALID},
    {LINE("1234 x"), IRC_ERR_COMMAND_INVALID},
    {LINE("PRIV1 x"), IRC_ERR_COMMAND_INVALID},
    {LINE("PRIV-MSG x"), IRC_ERR_COMMAND_INVALID},
    {LINE("\x01PING"), IRC_ERR_COMMAND_INVALID},
    {LINE("PRIVMSG\t#c :x"), IRC_ERR_COMMAND_INVALID},
    {LINE(":srv :PING"), IRC_ERR_COMMAND_INVALID},
    {LINE("P\xc3\x8fNG"), IRC_ERR_COMMAND_INVALID},
};

START_TEST(parse_hostile_lines)
{
	size_t i;

	for (i = 0; i < sizeof(hostile_lines) / sizeof(hostile_lines[0]); i++) {
		const struct hostile_line *h = &hostile_lines[i];
		struct irc_message msg;
		char buf[64];
		enum irc_parse_error err;

		err = parse_bytes(h->line, h->len, &msg, buf);
		ck_assert_msg(err == h->want, "line %zu: got %s, want %s", i,
			      irc_parse_error_name(err),
			      irc_parse_error_name(h->want));
	}
}
END_TEST

/*
 * Every prefix of a set of valid lines, and every one of their bytes
 * replaced by NUL, CR or LF: all must end in a named result, and a bad
 * byte must always be reported as such, wherever it is.
 */
START_TEST(parse_generated_lines)
{
	static const char *const lines[] = {
	    ("@time=2023-01-01T00:00:00.000Z;account=alice "
	     ":alice!~a@example.org PRIVMSG #opsbot :!ping now"),
	    ":irc.example.net 001 opsbot :Welcome to the network",
	    "@a=b\\\\c\\:d\\s;+x;v/y= :s!u@h NOTICE a b c :d e f",
	    ":n!u@h MODE #c +ov a b",
	    "PING :12345",
	};
	int prefixes = 0, corrupted = 0;
	size_t l;

	for (l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		size_t len = strlen(lines[l]), i;
		char buf[256];
		struct irc_message msg;

		for (i = 0; i <= len; i++) {
			enum irc_parse_error err;

			err = parse_bytes(lines[l], i, &msg, buf);
			ck_assert_int_lt(err, IRC_ERR_COUNT);
			if (err == IRC_PARSE_OK)
				ck_assert(round_trip_agrees(&msg));
			prefixes++;
		}
		for (i = 0; i < len; i++) {
			static const char bad[] = {'\0', '\r', '\n'};
			size_t b;

			for (b = 0; b < sizeof(bad); b++) {
				memcpy(buf, lines[l], len);
				buf[i] = bad[b];
				ck_assert_msg(
				    irc_message_parse(buf, len, &msg) ==
					IRC_ERR_BAD_CHAR,
				    "line %zu byte %zu", l, i);
				corrupted++;
			}
		}
	}
	printf("generated lines: %d prefixes, %d with NUL/CR/LF inserted, "
	       "%zu hand-written\n",
	       prefixes, corrupted,
	       sizeof(hostile_lines) / sizeof(hostile_lines[0]));
}
END_TEST

START_TEST(parse_fields)
{
	char buf[256];
	struct irc_message msg;

	ck_assert_int_eq(
	    parse_bytes(LINE("@a=1;b;c=x\\sy;a=2 "
			     ":nick!u@h  PRIVMSG   #c  :hi there "),
			&msg, buf),
	    IRC_PARSE_OK);
	ck_assert_int_eq(msg.tag_count, 3);
	ck_assert_str_eq(msg.tags[0].key, "a");
	ck_assert_str_eq(msg.tags[0].value, "2");
	ck_assert_str_eq(irc_message_tag(&msg, "b"), "");
	ck_assert_str_eq(irc_message_tag(&msg, "c"), "x y");
	ck_assert_ptr_null(irc_message_tag(&msg, "d"));
	ck_assert_str_eq(msg.source, "nick!u@h");
	ck_assert_str_eq(msg.command, "PRIVMSG");
	ck_assert_int_eq(msg.param_count, 2);
	ck_assert_str_eq(msg.params[0], "#c");
	ck_assert_str_eq(msg.params[1], "hi there ");

	/* Bytes that are not UTF-8 are passed on untouched. */
	ck_assert_int_eq(
	    parse_bytes(LINE("PRIVMSG #c :\xff\xc0\x80"), &msg, buf),
	    IRC_PARSE_OK);
	ck_assert_str_eq(msg.params[1], "\xff\xc0\x80");
	ck_assert_ptr_null(msg.source);
	ck_assert_int_eq(msg.tag_count, 0);
}
END_TEST

/* "CMD p p p ..." with n middle parameters, then tail. */
static size_t params_line(char *buf, int n, const char *tail)
{
	size_t len = 0;
	int i;

	memcpy(buf, "CMD", 3);
	len = 3;
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, 16, " p%d", i);
	len += (size_t)snprintf(buf + len, 64, "%s", tail);
	return len;
}

START_TEST(parse_param_count)
{
	char buf[512];
	struct irc_message msg;
	size_t len;

	len = params_line(buf, 32, "");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg), IRC_PARSE_OK);
	ck_assert_int_eq(msg.param_count, 32);
	ck_assert_str_eq(msg.params[31], "p31");

	len = params_line(buf, 32, "   ");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg), IRC_PARSE_OK);

	len = params_line(buf, 31, " :last one");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg), IRC_PARSE_OK);
	ck_assert_str_eq(msg.params[31], "last one");

	len = params_line(buf, 33, "");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg),
			 IRC_ERR_TOO_MANY_PARAMS);
	len = params_line(buf, 32, " :trailing");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg),
			 IRC_ERR_TOO_MANY_PARAMS);
	len = params_line(buf, 40, "");
	ck_assert_int_eq(irc_message_parse(buf, len, &msg),
			 IRC_ERR_TOO_MANY_PARAMS);
}
END_TEST

START_TEST(parse_tag_count)
{
	char buf[1024];
	struct irc_message msg;
	size_t len = 0;
	int i;

	buf[len++] = '@';
	for (i = 0; i < 64; i++)
		len += (size_t)snprintf(buf + len, 16, "%sk%d=%d", i ? ";" : "",
					i, i);
	memcpy(buf + len, " PING", 5);
	ck_assert_int_eq(irc_message_parse(buf, len + 5, &msg), IRC_PARSE_OK);
	ck_assert_int_eq(msg.tag_count, 64);
	ck_assert_str_eq(irc_message_tag(&msg, "k63"), "63");

	/* The parse above wrote NULs into buf: build the line again. */
	len = 0;
	buf[len++] = '@';
	for (i = 0; i < 65; i++)
		len += (size_t)snprintf(buf + len, 16, "%sk%d=%d", i ? ";" : "",
					i, i);
	memcpy(buf + len, " PING", 5);
	ck_assert_int_eq(irc_message_parse(buf, len + 5, &msg),
			 IRC_ERR_TOO_MANY_TAGS);

	/* 65 copies of one key: repeats count against the limit too. */
	len = 0;
	buf[len++] = '@';
	for (i = 0; i < 65; i++)
		len +=
		    (size_t)snprintf(buf + len, 16, "%sk=%d", i ? ";" : "", i);
	memcpy(buf + len, " PING", 5);
	ck_assert_int_eq(irc_message_parse(buf, len + 5, &msg),
			 IRC_ERR_TOO_MANY_TAGS);
}
END_TEST

/*
 * A line of total bytes: an optional tag section of tags_len bytes
 * ("@k=vvv... "), then "PRIVMSG #c :xxx...".  buf needs total + 1 bytes.
 */
static void long_line(char *buf, size_t tags_len, size_t total)
{
	size_t body;

	memset(buf, 'x', total);
	if (tags_len) {
		memcpy(buf, "@k=", 3);
		buf[tags_len - 1] = ' ';
	}
	body = total - tags_len;
	if (body >= 12)
		memcpy(buf + tags_len, "PRIVMSG #c :", 12);
}

START_TEST(parse_lengths)
{
	static const struct {
		size_t tags_len, total;
		enum irc_parse_error want;
	} cases[] = {
	    {0, 510, IRC_PARSE_OK},
	    {0, 511, IRC_ERR_BODY_TOO_LONG},
	    {0, 512, IRC_ERR_BODY_TOO_LONG},
	    {0, 513, IRC_ERR_BODY_TOO_LONG},
	    {0, 1024, IRC_ERR_BODY_TOO_LONG},
	    {0, 8703, IRC_ERR_BODY_TOO_LONG},
	    {0, 65536, IRC_ERR_BODY_TOO_LONG},
	    {8191, 8191 + 510, IRC_PARSE_OK},
	    {8191, 8191 + 511, IRC_ERR_BODY_TOO_LONG},
	    {8191, 8703, IRC_ERR_BODY_TOO_LONG},
	    {8192, 8192 + 100, IRC_ERR_TAGS_TOO_LONG},
	    {8192, 8703, IRC_ERR_TAGS_TOO_LONG},
	    {60000, 65536, IRC_ERR_TAGS_TOO_LONG},
	    {100, 1024, IRC_ERR_BODY_TOO_LONG},
	};
	static char buf[65537];
	struct irc_message msg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum irc_parse_error err;

		long_line(buf, cases[i].tags_len, cases[i].total);
		err = irc_message_parse(buf, cases[i].total, &msg);
		ck_assert_msg(err == cases[i].want, "case %zu: %s", i,
			      irc_parse_error_name(err));
	}

	/* 8192 bytes of tags with no space at all, and 65536 of them. */
	memset(buf, 'a', sizeof(buf));
	buf[0] = '@';
	ck_assert_int_eq(irc_message_parse(buf, 8192, &msg),
			 IRC_ERR_TAGS_TOO_LONG);
	memset(buf, 'a', sizeof(buf));
	buf[0] = '@';
	ck_assert_int_eq(irc_message_parse(buf, 65536, &msg),
			 IRC_ERR_TAGS_TOO_LONG);
	/* 65536 spaces are still only an empty line, or too long. */
	memset(buf, ' ', sizeof(buf));
	ck_assert_int_eq(irc_message_parse(buf, 510, &msg), IRC_ERR_LINE_EMPTY);
	memset(buf, ' ', sizeof(buf));
	ck_assert_int_eq(irc_message_parse(buf, 65536, &msg),
			 IRC_ERR_BODY_TOO_LONG);
}
END_TEST

START_TEST(parse_error_names)
{
	int i, j;

	for (i = 0; i < IRC_ERR_COUNT; i++) {
		const char *name = irc_parse_error_name(i);

		ck_assert_ptr_nonnull(name);
		ck_assert_str_ne(name, "unknown error");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(name, irc_parse_error_name(j));
	}
	ck_assert_str_eq(irc_parse_error_name(IRC_ERR_COUNT), "unknown error");
	ck_assert_str_eq(irc_parse_error_name(-1), "unknown error");
}
END_TEST

/* ---- serializer -------------------------------------------------------- */

static int format2(char *out, size_t size, const char *command, const char *p1,
		   const char *p2)
{
	const char *params[] = {p1, p2};

	return irc_message_format(out, size, NULL, 0, command, 2, params);
}

START_TEST(format_refuses_line_breaks)
{
	static const char *const injections[] = {
	    "hi\r\nQUIT :bye",
	    "hi\rJOIN #x",
	    "hi\nPART #c",
	    "\r",
	    "\n",
	    "\r\n",
	    "x\r",
	    "x\n",
	};
	struct irc_tag tag = {"k", "v"};
	const char *params[] = {"#c", "ok"};
	char out[512];
	size_t i;

	for (i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
		const char *bad = injections[i];

		ck_assert_int_eq(
		    format2(out, sizeof(out), "PRIVMSG", "#c", bad), -1);
		ck_assert_str_eq(out, "");
		ck_assert_int_eq(
		    format2(out, sizeof(out), "PRIVMSG", bad, "text"), -1);
		tag.key = bad;
		ck_assert_int_eq(irc_message_format(out, sizeof(out), &tag, 1,
						    "PRIVMSG", 2, params),
				 -1);
		ck_assert_int_eq(
		    irc_message_format_with_source(out, sizeof(out), NULL, 0,
						   bad, "PRIVMSG", 2, params),
		    -1);
	}
	ck_assert_int_eq(irc_message_format(out, sizeof(out), NULL, 0,
					    "PRIVMSG\r", 2, params),
			 -1);

	/* A NUL ends a C string: the rest can never reach the wire. */
	ck_assert_int_eq(
	    format2(out, sizeof(out), "PRIVMSG", "#c", "hi\0JOIN #x"),
	    (int)strlen("PRIVMSG #c hi"));
	ck_assert_str_eq(out, "PRIVMSG #c hi");

	/* Tag values carry CR and LF escaped, never raw. */
	tag.key = "k";
	tag.value = "a\r\nb; c\\";
	ck_assert_int_gt(
	    irc_message_format(out, sizeof(out), &tag, 1, "PRIVMSG", 2, params),
	    0);
	ck_assert_str_eq(out, "@k=a\\r\\nb\\:\\sc\\\\ PRIVMSG #c ok");
}
END_TEST

START_TEST(format_param_rules)
{
	static const struct {
		const char *p1, *p2, *want;
	} cases[] = {
	    {"#c", "word", "PRIVMSG #c word"},
	    {"#c", "two words", "PRIVMSG #c :two words"},
	    {"#c", "", "PRIVMSG #c :"},
	    {"#c", ":colon", "PRIVMSG #c ::colon"},
	    {"#c", " lead", "PRIVMSG #c : lead"},
	    {"#c", "trail ", "PRIVMSG #c :trail "},
	    {"#c", "a:b", "PRIVMSG #c a:b"},
	    {"b\tar", "x", "PRIVMSG b\tar x"},
	    {"#c", "\x01VERSION\x01", "PRIVMSG #c \x01VERSION\x01"},
	    {"", "x", NULL},
	    {"#c d", "x", NULL},
	    {":#c", "x", NULL},
	    {" ", "x", NULL},
	};
	char out[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int len = format2(out, sizeof(out), "PRIVMSG", cases[i].p1,
				  cases[i].p2);

		if (!cases[i].want) {
			ck_assert_msg(len == -1, "case %zu accepted", i);
			continue;
		}
		ck_assert_msg(len >= 0, "case %zu refused", i);
		ck_assert_str_eq(out, cases[i].want);
		ck_assert_int_eq(len, (int)strlen(cases[i].want));
	}
}
END_TEST

START_TEST(format_limits)
{
	const char *params[IRC_PARAMS_MAX + 1];
	struct irc_tag tags[IRC_TAG_COUNT_MAX + 1];
	char out[1024];
	int i;

	/* Verbs: letters, or exactly three digits. */
	ck_assert_int_eq(format2(out, sizeof(out), "001", "a", "b"), 7);
	ck_assert_int_eq(format2(out, sizeof(out), "privmsg", "a", "b"), 11);
	ck_assert_int_eq(format2(out, sizeof(out), "", "a", "b"), -1);
	ck_assert_int_eq(format2(out, sizeof(out), "01", "a", "b"), -1);
	ck_assert_int_eq(format2(out, sizeof(out), "0001", "a", "b"), -1);
	ck_assert_int_eq(format2(out, sizeof(out), "PRIV MSG", "a", "b"), -1);
	ck_assert_int_eq(format2(out, sizeof(out), "PRIV1", "a", "b"), -1);
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), NULL, 0, NULL, 0, NULL), -1);
	ck_assert_int_eq(format2(out, sizeof(out), "PRIVMSG", NULL, "b"), -1);

	/* Exactly fitting, and one byte short. */
	ck_assert_int_eq(format2(out, 17, "PRIVMSG", "#c", "hello"), 16);
	ck_assert_int_eq(format2(out, 16, "PRIVMSG", "#c", "hello"), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(format2(out, 1, "PRIVMSG", "#c", "hello"), -1);
	ck_assert_int_eq(format2(out, 0, "PRIVMSG", "#c", "hello"), -1);

	for (i = 0; i <= IRC_PARAMS_MAX; i++)
		params[i] = "p";
	ck_assert_int_gt(irc_message_format(out, sizeof(out), NULL, 0, "CMD",
					    IRC_PARAMS_MAX, params),
			 0);
	ck_assert_int_eq(irc_message_format(out, sizeof(out), NULL, 0, "CMD",
					    IRC_PARAMS_MAX + 1, params),
			 -1);
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), NULL, 0, "CMD", -1, params),
	    -1);

	for (i = 0; i <= IRC_TAG_COUNT_MAX; i++) {
		tags[i].key = "k";
		tags[i].value = NULL;
	}
	ck_assert_int_gt(irc_message_format(out, sizeof(out), tags,
					    IRC_TAG_COUNT_MAX, "CMD", 0, NULL),
			 0);
	ck_assert_int_eq(irc_message_format(out, sizeof(out), tags,
					    IRC_TAG_COUNT_MAX + 1, "CMD", 0,
					    NULL),
			 -1);
	tags[0].key = "";
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), tags, 1, "CMD", 0, NULL), -1);
	tags[0].key = "a=b";
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), tags, 1, "CMD", 0, NULL), -1);
	tags[0].key = "a;b";
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), tags, 1, "CMD", 0, NULL), -1);
	tags[0].key = "a b";
	ck_assert_int_eq(
	    irc_message_format(out, sizeof(out), tags, 1, "CMD", 0, NULL), -1);
	ck_assert_int_eq(irc_message_format_with_source(out, sizeof(out), NULL,
							0, "", "CMD", 0, NULL),
			 -1);
	ck_assert_int_eq(irc_message_format_with_source(
			     out, sizeof(out), NULL, 0, "a b", "CMD", 0, NULL),
			 -1);
}
END_TEST

/* ---- CTCP -------------------------------------------------------------- */

START_TEST(ctcp_edges)
{
	static const struct {
		const char *text, *verb, *args;
	} cases[] = {
	    {"\x01VERSION\x01", "VERSION", ""},
	    {"\x01VERSION", "VERSION", ""},
	    {"\x01PING 1234\x01", "PING", "1234"},
	    {"\x01PING 1234", "PING", "1234"},
	    {"\x01"
	     "ACTION waves hello\x01",
	     "ACTION", "waves hello"},
	    {"\x01"
	     "ACTION waves\x01 junk",
	     "ACTION", "waves"},
	    {"\x01PING  x\x01", "PING", " x"},
	    {"\x01PING \x01", "PING", ""},
	    {"\x01", NULL, NULL},
	    {"\x01\x01", NULL, NULL},
	    {"\x01\x01\x01", NULL, NULL},
	    {"\x01 PING\x01", NULL, NULL},
	    {"hi \x01VERSION\x01", NULL, NULL},
	    {"", NULL, NULL},
	    {"plain text", NULL, NULL},
	};
	const char *verb, *args;
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int is_ctcp = irc_ctcp_parse(cases[i].text, buf, sizeof(buf),
					     &verb, &args);

		ck_assert_msg(is_ctcp == (cases[i].verb != NULL), "case %zu",
			      i);
		if (!is_ctcp)
			continue;
		ck_assert_str_eq(verb, cases[i].verb);
		ck_assert_str_eq(args, cases[i].args);
	}

	/* Does not fit: refused, never truncated. */
	ck_assert_int_eq(
	    irc_ctcp_parse("\x01PING 123456\x01", buf, 11, &verb, &args), 0);
	ck_assert_int_eq(
	    irc_ctcp_parse("\x01PING 123456\x01", buf, 12, &verb, &args), 1);
	ck_assert_int_eq(irc_ctcp_parse("\x01PING\x01", buf, 0, &verb, &args),
			 0);
	ck_assert_int_eq(irc_ctcp_parse(NULL, buf, sizeof(buf), &verb, &args),
			 0);
}
END_TEST

/* ---- casemapping and masks --------------------------------------------- */

START_TEST(casemapping)
{
	static const char capitals[] = "ABCXYZ[\\]^";
	static const char rfc1459[] = "abcxyz{|}~";
	static const char strict[] = "abcxyz{|}^";
	static const char ascii[] = "abcxyz[\\]^";
	size_t i;
	int c;

	for (i = 0; i < sizeof(capitals) - 1; i++) {
		ck_assert_int_eq(irc_tolower(capitals[i], IRC_CASEMAP_RFC1459),
				 rfc1459[i]);
		ck_assert_int_eq(
		    irc_tolower(capitals[i], IRC_CASEMAP_STRICT_RFC1459),
		    strict[i]);
		ck_assert_int_eq(irc_tolower(capitals[i], IRC_CASEMAP_ASCII),
				 ascii[i]);
	}
	/* Small letters, other bytes, bytes above 127 and EOF stay. */
	for (c = -1; c < 256; c++) {
		if ((c >= 'A' && c <= 'Z') || c == '[' || c == '\\' ||
		    c == ']' || c == '^')
			continue;
		ck_assert_int_eq(irc_tolower(c, IRC_CASEMAP_RFC1459), c);
	}

	ck_assert_int_eq(
	    irc_casecmp("Nick[]\\^", "nick{}|~", IRC_CASEMAP_RFC1459), 0);
	ck_assert_int_ne(
	    irc_casecmp("Nick[]\\^", "nick{}|~", IRC_CASEMAP_STRICT_RFC1459),
	    0);
	ck_assert_int_eq(
	    irc_casecmp("Nick[]\\", "nick{}|", IRC_CASEMAP_STRICT_RFC1459), 0);
	ck_assert_int_ne(irc_casecmp("Nick[]", "nick{}", IRC_CASEMAP_ASCII), 0);
	ck_assert_int_eq(irc_casecmp("#OpsBot", "#opsbot", IRC_CASEMAP_ASCII),
			 0);
	ck_assert_int_lt(irc_casecmp("a", "B", IRC_CASEMAP_ASCII), 0);
	ck_assert_int_gt(irc_casecmp("ab", "A", IRC_CASEMAP_ASCII), 0);
	ck_assert_int_lt(irc_casecmp("", "a", IRC_CASEMAP_ASCII), 0);
	ck_assert_int_eq(irc_casecmp("", "", IRC_CASEMAP_ASCII), 0);
	/* Non-ASCII bytes compare exactly. */
	ck_assert_int_ne(
	    irc_casecmp("\xc3\x89", "\xc3\xa9", IRC_CASEMAP_RFC1459), 0);
}
END_TEST

START_TEST(mask_match_casemapping)
{
	static const struct {
		const char *mask, *text;
		int rfc1459, strict, ascii;
	} cases[] = {
	    {"*!*@Host.Example", "nick!u@host.example", 1, 1, 1},
	    {"Nick[A]!*@*", "nick{a}!u@h", 1, 1, 0},
	    {"n^ck!*@*", "N~CK!u@h", 1, 0, 0},
	    {"n\\ck!*@*", "N|CK!u@h", 1, 1, 0},
	    {"*", "", 1, 1, 1},
	    {"", "", 1, 1, 1},
	    {"", "a", 0, 0, 0},
	    {"?", "", 0, 0, 0},
	    {"?", "\xc3\xa9", 0, 0, 0},
	    {"??", "\xc3\xa9", 1, 1, 1},
	    {"**", "abc", 1, 1, 1},
	    {"a*b*c", "aXbYc", 1, 1, 1},
	    {"a*b*c", "aXbYcZ", 0, 0, 0},
	    {"*a", "ba", 1, 1, 1},
	    {"a*", "ab", 1, 1, 1},
	    {"*?", "", 0, 0, 0},
	    {"*?*", "x", 1, 1, 1},
	    {"\\*", "\\x", 1, 1, 1},
	    {"\\*", "x", 0, 0, 0},
	    {"[a]", "a", 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(irc_mask_match(cases[i].mask, cases[i].text,
					     IRC_CASEMAP_RFC1459) ==
				  cases[i].rfc1459,
			      "case %zu rfc1459", i);
		ck_assert_msg(irc_mask_match(cases[i].mask, cases[i].text,
					     IRC_CASEMAP_STRICT_RFC1459) ==
				  cases[i].strict,
			      "case %zu strict-rfc1459", i);
		ck_assert_msg(irc_mask_match(cases[i].mask, cases[i].text,
					     IRC_CASEMAP_ASCII) ==
				  cases[i].ascii,
			      "case %zu ascii", i);
	}
}
END_TEST

/* A mask built to make backtracking matchers take exponential time. */
START_TEST(mask_match_hostile)
{
	static char text[4097];
	char mask[43];
	int i;

	memset(text, 'a', sizeof(text) - 1);
	/* "*a" twenty times, then "*b" */
	for (i = 0; i < 21; i++)
		memcpy(mask + 2 * i, i < 20 ? "*a" : "*b", 2);
	mask[42] = '\0';
	ck_assert_int_eq(irc_mask_match(mask, text, IRC_CASEMAP_RFC1459), 0);
	mask[41] = 'a';
	ck_assert_int_eq(irc_mask_match(mask, text, IRC_CASEMAP_RFC1459), 1);
}
END_TEST

START_TEST(userhost_limits)
{
	struct irc_userhost uh;
	char buf[8];

	ck_assert_int_eq(irc_userhost_split("n!u@h", buf, 6, &uh), 0);
	ck_assert_str_eq(uh.nick, "n");
	ck_assert_str_eq(uh.user, "u");
	ck_assert_str_eq(uh.host, "h");
	ck_assert_int_eq(irc_userhost_split("n!u@h", buf, 5, &uh), -1);
	ck_assert_int_eq(irc_userhost_split("", buf, sizeof(buf), &uh), 0);
	ck_assert_str_eq(uh.nick, "");
	ck_assert_ptr_null(uh.user);
	ck_assert_ptr_null(uh.host);
	ck_assert_int_eq(irc_userhost_split("a@b!c", buf, sizeof(buf), &uh), 0);
	ck_assert_str_eq(uh.nick, "a");
	ck_assert_ptr_null(uh.user);
	ck_assert_str_eq(uh.host, "b!c");
	ck_assert_int_eq(irc_userhost_split(NULL, buf, sizeof(buf), &uh), -1);
}
END_TEST

/* ---- text splitter ----------------------------------------------------- */

#define CHUNKS_MAX 64

struct chunks {
	int count;
	int stop_after; /* 0: never stop */
	size_t len[CHUNKS_MAX];
	char data[CHUNKS_MAX][IRC_LINE_MAX + 1];
};

static int collect_chunk(const char *chunk, size_t len, void *data)
{
	struct chunks *c = data;

	ck_assert_int_lt(c->count, CHUNKS_MAX);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, IRC_LINE_MAX);
	memcpy(c->data[c->count], chunk, len);
	c->data[c->count][len] = '\0';
	c->len[c->count] = len;
	c->count++;
	return c->stop_after && c->count == c->stop_after;
}

static struct chunks *split(const char *text, size_t len, size_t max)
{
	static struct chunks c;
	int n;

	memset(&c, 0, sizeof(c));
	n = irc_text_split(text, len, max, collect_chunk, &c);
	ck_assert_int_eq(n, c.count);
	return &c;
}

#define SPLIT(s, max) split(s, sizeof(s) - 1, max)

START_TEST(split_tiny_max)
{
	static const char text[] = "abcdefghijklmnopqrstuvwxyz";
	struct chunks *c;
	size_t max;

	/* Any budget under 16 is 16: a chunk always makes progress. */
	for (max = 0; max <= 16; max++) {
		c = SPLIT(text, max);
		ck_assert_int_eq(c->count, 2);
		ck_assert_str_eq(c->data[0], "abcdefghijklmnop");
		ck_assert_str_eq(c->data[1], "qrstuvwxyz");
	}
	/* Above a line's worth it is a line's worth. */
	{
		static char big[2000];

		memset(big, 'x', sizeof(big));
		c = split(big, sizeof(big), 100000);
		ck_assert_int_eq(c->count, 4);
		ck_assert_uint_eq(c->len[0], IRC_LINE_MAX);
		ck_assert_uint_eq(c->len[3], 2000 - 3 * IRC_LINE_MAX);
	}
}
END_TEST

START_TEST(split_multibyte_straddling)
{
	struct chunks *c;

	/* 15 bytes, then a 2-byte character over the 16-byte limit. */
	c = SPLIT("aaaaaaaaaaaaaaa\xc3\xa9", 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_str_eq(c->data[0], "aaaaaaaaaaaaaaa");
	ck_assert_str_eq(c->data[1], "\xc3\xa9");

	/* The same with a 3-byte character at 14, 15 and 16. */
	c = SPLIT("aaaaaaaaaaaaaa\xe2\x82\xac", 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_uint_eq(c->len[0], 14);
	c = SPLIT("aaaaaaaaaaaaa\xe2\x82\xac", 16);
	ck_assert_int_eq(c->count, 1);
	c = SPLIT("aaaaaaaaaaaaaaaa\xe2\x82\xac", 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_uint_eq(c->len[0], 16);

	/* Exactly max bytes is one chunk; one more byte is two. */
	c = SPLIT("0123456789abcdef", 16);
	ck_assert_int_eq(c->count, 1);
	c = SPLIT("0123456789abcdefg", 16);
	ck_assert_int_eq(c->count, 2);
}
END_TEST

START_TEST(split_emoji)
{
	/* Ten 4-byte emoji (U+1F600). */
	static const char emoji[] = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
				    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
				    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
				    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
				    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80";
	size_t max;

	for (max = 16; max <= 24; max++) {
		struct chunks *c = SPLIT(emoji, max);
		int i;

		for (i = 0; i < c->count; i++) {
			ck_assert_uint_eq(c->len[i] % 4, 0);
			ck_assert_uint_le(c->len[i], max);
			ck_assert(utf8_reference_valid(c->data[i], c->len[i]));
		}
		ck_assert_uint_eq(c->len[0], max / 4 * 4);
	}
}
END_TEST

START_TEST(split_combining_marks)
{
	/* "e" + U+0301 six times: 18 bytes.  Cutting at 16 would leave the
	 * accent of the sixth e alone at the start of the next chunk. */
	static const char accents[] = "e\xcc\x81"
				      "e\xcc\x81"
				      "e\xcc\x81"
				      "e\xcc\x81"
				      "e\xcc\x81"
				      "e\xcc\x81";
	/* Man, ZWJ, woman, ZWJ, girl: one family glyph of 18 bytes. */
	static const char family[] = "abcdefghijklmn"
				     "\xf0\x9f\x91\xa8\xe2\x80\x8d"
				     "\xf0\x9f\x91\xa9\xe2\x80\x8d"
				     "\xf0\x9f\x91\xa7";
	struct chunks *c;
	int i;

	c = SPLIT(accents, 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_uint_eq(c->len[0], 15);
	ck_assert_uint_eq(c->len[1], 3);
	ck_assert_str_eq(c->data[1], "e\xcc\x81");

	/* The glyph goes to a chunk of its own rather than being cut. */
	c = SPLIT(family, 24);
	ck_assert_int_eq(c->count, 2);
	ck_assert_str_eq(c->data[0], "abcdefghijklmn");
	ck_assert_uint_eq(c->len[1], 18);

	/* Where it cannot fit, it is still cut only between characters. */
	c = SPLIT(family, 16);
	for (i = 0; i < c->count; i++)
		ck_assert(utf8_reference_valid(c->data[i], c->len[i]));

	/* Nothing but marks: there is no good place, so any boundary. */
	{
		static char marks[60];

		for (i = 0; i < 30; i++)
			memcpy(marks + 2 * i, "\xcc\x81", 2);
		c = split(marks, sizeof(marks), 17);
		ck_assert_uint_eq(c->len[0], 16);
		for (i = 0; i < c->count; i++)
			ck_assert(utf8_reference_valid(c->data[i], c->len[i]));
	}
}
END_TEST

START_TEST(split_line_breaks)
{
	struct chunks *c;

	c = SPLIT("\r\n\r\n\n\r\r\r\n", 400);
	ck_assert_int_eq(c->count, 0);
	c = SPLIT("", 400);
	ck_assert_int_eq(c->count, 0);
	c = SPLIT("\0\x01\0", 400);
	ck_assert_int_eq(c->count, 0);
	c = SPLIT("\r\n\0\n\x01\r", 400);
	ck_assert_int_eq(c->count, 0);

	c = SPLIT("a\r\nb\rc\nd\n\ne\r\n", 400);
	ck_assert_int_eq(c->count, 5);
	ck_assert_str_eq(c->data[0], "a");
	ck_assert_str_eq(c->data[4], "e");

	/* The injection payloads come out as separate text chunks. */
	c = SPLIT("hi\r\nQUIT :bye\rJOIN #x\nPART #c", 400);
	ck_assert_int_eq(c->count, 4);
	ck_assert_str_eq(c->data[1], "QUIT :bye");
	ck_assert_str_eq(c->data[2], "JOIN #x");

	/* NUL and \x01 vanish; U+2028 and U+0085 are only text. */
	c = SPLIT("a\0b\x01"
		  "c",
		  400);
	ck_assert_int_eq(c->count, 1);
	ck_assert_str_eq(c->data[0], "abc");
	c = SPLIT("a\xe2\x80\xa8JOIN #x\xc2\x85"
		  "b",
		  400);
	ck_assert_int_eq(c->count, 1);
	ck_assert_str_eq(c->data[0], "a\xe2\x80\xa8JOIN #x\xc2\x85"
				     "b");

	/* Spaces are text too. */
	c = SPLIT("   ", 400);
	ck_assert_int_eq(c->count, 1);
	ck_assert_str_eq(c->data[0], "   ");
}
END_TEST

START_TEST(split_long_words)
{
	static char text[1000];
	struct chunks *c;

	memset(text, 'x', sizeof(text));
	c = split(text, sizeof(text), 400);
	ck_assert_int_eq(c->count, 3);
	ck_assert_uint_eq(c->len[0], 400);
	ck_assert_uint_eq(c->len[1], 400);
	ck_assert_uint_eq(c->len[2], 200);

	/* A space before half is not used; one after half is. */
	c = SPLIT("aaaa bbbbbbbbbbbbbbbbbbbbbbbbb", 16);
	ck_assert_uint_eq(c->len[0], 16);
	c = SPLIT("aaaaaaaaaa bbbbbbbbbb", 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_str_eq(c->data[0], "aaaaaaaaaa ");
	ck_assert_str_eq(c->data[1], "bbbbbbbbbb");
	/* The last space that fits wins. */
	c = SPLIT("aaaaaaaaa bb cc ddddddddd", 16);
	ck_assert_str_eq(c->data[0], "aaaaaaaaa bb cc ");
	/* A space right at the limit still fits. */
	c = SPLIT("aaaaaaaaaaaaaaa bbbb", 16);
	ck_assert_str_eq(c->data[0], "aaaaaaaaaaaaaaa ");
	ck_assert_str_eq(c->data[1], "bbbb");
}
END_TEST

START_TEST(split_invalid_utf8)
{
	static char junk[40];
	struct chunks *c;

	memset(junk, '\xff', sizeof(junk));
	c = split(junk, sizeof(junk), 16);
	ck_assert_int_eq(c->count, 3);
	ck_assert_uint_eq(c->len[0], 16);

	/* A truncated sequence is bytes of its own: cut anywhere. */
	c = SPLIT("aaaaaaaaaaaaaaa\xe2\x82"
		  "b",
		  16);
	ck_assert_uint_eq(c->len[0], 16);

	/* A dropped \x01 can join bytes into a valid character, which is
	 * then kept whole like any other. */
	c = SPLIT("aaaaaaaaaaaaaa\xe2\x01\x82\xac", 16);
	ck_assert_int_eq(c->count, 2);
	ck_assert_uint_eq(c->len[0], 14);
	ck_assert_str_eq(c->data[1], "\xe2\x82\xac");
}
END_TEST

START_TEST(split_stops)
{
	static struct chunks c;

	/* A non-zero return from fn stops the split after that chunk. */
	c.stop_after = 2;
	ck_assert_int_eq(
	    irc_text_split("a\nb\nc\nd", 7, 400, collect_chunk, &c), 2);
	ck_assert_int_eq(c.count, 2);
	/* No text, no call. */
	ck_assert_int_eq(irc_text_split(NULL, 0, 400, collect_chunk, NULL), 0);
}
END_TEST

/* ---- the suite --------------------------------------------------------- */

static Suite *irc_message_suite(void)
{
	Suite *s = suite_create("irc_message");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_test(tc, vectors_msg_split);
	tcase_add_test(tc, vectors_msg_join);
	tcase_add_test(tc, vectors_userhost_split);
	tcase_add_test(tc, vectors_mask_match);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_hostile_lines);
	tcase_add_test(tc, parse_generated_lines);
	tcase_add_test(tc, parse_fields);
	tcase_add_test(tc, parse_param_count);
	tcase_add_test(tc, parse_tag_count);
	tcase_add_test(tc, parse_lengths);
	tcase_add_test(tc, parse_error_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, format_refuses_line_breaks);
	tcase_add_test(tc, format_param_rules);
	tcase_add_test(tc, format_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("ctcp");
	tcase_add_test(tc, ctcp_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("casemapping");
	tcase_add_test(tc, casemapping);
	tcase_add_test(tc, mask_match_casemapping);
	tcase_add_test(tc, mask_match_hostile);
	tcase_add_test(tc, userhost_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("split");
	tcase_add_test(tc, split_tiny_max);
	tcase_add_test(tc, split_multibyte_straddling);
	tcase_add_test(tc, split_emoji);
	tcase_add_test(tc, split_combining_marks);
	tcase_add_test(tc, split_line_breaks);
	tcase_add_test(tc, split_long_words);
	tcase_add_test(tc, split_invalid_utf8);
	tcase_add_test(tc, split_stops);
	suite_add_tcase(s, tc);

	return s;
}

CHECK_MAIN(irc_message_suite)
