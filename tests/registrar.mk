# Unit tests of the registrar plugin: they link the plugin's objects
# directly (pure parts: text, ledger, JWT, client limiter).
REGISTRAR_OBJDIR = $(BUILD)/obj/plugins/registrar

test_registrar_text_LIBS = -ljansson
$(BUILD)/tests/test_registrar_text: $(REGISTRAR_OBJDIR)/text.o

test_registrar_ledger_LIBS = -ljansson -lsqlite3
$(BUILD)/tests/test_registrar_ledger: $(REGISTRAR_OBJDIR)/ledger.o \
	$(REGISTRAR_OBJDIR)/text.o

test_registrar_jwt_LIBS = -ljansson -lcrypto
$(BUILD)/tests/test_registrar_jwt: $(REGISTRAR_OBJDIR)/google_auth.o \
	$(REGISTRAR_OBJDIR)/client.o $(REGISTRAR_OBJDIR)/text.o

test_registrar_client_LIBS = -ljansson
$(BUILD)/tests/test_registrar_client: $(REGISTRAR_OBJDIR)/client.o \
	$(REGISTRAR_OBJDIR)/text.o $(REGISTRAR_OBJDIR)/mailgun.o \
	$(REGISTRAR_OBJDIR)/trello.o

# The guide: the whole plugin (its descriptor too) on the fake host.
test_registrar_guide_LIBS = -ljansson -lsqlite3 -ldl
$(BUILD)/tests/test_registrar_guide: $(patsubst plugins/registrar/%.c,\
	$(REGISTRAR_OBJDIR)/%.o,$(wildcard plugins/registrar/*.c))
