/* containerd's image verifier protocol (the "bindir" image-verifier plugin
 * of containerd 2.x: each executable in its bin_dir is run before a
 * transfer-service pull; a non-zero exit blocks the pull, and the
 * standard output becomes the reason containerd reports).  This module is
 * the judgement behind cmd/modelpack-image-verifier.c: the daemon's
 * [signatures] policy (plugin/sigcheck.h) applied to the reference and
 * digest containerd names, before the pull.
 *
 * Arguments, in Go flag syntax (-flag value, -flag=value, or with two
 * dashes): -name REF (the reference as the pull resolved it), -digest D
 * (its manifest or index), -stdin-media-type T (what stdin holds;
 * application/vnd.oci.descriptor.v1+json is the descriptor, whose digest
 * must be D; stdin is not read without it), and ours: -config FILE (the
 * daemon's config.toml; default MP_DEFAULT_CONFIG, absent: defaults).  An
 * unknown flag refuses (an argument we do not understand is not checked).
 *
 * The reason is one line (no newline), for containerd's error message.
 * Exit codes follow the modelpack CLI's: 0 accepted, 10 refused by the
 * policy, 6 registry unreachable, 8 an unreadable config or policy, 2 bad
 * arguments, 1 anything else; all but 0 block the pull. */
#ifndef MP_PLUGIN_IMAGE_VERIFIER_H
#define MP_PLUGIN_IMAGE_VERIFIER_H

enum mp_iv_exit
{
  MP_IV_ACCEPT = 0,
  MP_IV_ERROR = 1,
  MP_IV_USAGE = 2,
  MP_IV_NETWORK = 6,
  MP_IV_INVALID = 8,
  MP_IV_REFUSED = 10,
};

#define MP_IV_DESCRIPTOR_MEDIA_TYPE "application/vnd.oci.descriptor.v1+json"

struct mp_iv_args
{
  const char *name;
  const char *digest;
  const char *stdin_media_type; /* or NULL */
  const char *config;           /* or NULL: MP_DEFAULT_CONFIG, optional */
  int help;                     /* -help / -h given */
};

/* Parse ARGV (ARGV[0] is the program).  MP_IV_ACCEPT, or MP_IV_USAGE with
 * *REASON (malloc'd) saying what is wrong. */
int mp_iv_parse_args (int argc, char **argv, struct mp_iv_args *a,
                      char **reason);

/* The judgement: read the descriptor from STDIN_FD when the arguments say
 * it is there, load the config, apply the policy.  Returns the exit code;
 * *REASON (malloc'd, one line) is what to print on stdout. */
int mp_iv_judge (const struct mp_iv_args *a, int stdin_fd, char **reason);

#endif
