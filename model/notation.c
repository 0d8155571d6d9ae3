/* Notation signature verification (see notation.h). */
#include "model/notation.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "model/digest.h"
#include "util/cleanup.h"

/* A trustpolicy.json or a certificate file larger than this is refused. */
#define MAX_POLICY_FILE (4u << 20)
#define MAX_CERT_FILE (1u << 20)
#define MAX_STORE_FILES 1024

typedef struct store
{
  enum notation_store_type type;
  char *name;
  size_t n;
  X509 **certs;
  char *error; /* why it cannot be used, or NULL */
} store;

struct notation_config
{
  notation_policy *policy;
  size_t n_stores;
  store *stores;
  char revision[MODEL_DIGEST_MAX + 1];
  char *warnings;
};

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "notation");
}

/* ---- reading files ------------------------------------------------------- */

/* All of fd (a regular file of at most max bytes) into a malloc'd buffer. */
static int
read_fd (int fd, size_t max, uint8_t **out, size_t *len)
{
  struct stat st;
  uint8_t *buf;
  size_t n = 0;

  if (fstat (fd, &st) < 0)
    return -1;
  if (!S_ISREG (st.st_mode))
    {
      errno = EINVAL;
      return -1;
    }
  if ((uint64_t)st.st_size > max)
    {
      errno = EFBIG;
      return -1;
    }
  buf = malloc ((size_t)st.st_size + 1);
  if (buf == NULL)
    return -1;
  for (;;)
    {
      ssize_t r = read (fd, buf + n, (size_t)st.st_size + 1 - n);

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          free (buf);
          return -1;
        }
      if (r == 0)
        break;
      n += (size_t)r;
      if (n > (size_t)st.st_size)
        {
          /* It grew while being read: take no half-written file. */
          free (buf);
          errno = EAGAIN;
          return -1;
        }
    }
  *out = buf;
  *len = n;
  return 0;
}

static int
name_cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Certificates from PEM (every block) or DER (one or more, back to back),
 * as notation reads trust store files.  An empty file holds none. */
static int
parse_cert_file (const uint8_t *buf, size_t len, X509 ***certs, size_t *n)
{
  if (memmem (buf, len, "-----BEGIN ", 11) != NULL)
    {
      BIO *bio = BIO_new_mem_buf (buf, (int)len);

      if (bio == NULL)
        return -1;
      for (;;)
        {
          char *name = NULL, *header = NULL;
          unsigned char *data = NULL;
          long dlen = 0;
          const unsigned char *p;
          X509 *x, **grown;

          if (!PEM_read_bio (bio, &name, &header, &data, &dlen))
            break;
          p = data;
          x = d2i_X509 (NULL, &p, dlen);
          if (x != NULL && p != data + dlen)
            {
              X509_free (x);
              x = NULL;
            }
          OPENSSL_free (name);
          OPENSSL_free (header);
          OPENSSL_free (data);
          grown = x ? realloc (*certs, (*n + 1) * sizeof *grown) : NULL;
          if (grown == NULL)
            {
              X509_free (x);
              BIO_free (bio);
              return -1;
            }
          *certs = grown;
          (*certs)[(*n)++] = x;
        }
      BIO_free (bio);
      ERR_clear_error ();
      return 0;
    }
  for (const unsigned char *p = buf; p < buf + len;)
    {
      X509 *x = d2i_X509 (NULL, &p, (long)(buf + len - p)), **grown;

      grown = x ? realloc (*certs, (*n + 1) * sizeof *grown) : NULL;
      if (grown == NULL)
        {
          X509_free (x);
          ERR_clear_error ();
          return -1;
        }
      *certs = grown;
      (*certs)[(*n)++] = x;
    }
  return 0;
}

static char *
subject_of (X509 *x, char *buf, size_t size)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  int n;

  buf[0] = '\0';
  if (bio == NULL)
    return buf;
  if (X509_NAME_print_ex (bio, X509_get_subject_name (x), 0,
                          XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
      >= 0)
    {
      n = BIO_read (bio, buf, (int)size - 1);
      buf[n > 0 ? n : 0] = '\0';
    }
  BIO_free (bio);
  ERR_clear_error ();
  return model_scrub_text (buf);
}

/* Verify x's signature with key, refusing MD5 and SHA-1 unless allowed (Go
 * refuses them for chains, and allows them to check a lone self-signed
 * certificate). */
static bool
signed_by (X509 *x, EVP_PKEY *key, bool allow_sha1)
{
  int mdnid = NID_undef, ok;

  if (key == NULL)
    return false;
  if (!X509_get_signature_info (x, &mdnid, NULL, NULL, NULL))
    {
      ERR_clear_error ();
      return false;
    }
  if (mdnid == NID_md5 || mdnid == NID_md4 || mdnid == NID_md2
      || mdnid == NID_md5_sha1 || (!allow_sha1 && mdnid == NID_sha1))
    return false;
  ok = X509_verify (x, key) == 1;
  ERR_clear_error ();
  return ok;
}

static bool
has_bcons_ca (X509 *x, bool *bcons)
{
  uint32_t f = X509_get_extension_flags (x);

  *bcons = (f & EXFLAG_BCONS) != 0;
  return (f & EXFLAG_BCONS) && (f & EXFLAG_CA);
}

static bool
names_equal (const X509_NAME *a, const X509_NAME *b)
{
  unsigned char *da = NULL, *db = NULL;
  int la = i2d_X509_NAME (a, &da), lb = i2d_X509_NAME (b, &db);
  bool eq = la > 0 && la == lb && memcmp (da, db, (size_t)la) == 0;

  OPENSSL_free (da);
  OPENSSL_free (db);
  return eq;
}

