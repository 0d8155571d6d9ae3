/* Notation signature envelopes, JWS and COSE (see notation_envelope.h). */
#include "model/notation_envelope.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/digest.h"
#include "model/modelconfig.h"
#include "util/base64.h"
#include "util/cbor.h"

#define H_SCHEME "io.cncf.notary.signingScheme"
#define H_SIGNING_TIME "io.cncf.notary.signingTime"
#define H_AUTHENTIC_TIME "io.cncf.notary.authenticSigningTime"
#define H_EXPIRY "io.cncf.notary.expiry"
#define H_PLUGIN "io.cncf.notary.verificationPlugin"
#define H_PLUGIN_VERSION "io.cncf.notary.verificationPluginMinVersion"
#define H_TIMESTAMP "io.cncf.notary.timestampSignature"
#define H_AGENT "io.cncf.notary.signingAgent"

/* COSE labels (RFC 9052, RFC 9360). */
#define COSE_ALG 1
#define COSE_CRIT 2
#define COSE_CONTENT_TYPE 3
#define COSE_X5CHAIN 33
#define COSE_TAG_SIGN1 18

static int
bad (mp_error *err, const char *fmt, const char *arg)
{
  char q[MODEL_QUOTE_BUF];

  if (arg == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s", fmt);
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, fmt,
                       model_quote (arg, q, sizeof q));
}

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "signature envelope");
}

