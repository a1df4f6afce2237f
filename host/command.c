/*
 * command.c - commands: argument splitting, the registry (built-ins and
 * plugin subcommands), dispatch with permission checks and confirmation,
 * and the host's answers to what is not a runnable command (unknown word,
 * plugin word without a subcommand, refusal at shutdown).
 *
 * A command line is "<word> [<sub>] [args...]".  <word> is a built-in
 * ("ping", "help", ...) or a plugin's command word ("reg"); plugins
 * register subcommands under their word.  Dispatch checks the argument
 * count and the capability before any plugin code runs.  The request a
 * command runs with, and its replies, are request.c's; the built-ins
 * themselves are builtin.c's.
 */
#include "command.h"
#include "config.h"
#include "confirm.h"
#include "irc_message.h"
#include "plugin.h"
#include "request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct list commands = LIST_INIT(commands);

/* Settings from [bot]. */
static int reply_unknown = 1;
static char **ignore_masks;
static int ignore_count;

/*
 * What is not a command, said in private, is answered once per nick per
 * STRAY_INTERVAL_MS: two bots that answer everything would otherwise talk
 * to each other for ever.  A small table; when it is full of recent nicks
 * nobody new is answered until one expires.
 */
#define STRAY_INTERVAL_MS 60000
#define STRAY_NICKS 64

static struct {
	char *nick;
	int64_t at;
} strays[STRAY_NICKS];

/* ---- argument splitting ---- */

int command_split_args(char *text, char **argv, size_t *starts, int max,
		       char **err)
{
	char *in = text, *out = text;
	int argc = 0;

	*err = NULL;
	for (;;) {
		char quote = 0;

		while (*in == ' ' || *in == '\t')
			in++;
		if (!*in)
			break;
		if (argc >= max) {
			*err = xstrdup("too many arguments");
			return -1;
		}
		if (starts)
			starts[argc] = (size_t)(in - text);
		/* Output never overtakes input: quotes and escapes only
		 * shrink the text, so splitting in place is safe. */
		argv[argc++] = out;
		while (*in) {
			char c = *in;

			if (quote) {
				if (c == quote) {
					quote = 0;
					in++;
				} else if (c == '\\' && quote == '"' &&
					   (in[1] == '"' || in[1] == '\\')) {
					*out++ = in[1];
					in += 2;
				} else {
					*out++ = *in++;
				}
			} else if (c == ' ' || c == '\t') {
				break;
			} else if (c == '"' || c == '\'') {
				quote = c;
				in++;
			} else if (c == '\\' && in[1]) {
				*out++ = in[1];
				in += 2;
			} else {
				*out++ = *in++;
			}
		}
		if (quote) {
			*err = xstrdup("unterminated quote");
			return -1;
		}
		if (*in)
			in++;
		*out++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

/* ---- registry ---- */

static struct command_entry *entry_new(struct opsbot_plugin *p,
				       const char *word,
				       const struct opsbot_command *cmd)
{
	struct command_entry *e = xcalloc(1, sizeof(*e));

	e->plugin = p;
	e->word = xstrdup(word);
	e->name = xstrdup(cmd->name ? cmd->name : "");
	e->usage = xstrdup(cmd->usage ? cmd->usage : "");
	e->help = xstrdup(cmd->help ? cmd->help : "");
	e->capability = cmd->capability ? xstrdup(cmd->capability) : NULL;
	e->min_args = cmd->min_args;
	e->max_args = cmd->max_args;
	e->fn = cmd->fn;
	e->data = cmd->data;
	if (OPSBOT_HAS_MEMBER(cmd, flags))
		e->flags = cmd->flags;
	if (OPSBOT_HAS_MEMBER(cmd, confirm) && cmd->confirm)
		e->confirm = xstrdup(cmd->confirm);
	list_add_tail(&commands, &e->link);
	return e;
}

static void entry_free(struct command_entry *e)
{
	list_del(&e->link);
	free(e->word);
	free(e->name);
	free(e->usage);
	free(e->help);
	free(e->capability);
	free(e->confirm);
	free(e);
}

void command_add_builtin(const char *word, const struct opsbot_command *cmd)
{
	entry_new(NULL, word, cmd);
}

struct command_entry *command_next(const struct command_entry *e)
{
	struct list *next = e ? e->link.next : commands.next;

	return next == &commands ? NULL
				 : list_entry(next, struct command_entry, link);
}

struct command_entry *command_find(const char *word, const char *name)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &commands)
	{
		struct command_entry *e =
		    list_entry(pos, struct command_entry, link);

		if (!strcmp(e->word, word) && !strcmp(e->name, name))
			return e;
	}
	return NULL;
}

