/* containerd's image verifier protocol: see image_verifier.h. */
#include "plugin/image_verifier.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/config.h"
#include "plugin/sigcheck.h"
#include "util/cleanup.h"

/* containerd writes one descriptor (a few hundred bytes); more is not a
 * descriptor. */
#define MAX_STDIN (64 * 1024)

static int
say (char **reason, int code, const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;

  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) < 0)
    s = NULL;
  va_end (ap);
  /* One line: containerd puts it into an error message. */
  for (char *p = s; p != NULL && *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  *reason = s;
  return code;
}

int
mp_iv_parse_args (int argc, char **argv, struct mp_iv_args *a, char **reason)
{
  static const struct
  {
    const char *flag;
    size_t off;
  } flags[] = {
    { "name", offsetof (struct mp_iv_args, name) },
    { "digest", offsetof (struct mp_iv_args, digest) },
    { "stdin-media-type", offsetof (struct mp_iv_args, stdin_media_type) },
    { "config", offsetof (struct mp_iv_args, config) },
  };

  memset (a, 0, sizeof *a);
  *reason = NULL;
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i], *eq, *value = NULL;
      size_t n, k;

      if (arg[0] != '-' || arg[1] == '\0')
        return say (reason, MP_IV_USAGE, "unexpected argument \"%s\"", arg);
      arg += arg[1] == '-' ? 2 : 1;
      if (strcmp (arg, "help") == 0 || strcmp (arg, "h") == 0)
        {
          a->help = 1;
          continue;
        }
      eq = strchr (arg, '=');
      n = eq ? (size_t)(eq - arg) : strlen (arg);
      for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (strlen (flags[k].flag) == n && strncmp (flags[k].flag, arg, n) == 0)
          break;
      if (k == sizeof flags / sizeof flags[0])
        return say (reason, MP_IV_USAGE, "unknown flag \"%s\"", argv[i]);
      if (eq != NULL)
        value = eq + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        return say (reason, MP_IV_USAGE, "flag \"%s\" needs a value", argv[i]);
      *(const char **)((char *)a + flags[k].off) = value;
    }
  if (a->help)
    return MP_IV_ACCEPT;
  if (a->name == NULL || a->name[0] == '\0' || a->digest == NULL
      || a->digest[0] == '\0')
    return say (reason, MP_IV_USAGE, "-name and -digest are required");
  return MP_IV_ACCEPT;
}

/* The descriptor containerd wrote on stdin must be of the digest named. */
static int
check_descriptor (const struct mp_iv_args *a, int fd, char **reason)
{
  cleanup_free char *buf = malloc (MAX_STDIN + 1);
  size_t len = 0;
  json_t *doc, *d;
  json_error_t jerr;
  int ret = MP_IV_ACCEPT;

  if (buf == NULL)
    return say (reason, MP_IV_ERROR, "out of memory");
  for (;;)
    {
      ssize_t r = read (fd, buf + len, MAX_STDIN + 1 - len);

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return say (reason, MP_IV_ERROR, "reading the descriptor on stdin: %s",
                    strerror (errno));
      if (r == 0)
        break;
      len += (size_t)r;
      if (len > MAX_STDIN)
        return say (reason, MP_IV_USAGE,
                    "the descriptor on stdin is over %d bytes", MAX_STDIN);
    }
  doc = json_loadb (buf, len, 0, &jerr);
  if (doc == NULL)
    return say (reason, MP_IV_USAGE, "the descriptor on stdin: %s", jerr.text);
  d = json_object_get (doc, "digest");
  if (!json_is_string (d))
    ret = say (reason, MP_IV_USAGE, "the descriptor on stdin has no digest");
  else if (strcmp (json_string_value (d), a->digest) != 0)
    ret = say (reason, MP_IV_USAGE,
               "the descriptor on stdin is of %s, -digest names %s",
               json_string_value (d), a->digest);
  json_decref (doc);
  return ret;
}

static int
exit_for (enum mp_errcode code)
{
  switch (code)
    {
    case MP_ERR_POLICY_REFUSED:
      return MP_IV_REFUSED;
    case MP_ERR_UNAVAILABLE:
      return MP_IV_NETWORK;
    case MP_ERR_INVALID_ARGUMENT:
    case MP_ERR_FAILED_PRECONDITION:
      return MP_IV_INVALID;
    default:
      return MP_IV_ERROR;
    }
}

int
mp_iv_judge (const struct mp_iv_args *a, int stdin_fd, char **reason)
{
  struct mp_sigcheck_pull_result r;
  mp_sigcheck *sc = NULL;
  mp_config cfg;
  mp_error err = { 0 };
  int code;

  *reason = NULL;
  if (a->stdin_media_type != NULL
      && strcmp (a->stdin_media_type, MP_IV_DESCRIPTOR_MEDIA_TYPE) == 0
      && (code = check_descriptor (a, stdin_fd, reason)) != MP_IV_ACCEPT)
    return code;
  if (mp_config_init (&cfg, &err) < 0)
    return say (reason, MP_IV_ERROR, "%s", err.msg);
  if (mp_config_load (&cfg, a->config ? a->config : MP_DEFAULT_CONFIG,
                      a->config != NULL, &err)
      < 0)
    {
      mp_config_free (&cfg);
      return say (reason, MP_IV_INVALID, "%s", err.msg);
    }
  struct mp_sigcheck_options so = { .policy = cfg.sig_policy,
                                    .notation = cfg.sig_notation,
                                    .hosts_dir = cfg.sig_hosts_dir,
                                    .auth_file = cfg.sig_auth_file };
  if (mp_sigcheck_new (&so, &sc, &err) < 0)
    code = say (reason, exit_for (err.code), "signatures: %s", err.msg);
  else if (mp_sigcheck_pull (sc, a->name, a->digest, &r, &err) < 0)
    code = say (reason, exit_for (err.code), "%s", err.msg);
  else if (!r.policy)
    code = say (reason, MP_IV_ACCEPT,
                "no signature policy in force (policy %s, Notation "
                "configuration %s: absent or off)",
                cfg.sig_policy ? cfg.sig_policy : "\"\"",
                cfg.sig_notation ? cfg.sig_notation : "\"\"");
  else if (!r.model)
    code = say (reason, MP_IV_ACCEPT,
                "%s: not a ModelPack model, the signature policy applies to "
                "models only",
                a->name);
  else
    code = say (reason, MP_IV_ACCEPT,
                "%s (%s): accepted by the signature policy, scope %s", a->name,
                a->digest, r.scope);
  mp_sigcheck_free (sc);
  mp_config_free (&cfg);
  if (*reason == NULL)
    return MP_IV_ERROR;
  return code;
}
