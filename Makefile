# opsbot: one non-recursive Makefile.
#
#   make                 build the host, its modules and every plugin (build/)
#   make check           build and run every test (unit, plugins, integration)
#   make check SAN=1     the same under AddressSanitizer + UBSan (build-asan/)
#   make check-valgrind  the unit and integration tests under valgrind
#   make bench           the IRC benchmark (see docs/benchmarks.md);
#                        PEERS=1 adds Eggdrop and Limnoria, ROUNDS=n
#   make bench-registrar the registrar's sync benchmark (docs/registrar.md)
#   make fuzz            every libFuzzer target for FUZZ_SECONDS each
#   make style           clang-format check and the banned-function list
#   make install         install under PREFIX (/usr/local), DESTDIR honoured;
#                        make uninstall removes it (see docs/install.md)
#
# Layout of a build directory: opsbot, modules/*.so (loaded on demand by the
# host), plugins/*.so, libopsbot-sdk.a (the plugin SDK, linked into every
# plugin), tests/* (test binaries), obj/ (objects).

.DEFAULT_GOAL := all
CC ?= cc
SAN ?=
ifeq ($(SAN),1)
BUILD ?= build-asan
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer
OPT = -O1
else
BUILD ?= build
SANFLAGS =
OPT = -O2
endif

WARN = -Wall -Wextra -Wformat=2 -Werror=format-security -Werror -Wshadow \
       -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
       -Wvla -Wpointer-arith
CFLAGS ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CPPFLAGS) $(CFLAGS) \
	     $(SANFLAGS) -Ihost -Itests/lib -MMD -MP
LDFLAGS ?=
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# The host links only what every run needs; libcurl, OpenSSL and
# libmicrohttpd live in modules/http.so, modules/tls.so and
# modules/httpd.so, loaded on first use (see
# docs/benchmarks.md for what linking them costs in resident memory).
HOST_LIBS = -luv -lsqlite3 -linih -ldl -lm -lpthread
CHECK_LIBS = $(shell pkg-config --libs check)

HOST_SRC = $(filter-out host/main.c host/module_%.c,$(wildcard host/*.c))
HOST_OBJ = $(HOST_SRC:%.c=$(BUILD)/obj/%.o)

# plugins/sdk is the plugin SDK (plugins/sdk/opsbot_sdk.h), not a plugin:
# a static library of hidden symbols linked into every plugin .so and into
# the tests that need it.  Plugins and tests include it with -Iplugins/sdk.
PLUGINS = $(filter-out sdk,$(notdir $(wildcard plugins/*)))
SDK_SRC = $(wildcard plugins/sdk/*.c)
SDK_OBJ = $(SDK_SRC:%.c=$(BUILD)/obj/%.o)
SDK_LIB = $(BUILD)/libopsbot-sdk.a
SDK_CFLAGS = -Iplugins/sdk
PLUGIN_SO = $(foreach p,$(PLUGINS),\
	$(if $(wildcard plugins/$(p)/*.c),$(BUILD)/plugins/$(p).so))

MODULES = http tls httpd
MODULE_SO = $(MODULES:%=$(BUILD)/modules/%.so)
module_http_LIBS = -lcurl -luv
module_tls_LIBS = -lssl -lcrypto
module_httpd_LIBS = -lmicrohttpd -luv

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC = $(wildcard tests/integration/test_*.c)
INTEG_BIN = $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
TESTLIB_SRC = $(wildcard tests/lib/*.c)
TESTLIB_OBJ = $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
TEST_PLUGIN_SRC = $(wildcard tests/plugins/*.c)
TEST_PLUGIN_SO = $(TEST_PLUGIN_SRC:tests/plugins/%.c=$(BUILD)/test-plugins/%.so)

# Per-plugin extra libraries: plugins/<name>/plugin.mk sets <name>_LIBS.
-include $(wildcard plugins/*/plugin.mk)
# make install, man pages, the pkg-config file (install.mk).
include install.mk
-include $(wildcard tests/*.mk)

.SECONDARY:
FORCE:
.PHONY: all check check-unit check-integration check-valgrind bench fuzz \
	style clean tests bench-registrar
all: $(BUILD)/opsbot $(MODULE_SO) $(PLUGIN_SO) $(INSTALL_GENERATED)

tests: all $(UNIT_BIN) $(INTEG_BIN) $(TEST_PLUGIN_SO)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

# Tests see the SDK's headers (and link its library, below).
$(BUILD)/obj/tests/%.o: EXTRA_CFLAGS = $(SDK_CFLAGS)

# The archive is rebuilt when its member list changes too (a source file
# removed or renamed leaves every remaining object older than the archive).
$(BUILD)/sdk-objs.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(sort $(SDK_OBJ))' | cmp -s - $@ || echo '$(sort $(SDK_OBJ))' > $@

$(SDK_LIB): $(SDK_OBJ) $(BUILD)/sdk-objs.list
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $(SDK_OBJ)

$(BUILD)/libopsbot.a: $(HOST_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/opsbot: $(BUILD)/obj/host/main.o $(BUILD)/libopsbot.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HOST_LIBS)

$(BUILD)/modules/%.so: $(BUILD)/obj/host/module_%.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-z,defs -o $@ $^ $(module_$*_LIBS)

# A plugin: every .c in its folder, hidden symbols but the descriptor,
# and the SDK (only the parts it uses are linked in).
define plugin_rule
$(1)_OBJ = $$(patsubst %.c,$$(BUILD)/obj/%.o,$$(wildcard plugins/$(1)/*.c))
$$(BUILD)/plugins/$(1).so: $$($(1)_OBJ) $$(SDK_LIB)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	@$$(CC) $$(ALL_LDFLAGS) -shared -Wl,-z,defs -o $$@ $$($(1)_OBJ) \
		$$(SDK_LIB) $$($(1)_LIBS)
endef
$(foreach p,$(PLUGINS),$(eval $(call plugin_rule,$(p))))

$(BUILD)/obj/plugins/%.o: plugins/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(SDK_CFLAGS) -fvisibility=hidden -c -o $@ $<

$(BUILD)/test-plugins/%.so: $(BUILD)/obj/tests/plugins/%.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-z,defs -o $@ $^ $(test_plugin_$*_LIBS)

$(BUILD)/obj/tests/plugins/%.o: tests/plugins/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c -o $@ $<

# The SDK archive goes after every object (the plugin objects some tests
# add as prerequisites come last in $^), so it resolves what they use.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(BUILD)/libopsbot.a $(SDK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter-out $(SDK_LIB),$^) $(SDK_LIB) \
		$(HOST_LIBS) $(CHECK_LIBS) $($*_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(TESTLIB_OBJ) $(BUILD)/libopsbot.a $(SDK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter-out $(SDK_LIB),$^) $(SDK_LIB) \
		$(HOST_LIBS) $(CHECK_LIBS) $($*_LIBS)

# The whole suite; tests/run finds the binaries and servers it needs.
check: tests
	BUILD=$(BUILD) SAN=$(SAN) tests/run

check-valgrind: tests
	BUILD=$(BUILD) VALGRIND=1 tests/run

bench: all
	BUILD=$(BUILD) PEERS=$(PEERS) ROUNDS=$(ROUNDS) bench/run

bench-registrar: all
	BUILD=$(BUILD) /usr/bin/python3 tests/registrar/bench.py

fuzz:
	BUILD=build-fuzz tests/fuzz/run

style:
	tools/style-check

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
