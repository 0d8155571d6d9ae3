/* cosign and Sigstore signatures (see sigstore.h). */
#include "model/sigstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/base64.h"
#include "util/cleanup.h"

/* Key and CA files are small; anything larger is not one. */
#define MAX_KEY_FILE (1024 * 1024)

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "signature");
}

static int bad (mp_error *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
bad (mp_error *err, const char *fmt, ...)
{
  va_list ap;
  char msg[sizeof err->msg];

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s", msg);
}

/* A refusal: what model_sigstore_verify says about a signature. */
static int refuse (mp_error *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
refuse (mp_error *err, const char *fmt, ...)
{
  va_list ap;
  char msg[sizeof err->msg];

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  return mp_error_set (err, MP_ERR_POLICY_REFUSED, "%s", msg);
}

static void
bytes_clear (model_sig_bytes *b)
{
  free (b->data);
  b->data = NULL;
  b->len = 0;
}

/* ---- JSON helpers ------------------------------------------------------- */

/* Members of OBJ must be exactly NAMES (NULL-terminated): the strictness
 * containers/image applies to the simple-signing `critical` part. */
static int
exact_fields (const json_t *obj, const char *where, const char *const *names,
              mp_error *err)
{
  size_t want = 0;
  const char *key;
  json_t *v;

  if (!json_is_object (obj))
    return bad (err, "%s: expected an object", where);
  for (const char *const *n = names; *n; n++, want++)
    if (json_object_get (obj, *n) == NULL)
      return bad (err, "%s: missing field \"%s\"", where, *n);
  json_object_foreach ((json_t *)obj, key, v)
  {
    bool known = false;
    for (const char *const *n = names; *n; n++)
      known = known || strcmp (key, *n) == 0;
    if (!known)
      {
        char q[MODEL_QUOTE_BUF];
        return bad (err, "%s: unexpected field %s", where,
                    model_quote (key, q, sizeof q));
      }
  }
  return 0;
}

static const char *
get_str (const json_t *obj, const char *key)
{
  return json_string_value (json_object_get (obj, key));
}

/* Base64 member KEY of OBJ into OUT: absent is 0 with OUT empty when
 * OPTIONAL, an error otherwise. */
static int
get_b64 (const json_t *obj, const char *key, const char *where, bool optional,
         model_sig_bytes *out, mp_error *err)
{
  const json_t *v = json_object_get (obj, key);

  if (v == NULL && optional)
    return 0;
  if (v == NULL)
    return bad (err, "%s: missing field \"%s\"", where, key);
  if (!json_is_string (v))
    return bad (err, "%s.%s: expected a base64 string", where, key);
  if (mp_base64_decode_bytes (json_string_value (v), json_string_length (v),
                              &out->data, &out->len)
      < 0)
    return errno == ENOMEM
               ? oom (err)
               : bad (err, "%s.%s: not standard base64", where, key);
  return 0;
}

/* Protobuf's JSON writes int64 as a string; accept a number too. */
static int
get_int64 (const json_t *obj, const char *key, const char *where, int64_t *out,
           mp_error *err)
{
  const json_t *v = json_object_get (obj, key);
  char *end;

  if (v == NULL)
    {
      *out = 0;
      return 0;
    }
  if (json_is_integer (v))
    {
      *out = json_integer_value (v);
      return 0;
    }
  if (json_is_string (v))
    {
      const char *s = json_string_value (v);
      errno = 0;
      long long n = strtoll (s, &end, 10);
      if (errno == 0 && end != s && *end == '\0')
        {
          *out = n;
          return 0;
        }
    }
  return bad (err, "%s.%s: expected an integer", where, key);
}

static json_t *
load (const void *buf, size_t len, const char *what, mp_error *err)
{
  json_error_t je;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);

  if (j == NULL)
    bad (err, "%s: not valid JSON: %s (line %d)", what,
         model_scrub_text (je.text), je.line);
  else if (!json_is_object (j))
    {
      json_decref (j);
      j = NULL;
      bad (err, "%s: expected a JSON object", what);
    }
  return j;
}

/* ---- simple signing ------------------------------------------------------ */

void
model_cosign_payload_clear (model_cosign_payload *p)
{
  free (p->docker_reference);
  memset (p, 0, sizeof *p);
}

int
model_cosign_payload_parse (const void *buf, size_t len,
                            model_cosign_payload *out, mp_error *err)
{
  static const char *const top[] = { "critical", "optional", NULL };
  static const char *const critical[] = { "type", "image", "identity", NULL };
  static const char *const image[] = { "docker-manifest-digest", NULL };
  static const char *const identity[] = { "docker-reference", NULL };
  json_t *j, *c, *opt;
  const char *type, *dg, *ref;
  char q[MODEL_QUOTE_BUF];
  int ret = -1;

  memset (out, 0, sizeof *out);
  j = load (buf, len, "payload", err);
  if (j == NULL)
    return -1;
  if (exact_fields (j, "payload", top, err) < 0)
    goto out;
  /* cosign writes "optional": null when there are no annotations. */
  opt = json_object_get (j, "optional");
  if (!json_is_null (opt) && !json_is_object (opt))
    {
      bad (err, "payload.optional: expected an object or null");
      goto out;
    }
  c = json_object_get (j, "critical");
  if (exact_fields (c, "payload.critical", critical, err) < 0
      || exact_fields (json_object_get (c, "image"), "payload.critical.image",
                       image, err)
             < 0
      || exact_fields (json_object_get (c, "identity"),
                       "payload.critical.identity", identity, err)
             < 0)
    goto out;
  type = get_str (c, "type");
  dg = get_str (json_object_get (c, "image"), "docker-manifest-digest");
  ref = get_str (json_object_get (c, "identity"), "docker-reference");
  if (type == NULL || strcmp (type, MODEL_COSIGN_SIGNATURE_TYPE) != 0)
    {
      bad (err, "payload.critical.type: %s is not \"%s\"",
           type ? model_quote (type, q, sizeof q) : "not a string",
           MODEL_COSIGN_SIGNATURE_TYPE);
      goto out;
    }
  if (dg == NULL)
    {
      bad (err, "payload.critical.image.docker-manifest-digest: expected a "
                "string");
      goto out;
    }
  if (model_digest_parse (dg, &out->digest, err) < 0)
    {
      mp_error_prefix (err, "payload.critical.image.docker-manifest-digest");
      goto out;
    }
  if (ref == NULL)
    {
      bad (err, "payload.critical.identity.docker-reference: expected a "
                "string");
      goto out;
    }
  out->docker_reference = strdup (ref);
  if (out->docker_reference == NULL)
    {
      oom (err);
      goto out;
    }
  ret = 0;
out:
  json_decref (j);
  if (ret < 0)
    model_cosign_payload_clear (out);
  return ret;
}

/* ---- bundles --------------------------------------------------------------
 */

void
model_bundle_free (model_bundle *b)
{
  if (b == NULL)
    return;
  free (b->media_type);
  free (b->key_hint);
  for (size_t i = 0; i < b->n_certs; i++)
    bytes_clear (&b->certs[i]);
  free (b->certs);
  for (size_t i = 0; i < b->n_tlog; i++)
    {
      model_tlog_entry *e = &b->tlog[i];
      bytes_clear (&e->log_id);
      free (e->kind);
      free (e->version);
      bytes_clear (&e->set);
      bytes_clear (&e->body);
    }
  free (b->tlog);
  bytes_clear (&b->message_digest);
  bytes_clear (&b->signature);
  free (b->payload_type);
  bytes_clear (&b->payload);
  for (size_t i = 0; i < b->n_dsse_sigs; i++)
    bytes_clear (&b->dsse_sigs[i]);
  free (b->dsse_sigs);
  free (b);
}

static int
add_cert (model_bundle *b, const json_t *c, const char *where, mp_error *err)
{
  model_sig_bytes *v = realloc (b->certs, (b->n_certs + 1) * sizeof *v);

  if (v == NULL)
    return oom (err);
  b->certs = v;
  memset (&v[b->n_certs], 0, sizeof v[b->n_certs]);
  if (!json_is_object (c))
    return bad (err, "%s: expected an object", where);
  if (get_b64 (c, "rawBytes", where, false, &v[b->n_certs], err) < 0)
    {
      bytes_clear (&v[b->n_certs]);
      return -1;
    }
  b->n_certs++;
  return 0;
}

static int
parse_tlog (model_bundle *b, const json_t *arr, mp_error *err)
{
  size_t i;
  json_t *e;

  if (!json_is_array (arr))
    return bad (err, "verificationMaterial.tlogEntries: expected an array");
  b->tlog = calloc (json_array_size (arr) + 1, sizeof *b->tlog);
  if (b->tlog == NULL)
    return oom (err);
  json_array_foreach (arr, i, e)
  {
    model_tlog_entry *t = &b->tlog[i];
    char w[80];
    const json_t *kv, *ip;

    snprintf (w, sizeof w, "verificationMaterial.tlogEntries[%zu]", i);
    b->n_tlog = i + 1;
    if (!json_is_object (e))
      return bad (err, "%s: expected an object", w);
    kv = json_object_get (e, "kindVersion");
    ip = json_object_get (e, "inclusionPromise");
    if (get_int64 (e, "logIndex", w, &t->log_index, err) < 0
        || get_int64 (e, "integratedTime", w, &t->integrated_time, err) < 0
        || get_b64 (json_object_get (e, "logId"), "keyId", w, true, &t->log_id,
                    err)
               < 0
        || get_b64 (e, "canonicalizedBody", w, true, &t->body, err) < 0
        || (ip != NULL
            && get_b64 (ip, "signedEntryTimestamp", w, true, &t->set, err) < 0))
      return -1;
    if (get_str (kv, "kind") && !(t->kind = strdup (get_str (kv, "kind"))))
      return oom (err);
    if (get_str (kv, "version")
        && !(t->version = strdup (get_str (kv, "version"))))
      return oom (err);
  }
  return 0;
}

static int
parse_material (model_bundle *b, const json_t *vm, mp_error *err)
{
  const json_t *pk, *cert, *chain, *tlog;

  if (!json_is_object (vm))
    return bad (err, "verificationMaterial: expected an object");
  pk = json_object_get (vm, "publicKey");
  cert = json_object_get (vm, "certificate");
  chain = json_object_get (vm, "x509CertificateChain");
  tlog = json_object_get (vm, "tlogEntries");
  if ((pk != NULL) + (cert != NULL) + (chain != NULL) != 1)
    return bad (err, "verificationMaterial: exactly one of publicKey, "
                     "certificate and x509CertificateChain is required");
  if (pk != NULL)
    {
      const char *hint = get_str (pk, "hint");
      if (!json_is_object (pk))
        return bad (err, "verificationMaterial.publicKey: expected an object");
      if (hint != NULL && (b->key_hint = strdup (hint)) == NULL)
        return oom (err);
    }
  else if (cert != NULL)
    {
      if (add_cert (b, cert, "verificationMaterial.certificate", err) < 0)
        return -1;
    }
  else
    {
      const json_t *certs = json_object_get (chain, "certificates");
      size_t i;
      json_t *c;

      if (!json_is_array (certs) || json_array_size (certs) == 0)
        return bad (err, "verificationMaterial.x509CertificateChain."
                         "certificates: expected a non-empty array");
      json_array_foreach (certs, i, c)
      {
        if (add_cert (b, c,
                      "verificationMaterial.x509CertificateChain.certificates",
                      err)
            < 0)
          return -1;
      }
    }
  if (tlog != NULL && parse_tlog (b, tlog, err) < 0)
    return -1;
  return 0;
}

static int
parse_message_signature (model_bundle *b, const json_t *ms, mp_error *err)
{
  const json_t *md = json_object_get (ms, "messageDigest");
  const char *alg;

  if (!json_is_object (ms) || !json_is_object (md))
    return bad (err, "messageSignature: expected an object with a "
                     "messageDigest");
  alg = get_str (md, "algorithm");
  if (alg == NULL)
    return bad (err, "messageSignature.messageDigest.algorithm: missing");
  if (strcmp (alg, "SHA2_256") == 0)
    b->digest_hash = MODEL_SIG_HASH_SHA256;
  else if (strcmp (alg, "SHA2_384") == 0)
    b->digest_hash = MODEL_SIG_HASH_SHA384;
  else if (strcmp (alg, "SHA2_512") == 0)
    b->digest_hash = MODEL_SIG_HASH_SHA512;
  else
    {
      char q[MODEL_QUOTE_BUF];
      return bad (err,
                  "messageSignature.messageDigest.algorithm: %s is not "
                  "SHA2_256, SHA2_384 or SHA2_512",
                  model_quote (alg, q, sizeof q));
    }
  if (get_b64 (md, "digest", "messageSignature.messageDigest", false,
               &b->message_digest, err)
          < 0
      || get_b64 (ms, "signature", "messageSignature", false, &b->signature,
                  err)
             < 0)
    return -1;
  return 0;
}

static int
parse_dsse (model_bundle *b, const json_t *env, mp_error *err)
{
  const json_t *sigs;
  const char *pt;
  size_t i;
  json_t *s;

  if (!json_is_object (env))
    return bad (err, "dsseEnvelope: expected an object");
  pt = get_str (env, "payloadType");
  if (pt == NULL)
    return bad (err, "dsseEnvelope.payloadType: missing");
  if ((b->payload_type = strdup (pt)) == NULL)
    return oom (err);
  if (get_b64 (env, "payload", "dsseEnvelope", false, &b->payload, err) < 0)
    return -1;
  sigs = json_object_get (env, "signatures");
  if (!json_is_array (sigs) || json_array_size (sigs) == 0)
    return bad (err, "dsseEnvelope.signatures: expected a non-empty array");
  b->dsse_sigs = calloc (json_array_size (sigs), sizeof *b->dsse_sigs);
  if (b->dsse_sigs == NULL)
    return oom (err);
  json_array_foreach (sigs, i, s)
  {
    b->n_dsse_sigs = i + 1;
    if (!json_is_object (s))
      return bad (err, "dsseEnvelope.signatures[%zu]: expected an object", i);
    if (get_b64 (s, "sig", "dsseEnvelope.signatures[]", false, &b->dsse_sigs[i],
                 err)
        < 0)
      return -1;
  }
  return 0;
}

int
model_bundle_parse (const void *buf, size_t len, model_bundle **out,
                    mp_error *err)
{
  json_t *j = load (buf, len, "Sigstore bundle", err);
  model_bundle *b;
  const json_t *ms, *env;
  const char *mt;
  int ret = -1;

  if (j == NULL)
    return -1;
  b = calloc (1, sizeof *b);
  if (b == NULL)
    {
      json_decref (j);
      return oom (err);
    }
  mt = get_str (j, "mediaType");
  if (mt == NULL
      || strncmp (mt, MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX,
                  strlen (MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX))
             != 0)
    {
      char q[MODEL_QUOTE_BUF];
      bad (err, "mediaType: %s is not a Sigstore bundle's",
           mt ? model_quote (mt, q, sizeof q) : "missing");
      goto out;
    }
  if ((b->media_type = strdup (mt)) == NULL)
    {
      oom (err);
      goto out;
    }
  if (parse_material (b, json_object_get (j, "verificationMaterial"), err) < 0)
    goto out;
  ms = json_object_get (j, "messageSignature");
  env = json_object_get (j, "dsseEnvelope");
  if ((ms != NULL) == (env != NULL))
    {
      bad (err, "exactly one of messageSignature and dsseEnvelope is "
                "required");
      goto out;
    }
  b->dsse = env != NULL;
  if (ms != NULL ? parse_message_signature (b, ms, err) < 0
                 : parse_dsse (b, env, err) < 0)
    goto out;
  *out = b;
  b = NULL;
  ret = 0;
out:
  if (ret < 0)
    mp_error_prefix (err, "Sigstore bundle");
  model_bundle_free (b);
  json_decref (j);
  return ret;
}

int
model_dsse_pae (const char *type, const uint8_t *body, size_t len,
                model_sig_bytes *out, mp_error *err)
{
  size_t tl = strlen (type);
  char head[32], mid[32];
  int hn = snprintf (head, sizeof head, "DSSEv1 %zu ", tl);
  int mn = snprintf (mid, sizeof mid, " %zu ", len);
  size_t o = 0;

  out->len = (size_t)hn + tl + (size_t)mn + len;
  out->data = malloc (out->len + 1);
  if (out->data == NULL)
    return oom (err);
  memcpy (out->data + o, head, (size_t)hn);
  o += (size_t)hn;
  memcpy (out->data + o, type, tl);
  o += tl;
  memcpy (out->data + o, mid, (size_t)mn);
  o += (size_t)mn;
  memcpy (out->data + o, body, len);
  return 0;
}

void
model_intoto_free (model_intoto *s)
{
  if (s == NULL)
    return;
  free (s->type);
  free (s->predicate_type);
  for (size_t i = 0; i < s->n_subjects; i++)
    {
      free (s->subjects[i].name);
      free (s->subjects[i].sha256);
      free (s->subjects[i].sha512);
    }
  free (s->subjects);
  free (s);
}

static int
dup_member (const json_t *o, const char *key, char **out, mp_error *err)
{
  const json_t *v = json_object_get (o, key);

  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return bad (err, "statement: %s: expected a string", key);
  *out = strdup (json_string_value (v));
  return *out ? 0 : oom (err);
}

int
model_intoto_parse (const void *buf, size_t len, model_intoto **out,
                    mp_error *err)
{
  json_t *j = load (buf, len, "in-toto statement", err);
  model_intoto *s;
  const json_t *subj;
  size_t i;
  json_t *e;
  int ret = -1;

  if (j == NULL)
    return -1;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    {
      json_decref (j);
      return oom (err);
    }
  if (dup_member (j, "_type", &s->type, err) < 0
      || dup_member (j, "predicateType", &s->predicate_type, err) < 0)
    goto out;
  if (s->type == NULL || s->predicate_type == NULL)
    {
      bad (err, "in-toto statement: _type and predicateType are required");
      goto out;
    }
  subj = json_object_get (j, "subject");
  if (!json_is_array (subj) || json_array_size (subj) == 0)
    {
      bad (err, "in-toto statement: subject: expected a non-empty array");
      goto out;
    }
  s->subjects = calloc (json_array_size (subj), sizeof *s->subjects);
  if (s->subjects == NULL)
    {
      oom (err);
      goto out;
    }
  json_array_foreach (subj, i, e)
  {
    const json_t *dg = json_object_get (e, "digest");

    s->n_subjects = i + 1;
    if (!json_is_object (e) || !json_is_object (dg))
      {
        bad (err,
             "in-toto statement: subject[%zu]: expected an object with "
             "a digest",
             i);
        goto out;
      }
    if (dup_member (e, "name", &s->subjects[i].name, err) < 0
        || dup_member (dg, "sha256", &s->subjects[i].sha256, err) < 0
        || dup_member (dg, "sha512", &s->subjects[i].sha512, err) < 0)
      goto out;
  }
  *out = s;
  s = NULL;
  ret = 0;
out:
  model_intoto_free (s);
  json_decref (j);
  return ret;
}

/* ---- trust ----------------------------------------------------------------
 */

struct model_sigstore_trust
{
  model_pubkey **keys;
  size_t n_keys;
  bool borrowed;
  /* fulcio */
  X509_STORE *roots;
  char *issuer, *email;
  /* rekor */
  model_pubkey **rekor;
  size_t n_rekor;
};

void
model_sigstore_trust_free (model_sigstore_trust *t)
{
  if (t == NULL)
    return;
  if (t->borrowed)
    free (t->keys);
  else
    model_pubkeys_free (t->keys, t->n_keys);
  X509_STORE_free (t->roots);
  free (t->issuer);
  free (t->email);
  model_pubkeys_free (t->rekor, t->n_rekor);
  free (t);
}

int
model_sigstore_trust_keys (model_pubkey *const *keys, size_t n,
                           model_sigstore_trust **out, mp_error *err)
{
  model_sigstore_trust *t = calloc (1, sizeof *t);

  if (t == NULL || (t->keys = calloc (n + 1, sizeof *keys)) == NULL)
    {
      free (t);
      return oom (err);
    }
  memcpy (t->keys, keys, n * sizeof *keys);
  t->n_keys = n;
  t->borrowed = true;
  *out = t;
  return 0;
}

static int
read_small (const char *path, char **buf, size_t *len, mp_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  char *b;
  size_t got = 0;

  if (fd < 0)
    return mp_error_sys (err, errno, "%s", path);
  if (fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "%s", path);
  if (!S_ISREG (st.st_mode) || st.st_size > MAX_KEY_FILE)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: not a regular file of at most %d bytes", path,
                         MAX_KEY_FILE);
  b = malloc ((size_t)st.st_size + 1);
  if (b == NULL)
    return oom (err);
  while (got < (size_t)st.st_size)
    {
      ssize_t r = read (fd, b + got, (size_t)st.st_size - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          free (b);
          return r < 0 ? mp_error_sys (err, errno, "%s", path)
                       : mp_error_set (err, MP_ERR_INTERNAL,
                                       "%s: shrank while read", path);
        }
      got += (size_t)r;
    }
  b[got] = '\0';
  *buf = b;
  *len = got;
  return 0;
}