/* Go's CheckSignatureFrom: parent must be a CA (a v3 certificate without
 * basic constraints is not), with keyCertSign if it has a key usage. */
static bool
issued_by (X509 *child, X509 *parent)
{
  bool bcons;
  bool ca = has_bcons_ca (parent, &bcons);
  uint32_t ku = X509_get_key_usage (parent);

  if ((X509_get_version (parent) == 2 && !bcons) || (bcons && !ca))
    return false;
  if (ku != UINT32_MAX && ku != 0 && !(ku & KU_KEY_CERT_SIGN))
    return false;
  return signed_by (child, X509_get0_pubkey (parent), false)
         && names_equal (X509_get_subject_name (parent),
                         X509_get_issuer_name (child));
}

/* ---- configuration ------------------------------------------------------- */

static void
store_clear (store *s)
{
  free (s->name);
  for (size_t i = 0; i < s->n; i++)
    X509_free (s->certs[i]);
  free (s->certs);
  free (s->error);
}

void
notation_config_free (notation_config *c)
{
  if (c == NULL)
    return;
  notation_policy_free (c->policy);
  for (size_t i = 0; i < c->n_stores; i++)
    store_clear (&c->stores[i]);
  free (c->stores);
  free (c->warnings);
  free (c);
}

static void __attribute__ ((format (printf, 2, 3)))
store_fail (store *s, const char *fmt, ...)
{
  va_list ap;
  char *m = NULL;

  if (s->error != NULL)
    return;
  va_start (ap, fmt);
  if (vasprintf (&m, fmt, ap) < 0)
    m = NULL;
  va_end (ap);
  /* File names come from the directory: nothing unprintable goes on. */
  s->error
      = m != NULL ? model_scrub_text (m) : strdup ("trust store unreadable");
}