struct command_entry *command_find_builtin(const char *word)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &commands)
	{
		struct command_entry *e =
		    list_entry(pos, struct command_entry, link);

		if (!e->plugin && !strcmp(e->word, word))
			return e;
	}
	return NULL;
}

int command_is_builtin(const char *word)
{
	return command_find_builtin(word) != NULL;
}

int command_word_taken(const char *word)
{
	return command_find_builtin(word) || plugin_find_by_word(word) ||
	       plugin_find_by_extra_word(word);
}

static int subcommand_name_valid(const char *name)
{
	const char *c;

	if (strlen(name) > 32)
		return 0;
	for (c = name; *c; c++)
		if (!islower((unsigned char)*c) &&
		    !isdigit((unsigned char)*c) && *c != '-' && *c != '_')
			return 0;
	return 1;
}

int command_add(struct opsbot_plugin *p, const struct opsbot_command *cmd)
{
	if (!cmd || cmd->size < sizeof(struct opsbot_command) || !cmd->fn ||
	    !cmd->name || !subcommand_name_valid(cmd->name))
		return OPSBOT_EINVAL;
	if (cmd->min_args < 0 ||
	    (cmd->max_args >= 0 && cmd->max_args < cmd->min_args) ||
	    cmd->min_args > COMMAND_ARGS_MAX)
		return OPSBOT_EINVAL;
	if (command_find(p->command_word, cmd->name))
		return OPSBOT_EEXIST;
	entry_new(p, p->command_word, cmd);
	return OPSBOT_OK;
}

void command_remove_plugin(struct opsbot_plugin *p)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &commands)
	{
		struct command_entry *e =
		    list_entry(pos, struct command_entry, link);

		if (e->plugin == p) {
			char *key = xasprintf("%s ", e->word);

			confirm_forget(key);
			free(key);
			entry_free(e);
		}
	}
}

/* ---- usage ---- */

void command_format_usage(const struct command_source *src,
			  const struct command_entry *e, char *out, size_t size)
{
	const char *word = e->word;

	if (src->origin == OPSBOT_ORIGIN_CLI && e->plugin)
		word = e->plugin->name;
	snprintf(out, size, "%s%s%s%s%s%s", command_source_lead(src), word,
		 *e->name ? " " : "", e->name, *e->usage ? " " : "", e->usage);
}

/* ---- dispatch ---- */

/*
 * Takes every "--yes" out of argv (and a trailing one out of the typed
 * text); returns how many there were.
 */