const char *
notation_alg_name (enum notation_alg a)
{
  static const char *const names[]
      = { "?", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512" };

  return (unsigned)a < sizeof names / sizeof *names ? names[a] : "?";
}

const char *
notation_scheme_name (enum notation_scheme s)
{
  return s == NOTATION_SCHEME_X509 ? "notary.x509"
         : s == NOTATION_SCHEME_SIGNING_AUTHORITY
             ? "notary.x509.signingAuthority"
             : "?";
}

static int
scheme_from (const char *s, size_t n, enum notation_scheme *out)
{
  if (n == strlen ("notary.x509") && memcmp (s, "notary.x509", n) == 0)
    *out = NOTATION_SCHEME_X509;
  else if (n == strlen ("notary.x509.signingAuthority")
           && memcmp (s, "notary.x509.signingAuthority", n) == 0)
    *out = NOTATION_SCHEME_SIGNING_AUTHORITY;
  else
    return -1;
  return 0;
}

void
notation_envelope_free (notation_envelope *e)
{
  if (e == NULL)
    return;
  free (e->content_type);
  for (size_t i = 0; i < e->n_certs; i++)
    free (e->certs[i].data);
  free (e->payload.data);
  free (e->signature.data);
  free (e->signed_data.data);
  free (e->verification_plugin);
  free (e->signing_agent);
  free (e);
}

static char *
strndup_checked (const char *s, size_t n)
{
  /* A NUL inside would make the C string say less than the bytes. */
  if (memchr (s, '\0', n) != NULL)
    return NULL;
  return strndup (s, n);
}

/* ---- time ---------------------------------------------------------------- */

bool
notation_parse_rfc3339 (const char *s, notation_time *out)
{
  /* The grammar the model config's "created" is read with: four-digit
   * year, real calendar dates, optional fraction, Z or +hh:mm. */
  return model_rfc3339_parse (s, &out->sec, &out->nsec);
}

/* ---- JWS ----------------------------------------------------------------- */

static int
b64 (const char *s, size_t n, enum mp_base64_alphabet a, notation_bytes *out,
     const char *what, mp_error *err)
{
  int r = mp_base64_decode_bin (s, n, a, &out->data, &out->len);

  if (r == -2)
    return oom (err);
  if (r < 0)
    return bad (err,
                a == MP_BASE64_STD ? "%s: not valid (padded, standard) base64"
                                   : "%s: not valid (unpadded) base64url",
                what);
  return 0;
}

static const char *const jws_known[]
    = { "alg",          "cty",    "crit",           H_EXPIRY,
        H_SIGNING_TIME, H_SCHEME, H_AUTHENTIC_TIME, NULL };

static bool
jws_is_known (const char *k)
{
  for (const char *const *n = jws_known; *n; n++)
    if (strcmp (k, *n) == 0)
      return true;
  return false;
}

static int
jws_time (const json_t *h, const char *key, bool *present, notation_time *t,
          mp_error *err)
{
  const json_t *v = json_object_get (h, key);

  *present = v != NULL;
  if (v == NULL)
    return 0;
  if (!json_is_string (v) || !notation_parse_rfc3339 (json_string_value (v), t))
    return bad (err, "protected header %s: expected an RFC 3339 time", key);
  return 0;
}

static int
jws_protected (notation_envelope *e, const notation_bytes *raw, mp_error *err)
{
  static const struct
  {
    const char *name;
    enum notation_alg alg;
  } algs[]
      = { { "PS256", NOTATION_ALG_PS256 }, { "PS384", NOTATION_ALG_PS384 },
          { "PS512", NOTATION_ALG_PS512 }, { "ES256", NOTATION_ALG_ES256 },
          { "ES384", NOTATION_ALG_ES384 }, { "ES512", NOTATION_ALG_ES512 } };
  json_error_t jerr;
  json_t *h = json_loadb ((const char *)raw->data, raw->len,
                          JSON_REJECT_DUPLICATES, &jerr);
  const json_t *alg, *cty, *crit, *scheme, *v;
  bool has_st, has_ast, required[3] = { true, false, false };
  notation_time st, ast;
  const char *key;
  size_t i;
  int r = -1;

  if (h == NULL || !json_is_object (h))
    {
      bad (err, "protected header: not a JSON object", NULL);
      goto out;
    }
  alg = json_object_get (h, "alg");
  if (alg == NULL || !json_is_string (alg))
    {
      bad (err, "protected header: alg missing or not a string", NULL);
      goto out;
    }
  for (i = 0; i < sizeof algs / sizeof *algs; i++)
    if (strcmp (json_string_value (alg), algs[i].name) == 0)
      e->alg = algs[i].alg;
  if (e->alg == 0)
    {
      bad (err, "unsupported signature algorithm %s", json_string_value (alg));
      goto out;
    }
  cty = json_object_get (h, "cty");
  if (cty == NULL || !json_is_string (cty))
    {
      bad (err, "protected header: cty missing or not a string", NULL);
      goto out;
    }
  e->content_type = strdup (json_string_value (cty));
  if (e->content_type == NULL)
    {
      oom (err);
      goto out;
    }
  scheme = json_object_get (h, H_SCHEME);
  if (scheme == NULL || !json_is_string (scheme))
    {
      bad (err, "protected header: " H_SCHEME " missing or not a string", NULL);
      goto out;
    }
  if (scheme_from (json_string_value (scheme), json_string_length (scheme),
                   &e->scheme)
      < 0)
    {
      bad (err, "unsupported signing scheme %s", json_string_value (scheme));
      goto out;
    }
  if (jws_time (h, H_SIGNING_TIME, &has_st, &st, err) < 0
      || jws_time (h, H_AUTHENTIC_TIME, &has_ast, &ast, err) < 0
      || jws_time (h, H_EXPIRY, &e->has_expiry, &e->expiry, err) < 0)
    goto out;
  if (e->scheme == NOTATION_SCHEME_X509)
    {
      if (has_ast)
        {
          bad (err, H_AUTHENTIC_TIME " must not be present for notary.x509",
               NULL);
          goto out;
        }
      if (!has_st)
        {
          bad (err, "signing time not present", NULL);
          goto out;
        }
      e->signing_time = st;
    }
  else
    {
      if (has_st)
        {
          bad (err,
               H_SIGNING_TIME " must not be present for "
                              "notary.x509.signingAuthority",
               NULL);
          goto out;
        }
      if (!has_ast)
        {
          bad (err,
               H_AUTHENTIC_TIME " must be present for "
                                "notary.x509.signingAuthority",
               NULL);
          goto out;
        }
      e->signing_time = ast;
      required[1] = true;
    }
  required[2] = e->has_expiry;

  /* crit: the scheme (and authentic time, expiry) must be marked; every
   * other entry must name an extension header that is present. */
  crit = json_object_get (h, "crit");
  if (crit == NULL || !json_is_array (crit) || json_array_size (crit) == 0)
    {
      bad (err, "protected header: crit missing, empty or not an array", NULL);
      goto out;
    }
  json_array_foreach (crit, i, v)
  {
    static const char *const must[] = { H_SCHEME, H_AUTHENTIC_TIME, H_EXPIRY };
    const char *c;
    bool matched = false;

    if (!json_is_string (v))
      {
        bad (err, "protected header: crit entries must be strings", NULL);
        goto out;
      }
    c = json_string_value (v);
    for (int k = 0; k < 3; k++)
      if (required[k] && strcmp (c, must[k]) == 0)
        {
          required[k] = false;
          matched = true;
        }
    if (matched)
      continue;
    if (jws_is_known (c) || json_object_get (h, c) == NULL)
      {
        bad (err, "header %s is marked critical but not present", c);
        goto out;
      }
    if (strcmp (c, H_PLUGIN) != 0 && strcmp (c, H_PLUGIN_VERSION) != 0)
      {
        bad (err,
             "critical header %s is not understood by this verifier "
             "(a verification plugin may be needed)",
             c);
        goto out;
      }
  }
  for (int k = 0; k < 3; k++)
    if (required[k])
      {
        static const char *const must[]
            = { H_SCHEME, H_AUTHENTIC_TIME, H_EXPIRY };

        bad (err, "required header %s is not marked critical", must[k]);
        goto out;
      }
  json_object_foreach (h, key, v)
  {
    if (strcmp (key, H_PLUGIN) == 0)
      {
        e->verification_plugin = strdup (
            json_is_string (v) ? json_string_value (v) : "(not a string)");
        if (e->verification_plugin == NULL)
          {
            oom (err);
            goto out;
          }
      }
  }
  r = 0;
out:
  json_decref (h);
  return r;
}

static int
jws_parse (notation_envelope *e, const void *buf, size_t len, mp_error *err)
{
  json_error_t jerr;
  json_t *root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &jerr);
  const json_t *payload, *protected, *header, *signature, *x5c, *v;
  notation_bytes prot = { 0 };
  json_t *claims = NULL;
  size_t i, pl, sl;
  int r = -1;

  if (root == NULL || !json_is_object (root))
    {
      bad (err, "JWS envelope: not a JSON object", NULL);
      goto out;
    }
  payload = json_object_get (root, "payload");
  protected = json_object_get (root, "protected");
  header = json_object_get (root, "header");
  signature = json_object_get (root, "signature");
  if (payload == NULL || !json_is_string (payload) || protected == NULL
      || !json_is_string (protected) || signature == NULL
      || !json_is_string (signature))
    {
      bad (err,
           "JWS envelope: payload, protected and signature must be strings",
           NULL);
      goto out;
    }
  if (header == NULL || !json_is_object (header))
    {
      bad (err, "certificate chain is not present", NULL);
      goto out;
    }
  x5c = json_object_get (header, "x5c");
  if (x5c == NULL || !json_is_array (x5c) || json_array_size (x5c) == 0)
    {
      bad (err, "certificate chain is not present", NULL);
      goto out;
    }
  if (json_array_size (x5c) > NOTATION_MAX_CHAIN)
    {
      bad (err, "certificate chain is too long", NULL);
      goto out;
    }
  json_array_foreach (x5c, i, v)
  {
    if (!json_is_string (v))
      {
        bad (err, "x5c entries must be strings", NULL);
        goto out;
      }
    if (b64 (json_string_value (v), json_string_length (v), MP_BASE64_STD,
             &e->certs[i], "x5c", err)
        < 0)
      goto out;
    e->n_certs = i + 1;
  }
  v = json_object_get (header, H_TIMESTAMP);
  e->has_timestamp = v != NULL;
  v = json_object_get (header, H_AGENT);
  if (v != NULL && json_is_string (v)
      && (e->signing_agent = strdup (json_string_value (v))) == NULL)
    {
      oom (err);
      goto out;
    }

  if (b64 (json_string_value (protected), json_string_length (protected),
           MP_BASE64_URL_RAW, &prot, "protected header", err)
          < 0
      || jws_protected (e, &prot, err) < 0)
    goto out;
  if (b64 (json_string_value (payload), json_string_length (payload),
           MP_BASE64_URL_RAW, &e->payload, "payload", err)
          < 0
      || b64 (json_string_value (signature), json_string_length (signature),
              MP_BASE64_URL_RAW, &e->signature, "signature", err)
             < 0)
    goto out;
  if (e->payload.len == 0)
    {
      bad (err, "payload is empty", NULL);
      goto out;
    }
  if (e->signature.len == 0)
    {
      bad (err, "signature is empty", NULL);
      goto out;
    }
  /* A JWS payload is a set of JWT claims: a JSON object. */
  claims = json_loadb ((const char *)e->payload.data, e->payload.len,
                       JSON_REJECT_DUPLICATES, &jerr);
  if (claims == NULL || !json_is_object (claims))
    {
      bad (err, "payload is not a JSON object", NULL);
      goto out;
    }
  /* The JWS signing input: the two parts as written, joined by '.'. */
  pl = json_string_length (protected);
  sl = json_string_length (payload);
  e->signed_data.data = malloc (pl + 1 + sl);
  if (e->signed_data.data == NULL)
    {
      oom (err);
      goto out;
    }
  memcpy (e->signed_data.data, json_string_value (protected), pl);
  e->signed_data.data[pl] = '.';
  memcpy (e->signed_data.data + pl + 1, json_string_value (payload), sl);
  e->signed_data.len = pl + 1 + sl;
  r = 0;
out:
  free (prot.data);
  json_decref (claims);
  json_decref (root);
  return r;
}

