/* Notation trustpolicy.json reader (see notation_policy.h). */
#include "model/notation_policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/digest.h"
#include "model/jsonfield.h"

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "trust policy");
}

const char *
notation_level_name (enum notation_level l)
{
  switch (l)
    {
    case NOTATION_LEVEL_STRICT:
      return "strict";
    case NOTATION_LEVEL_PERMISSIVE:
      return "permissive";
    case NOTATION_LEVEL_AUDIT:
      return "audit";
    case NOTATION_LEVEL_SKIP:
      return "skip";
    }
  return "?";
}

const char *
notation_check_name (enum notation_check c)
{
  static const char *const names[NOTATION_N_CHECKS]
      = { "integrity", "authenticity", "authenticTimestamp", "expiry",
          "revocation" };

  return c < NOTATION_N_CHECKS ? names[c] : "?";
}

const char *
notation_store_type_name (enum notation_store_type t)
{
  switch (t)
    {
    case NOTATION_STORE_CA:
      return "ca";
    case NOTATION_STORE_SIGNING_AUTHORITY:
      return "signingAuthority";
    case NOTATION_STORE_TSA:
      return "tsa";
    }
  return "?";
}

/* ---- distinguished names ------------------------------------------------ */

void
notation_dn_clear (notation_dn *d)
{
  for (size_t i = 0; i < d->n; i++)
    {
      free (d->v[i].type);
      free (d->v[i].value);
    }
  free (d->v);
  d->v = NULL;
  d->n = 0;
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* One type or value of an RDN: spaces around it dropped (an escaped
 * trailing space stays), then \X for the RFC 4514 specials and \XX hex
 * escapes undone.  NULL with *bad set on a broken escape. */
static char *
dn_decode (const char *s, size_t n, bool *broken)
{
  size_t a = 0, b = n, o = 0;
  char *out;

  *broken = false;
  while (a < b && s[a] == ' ')
    a++;
  while (b > a && s[b - 1] == ' ')
    b--;
  if (b < n && b > a && s[b - 1] == '\\')
    b++; /* "x\ " keeps its escaped space */
  out = malloc (b - a + 1);
  if (out == NULL)
    return NULL;
  for (size_t i = a; i < b; i++)
    {
      if (s[i] != '\\')
        {
          out[o++] = s[i];
          continue;
        }
      if (i + 1 >= b)
        goto broken;
      if (strchr (" \"#+,;<=>\\", s[i + 1]) != NULL && s[i + 1] != '\0')
        {
          out[o++] = s[++i];
          continue;
        }
      if (i + 2 >= b || hexval (s[i + 1]) < 0 || hexval (s[i + 2]) < 0)
        goto broken;
      out[o++] = (char)(hexval (s[i + 1]) << 4 | hexval (s[i + 2]));
      i += 2;
    }
  out[o] = '\0';
  return out;
broken:
  free (out);
  *broken = true;
  return NULL;
}

static int
dn_error (mp_error *err, const char *s, const char *what)
{
  char q[MODEL_QUOTE_BUF];

  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "distinguished name %s: %s",
                       model_quote (s, q, sizeof q), what);
}

/* Add type=value (taking both), with notation's rules: S is ST, a type
 * appears once (a repeat of an empty value replaces it). */
static int
dn_add (notation_dn *d, char *type, char *value, const char *s, mp_error *err)
{
  notation_dn_attr *v;

  if (strcmp (type, "S") == 0)
    {
      char *st = strdup ("ST");

      if (st == NULL)
        {
          free (type);
          free (value);
          return oom (err);
        }
      free (type);
      type = st;
    }
  for (size_t i = 0; i < d->n; i++)
    if (strcmp (d->v[i].type, type) == 0)
      {
        if (d->v[i].value[0] != '\0')
          {
            char m[160];

            snprintf (m, sizeof m, "attribute %.32s appears more than once",
                      type);
            free (type);
            free (value);
            return dn_error (err, s, m);
          }
        free (d->v[i].value);
        free (type);
        d->v[i].value = value;
        return 0;
      }
  v = realloc (d->v, (d->n + 1) * sizeof *v);
  if (v == NULL)
    {
      free (type);
      free (value);
      return oom (err);
    }
  d->v = v;
  d->v[d->n].type = type;
  d->v[d->n].value = value;
  d->n++;
  return 0;
}

