/*
 * main.c - the opsbot program: options, configuration (load, check,
 * reload on SIGHUP), the daemon and the `opsbot run` command line.
 */
#include "access.h"
#include "api.h"
#include "say.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "http.h"
#include "irc.h"
#include "keeper.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "plugin.h"
#include "process.h"
#include "store.h"
#include "util.h"
#include "version.h"
#include "webhook.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define EXIT_CONFIG 2 /* the config is invalid */
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: opsbot [-c FILE] [-v|-q]          run the bot\n"
    "       opsbot [-c FILE] --check-config   validate the config and exit\n"
    "       opsbot [-c FILE] run <plugin> [<args>...]\n"
    "                                         run one plugin command here\n"
    "       opsbot [-c FILE] --config-reference[=man]   every config key,\n"
    "                                         with defaults and help (=man:\n"
    "                                         as roff, for opsbot.conf(5))\n"
    "       opsbot --version | --help\n"
    "\n"
    "  -c FILE   configuration (default: $OPSBOT_CONFIG, else ./opsbot.conf)\n"
    "  -v        more log output (repeat for debug)\n"
    "  -q        errors only\n";

struct options {
	const char *config_path;
	int verbosity; /* 0 info, 1 debug, -1 warnings, -2 errors */
	int check_config;
	int config_reference; /* 1 text, 2 man (roff for opsbot.conf(5)) */
	int run_argc;
	char **run_argv;
};

static struct config *config;
static char *config_dir;
static uv_signal_t sig_term, sig_int, sig_hup;
static int shutting_down;
static int cli_status = OPSBOT_OK;
static int cli_done;
static int cli_mode; /* `opsbot run`: no IRC to quit */

/* ---- options ---- */

static int parse_options(int argc, char **argv, struct options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (++i >= argc) {
				fprintf(stderr, "opsbot: -c needs a file\n");
				return -1;
			}
			o->config_path = argv[i];
		} else if (!strcmp(a, "-v")) {
			o->verbosity++;
		} else if (!strcmp(a, "-vv")) {
			o->verbosity += 2;
		} else if (!strcmp(a, "-q")) {
			o->verbosity = -2;
		} else if (!strcmp(a, "--check-config")) {
			o->check_config = 1;
		} else if (!strcmp(a, "--config-reference")) {
			o->config_reference = 1;
		} else if (!strcmp(a, "--config-reference=man")) {
			o->config_reference = 2;
		} else if (!strcmp(a, "--version")) {
			printf("opsbot %s (plugin ABI %d.%d)\n", OPSBOT_VERSION,
			       OPSBOT_ABI_MAJOR, OPSBOT_ABI_MINOR);
			exit(0);
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!strcmp(a, "run")) {
			o->run_argc = argc - i - 1;
			o->run_argv = argv + i + 1;
			if (o->run_argc < 1) {
				fprintf(stderr,
					"opsbot: run needs a plugin name "
					"(opsbot run <plugin> <args...>)\n");
				return -1;
			}
			break;
		} else {
			fprintf(stderr, "opsbot: unknown option '%s'\n%s", a,
				usage_text);
			return -1;
		}
	}
	if (!o->config_path)
		o->config_path = getenv("OPSBOT_CONFIG");
	if (!o->config_path)
		o->config_path = "opsbot.conf";
	return 0;
}

/* ---- configuration ---- */

/* A path from the config, relative to the config file's directory. */
static char *config_relative(const char *path)
{
	if (!path || path[0] == '/')
		return xstrdup(path ? path : "");
	return xasprintf("%s/%s", config_dir, path);
}

static void set_plugin_dir(const struct config *cfg)
{
	const char *dir = config_get(cfg, "bot", config_bot_keys, "plugin_dir");
	char *path;

	if (dir && *dir)
		path = config_relative(dir);
	else
		path = module_find_dir("plugins");
	plugin_set_dir(path);
	free(path);
}

/* The config's error lines on stderr; each an error entry in the journal
 * when that is stderr (see log.h). */
