example_LIBS = -lsqlite3