static const char *
dn_get (const notation_dn *d, const char *type)
{
  for (size_t i = 0; i < d->n; i++)
    if (strcmp (d->v[i].type, type) == 0)
      return d->v[i].value;
  return NULL;
}

int
notation_dn_parse (const char *s, notation_dn *out, mp_error *err)
{
  notation_dn d = { 0 };
  size_t start = 0, n = strlen (s);
  char *type = NULL;
  bool escaping = false, broken, multi = false;
  static const char *const mandatory[] = { "C", "ST", "O" };

  if (strstr (s, "=#") != NULL)
    return dn_error (err, s, "values in the #hex form are not supported");
  for (size_t i = 0; i <= n; i++)
    {
      char c = i < n ? s[i] : '\0';

      if (i < n && escaping)
        {
          escaping = false;
          continue;
        }
      if (c == '\\')
        {
          escaping = true;
          continue;
        }
      if (c == '=' && type == NULL)
        {
          type = dn_decode (s + start, i - start, &broken);
          if (type == NULL)
            goto decode_failed;
          if (type[0] == '\0')
            {
              free (type);
              type = NULL;
            }
          start = i + 1;
          continue;
        }
      if (c == ',' || c == '+' || c == ';' || i == n)
        {
          char *value;

          if (type == NULL)
            {
              notation_dn_clear (&d);
              /* An empty (or blank) name has no attributes at all. */
              if (i == n && strspn (s, " \t\n\r\v\f") == n)
                break;
              return dn_error (err, s, "incomplete type=value pair");
            }
          value = dn_decode (s + start, i - start, &broken);
          if (value == NULL)
            goto decode_failed;
          /* A '+' joins the next attribute into the same RDN. */
          if (c == '+')
            multi = true;
          else if (multi)
            {
              free (type);
              free (value);
              notation_dn_clear (&d);
              return dn_error (err, s,
                               "multi-valued RDNs (joined by +) are not "
                               "supported");
            }
          if (dn_add (&d, type, value, s, err) < 0)
            {
              notation_dn_clear (&d);
              return -1;
            }
          type = NULL;
          start = i + 1;
        }
    }
  for (size_t k = 0; k < 3; k++)
    {
      const char *v = dn_get (&d, mandatory[k]);

      if (v == NULL || v[0] == '\0')
        {
          notation_dn_clear (&d);
          return dn_error (err, s,
                           "must contain C, ST (or S) and O attributes at a "
                           "minimum");
        }
    }
  *out = d;
  return 0;
decode_failed:
  free (type);
  notation_dn_clear (&d);
  if (!broken)
    return oom (err);
  return dn_error (err, s, "broken backslash escape");
}

bool
notation_dn_subset (const notation_dn *a, const notation_dn *b)
{
  for (size_t i = 0; i < a->n; i++)
    {
      const char *v = dn_get (b, a->v[i].type);

      /* notation compares map lookups: an absent attribute reads as "". */
      if (strcmp (a->v[i].value, v != NULL ? v : "") != 0)
        return false;
    }
  return true;
}

/* ---- scopes -------------------------------------------------------------- */

static bool
is_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9');
}

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* DNS-like labels joined by '.', each alphanumeric at both ends with
 * hyphens inside, and an optional ":port" of digits. */
