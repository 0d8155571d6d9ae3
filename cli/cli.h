/* The modelpack CLI: options every subcommand shares, exit codes, and the
 * subcommands themselves (one file each under cli/).
 *
 * A subcommand gets argv with its own name at argv[0], parses its own
 * options with getopt_long, prints results on stdout (JSON with --json) and
 * at most one error line on stderr ("modelpack: <what>: <why>"), and
 * returns an exit code from enum cli_exit. */
#ifndef MP_CLI_CLI_H
#define MP_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "store/cache.h"
#include "store/unpack.h"
#include "util/error.h"

/* Exit codes, distinct per kind of failure so scripts can branch on them. */
enum cli_exit
{
  CLI_OK = 0,
  CLI_ERR = 1,       /* anything else: I/O, internal */
  CLI_USAGE = 2,     /* bad command line */
  CLI_BAD_REF = 3,   /* a reference that does not parse */
  CLI_NOT_FOUND = 4, /* no such tag, manifest, blob or local model */
  CLI_AUTH = 5,      /* credentials missing or refused */
  CLI_NETWORK = 6,   /* registry unreachable, or failing after retries */
  CLI_VERIFY = 7,    /* content does not match its digest, size or diffId */
  CLI_INVALID = 8,   /* an invalid model, config or artifact */
  CLI_EXISTS = 9,    /* refusing to overwrite */
  CLI_REFUSED = 10,  /* the signature policy refuses the model */
};

/* Options before the subcommand name, and environment defaults. */
struct cli_globals
{
  const char *store;                 /* the CLI's OCI layout store */
  const char *cache;                 /* the snapshotter's model cache */
  const char *auth_file;             /* Docker config.json with credentials */
  const char *hosts_dir;             /* containerd hosts.toml directories */
  bool json;                         /* machine-readable output */
  bool quiet;                        /* no progress */
  bool progress;                     /* progress bars (stderr is a terminal) */
  struct model_unpack_limits limits; /* --limit; zeros are defaults */
  enum model_cache_mount mount;      /* --mount-mode */
  /* Registry transfers, in seconds: 0 none, -1 the client's default. */
  int stall_timeout;
  int transfer_timeout; /* per request */
  /* The signature policy (containers-policy.json): the default path, or
   * the one --policy / MODELPACK_POLICY named (policy_set).  A default
   * that does not exist means no policy: every model is accepted. */
  const char *policy;
  bool policy_set;
  /* The Notation configuration directory (trustpolicy.json and
   * truststore/), the same way: --notation / MODELPACK_NOTATION, or the
   * default, which need not exist (then no Notation requirement). */
  const char *notation;
  bool notation_set;
};

#define CLI_DEFAULT_POLICY "/etc/modelpack-snapshotter/policy.json"
#define CLI_DEFAULT_NOTATION "/etc/modelpack-snapshotter/notation"

/* Apply "KEY=N" (a [limits] key of the daemon's config) to L; -1 if it
 * is not one or N is not a positive integer. */
int cli_limit_set (struct model_unpack_limits *l, const char *kv);

/* Print "modelpack: WHAT: ERR" (WHAT may be empty) on stderr and return
 * the exit code that ERR's code maps to. */