static int take_yes(int *argc, char **argv, char *args_copy)
{
	int i, j, n = 0;
	size_t len;

	for (i = j = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--yes"))
			n++;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	len = strlen(args_copy);
	while (len >= 5 && !strcmp(args_copy + len - 5, "--yes") &&
	       (len == 5 || args_copy[len - 6] == ' ')) {
		len = len == 5 ? 0 : len - 6;
		while (len && args_copy[len - 1] == ' ')
			len--;
		args_copy[len] = '\0';
	}
	return n;
}

/* Who confirms: the services account when known, else the full mask. */
static char *asker_key(const struct request *req)
{
	if (req->src.account)
		return xasprintf("account %s", req->src.account);
	return xasprintf("mask %s!%s@%s", req->src.nick,
			 req->src.user ? req->src.user : "",
			 req->src.host ? req->src.host : "");
}

static char *confirm_line(const struct command_entry *e, int argc, char **argv)
{
	struct buf b = BUF_INIT;
	int i;

	buf_addf(&b, "%s %s", e->word, e->name);
	/* \x1f cannot be typed inside one argument on IRC. */
	for (i = 0; i < argc; i++)
		buf_addf(&b, "\x1f%s", argv[i]);
	return buf_detach(&b);
}

/*
 * A CONFIRM command: returns 1 if it may run now (req->pub.confirmed
 * set); otherwise it has answered and finished req, and returns 0.
 */
static int confirmation_passes(struct request *req, struct command_entry *e,
			       int yes, int argc, char **argv)
{
	char example[512], text[400], *who, *line;
	long secs = confirm_timeout_ms() / 1000;
	enum confirm_result r;

	if (req->src.origin == OPSBOT_ORIGIN_CLI) {
		if (yes) {
			req->pub.confirmed = 1;
			return 1;
		}
		snprintf(text, sizeof(text), "%s%s%s --yes", e->name,
			 *req->pub.args ? " " : "", req->pub.args);
		request_command_example(req, example, sizeof(example), text);
		request_reply_now(
		    req, 1, "refusing: this %s%s; run it again with --yes: %s",
		    e->confirm ? "deletes " : "cannot be undone",
		    e->confirm ? e->confirm : "", example);
		request_finish(req, OPSBOT_ERR);
		return 0;
	}
	who = asker_key(req);
	line = confirm_line(e, argc, argv);
	snprintf(text, sizeof(text), "%s%s%s", e->name,
		 *req->pub.args ? " " : "", req->pub.args);
	if (!yes) {
		confirm_remember(who, line, time_now_ms());
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 " --yes");
		request_command_example(req, example, sizeof(example), text);
		request_reply_now(req, 0,
				  "this %s%s; to confirm, type %s within %ld s",
				  e->confirm ? "deletes " : "cannot be undone",
				  e->confirm ? e->confirm : "", example, secs);
		request_finish(req, OPSBOT_OK);
		free(who);
		free(line);
		return 0;
	}
	r = confirm_take(who, line, time_now_ms());
	free(who);
	free(line);
	if (r == CONFIRM_OK) {
		req->pub.confirmed = 1;
		return 1;
	}
	request_command_example(req, example, sizeof(example), text);
	if (r == CONFIRM_EXPIRED)
		request_reply_now(
		    req, 1,
		    "error: the confirmation came after %ld s; type %s "
		    "again, then confirm it with --yes",
		    secs, example);
	else
		request_reply_now(
		    req, 1,
		    "error: nothing to confirm; type %s first, then the "
		    "same with --yes from the same account",
		    example);
	request_finish(req, OPSBOT_EPERM);
	return 0;
}

static void run_entry(const struct command_source *src, struct command_entry *e,
		      int argc, char **argv, const char *args)
{
	struct request *req;
	char usage[256], *typed = xstrdup(args ? args : "");
	int rc, yes = 0;

	if (e->flags & OPSBOT_COMMAND_CONFIRM)
		yes = take_yes(&argc, argv, typed);
	req = request_new(src, e->plugin, e->word, e->name, argc, argv, typed);
	free(typed);
	req->force_private = (e->flags & OPSBOT_COMMAND_PRIVATE) != 0;

	if (e->capability && !request_has_capability(req, e->capability)) {
		request_reply_now(
		    req, 1,
		    "permission denied: %s%s%s%s needs capability %s "
		    "(you are %s; !whoami shows what you have)",
		    command_prefix(), e->word, *e->name ? " " : "", e->name,
		    e->capability,
		    req->src.account ? "identified" : "not identified");
		request_finish(req, OPSBOT_EPERM);
		return;
	}
	if (argc < e->min_args || (e->max_args >= 0 && argc > e->max_args)) {
		command_format_usage(src, e, usage, sizeof(usage));
		request_reply_now(req, 1, "usage: %s", usage);
		request_finish(req, OPSBOT_EUSAGE);
		return;
	}
	if ((e->flags & OPSBOT_COMMAND_CONFIRM) &&
	    !confirmation_passes(req, e, yes, argc, argv))
		return;
	if (e->plugin) {
		if (!plugin_accepts_work(e->plugin)) {
			request_reply_now(req, 1,
					  "error: plugin %s is being unloaded",
					  e->plugin->name);
			request_finish(req, OPSBOT_ECLOSING);
			return;
		}
		plugin_enter(e->plugin);
		rc = e->fn(e->plugin, &req->pub, e->data);
		if (rc == OPSBOT_PENDING) {
			request_mark_pending(req);
			plugin_leave(e->plugin);
			return;
		}
		plugin_leave(e->plugin);
	} else {
		rc = e->fn(NULL, &req->pub, e->data);
		if (rc == OPSBOT_PENDING) {
			request_mark_pending(req);
			return;
		}
	}
	if (rc == OPSBOT_EUSAGE) {
		command_format_usage(src, e, usage, sizeof(usage));
		request_reply_now(req, 1, "usage: %s", usage);
	}
	request_finish(req, rc);
}

