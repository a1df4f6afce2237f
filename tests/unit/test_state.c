/*
 * test_state.c - the plugins' key/value store and delivery
 * de-duplication (host/state.c), through the table plugins get, on the
 * host's real store.
 */
#include "api.h"
#include "check_main.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir, *db_path;
static struct config *cfg;
/* Two plugins as the host knows them; the API takes the name from here. */
static struct opsbot_plugin alpha = {.name = "alpha"};
static struct opsbot_plugin beta = {.name = "beta"};

static void setup(void)
{
	char *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	dir = test_make_dir("state");
	db_path = xasprintf("%s/state.db", dir);
	cfg = config_load_string("", "test.conf");
	ck_assert_msg(
	    host_start(cfg, OPSBOT_MODE_DAEMON, db_path, "test", &err) == 0,
	    "store: %s", err);
}

static void teardown(void)
{
	host_stop();
	config_free(cfg);
	cfg = NULL;
	free(db_path);
	db_path = NULL;
	test_cleanup_dir(dir);
	dir = NULL;
}

static const struct opsbot_api *api = &host_api;

/* The value of key for p, as a string; "(unset)" for ENOENT. */
static char *get(struct opsbot_plugin *p, const char *key)
{
	char *value = NULL;
	size_t len = 0;
	int rc = api->state_get(p, key, &value, &len);

	if (rc == OPSBOT_ENOENT) {
		ck_assert_ptr_null(value);
		ck_assert_uint_eq(len, 0);
		return xstrdup("(unset)");
	}
	ck_assert_int_eq(rc, OPSBOT_OK);
	ck_assert_uint_eq(strlen(value), len);
	return value;
}

#define ASSERT_GET(p, key, want)                                               \
	do {                                                                   \
		char *v_ = get(p, key);                                        \
		ck_assert_str_eq(v_, want);                                    \
		free(v_);                                                      \
	} while (0)

START_TEST(set_get_delete)
{
	ASSERT_GET(&alpha, "k", "(unset)");
	ck_assert_int_eq(api->state_set(&alpha, "k", "one", 3), OPSBOT_OK);
	ASSERT_GET(&alpha, "k", "one");
	ck_assert_int_eq(api->state_set(&alpha, "k", "two!", 4), OPSBOT_OK);
	ASSERT_GET(&alpha, "k", "two!");
	/* Empty values are values, with or without a pointer. */
	ck_assert_int_eq(api->state_set(&alpha, "empty", "", 0), OPSBOT_OK);
	ASSERT_GET(&alpha, "empty", "");
	ck_assert_int_eq(api->state_set(&alpha, "null", NULL, 0), OPSBOT_OK);
	ASSERT_GET(&alpha, "null", "");
	ck_assert_int_eq(api->state_delete(&alpha, "k"), OPSBOT_OK);
	ASSERT_GET(&alpha, "k", "(unset)");
	ck_assert_int_eq(api->state_delete(&alpha, "k"), OPSBOT_ENOENT);
	ASSERT_GET(&alpha, "empty", "");
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM host_state"),
			 2);
}
END_TEST

START_TEST(binary_values)
{
	static const char bin[] = {'a', 0, 'b', 0, 0, '\xff', '\n'};
	char *value = NULL;
	size_t len = 0;

	ck_assert_int_eq(api->state_set(&alpha, "bin", bin, sizeof(bin)),
			 OPSBOT_OK);
	ck_assert_int_eq(api->state_get(&alpha, "bin", &value, &len),
			 OPSBOT_OK);
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert_int_eq(memcmp(value, bin, sizeof(bin)), 0);
	/* A NUL after the len bytes. */
	ck_assert_int_eq(value[len], '\0');
	free(value);
	/* len may be NULL for a caller that only wants the string. */
	ck_assert_int_eq(api->state_set(&alpha, "s", "text", 4), OPSBOT_OK);
	ck_assert_int_eq(api->state_get(&alpha, "s", &value, NULL), OPSBOT_OK);
	ck_assert_str_eq(value, "text");
	free(value);
}
END_TEST

