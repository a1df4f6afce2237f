/*
 * builtin.c - the built-in commands: !ping, !help, !version, !plugins,
 * !plugin load|unload|reload and !whoami, and their registration.  They
 * run like any command (dispatch and permission checks are command.c's)
 * and answer through the request they are given (request.c); !help reads
 * the registry through command.h's lookups and iterator.
 */
#include "builtin.h"
#include "access.h"
#include "command.h"
#include "log.h"
#include "plugin.h"
#include "request.h"

#include <stdlib.h>
#include <string.h>

static char *host_version;

static int builtin_ping(struct opsbot_plugin *self, struct opsbot_request *r,
			void *data)
{
	struct request *req = (struct request *)r;

	request_reply_now(req, 0, "pong");
	return OPSBOT_OK;
}

static int builtin_version(struct opsbot_plugin *self, struct opsbot_request *r,
			   void *data)
{
	request_reply_now((struct request *)r, 0,
			  "opsbot %s (plugin ABI %d.%d)", host_version,
			  OPSBOT_ABI_MAJOR, OPSBOT_ABI_MINOR);
	return OPSBOT_OK;
}

static int builtin_plugins(struct opsbot_plugin *self, struct opsbot_request *r,
			   void *data)
{
	struct list *pos, *tmp;
	struct buf b = BUF_INIT;

	list_for_each_safe(pos, tmp, plugin_list())
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		buf_addf(&b, "%s%s %s (%s%s)", b.len ? ", " : "", p->name,
			 p->desc->version ? p->desc->version : "?",
			 command_source_lead(&((struct request *)r)->src),
			 command_source_word(&((struct request *)r)->src, p));
	}
	if (b.len)
		request_reply_now((struct request *)r, 0, "plugins: %s",
				  b.data);
	else
		request_reply_now((struct request *)r, 0, "no plugins loaded");
	buf_free(&b);
	return OPSBOT_OK;
}

static void plugin_op_done(const char *name, const char *err, void *data)
{
	struct request *req = data;
	const char *verb = req->pub.argv[0];

	if (err) {
		/* Config errors span lines; chat gets the first. */
		request_reply_now(req, 1, "error: %.*s",
				  (int)strcspn(err, "\n"), err);
		request_finish(req, OPSBOT_ERR);
		return;
	}
	request_reply_now(req, 0, "%sed %s",
			  !strcmp(verb, "unload") ? "unload" : "reload", name);
	request_finish(req, OPSBOT_OK);
}

static int builtin_plugin(struct opsbot_plugin *self, struct opsbot_request *r,
			  void *data)
{
	struct request *req = (struct request *)r;
	const char *verb = r->argv[0], *name = r->argv[1];
	struct opsbot_plugin *p;
	char *err = NULL;

	if (!strcmp(verb, "load")) {
		if (!plugin_load(name, &err)) {
			request_reply_now(req, 1, "error: %.*s",
					  (int)strcspn(err, "\n"), err);
			if (strchr(err, '\n'))
				error("plugin", "%s", err);
			free(err);
			return OPSBOT_ERR;
		}
		request_reply_now(req, 0, "loaded %s", name);
		return OPSBOT_OK;
	}
	if (strcmp(verb, "unload") && strcmp(verb, "reload"))
		return OPSBOT_EUSAGE;
	p = plugin_find(name);
	if (!p) {
		char quoted[REQUEST_ECHO_BUF];

		request_reply_now(req, 1,
				  "error: no plugin%s is loaded (%splugins "
				  "lists them)",
				  request_quote(name, quoted, sizeof(quoted)),
				  command_source_lead(&req->src));
		return OPSBOT_ERR;
	}
	/* Work whose policy is REFUSE keeps the plugin; say what it is. */
	err = plugin_unload_refusal(p);
	if (err) {
		request_reply_now(req, 1, "error: %s", err);
		free(err);
		return OPSBOT_ERR;
	}
	err = plugin_describe_work(p);
	if (*err)
		request_reply_now(req, 0, "%s: waiting for %s to finish first",
				  name, err);
	free(err);
	/* Finishes from the loop, once the plugin is idle. */
	plugin_unload(p, !strcmp(verb, "reload"), plugin_op_done, req);
	return OPSBOT_PENDING;
}

static int builtin_whoami(struct opsbot_plugin *self, struct opsbot_request *r,
			  void *data)
{
	struct request *req = (struct request *)r;
	struct identity id = {req->src.nick, req->src.user, req->src.host,
			      req->src.account, req->src.nick_casemap};
	char caps[256];

	if (req->src.trusted)
		strlcpy_safe(caps, "all (local command line)", sizeof(caps));
	else
		access_describe(&id, caps, sizeof(caps));
	if (req->src.account)
		request_reply_now(
		    req, 0,
		    "you are %s!%s@%s, account %s (from %s); "
		    "capabilities: %s",
		    req->src.nick, req->src.user ? req->src.user : "?",
		    req->src.host ? req->src.host : "?", req->src.account,
		    req->src.account_source ? req->src.account_source
					    : "services",
		    caps);
	else
		request_reply_now(
		    req, 0,
		    "you are %s!%s@%s, not identified to services; "
		    "capabilities: %s",
		    req->src.nick, req->src.user ? req->src.user : "?",
		    req->src.host ? req->src.host : "?", caps);
	return OPSBOT_OK;
}