/* Closest known word or subcommand, for "did you mean". */
const char *command_suggest(const char *word, struct opsbot_plugin *within)
{
	struct list *pos, *tmp;
	const char *best = NULL;
	int best_d = 3;

	list_for_each_safe(pos, tmp, &commands)
	{
		struct command_entry *e =
		    list_entry(pos, struct command_entry, link);
		const char *cand = within ? e->name : e->word;
		int d;

		if (within && e->plugin != within)
			continue;
		if (!*cand)
			continue;
		d = str_edit_distance(word, cand, 2);
		if (d < best_d) {
			best_d = d;
			best = cand;
		}
	}
	return best;
}

/* May the answer to something that is not a command go to src now? */
static int stray_may_answer(const struct command_source *src)
{
	int64_t now = time_now_ms();
	int i, free_slot = -1;

	if (src->origin != OPSBOT_ORIGIN_PRIVATE || !src->nick)
		return 1;
	for (i = 0; i < STRAY_NICKS; i++) {
		if (strays[i].nick && now - strays[i].at >= STRAY_INTERVAL_MS) {
			free(strays[i].nick);
			strays[i].nick = NULL;
		}
		if (!strays[i].nick) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!irc_casecmp(strays[i].nick, src->nick,
				 (enum irc_casemapping)src->nick_casemap))
			return 0;
	}
	if (free_slot < 0)
		return 0;
	strays[free_slot].nick = xstrdup(src->nick);
	strays[free_slot].at = now;
	return 1;
}

static void strays_clear(void)
{
	int i;

	for (i = 0; i < STRAY_NICKS; i++) {
		free(strays[i].nick);
		strays[i].nick = NULL;
	}
}

static void reply_unknown_command(const struct command_source *src,
				  const char *word)
{
	struct request *req;
	const char *near;
	char quoted[REQUEST_ECHO_BUF];

	if (!reply_unknown && src->origin == OPSBOT_ORIGIN_CHANNEL)
		return;
	if (!stray_may_answer(src))
		return;
	req = request_new(src, NULL, NULL, NULL, 0, NULL, "");
	near = command_suggest(word, NULL);
	request_quote(word, quoted, sizeof(quoted));
	if (near)
		request_reply_now(req, 1,
				  "unknown command%s; did you mean %s%s? "
				  "(%shelp lists commands)",
				  quoted, command_source_lead(src), near,
				  command_source_lead(src));
	else
		request_reply_now(req, 1,
				  "unknown command%s (%shelp lists "
				  "commands)",
				  quoted, command_source_lead(src));
	request_finish(req, OPSBOT_EUSAGE);
}

static void reply_plugin_summary(const struct command_source *src,
				 struct opsbot_plugin *p, const char *bad_sub)
{
	struct request *req = request_new(src, NULL, NULL, NULL, 0, NULL, "");
	struct list *pos, *tmp;
	struct buf b = BUF_INIT;
	const char *near;
	char quoted[REQUEST_ECHO_BUF];

	if (bad_sub) {
		near = command_suggest(bad_sub, p);
		request_quote(bad_sub, quoted, sizeof(quoted));
		if (near)
			request_reply_now(req, 1,
					  "unknown %s command%s; did you mean "
					  "'%s'? (%shelp %s lists them)",
					  command_source_word(src, p), quoted,
					  near, command_source_lead(src),
					  command_source_word(src, p));
		else
			request_reply_now(req, 1,
					  "unknown %s command%s (%shelp %s "
					  "lists them)",
					  command_source_word(src, p), quoted,
					  command_source_lead(src),
					  command_source_word(src, p));
		request_finish(req, OPSBOT_EUSAGE);
		return;
	}
	list_for_each_safe(pos, tmp, &commands)
	{
		struct command_entry *e =
		    list_entry(pos, struct command_entry, link);

		if (e->plugin == p)
			buf_addf(&b, "%s%s", b.len ? ", " : "", e->name);
	}
	request_reply_now(req, 1,
			  "%s%s needs a command: %s (%shelp %s <command> "
			  "explains one)",
			  command_source_lead(src), command_source_word(src, p),
			  b.len ? b.data : "none", command_source_lead(src),
			  command_source_word(src, p));
	buf_free(&b);
	request_finish(req, OPSBOT_EUSAGE);
}
static char *refusal; /* command_refuse(): why nothing runs now */