START_TEST(value_limit_is_one_mebibyte)
{
	size_t max = 1024 * 1024;
	char *big = xmalloc(max + 1), *value = NULL;
	size_t len = 0;

	memset(big, 'v', max + 1);
	big[max - 1] = 'e';
	ck_assert_int_eq(api->state_set(&alpha, "big", big, max), OPSBOT_OK);
	ck_assert_int_eq(api->state_get(&alpha, "big", &value, &len),
			 OPSBOT_OK);
	ck_assert_uint_eq(len, max);
	ck_assert_int_eq(memcmp(value, big, max), 0);
	ck_assert_int_eq(value[max], '\0');
	free(value);
	ck_assert_int_eq(api->state_set(&alpha, "big", big, max + 1),
			 OPSBOT_EINVAL);
	/* The old value stays. */
	ck_assert_int_eq(api->state_get(&alpha, "big", &value, &len),
			 OPSBOT_OK);
	ck_assert_uint_eq(len, max);
	free(value);
	free(big);
}
END_TEST

START_TEST(keys_are_checked)
{
	char key[258], *value = NULL;
	size_t len;

	memset(key, 'k', sizeof(key));
	key[256] = '\0';
	ck_assert_int_eq(api->state_set(&alpha, key, "x", 1), OPSBOT_OK);
	ASSERT_GET(&alpha, key, "x");
	key[256] = 'k';
	key[257] = '\0';
	ck_assert_int_eq(api->state_set(&alpha, key, "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_get(&alpha, key, &value, &len),
			 OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_delete(&alpha, key), OPSBOT_EINVAL);
	ck_assert_int_eq(api->seen_before(&alpha, key, 1000), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_set(&alpha, "", "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_set(&alpha, NULL, "x", 1), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_get(&alpha, "", &value, &len),
			 OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_get(&alpha, "k", NULL, &len),
			 OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_delete(&alpha, ""), OPSBOT_EINVAL);
	ck_assert_int_eq(api->state_set(&alpha, "k", NULL, 3), OPSBOT_EINVAL);
	ck_assert_int_eq(api->seen_before(&alpha, "", 1000), OPSBOT_EINVAL);
	ck_assert_int_eq(api->seen_before(&alpha, "d", 0), OPSBOT_EINVAL);
	ck_assert_int_eq(api->seen_before(&alpha, "d", -5), OPSBOT_EINVAL);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM host_state"),
			 1);
}
END_TEST

/* Records what state_each visits as "key=value;"; stops after stop_at. */
struct visit {
	struct buf seen;
	int stop_at;
	struct opsbot_plugin *delete_from;
};

static int record(const char *key, const void *value, size_t len, void *data)
{
	struct visit *v = data;

	buf_addf(&v->seen, "%s=%.*s;", key, (int)len, (const char *)value);
	if (v->delete_from)
		ck_assert_int_eq(api->state_delete(v->delete_from, key),
				 OPSBOT_OK);
	return v->stop_at && --v->stop_at == 0;
}

/* state_each(prefix) as a string, with its return value checked. */
static char *each(struct opsbot_plugin *p, const char *prefix, int stop_at,
		  int want_count)
{
	struct visit v = {BUF_INIT, stop_at, NULL};

	ck_assert_int_eq(api->state_each(p, prefix, record, &v), want_count);
	return buf_detach(&v.seen);
}

#define ASSERT_EACH(p, prefix, stop_at, count, want)                           \
	do {                                                                   \
		char *s_ = each(p, prefix, stop_at, count);                    \
		ck_assert_str_eq(s_, want);                                    \
		free(s_);                                                      \
	} while (0)

START_TEST(each_in_key_order_with_a_prefix)
{
	static const char *const keys[] = {
	    "c", "b/2", "b", "b0", "b/1", "a", "b/3", "x_1", "xa1", "x%", "xb",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		ck_assert_int_eq(
		    api->state_set(&alpha, keys[i], keys[i], strlen(keys[i])),
		    OPSBOT_OK);
	ASSERT_EACH(&alpha, "b/", 0, 3, "b/1=b/1;b/2=b/2;b/3=b/3;");
	ASSERT_EACH(&alpha, "b", 0, 5, "b=b;b/1=b/1;b/2=b/2;b/3=b/3;b0=b0;");
	ASSERT_EACH(&alpha, "", 0, 11,
		    "a=a;b=b;b/1=b/1;b/2=b/2;b/3=b/3;b0=b0;c=c;x%=x%;x_1=x_1;"
		    "xa1=xa1;xb=xb;");
	ASSERT_EACH(&alpha, NULL, 0, 11,
		    "a=a;b=b;b/1=b/1;b/2=b/2;b/3=b/3;b0=b0;c=c;x%=x%;x_1=x_1;"
		    "xa1=xa1;xb=xb;");
	/* LIKE's wildcards are plain characters here. */
	ASSERT_EACH(&alpha, "x_", 0, 1, "x_1=x_1;");
	ASSERT_EACH(&alpha, "x%", 0, 1, "x%=x%;");
	ASSERT_EACH(&alpha, "nothing", 0, 0, "");
	ASSERT_EACH(&alpha, "b/3", 0, 1, "b/3=b/3;");
	/* fn returning non-zero stops the walk; the count includes it. */
	ASSERT_EACH(&alpha, "b", 2, 2, "b=b;b/1=b/1;");
	ASSERT_EACH(&alpha, "", 1, 1, "a=a;");
	ck_assert_int_eq(api->state_each(&alpha, "", NULL, NULL),
			 OPSBOT_EINVAL);
}
END_TEST

/* Bytes 0xff in a prefix: the range's upper end is found below them. */
START_TEST(each_prefix_of_high_bytes)
{
	ck_assert_int_eq(api->state_set(&alpha, "\xff\xff", "1", 1), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(&alpha,
					"\xff"
					"a",
					"2", 1),
			 OPSBOT_OK);
	ck_assert_int_eq(api->state_set(&alpha, "\xfe", "3", 1), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(&alpha, "a\xff", "4", 1), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(&alpha, "b", "5", 1), OPSBOT_OK);
	ASSERT_EACH(&alpha, "\xff", 0, 2,
		    "\xff"
		    "a=2;\xff\xff=1;");
	ASSERT_EACH(&alpha, "\xff\xff", 0, 1, "\xff\xff=1;");
	ASSERT_EACH(&alpha, "a\xff", 0, 1, "a\xff=4;");
	ASSERT_EACH(&alpha, "a", 0, 1, "a\xff=4;");
}
END_TEST

/* fn may change the store under the walk: deleting what it visits. */
START_TEST(each_while_deleting)
{
	struct visit v = {BUF_INIT, 0, &alpha};
	char key[16];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(api->state_set(&alpha, key, "v", 1),
				 OPSBOT_OK);
	}
	ck_assert_int_eq(api->state_each(&alpha, "k", record, &v), 5);
	ck_assert_str_eq(v.seen.data, "k0=v;k1=v;k2=v;k3=v;k4=v;");
	buf_free(&v.seen);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM host_state"),
			 0);
}
END_TEST