/* One file of a store: hashed into the revision, certificates kept. */
static int
load_store_file (store *s, int dfd, const char *file, model_hasher *h,
                 mp_error *err)
{
  const char *type = notation_store_type_name (s->type);
  cleanup_close int fd = -1;
  cleanup_free uint8_t *buf = NULL;
  size_t len = 0, first = s->n;
  struct stat st;
  uint64_t n64;

  if (fstatat (dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      store_fail (s, "trust store %s of type %s: %s: %s", s->name, type, file,
                  strerror (errno));
      return 0;
    }
  if (!S_ISREG (st.st_mode))
    {
      store_fail (s,
                  "trusted certificate %s in trust store %s of type %s is not "
                  "a regular file (directories or symlinks are not "
                  "supported)",
                  file, s->name, type);
      return 0;
    }
  fd = openat (dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || read_fd (fd, MAX_CERT_FILE, &buf, &len) < 0)
    {
      store_fail (s, "trusted certificate %s in trust store %s of type %s: %s",
                  file, s->name, type, strerror (errno));
      return 0;
    }
  n64 = len;
  if (model_hasher_update (h, file, strlen (file) + 1, err) < 0
      || model_hasher_update (h, &n64, sizeof n64, err) < 0
      || model_hasher_update (h, buf, len, err) < 0)
    return -1;
  if (parse_cert_file (buf, len, &s->certs, &s->n) < 0)
    {
      store_fail (s,
                  "failed to read the trusted certificate %s in trust store "
                  "%s of type %s: not PEM or DER certificates",
                  file, s->name, type);
      return 0;
    }
  for (size_t i = first; i < s->n; i++)
    {
      bool bcons;
      char subj[256];

      /* A CA, or a self-signed certificate. */
      if (!has_bcons_ca (s->certs[i], &bcons)
          && !signed_by (s->certs[i], X509_get0_pubkey (s->certs[i]), true))
        {
          store_fail (s,
                      "trusted certificate %s in trust store %s of type %s: "
                      "certificate with subject \"%s\" is not a CA "
                      "certificate or self-signed signing certificate",
                      file, s->name, type,
                      subject_of (s->certs[i], subj, sizeof subj));
          return 0;
        }
    }
  return 0;
}

static int
load_store (store *s, int cfd, model_hasher *h, mp_error *err)
{
  const char *type = notation_store_type_name (s->type);
  char path[64];
  cleanup_close int tfd = -1;
  int sfd;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  char **files = NULL;
  size_t nfiles = 0;
  int r = 0;

  if (model_hasher_update (h, type, strlen (type) + 1, err) < 0
      || model_hasher_update (h, s->name, strlen (s->name) + 1, err) < 0)
    return -1;
  snprintf (path, sizeof path, "truststore/x509/%s", type);
  tfd = openat (cfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sfd = tfd < 0 ? -1
                : openat (tfd, s->name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sfd < 0)
    {
      if (errno == ENOENT)
        store_fail (s, "the trust store \"%s\" of type \"%s\" does not exist",
                    s->name, type);
      else if (errno == ELOOP || errno == ENOTDIR)
        store_fail (s,
                    "the trust store %s of type %s is not a regular directory "
                    "(symlinks are not supported)",
                    s->name, type);
      else
        store_fail (s,
                    "failed to access the trust store \"%s\" of type "
                    "\"%s\": %s",
                    s->name, type, strerror (errno));
      return 0;
    }
  d = fdopendir (sfd);
  if (d == NULL)
    {
      close (sfd);
      store_fail (s, "failed to access the trust store \"%s\": %s", s->name,
                  strerror (errno));
      return 0;
    }
  while ((de = readdir (d)) != NULL)
    {
      char **grown;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (nfiles >= MAX_STORE_FILES)
        {
          store_fail (s, "trust store %s of type %s has more than %d files",
                      s->name, type, MAX_STORE_FILES);
          break;
        }
      grown = realloc (files, (nfiles + 1) * sizeof *files);
      if (grown == NULL || (grown[nfiles] = strdup (de->d_name)) == NULL)
        {
          free (grown ? grown : files);
          files = NULL;
          r = oom (err);
          nfiles = 0;
          break;
        }
      files = grown;
      nfiles++;
    }
  /* Sorted: the revision must not depend on directory order. */
  if (nfiles > 0)
    qsort (files, nfiles, sizeof *files, name_cmp);
  for (size_t i = 0; r == 0 && i < nfiles; i++)
    r = load_store_file (s, dirfd (d), files[i], h, err);
  for (size_t i = 0; i < nfiles; i++)
    free (files[i]);
  free (files);
  if (r == 0 && s->error == NULL && s->n == 0)
    store_fail (s,
                "no x509 certificates were found in trust store \"%s\" of "
                "type \"%s\"",
                s->name, type);
  return r;
}

static int
add_warning (notation_config *c, const char *w)
{
  size_t old = c->warnings ? strlen (c->warnings) : 0;
  char *m = realloc (c->warnings, old + strlen (w) + 3);

  if (m == NULL)
    return -1;
  if (old > 0)
    memcpy (m + old, "; ", 3), old += 2;
  strcpy (m + old, w);
  c->warnings = m;
  return 0;
}

int
notation_config_load (const char *dir, notation_config **out, mp_error *err)
{
  cleanup_close int cfd = -1, pfd = -1;
  cleanup_free uint8_t *buf = NULL;
  size_t len = 0;
  cleanup_hasher model_hasher *h = NULL;
  notation_config *c = NULL;
  model_digest rev;

  cfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cfd < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_NOT_FOUND,
                             "%s: no notation configuration directory", dir);
      return mp_error_sys (err, errno, "%s", dir);
    }
  /* notation refuses a trust policy that is a symbolic link. */
  pfd = openat (cfd, "trustpolicy.json",
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (pfd < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_NOT_FOUND,
                             "%s/trustpolicy.json: no trust policy", dir);
      if (errno == ELOOP)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s/trustpolicy.json: is a symbolic link; the "
                             "trust policy must be a regular file",
                             dir);
      return mp_error_sys (err, errno, "%s/trustpolicy.json", dir);
    }
  if (read_fd (pfd, MAX_POLICY_FILE, &buf, &len) < 0)
    {
      if (errno == EINVAL)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s/trustpolicy.json: not a regular file", dir);
      return mp_error_sys (err, errno, "%s/trustpolicy.json", dir);
    }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return oom (err);
  if (notation_policy_parse (buf, len, &c->policy, err) < 0)
    {
      notation_config_free (c);
      return mp_error_prefix (err, "%s/trustpolicy.json", dir);
    }
  h = model_hasher_new (MODEL_DIGEST_SHA256, err);
  if (h == NULL
      || model_hasher_update (h, "trustpolicy.json", sizeof "trustpolicy.json",
                              err)
             < 0
      || model_hasher_update (h, buf, len, err) < 0)
    goto fail;

  /* Each store a statement names, once; tsa stores are never read (no
   * timestamp is verified here). */
  for (size_t i = 0; i < c->policy->n; i++)
    {
      const notation_statement *st = &c->policy->v[i];

      for (size_t j = 0; j < st->n_stores; j++)
        {
          const notation_store_ref *ref = &st->stores[j];
          bool seen = ref->type == NOTATION_STORE_TSA;
          store *grown;

          for (size_t k = 0; !seen && k < c->n_stores; k++)
            seen = c->stores[k].type == ref->type
                   && strcmp (c->stores[k].name, ref->name) == 0;
          if (seen)
            continue;
          grown = realloc (c->stores, (c->n_stores + 1) * sizeof *grown);
          if (grown == NULL)
            {
              oom (err);
              goto fail;
            }
          c->stores = grown;
          memset (&c->stores[c->n_stores], 0, sizeof *c->stores);
          c->stores[c->n_stores].type = ref->type;
          c->stores[c->n_stores].name = strdup (ref->name);
          if (c->stores[c->n_stores++].name == NULL)
            {
              oom (err);
              goto fail;
            }
          if (load_store (&c->stores[c->n_stores - 1], cfd, h, err) < 0)
            goto fail;
          if (c->stores[c->n_stores - 1].error != NULL
              && add_warning (c, c->stores[c->n_stores - 1].error) < 0)
            {
              oom (err);
              goto fail;
            }
        }
    }
  if (model_hasher_final (h, &rev, err) < 0)
    goto fail;
  memcpy (c->revision, rev.str, sizeof c->revision);
  *out = c;
  return 0;
fail:
  notation_config_free (c);
  return -1;
}

const char *
notation_config_revision (const notation_config *c)
{
  return c->revision;
}

const char *
notation_config_warnings (const notation_config *c)
{
  return c->warnings;
}

const notation_policy *
notation_config_policy (const notation_config *c)
{
  return c->policy;
}

static const store *
find_store (const notation_config *c, enum notation_store_type type,
            const char *name)
{
  for (size_t i = 0; i < c->n_stores; i++)
    if (c->stores[i].type == type && strcmp (c->stores[i].name, name) == 0)
      return &c->stores[i];
  return NULL;
}

/* ---- verdicts ------------------------------------------------------------ */

static void __attribute__ ((format (printf, 3, 4)))
vset (char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (buf, size, fmt, ap);
  va_end (ap);
}