static void print_config_errors(const char *text)
{
	if (!log_to_journal()) {
		fputs(text, stderr);
		return;
	}
	while (*text) {
		size_t len = strcspn(text, "\n");

		fprintf(stderr, "<3>%.*s\n", (int)len, text);
		text += len;
		if (*text == '\n')
			text++;
	}
}

/*
 * Loads and validates everything: host sections, grants, and the section
 * of every listed plugin against its descriptor (read without running it).
 * A reload (why != NULL) also wants a complete file; see
 * config_validate_complete().  Returns the config, or NULL after printing
 * every error, with the first one in *why (malloc'd) for a reload.
 */
static struct config *load_config(const char *path, int quiet_ok, char **why)
{
	struct config *cfg;
	char **plugins, *err = NULL;
	int count, i;

	cfg = config_load(path, &err);
	if (!cfg) {
		if (why) {
			*why = err;
			return NULL;
		}
		error("config", "%s", err);
		free(err);
		return NULL;
	}
	if (why)
		config_validate_complete(cfg);
	config_validate_host(cfg);
	irc_validate_config(cfg);
	webhook_validate_config(cfg);
	access_validate(cfg);
	set_plugin_dir(cfg);
	plugins =
	    config_get_list(cfg, "bot", config_bot_keys, "plugins", &count);
	for (i = 0; i < count; i++) {
		const struct opsbot_plugin_descriptor *desc;
		const struct config_entry *e =
		    config_find(cfg, "bot", "plugins");
		void *h;
		int j;

		for (j = 0; j < i; j++)
			if (!strcmp(plugins[j], plugins[i]))
				config_error(cfg, e, "plugin '%s' listed twice",
					     plugins[i]);
		h = plugin_peek(plugins[i], &desc, &err);
		if (!h) {
			config_error(cfg, e, "%s", err);
			free(err);
			err = NULL;
			continue;
		}
		config_validate_plugin(cfg, plugins[i], desc);
		/* A loaded plugin keeps its mapping; this only drops the
		 * reference peek took. */
		plugin_peek_release(h);
	}
	/* Sections of plugins that are not loaded are probably typos: one
	 * line per plugin, at its first key, not one per key. */
	{
		const struct config_entry *e;
		struct buf warned = BUF_INIT; /* "\nname\n" per plugin */

		for (e = cfg->entries; e; e = e->next) {
			const char *name;
			size_t len;
			int listed = 0;
			char *mark;

			if (!str_has_prefix(e->section, "plugin."))
				continue;
			name = e->section + 7;
			len = strcspn(name, ".");
			for (i = 0; i < count; i++)
				listed |= strlen(plugins[i]) == len &&
					  !strncmp(plugins[i], name, len);
			if (listed || quiet_ok)
				continue;
			mark = xasprintf("\n%.*s\n", (int)len, name);
			if (!warned.data || !strstr(warned.data, mark)) {
				warning("config",
					"%s:%d: [%s] is configured but "
					"'%.*s' is not in [bot] plugins",
					cfg->path, e->line, e->section,
					(int)len, name);
				buf_adds(&warned, mark + (warned.len ? 1 : 0));
			}
			free(mark);
		}
		buf_free(&warned);
	}
	free(plugins);
	if (cfg->error_count) {
		print_config_errors(cfg->errors.data);
		fprintf(stderr, "%sopsbot: %d error%s in %s\n",
			log_to_journal() ? "<3>" : "", cfg->error_count,
			cfg->error_count == 1 ? "" : "s", path);
		if (why)
			*why = xasprintf("%.*s",
					 (int)strcspn(cfg->errors.data, "\n"),
					 cfg->errors.data);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void register_secrets(const struct config *cfg)
{
	int i;

	secret_clear_all();
	for (i = 0; i < cfg->secret_count; i++)
		secret_register(cfg->secret_values[i]);
	/* A plugin that is not reloaded keeps the secrets it read, even
	 * if their file has changed since (a rotated token). */
	plugin_register_secrets();
}

/* Starts the host for mode with the store of cfg (or store_path). */
static int start_host(enum opsbot_mode mode, const char *store_path)
{
	char *path = store_path ? xstrdup(store_path)
				: config_relative(config_get(
				      config, "bot", config_bot_keys, "state"));
	char *err = NULL;
	int rc = host_start(config, mode, path, OPSBOT_VERSION, &err);

	if (rc < 0) {
		error("store", "%s", err);
		free(err);
	}
	free(path);
	return rc;
}

/* ---- the daemon ---- */

static void load_plugins(const struct config *cfg)
{
	char **plugins, *err = NULL;
	int count, i;

	plugins =
	    config_get_list(cfg, "bot", config_bot_keys, "plugins", &count);
	for (i = 0; i < count; i++) {
		if (plugin_find(plugins[i]))
			continue;
		/* Its old instance (a reload for a changed section, or an
		 * unload not yet done) loads it again when it is gone. */
		if (plugin_reload_when_unloaded(plugins[i]))
			continue;
		if (!plugin_load(plugins[i], &err)) {
			error("plugin", "%s", err);
			free(err);
			err = NULL;
		}
	}
	free(plugins);
}

static void reload_done(const char *name, const char *err, void *data)
{
	UNUSED(data);
	if (err)
		error("config", "reloading plugin %s: %s", name, err);
}

/*
 * A plugin whose sections changed: given to its reconfigure() when it has
 * one and no key that needs a reload changed; otherwise reloaded, unless
 * running work refuses that, in which case it keeps its old settings.
 */
static void reconfigure_plugin(struct opsbot_plugin *p, struct config *fresh)
{
	const struct opsbot_plugin_descriptor *d = p->desc;
	char *why;

	if (OPSBOT_HAS_MEMBER(d, reconfigure) && d->reconfigure &&
	    !config_plugin_reload_key_changed(p->config, fresh, p->name, d)) {
		if (plugin_reconfigure(p, fresh) == 0) {
			info("config", "plugin %s took its new configuration",
			     p->name);
			return;
		}
		error("config",
		      "plugin %s refused its new configuration (see above); "
		      "it keeps the old one",
		      p->name);
		return;
	}
	why = plugin_unload_refusal(p);
	if (why) {
		error("config",
		      "[plugin.%s] changed, but it cannot be reloaded now: %s; "
		      "it keeps its old settings until a later reload",
		      p->name, why);
		free(why);
		return;
	}
	why = plugin_describe_work(p);
	if (*why)
		info("config", "plugin %s reloads once %s finished", p->name,
		     why);
	free(why);
	plugin_unload(p, 1, reload_done, NULL);
}

static void reload_config(void)
{
	char *refusal = NULL;
	struct config *fresh = load_config(config->path, 1, &refusal);
	struct list *pos, *tmp;
	char **plugins;
	int count, i;

	if (!fresh) {
		error("config",
		      "SIGHUP: new config refused, still running with the old "
		      "one: %s",
		      refusal);
		free(refusal);
		return;
	}
	register_secrets(fresh);
	if (!config_section_equal(config, fresh, "http"))
		webhook_configure(fresh);
	irc_reconfigure(fresh);
	host_apply_config(fresh);
	log_set_level(log_get_level());

	/* Unload removed plugins; reconfigure those whose sections changed. */
	plugins =
	    config_get_list(fresh, "bot", config_bot_keys, "plugins", &count);
	list_for_each_safe(pos, tmp, plugin_list())
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);
		int listed = 0;

		for (i = 0; i < count; i++)
			listed |= !strcmp(plugins[i], p->name);
		if (!listed) {
			char *why = plugin_unload_refusal(p);

			if (why) {
				error("config",
				      "plugin %s is no longer listed, but "
				      "cannot be unloaded now: %s",
				      p->name, why);
				free(why);
				continue;
			}
			plugin_unload(p, 0, reload_done, NULL);
		} else if (!config_plugin_equal(p->config, fresh, p->name)) {
			reconfigure_plugin(p, fresh);
		}
	}
	free(plugins);
	load_plugins(fresh);
	config_free(config);
	config = fresh;
	info("config", "reloaded %s", config->path);
}