static bool
domain_is_valid (const char *s, size_t n)
{
  const char *colon = memchr (s, ':', n);
  size_t host = colon ? (size_t)(colon - s) : n;
  size_t i = 0;

  if (colon != NULL)
    {
      if (colon + 1 == s + n)
        return false;
      for (const char *p = colon + 1; p < s + n; p++)
        if (*p < '0' || *p > '9')
          return false;
    }
  while (i < host)
    {
      size_t j = i;

      while (j < host && s[j] != '.')
        j++;
      if (j == i || !is_alnum (s[i]) || !is_alnum (s[j - 1]))
        return false;
      for (size_t k = i; k < j; k++)
        if (!is_alnum (s[k]) && s[k] != '-')
          return false;
      if (j == host)
        return true;
      i = j + 1;
    }
  return false;
}

/* Path components of lowercase alphanumerics joined by '.', '_', "__" or
 * any run of '-', components joined by '/'. */
static bool
repository_is_valid (const char *s)
{
  size_t i = 0, n = strlen (s);

  for (;;)
    {
      if (i >= n || !is_lower_alnum (s[i]))
        return false;
      while (i < n && s[i] != '/')
        {
          if (is_lower_alnum (s[i]))
            {
              i++;
              continue;
            }
          /* A separator, then an alphanumeric must follow. */
          if (s[i] == '.')
            i++;
          else if (s[i] == '_')
            i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
          else if (s[i] == '-')
            while (i < n && s[i] == '-')
              i++;
          else
            return false;
          if (i >= n || !is_lower_alnum (s[i]))
            return false;
        }
      if (i == n)
        return true;
      i++; /* the '/' */
    }
}

bool
notation_scope_is_valid (const char *scope)
{
  const char *slash = strchr (scope, '/');

  if (strchr (scope, '*') != NULL || slash == NULL)
    return false;
  return domain_is_valid (scope, (size_t)(slash - scope))
         && repository_is_valid (slash + 1);
}

/* ---- the document -------------------------------------------------------- */

static void
statement_clear (notation_statement *s)
{
  free (s->name);
  for (size_t i = 0; i < s->n_scopes; i++)
    free (s->scopes[i]);
  free (s->scopes);
  for (size_t i = 0; i < s->n_stores; i++)
    free (s->stores[i].name);
  free (s->stores);
  for (size_t i = 0; i < s->n_identities; i++)
    free (s->identities[i]);
  free (s->identities);
  for (size_t i = 0; i < s->n_x509; i++)
    notation_dn_clear (&s->x509[i]);
  free (s->x509);
}

void
notation_policy_free (notation_policy *p)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n; i++)
    statement_clear (&p->v[i]);
  free (p->v);
  free (p);
}

/* An optional array of strings at obj.key: *n and a malloc'd copy. */
static int
get_strings (const json_t *obj, const char *key, const char *where, char ***out,
             size_t *n, mp_error *err)
{
  const json_t *v = json_object_get (obj, key);
  char w[MODEL_JSON_WHERE_MAX];
  size_t i;
  json_t *e;

  if (v == NULL)
    return 0;
  model_json_path (w, "%s.%s", where, key);
  if (!json_is_array (v))
    return model_json_bad (err, w, "expected an array of strings");
  *out = calloc (json_array_size (v) + 1, sizeof **out);
  if (*out == NULL)
    return oom (err);
  json_array_foreach (v, i, e)
  {
    if (!json_is_string (e))
      {
        model_json_path (w, "%s.%s[%zu]", where, key, i);
        return model_json_bad (err, w, "expected a string");
      }
    (*out)[i] = strdup (json_string_value (e));
    if ((*out)[i] == NULL)
      return oom (err);
    *n = i + 1;
  }
  return 0;
}