int cli_fail (const char *what, const mp_error *err);
/* Print "modelpack: <msg>" on stderr and return CLI_USAGE. */
int cli_usage_error (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
/* Untrusted text (names, references, annotations, paths, messages) for
 * output: cli_text escapes it for a terminal (util/escape.h), cli_json
 * makes it a JSON string literal with its quotes ("null" for NULL).  The
 * result stays valid for the next CLI_TEXT_SLOTS calls, enough for the
 * arguments of one printf. */
#define CLI_TEXT_SLOTS 16
struct json_t;
const char *cli_text (const char *s);
const char *cli_json (const char *s);
/* Print the JSON document DOC on stdout, indented, every string in it
 * safe for a terminal. */
void cli_print_json (const struct json_t *doc);
/* The exit code for an mp_error code. */
int cli_exit_code (enum mp_errcode code);

struct modelfile;
/* The Modelfile: FILE if given (it must exist), else DIR/Modelfile if
 * there; *MF stays NULL without one. */
int cli_read_modelfile (const char *dir, const char *file,
                        struct modelfile **mf, mp_error *err);

/* A model in the store, loaded by reference (or digest): its manifest
 * and, for a ModelPack artifact, its validated config; every document
 * checked against its digest. */
struct model_manifest;
struct model_config;
struct oci_layout;
struct cli_model
{
  char *name;
  char *digest;
  int64_t manifest_size;
  struct model_manifest *manifest;
  struct model_config *config; /* or NULL */
};
int cli_model_load (struct oci_layout *l, const char *ref, struct cli_model *m,
                    mp_error *err);
void cli_model_free (struct cli_model *m);

/* The model TEXT (a reference or a stored digest) in the CLI's store,
 * pulled into it first if it is not there.  *NAME and *DIGEST get the
 * stored name and manifest digest (malloc'd).  Returns a cli_exit code,
 * having printed the error (prefixed by CMD). */
int cli_model_ensure (const struct cli_globals *g, const char *cmd,
                      const char *text, bool plain_http, char **name,
                      char **digest);

/* Which layers a partial pull fetches. */
struct model_layer;
typedef bool (*cli_layer_filter) (const struct model_layer *ly, void *ctx);

/* Pull TEXT into the OCI layout at DIR (created), with only the layers
 * WANT accepts: for a scratch layout that a command reads and removes
 * (extract --include downloads only what it writes).  *NAME gets the name
 * it has there.  Returns a cli_exit code, having printed the error. */
int cli_pull_partial (const struct cli_globals *g, const char *cmd,
                      const char *text, const char *dir, bool plain_http,
                      cli_layer_filter want, void *want_ctx, char **name);

/* The registry client every command uses, with G's credentials, hosts
 * and timeouts. */
struct registry_client;
struct registry_client *cli_registry_client (const struct cli_globals *g,
                                             bool plain_http, mp_error *err);

/* G's signature policy: *P is NULL when there is none (a default path with
 * no file); a policy named on purpose must exist and parse. */
struct model_policy;
int cli_policy_load (const struct cli_globals *g, struct model_policy **p,
                     mp_error *err);
/* G's Notation configuration: *N is NULL when there is none (the default
 * directory without trustpolicy.json); one named on purpose must load. */
struct notation_config;
int cli_notation_load (const struct cli_globals *g, struct notation_config **n,
                       mp_error *err);
/* Apply G's policies (containers-policy.json and Notation) to REF resolved to
 * DIGEST (a manifest of MEDIA_TYPE and SIZE bytes), finding signatures with RC:
 * 0 when it accepts (or there is none), -1 with MP_ERR_POLICY_REFUSED naming
 * scope, requirement and what was found, or another error when the check could
 * not be made (then nothing may be used either). */
struct model_reference;
int cli_policy_enforce (const struct cli_globals *g, struct registry_client *rc,
                        const struct model_reference *ref, const char *digest,
                        const char *media_type, int64_t size, mp_error *err);

/* Push the stored model REF to its registry (push, pack --push). */
int cli_push_ref (const struct cli_globals *g, const char *ref,
                  bool plain_http);

typedef int (*cli_command_fn) (const struct cli_globals *g, int argc,
                               char **argv);

/* Subcommands. */
int cli_init (const struct cli_globals *g, int argc, char **argv);
int cli_pack (const struct cli_globals *g, int argc, char **argv);
int cli_push (const struct cli_globals *g, int argc, char **argv);
int cli_pull (const struct cli_globals *g, int argc, char **argv);
int cli_inspect (const struct cli_globals *g, int argc, char **argv);
int cli_extract (const struct cli_globals *g, int argc, char **argv);
int cli_ls (const struct cli_globals *g, int argc, char **argv);
int cli_rm (const struct cli_globals *g, int argc, char **argv);
int cli_login (const struct cli_globals *g, int argc, char **argv);
int cli_logout (const struct cli_globals *g, int argc, char **argv);
int cli_crio_store (const struct cli_globals *g, int argc, char **argv);
int cli_cache (const struct cli_globals *g, int argc, char **argv);
int cli_preload (const struct cli_globals *g, int argc, char **argv);
int cli_mount (const struct cli_globals *g, int argc, char **argv);
int cli_umount (const struct cli_globals *g, int argc, char **argv);
int cli_verify (const struct cli_globals *g, int argc, char **argv);

#endif