static void on_quit_done(void)
{
	loop_stop();
}

/* Every plugin is gone (or the deadline passed): leave IRC, then stop. */
static void on_plugins_gone(int all_gone)
{
	UNUSED(all_gone);
	irc_quit(config_get(config, "bot", config_bot_keys, "quit_message"),
		 on_quit_done);
}

static int cli_plugins_gone;

static void on_cli_plugins_gone(int all_gone)
{
	UNUSED(all_gone);
	cli_plugins_gone = 1;
	loop_stop();
}

static void on_signal(uv_signal_t *s, int signum)
{
	long grace = host_shutdown_grace_ms(config);

	UNUSED(s);
	if (signum == SIGHUP) {
		info("main", "SIGHUP: reloading the configuration");
		reload_config();
		return;
	}
	if (shutting_down) {
		warning("main", "second signal: exiting now");
		process_kill_all();
		store_close();
		_exit(1);
	}
	shutting_down = 1;
	/* Ctrl-C on `opsbot run` means stop this command now. */
	if (cli_mode)
		grace = 0;
	info("main", "%s: shutting down (running work may finish for %ld s)",
	     signum == SIGINT ? "SIGINT" : "SIGTERM", grace / 1000);
	command_refuse("the bot is shutting down");
	/* Announcements and replies still go out while work drains; IRC
	 * quits once the plugins are gone.  Bounded: see plugin.h. */
	plugin_unload_all_begin(grace, cli_mode ? on_cli_plugins_gone
						: on_plugins_gone);
}