static int
parse_level (const json_t *sv, const char *where, notation_statement *s,
             mp_error *err)
{
  static const char *const fields[]
      = { "level", "override", "verifyTimestamp", NULL };
  static const enum notation_action presets[][NOTATION_N_CHECKS] = {
    [NOTATION_LEVEL_STRICT]
    = { NOTATION_ENFORCE, NOTATION_ENFORCE, NOTATION_ENFORCE, NOTATION_ENFORCE,
        NOTATION_ENFORCE },
    [NOTATION_LEVEL_PERMISSIVE] = { NOTATION_ENFORCE, NOTATION_ENFORCE,
                                    NOTATION_LOG, NOTATION_LOG, NOTATION_LOG },
    [NOTATION_LEVEL_AUDIT] = { NOTATION_ENFORCE, NOTATION_LOG, NOTATION_LOG,
                               NOTATION_LOG, NOTATION_LOG },
    [NOTATION_LEVEL_SKIP] = { NOTATION_SKIP, NOTATION_SKIP, NOTATION_SKIP,
                              NOTATION_SKIP, NOTATION_SKIP },
  };
  const json_t *level, *override, *vt;
  const char *name;
  char w[MODEL_JSON_WHERE_MAX], q[MODEL_QUOTE_BUF];
  bool found = false;

  if (!json_is_object (sv))
    return model_json_bad (err, where, "expected an object");
  if (model_json_check_fields (sv, where, fields, err) < 0)
    return -1;
  level = json_object_get (sv, "level");
  model_json_path (w, "%s.level", where);
  if (level == NULL)
    return model_json_bad (
        err, w,
        "required field is missing (strict, permissive, audit or "
        "skip)");
  if (!json_is_string (level))
    return model_json_bad (err, w, "expected a string");
  name = json_string_value (level);
  for (int l = NOTATION_LEVEL_STRICT; l <= NOTATION_LEVEL_SKIP; l++)
    if (strcmp (name, notation_level_name (l)) == 0)
      {
        s->level = l;
        memcpy (s->actions, presets[l], sizeof s->actions);
        found = true;
      }
  if (!found)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: unknown level %s (strict, permissive, audit or "
                         "skip)",
                         w, model_quote (name, q, sizeof q));

  vt = json_object_get (sv, "verifyTimestamp");
  model_json_path (w, "%s.verifyTimestamp", where);
  if (vt != NULL)
    {
      if (!json_is_string (vt))
        return model_json_bad (err, w, "expected a string");
      if (strcmp (json_string_value (vt), "afterCertExpiry") == 0)
        s->timestamp_after_expiry = true;
      else if (strcmp (json_string_value (vt), "always") != 0)
        return mp_error_set (
            err, MP_ERR_INVALID_ARGUMENT,
            "%s: must be \"always\" or \"afterCertExpiry\", not %s", w,
            model_quote (json_string_value (vt), q, sizeof q));
    }

  override = json_object_get (sv, "override");
  model_json_path (w, "%s.override", where);
  if (override == NULL)
    return 0;
  if (!json_is_object (override))
    return model_json_bad (err, w, "expected an object");
  if (json_object_size (override) > 0 && s->level == NOTATION_LEVEL_SKIP)
    return model_json_bad (err, w, "level skip cannot be customized");
  {
    const char *key;
    json_t *v;

    json_object_foreach ((json_t *) override, key, v)
    {
      int check = -1;
      enum notation_action action;
      const char *a;

      model_json_path (w, "%s.override.%s", where,
                       model_quote (key, q, sizeof q));
      for (int c = 0; c < NOTATION_N_CHECKS; c++)
        if (strcmp (key, notation_check_name (c)) == 0)
          check = c;
      if (check < 0)
        return model_json_bad (
            err, w,
            "unknown validation (authenticity, authenticTimestamp, "
            "expiry or revocation)");
      if (!json_is_string (v))
        return model_json_bad (err, w, "expected a string");
      a = json_string_value (v);
      if (strcmp (a, "enforce") == 0)
        action = NOTATION_ENFORCE;
      else if (strcmp (a, "log") == 0)
        action = NOTATION_LOG;
      else if (strcmp (a, "skip") == 0)
        action = NOTATION_SKIP;
      else
        return model_json_bad (err, w,
                               "must be \"enforce\", \"log\" or \"skip\"");
      if (check == NOTATION_CHECK_INTEGRITY)
        return model_json_bad (err, w, "integrity cannot be overridden");
      if (action == NOTATION_SKIP && check != NOTATION_CHECK_REVOCATION)
        return model_json_bad (err, w, "only revocation can be skipped");
      s->actions[check] = action;
    }
  }
  return 0;
}

