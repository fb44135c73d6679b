/*  cmd.h - the subcommands of `pulsedb`. Each takes its own argv, with
    argv[0] the subcommand's name, and returns the process exit code
    (see cli.h).
*/
#ifndef PDB_CMD_H
#define PDB_CMD_H

int cmd_up(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_collective(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_peer(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_config(int argc, char **argv);

#endif
