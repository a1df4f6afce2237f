/*
 * config.c - INI parsing (libinih) with line numbers, schema validation,
 * typed getters and secret resolution.
 *
 * Debian's libinih does not pass line numbers to the handler, so the
 * reader we give ini_parse_stream() counts lines itself; it also refuses
 * lines longer than inih's 200-byte buffer instead of letting inih split
 * them into two lines.
 */
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define D(x) x /* a default value, for readability of the tables */

const struct opsbot_config_key config_irc_keys[] = {
    OPSBOT_CONFIG_KEY("server", OPSBOT_CONFIG_STRING, D("127.0.0.1"), 0, 0, 0,
		      "IRC server host name or address"),
    OPSBOT_CONFIG_KEY("port", OPSBOT_CONFIG_INT, D("6667"), 0, 1, 65535,
		      "IRC server port"),
    OPSBOT_CONFIG_KEY("tls", OPSBOT_CONFIG_BOOL, D("false"), 0, 0, 0,
		      "connect with TLS (port 6697 on most networks)"),
    OPSBOT_CONFIG_KEY(
	"tls_verify", OPSBOT_CONFIG_BOOL, D("true"), 0, 0, 0,
	"check the server's certificate chain and name (keep it on)"),
    OPSBOT_CONFIG_KEY("tls_ca_file", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "PEM file of CAs to trust instead of the system store"),
    OPSBOT_CONFIG_KEY(
	"tls_fingerprint", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"SHA-256 fingerprint of the server certificate, instead of the "
	"chain check (self-signed servers)"),
    OPSBOT_CONFIG_KEY("tls_client_cert", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "client certificate (PEM), for CertFP and SASL EXTERNAL"),
    OPSBOT_CONFIG_KEY("tls_client_key", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "its private key (PEM), if not in tls_client_cert"),
    OPSBOT_CONFIG_KEY("password", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "server password (PASS), if the server needs one"),
    OPSBOT_CONFIG_KEY(
	"sasl_mechanism", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"plain, external, scram-sha-256, ecdsa-nist256p-challenge or auto "
	"(the strongest the server offers): log in to services with SASL "
	"before joining; if it fails the bot does not join (fail closed)"),
    OPSBOT_CONFIG_KEY("sasl_username", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "services account for SASL PLAIN (default: the nick)"),
    OPSBOT_CONFIG_KEY("sasl_password", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "services password for SASL PLAIN and SCRAM-SHA-256"),
    OPSBOT_CONFIG_KEY("sasl_ecdsa_key", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "PEM file of the NIST P-256 private key for SASL "
		      "ECDSA-NIST256P-CHALLENGE (chmod 600 it)"),
    OPSBOT_CONFIG_KEY(
	"sasl_scram_min_iterations", OPSBOT_CONFIG_INT, D("4096"), 0, 1,
	100000000,
	"SCRAM: refuse a server that asks for fewer PBKDF2 iterations"),
    OPSBOT_CONFIG_KEY("sasl_scram_max_iterations", OPSBOT_CONFIG_INT,
		      D("600000"), 0, 1, 100000000,
		      "SCRAM: refuse a server that asks for more (a CPU burn)"),
    OPSBOT_CONFIG_KEY(
	"nickserv_password", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
	"without SASL: identify to NickServ and join only once confirmed"),
    OPSBOT_CONFIG_KEY("nickserv_account", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "account for NickServ IDENTIFY (default: the nick)"),
    OPSBOT_CONFIG_KEY(
	"nickserv_mask", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"nick!user@host of the real NickServ (wildcards allowed); without "
	"it the password goes only to a NickServ the server calls a "
	"network service"),
    OPSBOT_CONFIG_KEY("identify_timeout", OPSBOT_CONFIG_DURATION, D("30s"), 0,
		      1000, 600000,
		      "join anyway if NickServ has not confirmed by then"),
    OPSBOT_CONFIG_KEY("nick", OPSBOT_CONFIG_STRING, D("opsbot"), 0, 0, 0,
		      "the bot's nick"),
    OPSBOT_CONFIG_KEY(
	"alt_nicks", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
	"nicks to try when the nick is taken (then nick + digits)"),
    OPSBOT_CONFIG_KEY("username", OPSBOT_CONFIG_STRING, D("opsbot"), 0, 0, 0,
		      "user name (ident)"),
    OPSBOT_CONFIG_KEY("realname", OPSBOT_CONFIG_STRING,
		      D("opsbot chat-ops bot"), 0, 0, 0, "real name (gecos)"),
    OPSBOT_CONFIG_KEY("channels", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "channels to join, comma-separated or one per line"),
    OPSBOT_CONFIG_KEY(
	"flood_control", OPSBOT_CONFIG_BOOL, D("true"), 0, 0, 0,
	"rate-limit outgoing lines (off only for tests and benchmarks)"),
    OPSBOT_CONFIG_KEY("flood_burst", OPSBOT_CONFIG_INT, D("5"), 0, 1, 100,
		      "lines sent at once before the rate applies"),
    OPSBOT_CONFIG_KEY("flood_interval", OPSBOT_CONFIG_DURATION, D("2s"), 0, 1,
		      60000, "one line per this interval after the burst"),
    OPSBOT_CONFIG_KEY("queue_ttl", OPSBOT_CONFIG_DURATION, D("10m"), 0, 1000,
		      86400000, "drop queued announcements older than this"),
    OPSBOT_CONFIG_KEY(
	"ping_timeout", OPSBOT_CONFIG_DURATION, D("120s"), 0, 1000, 3600000,
	"reconnect after this long without a line from the server"),
    OPSBOT_CONFIG_KEY("connect_timeout", OPSBOT_CONFIG_DURATION, D("30s"), 0,
		      1000, 600000,
		      "give up a connection attempt after this long"),
    OPSBOT_CONFIG_KEY(
	"reconnect_min", OPSBOT_CONFIG_DURATION, D("10s"), 0, 100, 3600000,
	"first reconnect delay (doubles up to reconnect_max, with jitter)"),
    OPSBOT_CONFIG_KEY("reconnect_max", OPSBOT_CONFIG_DURATION, D("12m"), 0, 100,
		      86400000,
		      "longest reconnect delay (a delay is between half of "
		      "its ceiling and the ceiling)"),
    OPSBOT_CONFIG_KEY("reconnect_reset", OPSBOT_CONFIG_DURATION, D("5m"), 0,
		      100, 86400000,
		      "a session this long resets the reconnect backoff"),
    OPSBOT_CONFIG_END,
};