static int
parse_stores (const json_t *st, const char *where, notation_statement *s,
              mp_error *err)
{
  char **raw = NULL;
  size_t n = 0;
  int r = 0;

  if (get_strings (st, "trustStores", where, &raw, &n, err) < 0)
    r = -1;
  if (r == 0 && n > 0)
    {
      s->stores = calloc (n, sizeof *s->stores);
      if (s->stores == NULL)
        r = oom (err);
    }
  for (size_t i = 0; r == 0 && i < n; i++)
    {
      char w[MODEL_JSON_WHERE_MAX], q[MODEL_QUOTE_BUF];
      char *colon = strchr (raw[i], ':');
      const char *name;
      size_t tl;
      bool found = false;

      model_json_path (w, "%s.trustStores[%zu]", where, i);
      if (colon == NULL)
        {
          r = mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                            "%s: %s is not TYPE:NAME (as ca:my-store)", w,
                            model_quote (raw[i], q, sizeof q));
          break;
        }
      tl = (size_t)(colon - raw[i]);
      name = colon + 1;
      for (int t = NOTATION_STORE_CA; t <= NOTATION_STORE_TSA; t++)
        if (strlen (notation_store_type_name (t)) == tl
            && strncmp (raw[i], notation_store_type_name (t), tl) == 0)
          {
            s->stores[i].type = t;
            found = true;
          }
      if (!found)
        {
          r = mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                            "%s: unknown trust store type in %s (ca, "
                            "signingAuthority or tsa)",
                            w, model_quote (raw[i], q, sizeof q));
          break;
        }
      if (name[0] == '\0'
          || strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                           "XYZ0123456789_.-")
                 != strlen (name)
          || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        {
          r = mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                            "%s: store name in %s must be made of "
                            "[A-Za-z0-9_.-] (and not . or ..)",
                            w, model_quote (raw[i], q, sizeof q));
          break;
        }
      s->stores[i].name = strdup (name);
      if (s->stores[i].name == NULL)
        r = oom (err);
      else
        s->n_stores = i + 1;
    }
  for (size_t i = 0; i < n; i++)
    free (raw[i]);
  free (raw);
  return r;
}

static int
parse_identities (const char *where, notation_statement *s, mp_error *err)
{
  char w[MODEL_JSON_WHERE_MAX], q[MODEL_QUOTE_BUF];

  if (s->n_identities > 0)
    {
      s->x509 = calloc (s->n_identities, sizeof *s->x509);
      if (s->x509 == NULL)
        return oom (err);
    }
  for (size_t i = 0; i < s->n_identities; i++)
    {
      const char *id = s->identities[i];
      const char *colon;

      model_json_path (w, "%s.trustedIdentities[%zu]", where, i);
      if (id[0] == '\0')
        return model_json_bad (err, w, "must not be empty");
      if (strcmp (id, "*") == 0)
        {
          if (s->n_identities > 1)
            return model_json_bad (
                err, w,
                "the wildcard \"*\" cannot be combined with other "
                "identities");
          s->any_identity = true;
          continue;
        }
      colon = strchr (id, ':');
      if (colon == NULL)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s: %s is not TYPE:VALUE (as x509.subject: "
                             "C=US, ST=WA, O=example)",
                             w, model_quote (id, q, sizeof q));
      /* Other identity types are for plugins: notation passes them over. */
      if ((size_t)(colon - id) != strlen ("x509.subject")
          || strncmp (id, "x509.subject", (size_t)(colon - id)) != 0)
        continue;
      if (colon[1] == '\0')
        return model_json_bad (err, w,
                               "x509.subject needs a distinguished name");
      if (notation_dn_parse (colon + 1, &s->x509[s->n_x509], err) < 0)
        return mp_error_prefix (err, "%s", w);
      s->n_x509++;
    }
  /* Two identities one certificate could match both of are refused. */
  for (size_t i = 0; i < s->n_x509; i++)
    for (size_t j = 0; j < s->n_x509; j++)
      if (i != j && notation_dn_subset (&s->x509[i], &s->x509[j]))
        {
          model_json_path (w, "%s.trustedIdentities", where);
          return model_json_bad (
              err, w,
              "two x509.subject identities overlap (one is a subset "
              "of the other)");
        }
  return 0;
}