/* Append the keys of PEM text (from WHAT) to *KEYS. */
static int
add_keys (model_pubkey ***keys, size_t *n, const void *pem, size_t len,
          const char *what, mp_error *err)
{
  model_pubkey **got = NULL, **grown;
  size_t ngot = 0;

  if (model_pubkeys_from_pem (pem, len, what, &got, &ngot, err) < 0)
    return -1;
  grown = realloc (*keys, (*n + ngot) * sizeof *grown);
  if (grown == NULL)
    {
      model_pubkeys_free (got, ngot);
      return oom (err);
    }
  memcpy (grown + *n, got, ngot * sizeof *got);
  free (got);
  *keys = grown;
  *n += ngot;
  return 0;
}

static int
add_key_file (model_pubkey ***keys, size_t *n, const char *path,
              const char *label, mp_error *err)
{
  cleanup_free char *buf = NULL, *what = NULL;
  size_t len = 0;

  if (read_small (path, &buf, &len, err) < 0)
    return mp_error_prefix (err, "%s", label);
  if (asprintf (&what, "%s %s", label, path) < 0)
    return oom (err);
  return add_keys (keys, n, buf, len, what, err);
}

static int
load_roots (model_sigstore_trust *t, const void *pem, size_t len,
            const char *what, mp_error *err)
{
  BIO *bio;
  X509 *x;
  int n = 0;

  if (len > INT_MAX)
    return bad (err, "%s: too large", what);
  t->roots = X509_STORE_new ();
  bio = BIO_new_mem_buf (pem, (int)len);
  if (t->roots == NULL || bio == NULL)
    {
      BIO_free (bio);
      return oom (err);
    }
  while ((x = PEM_read_bio_X509 (bio, NULL, NULL, NULL)) != NULL)
    {
      X509_STORE_add_cert (t->roots, x);
      X509_free (x);
      n++;
    }
  ERR_clear_error ();
  BIO_free (bio);
  if (n == 0)
    return bad (err, "%s: no PEM certificate in it", what);
  return 0;
}