/* Two plugins, the same key: each sees only its own. */
START_TEST(plugins_have_their_own_keys)
{
	ck_assert_int_eq(api->state_set(&alpha, "k", "from alpha", 10),
			 OPSBOT_OK);
	ASSERT_GET(&beta, "k", "(unset)");
	ck_assert_int_eq(api->state_set(&beta, "k", "from beta", 9), OPSBOT_OK);
	ck_assert_int_eq(api->state_set(&beta, "only-beta", "b", 1), OPSBOT_OK);
	ASSERT_GET(&alpha, "k", "from alpha");
	ASSERT_GET(&beta, "k", "from beta");
	ASSERT_GET(&alpha, "only-beta", "(unset)");
	ASSERT_EACH(&alpha, "", 0, 1, "k=from alpha;");
	ASSERT_EACH(&beta, "", 0, 2, "k=from beta;only-beta=b;");
	ck_assert_int_eq(api->state_delete(&alpha, "only-beta"), OPSBOT_ENOENT);
	ck_assert_int_eq(api->state_delete(&alpha, "k"), OPSBOT_OK);
	ASSERT_GET(&beta, "k", "from beta");
	/* Delivery ids too. */
	ck_assert_int_eq(api->seen_before(&alpha, "d-1", 60000), 0);
	ck_assert_int_eq(api->seen_before(&beta, "d-1", 60000), 0);
	ck_assert_int_eq(api->seen_before(&alpha, "d-1", 60000), 1);
	ck_assert_int_eq(api->seen_before(&beta, "d-1", 60000), 1);
}
END_TEST