const struct opsbot_config_key config_bot_keys[] = {
    OPSBOT_CONFIG_KEY("prefix", OPSBOT_CONFIG_STRING, D("!"), 0, 0, 0,
		      "command prefix in channels"),
    OPSBOT_CONFIG_KEY("plugins", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "plugins to load, by name"),
    OPSBOT_CONFIG_KEY(
	"plugin_dir", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"where <name>.so files are (default: plugins/ next to the "
	"binary, else lib/opsbot/plugins of its prefix, else the "
	"compiled-in directory)"),
    OPSBOT_CONFIG_KEY("state", OPSBOT_CONFIG_STRING, D("opsbot.db"), 0, 0, 0,
		      "SQLite database file, relative to the config file"),
    OPSBOT_CONFIG_KEY(
	"state_permissions_ok", OPSBOT_CONFIG_BOOL, D("false"), 0, 0, 0,
	"start even if group or others may read or write the database (it "
	"holds personal data; it is created 0600)"),
    OPSBOT_CONFIG_KEY("unknown_command_reply", OPSBOT_CONFIG_BOOL, D("true"), 0,
		      0, 0, "answer unknown commands with a suggestion"),
    OPSBOT_CONFIG_KEY("ignore", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "nick!user@host masks never answered (other bots)"),
    OPSBOT_CONFIG_KEY("channel_reply_lines", OPSBOT_CONFIG_INT, D("8"), 0, 1,
		      1000, "most lines one reply may put in a channel"),
    OPSBOT_CONFIG_KEY("private_reply_lines", OPSBOT_CONFIG_INT, D("100"), 0, 1,
		      10000, "most lines one reply may send in private"),
    OPSBOT_CONFIG_KEY("quit_message", OPSBOT_CONFIG_STRING,
		      D("opsbot shutting down"), 0, 0, 0,
		      "QUIT message on shutdown"),
    OPSBOT_CONFIG_KEY("shutdown_grace", OPSBOT_CONFIG_DURATION, D("10s"), 0, 0,
		      3600000,
		      "on SIGTERM/SIGINT running work may finish this long, "
		      "then it is cancelled"),
    OPSBOT_CONFIG_KEY("job_threads", OPSBOT_CONFIG_INT, D("8"), 0, 1, 64,
		      "threads for plugin jobs (blocking work)"),
    OPSBOT_CONFIG_KEY("job_limit", OPSBOT_CONFIG_INT, D("4"), 0, 1, 64,
		      "jobs one plugin may run at once; more wait"),
    OPSBOT_CONFIG_KEY("progress_interval", OPSBOT_CONFIG_DURATION, D("30s"), 0,
		      1000, 86400000,
		      "at most one progress line per task this often"),
    OPSBOT_CONFIG_KEY("confirm_timeout", OPSBOT_CONFIG_DURATION, D("60s"), 0,
		      1000, 3600000,
		      "how long a destructive command waits for its --yes"),
    OPSBOT_CONFIG_END,
};

const struct opsbot_config_key config_access_keys[] = {
    OPSBOT_CONFIG_KEY(
	"grant", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
	"\"account NAME CAP...\" or \"mask NICK!USER@HOST CAP...\""),
    OPSBOT_CONFIG_END,
};