/* ---- COSE ---------------------------------------------------------------- */

/* A header label: an integer or a text string (pointing into the buffer). */
typedef struct cose_label
{
  bool is_text;
  int64_t i;
  const char *s;
  size_t n;
} cose_label;

static int
read_label (mp_cbor *c, cose_label *l, mp_error *err)
{
  memset (l, 0, sizeof *l);
  switch (mp_cbor_peek (c))
    {
    case MP_CBOR_UINT:
    case MP_CBOR_NINT:
      return mp_cbor_read_int (c, &l->i, err);
    case MP_CBOR_TEXT:
      l->is_text = true;
      return mp_cbor_read_text (c, &l->s, &l->n, err);
    default:
      return bad (err,
                  "COSE header label: expected an integer or a text "
                  "string",
                  NULL);
    }
}

static bool
label_is (const cose_label *l, const char *text)
{
  return l->is_text && l->n == strlen (text) && memcmp (l->s, text, l->n) == 0;
}

static bool
label_is_int (const cose_label *l, int64_t i)
{
  return !l->is_text && l->i == i;
}

static bool
label_equal (const cose_label *a, const cose_label *b)
{
  if (a->is_text != b->is_text)
    return false;
  return a->is_text ? a->n == b->n && memcmp (a->s, b->s, a->n) == 0
                    : a->i == b->i;
}