int
model_sigstore_trust_load (const model_policy_requirement *r,
                           model_sigstore_trust **out, mp_error *err)
{
  model_sigstore_trust *t = calloc (1, sizeof *t);
  int ret = -1;

  if (t == NULL)
    return oom (err);
  switch (r->key_source)
    {
    case MODEL_POLICY_KEY_PATHS:
      for (size_t i = 0; i < r->n_key_paths; i++)
        if (add_key_file (&t->keys, &t->n_keys, r->key_paths[i], "key", err)
            < 0)
          goto out;
      break;
    case MODEL_POLICY_KEY_DATA:
      if (add_keys (&t->keys, &t->n_keys, r->key_data.data, r->key_data.len,
                    "keyData", err)
          < 0)
        goto out;
      break;
    case MODEL_POLICY_FULCIO:
      if (r->fulcio.ca_path != NULL)
        {
          cleanup_free char *buf = NULL;
          size_t len = 0;
          if (read_small (r->fulcio.ca_path, &buf, &len, err) < 0)
            {
              mp_error_prefix (err, "fulcio CA");
              goto out;
            }
          if (load_roots (t, buf, len, r->fulcio.ca_path, err) < 0)
            goto out;
        }
      else if (load_roots (t, r->fulcio.ca_data.data, r->fulcio.ca_data.len,
                           "fulcio caData", err)
               < 0)
        goto out;
      t->issuer = strdup (r->fulcio.oidc_issuer);
      t->email = strdup (r->fulcio.subject_email);
      if (t->issuer == NULL || t->email == NULL)
        {
          oom (err);
          goto out;
        }
      break;
    }
  if (r->rekor_key_path != NULL
      && add_key_file (&t->rekor, &t->n_rekor, r->rekor_key_path, "Rekor key",
                       err)
             < 0)
    goto out;
  if (r->rekor_key_data.data != NULL
      && add_keys (&t->rekor, &t->n_rekor, r->rekor_key_data.data,
                   r->rekor_key_data.len, "rekorPublicKeyData", err)
             < 0)
    goto out;
  *out = t;
  t = NULL;
  ret = 0;
out:
  model_sigstore_trust_free (t);
  return ret;
}

