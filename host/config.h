/*
 * config.h - the INI configuration: parsing with line numbers, validation
 * against schemas (the host's sections and each plugin's descriptor), typed
 * values and secrets.
 *
 * A config is parsed once into a list of entries and never changed; a
 * reload builds a new one, validates it completely, and only then replaces
 * the old one.  Every error names the file, the line and the key.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include "opsbot.h"
#include "util.h"

struct config_entry {
	char *section; /* "irc", "plugin.registrar" */
	char *key;
	char *value;
	int line;
	struct config_entry *next;
};

struct config {
	char *path;
	struct config_entry *entries; /* in file order */
	struct buf errors;	      /* one error per line */
	int error_count;
	char **secret_values; /* resolved secrets, for redaction */
	int secret_count;
	int refs; /* config_free() at 0 */
	/* What the raw text looked like, for config_validate_complete(). */
	int ends_with_newline;
	int last_line_is_header; /* the last non-blank line is "[...]" */
	int last_header_line;
};

/* Host section schemas, used by validation and the getters below. */
extern const struct opsbot_config_key config_irc_keys[];
extern const struct opsbot_config_key config_bot_keys[];
extern const struct opsbot_config_key config_access_keys[];
extern const struct opsbot_config_key config_http_keys[];

/*
 * Reads and parses path.  Returns a config (check error_count: syntax
 * errors are recorded, not fatal) or NULL if the file cannot be read, with
 * the reason in *err (malloc'd).
 */
struct config *config_load(const char *path, char **err);
/* The same from a string (tests, fuzzing); name is used in messages. */
struct config *config_load_string(const char *text, const char *name);
/* Reference counting: plugins keep the config they were loaded with, so
 * strings they were given stay valid after a reload of the file. */
struct config *config_ref(struct config *cfg);
void config_free(struct config *cfg); /* drops one reference */

/* Records an error "file:line: [section] key: message". */
void config_error(struct config *cfg, const struct config_entry *e,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Validates the host sections ([irc], [bot], [access], [http]) and flags
 * unknown sections other than [plugin.*].  Errors are added to cfg.
 */
void config_validate_host(struct config *cfg);

/*
 * The checks of a file that replaces a running config (SIGHUP): it must
 * not be empty, must end with a newline, must not end with a section
 * header (signs of a file read while it was being written), and must set
 * [irc] server and [irc] nick itself (a reload never falls back to the
 * defaults).  Errors are added to cfg.
 */
void config_validate_complete(struct config *cfg);

/*
 * Validates section against a schema: unknown keys (with a suggestion),
 * types and ranges, repeated scalar keys, required keys, secrets (exactly
 * one of key, key_file, key_env; the file readable).  Resolved secrets are
 * remembered in cfg for redaction.
 */
void config_validate_section(struct config *cfg, const char *section,
			     const struct opsbot_config_key *schema);

/* Lookups.  All return the schema default when the key is not set. */
const struct opsbot_config_key *
config_schema_find(const struct opsbot_config_key *schema, const char *key);
const struct config_entry *config_find(const struct config *cfg,
				       const char *section, const char *key);
const char *config_get(const struct config *cfg, const char *section,
		       const struct opsbot_config_key *schema, const char *key);
long long config_get_int(const struct config *cfg, const char *section,
			 const struct opsbot_config_key *schema,
			 const char *key);
int config_get_bool(const struct config *cfg, const char *section,
		    const struct opsbot_config_key *schema, const char *key);
long long config_get_duration_ms(const struct config *cfg, const char *section,
				 const struct opsbot_config_key *schema,
				 const char *key);
/* A LIST key: its items (split at commas, trimmed), malloc'd array of
 * pointers into one malloc'd block; *count set.  Free with free(). */
char **config_get_list(const struct config *cfg, const char *section,
		       const struct opsbot_config_key *schema, const char *key,
		       int *count);
/* A path from the config: a relative one is relative to the config
 * file's directory, as opsbot.conf.example promises.  malloc'd. */
char *config_resolve_path(const struct config *cfg, const char *path);
/* A SECRET key resolved (malloc'd, free with free_secret), or NULL; a
 * _file path goes through config_resolve_path(). */
char *config_get_secret(const struct config *cfg, const char *section,
			const char *key, char **err);

/* Does the section exist at all? */
int config_has_section(const struct config *cfg, const char *section);

/* Parsers shared with the getters; return 0 or -1. */
int config_parse_int(const char *s, long long *out);
int config_parse_bool(const char *s, int *out);
int config_parse_duration_ms(const char *s, long long *out);

/* 1 if both configs have the same entries (values and order, lines
 * ignored) in section. */
int config_section_equal(const struct config *a, const struct config *b,
			 const char *section);

/* ---- plugin sections ----
 * A plugin has its section [plugin.<name>] and, when its descriptor
 * declares sub-section kinds, any number of instances of each,
 * [plugin.<name>.<kind>.<instance>]. */

/* Instance names: [a-z0-9_-]{1,32}. */
int config_instance_name_valid(const char *s, size_t len);
/* The kind named by "kind" or "kind.instance" (a valid instance name),
 * or NULL. */
const struct opsbot_config_section *
config_section_kind(const struct opsbot_config_section *kinds,
		    const char *name);
/* Instance names under prefix ("plugin.ci.jenkins"), in file order: a
 * malloc'd NULL-terminated array of strings owned by cfg; *count set. */
char **config_instances(const struct config *cfg, const char *prefix,
			int *count);
/* Validates [plugin.<name>] and all its sub-sections against desc:
 * unknown kinds, instance counts, and each instance's keys. */
void config_validate_plugin(struct config *cfg, const char *name,
			    const struct opsbot_plugin_descriptor *desc);
/* 1 if every section of the plugin is the same in a and b. */
int config_plugin_equal(const struct config *a, const struct config *b,
			const char *name);
/* 1 if a key flagged OPSBOT_CONFIG_RELOAD differs between a and b. */
int config_plugin_reload_key_changed(
    const struct config *a, const struct config *b, const char *name,
    const struct opsbot_plugin_descriptor *desc);

#endif /* CONFIG_H */
