# The ci plugin links jansson (Jenkins and Zuul JSON); its state goes
# through the host's key/value store, so no SQLite of its own.
ci_LIBS = -ljansson
