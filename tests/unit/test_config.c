/*
 * test_config.c - the INI config: every error names file, line and key;
 * types, ranges, secrets, lists and grants.
 */
#include "access.h"
#include "check_main.h"
#include "config.h"
#include "log.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct config *validate(const char *text)
{
	struct config *cfg = config_load_string(text, "bot.conf");

	config_validate_host(cfg);
	access_validate(cfg);
	return cfg;
}

/* Asserts that the errors contain want (and that there are errors). */
static void expect_error(const char *text, const char *want)
{
	struct config *cfg = validate(text);

	ck_assert_msg(cfg->error_count > 0, "no error for:\n%s", text);
	ck_assert_msg(cfg->errors.data && strstr(cfg->errors.data, want),
		      "want '%s' in:\n%s", want,
		      cfg->errors.data ? cfg->errors.data : "(none)");
	config_free(cfg);
}

START_TEST(valid_config_has_no_errors)
{
	struct config *cfg =
	    validate("; a comment\n"
		     "[irc]\n"
		     "server = irc.example.org\n"
		     "port = 6697\n"
		     "channels = #a, #b key\n"
		     "channels = #c\n"
		     "flood_interval = 1500ms\n"
		     "[bot]\n"
		     "prefix = .\n"
		     "[access]\n"
		     "grant = account alice admin\n"
		     "grant = mask *!*@10.0.0.* registrar.view\n");
	char **items;
	int n;

	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	ck_assert_int_eq(config_get_int(cfg, "irc", config_irc_keys, "port"),
			 6697);
	ck_assert_int_eq(config_get_duration_ms(cfg, "irc", config_irc_keys,
						"flood_interval"),
			 1500);
	/* Defaults come from the schema. */
	ck_assert_int_eq(
	    config_get_duration_ms(cfg, "irc", config_irc_keys, "ping_timeout"),
	    120000);
	ck_assert_str_eq(config_get(cfg, "irc", config_irc_keys, "nick"),
			 "opsbot");
	items = config_get_list(cfg, "irc", config_irc_keys, "channels", &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(items[0], "#a");
	ck_assert_str_eq(items[1], "#b key");
	ck_assert_str_eq(items[2], "#c");
	ck_assert_ptr_null(items[3]);
	free(items);
	config_free(cfg);
}
END_TEST

START_TEST(errors_name_file_line_and_key)
{
	expect_error("[irc]\nport = abc\n",
		     "bot.conf:2: [irc] port: 'abc' is not a whole number");
	expect_error("[irc]\n\nport = 70000\n",
		     "bot.conf:3: [irc] port: 70000 is out of range (1 to "
		     "65535)");
	expect_error("[bot]\nprefx = !\n",
		     "bot.conf:2: [bot] prefx: unknown key (did you mean "
		     "'prefix'?)");
	expect_error("[irc]\nflood_control = maybe\n",
		     "bot.conf:2: [irc] flood_control: 'maybe' is not true or "
		     "false");
	expect_error("[irc]\nping_timeout = 5 minutes\n",
		     "bot.conf:2: [irc] ping_timeout: '5 minutes' is not a "
		     "duration");
	expect_error("[irc]\nnick = a\nnick = b\n",
		     "bot.conf:3: [irc] nick: set twice (first on line 2)");
	expect_error("[irk]\nnick = a\n", "bot.conf:2: [irk]: unknown section");
	expect_error("nick = a\n", "bot.conf:1: 'nick' is outside any");
	expect_error("[irc]\nthis line has no equals sign\n",
		     "bot.conf:2: syntax error");
	expect_error("[access]\ngrant = user bob admin\n",
		     "bot.conf:2: [access] grant: 'user bob admin': expected");
	expect_error("[access]\ngrant = account bob\n",
		     "at least one capability");
}
END_TEST

START_TEST(long_lines_are_refused_not_split)
{
	struct buf b = BUF_INIT;
	struct config *cfg;
	int i;

	buf_adds(&b, "[irc]\nrealname = ");
	for (i = 0; i < 300; i++)
		buf_addch(&b, 'x');
	/* inih would read the rest as a new line "port = 1"-like text. */
	buf_adds(&b, " port = 1\n");
	cfg = validate(b.data);
	ck_assert_msg(strstr(cfg->errors.data, "bot.conf:2: line longer than"),
		      "%s", cfg->errors.data);
	ck_assert_ptr_null(config_find(cfg, "irc", "port"));
	config_free(cfg);
	buf_free(&b);
}
END_TEST

static const struct opsbot_config_key plugin_keys[] = {
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0, ""),
    OPSBOT_CONFIG_KEY("limit", OPSBOT_CONFIG_INT, "5", 0, 1, 10, ""),
    OPSBOT_CONFIG_KEY("every", OPSBOT_CONFIG_DURATION, "1m", 0, 1000, 3600000,
		      ""),
    OPSBOT_CONFIG_KEY("board", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0, ""),
    OPSBOT_CONFIG_END,
};