static const char *
label_text (const cose_label *l, char *buf, size_t size)
{
  char q[MODEL_QUOTE_BUF], tmp[256];

  if (!l->is_text)
    snprintf (buf, size, "%lld", (long long)l->i);
  else
    {
      size_t n = l->n < sizeof tmp - 1 ? l->n : sizeof tmp - 1;

      memcpy (tmp, l->s, n);
      tmp[n] = '\0';
      snprintf (buf, size, "%s", model_quote (tmp, q, sizeof q));
    }
  return buf;
}

/* tag 1 (epoch seconds), an integer. */
static int
cose_time (mp_cbor *c, const char *what, notation_time *t, mp_error *err)
{
  uint64_t tag;
  int64_t sec;

  if (mp_cbor_peek (c) != MP_CBOR_TAG || mp_cbor_read_tag (c, &tag, err) < 0
      || tag != 1)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: only tag 1 (epoch) date-times are supported",
                         what);
  if (mp_cbor_read_int (c, &sec, err) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: expected integer seconds", what);
  t->sec = sec;
  t->nsec = 0;
  return 0;
}

#define MAX_LABELS MP_CBOR_MAX_MAP

static bool
is_system_label (const cose_label *l)
{
  return label_is_int (l, COSE_ALG) || label_is_int (l, COSE_CRIT)
         || label_is_int (l, COSE_CONTENT_TYPE) || label_is (l, H_EXPIRY)
         || label_is (l, H_SCHEME) || label_is (l, H_SIGNING_TIME)
         || label_is (l, H_AUTHENTIC_TIME);
}