static int
parse_statement (const json_t *st, const char *where, notation_statement *s,
                 mp_error *err)
{
  static const char *const fields[]
      = { "name",        "registryScopes",    "signatureVerification",
          "trustStores", "trustedIdentities", NULL };
  const json_t *name, *sv;
  char w[MODEL_JSON_WHERE_MAX];

  if (!json_is_object (st))
    return model_json_bad (err, where, "expected an object");
  if (model_json_check_fields (st, where, fields, err) < 0)
    return -1;
  name = json_object_get (st, "name");
  model_json_path (w, "%s.name", where);
  if (name == NULL)
    return model_json_bad (err, w, "required field is missing");
  if (!json_is_string (name))
    return model_json_bad (err, w, "expected a string");
  if (json_string_length (name) == 0)
    return model_json_bad (err, w, "must not be empty");
  s->name = strdup (json_string_value (name));
  if (s->name == NULL)
    return oom (err);

  sv = json_object_get (st, "signatureVerification");
  model_json_path (w, "%s.signatureVerification", where);
  if (sv == NULL)
    return model_json_bad (err, w, "required field is missing");
  if (parse_level (sv, w, s, err) < 0)
    return -1;

  if (get_strings (st, "registryScopes", where, &s->scopes, &s->n_scopes, err)
          < 0
      || parse_stores (st, where, s, err) < 0
      || get_strings (st, "trustedIdentities", where, &s->identities,
                      &s->n_identities, err)
             < 0)
    return -1;

  if (s->level == NOTATION_LEVEL_SKIP)
    {
      if (s->n_stores > 0 || s->n_identities > 0)
        return model_json_bad (err, where,
                               "level skip takes no trustStores and no "
                               "trustedIdentities; remove them");
    }
  else
    {
      if (s->n_stores == 0)
        {
          model_json_path (w, "%s.trustStores", where);
          return model_json_bad (
              err, w, "required (and not empty) unless the level is skip");
        }
      if (s->n_identities == 0)
        {
          model_json_path (w, "%s.trustedIdentities", where);
          return model_json_bad (
              err, w,
              "required (and not empty) unless the level is skip; "
              "[\"*\"] trusts any identity the stores issued");
        }
      if (parse_identities (where, s, err) < 0)
        return -1;
    }

  model_json_path (w, "%s.registryScopes", where);
  if (s->n_scopes == 0)
    return model_json_bad (err, w, "required (and not empty)");
  for (size_t i = 0; i < s->n_scopes; i++)
    {
      char q[MODEL_QUOTE_BUF];

      model_json_path (w, "%s.registryScopes[%zu]", where, i);
      if (strcmp (s->scopes[i], "*") == 0)
        {
          if (s->n_scopes > 1)
            return model_json_bad (
                err, w,
                "the global scope \"*\" cannot be combined with other "
                "scopes");
          s->global = true;
          continue;
        }
      if (!notation_scope_is_valid (s->scopes[i]))
        return mp_error_set (
            err, MP_ERR_INVALID_ARGUMENT,
            "%s: %s is not a fully qualified repository (as "
            "registry.example.com/ns/model, without tag, digest or "
            "wildcard)",
            w, model_quote (s->scopes[i], q, sizeof q));
    }
  return 0;
}