static void watch_signals(int with_hup)
{
	uv_signal_init(loop_get(), &sig_term);
	uv_signal_init(loop_get(), &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_unref((uv_handle_t *)&sig_term);
	uv_unref((uv_handle_t *)&sig_int);
	if (with_hup) {
		uv_signal_init(loop_get(), &sig_hup);
		uv_signal_start(&sig_hup, on_signal, SIGHUP);
		uv_unref((uv_handle_t *)&sig_hup);
	}
}

static int run_daemon(void)
{
	if (start_host(OPSBOT_MODE_DAEMON, NULL) < 0)
		return 1;
	say_set_sink(irc_say);
	say_set_progress_sink(irc_say_progress);
	if (webhook_configure(config) < 0) {
		host_stop();
		return 1;
	}
	watch_signals(1);
	irc_start(config);
	load_plugins(config);
	loop_run();
	irc_fini();
	host_stop();
	return 0;
}

/* ---- opsbot run ---- */

static void cli_write(FILE *f, const char *text, size_t len)
{
	char *copy = secret_redact_copy(text, len, &len);

	fwrite(copy ? copy : text, 1, len, f);
	fputc('\n', f);
	fflush(f);
	free(copy);
}

static void cli_send(struct request *req, int private, int is_error,
		     const char *text, size_t len)
{
	UNUSED(req);
	UNUSED(private);
	cli_write(is_error ? stderr : stdout, text, len);
}

static void cli_finished(struct request *req, int status)
{
	UNUSED(req);
	cli_status = status;
	cli_done = 1;
	loop_stop();
}

static const struct reply_sink cli_sink = {cli_send, cli_finished};

static void cli_say(const char *target, const char *group, const char *text,
		    size_t len)
{
	UNUSED(group);
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s %.*s", target, (int)len, text);
	cli_write(stdout, b.data, b.len);
	buf_free(&b);
}

/* The plugin for "opsbot run <word>": by name, else by command word. */
static const char *cli_plugin_name(const char *word)
{
	char **plugins, *err = NULL;
	static char found[64];
	int count, i;

	if (plugin_name_valid(word)) {
		char *path = xasprintf("%s/%s.so", plugin_get_dir(), word);
		int exists = access(path, R_OK) == 0;

		free(path);
		if (exists)
			return word;
	}
	plugins =
	    config_get_list(config, "bot", config_bot_keys, "plugins", &count);
	found[0] = '\0';
	for (i = 0; i < count && !found[0]; i++) {
		const struct opsbot_plugin_descriptor *desc;
		void *h = plugin_peek(plugins[i], &desc, &err);

		if (!h) {
			free(err);
			err = NULL;
			continue;
		}
		if (desc->command && !strcmp(desc->command, word))
			strlcpy_safe(found, plugins[i], sizeof(found));
		if (OPSBOT_HAS_MEMBER(desc, extra_words) && desc->extra_words)
			for (const char *const *w = desc->extra_words; *w; w++)
				if (!strcmp(*w, word))
					strlcpy_safe(found, plugins[i],
						     sizeof(found));
		plugin_peek_release(h);
	}
	free(plugins);
	return found[0] ? found : word;
}

static int run_cli(int argc, char **argv)
{
	struct command_source src;
	const char *name;
	char *err = NULL;
	const char *user = getenv("USER");
	int rc;

	cli_mode = 1;
	if (start_host(OPSBOT_MODE_CLI, NULL) < 0)
		return 1;
	say_set_sink(cli_say);
	watch_signals(0);
	name = cli_plugin_name(argv[0]);
	if (command_is_builtin(name)) {
		/* help and plugins speak about every configured plugin. */
		load_plugins(config);
	} else if (!plugin_load(name, &err)) {
		fprintf(stderr, "opsbot: %s\n", err);
		free(err);
		/* Sweep what init started while the store is still open. */
		plugin_unload_all_wait(host_shutdown_grace_ms(config));
		host_stop();
		/* A plugin that cannot start is a setup problem, like a
		 * config error: exit 2, as documented. */
		return EXIT_CONFIG;
	}
	memset(&src, 0, sizeof(src));
	src.origin = OPSBOT_ORIGIN_CLI;
	src.nick = user && *user ? user : "operator";
	src.user = src.nick;
	src.host = "localhost";
	src.reply_to = src.nick;
	src.sink = &cli_sink;
	src.trusted = 1;
	if (strcmp(name, argv[0]))
		argv[0] = (char *)name;
	rc = command_dispatch_argv(&src, argc, argv);
	if (rc >= 0 && !cli_done)
		loop_run();
	/* After Ctrl-C on_signal began the unload; the aborted command may
	 * have stopped the loop before the plugins were gone. */
	if (shutting_down)
		loop_run_until(&cli_plugins_gone);
	else
		plugin_unload_all_wait(host_shutdown_grace_ms(config));
	host_stop();
	if (rc < 0)
		return EXIT_USAGE;
	if (cli_status == OPSBOT_OK)
		return 0;
	return cli_status == OPSBOT_EUSAGE ? EXIT_USAGE : 1;
}

/* ---- --check-config ---- */

/*
 * The schema checks passed; now every listed plugin's init() runs in
 * CHECK mode against a scratch in-memory store, so a plugin can refuse
 * what only it understands.  Returns 0, or EXIT_CONFIG after the plugins
 * logged their reasons.
 */
static int check_plugins(void)
{
	char **plugins, *err = NULL;
	int count, i, failed = 0;

	if (start_host(OPSBOT_MODE_CHECK, ":memory:") < 0)
		return 1;
	plugins =
	    config_get_list(config, "bot", config_bot_keys, "plugins", &count);
	for (i = 0; i < count; i++) {
		if (!plugin_load(plugins[i], &err)) {
			fprintf(stderr, "%s: [plugin.%s]: %s\n", config->path,
				plugins[i], err);
			free(err);
			err = NULL;
			failed++;
		}
	}
	free(plugins);
	plugin_unload_all();
	host_stop();
	if (failed)
		fprintf(stderr, "opsbot: %d plugin%s refused %s\n", failed,
			failed == 1 ? "" : "s", config->path);
	return failed ? EXIT_CONFIG : 0;
}

/* ---- --config-reference ---- */

/*
 * The reference is printed as text (--config-reference) or as roff for
 * the KEYS section of opsbot.conf(5) (--config-reference=man), from the
 * same schema, so the manual cannot drift from the program.
 */
static int reference_man;

static const char *type_word(enum opsbot_config_type t)
{
	static const char *const words[] = {"text",	"number", "boolean",
					    "duration", "secret", "list"};

	return (unsigned)t < ARRAY_SIZE(words) ? words[t] : "?";
}

/* s as roff text: backslashes and hyphens escaped, control characters
 * and line breaks (none expected) made spaces. */
static void roff(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else if ((unsigned char)*s < 0x20)
			putchar(' ');
		else
			putchar(*s);
	}
}