static int
cose_protected (notation_envelope *e, const uint8_t *p, size_t n, mp_error *err)
{
  static const struct
  {
    int64_t id;
    enum notation_alg alg;
  } algs[] = { { -37, NOTATION_ALG_PS256 }, { -38, NOTATION_ALG_PS384 },
               { -39, NOTATION_ALG_PS512 }, { -7, NOTATION_ALG_ES256 },
               { -35, NOTATION_ALG_ES384 }, { -36, NOTATION_ALG_ES512 } };
  cose_label keys[MAX_LABELS], crit[MAX_LABELS];
  size_t nkeys = 0, ncrit = 0, count;
  bool has_alg = false, has_scheme = false, has_st = false, has_ast = false;
  notation_time st = { 0 }, ast = { 0 };
  mp_cbor c;
  char lb[MODEL_QUOTE_BUF];

  if (n == 0)
    return bad (err, "COSE protected header is empty", NULL);
  mp_cbor_init (&c, p, n);
  if (mp_cbor_read_map (&c, &count, err) < 0
      || mp_cbor_check_map (&c, count, err) < 0)
    return mp_error_prefix (err, "COSE protected header");
  for (size_t k = 0; k < count; k++)
    {
      cose_label *l = &keys[nkeys++];

      if (read_label (&c, l, err) < 0)
        return mp_error_prefix (err, "COSE protected header");
      if (label_is_int (l, COSE_ALG))
        {
          int64_t id;

          if (mp_cbor_peek (&c) == MP_CBOR_TEXT)
            return bad (err, "unsupported signature algorithm (a text alg)",
                        NULL);
          if (mp_cbor_read_int (&c, &id, err) < 0)
            return mp_error_prefix (err, "COSE alg");
          for (size_t i = 0; i < sizeof algs / sizeof *algs; i++)
            if (algs[i].id == id)
              e->alg = algs[i].alg;
          if (e->alg == 0)
            {
              return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                   "unsupported signature algorithm %lld",
                                   (long long)id);
            }
          has_alg = true;
        }
      else if (label_is_int (l, COSE_CRIT))
        {
          size_t m;

          if (mp_cbor_read_array (&c, &m, err) < 0)
            return mp_error_prefix (err, "COSE crit");
          if (m == 0)
            return bad (err, "COSE crit is empty", NULL);
          if (m > MAX_LABELS)
            return bad (err, "COSE crit has too many labels", NULL);
          for (size_t i = 0; i < m; i++)
            if (read_label (&c, &crit[ncrit++], err) < 0)
              return mp_error_prefix (err, "COSE crit");
        }
      else if (label_is_int (l, COSE_CONTENT_TYPE))
        {
          const char *s;
          size_t m;

          if (mp_cbor_peek (&c) != MP_CBOR_TEXT)
            return bad (err, "content type should be a text string", NULL);
          if (mp_cbor_read_text (&c, &s, &m, err) < 0)
            return -1;
          /* go-cose's rule for a content type: type/subtype, unpadded. */
          if (m == 0 || s[0] == ' ' || s[m - 1] == ' '
              || memchr (s, '/', m) == NULL
              || memchr (s, '/', m) != memrchr (s, '/', m))
            return bad (err, "content type is not of the form type/subtype",
                        NULL);
          e->content_type = strndup_checked (s, m);
          if (e->content_type == NULL)
            return bad (err, "content type holds a NUL byte", NULL);
        }
      else if (label_is (l, H_SCHEME))
        {
          const char *s;
          size_t m;

          if (mp_cbor_peek (&c) != MP_CBOR_TEXT
              || mp_cbor_read_text (&c, &s, &m, err) < 0)
            return bad (err, "invalid signingScheme", NULL);
          if (scheme_from (s, m, &e->scheme) < 0)
            {
              char *q = strndup_checked (s, m);

              bad (err, "unsupported signing scheme %s", q ? q : "(NUL)");
              free (q);
              return -1;
            }
          has_scheme = true;
        }
      else if (label_is (l, H_SIGNING_TIME))
        {
          if (cose_time (&c, "signing time", &st, err) < 0)
            return -1;
          has_st = true;
        }
      else if (label_is (l, H_AUTHENTIC_TIME))
        {
          if (cose_time (&c, "authentic signing time", &ast, err) < 0)
            return -1;
          has_ast = true;
        }
      else if (label_is (l, H_EXPIRY))
        {
          if (cose_time (&c, "expiry", &e->expiry, err) < 0)
            return -1;
          e->has_expiry = true;
        }
      else if (label_is (l, H_PLUGIN))
        {
          const char *s;
          size_t m;
          char *v = NULL;

          if (mp_cbor_peek (&c) == MP_CBOR_TEXT)
            {
              if (mp_cbor_read_text (&c, &s, &m, err) < 0)
                return -1;
              v = strndup_checked (s, m);
            }
          else if (mp_cbor_skip (&c, err) < 0)
            return -1;
          e->verification_plugin = v ? v : strdup ("(not a string)");
          if (e->verification_plugin == NULL)
            return oom (err);
        }
      else if (mp_cbor_skip (&c, err) < 0)
        return mp_error_prefix (err, "COSE protected header");
    }
  if (!mp_cbor_at_end (&c))
    return bad (err, "COSE protected header: bytes after the map", NULL);
  if (!has_alg)
    return bad (err, "COSE protected header: alg is missing", NULL);
  if (e->content_type == NULL)
    return bad (err, "missing content type", NULL);
  if (!has_scheme)
    return bad (err, "invalid signingScheme", NULL);

  /* Critical labels: present, understood, and the required ones marked. */
  {
    bool need[3] = { true, e->scheme == NOTATION_SCHEME_SIGNING_AUTHORITY,
                     e->has_expiry };
    static const char *const must[] = { H_SCHEME, H_AUTHENTIC_TIME, H_EXPIRY };

    for (size_t i = 0; i < ncrit; i++)
      {
        bool present = false;

        for (size_t k = 0; k < nkeys; k++)
          present = present || label_equal (&crit[i], &keys[k]);
        if (!present)
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "missing critical header: %s",
                               label_text (&crit[i], lb, sizeof lb));
        for (int k = 0; k < 3; k++)
          if (label_is (&crit[i], must[k]))
            need[k] = false;
        if (!is_system_label (&crit[i]) && !label_is (&crit[i], H_PLUGIN)
            && !label_is (&crit[i], H_PLUGIN_VERSION))
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "critical header %s is not understood by this "
                               "verifier (a verification plugin may be "
                               "needed)",
                               label_text (&crit[i], lb, sizeof lb));
      }
    for (int k = 0; k < 3; k++)
      if (need[k])
        return bad (err, "required header %s is not marked critical", must[k]);
  }
  if (e->scheme == NOTATION_SCHEME_X509)
    {
      if (!has_st)
        return bad (err, "protected header " H_SIGNING_TIME " is missing",
                    NULL);
      e->signing_time = st;
    }
  else
    {
      if (!has_ast)
        return bad (err, "protected header " H_AUTHENTIC_TIME " is missing",
                    NULL);
      e->signing_time = ast;
    }
  return 0;
}