/* Names unique, each scope (the global "*" included) in one statement. */
static int
check_unique (const notation_policy *p, mp_error *err)
{
  char w[MODEL_JSON_WHERE_MAX], q[MODEL_QUOTE_BUF];

  for (size_t i = 0; i < p->n; i++)
    for (size_t j = 0; j <= i; j++)
      {
        if (j < i && strcmp (p->v[i].name, p->v[j].name) == 0)
          {
            model_json_path (w, "trustPolicies[%zu].name", i);
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "%s: %s is already the name of "
                                 "trustPolicies[%zu]",
                                 w, model_quote (p->v[i].name, q, sizeof q), j);
          }
        for (size_t a = 0; a < p->v[i].n_scopes; a++)
          for (size_t b = 0; b < (j < i ? p->v[j].n_scopes : a); b++)
            if (strcmp (p->v[i].scopes[a], p->v[j].scopes[b]) == 0)
              {
                model_json_path (w, "trustPolicies[%zu].registryScopes[%zu]", i,
                                 a);
                return mp_error_set (
                    err, MP_ERR_INVALID_ARGUMENT,
                    "%s: %s is also a scope of trustPolicies[%zu]; a scope "
                    "belongs to one statement",
                    w, model_quote (p->v[i].scopes[a], q, sizeof q), j);
              }
      }
  return 0;
}

int
notation_policy_parse (const void *buf, size_t len, notation_policy **out,
                       mp_error *err)
{
  static const char *const fields[] = { "version", "trustPolicies", NULL };
  json_error_t jerr;
  json_t *root, *version, *tps, *e;
  notation_policy *p = NULL;
  size_t i;
  int r = -1;

  /* Duplicates are refused: a policy must not mean two things. */
  root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "trust policy: not valid JSON: %s (line %d, column "
                         "%d)",
                         model_scrub_text (jerr.text), jerr.line, jerr.column);
  if (!json_is_object (root))
    {
      model_json_bad (err, "trust policy",
                      "the top level must be a JSON object");
      goto out;
    }
  if (model_json_check_fields (root, "trust policy", fields, err) < 0)
    goto out;
  version = json_object_get (root, "version");
  if (version == NULL)
    {
      model_json_bad (err, "version", "required field is missing (\"1.0\")");
      goto out;
    }
  if (!json_is_string (version)
      || strcmp (json_string_value (version), "1.0") != 0)
    {
      model_json_bad (err, "version", "must be \"1.0\"");
      goto out;
    }
  tps = json_object_get (root, "trustPolicies");
  if (tps == NULL || !json_is_array (tps) || json_array_size (tps) == 0)
    {
      model_json_bad (err, "trustPolicies",
                      tps == NULL            ? "required field is missing"
                      : !json_is_array (tps) ? "expected an array of statements"
                                             : "must not be empty");
      goto out;
    }
  p = calloc (1, sizeof *p);
  if (p == NULL
      || (p->v = calloc (json_array_size (tps), sizeof *p->v)) == NULL)
    {
      oom (err);
      goto out;
    }
  json_array_foreach (tps, i, e)
  {
    char w[MODEL_JSON_WHERE_MAX];

    model_json_path (w, "trustPolicies[%zu]", i);
    p->n = i + 1;
    if (parse_statement (e, w, &p->v[i], err) < 0)
      goto out;
  }
  if (check_unique (p, err) < 0)
    goto out;
  *out = p;
  p = NULL;
  r = 0;
out:
  notation_policy_free (p);
  json_decref (root);
  return r;
}

const notation_statement *
notation_policy_lookup (const notation_policy *p, const char *repository)
{
  const notation_statement *global = NULL;

  if (!notation_scope_is_valid (repository))
    return NULL;
  for (size_t i = 0; i < p->n; i++)
    {
      if (p->v[i].global)
        global = &p->v[i];
      for (size_t j = 0; j < p->v[i].n_scopes; j++)
        if (strcmp (p->v[i].scopes[j], repository) == 0)
          return &p->v[i];
    }
  return global;
}