/* A validation failed: enforced, it decides the verdict (true); logged, it
 * joins v->logged (false). */
static bool
failed (notation_verdict *v, const notation_statement *st,
        enum notation_check check, const char *msg)
{
  if (st->actions[check] == NOTATION_ENFORCE)
    {
      vset (v->reason, sizeof v->reason, "%s: %s", notation_check_name (check),
            msg);
      return true;
    }
  if (st->actions[check] == NOTATION_LOG)
    {
      size_t used = strlen (v->logged);

      snprintf (v->logged + used, sizeof v->logged - used, "%s%s: %s",
                used ? "; " : "", notation_check_name (check), msg);
    }
  return false;
}

void
notation_lookup (const notation_config *c, const char *repository,
                 notation_verdict *v)
{
  const notation_statement *st;
  char q[MODEL_QUOTE_BUF];

  memset (v, 0, sizeof *v);
  st = notation_policy_lookup (c->policy, repository);
  if (st == NULL)
    {
      vset (v->reason, sizeof v->reason,
            "no trust policy statement applies to %s (registryScopes name "
            "fully qualified repositories, or \"*\")",
            model_quote (repository, q, sizeof q));
      return;
    }
  v->applies = true;
  v->level = st->level;
  vset (v->policy, sizeof v->policy, "%s", st->name);
  model_scrub_text (v->policy);
  v->skipped = v->ok = st->level == NOTATION_LEVEL_SKIP;
}

/* ---- certificates -------------------------------------------------------- */

static int64_t
asn1_time_sec (const ASN1_TIME *t)
{
  struct tm tm;

  if (!ASN1_TIME_to_tm (t, &tm))
    return INT64_MIN;
  return (int64_t)timegm (&tm);
}

static const char *
fmt_time (int64_t sec, char *buf, size_t size)
{
  time_t t = (time_t)sec;
  struct tm tm;

  if (gmtime_r (&t, &tm) == NULL
      || strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, size, "@%lld", (long long)sec);
  return buf;
}

static bool
ku_critical (X509 *x)
{
  int i = X509_get_ext_by_NID (x, NID_key_usage, -1);

  return i >= 0 && X509_EXTENSION_get_critical (X509_get_ext (x, i));
}

/* The algorithm the leaf's key implies (0 if unsupported). */
static enum notation_alg
key_alg (EVP_PKEY *k)
{
  if (k == NULL)
    return 0;
  if (EVP_PKEY_get_base_id (k) == EVP_PKEY_RSA)
    switch (EVP_PKEY_get_size (k) * 8)
      {
      case 2048:
        return NOTATION_ALG_PS256;
      case 3072:
        return NOTATION_ALG_PS384;
      case 4096:
        return NOTATION_ALG_PS512;
      default:
        return 0;
      }
  if (EVP_PKEY_get_base_id (k) == EVP_PKEY_EC)
    {
      char curve[64];
      size_t n = 0;

      if (!EVP_PKEY_get_utf8_string_param (k, "group", curve, sizeof curve, &n))
        {
          ERR_clear_error ();
          return 0;
        }
      if (strcmp (curve, "prime256v1") == 0)
        return NOTATION_ALG_ES256;
      if (strcmp (curve, "secp384r1") == 0)
        return NOTATION_ALG_ES384;
      if (strcmp (curve, "secp521r1") == 0)
        return NOTATION_ALG_ES512;
    }
  return 0;
}

static bool
leaf_ok (X509 *x, const char *subj, char *why, size_t size)
{
  bool bcons;
  uint32_t ku = X509_get_key_usage (x);
  uint32_t xku = X509_get_extended_key_usage (x);
  static const struct
  {
    uint32_t bit;
    const char *name;
  } bad_ku[] = { { KU_KEY_ENCIPHERMENT, "KeyEncipherment" },
                 { KU_DATA_ENCIPHERMENT, "DataEncipherment" },
                 { KU_KEY_AGREEMENT, "KeyAgreement" },
                 { KU_KEY_CERT_SIGN, "CertSign" },
                 { KU_CRL_SIGN, "CRLSign" },
                 { KU_ENCIPHER_ONLY, "EncipherOnly" },
                 { KU_DECIPHER_ONLY, "DecipherOnly" } },
    bad_xku[] = { { XKU_SSL_SERVER, "ServerAuth" },
                  { XKU_SSL_CLIENT, "ClientAuth" },
                  { XKU_SMIME, "EmailProtection" },
                  { XKU_TIMESTAMP, "Timestamping" },
                  { XKU_OCSP_SIGN, "OCSPSigning" } };

  if (has_bcons_ca (x, &bcons))
    {
      vset (why, size,
            "certificate with subject \"%s\": if the basic constraints "
            "extension is present, the ca field must be set to false",
            subj);
      return false;
    }
  if (ku == UINT32_MAX || !ku_critical (x))
    {
      vset (why, size,
            "certificate with subject \"%s\": key usage extension must be "
            "present and critical",
            subj);
      return false;
    }
  if (!(ku & KU_DIGITAL_SIGNATURE))
    {
      vset (why, size,
            "the certificate with subject \"%s\" is invalid: the key usage "
            "must have the bit positions for \"Digital Signature\" set",
            subj);
      return false;
    }
  for (size_t i = 0; i < sizeof bad_ku / sizeof *bad_ku; i++)
    if (ku & bad_ku[i].bit)
      {
        vset (why, size,
              "the certificate with subject \"%s\" is invalid: the key usage "
              "must be \"Digital Signature\" only, but found \"%s\"",
              subj, bad_ku[i].name);
        return false;
      }
  if (xku != UINT32_MAX)
    for (size_t i = 0; i < sizeof bad_xku / sizeof *bad_xku; i++)
      if (xku & bad_xku[i].bit)
        {
          vset (why, size,
                "certificate with subject \"%s\": extended key usage must not "
                "contain %s eku",
                subj, bad_xku[i].name);
          return false;
        }
  if (key_alg (X509_get0_pubkey (x)) == 0)
    {
      vset (why, size,
            "certificate with subject \"%s\": its key is not RSA 2048, 3072 "
            "or 4096 or EC P-256, P-384 or P-521",
            subj);
      return false;
    }
  return true;
}