void command_refuse(const char *why)
{
	free(refusal);
	refusal = why ? xstrdup(why) : NULL;
}

static int dispatch_word(const struct command_source *src, const char *word,
			 int argc, char **argv, const char *const *rest);

static int dispatch(const struct command_source *src, int argc, char **argv,
		    const char *const *rest)
{
	char *word;
	size_t i;
	int rc;

	if (argc < 1)
		return 0;
	/* The whole word, lowercased: a prefix of it is another word. */
	word = xstrdup(argv[0]);
	for (i = 0; word[i]; i++)
		word[i] = (char)tolower((unsigned char)word[i]);
	rc = dispatch_word(src, word, argc, argv, rest);
	free(word);
	return rc;
}

static int dispatch_word(const struct command_source *src, const char *word,
			 int argc, char **argv, const char *const *rest)
{
	struct command_entry *e;
	struct opsbot_plugin *p;

	if (refusal) {
		struct request *req =
		    request_new(src, NULL, NULL, NULL, 0, NULL, "");

		request_reply_now(req, 1, "error: %s", refusal);
		request_finish(req, OPSBOT_ERR);
		return 1;
	}
	e = command_find_builtin(word);
	if (e) {
		run_entry(src, e, argc - 1, argv + 1, rest[1]);
		return 1;
	}
	p = plugin_find_by_word(word);
	if (!p && (p = plugin_find_by_extra_word(word))) {
		/* "!zuul status" is "!ci zuul status". */
		e = command_find(p->command_word, word);
		if (e) {
			run_entry(src, e, argc - 1, argv + 1, rest[1]);
			return 1;
		}
		reply_plugin_summary(src, p, word);
		return 1;
	}
	if (!p)
		p = plugin_find(word);
	if (!p) {
		reply_unknown_command(src, argv[0]);
		return 1;
	}
	if (argc >= 2) {
		e = command_find(p->command_word, argv[1]);
		if (e) {
			run_entry(src, e, argc - 2, argv + 2, rest[2]);
			return 1;
		}
	}
	e = command_find(p->command_word, "");
	if (e) {
		run_entry(src, e, argc - 1, argv + 1, rest[1]);
		return 1;
	}
	reply_plugin_summary(src, p, argc >= 2 ? argv[1] : NULL);
	return 1;
}

int command_dispatch_text(const struct command_source *src, const char *text)
{
	char *argv[COMMAND_ARGS_MAX + 1];
	const char *rest[COMMAND_ARGS_MAX + 2];
	size_t starts[COMMAND_ARGS_MAX + 1];
	char stack[512], *copy;
	size_t len = strlen(text);
	char *err = NULL;
	int argc, i, rc;

	copy = len < sizeof(stack) ? stack : xmalloc(len + 1);
	memcpy(copy, text, len + 1);
	if (src->origin != OPSBOT_ORIGIN_CLI &&
	    command_ignores(src->nick, src->user, src->host,
			    src->nick_casemap)) {
		rc = 0;
		goto out;
	}
	argc = command_split_args(copy, argv, starts, COMMAND_ARGS_MAX, &err);
	if (argc < 0) {
		struct request *req;

		rc = 1;
		if (!stray_may_answer(src)) {
			free(err);
			goto out;
		}
		req = request_new(src, NULL, NULL, NULL, 0, NULL, "");
		request_reply_now(req, 1, "error: %s", err);
		free(err);
		request_finish(req, OPSBOT_EUSAGE);
		goto out;
	}
	/* rest[i]: the text as typed from argument i on. */
	for (i = 0; i < argc; i++)
		rest[i] = text + starts[i];
	rest[argc] = rest[argc + 1] = "";
	rc = dispatch(src, argc, argv, rest);
out:
	if (copy != stack)
		free(copy);
	return rc;
}