static void print_key_man(const struct opsbot_config_key *k)
{
	/* .TP: the tag line, then the indented help. */
	fputs(".TP\n\\&\\fB", stdout);
	roff(k->key);
	if (k->type == OPSBOT_CONFIG_SECRET) {
		fputs("\\fR | \\fB", stdout);
		roff(k->key);
		fputs("_file\\fR | \\fB", stdout);
		roff(k->key);
		fputs("_env\\fR\n", stdout);
	} else {
		fputs("\\fR = \\fI", stdout);
		roff(k->default_value ? k->default_value : "");
		fputs("\\fR\n", stdout);
	}
	fputs("\\&(", stdout);
	roff(type_word(k->type));
	if (k->flags & OPSBOT_CONFIG_REQUIRED)
		fputs(", required", stdout);
	fputs(") ", stdout);
	roff(k->help ? k->help : "");
	putchar('\n');
}

static void print_keys(const struct opsbot_config_key *k)
{
	for (; k && k->key; k++) {
		char left[80];

		if (reference_man) {
			print_key_man(k);
			continue;
		}
		if (k->type == OPSBOT_CONFIG_SECRET)
			snprintf(left, sizeof(left), "  %s | %s_file | %s_env",
				 k->key, k->key, k->key);
		else
			snprintf(left, sizeof(left), "  %s = %s", k->key,
				 k->default_value ? k->default_value : "");
		printf("%-40s %s%s: %s\n", left, type_word(k->type),
		       k->flags & OPSBOT_CONFIG_REQUIRED ? ", required" : "",
		       k->help ? k->help : "");
	}
}