void
model_sigstore_claim_clear (model_sigstore_claim *c)
{
  free (c->docker_reference);
  free (c->by);
  memset (c, 0, sizeof *c);
}

/* ---- verification ---------------------------------------------------------
 */

/* The keys a signature is checked with: the policy's, or the one in a
 * certificate that chains to the Fulcio CA and names the policy's
 * identity.  Borrowed from T or owned by *OWNED. */
struct signer
{
  model_pubkey *const *keys;
  size_t n;
  model_pubkey *owned;
  char *by; /* for a certificate: its identity */
};

static void
signer_clear (struct signer *s)
{
  model_pubkey_free (s->owned);
  free (s->by);
  memset (s, 0, sizeof *s);
}

/* The text of the Fulcio OIDC issuer extension: .1.8 holds a DER
 * UTF8String, the older .1.1 the raw bytes. */
static char *
cert_issuer (X509 *x)
{
  static const char *const oids[]
      = { "1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.1" };

  for (size_t i = 0; i < 2; i++)
    {
      ASN1_OBJECT *obj = OBJ_txt2obj (oids[i], 1);
      int pos = obj ? X509_get_ext_by_OBJ (x, obj, -1) : -1;
      X509_EXTENSION *ext;
      const ASN1_OCTET_STRING *os;
      const unsigned char *p;
      char *s = NULL;

      ASN1_OBJECT_free (obj);
      if (pos < 0)
        continue;
      ext = X509_get_ext (x, pos);
      os = X509_EXTENSION_get_data (ext);
      p = ASN1_STRING_get0_data (os);
      if (i == 0)
        {
          ASN1_UTF8STRING *u
              = d2i_ASN1_UTF8STRING (NULL, &p, ASN1_STRING_length (os));
          if (u != NULL)
            s = strndup ((const char *)ASN1_STRING_get0_data (u),
                         (size_t)ASN1_STRING_length (u));
          ASN1_UTF8STRING_free (u);
        }
      else
        s = strndup ((const char *)p, (size_t)ASN1_STRING_length (os));
      if (s != NULL && strlen (s) != (size_t)ASN1_STRING_length (os) && i == 1)
        {
          free (s);
          s = NULL;
        }
      return s;
    }
  return NULL;
}