static int
cose_unprotected (notation_envelope *e, mp_cbor *c, mp_error *err)
{
  size_t count;
  bool has_chain = false;

  if (mp_cbor_read_map (c, &count, err) < 0
      || mp_cbor_check_map (c, count, err) < 0)
    return mp_error_prefix (err, "COSE unprotected header");
  for (size_t k = 0; k < count; k++)
    {
      cose_label l;

      if (read_label (c, &l, err) < 0)
        return mp_error_prefix (err, "COSE unprotected header");
      if (label_is_int (&l, COSE_CRIT))
        return bad (err, "COSE crit is not allowed in the unprotected header",
                    NULL);
      if (label_is_int (&l, COSE_X5CHAIN))
        {
          size_t m;

          /* notation wants an array, even of one certificate. */
          if (mp_cbor_peek (c) != MP_CBOR_ARRAY
              || mp_cbor_read_array (c, &m, err) < 0 || m == 0)
            return bad (err, "certificate chain is not present", NULL);
          if (m > NOTATION_MAX_CHAIN)
            return bad (err, "certificate chain is too long", NULL);
          for (size_t i = 0; i < m; i++)
            {
              const uint8_t *p;
              size_t n;

              if (mp_cbor_peek (c) != MP_CBOR_BYTES
                  || mp_cbor_read_bytes (c, &p, &n, err) < 0)
                return bad (err, "certificate chain is not present", NULL);
              e->certs[i].data = malloc (n > 0 ? n : 1);
              if (e->certs[i].data == NULL)
                return oom (err);
              memcpy (e->certs[i].data, p, n);
              e->certs[i].len = n;
              e->n_certs = i + 1;
            }
          has_chain = true;
        }
      else if (label_is (&l, H_TIMESTAMP))
        {
          e->has_timestamp = true;
          if (mp_cbor_skip (c, err) < 0)
            return -1;
        }
      else if (label_is (&l, H_AGENT) && mp_cbor_peek (c) == MP_CBOR_TEXT)
        {
          const char *s;
          size_t n;

          if (mp_cbor_read_text (c, &s, &n, err) < 0)
            return -1;
          free (e->signing_agent);
          e->signing_agent = strndup_checked (s, n);
        }
      else if (mp_cbor_skip (c, err) < 0)
        return mp_error_prefix (err, "COSE unprotected header");
    }
  if (!has_chain)
    return bad (err, "certificate chain is not present", NULL);
  return 0;
}