static struct config *validate_plugin(const char *text)
{
	struct config *cfg = config_load_string(text, "bot.conf");

	config_validate_section(cfg, "plugin.x", plugin_keys);
	return cfg;
}

START_TEST(plugin_sections_and_secrets)
{
	char *dir = test_make_dir("config");
	char *secret_file = test_write_file(dir, "token", "s3cret-value\n");
	struct buf text = BUF_INIT;
	struct config *cfg;
	char *value, *err = NULL;

	/* From a file: the trailing newline is not part of the secret. */
	buf_addf(&text, "[plugin.x]\ntoken_file = %s\nboard = b\n",
		 secret_file);
	cfg = validate_plugin(text.data);
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	value = config_get_secret(cfg, "plugin.x", "token", &err);
	ck_assert_str_eq(value, "s3cret-value");
	free_secret(value);
	ck_assert_int_eq(cfg->secret_count, 1);
	config_free(cfg);

	/* From the environment. */
	setenv("OPSBOT_TEST_TOKEN", "env-secret", 1);
	cfg = validate_plugin("[plugin.x]\ntoken_env = OPSBOT_TEST_TOKEN\n"
			      "board = b\n");
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	value = config_get_secret(cfg, "plugin.x", "token", &err);
	ck_assert_str_eq(value, "env-secret");
	free_secret(value);
	config_free(cfg);

	/* Errors: missing, both, unset variable, unreadable file; the
	 * messages name the key and never a value. */
	cfg = validate_plugin("[plugin.x]\nboard = b\n");
	ck_assert_msg(strstr(cfg->errors.data,
			     "[plugin.x] token: required (set token, "
			     "token_file or token_env)"),
		      "%s", cfg->errors.data);
	config_free(cfg);
	cfg = validate_plugin("[plugin.x]\ntoken = abcd1234\ntoken_env = X\n"
			      "board = b\n");
	ck_assert_msg(strstr(cfg->errors.data, "set only one of token"), "%s",
		      cfg->errors.data);
	ck_assert_msg(!strstr(cfg->errors.data, "abcd1234"), "%s",
		      cfg->errors.data);
	config_free(cfg);
	cfg = validate_plugin("[plugin.x]\ntoken_env = OPSBOT_TEST_UNSET_VAR\n"
			      "board = b\n");
	ck_assert_msg(strstr(cfg->errors.data,
			     "bot.conf:2: [plugin.x] token_env: environment "
			     "variable 'OPSBOT_TEST_UNSET_VAR' is not set"),
		      "%s", cfg->errors.data);
	config_free(cfg);
	cfg = validate_plugin("[plugin.x]\ntoken_file = /nonexistent/t\n"
			      "board = b\n");
	ck_assert_msg(strstr(cfg->errors.data, "cannot read secret file "
					       "'/nonexistent/t'"),
		      "%s", cfg->errors.data);
	config_free(cfg);

	/* Required plain key, range, unknown key with suggestion. */
	cfg = validate_plugin("[plugin.x]\ntoken = t0k3n\nlimit = 11\n"
			      "evrey = 5m\n");
	ck_assert_msg(strstr(cfg->errors.data, "[plugin.x] board: required") &&
			  strstr(cfg->errors.data, "bot.conf:3: [plugin.x] "
						   "limit: 11 is out of "
						   "range (1 to 10)") &&
			  strstr(cfg->errors.data, "did you mean 'every'?"),
		      "%s", cfg->errors.data);
	ck_assert_int_eq(cfg->error_count, 3);
	config_free(cfg);
	buf_free(&text);
	free(secret_file);
	test_cleanup_dir(dir);
}
END_TEST

