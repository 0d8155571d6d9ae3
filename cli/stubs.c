/* Subcommands not written yet.  Each moves to its own file under cli/ when
 * it is implemented; this file goes when it is empty. */
#include <stdio.h>

#include "cli/cli.h"

static int
not_yet (const char *name)
{
  fprintf (stderr, "modelpack: %s: not implemented yet\n", name);
  return CLI_ERR;
}

#define STUB(fn, name)                                                         \
  int fn (const struct cli_globals *g, int argc, char **argv)                  \
  {                                                                            \
    return not_yet (name);                                                     \
  }

STUB (cli_crio_store, "crio-store")
STUB (cli_preload, "preload")
STUB (cli_mount, "mount")
STUB (cli_umount, "umount")