static bool
cert_has_email (X509 *x, const char *email)
{
  GENERAL_NAMES *names = X509_get_ext_d2i (x, NID_subject_alt_name, NULL, NULL);
  bool found = false;

  for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num (names); i++)
    {
      const GENERAL_NAME *g = sk_GENERAL_NAME_value (names, i);
      if (g->type == GEN_EMAIL)
        {
          const ASN1_IA5STRING *s = g->d.rfc822Name;
          size_t n = (size_t)ASN1_STRING_length (s);
          found = found
                  || (n == strlen (email)
                      && memcmp (ASN1_STRING_get0_data (s), email, n) == 0);
        }
    }
  GENERAL_NAMES_free (names);
  return found;
}

/* Check the certificate (DER LEAF, intermediates CHAIN) against T's
 * Fulcio trust at time WHEN, and take its key. */
static int
fulcio_signer (const model_sigstore_trust *t, X509 *leaf,
               STACK_OF (X509) * chain, int64_t when, struct signer *s,
               mp_error *err)
{
  X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
  char *issuer;
  int ok;

  if (ctx == NULL)
    return oom (err);
  ok = X509_STORE_CTX_init (ctx, t->roots, leaf, chain) == 1;
  if (ok)
    {
      X509_STORE_CTX_set_time (ctx, 0, (time_t)when);
      ok = X509_verify_cert (ctx) == 1;
    }
  if (!ok)
    {
      int e = X509_STORE_CTX_get_error (ctx);
      X509_STORE_CTX_free (ctx);
      ERR_clear_error ();
      return refuse (err,
                     "its certificate does not chain to the fulcio CA at the "
                     "logged signing time: %s",
                     X509_verify_cert_error_string (e));
    }
  X509_STORE_CTX_free (ctx);
  issuer = cert_issuer (leaf);
  if (issuer == NULL || strcmp (issuer, t->issuer) != 0)
    {
      char q[MODEL_QUOTE_BUF];
      int r = refuse (err, "its certificate's OIDC issuer is %s, not \"%s\"",
                      issuer ? model_quote (issuer, q, sizeof q) : "absent",
                      t->issuer);
      free (issuer);
      return r;
    }
  free (issuer);
  if (!cert_has_email (leaf, t->email))
    return refuse (err, "its certificate does not name the email \"%s\"",
                   t->email);
  if (model_pubkey_from_evp (X509_get0_pubkey (leaf), "the certificate's key",
                             &s->owned, err)
      < 0)
    return refuse (err, "%s", err->msg);
  s->keys = &s->owned;
  s->n = 1;
  if (asprintf (&s->by, "a certificate for %s from %s", t->email, t->issuer)
      < 0)
    {
      s->by = NULL;
      return oom (err);
    }
  return 0;
}

/* ---- the transparency log: the signed entry timestamp ------------------- */

/* An entry's promise, as the log signed it.  The body is base64 again
 * (the log signs the text it serves). */
struct tlog_promise
{
  const model_sig_bytes *set;
  const model_sig_bytes *body;
  int64_t integrated_time;
  int64_t log_index;
  char log_id_hex[2 * 64 + 1];
};

/* The canonical JSON the SET signs: keys sorted, no spaces. */
static int
set_message (const struct tlog_promise *p, char **out, mp_error *err)
{
  cleanup_free char *b64 = mp_base64_encode_bytes (p->body->data, p->body->len);

  if (b64 == NULL)
    return oom (err);
  if (asprintf (out,
                "{\"body\":\"%s\",\"integratedTime\":%" PRId64
                ",\"logID\":\"%s\",\"logIndex\":%" PRId64 "}",
                b64, p->integrated_time, p->log_id_hex, p->log_index)
      < 0)
    return oom (err);
  return 0;
}

/* Does the logged BODY name signature SIG (and, for hashedrekord, a hash
 * of the signed bytes MSG_SHA256 in hex)?  The log body's kinds:
 * hashedrekord {spec: {signature: {content}, data: {hash: {value}}}} and
 * dsse {spec: {signatures: [{signature}], payloadHash: {value}}}. */
static bool
body_names (const model_sig_bytes *body, const uint8_t *sig, size_t siglen,
            const char *msg_sha256)
{
  json_t *j = json_loadb ((const char *)body->data, body->len, 0, NULL);
  const json_t *spec = json_object_get (j, "spec");
  const char *kind = get_str (j, "kind");
  cleanup_free char *want = mp_base64_encode_bytes (sig, siglen);
  bool ok = false;

  if (j == NULL || kind == NULL || want == NULL)
    goto out;
  if (strcmp (kind, "hashedrekord") == 0)
    {
      const char *content
          = get_str (json_object_get (spec, "signature"), "content");
      const char *hash = get_str (
          json_object_get (json_object_get (spec, "data"), "hash"), "value");
      ok = content && hash && strcmp (content, want) == 0
           && (msg_sha256 == NULL || strcmp (hash, msg_sha256) == 0);
    }
  else if (strcmp (kind, "dsse") == 0)
    {
      const json_t *sigs = json_object_get (spec, "signatures");
      const char *hash
          = get_str (json_object_get (spec, "payloadHash"), "value");
      size_t i;
      json_t *e;

      json_array_foreach (sigs, i, e)
      {
        const char *c = get_str (e, "signature");
        ok = ok || (c && strcmp (c, want) == 0);
      }
      ok = ok && hash && (msg_sha256 == NULL || strcmp (hash, msg_sha256) == 0);
    }
out:
  json_decref (j);
  return ok;
}