static bool
ca_ok (X509 *x, int expected_pathlen, const char *subj, char *why, size_t size)
{
  bool bcons;
  long pathlen = X509_get_pathlen (x);
  uint32_t ku = X509_get_key_usage (x);

  if (!has_bcons_ca (x, &bcons))
    {
      vset (why, size,
            "certificate with subject \"%s\": ca field in basic constraints "
            "must be present, critical, and set to true",
            subj);
      return false;
    }
  if (pathlen >= 0 && pathlen < expected_pathlen)
    {
      vset (why, size,
            "certificate with subject \"%s\": expected path length of %d but "
            "certificate has path length %ld instead",
            subj, expected_pathlen, pathlen);
      return false;
    }
  if (ku == UINT32_MAX || !ku_critical (x))
    {
      vset (why, size,
            "certificate with subject \"%s\": key usage extension must be "
            "present and critical",
            subj);
      return false;
    }
  if (!(ku & KU_KEY_CERT_SIGN))
    {
      vset (why, size,
            "certificate with subject \"%s\": key usage must have the bit "
            "positions for key cert sign set",
            subj);
      return false;
    }
  return true;
}

/* notation's code-signing chain rules (ValidateCodeSigningCertChain, no
 * signing time): see notation.h, step 1. */
static bool
chain_ok (X509 **chain, size_t n, char (*subj)[256], char *why, size_t size)
{
  if (n == 1)
    {
      if (!signed_by (chain[0], X509_get0_pubkey (chain[0]), true))
        {
          vset (why, size,
                "invalid self-signed certificate with subject \"%s\": its "
                "signature does not verify with its own key",
                subj[0]);
          return false;
        }
      if (!names_equal (X509_get_subject_name (chain[0]),
                        X509_get_issuer_name (chain[0])))
        {
          vset (why, size,
                "invalid self-signed certificate with subject \"%s\": issuer "
                "and subject are not the same",
                subj[0]);
          return false;
        }
      return leaf_ok (chain[0], subj[0], why, size);
    }
  for (size_t i = 0; i < n; i++)
    {
      if (i == n - 1)
        {
          if (!issued_by (chain[i], chain[i]))
            {
              vset (why, size,
                    "root certificate with subject \"%s\" is invalid or not "
                    "self-signed; the chain must end with a self-signed root "
                    "certificate",
                    subj[i]);
              return false;
            }
        }
      else
        {
          if (issued_by (chain[i], chain[i]))
            {
              vset (why, size,
                    "%s certificate with subject \"%s\" is self-signed; the "
                    "chain must not contain one",
                    i == 0 ? "leaf" : "intermediate", subj[i]);
              return false;
            }
          if (!issued_by (chain[i], chain[i + 1]))
            {
              vset (why, size,
                    "certificate with subject \"%s\" is not issued by \"%s\"",
                    subj[i], subj[i + 1]);
              return false;
            }
        }
      if (i == 0 ? !leaf_ok (chain[i], subj[i], why, size)
                 : !ca_ok (chain[i], (int)i - 1, subj[i], why, size))
        return false;
    }
  return true;
}

/* The envelope's signature over its signed data, with the leaf's key. */
static bool
signature_ok (const notation_envelope *e, EVP_PKEY *key)
{
  const EVP_MD *md;
  EVP_MD_CTX *ctx = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  unsigned char *der = NULL;
  const unsigned char *sig = e->signature.data;
  size_t siglen = e->signature.len;
  bool ok = false;

  switch (e->alg)
    {
    case NOTATION_ALG_PS256:
    case NOTATION_ALG_ES256:
      md = EVP_sha256 ();
      break;
    case NOTATION_ALG_PS384:
    case NOTATION_ALG_ES384:
      md = EVP_sha384 ();
      break;
    default:
      md = EVP_sha512 ();
      break;
    }
  if (e->alg >= NOTATION_ALG_ES256)
    {
      /* JWS and COSE carry r || s, each as wide as the curve's order. */
      size_t half = e->alg == NOTATION_ALG_ES256   ? 32
                    : e->alg == NOTATION_ALG_ES384 ? 48
                                                   : 66;
      ECDSA_SIG *es;
      BIGNUM *r, *s;
      int n;

      if (siglen != 2 * half)
        return false;
      es = ECDSA_SIG_new ();
      r = BN_bin2bn (sig, (int)half, NULL);
      s = BN_bin2bn (sig + half, (int)half, NULL);
      if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0 (es, r, s))
        {
          BN_free (r);
          BN_free (s);
          ECDSA_SIG_free (es);
          goto out;
        }
      n = i2d_ECDSA_SIG (es, &der);
      ECDSA_SIG_free (es);
      if (n <= 0)
        goto out;
      sig = der;
      siglen = (size_t)n;
    }
  ctx = EVP_MD_CTX_new ();
  if (ctx == NULL || EVP_DigestVerifyInit (ctx, &pctx, md, NULL, key) != 1)
    goto out;
  if (e->alg <= NOTATION_ALG_PS512
      && (EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING) != 1
          || EVP_PKEY_CTX_set_rsa_mgf1_md (pctx, md) != 1
          /* JWS (golang-jwt) accepts any salt length, COSE (go-cose)
           * only the hash's. */
          || EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx,
                                               e->format == NOTATION_FORMAT_JWS
                                                   ? RSA_PSS_SALTLEN_AUTO
                                                   : RSA_PSS_SALTLEN_DIGEST)
                 != 1))
    goto out;
  ok = EVP_DigestVerify (ctx, sig, siglen, e->signed_data.data,
                         e->signed_data.len)
       == 1;