START_TEST(durations_and_booleans)
{
	long long ms;
	int b;

	ck_assert_int_eq(config_parse_duration_ms("90", &ms), 0);
	ck_assert_int_eq(ms, 90000);
	ck_assert_int_eq(config_parse_duration_ms("1.5s", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(config_parse_duration_ms("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(config_parse_duration_ms("2h", &ms), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(config_parse_duration_ms("1d", &ms), 0);
	ck_assert_int_eq(ms, 86400000);
	ck_assert_int_eq(config_parse_duration_ms("-1s", &ms), -1);
	ck_assert_int_eq(config_parse_duration_ms("5 m", &ms), -1);
	ck_assert_int_eq(config_parse_duration_ms("", &ms), -1);
	ck_assert_int_eq(config_parse_duration_ms("nan", &ms), -1);
	ck_assert_int_eq(config_parse_bool("Yes", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(config_parse_bool("off", &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(config_parse_bool("2", &b), -1);
}
END_TEST

START_TEST(grants_give_capabilities)
{
	struct config *cfg = validate("[access]\n"
				      "grant = account alice admin\n"
				      "grant = account bob registrar.*\n"
				      "grant = mask carol!*@trusted.example "
				      "ceph.view packer.build\n");
	struct identity alice = {"al", "u", "h", "alice", 0};
	struct identity bob = {"bob", "u", "h", "Bob", 0};
	struct identity carol = {"Carol", "~c", "trusted.example", NULL, 0};
	struct identity fake = {"carol", "~c", "evil.example", NULL, 0};
	struct identity anon = {"x", "u", "h", NULL, 0};
	char caps[128];

	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	access_configure(cfg);
	ck_assert(access_has(&alice, "ceph.destroy"));
	ck_assert(access_has(&bob, "registrar.admin"));
	ck_assert(!access_has(&bob, "registrarx.admin"));
	ck_assert(!access_has(&bob, "ceph.view"));
	ck_assert(access_has(&carol, "packer.build"));
	ck_assert(!access_has(&fake, "packer.build"));
	ck_assert(!access_has(&anon, "ceph.view"));
	access_describe(&carol, caps, sizeof(caps));
	ck_assert_str_eq(caps, "ceph.view, packer.build");
	access_describe(&anon, caps, sizeof(caps));
	ck_assert_str_eq(caps, "none");
	access_clear();
	config_free(cfg);
}
END_TEST

/*
 * "password =" passed validation and the bot sent "PASS :"; inih's inline
 * comments (";" after a space) silently cut a value.  Both are errors
 * naming file, line and key, for every key whose empty value makes no
 * sense (all but lists) and every key in every section.
 */
START_TEST(empty_values_and_inline_comments_are_errors)
{
	struct config *cfg;
	const struct config_entry *e;

	expect_error("[irc]\npassword =\n",
		     "bot.conf:2: [irc] password: empty value: remove the line "
		     "or give a value");
	expect_error("[irc]\nsasl_password_file =\n",
		     "bot.conf:2: [irc] sasl_password_file: empty value");
	expect_error("[irc]\nnick = \n", "bot.conf:2: [irc] nick: empty value");
	expect_error("[bot]\nstate =\n",
		     "bot.conf:2: [bot] state: empty value");
	expect_error("[irc]\nport =\n", "bot.conf:2: [irc] port: empty value");
	expect_error("[irc]\n\npassword = hunter2 ;x\n",
		     "bot.conf:3: [irc] password: ';' inside a value");
	expect_error("[irc]\nrealname = ops bot\t; the gecos\n",
		     "bot.conf:2: [irc] realname: ';' inside a value");
	/* Plugin sections too (parsing knows no schema). */
	cfg = config_load_string("[plugin.x]\nurl = http://a ;b\n", "bot.conf");
	ck_assert_msg(cfg->errors.data &&
			  strstr(cfg->errors.data,
				 "bot.conf:2: [plugin.x] url: ';' inside a "
				 "value"),
		      "%s", cfg->errors.data ? cfg->errors.data : "(none)");
	config_free(cfg);
	/* The secret itself is never repeated in the message. */
	cfg = validate("[irc]\npassword = s3cr3t ;tail\n");
	ck_assert_ptr_null(strstr(cfg->errors.data, "s3cr3t"));
	config_free(cfg);
	/* A ';' inih keeps (no space before it) is part of the value, and an
	 * empty list is an empty list. */
	cfg = validate("[irc]\npassword = pa;ss\nchannels =\n"
		       "; a comment line\n# another\n");
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	e = config_find(cfg, "irc", "password");
	ck_assert_str_eq(e->value, "pa;ss");
	config_free(cfg);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	log_set_level(LOG_ERROR);
	tcase_add_test(tc, valid_config_has_no_errors);
	tcase_add_test(tc, errors_name_file_line_and_key);
	tcase_add_test(tc, long_lines_are_refused_not_split);
	tcase_add_test(tc, plugin_sections_and_secrets);
	tcase_add_test(tc, durations_and_booleans);
	tcase_add_test(tc, grants_give_capabilities);
	tcase_add_test(tc, empty_values_and_inline_comments_are_errors);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_suite)
