/*
 * irc_message.h - IRC lines in and out: the parser, the serializer, the
 * text splitter, nick!user@host splitting, mask matching and casemapping.
 *
 * Pure functions with no I/O and no allocation, so the connection code, the
 * unit tests (the ircdocs parser-tests vectors) and the fuzzers share them.
 * Every outbound line of the bot is built by irc_message_format(), which
 * refuses CR, LF and NUL: nothing from a user or a plugin can end a line
 * early and smuggle a command onto the wire.
 */
#ifndef IRC_MESSAGE_H
#define IRC_MESSAGE_H

#include <stddef.h>

#define IRC_LINE_MAX 512  /* bytes of a line, CRLF included, sans tags */
#define IRC_TAGS_MAX 8191 /* bytes of "@tags " that a server may send */
#define IRC_INPUT_MAX (IRC_TAGS_MAX + IRC_LINE_MAX) /* longest line read */
#define IRC_PARAMS_MAX 32    /* more parameters is an error */
#define IRC_TAG_COUNT_MAX 64 /* more tags is an error */

/* Why a line was rejected; names follow the irc-go taxonomy. */
enum irc_parse_error {
	IRC_PARSE_OK = 0,
	IRC_ERR_LINE_EMPTY,	 /* nothing but spaces */
	IRC_ERR_BAD_CHAR,	 /* NUL, CR or LF inside the line */
	IRC_ERR_BODY_TOO_LONG,	 /* over 510 bytes after the tags (512
				  * with the CRLF) */
	IRC_ERR_TAGS_TOO_LONG,	 /* "@tags " over 8191 bytes */
	IRC_ERR_TOO_MANY_TAGS,	 /* over 64, repeated keys included */
	IRC_ERR_INVALID_TAG,	 /* empty tag key, or "@" alone */
	IRC_ERR_SOURCE_EMPTY,	 /* ":" with nothing after it */
	IRC_ERR_COMMAND_MISSING, /* tags and/or source but no command */
	IRC_ERR_COMMAND_INVALID, /* not letters only or three digits */
	IRC_ERR_TOO_MANY_PARAMS,
	IRC_ERR_COUNT
};

/* A short lowercase name for an error: "line too long". */
const char *irc_parse_error_name(enum irc_parse_error err);

struct irc_tag {
	const char *key;   /* with any "+" client prefix and vendor/ */
	const char *value; /* unescaped; "" for "key" and "key=" alike */
};

/*
 * A parsed line.  Every pointer points into the buffer given to
 * irc_message_parse(), which it modifies; valid while that buffer is.
 */
struct irc_message {
	struct irc_tag tags[IRC_TAG_COUNT_MAX];
	int tag_count;
	const char *source;  /* "nick!user@host" or "server", or NULL */
	const char *command; /* "PRIVMSG", "001": as sent (case kept) */
	const char *params[IRC_PARAMS_MAX];
	int param_count;
};

/*
 * Parses one line (without its CRLF) in place: the buffer is modified
 * (tag values are unescaped, separators become NUL).  line must have room
 * for len + 1 bytes.  Returns IRC_PARSE_OK or the reason for refusal;
 * msg is meaningful only on success.
 *
 * One or more spaces separate the parts; leading and trailing spaces are
 * ignored.  A repeated tag key keeps its first position and its last
 * value.  Tag keys, the source and parameters are otherwise taken as
 * sent (control codes, invalid UTF-8): checking them is the caller's job.
 */
enum irc_parse_error irc_message_parse(char *line, size_t len,
				       struct irc_message *msg);

/* The value of a tag, or NULL if the message has no such tag. */
const char *irc_message_tag(const struct irc_message *msg, const char *key);

/*
 * Builds "[@tags ]COMMAND p1 p2 :last" into out (size bytes, NUL-terminated,
 * no CRLF).  The last parameter is sent as trailing (":") when it needs to
 * be (empty, has a space, starts with ':').  tags may be NULL.  Returns the
 * line's length, or -1 if a parameter or tag key contains CR or LF, a
 * middle parameter is empty, holds a space or starts with ':', the command
 * is not a valid verb (letters only, or three digits), there are more than
 * IRC_PARAMS_MAX parameters or IRC_TAG_COUNT_MAX tags, or the line would
 * not fit in out (on failure out holds "").  Parameters are C strings, so
 * a NUL simply ends one.
 *
 * Tag keys must be non-empty, without space, ';', '=', CR or LF; values
 * are escaped (CR and LF become "\r" and "\n"), and an empty or NULL
 * value is sent as the bare key.  The length limits of the wire are the
 * caller's: pass size IRC_LINE_MAX - 1 to get at most 510 bytes.
 */