const struct opsbot_config_key config_http_keys[] = {
    OPSBOT_CONFIG_KEY(
	"listen", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"ADDRESS:PORT for webhooks, e.g. 127.0.0.1:8088 (off if unset)"),
    OPSBOT_CONFIG_KEY("max_body", OPSBOT_CONFIG_INT, D("1048576"), 0, 1,
		      67108864, "largest webhook request body in bytes"),
    OPSBOT_CONFIG_KEY("timeout", OPSBOT_CONFIG_DURATION, D("10s"), 0, 1000,
		      3600000,
		      "idle time before a webhook connection is closed"),
    OPSBOT_CONFIG_KEY("max_connections", OPSBOT_CONFIG_INT, D("256"), 0, 1,
		      10000, "webhook connections open at once, in all"),
    OPSBOT_CONFIG_KEY("max_connections_per_ip", OPSBOT_CONFIG_INT, D("16"), 0,
		      1, 10000,
		      "webhook connections open at once from one address"),
    OPSBOT_CONFIG_KEY(
	"requests_per_pass", OPSBOT_CONFIG_INT, D("4"), 0, 1, 10000,
	"requests answered between two turns of the loop, in which IRC "
	"lines are read; more wait their turn in order (keeps !ping fast "
	"under page load)"),
    OPSBOT_CONFIG_END,
};

static const struct {
	const char *name;
	const struct opsbot_config_key *schema;
} host_sections[] = {
    {"irc", config_irc_keys},
    {"bot", config_bot_keys},
    {"access", config_access_keys},
    {"http", config_http_keys},
};

/* ---- parsing ---- */

struct parse_state {
	struct config *cfg;
	struct config_entry **tail;
	const char *text; /* string input, or NULL */
	FILE *file;
	int line;
	char *linebuf;
	size_t linecap;
};

static void add_error_line(struct config *cfg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error_line(struct config *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	buf_addf(&cfg->errors, "%s:%d: ", cfg->path, line);
	va_start(ap, fmt);
	buf_vaddf(&cfg->errors, fmt, ap);
	va_end(ap);
	buf_addch(&cfg->errors, '\n');
	cfg->error_count++;
}

void config_error(struct config *cfg, const struct config_entry *e,
		  const char *fmt, ...)
{
	va_list ap;

	if (e)
		buf_addf(&cfg->errors, "%s:%d: [%s] %s: ", cfg->path, e->line,
			 e->section, e->key);
	else
		buf_addf(&cfg->errors, "%s: ", cfg->path);
	va_start(ap, fmt);
	buf_vaddf(&cfg->errors, fmt, ap);
	va_end(ap);
	buf_addch(&cfg->errors, '\n');
	cfg->error_count++;
}

/* Remembers whether the last non-blank line is a section header. */
static void note_line_kind(struct parse_state *st, const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && isspace((unsigned char)line[i]))
		i++;
	if (i == len)
		return;
	st->cfg->last_line_is_header = line[i] == '[';
	if (line[i] == '[')
		st->cfg->last_header_line = st->line;
}

/* ini_reader: one line per call, counted, length-checked. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	size_t len;

	if (st->text) {
		const char *nl;

		if (!*st->text)
			return NULL;
		nl = strchr(st->text, '\n');
		len = nl ? (size_t)(nl - st->text) + 1 : strlen(st->text);
		if (len + 1 > st->linecap) {
			st->linecap = len + 1;
			st->linebuf = xrealloc(st->linebuf, st->linecap);
		}
		memcpy(st->linebuf, st->text, len);
		st->linebuf[len] = '\0';
		st->text += len;
	} else {
		ssize_t n = getline(&st->linebuf, &st->linecap, st->file);

		if (n < 0)
			return NULL;
		len = (size_t)n;
	}
	st->line++;
	st->cfg->ends_with_newline = len && st->linebuf[len - 1] == '\n';
	note_line_kind(st, st->linebuf, len);
	if (memchr(st->linebuf, '\0', len)) {
		add_error_line(st->cfg, st->line, "NUL byte in line; ignored");
		str[0] = '\0';
		return str;
	}
	if (len >= (size_t)num) {
		add_error_line(st->cfg, st->line,
			       "line longer than %d characters; ignored "
			       "(split the value over repeated keys)",
			       num - 2);
		str[0] = '\0';
		return str;
	}
	memcpy(str, st->linebuf, len + 1);
	return str;
}

/*
 * inih (INI_ALLOW_INLINE_COMMENTS) ends a value at a ';' that follows
 * white space and drops the rest without a word.  raw is the line as read;
 * its value starts after the first '=' or ':' (a continuation line has
 * none).  Returns 1 if such a cut happened there.
 */
static int value_was_cut(const char *raw)
{
	const char *p = raw + strcspn(raw, "=:");

	if (!*p)
		p = raw;
	for (; *p; p++)
		if (isspace((unsigned char)*p) && p[1] == ';')
			return 1;
	return 0;
}

