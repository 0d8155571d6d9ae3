/* The signature policy on the CLI: `modelpack verify`, and the check
 * `pull` makes before it writes anything. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/notation.h"
#include "model/policy.h"
#include "model/reference.h"
#include "model/signature.h"
#include "model/sigpolicy.h"
#include "registry/registry.h"
#include "registry/signatures.h"
#include "util/cleanup.h"

/* After a failed read of a policy file or directory: nothing at the
 * default path means no policy (as before policies existed: 0, ERR
 * cleared); one NAMED on purpose (flag or environment) must be there. */
static int
absent_means_none (bool named, mp_error *err)
{
  if (err->code != MP_ERR_NOT_FOUND)
    return -1;
  if (named)
    {
      err->code = MP_ERR_INVALID_ARGUMENT;
      return -1;
    }
  mp_error_clear (err);
  return 0;
}

int
cli_policy_load (const struct cli_globals *g, model_policy **p, mp_error *err)
{
  *p = NULL;
  if (g->policy == NULL)
    return 0;
  if (model_policy_read (g->policy, p, err) == 0)
    return 0;
  return absent_means_none (g->policy_set, err);
}

int
cli_notation_load (const struct cli_globals *g, notation_config **n,
                   mp_error *err)
{
  *n = NULL;
  if (g->notation == NULL)
    return 0;
  /* The default directory, or its trustpolicy.json, absent: no Notation
   * requirement. */
  if (notation_config_load (g->notation, n, err) == 0)
    return 0;
  return absent_means_none (g->notation_set, err);
}

int
cli_policy_enforce (const struct cli_globals *g, struct registry_client *rc,
                    const model_reference *ref, const char *digest,
                    const char *media_type, int64_t size, mp_error *err)
{
  model_policy *p = NULL;
  notation_config *n = NULL;
  model_verdict *v = NULL;
  model_digest d;
  int ret = -1;

  if (cli_policy_load (g, &p, err) < 0)
    return -1;
  if (cli_notation_load (g, &n, err) < 0)
    goto out;
  if (p == NULL && n == NULL)
    {
      ret = 0;
      goto out;
    }
  if (model_digest_parse (digest, &d, err) < 0)
    goto out;
  struct registry_sig_policies sp = { .policy = p,
                                      .policy_path = g->policy,
                                      .notation = n,
                                      .notation_dir = g->notation };
  if (registry_check_signatures (rc, &sp, ref, &d, media_type, size, NULL, &v,
                                 NULL, err)
      < 0)
    goto out;
  if (v != NULL && !v->accepted)
    {
      model_verdict_error (v, err);
      goto out;
    }
  ret = 0;
out:
  model_verdict_free (v);
  model_policy_free (p);
  notation_config_free (n);
  return ret;
}

/* ---- modelpack verify ------------------------------------------------- */

static json_t *
sig_json (const model_signature *s, size_t i)
{
  json_t *o = json_pack (
      "{s:I,s:s,s:s,s:s?,s:s?,s:s?}", "index", (json_int_t)(i + 1), "format",
      model_sig_format_name (s->format), "found_by",
      model_sig_where_name (s->where), "manifest", s->manifest_digest,
      "media_type", s->media_type, "error", s->error);

  if (o != NULL && s->blob_digest.str[0])
    json_object_set_new (o, "blob", json_string (s->blob_digest.str));
  return o;
}

static json_t *
verdict_json (const model_verdict *v, const model_sig_list *sigs,
              const struct registry_sig_stats *st)
{
  json_t *reqs = json_array (), *found = json_array ();

  for (size_t i = 0; v != NULL && i < v->n_reqs; i++)
    {
      const model_verdict_req *r = &v->reqs[i];
      json_t *checks = json_array ();

      for (size_t k = 0; k < r->n_checks; k++)
        json_array_append_new (
            checks,
            json_pack ("{s:I,s:b,s:s}", "signature",
                       (json_int_t)(r->checks[k].signature + 1), "accepted",
                       r->checks[k].accepted, "why", r->checks[k].why));
      json_array_append_new (reqs,
                             json_pack ("{s:s,s:b,s:s?,s:o}", "requirement",
                                        r->what, "satisfied", r->satisfied,
                                        "why", r->why, "signatures", checks));
    }
  for (size_t i = 0; i < sigs->n; i++)
    json_array_append_new (found, sig_json (&sigs->v[i], i));
  return json_pack (
      "{s:s?,s:s?,s:s?,s:s?,s:b,s:o,s:o,s:{s:I,s:i,s:b,s:f,s:i}}", "reference",
      v ? v->reference : NULL, "digest", v ? v->digest : NULL, "policy",
      v ? v->policy : NULL, "scope", v ? v->scope : NULL, "accepted",
      v == NULL || v->accepted, "signatures", found, "requirements", reqs,
      "cost", "requests", (json_int_t)st->requests, "round_trips",
      st->round_trips, "referrers_api", st->referrers_api, "seconds",
      st->seconds, "skipped", st->skipped);
}