static void
hex (const uint8_t *b, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
  out[2 * n] = '\0';
}

/* One promise checked: signed by one of T's Rekor keys, naming SIG. */
static int
check_promise (const model_sigstore_trust *t, const struct tlog_promise *p,
               const uint8_t *sig, size_t siglen, const char *msg_sha256,
               mp_error *err)
{
  cleanup_free char *msg = NULL;
  mp_error e = { 0 };

  if (p->set->len == 0)
    return refuse (err, "its log entry has no signed entry timestamp");
  if (set_message (p, &msg, err) < 0)
    return -1;
  for (size_t i = 0; i < t->n_rekor; i++)
    if (model_pubkey_verify (t->rekor[i], MODEL_SIG_HASH_SHA256, false, msg,
                             strlen (msg), p->set->data, p->set->len, &e)
        == 0)
      {
        if (!body_names (p->body, sig, siglen, msg_sha256))
          return refuse (err,
                         "its log entry (index %" PRId64
                         ") is about another signature",
                         p->log_index);
        return 0;
      }
  return refuse (err, "its log entry's signed entry timestamp does not verify "
                      "with the policy's Rekor key");
}

/* The legacy annotation: {"SignedEntryTimestamp": b64, "Payload": {"body":
 * b64, "integratedTime": n, "logIndex": n, "logID": hex}}. */
static int
legacy_promise (const model_sigstore_trust *t, const char *annotation,
                const uint8_t *sig, size_t siglen, const char *msg_sha256,
                int64_t *when, mp_error *err)
{
  json_t *j;
  const json_t *pl;
  model_sig_bytes set = { 0 }, body = { 0 };
  struct tlog_promise p = { .set = &set, .body = &body };
  const char *id;
  int ret = -1;

  if (annotation == NULL)
    return refuse (err,
                   "the policy requires a Rekor log entry and the "
                   "signature carries none (" MODEL_SIG_ANNOTATION_REKOR ")");
  j = json_loads (annotation, JSON_REJECT_DUPLICATES, NULL);
  pl = json_object_get (j, "Payload");
  id = get_str (pl, "logID");
  if (j == NULL || !json_is_object (pl) || id == NULL
      || strlen (id) >= sizeof p.log_id_hex
      || get_b64 (j, "SignedEntryTimestamp", "bundle", false, &set, err) < 0
      || get_b64 (pl, "body", "bundle", false, &body, err) < 0
      || get_int64 (pl, "integratedTime", "bundle", &p.integrated_time, err) < 0
      || get_int64 (pl, "logIndex", "bundle", &p.log_index, err) < 0)
    {
      refuse (err, "its Rekor bundle annotation does not parse");
      goto out;
    }
  snprintf (p.log_id_hex, sizeof p.log_id_hex, "%s", id);
  if (check_promise (t, &p, sig, siglen, msg_sha256, err) < 0)
    goto out;
  *when = p.integrated_time;
  ret = 0;
out:
  bytes_clear (&set);
  bytes_clear (&body);
  json_decref (j);
  return ret;
}

static int
bundle_promise (const model_sigstore_trust *t, const model_bundle *b,
                const uint8_t *sig, size_t siglen, const char *msg_sha256,
                int64_t *when, mp_error *err)
{
  mp_error first = { 0 };

  if (b->n_tlog == 0)
    return refuse (err, "the policy requires a Rekor log entry and the "
                        "bundle has none");
  for (size_t i = 0; i < b->n_tlog; i++)
    {
      const model_tlog_entry *e = &b->tlog[i];
      struct tlog_promise p = { .set = &e->set,
                                .body = &e->body,
                                .integrated_time = e->integrated_time,
                                .log_index = e->log_index };
      mp_error ei = { 0 };

      if (e->log_id.len > 64)
        continue;
      hex (e->log_id.data, e->log_id.len, p.log_id_hex);
      if (check_promise (t, &p, sig, siglen, msg_sha256, &ei) == 0)
        {
          *when = e->integrated_time;
          return 0;
        }
      if (first.code == MP_OK)
        first = ei;
    }
  *err = first;
  return -1;
}

/* ---- one signature ---------------------------------------------------------
 */

static int
sha256_hex (const void *buf, size_t len, char out[65])
{
  unsigned char md[32];
  unsigned int n = 0;

  if (!EVP_Digest (buf, len, md, &n, EVP_sha256 (), NULL) || n != 32)
    return -1;
  hex (md, 32, out);
  return 0;
}

/* Verify SIG over MSG with any of S's keys, trying the key's own hash and
 * SHA-256 (cosign signs with SHA-256 whatever the curve). *BY names the
 * key that verified. */
static int
verify_any (const struct signer *s, const void *msg, size_t len,
            const uint8_t *sig, size_t siglen, bool sha256_only,
            const char **by, mp_error *err)
{
  mp_error e = { 0 };

  for (size_t i = 0; i < s->n; i++)
    {
      if (model_pubkey_verify (s->keys[i], MODEL_SIG_HASH_SHA256, false, msg,
                               len, sig, siglen, &e)
              == 0
          || (!sha256_only
              && model_pubkey_verify (s->keys[i], MODEL_SIG_HASH_KEY, false,
                                      msg, len, sig, siglen, &e)
                     == 0))
        {
          *by = model_pubkey_what (s->keys[i]);
          return 0;
        }
    }
  return -1;
}

/* "key /etc/a.pub (ECDSA P-256), key /etc/b.pub (RSA 3072)" */
static void
key_list (const struct signer *s, char *out, size_t n)
{
  size_t o = 0;

  out[0] = '\0';
  for (size_t i = 0; i < s->n && o < n; i++)
    o += (size_t)snprintf (out + o, n - o, "%s%s (%s)", i ? ", " : "",
                           model_pubkey_what (s->keys[i]),
                           model_pubkey_kind (s->keys[i]));
}