out:
  EVP_MD_CTX_free (ctx);
  OPENSSL_free (der);
  ERR_clear_error ();
  return ok;
}

/* The leaf's subject as notation reads it for trustedIdentities: only the
 * attributes Go names (others print as OID=#hex, which notation refuses),
 * each once. */
static int
leaf_dn (X509 *x, notation_dn *dn, char *why, size_t size)
{
  static const struct
  {
    int nid;
    const char *name;
  } names[] = { { NID_countryName, "C" },
                { NID_organizationName, "O" },
                { NID_organizationalUnitName, "OU" },
                { NID_commonName, "CN" },
                { NID_serialNumber, "SERIALNUMBER" },
                { NID_localityName, "L" },
                { NID_stateOrProvinceName, "ST" },
                { NID_streetAddress, "STREET" },
                { NID_postalCode, "POSTALCODE" } };
  const X509_NAME *name = X509_get_subject_name (x);
  static const char *const mandatory[] = { "C", "ST", "O" };

  memset (dn, 0, sizeof *dn);
  for (int i = 0; i < X509_NAME_entry_count (name); i++)
    {
      const X509_NAME_ENTRY *ne = X509_NAME_get_entry (name, i);
      int nid = OBJ_obj2nid (X509_NAME_ENTRY_get_object (ne));
      const char *type = NULL;
      unsigned char *utf8 = NULL;
      int len;
      notation_dn_attr *grown;

      for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (names[k].nid == nid)
          type = names[k].name;
      if (type == NULL)
        {
          char oid[80];

          OBJ_obj2txt (oid, sizeof oid, X509_NAME_ENTRY_get_object (ne), 1);
          vset (why, size,
                "the signing certificate's subject has attribute %s, which "
                "x509.subject identities cannot name",
                oid);
          goto fail;
        }
      for (size_t k = 0; k < dn->n; k++)
        if (strcmp (dn->v[k].type, type) == 0)
          {
            vset (why, size,
                  "the signing certificate's subject has %s more than once",
                  type);
            goto fail;
          }
      len = ASN1_STRING_to_UTF8 (&utf8, X509_NAME_ENTRY_get_data (ne));
      if (len < 0 || memchr (utf8, '\0', (size_t)len) != NULL
          || memmem (utf8, (size_t)len, "=#", 2) != NULL)
        {
          OPENSSL_free (utf8);
          vset (why, size,
                "the signing certificate's subject %s is not "
                "usable text",
                type);
          goto fail;
        }
      grown = realloc (dn->v, (dn->n + 1) * sizeof *grown);
      if (grown == NULL)
        {
          OPENSSL_free (utf8);
          goto oom;
        }
      dn->v = grown;
      dn->v[dn->n].type = strdup (type);
      dn->v[dn->n].value = strndup ((const char *)utf8, (size_t)len);
      OPENSSL_free (utf8);
      dn->n++;
      if (dn->v[dn->n - 1].type == NULL || dn->v[dn->n - 1].value == NULL)
        goto oom;
    }
  for (size_t k = 0; k < 3; k++)
    {
      bool found = false;

      for (size_t j = 0; j < dn->n; j++)
        found = found
                || (strcmp (dn->v[j].type, mandatory[k]) == 0
                    && dn->v[j].value[0] != '\0');
      if (!found)
        {
          vset (why, size,
                "the signing certificate's subject lacks %s (C, ST and O are "
                "required to match x509.subject identities)",
                mandatory[k]);
          goto fail;
        }
    }
  ERR_clear_error ();
  return 0;
oom:
  vset (why, size, "out of memory");
fail:
  ERR_clear_error ();
  notation_dn_clear (dn);
  return -1;
}

static bool
names_servers (X509 *x)
{
  STACK_OF (OPENSSL_STRING) *ocsp = X509_get1_ocsp (x);
  STACK_OF (DIST_POINT) * crl;
  bool yes = ocsp != NULL && sk_OPENSSL_STRING_num (ocsp) > 0;

  X509_email_free (ocsp);
  crl = X509_get_ext_d2i (x, NID_crl_distribution_points, NULL, NULL);
  yes = yes || (crl != NULL && sk_DIST_POINT_num (crl) > 0);
  CRL_DIST_POINTS_free (crl);
  ERR_clear_error ();
  return yes;
}

/* ---- verification -------------------------------------------------------- */

struct chain
{
  size_t n;
  X509 *x[NOTATION_MAX_CHAIN];
  char subj[NOTATION_MAX_CHAIN][256];
};

static void
chain_free (struct chain *c)
{
  for (size_t i = 0; i < c->n; i++)
    X509_free (c->x[i]);
  c->n = 0;
}