/* A CBOR head in shortest form at out; returns its length (at most 9). */
static size_t
put_head (uint8_t *out, int major, uint64_t v)
{
  uint8_t m = (uint8_t)(major << 5);

  if (v < 24)
    {
      out[0] = m | (uint8_t)v;
      return 1;
    }
  if (v <= 0xff)
    {
      out[0] = m | 24;
      out[1] = (uint8_t)v;
      return 2;
    }
  if (v <= 0xffff)
    {
      out[0] = m | 25;
      out[1] = (uint8_t)(v >> 8);
      out[2] = (uint8_t)v;
      return 3;
    }
  if (v <= 0xffffffff)
    {
      out[0] = m | 26;
      for (int i = 0; i < 4; i++)
        out[1 + i] = (uint8_t)(v >> (24 - 8 * i));
      return 5;
    }
  out[0] = m | 27;
  for (int i = 0; i < 8; i++)
    out[1 + i] = (uint8_t)(v >> (56 - 8 * i));
  return 9;
}

static int
cose_parse (notation_envelope *e, const void *buf, size_t len, mp_error *err)
{
  mp_cbor c;
  uint64_t tag;
  size_t n, plen, sz;
  const uint8_t *prot, *payload, *sig;
  uint8_t *out;

  mp_cbor_init (&c, buf, len);
  if (mp_cbor_peek (&c) != MP_CBOR_TAG || mp_cbor_read_tag (&c, &tag, err) < 0
      || tag != COSE_TAG_SIGN1)
    return bad (err, "not a COSE_Sign1 message (tag 18)", NULL);
  if (mp_cbor_read_array (&c, &n, err) < 0 || n != 4)
    return bad (err, "COSE_Sign1: expected an array of 4 items", NULL);
  if (mp_cbor_read_bytes (&c, &prot, &plen, err) < 0)
    return mp_error_prefix (err, "COSE_Sign1 protected header");
  if (cose_protected (e, prot, plen, err) < 0
      || cose_unprotected (e, &c, err) < 0)
    return -1;
  if (mp_cbor_peek (&c) == MP_CBOR_SIMPLE)
    return bad (err, "COSE_Sign1: detached payloads are not supported", NULL);
  if (mp_cbor_read_bytes (&c, &payload, &n, err) < 0)
    return mp_error_prefix (err, "COSE_Sign1 payload");
  if (n == 0)
    return bad (err, "payload is empty", NULL);
  e->payload.data = malloc (n);
  if (e->payload.data == NULL)
    return oom (err);
  memcpy (e->payload.data, payload, n);
  e->payload.len = n;
  if (mp_cbor_read_bytes (&c, &sig, &n, err) < 0)
    return mp_error_prefix (err, "COSE_Sign1 signature");
  if (n == 0)
    return bad (err, "signature is empty", NULL);
  e->signature.data = malloc (n);
  if (e->signature.data == NULL)
    return oom (err);
  memcpy (e->signature.data, sig, n);
  e->signature.len = n;
  if (!mp_cbor_at_end (&c))
    return bad (err, "COSE_Sign1: bytes after the message", NULL);

  /* Sig_structure = ["Signature1", protected, external_aad h'', payload] */
  sz = 1 + 1 + 10 + 9 + plen + 1 + 9 + e->payload.len;
  out = e->signed_data.data = malloc (sz);
  if (out == NULL)
    return oom (err);
  n = put_head (out, MP_CBOR_ARRAY, 4);
  n += put_head (out + n, MP_CBOR_TEXT, 10);
  memcpy (out + n, "Signature1", 10);
  n += 10;
  n += put_head (out + n, MP_CBOR_BYTES, plen);
  memcpy (out + n, prot, plen);
  n += plen;
  n += put_head (out + n, MP_CBOR_BYTES, 0);
  n += put_head (out + n, MP_CBOR_BYTES, e->payload.len);
  memcpy (out + n, e->payload.data, e->payload.len);
  n += e->payload.len;
  e->signed_data.len = n;
  return 0;
}