static int
not_signed_by (const struct signer *s, const char *hint, mp_error *err)
{
  char keys[600];

  if (s->owned != NULL)
    return refuse (err, "the signature does not verify with its own "
                        "certificate's key");
  key_list (s, keys, sizeof keys);
  return refuse (err, "not signed by a key the policy trusts (%s)%s%s%s", keys,
                 hint ? "; it names key " : "", hint ? hint : "",
                 hint ? " (base64 SHA-256 of the key)" : "");
}

static X509 *
x509_from_der (const model_sig_bytes *b)
{
  const unsigned char *p = b->data;
  X509 *x = d2i_X509 (NULL, &p, (long)b->len);

  if (x != NULL && p != b->data + b->len)
    {
      X509_free (x);
      x = NULL;
    }
  return x;
}

static int
verify_cosign (const model_sigstore_trust *t, const model_signature *s,
               const model_digest *digest, model_sigstore_claim *claim,
               mp_error *err)
{
  const char *b64
      = model_annotations_get (&s->annotations, MODEL_SIG_ANNOTATION_COSIGN);
  model_sig_bytes sig = { 0 };
  model_cosign_payload p = { 0 };
  struct signer who = { .keys = t->keys, .n = t->n_keys };
  const char *by = NULL;
  char sum[65];
  int64_t when = 0;
  int ret = -1;

  if (b64 == NULL)
    return refuse (err, "no " MODEL_SIG_ANNOTATION_COSIGN " annotation");
  if (mp_base64_decode_bytes (b64, strlen (b64), &sig.data, &sig.len) < 0)
    return errno == ENOMEM ? oom (err)
                           : refuse (err, "its " MODEL_SIG_ANNOTATION_COSIGN
                                          " annotation is not base64");
  if (sha256_hex (s->blob, s->blob_len, sum) < 0)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "sha256 failed");
      goto out;
    }
  if (t->n_rekor > 0
      && legacy_promise (t,
                         model_annotations_get (&s->annotations,
                                                MODEL_SIG_ANNOTATION_REKOR),
                         sig.data, sig.len, sum, &when, err)
             < 0)
    goto out;
  if (t->roots != NULL)
    {
      const char *pem
          = model_annotations_get (&s->annotations, MODEL_SIG_ANNOTATION_CERT);
      const char *chain_pem
          = model_annotations_get (&s->annotations, MODEL_SIG_ANNOTATION_CHAIN);
      BIO *bio;
      X509 *leaf = NULL, *x;
      STACK_OF (X509) *chain = sk_X509_new_null ();

      if (pem == NULL)
        {
          sk_X509_free (chain);
          refuse (err, "the policy requires a fulcio certificate and the "
                       "signature has none (" MODEL_SIG_ANNOTATION_CERT ")");
          goto out;
        }
      bio = BIO_new_mem_buf (pem, -1);
      leaf = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
      BIO_free (bio);
      if (chain_pem != NULL && (bio = BIO_new_mem_buf (chain_pem, -1)) != NULL)
        {
          while ((x = PEM_read_bio_X509 (bio, NULL, NULL, NULL)) != NULL)
            if (!sk_X509_push (chain, x))
              X509_free (x);
          BIO_free (bio);
        }
      ERR_clear_error ();
      if (leaf == NULL)
        refuse (err, "its certificate annotation is not a PEM certificate");
      int r = leaf ? fulcio_signer (t, leaf, chain, when, &who, err) : -1;
      X509_free (leaf);
      sk_X509_pop_free (chain, X509_free);
      if (r < 0)
        goto out;
    }
  if (verify_any (&who, s->blob, s->blob_len, sig.data, sig.len, true, &by, err)
      < 0)
    {
      not_signed_by (&who, NULL, err);
      goto out;
    }
  /* Signed bytes from here on. */
  if (model_cosign_payload_parse (s->blob, s->blob_len, &p, err) < 0)
    {
      refuse (err, "its signed payload is not a cosign signature: %s",
              err->msg);
      goto out;
    }
  if (!model_digest_equal (&p.digest, digest))
    {
      refuse (err, "it signs %s, not %s", p.digest.str, digest->str);
      goto out;
    }
  claim->docker_reference = steal_pointer (&p.docker_reference);
  claim->by = strdup (who.by ? who.by : by);
  ret = claim->by ? 0 : oom (err);
out:
  model_cosign_payload_clear (&p);
  bytes_clear (&sig);
  signer_clear (&who);
  return ret;
}

/* Does STATEMENT (signed) sign DIGEST? */
static int
check_statement (const model_bundle *b, const model_digest *digest,
                 mp_error *err)
{
  model_intoto *st = NULL;
  const char *want = model_digest_hex (digest);
  bool named = false;
  char q[MODEL_QUOTE_BUF];
  int ret = -1;

  if (strcmp (b->payload_type, MODEL_INTOTO_PAYLOAD_TYPE) != 0)
    return refuse (err,
                   "its DSSE payload type is %s, not an in-toto "
                   "statement",
                   model_quote (b->payload_type, q, sizeof q));
  if (model_intoto_parse (b->payload.data, b->payload.len, &st, err) < 0)
    return refuse (err, "its signed statement does not parse: %s", err->msg);
  if (strcmp (st->type, MODEL_INTOTO_STATEMENT_V1) != 0
      && strcmp (st->type, MODEL_INTOTO_STATEMENT_V01) != 0)
    {
      refuse (err, "its signed statement's _type is %s",
              model_quote (st->type, q, sizeof q));
      goto out;
    }
  if (strcmp (st->predicate_type, MODEL_COSIGN_PREDICATE_SIGN) != 0)
    {
      refuse (err,
              "it is an attestation (predicateType %s), not a signature "
              "(" MODEL_COSIGN_PREDICATE_SIGN ")",
              model_quote (st->predicate_type, q, sizeof q));
      goto out;
    }
  for (size_t i = 0; i < st->n_subjects; i++)
    {
      const char *h = digest->algo == MODEL_DIGEST_SHA256
                          ? st->subjects[i].sha256
                          : st->subjects[i].sha512;
      named = named || (h != NULL && strcmp (h, want) == 0);
    }
  if (!named)
    {
      const model_intoto_subject *s0 = &st->subjects[0];
      char other[MODEL_DIGEST_MAX + 8];

      snprintf (other, sizeof other, "%s:%s", s0->sha256 ? "sha256" : "sha512",
                s0->sha256   ? s0->sha256
                : s0->sha512 ? s0->sha512
                             : "");
      /* Signed, but still text from elsewhere: quoted unless a digest. */
      refuse (err, "it signs %s, not %s",
              model_digest_is_valid (other) ? other
                                            : model_quote (other, q, sizeof q),
              digest->str);
      goto out;
    }
  ret = 0;
out:
  model_intoto_free (st);
  return ret;
}

