# The registrar plugin links jansson (JSON), SQLite (its ledger, through
# the host's connection) and libcrypto (google_auth.c only: RS256 JWT).
registrar_LIBS = -ljansson -lsqlite3 -lcrypto