const char *command_capability_for(const char *text)
{
	char *argv[4], copy[256], word[40];
	struct command_entry *e;
	struct opsbot_plugin *p;
	char *err = NULL;
	size_t i;
	int argc;

	/* Only the first words matter. */
	strlcpy_safe(copy, text, sizeof(copy));
	argc = command_split_args(copy, argv, NULL, 3, &err);
	if (argc < 1) {
		/* Too many words for argv is fine: look at the first ones. */
		int too_many = err && !strcmp(err, "too many arguments");

		free(err);
		if (!too_many)
			return NULL;
		argc = 3;
	}
	for (i = 0; argv[0][i] && i < sizeof(word) - 1; i++)
		word[i] = (char)tolower((unsigned char)argv[0][i]);
	word[i] = '\0';
	e = command_find_builtin(word);
	if (e)
		return e->capability;
	p = plugin_find_by_word(word);
	if (!p)
		p = plugin_find(word);
	if (!p)
		return NULL;
	e = argc >= 2 ? command_find(p->command_word, argv[1]) : NULL;
	if (!e)
		e = command_find(p->command_word, "");
	return e ? e->capability : NULL;
}

int command_dispatch_argv(const struct command_source *src, int argc,
			  char **argv)
{
	const char *rest[COMMAND_ARGS_MAX + 2];
	struct buf joined[COMMAND_ARGS_MAX + 1];
	int i, j, rc;

	if (argc > COMMAND_ARGS_MAX) {
		fprintf(stderr, "opsbot: too many arguments (at most %d)\n",
			COMMAND_ARGS_MAX);
		return -1;
	}
	/* The CLI has no typed text: rebuild it from the words. */
	for (i = 0; i <= argc; i++) {
		joined[i] = (struct buf)BUF_INIT;
		for (j = i; j < argc; j++) {
			if (j > i)
				buf_addch(&joined[i], ' ');
			buf_adds(&joined[i], argv[j]);
		}
		rest[i] = joined[i].data ? joined[i].data : "";
	}
	rest[argc + 1] = "";
	rc = dispatch(src, argc, argv, rest);
	for (i = 0; i <= argc; i++)
		buf_free(&joined[i]);
	return rc;
}

/* ---- set-up ---- */

/* Unload: pending requests end with an error, then the commands go. */
static void command_sweep(struct opsbot_plugin *p)
{
	command_abort_requests(p);
	command_remove_plugin(p);
}

static struct plugin_sweeper command_sweeper = {"commands", command_sweep,
						NULL};
void command_init(void)
{
	plugin_add_sweeper(&command_sweeper);
	plugin_set_word_check(command_word_taken);
}

static void ignore_clear(void)
{
	int i;

	for (i = 0; i < ignore_count; i++)
		free(ignore_masks[i]);
	free(ignore_masks);
	ignore_masks = NULL;
	ignore_count = 0;
}

int command_ignores(const char *nick, const char *user, const char *host,
		    int casemap)
{
	char *full;
	int i, hit = 0;

	if (!ignore_count || !nick)
		return 0;
	full =
	    xasprintf("%s!%s@%s", nick, user ? user : "*", host ? host : "*");
	for (i = 0; i < ignore_count && !hit; i++)
		hit = irc_mask_match(ignore_masks[i], full,
				     (enum irc_casemapping)casemap);
	free(full);
	return hit;
}

void command_configure(const struct config *cfg)
{
	const char *p = config_get(cfg, "bot", config_bot_keys, "prefix");
	char **items;
	int count, i;

	request_configure(p && *p ? p : "!",
			  (int)config_get_int(cfg, "bot", config_bot_keys,
					      "channel_reply_lines"),
			  (int)config_get_int(cfg, "bot", config_bot_keys,
					      "private_reply_lines"));
	reply_unknown = config_get_bool(cfg, "bot", config_bot_keys,
					"unknown_command_reply");
	confirm_configure((long)config_get_duration_ms(
	    cfg, "bot", config_bot_keys, "confirm_timeout"));
	ignore_clear();
	items = config_get_list(cfg, "bot", config_bot_keys, "ignore", &count);
	ignore_masks = xcalloc((size_t)count + 1, sizeof(*ignore_masks));
	for (i = 0; i < count; i++)
		ignore_masks[ignore_count++] = xstrdup(items[i]);
	free(items);
}

void command_fini(void)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &commands)
	{
		entry_free(list_entry(pos, struct command_entry, link));
	}
	command_refuse(NULL);
	confirm_clear();
	ignore_clear();
	strays_clear();
}
