# install.mk - `make install` / `make uninstall`, the man pages and the
# pkg-config file for out-of-tree plugins (docs/install.md).
#
#   make install PREFIX=/usr/local DESTDIR=        (the defaults)
#
# Installed layout (PKGLIBDIR is compiled into the binary as the last
# place it looks for modules/ and plugins/; see host/module.h):
#   $(BINDIR)/opsbot
#   $(PKGLIBDIR)/modules/*.so, $(PKGLIBDIR)/plugins/*.so
#   $(INCLUDEDIR)/opsbot/opsbot.h and every header of plugins/sdk
#   $(LIBDIR)/libopsbot-sdk.a, $(PKGCONFIGDIR)/opsbot-plugin.pc
#   $(MANDIR)/man1/opsbot.1, $(MANDIR)/man5/opsbot.conf.5
#   $(DOCDIR)/opsbot.conf.example
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
PKGLIBDIR ?= $(PREFIX)/lib/opsbot
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/opsbot
INSTALL ?= install

OPSBOT_RELEASE := $(shell sed -n 's/^\#define OPSBOT_VERSION "\(.*\)"/\1/p' host/version.h)
SDK_HEADERS = $(wildcard plugins/sdk/*.h)
INSTALL_GENERATED = $(BUILD)/man/opsbot.1 $(BUILD)/man/opsbot.conf.5 \
	$(BUILD)/opsbot-plugin.pc $(BUILD)/opsbot.conf.example

# The compiled-in PKGLIBDIR: module.o is rebuilt when it changes.
$(BUILD)/paths.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PKGLIBDIR)' | cmp -s - $@ || echo '$(PKGLIBDIR)' > $@
$(BUILD)/obj/host/module.o: $(BUILD)/paths.stamp
$(BUILD)/obj/host/module.o: EXTRA_CFLAGS = -DOPSBOT_PKGLIBDIR='"$(PKGLIBDIR)"'
.PHONY: FORCE install uninstall man
FORCE:

man: $(BUILD)/man/opsbot.1 $(BUILD)/man/opsbot.conf.5

$(BUILD)/man/opsbot.1: man/opsbot.1.in host/version.h $(BUILD)/paths.stamp
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	@sed -e 's|@VERSION@|$(OPSBOT_RELEASE)|g' \
	     -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' $< > $@

# opsbot.conf(5): the page's text around the KEYS the program prints from
# its schema and every built plugin's (the same as --config-reference).
$(BUILD)/man/opsbot.conf.5: man/opsbot.conf.5.in $(BUILD)/opsbot $(MODULE_SO) $(PLUGIN_SO)
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	@OPSBOT_CONFIG= $(BUILD)/opsbot -c /nonexistent/opsbot.conf \
		--config-reference=man > $@.keys
	@sed -e 's|@VERSION@|$(OPSBOT_RELEASE)|g' \
	     -e '/^@KEYS@$$/{r $@.keys' -e 'd}' $< > $@
	@rm -f $@.keys

$(BUILD)/opsbot-plugin.pc: plugins/sdk/opsbot-plugin.pc.in host/version.h $(BUILD)/paths.stamp install.mk
	@sed -e 's|@VERSION@|$(OPSBOT_RELEASE)|g' -e 's|@PREFIX@|$(PREFIX)|g' \
	     -e 's|@LIBDIR@|$(call pc_rel,$(LIBDIR))|g' \
	     -e 's|@INCLUDEDIR@|$(call pc_rel,$(INCLUDEDIR))|g' \
	     -e 's|@PKGLIBDIR@|$(call pc_rel,$(PKGLIBDIR))|g' $< > $@
# Paths under PREFIX as ${prefix}/..., so that
# `pkg-config --define-variable=prefix=DIR` moves them all.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

# The example names the installed plugin directory.
$(BUILD)/opsbot.conf.example: opsbot.conf.example $(BUILD)/paths.stamp
	@sed -e 's|^; plugin_dir = .*|; plugin_dir = $(PKGLIBDIR)/plugins|' $< > $@

install: all $(SDK_LIB)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR)/modules \
		$(DESTDIR)$(PKGLIBDIR)/plugins $(DESTDIR)$(INCLUDEDIR)/opsbot \
		$(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 755 $(BUILD)/opsbot $(DESTDIR)$(BINDIR)/opsbot
	$(INSTALL) -m 644 $(MODULE_SO) $(DESTDIR)$(PKGLIBDIR)/modules/
	$(if $(PLUGIN_SO),$(INSTALL) -m 644 $(PLUGIN_SO) $(DESTDIR)$(PKGLIBDIR)/plugins/)
	$(INSTALL) -m 644 host/opsbot.h $(SDK_HEADERS) $(DESTDIR)$(INCLUDEDIR)/opsbot/
	$(INSTALL) -m 644 $(SDK_LIB) $(DESTDIR)$(LIBDIR)/libopsbot-sdk.a
	$(INSTALL) -m 644 $(BUILD)/opsbot-plugin.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 644 $(BUILD)/man/opsbot.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(BUILD)/man/opsbot.conf.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 644 $(BUILD)/opsbot.conf.example $(DESTDIR)$(DOCDIR)/

# Removes what install put there (plugins by the names built here: a
# plugin of the administrator's own in the same directory stays), then
# the directories that are left empty.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/opsbot \
	      $(MODULES:%=$(DESTDIR)$(PKGLIBDIR)/modules/%.so) \
	      $(patsubst $(BUILD)/plugins/%,$(DESTDIR)$(PKGLIBDIR)/plugins/%,$(PLUGIN_SO)) \
	      $(addprefix $(DESTDIR)$(INCLUDEDIR)/opsbot/,opsbot.h $(notdir $(SDK_HEADERS))) \
	      $(DESTDIR)$(LIBDIR)/libopsbot-sdk.a \
	      $(DESTDIR)$(PKGCONFIGDIR)/opsbot-plugin.pc \
	      $(DESTDIR)$(MANDIR)/man1/opsbot.1 \
	      $(DESTDIR)$(MANDIR)/man5/opsbot.conf.5 \
	      $(DESTDIR)$(DOCDIR)/opsbot.conf.example
	-rmdir $(DESTDIR)$(PKGLIBDIR)/modules $(DESTDIR)$(PKGLIBDIR)/plugins \
	      $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(INCLUDEDIR)/opsbot \
	      $(DESTDIR)$(DOCDIR) 2>/dev/null
