# The packer plugin links jansson (templates, the secret var-file) and
# SQLite (its job ledger, through the host's connection).
packer_LIBS = -ljansson -lsqlite3