static void
print_text (const char *name, const char *digest, const char *policy,
            const model_verdict *v, const model_sig_list *sigs,
            const struct registry_sig_stats *st)
{
  printf ("reference  %s\n", cli_text (name));
  printf ("digest     %s\n", cli_text (digest));
  if (v == NULL)
    printf ("policy     none (no %s): every model is accepted\n",
            cli_text (policy));
  else
    printf ("policy     %s, scope %s\n", cli_text (v->policy),
            cli_text (v->scope));
  printf ("signatures %zu found (%lu requests, %d round trips, %.3f s%s)\n",
          sigs->n, st->requests, st->round_trips, st->seconds,
          st->referrers_api ? ", referrers API" : "");
  if (st->skipped > 0)
    printf ("           %d other referrers not read (other kinds, or past "
            "the %d signatures read)\n",
            st->skipped, REGISTRY_MAX_SIGNATURES);
  for (size_t i = 0; i < sigs->n; i++)
    {
      const model_signature *s = &sigs->v[i];

      printf ("  #%zu %s in %s (%s)%s%s\n", i + 1,
              model_sig_format_name (s->format),
              cli_text (s->manifest_digest ? s->manifest_digest : "?"),
              model_sig_where_name (s->where), s->error ? ": " : "",
              s->error ? cli_text (s->error) : "");
    }
  if (v == NULL)
    {
      printf ("verdict    accepted\n");
      return;
    }
  printf ("requires\n");
  for (size_t i = 0; i < v->n_reqs; i++)
    {
      const model_verdict_req *r = &v->reqs[i];

      printf ("  %s %s\n", r->satisfied ? "[ok]     " : "[refused]",
              cli_text (r->what));
      printf ("            %s\n", cli_text (r->why ? r->why : ""));
      for (size_t k = 0; k < r->n_checks; k++)
        printf ("            #%zu %s: %s\n", r->checks[k].signature + 1,
                r->checks[k].accepted ? "accepted" : "refused",
                cli_text (r->checks[k].why));
    }
  printf ("verdict    %s\n", v->accepted ? "accepted" : "refused");
}

int
cli_verify (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "policy", required_argument, NULL, 'P' },
          { "notation", required_argument, NULL, 'N' },
          { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  struct cli_globals gl = *g;
  bool plain = false;
  model_reference ref;
  model_policy *p = NULL;
  notation_config *n = NULL;
  model_verdict *v = NULL;
  model_sig_list sigs = { 0 };
  struct registry_sig_stats st = { 0 };
  registry_client *rc = NULL;
  cleanup_free char *mt = NULL, *dg = NULL, *body = NULL;
  char name[MODEL_REF_MAX + 512];
  size_t len = 0;
  model_digest d;
  mp_error err = { 0 };
  int c, ret;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'P':
        gl.policy = optarg;
        gl.policy_set = true;
        break;
      case 'N':
        gl.notation = optarg;
        gl.notation_set = true;
        break;
      case 'p':
        plain = true;
        break;
      case 'h':
        fputs ("usage: modelpack verify REF [--policy FILE] [--notation DIR] "
               "[--plain-http]\n"
               "\n"
               "Finds the signatures of the model REF resolves to (referrers "
               "API,\n"
               "referrers tag, cosign .sig tag) and applies the signature "
               "policy\n"
               "(containers-policy.json; default " CLI_DEFAULT_POLICY ")\n"
               "and the Notation trust policy (--notation DIR; "
               "default " CLI_DEFAULT_NOTATION "):\n"
               "which signature verified against which requirement, and why "
               "the\n"
               "others did not.  Exit 0 when the policy accepts the model, "
               "10 when\n"
               "it refuses it.\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc)
    return cli_usage_error ("verify: one reference expected");
  if (model_reference_parse (argv[optind], &ref, &err) < 0)
    {
      cli_fail ("verify", &err);
      return CLI_BAD_REF;
    }
  if (cli_policy_load (&gl, &p, &err) < 0)
    return cli_fail ("verify", &err);
  if (cli_notation_load (&gl, &n, &err) < 0)
    {
      model_policy_free (p);
      return cli_fail ("verify", &err);
    }
  rc = cli_registry_client (&gl, plain, &err);
  if (rc == NULL)
    {
      model_policy_free (p);
      notation_config_free (n);
      return cli_fail ("verify", &err);
    }
  ret = CLI_OK;
  if (registry_get_manifest (rc, &ref, NULL, -1, &mt, &dg, &body, &len, &err)
          < 0
      || model_digest_parse (dg, &d, &err) < 0)
    {
      ret = cli_fail ("verify", &err);
      goto out;
    }
  model_reference_string (&ref, name, sizeof name);
  /* Without a policy every format is looked for: the listing is what
   * verify is for. */
  struct registry_sig_policies sp = { .policy = p,
                                      .policy_path = gl.policy,
                                      .notation = n,
                                      .notation_dir = gl.notation };
  if (p == NULL && n == NULL
          ? registry_find_signatures (rc, &ref, &d, ~0u, &sigs, &st, &err) < 0
          : registry_check_signatures (rc, &sp, &ref, &d, mt, (int64_t)len,
                                       &sigs, &v, &st, &err)
                < 0)
    {
      ret = cli_fail ("verify", &err);
      goto out;
    }
  if (g->json)
    {
      json_t *doc = verdict_json (v, &sigs, &st);
      if (v == NULL)
        {
          json_object_set_new (doc, "reference", json_string (name));
          json_object_set_new (doc, "digest", json_string (dg));
        }
      cli_print_json (doc);
      json_decref (doc);
    }
  else
    print_text (name, dg, gl.policy ? gl.policy : "policy", v, &sigs, &st);
  if (v != NULL && !v->accepted)
    {
      model_verdict_error (v, &err);
      ret = cli_fail ("verify", &err);
    }
out:
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  model_policy_free (p);
  notation_config_free (n);
  registry_client_free (rc);
  return ret;
}