/* A section heading, with an optional comment ("example 1.0: ..."). */
static void print_heading(const char *section, const char *note)
{
	if (!reference_man) {
		printf("[%s]", section);
		if (note && *note)
			printf("    ; %s", note);
		printf("\n");
		return;
	}
	fputs(".SS \"[", stdout);
	roff(section);
	fputs("]\"\n", stdout);
	if (note && *note) {
		fputs(".PP\n\\&", stdout);
		roff(note);
		putchar('\n');
	}
}

static void print_section_end(void)
{
	if (!reference_man)
		printf("\n");
}

/* A plugin's repeatable sub-sections, each kind once with its keys. */
static void print_sections(const char *plugin,
			   const struct opsbot_config_section *s)
{
	for (; s && s->kind; s++) {
		char *name = xasprintf("plugin.%s.%s.<name>", plugin, s->kind);
		char count[64] = "";

		if (s->max_count)
			snprintf(count, sizeof(count), " (%d to %d of them)",
				 s->min_count, s->max_count);
		else if (s->min_count)
			snprintf(count, sizeof(count), " (at least %d)",
				 s->min_count);
		{
			char *note =
			    xasprintf("%s%s", s->help ? s->help : "", count);

			print_heading(name, note);
			free(note);
		}
		free(name);
		print_keys(s->keys);
		print_section_end();
	}
}

/* Prints the host's sections, then every plugin found in the plugin
 * directory, from their descriptors (no plugin code runs). */
