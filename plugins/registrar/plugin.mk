# The registrar plugin links jansson (JSON) and SQLite (its ledger, through
# the host's connection).  libcrypto (RS256 for the Google JWT) is opened
# with dlopen by google_auth.c on first use, so it costs no memory at load.
registrar_LIBS = -ljansson -lsqlite3