static int on_entry(void *user, const char *section, const char *key,
		    const char *value)
{
	struct parse_state *st = user;
	struct config_entry *e = xcalloc(1, sizeof(*e));

	e->section = xstrdup(section);
	e->key = xstrdup(key);
	e->value = xstrdup(value);
	e->line = st->line;
	*st->tail = e;
	st->tail = &e->next;
	if (st->linebuf && value_was_cut(st->linebuf))
		config_error(st->cfg, e,
			     "';' inside a value: after a space it starts a "
			     "comment and cuts the value there; put comments "
			     "on a line of their own (a secret with \" ;\" "
			     "goes in a _file)");
	return 1;
}

static struct config *parse(struct parse_state *st, const char *name)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	int rc;

	cfg->path = xstrdup(name);
	cfg->refs = 1;
	st->cfg = cfg;
	st->tail = &cfg->entries;
	rc = ini_parse_stream(read_line, st, on_entry, st);
	if (rc > 0)
		add_error_line(cfg, rc,
			       "syntax error (expected [section] or "
			       "key = value)");
	else if (rc < 0)
		add_error_line(cfg, 0, "cannot parse (out of memory)");
	free(st->linebuf);
	return cfg;
}

struct config *config_load(const char *path, char **err)
{
	struct parse_state st = {0};
	struct config *cfg;

	st.file = fopen(path, "r");
	if (!st.file) {
		*err = xasprintf("cannot read config '%s': %s", path,
				 strerror(errno));
		return NULL;
	}
	cfg = parse(&st, path);
	fclose(st.file);
	return cfg;
}

struct config *config_load_string(const char *text, const char *name)
{
	struct parse_state st = {0};

	st.text = text;
	return parse(&st, name);
}

void config_free(struct config *cfg)
{
	struct config_entry *e, *next;
	int i;

	if (!cfg || --cfg->refs > 0)
		return;
	for (e = cfg->entries; e; e = next) {
		next = e->next;
		free(e->section);
		free(e->key);
		free_secret(e->value);
		free(e);
	}
	for (i = 0; i < cfg->secret_count; i++)
		free_secret(cfg->secret_values[i]);
	free(cfg->secret_values);
	buf_free(&cfg->errors);
	free(cfg->path);
	free(cfg);
}

struct config *config_ref(struct config *cfg)
{
	if (cfg)
		cfg->refs++;
	return cfg;
}

/* ---- value parsers ---- */

