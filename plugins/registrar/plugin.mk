# The registrar plugin links jansson (JSON), SQLite (its ledger, through
# the host's connection) and libcrypto (google_auth.c only: RS256 JWT).
registrar_LIBS = -ljansson -lsqlite3 -lcrypto

# An explicit rule: in the Makefile's pattern rule for plugins, make
# substitutes the stem for the '%' inside $$(patsubst %.c,...), so the
# prerequisites come out as the .c files and the objects are never built
# with ALL_CFLAGS.  This rule states the objects directly.
registrar_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard plugins/registrar/*.c))
$(BUILD)/plugins/registrar.so: $(registrar_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-z,defs -o $@ $^ $(registrar_LIBS)