/* The signer for one signature of a bundle: the policy's keys, or under
 * fulcio the certificate's key, checked at the time the log gives. */
static int
bundle_signer (const model_sigstore_trust *t, const model_bundle *b,
               int64_t when, struct signer *who, mp_error *err)
{
  X509 *leaf;
  STACK_OF (X509) * chain;
  int r;

  who->keys = t->keys;
  who->n = t->n_keys;
  if (t->roots == NULL)
    return 0;
  if (b->n_certs == 0)
    return refuse (err, "the policy requires a fulcio certificate and the "
                        "bundle has a public key hint instead");
  leaf = x509_from_der (&b->certs[0]);
  if (leaf == NULL)
    return refuse (err, "its certificate is not DER X.509");
  chain = sk_X509_new_null ();
  for (size_t i = 1; chain != NULL && i < b->n_certs; i++)
    {
      X509 *x = x509_from_der (&b->certs[i]);
      if (x != NULL && !sk_X509_push (chain, x))
        X509_free (x);
    }
  r = fulcio_signer (t, leaf, chain, when, who, err);
  X509_free (leaf);
  sk_X509_pop_free (chain, X509_free);
  return r;
}

/* One of the bundle's signatures, SIG, checked: logged (if the policy
 * asks), by a trusted signer, over MSG (or over the digest, for a message
 * signature). */
static int
bundle_one (const model_sigstore_trust *t, const model_bundle *b,
            const model_sig_bytes *sig, const model_sig_bytes *msg,
            const char *logged_sha256, struct signer *who, const char **by,
            mp_error *err)
{
  int64_t when = 0;
  mp_error e = { 0 };

  if (t->n_rekor > 0
      && bundle_promise (t, b, sig->data, sig->len, logged_sha256, &when, err)
             < 0)
    return -1;
  if (bundle_signer (t, b, when, who, err) < 0)
    return -1;
  for (size_t i = 0; i < who->n; i++)
    {
      int r = msg != NULL
                  ? model_pubkey_verify (who->keys[i], MODEL_SIG_HASH_SHA256,
                                         false, msg->data, msg->len, sig->data,
                                         sig->len, &e)
                  : model_pubkey_verify_digest (who->keys[i], b->digest_hash,
                                                false, b->message_digest.data,
                                                b->message_digest.len,
                                                sig->data, sig->len, &e);
      if (r < 0 && msg != NULL)
        r = model_pubkey_verify (who->keys[i], MODEL_SIG_HASH_KEY, false,
                                 msg->data, msg->len, sig->data, sig->len, &e);
      if (r == 0)
        {
          *by = model_pubkey_what (who->keys[i]);
          return 0;
        }
    }
  return not_signed_by (who, b->key_hint, err);
}

static int
verify_bundle (const model_sigstore_trust *t, const model_signature *s,
               const model_digest *digest, model_sigstore_claim *claim,
               mp_error *err)
{
  model_bundle *b = NULL;
  model_sig_bytes pae = { 0 };
  struct signer who = { 0 };
  const char *by = NULL;
  char sum[2 * 64 + 1] = "";
  mp_error first = { 0 };
  int ret = -1;

  if (model_bundle_parse (s->blob, s->blob_len, &b, err) < 0)
    return refuse (err, "%s", err->msg);
  if (b->dsse)
    {
      if (model_dsse_pae (b->payload_type, b->payload.data, b->payload.len,
                          &pae, err)
              < 0
          || sha256_hex (b->payload.data, b->payload.len, sum) < 0)
        goto out;
    }
  else
    {
      /* A message signature over an OCI manifest: the message is the
       * manifest, so its digest must be the manifest digest. */
      enum model_sig_hash want = digest->algo == MODEL_DIGEST_SHA256
                                     ? MODEL_SIG_HASH_SHA256
                                     : MODEL_SIG_HASH_SHA512;

      if (b->message_digest.len > 64)
        {
          refuse (err, "its message digest is too long");
          goto out;
        }
      hex (b->message_digest.data, b->message_digest.len, sum);
      if (b->digest_hash != want
          || strcmp (sum, model_digest_hex (digest)) != 0)
        {
          refuse (err, "it signs a message with digest %s:%s, not %s",
                  b->digest_hash == MODEL_SIG_HASH_SHA256   ? "sha256"
                  : b->digest_hash == MODEL_SIG_HASH_SHA384 ? "sha384"
                                                            : "sha512",
                  sum, digest->str);
          goto out;
        }
      if (digest->algo != MODEL_DIGEST_SHA256)
        sum[0] = '\0';
    }
  /* Any one of the signatures (a DSSE envelope may have several), logged
   * and by a trusted signer; the first reason is kept for a refusal. */
  if (b->dsse)
    for (size_t i = 0; i < b->n_dsse_sigs && by == NULL; i++)
      {
        mp_error e = { 0 };
        signer_clear (&who);
        if (bundle_one (t, b, &b->dsse_sigs[i], &pae, sum[0] ? sum : NULL, &who,
                        &by, &e)
                < 0
            && first.code == MP_OK)
          first = e;
      }
  else if (bundle_one (t, b, &b->signature, NULL, sum[0] ? sum : NULL, &who,
                       &by, &first)
           < 0)
    by = NULL;
  if (by == NULL)
    {
      *err = first;
      goto out;
    }
  /* Signed bytes from here on. */
  if (b->dsse && check_statement (b, digest, err) < 0)
    goto out;
  claim->docker_reference = NULL;
  claim->by = strdup (who.by ? who.by : by);
  ret = claim->by ? 0 : oom (err);
out:
  bytes_clear (&pae);
  signer_clear (&who);
  model_bundle_free (b);
  return ret;
}

int
model_sigstore_verify (const model_sigstore_trust *t, const model_signature *s,
                       const model_digest *digest, model_sigstore_claim *claim,
                       mp_error *err)
{
  memset (claim, 0, sizeof *claim);
  if (s->blob == NULL)
    return refuse (err, "it could not be read: %s",
                   s->error ? s->error : "no content");
  switch (s->format)
    {
    case MODEL_SIG_COSIGN:
      return verify_cosign (t, s, digest, claim, err);
    case MODEL_SIG_BUNDLE:
      return verify_bundle (t, s, digest, claim, err);
    default:
      break;
    }
  return refuse (err, "a %s is not a Sigstore signature",
                 model_sig_format_name (s->format));
}