/* Steps 1 (after parsing) to 6; true when no enforced step failed. */
static bool
verify_signature (const notation_config *cfg, const notation_statement *st,
                  const notation_envelope *e, struct chain *ch, int64_t now,
                  notation_verdict *v)
{
  char why[512], a[40], b[40], c[40];
  enum notation_store_type want;
  bool trusted = false, any_store = false;
  const char *store_error = NULL;

  /* 1: integrity. */
  for (size_t i = 0; i < e->n_certs; i++)
    {
      const unsigned char *p = e->certs[i].data;

      ch->x[i] = d2i_X509 (NULL, &p, (long)e->certs[i].len);
      if (ch->x[i] != NULL)
        ch->n = i + 1;
      if (ch->x[i] == NULL || p != e->certs[i].data + e->certs[i].len
          || (X509_get_extension_flags (ch->x[i]) & EXFLAG_INVALID))
        {
          ERR_clear_error ();
          vset (why, sizeof why,
                "certificate %zu of the chain is not a valid X.509 "
                "certificate",
                i + 1);
          return !failed (v, st, NOTATION_CHECK_INTEGRITY, why);
        }
      subject_of (ch->x[i], ch->subj[i], sizeof ch->subj[i]);
    }
  vset (v->signer, sizeof v->signer, "%s", ch->subj[0]);
  if (!chain_ok (ch->x, ch->n, ch->subj, why, sizeof why))
    {
      char m[600];

      vset (m, sizeof m, "certificate chain is invalid: %s", why);
      return !failed (v, st, NOTATION_CHECK_INTEGRITY, m);
    }
  if (key_alg (X509_get0_pubkey (ch->x[0])) != e->alg)
    {
      vset (why, sizeof why,
            "the signing certificate's key calls for %s, the signature says "
            "%s",
            notation_alg_name (key_alg (X509_get0_pubkey (ch->x[0]))),
            notation_alg_name (e->alg));
      return !failed (v, st, NOTATION_CHECK_INTEGRITY, why);
    }
  if (!signature_ok (e, X509_get0_pubkey (ch->x[0])))
    return !failed (v, st, NOTATION_CHECK_INTEGRITY,
                    "the signature does not verify with the signing "
                    "certificate's key (tampered payload or signature)");
  if (strcmp (e->content_type, NOTATION_PAYLOAD_TYPE) != 0)
    {
      char q[MODEL_QUOTE_BUF];

      vset (why, sizeof why, "payload content type %s not supported",
            model_quote (e->content_type, q, sizeof q));
      return !failed (v, st, NOTATION_CHECK_INTEGRITY, why);
    }

  /* 2: a verification plugin would have the last word; we run none. */
  if (e->verification_plugin != NULL)
    {
      char q[MODEL_QUOTE_BUF];

      vset (v->reason, sizeof v->reason,
            "the signature requires verification plugin %s, which this "
            "verifier does not run",
            model_quote (e->verification_plugin, q, sizeof q));
      return false;
    }

  /* 3: authenticity: a chain certificate is in a store of the scheme's
   * type; then the trusted identities. */
  want = e->scheme == NOTATION_SCHEME_X509 ? NOTATION_STORE_CA
                                           : NOTATION_STORE_SIGNING_AUTHORITY;
  for (size_t i = 0; i < st->n_stores && store_error == NULL; i++)
    {
      const store *s;

      if (st->stores[i].type != want)
        continue;
      any_store = true;
      s = find_store (cfg, want, st->stores[i].name);
      if (s == NULL || s->error != NULL)
        {
          store_error = s ? s->error : "trust store not loaded";
          break;
        }
      for (size_t j = 0; j < s->n && !trusted; j++)
        for (size_t k = 0; k < ch->n && !trusted; k++)
          trusted = X509_cmp (s->certs[j], ch->x[k]) == 0;
    }
  if (store_error != NULL || !any_store || !trusted)
    {
      if (store_error != NULL)
        vset (why, sizeof why, "%s", store_error);
      else if (!any_store)
        vset (why, sizeof why,
              "no trusted certificates are found to verify authenticity: "
              "the statement names no %s trust store for a %s signature",
              notation_store_type_name (want),
              notation_scheme_name (e->scheme));
      else
        vset (why, sizeof why,
              "the signing certificate chain does not lead to a certificate "
              "in the statement's %s trust stores (signature is not produced "
              "by a trusted signer)",
              notation_store_type_name (want));
      if (failed (v, st, NOTATION_CHECK_AUTHENTICITY, why))
        return false;
    }
  if (!st->any_identity)
    {
      notation_dn dn;
      bool match = false;

      if (st->n_x509 == 0)
        vset (why, sizeof why,
              "no x509 trusted identities are configured in the trust policy "
              "statement");
      else if (leaf_dn (ch->x[0], &dn, why, sizeof why) == 0)
        {
          for (size_t i = 0; i < st->n_x509 && !match; i++)
            match = notation_dn_subset (&st->x509[i], &dn);
          notation_dn_clear (&dn);
          if (!match)
            vset (why, sizeof why,
                  "signing certificate subject \"%s\" does not match the "
                  "statement's x509.subject trusted identities",
                  ch->subj[0]);
        }
      if (!match && failed (v, st, NOTATION_CHECK_AUTHENTICITY, why))
        return false;
    }

  /* 4: expiry. */
  if (e->has_expiry && now >= e->expiry.sec
      && !(now == e->expiry.sec && e->expiry.nsec > 0))
    {
      vset (why, sizeof why, "the signature expired at %s",
            fmt_time (e->expiry.sec, a, sizeof a));
      if (failed (v, st, NOTATION_CHECK_EXPIRY, why))
        return false;
    }

  /* 5: authentic timestamp. */
  if (e->scheme == NOTATION_SCHEME_X509)
    {
      bool tsa = false, timestamp = false;

      for (size_t i = 0; i < st->n_stores; i++)
        tsa = tsa || st->stores[i].type == NOTATION_STORE_TSA;
      timestamp = tsa;
      if (tsa && st->timestamp_after_expiry)
        {
          timestamp = false;
          for (size_t i = 0; i < ch->n; i++)
            timestamp = timestamp
                        || now > asn1_time_sec (X509_get0_notAfter (ch->x[i]));
        }
      why[0] = '\0';
      if (timestamp && !e->has_timestamp)
        vset (why, sizeof why,
              "no timestamp countersignature was found in the signature "
              "envelope");
      else if (timestamp)
        vset (why, sizeof why,
              "the statement asks for timestamp verification (a tsa trust "
              "store), which this verifier does not implement");
      for (size_t i = 0; !timestamp && !why[0] && i < ch->n; i++)
        {
          int64_t nb = asn1_time_sec (X509_get0_notBefore (ch->x[i]));
          int64_t na = asn1_time_sec (X509_get0_notAfter (ch->x[i]));

          if (now < nb)
            vset (why, sizeof why,
                  "verification time is before certificate \"%s\" validity "
                  "period, it will be valid from %s",
                  ch->subj[i], fmt_time (nb, a, sizeof a));
          else if (now > na)
            vset (why, sizeof why,
                  "verification time is after certificate \"%s\" validity "
                  "period, it was expired at %s",
                  ch->subj[i], fmt_time (na, a, sizeof a));
        }
      if (why[0] && failed (v, st, NOTATION_CHECK_AUTHENTIC_TIMESTAMP, why))
        return false;
    }
  else
    {
      const notation_time *t = &e->signing_time;

      for (size_t i = 0; i < ch->n; i++)
        {
          int64_t nb = asn1_time_sec (X509_get0_notBefore (ch->x[i]));
          int64_t na = asn1_time_sec (X509_get0_notAfter (ch->x[i]));

          if (t->sec < nb || t->sec > na || (t->sec == na && t->nsec > 0))
            {
              vset (why, sizeof why,
                    "certificate \"%s\" was not valid when the signature was "
                    "produced at %s (valid %s to %s)",
                    ch->subj[i], fmt_time (t->sec, a, sizeof a),
                    fmt_time (nb, b, sizeof b), fmt_time (na, c, sizeof c));
              if (failed (v, st, NOTATION_CHECK_AUTHENTIC_TIMESTAMP, why))
                return false;
              break;
            }
        }
    }

  /* 6: revocation, which needs the network: unknown when a certificate
   * names servers. */
  if (st->actions[NOTATION_CHECK_REVOCATION] != NOTATION_SKIP)
    for (size_t i = 0; i + 1 < ch->n; i++)
      if (names_servers (ch->x[i]))
        {
          vset (why, sizeof why,
                "revocation status of certificate \"%s\" is unknown: it names "
                "OCSP or CRL servers, which this verifier does not query "
                "(override \"revocation\" to \"log\" or \"skip\" to accept)",
                ch->subj[i]);
          if (failed (v, st, NOTATION_CHECK_REVOCATION, why))
            return false;
          break;
        }
  return true;
}