START_TEST(values_survive_a_restart)
{
	char *err = NULL;

	ck_assert_int_eq(api->state_set(&alpha, "k", "kept\0too", 8),
			 OPSBOT_OK);
	ck_assert_int_eq(api->seen_before(&alpha, "d-1", 60000), 0);
	store_close();
	ck_assert_int_eq(api->state_set(&alpha, "k", "x", 1), OPSBOT_ERR);
	ck_assert_msg(store_open(db_path, &err) == 0, "%s", err);
	{
		char *value = NULL;
		size_t len = 0;

		ck_assert_int_eq(api->state_get(&alpha, "k", &value, &len),
				 OPSBOT_OK);
		ck_assert_uint_eq(len, 8);
		ck_assert_int_eq(memcmp(value, "kept\0too", 8), 0);
		free(value);
	}
	ck_assert_int_eq(api->seen_before(&alpha, "d-1", 60000), 1);
	/* The host's tables were made once: a second open migrates
	 * nothing and keeps the schema. */
	ck_assert_int_eq(
	    test_store_count(
		"SELECT count(*) FROM plugin_schema WHERE plugin = "
		"'" STORE_HOST_SERVICES "'"),
	    1);
}
END_TEST

START_TEST(seen_before_expires)
{
	ck_assert_int_eq(api->seen_before(&alpha, "short", 500), 0);
	ck_assert_int_eq(api->seen_before(&alpha, "short", 500), 1);
	ck_assert_int_eq(api->seen_before(&alpha, "long", 60000), 0);
	test_run_for(650);
	/* Expired: new again, recorded afresh. */
	ck_assert_int_eq(api->seen_before(&alpha, "short", 500), 0);
	ck_assert_int_eq(api->seen_before(&alpha, "short", 500), 1);
	ck_assert_int_eq(api->seen_before(&alpha, "long", 60000), 1);
}
END_TEST

/* Expired ids are purged a few at a time by later calls, and a purge
 * does not make a live id look new. */
START_TEST(seen_before_purges_expired_ids)
{
	int i;

	ck_assert_int_eq(api->seen_before(&alpha, "live", 60000), 0);
	/* 40 ids of another plugin that expired long ago (made directly:
	 * a slow run must not expire them early, or late). */
	ck_assert_int_eq(
	    sqlite3_exec(store_db(),
			 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
			 "i + 1 FROM n WHERE i < 40) INSERT INTO host_seen "
			 "(plugin, key, expires_ms) SELECT 'beta', 'old-' || "
			 "i, 1000 FROM n",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM host_seen"),
			 41);
	/* Each call deletes some expired rows (of any plugin) first. */
	ck_assert_int_eq(api->seen_before(&alpha, "live", 60000), 1);
	ck_assert_int_lt(test_store_count("SELECT count(*) FROM host_seen"),
			 41);
	ck_assert_int_gt(test_store_count("SELECT count(*) FROM host_seen"), 1);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(api->seen_before(&alpha, "live", 60000), 1);
	ck_assert_int_eq(test_store_count("SELECT count(*) FROM host_seen"), 1);
	/* An expired id that was purged is simply new. */
	ck_assert_int_eq(api->seen_before(&beta, "old-1", 60000), 0);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *kv = tcase_create("kv");
	TCase *seen = tcase_create("seen");

	tcase_add_checked_fixture(kv, setup, teardown);
	tcase_add_test(kv, set_get_delete);
	tcase_add_test(kv, binary_values);
	tcase_add_test(kv, value_limit_is_one_mebibyte);
	tcase_add_test(kv, keys_are_checked);
	tcase_add_test(kv, each_in_key_order_with_a_prefix);
	tcase_add_test(kv, each_prefix_of_high_bytes);
	tcase_add_test(kv, each_while_deleting);
	tcase_add_test(kv, plugins_have_their_own_keys);
	tcase_add_test(kv, values_survive_a_restart);
	suite_add_tcase(s, kv);

	tcase_add_checked_fixture(seen, setup, teardown);
	tcase_add_test(seen, seen_before_expires);
	tcase_add_test(seen, seen_before_purges_expired_ids);
	suite_add_tcase(s, seen);
	return s;
}

CHECK_MAIN(state_suite)