int irc_message_format(char *out, size_t size, const struct irc_tag *tags,
		       int tag_count, const char *command, int param_count,
		       const char *const *params);

/*
 * irc_message_format() with a source: "[@tags ][:source ]COMMAND ...",
 * the form a server sends; for test servers and for checking the
 * serializer against the ircdocs msg-join vectors.  source NULL means
 * none; otherwise it must be non-empty, without space, CR or LF.
 */
int irc_message_format_with_source(char *out, size_t size,
				   const struct irc_tag *tags, int tag_count,
				   const char *source, const char *command,
				   int param_count, const char *const *params);

/*
 * Splits text into chunks that each fit max_bytes, for PRIVMSG/NOTICE:
 *  - CR and LF end a chunk (CRLF, CR, LF all count as one line break; empty
 *    lines are skipped);
 *  - NUL and \x01 are dropped (CTCP is for the host only);
 *  - a line longer than max_bytes is cut after the last space that keeps
 *    the chunk over half of max_bytes, else at the last UTF-8 character
 *    boundary (preferring, above half, one that does not separate a
 *    combining mark, joiner or variation selector from its character);
 *    a valid UTF-8 sequence is never cut, and a byte that is not part of
 *    one counts as a character of its own;
 *  - nothing else is changed, so the chunks, concatenated, equal the text
 *    without CR, LF, NUL and \x01.  Chunks are never empty; U+2028 and
 *    U+0085 are text, not line breaks.
 * fn is called once per chunk with a pointer into a scratch copy (not
 * NUL-terminated, valid during the call) and its length; it returns 0 to
 * go on or non-zero to stop.  Returns the number of chunks delivered,
 * counting the one that stopped it.  max_bytes below 16 is treated as 16,
 * above IRC_LINE_MAX as IRC_LINE_MAX (no line could carry more).
 */
typedef int irc_chunk_fn(const char *chunk, size_t len, void *data);
int irc_text_split(const char *text, size_t len, size_t max_bytes,
		   irc_chunk_fn *fn, void *data);

/* "nick!user@host", "nick@host", "nick": parts point into buf. */
struct irc_userhost {
	char *nick; /* never NULL (may be "") */
	char *user; /* NULL if absent */
	char *host; /* NULL if absent */
};

/* Splits source (copied into buf of size bytes).  Returns 0, or -1 if it
 * does not fit. */
int irc_userhost_split(const char *source, char *buf, size_t size,
		       struct irc_userhost *out);

/* Casemappings from ISUPPORT CASEMAPPING: capitals = small letters. */
enum irc_casemapping {
	IRC_CASEMAP_RFC1459,	    /* A-Z [ \ ] ^ = a-z { | } ~ (default) */
	IRC_CASEMAP_STRICT_RFC1459, /* A-Z [ \ ] = a-z { | } */
	IRC_CASEMAP_ASCII,	    /* A-Z = a-z */
};

/* The small form of byte c under map ('[' gives '{'); other c unchanged. */
int irc_tolower(int c, enum irc_casemapping map);
/* Compares two nicks or channel names under a casemapping: 0 if equal,
 * else negative or positive like strcmp(). */
int irc_casecmp(const char *a, const char *b, enum irc_casemapping map);

/*
 * Matches text against a mask with '*' (any run) and '?' (one char), as
 * the ircdocs mask-match tests define it ('[' and ']' are literals, no
 * escapes; '?' is one byte), ignoring case under map.  Time is at most
 * proportional to len(mask) * len(text).  Returns 1 on a match, 0
 * otherwise.
 */
int irc_mask_match(const char *mask, const char *text,
		   enum irc_casemapping map);

/*
 * If text is a CTCP message ("\x01VERB args\x01", final \x01 optional),
 * sets verb and args (pointing into buf, a copy; args "" when there are
 * none) and returns 1; else 0.  An empty verb ("\x01", "\x01\x01",
 * "\x01 x") is not CTCP, nor is a message that does not fit in buf.
 * Anything after the closing \x01 is ignored.
 */
int irc_ctcp_parse(const char *text, char *buf, size_t size, const char **verb,
		   const char **args);

#endif /* IRC_MESSAGE_H */