int
notation_verify (const notation_config *c, const char *repository,
                 const char *manifest_digest, int64_t manifest_size,
                 const char *manifest_media_type,
                 const char *envelope_media_type, const void *env,
                 size_t envlen, int64_t now, notation_verdict *v, mp_error *err)
{
  const notation_statement *st;
  notation_envelope *e = NULL;
  struct chain ch = { 0 };
  notation_target t;
  mp_error perr;

  if (c == NULL || repository == NULL || manifest_digest == NULL
      || manifest_media_type == NULL || envelope_media_type == NULL
      || (env == NULL && envlen > 0) || v == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "notation_verify: missing argument");
  notation_lookup (c, repository, v);
  if (!v->applies || v->skipped)
    return 0;
  st = notation_policy_lookup (c->policy, repository);

  /* 1: the envelope must parse (integrity is always enforced). */
  if (notation_envelope_parse (envelope_media_type, env, envlen, &e, &perr) < 0)
    {
      if (perr.code != MP_ERR_INVALID_ARGUMENT)
        return mp_error_set (err, perr.code, "%s", perr.msg);
      vset (v->reason, sizeof v->reason,
            "integrity: unable to parse the signature: %s", perr.msg);
      return 0;
    }
  if (!verify_signature (c, st, e, &ch, now, v))
    goto done;

  /* 7: the signed descriptor is the manifest's. */
  if (notation_payload_target (&e->payload, &t, &perr) < 0)
    {
      if (perr.code != MP_ERR_INVALID_ARGUMENT)
        {
          chain_free (&ch);
          notation_envelope_free (e);
          return mp_error_set (err, perr.code, "%s", perr.msg);
        }
      vset (v->reason, sizeof v->reason, "content descriptor mismatch: %s",
            perr.msg);
      goto done;
    }
  if (strcmp (t.digest, manifest_digest) != 0 || t.size != manifest_size
      || strcmp (t.media_type, manifest_media_type) != 0)
    {
      char q1[MODEL_QUOTE_BUF], q2[MODEL_QUOTE_BUF];

      vset (v->reason, sizeof v->reason,
            "content descriptor mismatch: the signature is for %s (%s, %lld "
            "bytes), not this manifest",
            model_quote (t.digest, q1, sizeof q1),
            model_quote (t.media_type, q2, sizeof q2), (long long)t.size);
    }
  else
    v->ok = true;
  notation_target_clear (&t);
done:
  chain_free (&ch);
  notation_envelope_free (e);
  return 0;
}
