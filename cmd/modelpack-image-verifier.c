/* modelpack-image-verifier: containerd's image verifier (the bindir
 * image-verifier plugin of containerd 2.x) applying the daemon's
 * [signatures] policy before a pull.  plugin/image_verifier.h has the
 * protocol; docs/signatures.md says where to install it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "plugin/config.h"
#include "plugin/image_verifier.h"
#include "util/escape.h"

static void
usage (FILE *out)
{
  fprintf (out,
           "usage: modelpack-image-verifier -name REF -digest DIGEST\n"
           "           [-stdin-media-type %s] [-config FILE]\n"
           "\n"
           "containerd's image verifier: put it (or a link to it) in the "
           "bin_dir of\n"
           "[plugins.'io.containerd.image-verifier.v1.bindir']. It applies "
           "the [signatures]\n"
           "policy of FILE (default %s) to ModelPack models\n"
           "before containerd pulls them, and prints its reason on one "
           "line.\n"
           "Exit 0: accepted; 10: refused; 6: registry unreachable; 8: "
           "config or policy\n"
           "unreadable; 2: bad arguments; 1: anything else.\n",
           MP_IV_DESCRIPTOR_MEDIA_TYPE, MP_DEFAULT_CONFIG);
}

int
main (int argc, char **argv)
{
  struct mp_iv_args a;
  char *reason = NULL;
  int code = mp_iv_parse_args (argc, argv, &a, &reason);

  if (code == MP_IV_ACCEPT && a.help)
    {
      usage (stdout);
      return 0;
    }
  if (code == MP_IV_ACCEPT)
    code = mp_iv_judge (&a, STDIN_FILENO, &reason);
  /* Names in library messages are escaped there already (model_quote);
   * the arguments we quote ourselves are not. */
  char *line = reason ? mp_escape_str (reason, MP_ESCAPE_KEEP_BACKSLASH) : NULL;
  printf ("%s\n", line != NULL ? line : "out of memory");
  free (line);
  if (code == MP_IV_USAGE)
    usage (stderr);
  free (reason);
  return code;
}
