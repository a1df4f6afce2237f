# Libraries for the host's test plugins (tests/plugins/*.c).
test_plugin_probe_LIBS = -lsqlite3
test_plugin_init_fail_LIBS = -lsqlite3
