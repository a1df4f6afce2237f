/*
 * keeper.h - the process that leads each child's group and ends it when the
 * host is gone (keeper.c).
 */
#ifndef KEEPER_H
#define KEEPER_H

/* The argument that makes `opsbot` a keeper; main() checks it first. */
#define KEEPER_ARG "--process-keeper"

/* argv as main() got it, argv[1] being KEEPER_ARG.  Never returns on
 * success; returns an exit code for a bad command line. */
int keeper_main(int argc, char **argv);

#endif /* KEEPER_H */