int config_parse_int(const char *s, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

int config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (str_ieq(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (str_ieq(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int config_parse_duration_ms(const char *s, long long *out)
{
	char *end;
	double v;
	long long mult = 1000;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -1;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "") || !strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60 * 1000;
	else if (!strcmp(end, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(end, "d"))
		mult = 86400 * 1000;
	else
		return -1;
	if (v * (double)mult > (double)LLONG_MAX / 2)
		return -1;
	*out = (long long)(v * (double)mult + 0.5);
	return 0;
}

/* ---- lookups ---- */

const struct opsbot_config_key *
config_schema_find(const struct opsbot_config_key *schema, const char *key)
{
	for (; schema && schema->key; schema++)
		if (!strcmp(schema->key, key))
			return schema;
	return NULL;
}

/* The last entry for section/key (scalars: validation refuses repeats). */
const struct config_entry *config_find(const struct config *cfg,
				       const char *section, const char *key)
{
	const struct config_entry *e, *found = NULL;

	if (!cfg)
		return NULL;
	for (e = cfg->entries; e; e = e->next)
		if (!strcmp(e->section, section) && !strcmp(e->key, key))
			found = e;
	return found;
}

int config_has_section(const struct config *cfg, const char *section)
{
	const struct config_entry *e;

	for (e = cfg ? cfg->entries : NULL; e; e = e->next)
		if (!strcmp(e->section, section))
			return 1;
	return 0;
}

const char *config_get(const struct config *cfg, const char *section,
		       const struct opsbot_config_key *schema, const char *key)
{
	const struct config_entry *e = config_find(cfg, section, key);
	const struct opsbot_config_key *k;

	if (e)
		return e->value;
	k = config_schema_find(schema, key);
	return k ? k->default_value : NULL;
}

long long config_get_int(const struct config *cfg, const char *section,
			 const struct opsbot_config_key *schema,
			 const char *key)
{
	const char *v = config_get(cfg, section, schema, key);
	long long n = 0;

	if (v && config_parse_int(v, &n) < 0)
		n = 0;
	return n;
}

int config_get_bool(const struct config *cfg, const char *section,
		    const struct opsbot_config_key *schema, const char *key)
{
	const char *v = config_get(cfg, section, schema, key);
	int b = 0;

	if (v && config_parse_bool(v, &b) < 0)
		b = 0;
	return b;
}

long long config_get_duration_ms(const struct config *cfg, const char *section,
				 const struct opsbot_config_key *schema,
				 const char *key)
{
	const char *v = config_get(cfg, section, schema, key);
	long long ms = 0;

	if (v && config_parse_duration_ms(v, &ms) < 0)
		ms = 0;
	return ms;
}

static void trim(char **start, char **end)
{
	while (*start < *end && isspace((unsigned char)**start))
		(*start)++;
	while (*end > *start && isspace((unsigned char)(*end)[-1]))
		(*end)--;
}

char **config_get_list(const struct config *cfg, const char *section,
		       const struct opsbot_config_key *schema, const char *key,
		       int *count)
{
	const struct config_entry *e;
	const struct opsbot_config_key *k = config_schema_find(schema, key);
	struct buf text = BUF_INIT;
	char **items, *block, *p;
	int n = 0, cap = 0, found = 0;
	size_t off;

	for (e = cfg ? cfg->entries : NULL; e; e = e->next) {
		if (strcmp(e->section, section) || strcmp(e->key, key))
			continue;
		buf_adds(&text, e->value);
		buf_addch(&text, ',');
		found = 1;
	}
	if (!found && k && k->default_value) {
		buf_adds(&text, k->default_value);
		buf_addch(&text, ',');
	}
	/* One allocation: the pointer array followed by the strings. */
	for (p = text.data; p && *p; p++)
		if (*p == ',')
			cap++;
	off = (size_t)(cap + 1) * sizeof(char *);
	items = xmalloc(off + text.len + 1);
	block = (char *)items + off;
	memcpy(block, text.data ? text.data : "", text.len + 1);
	p = block;
	while (*p) {
		char *comma = strchr(p, ',');
		char *s = p, *end = comma;

		trim(&s, &end);
		*end = '\0';
		if (*s)
			items[n++] = s;
		p = comma + 1;
	}
	items[n] = NULL;
	buf_free(&text);
	*count = n;
	return items;
}

static char *read_secret_file(const char *path, char **err)
{
	struct buf b = BUF_INIT;
	char chunk[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		*err = xasprintf("cannot read secret file '%s': %s", path,
				 strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_add(&b, chunk, n);
		if (b.len > 65536)
			break;
	}
	fclose(f);
	explicit_bzero(chunk, sizeof(chunk));
	if (b.len > 65536) {
		free_secret(buf_detach(&b));
		*err =
		    xasprintf("secret file '%s' is larger than 64 KiB", path);
		return NULL;
	}
	/* A trailing newline is the editor's, not the secret's. */
	while (b.len &&
	       (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (!b.len) {
		buf_free(&b);
		*err = xasprintf("secret file '%s' is empty", path);
		return NULL;
	}
	return buf_detach(&b);
}

char *config_resolve_path(const struct config *cfg, const char *path)
{
	const char *slash = cfg ? strrchr(cfg->path, '/') : NULL;

	if (!path || path[0] == '/' || !slash)
		return xstrdup(path ? path : "");
	return xasprintf("%.*s/%s", (int)(slash - cfg->path), cfg->path, path);
}

char *config_get_secret(const struct config *cfg, const char *section,
			const char *key, char **err)
{
	char name[128];
	const struct config_entry *e;

	*err = NULL;
	e = config_find(cfg, section, key);
	if (e)
		return xstrdup(e->value);
	snprintf(name, sizeof(name), "%s_file", key);
	e = config_find(cfg, section, name);
	if (e) {
		char *path = config_resolve_path(cfg, e->value);
		char *value = read_secret_file(path, err);

		free(path);
		return value;
	}
	snprintf(name, sizeof(name), "%s_env", key);
	e = config_find(cfg, section, name);
	if (e) {
		const char *v = getenv(e->value);

		if (!v || !*v) {
			*err = xasprintf("environment variable '%s' is not "
					 "set",
					 e->value);
			return NULL;
		}
		return xstrdup(v);
	}
	return NULL;
}

/* ---- validation ---- */

static const char *type_name(enum opsbot_config_type t)
{
	switch (t) {
	case OPSBOT_CONFIG_STRING:
		return "text";
	case OPSBOT_CONFIG_INT:
		return "a whole number";
	case OPSBOT_CONFIG_BOOL:
		return "true or false";
	case OPSBOT_CONFIG_DURATION:
		return "a duration such as 30s, 5m or 2h";
	case OPSBOT_CONFIG_SECRET:
		return "a secret";
	case OPSBOT_CONFIG_LIST:
		return "a list";
	}
	return "?";
}

void config_validate_complete(struct config *cfg)
{
	static const char *const needed[] = {"server", "nick"};
	static const char rename_hint[] =
	    "write the new file elsewhere and rename it into place";
	size_t i;

	if (!cfg->entries) {
		buf_addf(&cfg->errors,
			 "%s: no settings in the file (empty, "
			 "or read while being written?); %s\n",
			 cfg->path, rename_hint);
		cfg->error_count++;
		return;
	}
	if (!cfg->ends_with_newline) {
		buf_addf(&cfg->errors,
			 "%s: the file does not end with a newline (read "
			 "while being written?); %s\n",
			 cfg->path, rename_hint);
		cfg->error_count++;
	}
	if (cfg->last_line_is_header) {
		add_error_line(cfg, cfg->last_header_line,
			       "the file ends with a section header (read "
			       "while being written?); %s",
			       rename_hint);
	}
	for (i = 0; i < ARRAY_SIZE(needed); i++) {
		if (config_find(cfg, "irc", needed[i]))
			continue;
		buf_addf(&cfg->errors,
			 "%s: [irc] %s: not set; a reload needs it in the "
			 "file (the default is for a first start only)\n",
			 cfg->path, needed[i]);
		cfg->error_count++;
	}
}

/* The schema key an entry sets: "token_file" sets secret "token". */
static const struct opsbot_config_key *
entry_schema_key(const struct opsbot_config_key *schema, const char *key,
		 int *is_indirect)
{
	const struct opsbot_config_key *k = config_schema_find(schema, key);
	size_t len = strlen(key);
	char base[128];

	*is_indirect = 0;
	if (k)
		return k;
	if (len > 5 && len < sizeof(base) &&
	    (!strcmp(key + len - 5, "_file") ||
	     !strcmp(key + len - 4, "_env"))) {
		size_t cut = !strcmp(key + len - 5, "_file") ? 5 : 4;

		memcpy(base, key, len - cut);
		base[len - cut] = '\0';
		k = config_schema_find(schema, base);
		if (k && k->type == OPSBOT_CONFIG_SECRET) {
			*is_indirect = 1;
			return k;
		}
	}
	return NULL;
}

static const char *closest_key(const struct opsbot_config_key *schema,
			       const char *key)
{
	const char *best = NULL;
	int best_d = 3;

	for (; schema && schema->key; schema++) {
		int d = str_edit_distance(key, schema->key, 2);

		if (d < best_d) {
			best_d = d;
			best = schema->key;
		}
	}
	return best;
}

static void check_value(struct config *cfg, const struct config_entry *e,
			const struct opsbot_config_key *k)
{
	long long n;
	int b;

	switch (k->type) {
	case OPSBOT_CONFIG_INT:
		if (config_parse_int(e->value, &n) < 0) {
			config_error(cfg, e, "'%s' is not %s", e->value,
				     type_name(k->type));
			return;
		}
		break;
	case OPSBOT_CONFIG_DURATION:
		if (config_parse_duration_ms(e->value, &n) < 0) {
			config_error(cfg, e, "'%s' is not %s", e->value,
				     type_name(k->type));
			return;
		}
		break;
	case OPSBOT_CONFIG_BOOL:
		if (config_parse_bool(e->value, &b) < 0)
			config_error(cfg, e, "'%s' is not %s", e->value,
				     type_name(k->type));
		return;
	default:
		return;
	}
	if ((k->min || k->max) && (n < k->min || n > k->max)) {
		if (k->type == OPSBOT_CONFIG_DURATION)
			config_error(cfg, e,
				     "%s is out of range (%lld ms to %lld ms)",
				     e->value, k->min, k->max);
		else
			config_error(cfg, e,
				     "%s is out of range (%lld to %lld)",
				     e->value, k->min, k->max);
	}
}

static void remember_secret(struct config *cfg, char *value)
{
	cfg->secret_values =
	    xrealloc(cfg->secret_values,
		     (size_t)(cfg->secret_count + 1) * sizeof(char *));
	cfg->secret_values[cfg->secret_count++] = value;
}

static void check_secret(struct config *cfg, const char *section,
			 const struct opsbot_config_key *k)
{
	static const char *const suffix[] = {"", "_file", "_env"};
	const struct config_entry *set[3] = {NULL, NULL, NULL};
	char name[128];
	char *value, *err = NULL;
	int i, count = 0;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s%s", k->key, suffix[i]);
		set[i] = config_find(cfg, section, name);
		count += set[i] != NULL;
	}
	if (count == 0) {
		if (k->flags & OPSBOT_CONFIG_REQUIRED) {
			buf_addf(&cfg->errors,
				 "%s: [%s] %s: required (set %s, %s_file or "
				 "%s_env)\n",
				 cfg->path, section, k->key, k->key, k->key,
				 k->key);
			cfg->error_count++;
		}
		return;
	}
	if (count > 1) {
		const struct config_entry *e = set[0] ? set[0] : set[1];

		config_error(cfg, e, "set only one of %s, %s_file and %s_env",
			     k->key, k->key, k->key);
		return;
	}
	for (i = 0; i < 3; i++)
		if (set[i] && !*set[i]->value)
			return; /* reported as an empty value */
	value = config_get_secret(cfg, section, k->key, &err);
	if (!value) {
		const struct config_entry *e = set[0]	? set[0]
					       : set[1] ? set[1]
							: set[2];

		config_error(cfg, e, "%s", err ? err : "empty secret");
		free(err);
		return;
	}
	if (set[1]) {
		char *path = config_resolve_path(cfg, set[1]->value);
		struct stat st;

		/* Readable by others: say so, since it is a secret. */
		if (!stat(path, &st) && (st.st_mode & 0004))
			warning("config",
				"%s:%d: secret file '%s' is readable by every "
				"user; chmod 600 it",
				cfg->path, set[1]->line, path);
		free(path);
	}
	remember_secret(cfg, value);
}

void config_validate_section(struct config *cfg, const char *section,
			     const struct opsbot_config_key *schema)
{
	const struct config_entry *e, *f;
	const struct opsbot_config_key *k;

	for (e = cfg->entries; e; e = e->next) {
		int indirect;

		if (strcmp(e->section, section))
			continue;
		k = entry_schema_key(schema, e->key, &indirect);
		if (!k) {
			const char *near = closest_key(schema, e->key);

			if (near)
				config_error(cfg, e,
					     "unknown key (did you mean "
					     "'%s'?)",
					     near);
			else
				config_error(cfg, e, "unknown key");
			continue;
		}
		if (k->type != OPSBOT_CONFIG_LIST) {
			/* A scalar set twice is almost always a mistake. */
			for (f = e->next; f; f = f->next) {
				if (!strcmp(f->section, section) &&
				    !strcmp(f->key, e->key)) {
					config_error(cfg, f,
						     "set twice (first on "
						     "line %d)",
						     e->line);
					break;
				}
			}
		}
		/* "password =" would send "PASS :"; only a list may be
		 * empty (no items). */
		if (!*e->value && (indirect || k->type != OPSBOT_CONFIG_LIST)) {
			config_error(cfg, e,
				     "empty value: remove the line or give a "
				     "value");
			continue;
		}
		if (!indirect && k->type != OPSBOT_CONFIG_SECRET)
			check_value(cfg, e, k);
	}
	for (k = schema; k && k->key; k++) {
		if (k->type == OPSBOT_CONFIG_SECRET) {
			check_secret(cfg, section, k);
		} else if ((k->flags & OPSBOT_CONFIG_REQUIRED) &&
			   !config_find(cfg, section, k->key)) {
			buf_addf(&cfg->errors, "%s: [%s] %s: required\n",
				 cfg->path, section, k->key);
			cfg->error_count++;
		}
	}
}

void config_validate_host(struct config *cfg)
{
	const struct config_entry *e, *f;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(host_sections); i++)
		config_validate_section(cfg, host_sections[i].name,
					host_sections[i].schema);
	for (e = cfg->entries; e; e = e->next) {
		int known =
		    str_has_prefix(e->section, "plugin.") && e->section[7];

		for (i = 0; !known && i < ARRAY_SIZE(host_sections); i++)
			known = !strcmp(e->section, host_sections[i].name);
		if (known)
			continue;
		/* Report an unknown section once, at its first key. */
		for (f = cfg->entries; f != e; f = f->next)
			if (!strcmp(f->section, e->section))
				break;
		if (f != e)
			continue;
		if (!*e->section)
			add_error_line(cfg, e->line,
				       "'%s' is outside any [section]", e->key);
		else
			add_error_line(cfg, e->line,
				       "[%s]: unknown section (expected irc, "
				       "bot, access, http or plugin.<name>)",
				       e->section);
	}
}

int config_section_equal(const struct config *a, const struct config *b,
			 const char *section)
{
	const struct config_entry *x = a ? a->entries : NULL;
	const struct config_entry *y = b ? b->entries : NULL;

	for (;;) {
		while (x && strcmp(x->section, section))
			x = x->next;
		while (y && strcmp(y->section, section))
			y = y->next;
		if (!x || !y)
			return !x && !y;
		if (strcmp(x->key, y->key) || strcmp(x->value, y->value))
			return 0;
		x = x->next;
		y = y->next;
	}
}

/* ---- plugin sections and sub-sections ---- */

int config_instance_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

const struct opsbot_config_section *
config_section_kind(const struct opsbot_config_section *kinds, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t len = dot ? (size_t)(dot - name) : strlen(name);

	if (dot && !config_instance_name_valid(dot + 1, strlen(dot + 1)))
		return NULL;
	for (; kinds && kinds->kind; kinds++)
		if (strlen(kinds->kind) == len &&
		    !strncmp(kinds->kind, name, len))
			return kinds;
	return NULL;
}

char **config_instances(const struct config *cfg, const char *prefix,
			int *count)
{
	const struct config_entry *e;
	size_t plen = strlen(prefix);
	char **names = NULL;
	int n = 0, i;

	for (e = cfg ? cfg->entries : NULL; e; e = e->next) {
		const char *inst;
		int seen = 0;

		if (strncmp(e->section, prefix, plen) ||
		    e->section[plen] != '.')
			continue;
		inst = e->section + plen + 1;
		if (!config_instance_name_valid(inst, strlen(inst)))
			continue;
		for (i = 0; i < n && !seen; i++)
			seen = !strcmp(names[i], inst);
		if (seen)
			continue;
		names = xrealloc(names, (size_t)(n + 2) * sizeof(char *));
		names[n++] = (char *)inst;
	}
	if (!names)
		names = xcalloc(1, sizeof(char *));
	names[n] = NULL;
	*count = n;
	/* The strings belong to cfg, which the plugin keeps referenced. */
	return names;
}

void config_validate_plugin(struct config *cfg, const char *name,
			    const struct opsbot_plugin_descriptor *desc)
{
	const struct opsbot_config_section *kinds =
	    OPSBOT_HAS_MEMBER(desc, sections) ? desc->sections : NULL;
	const struct opsbot_config_section *k;
	const struct config_entry *e, *f;
	struct buf main = BUF_INIT;

	buf_addf(&main, "plugin.%s", name);
	config_validate_section(cfg, main.data, desc->config);
	for (e = cfg->entries; e; e = e->next) {
		const char *rest;

		if (strncmp(e->section, main.data, main.len) ||
		    e->section[main.len] != '.')
			continue;
		/* Once per section, at its first key. */
		for (f = cfg->entries; f != e; f = f->next)
			if (!strcmp(f->section, e->section))
				break;
		if (f != e)
			continue;
		rest = e->section + main.len + 1;
		k = config_section_kind(kinds, rest);
		if (!k || !strchr(rest, '.')) {
			struct buf kinds_text = BUF_INIT;

			for (k = kinds; k && k->kind; k++)
				buf_addf(&kinds_text, "%s[%s.%s.<instance>]",
					 kinds_text.len ? ", " : "", main.data,
					 k->kind);
			if (kinds_text.len)
				add_error_line(cfg, e->line,
					       "[%s]: unknown section (plugin "
					       "%s takes %s; instance names of "
					       "a-z, 0-9, _ and -)",
					       e->section, name,
					       kinds_text.data);
			else
				add_error_line(cfg, e->line,
					       "[%s]: unknown section (plugin "
					       "%s has no sub-sections)",
					       e->section, name);
			buf_free(&kinds_text);
			continue;
		}
		config_validate_section(cfg, e->section, k->keys);
	}
	for (k = kinds; k && k->kind; k++) {
		struct buf prefix = BUF_INIT;
		char **names;
		int count;

		buf_addf(&prefix, "%s.%s", main.data, k->kind);
		names = config_instances(cfg, prefix.data, &count);
		if (count < k->min_count ||
		    (k->max_count && count > k->max_count)) {
			buf_addf(&cfg->errors,
				 "%s: [%s.<name>]: %d section%s, expected ",
				 cfg->path, prefix.data, count,
				 count == 1 ? "" : "s");
			if (k->max_count)
				buf_addf(&cfg->errors, "%d to %d\n",
					 k->min_count, k->max_count);
			else
				buf_addf(&cfg->errors, "at least %d\n",
					 k->min_count);
			cfg->error_count++;
		}
		free(names);
		buf_free(&prefix);
	}
	buf_free(&main);
}

int config_plugin_equal(const struct config *a, const struct config *b,
			const char *name)
{
	const struct config *both[2] = {a, b};
	struct buf main = BUF_INIT;
	int i, equal = 1;

	buf_addf(&main, "plugin.%s", name);
	/* Every section of the plugin in either config must be equal. */
	for (i = 0; i < 2 && equal; i++) {
		const struct config_entry *e;

		for (e = both[i] ? both[i]->entries : NULL; e && equal;
		     e = e->next) {
			if (strncmp(e->section, main.data, main.len) ||
			    (e->section[main.len] &&
			     e->section[main.len] != '.'))
				continue;
			equal = config_section_equal(a, b, e->section);
		}
	}
	buf_free(&main);
	return equal;
}

int config_plugin_reload_key_changed(
    const struct config *a, const struct config *b, const char *name,
    const struct opsbot_plugin_descriptor *desc)
{
	const struct opsbot_config_key *k;
	struct buf main = BUF_INIT;
	int changed = 0;

	buf_addf(&main, "plugin.%s", name);
	for (k = desc->config; k && k->key && !changed; k++) {
		const char *x, *y;

		if (!(k->flags & OPSBOT_CONFIG_RELOAD))
			continue;
		x = config_get(a, main.data, desc->config, k->key);
		y = config_get(b, main.data, desc->config, k->key);
		changed = (x == NULL) != (y == NULL) || (x && strcmp(x, y));
	}
	buf_free(&main);
	return changed;
}