static int builtin_help(struct opsbot_plugin *self, struct opsbot_request *r,
			void *data)
{
	struct request *req = (struct request *)r;
	struct command_source *src = &req->src;
	struct list *pos, *tmp;
	struct opsbot_plugin *p;
	struct command_entry *e;
	struct buf b = BUF_INIT;
	char usage[256];
	int detailed = src->origin != OPSBOT_ORIGIN_CHANNEL;

	if (r->argc == 0) {
		for (e = command_next(NULL); e; e = command_next(e)) {
			if (!e->plugin)
				buf_addf(&b, "%s%s", b.len ? ", " : "",
					 e->word);
		}
		request_reply_now(req, 0, "built-in: %s", b.data);
		buf_reset(&b);
		list_for_each_safe(pos, tmp, plugin_list())
		{
			p = list_entry(pos, struct opsbot_plugin, link);
			buf_addf(&b, "%s%s%s", b.len ? ", " : "",
				 command_source_lead(src),
				 command_source_word(src, p));
			if (strcmp(command_source_word(src, p), p->name))
				buf_addf(&b, " (%s)", p->name);
		}
		if (b.len)
			request_reply_now(req, 0,
					  "plugins: %s; %shelp <plugin> "
					  "[<command>] for more",
					  b.data, command_source_lead(src));
		buf_free(&b);
		return OPSBOT_OK;
	}
	e = command_find_builtin(r->argv[0]);
	if (e && r->argc == 1) {
		command_format_usage(src, e, usage, sizeof(usage));
		request_reply_now(req, 0, "%s: %s", usage, e->help);
		return OPSBOT_OK;
	}
	p = plugin_find_by_word(r->argv[0]);
	if (!p)
		p = plugin_find(r->argv[0]);
	if (!p) {
		const char *near = command_suggest(r->argv[0], NULL);
		char quoted[REQUEST_ECHO_BUF];

		request_reply_now(
		    req, 1, "no command or plugin%s%s%s%s",
		    request_quote(r->argv[0], quoted, sizeof(quoted)),
		    near ? "; did you mean " : "", near ? near : "",
		    near ? "?" : "");
		return OPSBOT_ERR;
	}
	if (r->argc >= 2) {
		e = command_find(p->command_word, r->argv[1]);
		if (!e) {
			const char *near = command_suggest(r->argv[1], p);
			char quoted[REQUEST_ECHO_BUF];

			request_reply_now(
			    req, 1, "%s has no command%s%s%s%s",
			    p->command_word,
			    request_quote(r->argv[1], quoted, sizeof(quoted)),
			    near ? "; did you mean " : "", near ? near : "",
			    near ? "?" : "");
			return OPSBOT_ERR;
		}
		command_format_usage(src, e, usage, sizeof(usage));
		if (e->capability)
			request_reply_now(req, 0,
					  "%s: %s (needs capability %s)", usage,
					  e->help, e->capability);
		else
			request_reply_now(req, 0, "%s: %s", usage, e->help);
		return OPSBOT_OK;
	}
	request_reply_now(req, 0, "%s %s: %s", p->name,
			  p->desc->version ? p->desc->version : "",
			  p->desc->description ? p->desc->description : "");
	for (e = command_next(NULL); e; e = command_next(e)) {
		if (e->plugin != p)
			continue;
		if (detailed) {
			command_format_usage(src, e, usage, sizeof(usage));
			request_reply_now(req, 0, "  %s: %s", usage, e->help);
		} else {
			buf_addf(&b, "%s%s", b.len ? ", " : "",
				 *e->name ? e->name : "(bare)");
		}
	}
	if (!detailed)
		request_reply_now(req, 0,
				  "commands: %s; %shelp %s <command> for "
				  "usage",
				  b.len ? b.data : "none",
				  command_source_lead(src),
				  command_source_word(src, p));
	buf_free(&b);
	return OPSBOT_OK;
}

void builtin_init(const char *version)
{
	static const struct opsbot_command builtins[] = {
	    OPSBOT_COMMAND("", "", "answers pong", NULL, 0, 0, builtin_ping,
			   NULL),
	    OPSBOT_COMMAND("", "[<plugin> [<command>]]",
			   "lists commands, or explains one", NULL, 0, 2,
			   builtin_help, NULL),
	    OPSBOT_COMMAND("", "", "shows the version", NULL, 0, 0,
			   builtin_version, NULL),
	    OPSBOT_COMMAND("", "", "lists loaded plugins and their versions",
			   NULL, 0, 0, builtin_plugins, NULL),
	    OPSBOT_COMMAND("", "load|unload|reload <name>",
			   "loads, unloads or reloads a plugin", "admin", 2, 2,
			   builtin_plugin, NULL),
	    OPSBOT_COMMAND("", "",
			   "shows who the bot thinks you are and what you may "
			   "do",
			   NULL, 0, 0, builtin_whoami, NULL),
	};
	static const char *const words[] = {"ping",    "help",	 "version",
					    "plugins", "plugin", "whoami"};
	size_t i;

	host_version = xstrdup(version);
	for (i = 0; i < ARRAY_SIZE(builtins); i++)
		command_add_builtin(words[i], &builtins[i]);
}

void builtin_fini(void)
{
	free(host_version);
	host_version = NULL;
}
