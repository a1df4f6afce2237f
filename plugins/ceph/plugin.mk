# The ceph plugin: the C libvirt API (libvirt-dev), libxml2 for the domain
# XML (libvirt's own dependency) and SQLite (its ledger, through the
# host's connection).
ceph_LIBS = $(shell pkg-config --libs libvirt libxml-2.0) -lsqlite3
$(BUILD)/obj/plugins/ceph/%.o: ALL_CFLAGS += \
	$(shell pkg-config --cflags libvirt libxml-2.0)