/* ---- both ---------------------------------------------------------------- */

static int
time_cmp (const notation_time *a, const notation_time *b)
{
  if (a->sec != b->sec)
    return a->sec < b->sec ? -1 : 1;
  return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

int
notation_envelope_parse (const char *media_type, const void *buf, size_t len,
                         notation_envelope **out, mp_error *err)
{
  notation_envelope *e;
  int r;

  if (len > NOTATION_MAX_ENVELOPE)
    return bad (err, "signature envelope larger than 32 MiB", NULL);
  e = calloc (1, sizeof *e);
  if (e == NULL)
    return oom (err);
  if (strcmp (media_type, NOTATION_MEDIA_TYPE_JWS) == 0)
    {
      e->format = NOTATION_FORMAT_JWS;
      r = jws_parse (e, buf, len, err);
    }
  else if (strcmp (media_type, NOTATION_MEDIA_TYPE_COSE) == 0)
    {
      e->format = NOTATION_FORMAT_COSE;
      r = cose_parse (e, buf, len, err);
    }
  else
    r = bad (err,
             "signature envelope media type %s is not supported "
             "(application/jose+json or application/cose)",
             media_type);
  if (r == 0 && e->has_expiry && time_cmp (&e->expiry, &e->signing_time) <= 0)
    r = bad (err, "expiry cannot be equal or before the signing time", NULL);
  if (r < 0)
    {
      notation_envelope_free (e);
      return -1;
    }
  *out = e;
  return 0;
}

void
notation_target_clear (notation_target *t)
{
  free (t->media_type);
  free (t->digest);
  t->media_type = t->digest = NULL;
}

int
notation_payload_target (const notation_bytes *payload, notation_target *out,
                         mp_error *err)
{
  json_error_t jerr;
  json_t *root = json_loadb ((const char *)payload->data, payload->len,
                             JSON_REJECT_DUPLICATES, &jerr);
  const json_t *ta, *mt, *dg, *sz;
  int r = -1;

  memset (out, 0, sizeof *out);
  if (root == NULL || !json_is_object (root))
    {
      bad (err, "payload is not a JSON object", NULL);
      goto done;
    }
  ta = json_object_get (root, "targetArtifact");
  if (ta == NULL || !json_is_object (ta))
    {
      bad (err, "payload has no targetArtifact descriptor", NULL);
      goto done;
    }
  mt = json_object_get (ta, "mediaType");
  dg = json_object_get (ta, "digest");
  sz = json_object_get (ta, "size");
  if (mt == NULL || !json_is_string (mt) || dg == NULL || !json_is_string (dg)
      || sz == NULL || !json_is_integer (sz) || json_integer_value (sz) < 0)
    {
      bad (err, "payload targetArtifact needs a mediaType, a digest and a size",
           NULL);
      goto done;
    }
  out->media_type = strdup (json_string_value (mt));
  out->digest = strdup (json_string_value (dg));
  out->size = json_integer_value (sz);
  if (out->media_type == NULL || out->digest == NULL)
    {
      notation_target_clear (out);
      oom (err);
      goto done;
    }
  r = 0;
done:
  json_decref (root);
  return r;
}