static int print_config_reference(void)
{
	static const struct {
		const char *name;
		const struct opsbot_config_key *keys;
	} host[] = {{"irc", config_irc_keys},
		    {"bot", config_bot_keys},
		    {"access", config_access_keys},
		    {"http", config_http_keys}};
	struct dirent **names;
	size_t i;
	int n, j;

	for (i = 0; i < ARRAY_SIZE(host); i++) {
		print_heading(host[i].name, NULL);
		print_keys(host[i].keys);
		print_section_end();
	}
	n = scandir(plugin_get_dir(), &names, NULL, alphasort);
	for (j = 0; j < n; j++) {
		const struct opsbot_plugin_descriptor *desc;
		char name[64], *err = NULL;
		size_t len = strlen(names[j]->d_name);
		void *h;

		if (len > 3 && len < sizeof(name) &&
		    !strcmp(names[j]->d_name + len - 3, ".so")) {
			memcpy(name, names[j]->d_name, len - 3);
			name[len - 3] = '\0';
			h = plugin_peek(name, &desc, &err);
			if (h) {
				char *section = xasprintf("plugin.%s", name);
				char *note = xasprintf(
				    "%s %s: %s", name,
				    desc->version ? desc->version : "",
				    desc->description ? desc->description : "");

				print_heading(section, note);
				free(section);
				free(note);
				print_keys(desc->config);
				print_section_end();
				print_sections(name, desc->sections);
				plugin_peek_release(h);
			}
			free(err);
		}
		free(names[j]);
	}
	if (n >= 0)
		free(names);
	return 0;
}

/* ---- main ---- */

static void harden_process(void)
{
	struct rlimit no_core = {0, 0};

	/* Secrets live in memory: no core dumps, no ptrace by others. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct options opts;
	char *copy;
	int rc;

	if (argc > 1 && strcmp(argv[1], KEEPER_ARG) == 0)
		return keeper_main(argc, argv);
	if (parse_options(argc, argv, &opts) < 0)
		return EXIT_USAGE;
	if (opts.verbosity >= 1)
		log_set_level(LOG_DEBUG);
	else if (opts.verbosity == -1)
		log_set_level(LOG_WARN);
	else if (opts.verbosity <= -2)
		log_set_level(LOG_ERROR);
	/* In the CLI and the config check only warnings and errors go to
	 * the terminal. */
	if ((opts.run_argc || opts.check_config) && opts.verbosity == 0)
		log_set_level(LOG_WARN);
	harden_process();
	{
		char self[4096];
		ssize_t len =
		    readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len > 0) {
			self[len] = '\0';
			process_set_keeper(self);
		}
	}
	/* Decided once, before any thread logs. */
	log_to_journal();
	/* libuv's own pool (4 threads) is left to DNS lookups: plugin jobs
	 * have a pool of their own (job.c). */
	srand((unsigned)(time_now_ms() ^ getpid()));

	copy = xstrdup(opts.config_path);
	config_dir = xstrdup(dirname(copy));
	free(copy);
	if (opts.config_reference) {
		struct config *cfg = config_load_string("", "(none)");

		/* The plugin directory of the given config, if it reads. */
		if (!access(opts.config_path, R_OK)) {
			char *err = NULL;

			config_free(cfg);
			cfg = config_load(opts.config_path, &err);
			free(err);
		}
		set_plugin_dir(cfg);
		config_free(cfg);
		reference_man = opts.config_reference == 2;
		rc = print_config_reference();
		free(config_dir);
		plugin_set_dir(NULL);
		return rc;
	}
	config = load_config(opts.config_path, opts.run_argc > 0, NULL);
	if (!config) {
		free(config_dir);
		return EXIT_CONFIG;
	}
	register_secrets(config);
	if (opts.check_config) {
		rc = check_plugins();
		if (rc == 0)
			printf("%s: ok\n", opts.config_path);
		goto out;
	}
	if (opts.run_argc)
		rc = run_cli(opts.run_argc, opts.run_argv);
	else
		rc = run_daemon();
out:
	config_free(config);
	secret_clear_all();
	free(config_dir);
	plugin_set_dir(NULL);
	process_set_keeper(NULL);
	return rc;
}
