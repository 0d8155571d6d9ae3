/* Tests for util/toml: the toml-test corpus for TOML 1.0.0 (every valid case
 * compared with its JSON twin, every invalid case rejected), then the API
 * corners config code relies on. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"
#include "util/cleanup.h"
#include "util/toml.h"

/* ---- The toml-test corpus -------------------------------------------- */

/* toml-test as Debian's golang-github-burntsushi-toml-dev ships it, which
 * scripts/fetch-unstable.sh unpacks (make unstable).  The Makefile passes
 * the path for its CACHE; without it, this is where it lands when the
 * tests run from the repository root. */
#define TOML_TEST_DEFAULT_DIR                                                  \
  ".cache/unstable/root/usr/share/gocode/src/github.com/BurntSushi/toml/"      \
  "internal/toml-test"

static const char *
corpus_dir (void)
{
  const char *dir = getenv ("MP_TOML_TEST_DIR");

  return dir != NULL && dir[0] != '\0' ? dir : TOML_TEST_DEFAULT_DIR;
}

struct strs
{
  char **v;
  size_t n, cap;
};

static void
strs_push (struct strs *s, const char *p, size_t len)
{
  if (s->n == s->cap)
    {
      s->cap = s->cap ? s->cap * 2 : 64;
      s->v = realloc (s->v, s->cap * sizeof *s->v);
    }
  s->v[s->n++] = strndup (p, len);
}

static void
strs_free (struct strs *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  memset (s, 0, sizeof *s);
}

static int
strs_cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Which cases belong to which TOML version is not data in the corpus but Go
 * source beside it (version.go: a map from version to the glob patterns it
 * leaves out, optionally inheriting another version's), so this reads just
 * enough Go to take those lists: tokens, with comments skipped. */
enum go_kind
{
  GO_END,
  GO_STRING,
  GO_IDENT,
  GO_PUNCT
};

struct go_tok
{
  enum go_kind kind;
  const char *s;
  size_t len;
};

static bool
go_next (const char **pp, struct go_tok *t)
{
  const char *p = *pp;

  for (;;)
    {
      p += strspn (p, " \t\r\n");
      if (p[0] == '/' && p[1] == '/')
        p += strcspn (p, "\n");
      else if (p[0] == '/' && p[1] == '*')
        {
          const char *e = strstr (p + 2, "*/");
          if (e == NULL)
            return false;
          p = e + 2;
        }
      else
        break;
    }
  t->s = p;
  t->len = 1;
  if (*p == '\0')
    {
      t->kind = GO_END;
      t->len = 0;
    }
  else if (*p == '"' || *p == '`')
    {
      /* Patterns are plain paths: a backslash would need Go's unescaping,
       * so it is refused rather than misread. */
      size_t n = strcspn (p + 1, *p == '"' ? "\"\\\n" : "`");
      if (p[1 + n] != *p)
        return false;
      t->kind = GO_STRING;
      t->s = p + 1;
      t->len = n;
      p += n + 2;
      *pp = p;
      return true;
    }
  else if (isalnum ((unsigned char)*p) || *p == '_')
    {
      t->kind = GO_IDENT;
      while (isalnum ((unsigned char)p[t->len]) || p[t->len] == '_')
        t->len++;
    }
  else
    t->kind = GO_PUNCT;
  *pp = p + t->len;
  return true;
}

static bool
go_is (const struct go_tok *t, const char *text)
{
  return t->kind != GO_END && t->len == strlen (text)
         && memcmp (t->s, text, t->len) == 0;
}

/* Takes the tokens of TEXT, separated by spaces, in order. */
static bool
go_expect (const char **pp, const char *text)
{
  char copy[64], *save = NULL, *w;
  struct go_tok t;

  snprintf (copy, sizeof copy, "%s", text);
  for (w = strtok_r (copy, " ", &save); w != NULL;
       w = strtok_r (NULL, " ", &save))
    if (!go_next (pp, &t) || !go_is (&t, w))
      return false;
  return true;
}

/* Appends the patterns version.go leaves out of VERSION, following
 * "inherit" as toml-test's runner does; false, with why, when the file
 * does not have that shape. */
static bool
version_excludes (const char *src, const char *version, struct strs *out,
                  int depth, char *why, size_t cap)
{
  const char *p = src, *q;
  struct go_tok t;
  char inherit[64] = "";
  bool found = false, listed = false;
  int level = 1;

  if (depth > 8)
    {
      snprintf (why, cap, "versions inherit each other in a loop");
      return false;
    }
  /* The map entry: "VERSION": versionSpec{ (the type may be elided). */
  while (!found && go_next (&p, &t) && t.kind != GO_END)
    {
      if (!(t.kind == GO_STRING && go_is (&t, version)))
        continue;
      q = p;
      if (!go_expect (&q, ":") || !go_next (&q, &t))
        continue;
      if (t.kind == GO_IDENT && !go_next (&q, &t))
        continue;
      if (go_is (&t, "{"))
        {
          found = true;
          p = q;
        }
    }
  if (!found)
    {
      snprintf (why, cap, "no entry for version \"%s\"", version);
      return false;
    }
  while (level > 0)
    {
      if (!go_next (&p, &t) || t.kind == GO_END)
        {
          snprintf (why, cap, "the entry for \"%s\" does not end", version);
          return false;
        }
      if (go_is (&t, "{"))
        level++;
      else if (go_is (&t, "}"))
        level--;
      else if (level == 1 && go_is (&t, "exclude"))
        {
          if (!go_expect (&p, ": [ ] string {"))
            {
              snprintf (why, cap, "\"%s\": exclude is not a []string{...}",
                        version);
              return false;
            }
          while (go_next (&p, &t) && t.kind == GO_STRING)
            {
              strs_push (out, t.s, t.len);
              if (!go_next (&p, &t) || !(go_is (&t, ",") || go_is (&t, "}")))
                break;
              if (go_is (&t, "}"))
                break;
            }
          if (!go_is (&t, "}"))
            {
              snprintf (why, cap, "\"%s\": exclude holds other than strings",
                        version);
              return false;
            }
          listed = true;
        }
      else if (level == 1 && go_is (&t, "inherit"))
        {
          if (!go_expect (&p, ":") || !go_next (&p, &t) || t.kind != GO_STRING
              || t.len >= sizeof inherit)
            {
              snprintf (why, cap, "\"%s\": inherit is not a version", version);
              return false;
            }
          memcpy (inherit, t.s, t.len);
          inherit[t.len] = '\0';
        }
    }
  if (!listed && inherit[0] == '\0')
    {
      snprintf (why, cap, "\"%s\" has neither exclude nor inherit", version);
      return false;
    }
  return inherit[0] == '\0'
         || version_excludes (src, inherit, out, depth + 1, why, cap);
}

/* Every .toml under ROOT/REL, as paths relative to ROOT. */
static bool
list_cases (const char *root, const char *rel, struct strs *out)
{
  char path[2048], sub[1024];
  cleanup_dir DIR *d = NULL;
  struct dirent *e;
  struct stat st;

  snprintf (path, sizeof path, "%s/%s", root, rel);
  d = opendir (path);
  if (d == NULL)
    return false;
  while ((e = readdir (d)) != NULL)
    {
      size_t n = strlen (e->d_name);
      if (e->d_name[0] == '.')
        continue;
      snprintf (sub, sizeof sub, "%s/%s", rel, e->d_name);
      snprintf (path, sizeof path, "%s/%s", root, sub);
      if (stat (path, &st) != 0)
        return false;
      if (S_ISDIR (st.st_mode))
        {
          if (!list_cases (root, sub, out))
            return false;
        }
      else if (n > 5 && strcmp (e->d_name + n - 5, ".toml") == 0)
        strs_push (out, sub, strlen (sub));
    }
  return true;
}

/* toml-test matches its patterns (Go's path.Match: '*' stops at '/')
 * against the case's path without ".toml". */
static bool
excluded (const char *name, const struct strs *patterns)
{
  char stem[1024];

  snprintf (stem, sizeof stem, "%.*s", (int)strlen (name) - 5, name);
  for (size_t i = 0; i < patterns->n; i++)
    if (fnmatch (patterns->v[i], stem, FNM_PATHNAME) == 0)
      return true;
  return false;
}

/* Reads a whole file into a buffer of exactly its size, with no NUL after
 * it, so that ASan catches any read past the end of the input. */
static char *
slurp (const char *path, size_t *len)
{
  cleanup_fclose FILE *f = fopen (path, "rb");
  char *buf;
  long n;

  if (f == NULL || fseek (f, 0, SEEK_END) != 0 || (n = ftell (f)) < 0
      || fseek (f, 0, SEEK_SET) != 0)
    return NULL;
  buf = malloc (n ? n : 1);
  if (buf == NULL || fread (buf, 1, n, f) != (size_t)n)
    {
      free (buf);
      return NULL;
    }
  *len = n;
  return buf;
}

/* A date/time reduced so that equal values compare equal as text: 'T' and
 * 'Z' upper case, trailing zeros of the fraction dropped, and offset
 * date-times moved to UTC as seconds since 0000-03-01. */
struct dt
{
  bool date, time, offset;
  int64_t seconds; /* from the date (if any) and time (if any) */
  char frac[64];   /* fractional digits without trailing zeros */
};

static int64_t
days_from_civil (int64_t y, int m, int d)
{
  /* Counting years from March puts the leap day last. */
  if (m <= 2)
    y--;
  m = m > 2 ? m - 3 : m + 9;
  return y * 365 + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 1;
}

static bool
dt_parse (const char *s, struct dt *out)
{
  int y, mo, d, h, mi, sec, n = 0;
  size_t fl;

  memset (out, 0, sizeof *out);
  if (sscanf (s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10)
    {
      out->date = true;
      out->seconds = days_from_civil (y, mo, d) * 86400;
      s += 10;
      if (*s == '\0')
        return true;
      if (*s != 'T' && *s != 't' && *s != ' ')
        return false;
      s++;
    }
  if (sscanf (s, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
    return false;
  out->time = true;
  out->seconds += h * 3600 + mi * 60 + sec;
  s += 8;
  if (*s == '.')
    {
      fl = strspn (s + 1, "0123456789");
      if (fl == 0 || fl >= sizeof out->frac)
        return false;
      memcpy (out->frac, s + 1, fl);
      while (fl > 0 && out->frac[fl - 1] == '0')
        out->frac[--fl] = '\0';
      s += 1 + strspn (s + 1, "0123456789");
    }
  if (*s == 'Z' || *s == 'z')
    {
      out->offset = true;
      s++;
    }
  else if (*s == '+' || *s == '-')
    {
      int oh, om;
      if (sscanf (s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
        return false;
      out->offset = true;
      out->seconds -= (*s == '-' ? -1 : 1) * (oh * 3600 + om * 60);
      s += 6;
    }
  return *s == '\0' && (out->offset ? out->date : true);
}

/* jansson refuses NUL in object keys, and toml-test has such a key, so
 * U+10FFFD stands in for NUL on both sides of the comparison: in the JSON
 * text for every \u0000 escape, and in TOML keys and strings. */
#define NUL_STANDIN "\xf4\x8f\xbf\xbd"
#define NUL_STANDIN_ESCAPE "\\uDBFF\\uDFFD"

static char *
with_standin (const char *s, size_t len, const char *from, size_t fl,
              const char *to, size_t *outlen)
{
  size_t tl = strlen (to), o = 0, i;
  char *out = malloc (len / fl * tl + len + 1);

  for (i = 0; i < len;)
    {
      if (len - i >= fl && memcmp (s + i, from, fl) == 0)
        {
          memcpy (out + o, to, tl);
          o += tl;
          i += fl;
        }
      /* An escaped backslash must not start an escape of its own. */
      else if (fl > 1 && s[i] == '\\' && i + 1 < len)
        {
          out[o++] = s[i++];
          out[o++] = s[i++];
        }
      else
        out[o++] = s[i++];
    }
  out[o] = '\0';
  *outlen = o;
  return out;
}

static const char *
type_tag (enum toml_type t)
{
  switch (t)
    {
    case TOML_STRING:
      return "string";
    case TOML_INTEGER:
      return "integer";
    case TOML_FLOAT:
      return "float";
    case TOML_BOOL:
      return "bool";
    case TOML_DATETIME:
      return "datetime";
    case TOML_DATETIME_LOCAL:
      return "datetime-local";
    case TOML_DATE_LOCAL:
      return "date-local";
    case TOML_TIME_LOCAL:
      return "time-local";
    default:
      return "?";
    }
}

/* Compares a scalar with toml-test's {"type": ..., "value": ...}. */
static bool
scalar_matches (const toml_value *v, json_t *j, char *why, size_t cap)
{
  json_t *jt = json_object_get (j, "type");
  json_t *jv = json_object_get (j, "value");
  const char *want, *text;

  if (!json_is_object (j) || json_object_size (j) != 2 || !json_is_string (jt)
      || !json_is_string (jv))
    {
      snprintf (why, cap, "expected a %s, JSON has something else",
                type_tag (toml_type_of (v)));
      return false;
    }
  want = json_string_value (jt);
  text = json_string_value (jv);
  if (strcmp (want, type_tag (toml_type_of (v))) != 0)
    {
      snprintf (why, cap, "type %s, JSON says %s", type_tag (toml_type_of (v)),
                want);
      return false;
    }
  switch (toml_type_of (v))
    {
    case TOML_STRING:
      {
        size_t sl;
        cleanup_free char *str = with_standin (
            toml_string (v), toml_string_len (v), "", 1, NUL_STANDIN, &sl);
        if (sl == json_string_length (jv) && memcmp (str, text, sl) == 0)
          return true;
      }
      snprintf (why, cap, "string \"%s\", JSON has \"%s\"", toml_string (v),
                text);
      return false;
    case TOML_INTEGER:
      {
        char *end;
        long long want_i;
        errno = 0;
        want_i = strtoll (text, &end, 10);
        if (errno == 0 && *end == '\0' && want_i == toml_integer (v))
          return true;
        snprintf (why, cap, "integer %" PRId64 ", JSON has %s",
                  toml_integer (v), text);
        return false;
      }
    case TOML_FLOAT:
      {
        double f = toml_float (v), want_f;
        bool ok;
        if (strcmp (text, "nan") == 0 || strcmp (text, "+nan") == 0
            || strcmp (text, "-nan") == 0)
          ok = isnan (f);
        else if (strcmp (text, "inf") == 0 || strcmp (text, "+inf") == 0)
          ok = isinf (f) && f > 0;
        else if (strcmp (text, "-inf") == 0)
          ok = isinf (f) && f < 0;
        else
          {
            want_f = strtod (text, NULL);
            ok = want_f == f && signbit (want_f) == signbit (f);
          }
        if (!ok)
          snprintf (why, cap, "float %.17g, JSON has %s", f, text);
        return ok;
      }
    case TOML_BOOL:
      if (strcmp (text, toml_bool (v) ? "true" : "false") == 0)
        return true;
      snprintf (why, cap, "bool %d, JSON has %s", toml_bool (v), text);
      return false;
    default:
      {
        struct dt a, b;
        if (dt_parse (toml_datetime (v), &a) && dt_parse (text, &b)
            && a.date == b.date && a.time == b.time && a.offset == b.offset
            && a.seconds == b.seconds && strcmp (a.frac, b.frac) == 0)
          return true;
        snprintf (why, cap, "%s %s, JSON has %s", want, toml_datetime (v),
                  text);
        return false;
      }
    }
}

/* Walks v and j together; on a mismatch writes the path and reason. */
static bool
matches (const toml_value *v, json_t *j, char *path, size_t plen, char *why,
         size_t cap)
{
  size_t i, n;

  switch (toml_type_of (v))
    {
    case TOML_TABLE:
      n = toml_table_size (v);
      if (!json_is_object (j) || json_object_size (j) != n)
        {
          snprintf (why, cap, "%s: table of %zu keys, JSON has %s%zu", path, n,
                    json_is_object (j) ? "an object of " : "no object ",
                    json_is_object (j) ? json_object_size (j) : 0);
          return false;
        }
      for (i = 0; i < n; i++)
        {
          size_t kl;
          cleanup_free char *k = with_standin (toml_table_key_at (v, i),
                                               toml_table_key_len_at (v, i), "",
                                               1, NUL_STANDIN, &kl);
          json_t *jc = json_object_getn (j, k, kl);
          size_t l = strlen (path);
          snprintf (path + l, plen - l, ".%s", k);
          if (jc == NULL)
            {
              snprintf (why, cap, "%s: not in the JSON", path);
              return false;
            }
          if (!matches (toml_table_value_at (v, i), jc, path, plen, why, cap))
            return false;
          path[l] = '\0';
        }
      return true;
    case TOML_ARRAY:
      n = toml_array_size (v);
      if (!json_is_array (j) || json_array_size (j) != n)
        {
          snprintf (why, cap, "%s: array of %zu, JSON differs", path, n);
          return false;
        }
      for (i = 0; i < n; i++)
        {
          size_t l = strlen (path);
          snprintf (path + l, plen - l, "[%zu]", i);
          if (!matches (toml_array_at (v, i), json_array_get (j, i), path, plen,
                        why, cap))
            return false;
          path[l] = '\0';
        }
      return true;
    default:
      {
        char sw[512];
        if (scalar_matches (v, j, sw, sizeof sw))
          return true;
        snprintf (why, cap, "%s: %s", path, sw);
        return false;
      }
    }
}

/* One corpus case: NULL if it behaves as the corpus says, else why not. */
static const char *
run_case (const char *dir, const char *name)
{
  static char why[4400];
  char path[2100], jpath[2100], keypath[1024] = "";
  cleanup_free char *buf = NULL;
  mp_error err = { 0 };
  bool valid = strncmp (name, "valid/", 6) == 0;
  toml_value *root;
  json_error_t jerr;
  json_t *want;
  size_t len;

  snprintf (path, sizeof path, "%s/tests/%s", dir, name);
  buf = slurp (path, &len);
  if (buf == NULL)
    return "cannot read the file";
  root = toml_parse (buf, len, &err);
  if (!valid)
    {
      if (root != NULL)
        {
          toml_free (root);
          return "accepted, but it is invalid";
        }
      if (err.code != MP_ERR_INVALID_ARGUMENT || strncmp (err.msg, "line ", 5))
        {
          snprintf (why, sizeof why, "rejected without a position: %s",
                    err.msg);
          return why;
        }
      return NULL;
    }
  if (root == NULL)
    {
      snprintf (why, sizeof why, "rejected: %s", err.msg);
      return why;
    }
  snprintf (jpath, sizeof jpath, "%.*s.json", (int)strlen (path) - 5, path);
  free (buf);
  buf = slurp (jpath, &len);
  if (buf != NULL)
    {
      size_t jl;
      cleanup_free char *text
          = with_standin (buf, len, "\\u0000", 6, NUL_STANDIN_ESCAPE, &jl);
      want = json_loadb (text, jl, 0, &jerr);
    }
  else
    want = NULL;
  if (want == NULL)
    snprintf (why, sizeof why, "cannot read %s: %s", jpath, jerr.text);
  else if (matches (root, want, keypath, sizeof keypath, why, sizeof why))
    why[0] = '\0';
  json_decref (want);
  toml_free (root);
  return why[0] ? why : NULL;
}

TEST (toml_test_corpus_1_0_0)
{
  const char *dir = corpus_dir ();
  char path[1100], tests[1100], why[512];
  struct strs patterns = { 0 }, cases = { 0 };
  int nvalid = 0, ninvalid = 0, nother = 0, passed = 0, failed = 0;
  cleanup_free char *src = NULL;
  const char *commit = "?";
  mp_error err = { 0 };
  toml_value *stamp;
  size_t len, i;

  snprintf (path, sizeof path, "%s/version.go", dir);
  src = slurp (path, &len);
  if (src == NULL)
    fprintf (stderr,
             "cannot read %s: `make unstable` fetches toml-test from Debian "
             "(or set MP_TOML_TEST_DIR to a toml-test checkout)\n",
             path);
  REQUIRE (src != NULL);
  src = realloc (src, len + 1);
  src[len] = '\0';
  if (!version_excludes (src, "1.0.0", &patterns, 0, why, sizeof why))
    fprintf (stderr, "%s: %s\n", path, why);
  /* No patterns would run 1.1.0's cases too: the file changed shape. */
  CHECK (patterns.n > 0);

  snprintf (tests, sizeof tests, "%s/tests", dir);
  CHECK (list_cases (tests, "valid", &cases));
  CHECK (list_cases (tests, "invalid", &cases));
  qsort (cases.v, cases.n, sizeof *cases.v, strs_cmp);
  for (i = 0; i < cases.n && patterns.n > 0; i++)
    {
      const char *name = cases.v[i], *fail;
      if (excluded (name, &patterns))
        {
          nother++;
          continue;
        }
      if (strncmp (name, "valid/", 6) == 0)
        nvalid++;
      else
        ninvalid++;
      fail = run_case (dir, name);
      if (fail == NULL)
        passed++;
      else
        {
          failed++;
          fprintf (stderr, "toml-test FAIL %s: %s\n", name, fail);
        }
    }
  /* Which toml-test this is, for the log (the corpus moves with unstable). */
  snprintf (path, sizeof path, "%s/tests/version.toml", dir);
  stamp = toml_parse_file (path, &err);
  if (toml_string (toml_table_get (stamp, "commit")) != NULL)
    commit = toml_string (toml_table_get (stamp, "commit"));
  printf ("toml-test %s, TOML 1.0.0: %d valid and %d invalid cases (%d of "
          "other versions left out): %d passed, %d failed\n",
          commit, nvalid, ninvalid, nother, passed, failed);
  toml_free (stamp);
  strs_free (&patterns);
  strs_free (&cases);
  /* A list this short means the corpus was not found whole. */
  CHECK (nvalid >= 200 && ninvalid >= 400);
  CHECK (failed == 0);
}

/* The reader of version.go, on the shapes that file may take. */
TEST (toml_test_version_lists)
{
  static const char go[]
      = "package tomltest\n"
        "var versions = map[string]versionSpec{\n"
        "\t\"1.1.0\": versionSpec{\n"
        "\t\texclude: []string{\"valid/spec-1.0.0/*\", // \"not/this\"\n"
        "\t\t\t\"invalid/a\",\n"
        "\t\t},\n"
        "\t},\n"
        "\t/* \"1.0.0\": versionSpec{exclude: []string{\"no\"}}, */\n"
        "\t\"1.0.0\": {\n"
        "\t\texclude: []string{`valid/spec-1.1.0/*`, \"valid/x\"},\n"
        "\t},\n"
        "\t\"1.2.0\": versionSpec{inherit: \"1.1.0\", exclude: []string{\n"
        "\t\t\"valid/y\"}},\n"
        "\t\"loop\": versionSpec{inherit: \"loop\"},\n"
        "\t\"bad\": versionSpec{exclude: []string{\"a\\\\b\"}},\n"
        "}\n";
  struct strs p = { 0 };
  char why[256];

  CHECK (version_excludes (go, "1.0.0", &p, 0, why, sizeof why));
  REQUIRE (p.n == 2);
  CHECK_STR (p.v[0], "valid/spec-1.1.0/*");
  CHECK_STR (p.v[1], "valid/x");
  CHECK (excluded ("valid/spec-1.1.0/a.toml", &p));
  CHECK (!excluded ("valid/spec-1.1.0/deeper/a.toml", &p));
  CHECK (!excluded ("valid/xx.toml", &p));
  strs_free (&p);

  CHECK (version_excludes (go, "1.2.0", &p, 0, why, sizeof why));
  REQUIRE (p.n == 3);
  CHECK_STR (p.v[0], "valid/y");
  CHECK_STR (p.v[2], "invalid/a");
  strs_free (&p);

  CHECK (!version_excludes (go, "loop", &p, 0, why, sizeof why));
  CHECK_STR (why, "versions inherit each other in a loop");
  strs_free (&p);
  CHECK (!version_excludes (go, "bad", &p, 0, why, sizeof why));
  CHECK (!version_excludes (go, "2.0.0", &p, 0, why, sizeof why));
  CHECK_STR (why, "no entry for version \"2.0.0\"");
  strs_free (&p);
}

/* ---- The API --------------------------------------------------------- */

static toml_value *
parse (const char *text, mp_error *err)
{
  size_t n = strlen (text);
  cleanup_free char *copy = malloc (n ? n : 1);

  memcpy (copy, text, n);
  return toml_parse (copy, n, err);
}

/* The message for a rejected document, or "accepted". */
static const char *
error_of (const char *text)
{
  static mp_error err;
  toml_value *v;

  mp_error_clear (&err);
  v = parse (text, &err);
  if (v != NULL)
    {
      toml_free (v);
      return "accepted";
    }
  return err.msg;
}

static const char containerd_config[]
    = "version = 2\n"
      "root = \"/var/lib/containerd\"\n"
      "\n"
      "[grpc]\n"
      "  address = \"/run/containerd/containerd.sock\"\n"
      "  max_recv_message_size = 16777216\n"
      "\n"
      "[proxy_plugins]\n"
      "  [proxy_plugins.modelpack]\n"
      "    type = \"snapshot\"\n"
      "    address = \"/run/modelpack/snapshotter.sock\"\n"
      "\n"
      "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
      "  sandbox_image = 'registry.k8s.io/pause:3.9'\n"
      "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
      "    snapshotter = \"modelpack\"\n"
      "    disable_snapshot_annotations = false\n"
      "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
      "      runtime_type = \"io.containerd.runc.v2\"\n"
      "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc."
      "options]\n"
      "        SystemdCgroup = true\n"
      "[plugins.\"io.containerd.snapshotter.v1.overlayfs\"]\n"
      "  root_path = \"\"\n"
      "  mount_options = [\"index=off\", \"metacopy=on\",]\n";

TEST (containerd_config_paths)
{
  static const char *const cri[]
      = { "plugins", "io.containerd.grpc.v1.cri", "containerd" };
  static const char *const runc[] = { "plugins",    "io.containerd.grpc.v1.cri",
                                      "containerd", "runtimes",
                                      "runc",       "options" };
  static const char *const missing[] = { "plugins", "io", "containerd" };
  mp_error err = { 0 };
  toml_value *root = parse (containerd_config, &err), *t, *a;
  const char *s = "unset";
  int64_t version = 0;
  bool b = true;

  if (root == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (root != NULL);
  CHECK (toml_get_integer (root, "version", &version, &err) == 1);
  CHECK (version == 2);
  CHECK (toml_get_table (root, "proxy_plugins", &t, &err) == 1);
  CHECK (toml_get_table (t, "modelpack", &t, &err) == 1);
  CHECK (toml_get_string (t, "type", &s, &err) == 1);
  CHECK_STR (s, "snapshot");
  CHECK (toml_get_string (t, "address", &s, &err) == 1);
  CHECK_STR (s, "/run/modelpack/snapshotter.sock");

  t = toml_get_path (root, cri, 3);
  REQUIRE (t != NULL && toml_type_of (t) == TOML_TABLE);
  CHECK (toml_get_string (t, "snapshotter", &s, &err) == 1);
  CHECK_STR (s, "modelpack");
  CHECK (toml_get_bool (t, "disable_snapshot_annotations", &b, &err) == 1);
  CHECK (b == false);
  CHECK (toml_bool (
      toml_table_get (toml_get_path (root, runc, 6), "SystemdCgroup")));
  CHECK (toml_get_path (root, missing, 3) == NULL);
  /* Through a string, not a table. */
  CHECK (toml_get_path (root, (const char *const[]){ "root", "x" }, 2) == NULL);

  t = toml_table_get (toml_table_get (root, "plugins"),
                      "io.containerd.snapshotter.v1.overlayfs");
  CHECK (toml_get_array (t, "mount_options", &a, &err) == 1);
  CHECK (toml_array_size (a) == 2);
  CHECK_STR (toml_string (toml_array_at (a, 1)), "metacopy=on");
  CHECK (toml_array_at (a, 2) == NULL);

  /* Keys come in document order. */
  REQUIRE (toml_table_size (root) == 5);
  CHECK_STR (toml_table_key_at (root, 0), "version");
  CHECK_STR (toml_table_key_at (root, 2), "grpc");
  CHECK_STR (toml_table_key_at (root, 4), "plugins");
  toml_free (root);
}

TEST (typed_getters)
{
  mp_error err = { 0 };
  toml_value *root
      = parse ("name = \"x\"\ncount = 3\non = true\nt = {}\nl = [1]\n", &err);
  const char *s = "default";
  int64_t i = 42;
  bool b = false;
  toml_value *v = NULL;

  REQUIRE (root != NULL);
  /* Absent: 0, output untouched so it can carry a default. */
  CHECK (toml_get_string (root, "nope", &s, &err) == 0);
  CHECK_STR (s, "default");
  CHECK (toml_get_integer (root, "nope", &i, &err) == 0);
  CHECK (i == 42);

  CHECK (toml_get_integer (root, "count", &i, &err) == 1 && i == 3);
  CHECK (toml_get_bool (root, "on", &b, &err) == 1 && b);
  CHECK (toml_get_table (root, "t", &v, &err) == 1 && toml_table_size (v) == 0);
  CHECK (toml_get_array (root, "l", &v, &err) == 1
         && toml_integer (toml_array_at (v, 0)) == 1);

  mp_error_clear (&err);
  CHECK (toml_get_integer (root, "name", &i, &err) == -1);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK_STR (err.msg, "\"name\" must be an integer, not a string");
  CHECK (i == 3);
  CHECK (toml_get_string (root, "count", &s, &err) == -1);
  CHECK_STR (err.msg, "\"count\" must be a string, not an integer");
  CHECK (toml_get_bool (root, "t", &b, &err) == -1);
  CHECK_STR (err.msg, "\"t\" must be a boolean, not a table");
  CHECK (toml_get_table (root, "l", &v, &err) == -1);
  CHECK_STR (err.msg, "\"l\" must be a table, not an array");
  CHECK (toml_get_array (root, "on", &v, &err) == -1);
  CHECK_STR (err.msg, "\"on\" must be an array, not a boolean");
  /* Looking up in something that is not a table is the caller's error. */
  CHECK (toml_get_string (toml_table_get (root, "count"), "x", &s, &err) == -1);

  /* The plain accessors never crash on the wrong type. */
  v = toml_table_get (root, "name");
  CHECK (toml_integer (v) == 0 && toml_array_size (v) == 0
         && toml_table_size (v) == 0 && toml_datetime (v) == NULL
         && toml_table_get (v, "x") == NULL && toml_string (NULL) == NULL);
  CHECK_STR (toml_type_name (TOML_DATE_LOCAL), "local date");
  toml_free (root);
}

TEST (errors_name_line_and_column)
{
  CHECK_STR (error_of ("a = 1\nb = 2\na = 3\n"),
             "line 3, column 1: duplicate key \"a\"");
  CHECK_STR (error_of ("[x]\ny = 1\n\n  z = tru\n"),
             "line 4, column 7: expected a value, found 't'");
  CHECK_STR (error_of ("a.b = 1\n[a]\n"),
             "line 2, column 2: cannot define table \"a\": it is already a "
             "table defined by dotted keys");
  CHECK_STR (error_of ("[t]\n[t]\n"),
             "line 2, column 2: table \"t\" is already defined");
  CHECK_STR (error_of ("t = {a = 1}\nt.b = 2\n"),
             "line 2, column 1: cannot add keys to \"t\": it is an inline "
             "table");
  CHECK_STR (error_of ("[a.\"b c\"]\nx = 1\n[a.'b c']\n"),
             "line 3, column 4: table \"a.'b c'\" is already defined");
  CHECK_STR (error_of ("s = \"\\q\""),
             "line 1, column 6: invalid escape sequence: backslash then 'q'");
  CHECK_STR (error_of ("s = \"\\uD800\""),
             "line 1, column 6: \\uD800 is not a Unicode scalar value");
  CHECK_STR (error_of ("n = 9223372036854775808"),
             "line 1, column 5: integer \"9223372036854775808\" does not fit "
             "in 64 bits");
  CHECK_STR (error_of ("d = 2021-02-29"),
             "line 1, column 5: invalid date \"2021-02-29\"");
  /* Columns count characters, not bytes. */
  CHECK_STR (error_of ("k = \"\xc3\xa9\xc3\xa9\" x"),
             "line 1, column 10: expected a newline after a value, found 'x'");
  CHECK_STR (error_of ("k = 1\n\xe3\x80\x80j = 2\n"),
             "line 2, column 1: expected a key, found U+3000");
  CHECK_STR (error_of ("k = 1\n# \xff\n"),
             "line 2, column 3: invalid UTF-8 (byte 0xff)");
  CHECK_STR (error_of ("k = 1\r\nj = 2\rx"),
             "line 2, column 6: carriage return not followed by newline");
  CHECK_STR (error_of ("t = {a = 1,\n b = 2}"),
             "line 1, column 12: expected a key, found end of line");
  CHECK_STR (error_of ("t = {a = 1\n}"),
             "line 1, column 11: expected ',' or '}' (an inline table must "
             "fit on one line), found end of line");
}

TEST (scalars)
{
  mp_error err = { 0 };
  toml_value *root
      = parse ("nul = \"a\\u0000b\"\n"
               "min = -9_223_372_036_854_775_808\n"
               "max = 0x7FFF_FFFF_FFFF_FFFF\n"
               "bin = 0b1010\n"
               "oct = 0o755\n"
               "f = -1_000.5e-3\n"
               "ninf = -inf\n"
               "odt = 1979-05-27 07:32:00.999000z\n"
               "ldt = 1979-05-27t07:32:00\n"
               "ld = 1979-05-27\n"
               "lt = 00:32:00.5\n"
               "off = 1979-05-27T00:32:00-07:00\n"
               "ml = \"\"\"\r\nline\r\n  two \\\r\n\r\n   joined\"\"\"\"\n"
               "lit = '''\n\\n''''\n"
               "\"\\u0000\" = 1\n",
               &err);
  toml_value *v;

  if (root == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (root != NULL);
  v = toml_table_get (root, "nul");
  CHECK (toml_string_len (v) == 3 && memcmp (toml_string (v), "a\0b", 4) == 0);
  CHECK (toml_integer (toml_table_get (root, "min")) == INT64_MIN);
  CHECK (toml_integer (toml_table_get (root, "max")) == INT64_MAX);
  CHECK (toml_integer (toml_table_get (root, "bin")) == 10);
  CHECK (toml_integer (toml_table_get (root, "oct")) == 0755);
  CHECK (toml_float (toml_table_get (root, "f")) == -1.0005);
  CHECK (isinf (toml_float (toml_table_get (root, "ninf"))));
  v = toml_table_get (root, "odt");
  CHECK (toml_type_of (v) == TOML_DATETIME);
  CHECK_STR (toml_datetime (v), "1979-05-27T07:32:00.999000Z");
  v = toml_table_get (root, "ldt");
  CHECK (toml_type_of (v) == TOML_DATETIME_LOCAL);
  CHECK_STR (toml_datetime (v), "1979-05-27T07:32:00");
  CHECK (toml_type_of (toml_table_get (root, "ld")) == TOML_DATE_LOCAL);
  CHECK (toml_type_of (toml_table_get (root, "lt")) == TOML_TIME_LOCAL);
  CHECK_STR (toml_datetime (toml_table_get (root, "lt")), "00:32:00.5");
  CHECK_STR (toml_datetime (toml_table_get (root, "off")),
             "1979-05-27T00:32:00-07:00");
  CHECK_STR (toml_string (toml_table_get (root, "ml")), "line\n  two joined\"");
  CHECK_STR (toml_string (toml_table_get (root, "lit")), "\\n'");
  /* A key holding NUL is found by length, and by C string not at all. */
  CHECK (toml_integer (toml_table_getn (root, "\0", 1)) == 1);
  CHECK (toml_table_get (root, "") == NULL);
  toml_free (root);

  CHECK_STR (error_of ("n = -9223372036854775809"),
             "line 1, column 5: integer \"-9223372036854775809\" does not fit "
             "in 64 bits");
  CHECK_STR (error_of ("n = 0x8000000000000000"),
             "line 1, column 5: integer \"0x8000000000000000\" does not fit "
             "in 64 bits");
  CHECK_STR (error_of ("f = 1e400"),
             "line 1, column 5: float \"1e400\" is out of range");
  CHECK_STR (error_of ("n = 1__0"),
             "line 1, column 5: invalid number \"1__0\"");
  CHECK_STR (error_of ("n = +_1"), "line 1, column 5: invalid number \"+_1\"");
  CHECK_STR (error_of ("n = 1._5"),
             "line 1, column 5: invalid number \"1._5\": digits must follow "
             "the decimal point");
  CHECK_STR (error_of ("n = -0x1"),
             "line 1, column 5: invalid number \"-0x1\": a sign is not allowed "
             "with 0x, 0o or 0b");
  CHECK_STR (error_of ("t = 07:32"),
             "line 1, column 5: invalid time: expected HH:MM:SS");
}

TEST (tables_and_arrays_of_tables)
{
  mp_error err = { 0 };
  toml_value *root = parse ("[[fruit]]\nname = 'apple'\n"
                            "[fruit.physical]\ncolor = 'red'\n"
                            "[[fruit.variety]]\nname = 'red delicious'\n"
                            "[[fruit]]\nname = 'banana'\n"
                            "[a.b.c]\n[a]\nx = 1\n"
                            "[d]\ne.f = 1\n[d.e.g]\n",
                            &err);
  toml_value *fruit;

  if (root == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (root != NULL);
  fruit = toml_table_get (root, "fruit");
  REQUIRE (toml_array_size (fruit) == 2);
  CHECK_STR (toml_string (toml_get_path (
                 toml_array_at (fruit, 0),
                 (const char *const[]){ "physical", "color" }, 2)),
             "red");
  CHECK_STR (toml_string (toml_table_get (toml_array_at (fruit, 1), "name")),
             "banana");
  CHECK (
      toml_integer (toml_get_path (root, (const char *const[]){ "a", "x" }, 2))
      == 1);
  CHECK (toml_get_path (root, (const char *const[]){ "d", "e", "g" }, 3)
         != NULL);
  toml_free (root);

  /* What may not be added to later. */
  CHECK (strcmp (error_of ("a = [1]\n[[a]]\n"), "accepted") != 0);
  CHECK (strcmp (error_of ("[[a]]\n[a]\n"), "accepted") != 0);
  CHECK (strcmp (error_of ("a = {}\n[a.b]\n"), "accepted") != 0);
  CHECK (strcmp (error_of ("[a.b]\nc=1\n[a]\nb.d = 2\n"), "accepted") != 0);
  CHECK (strcmp (error_of ("x = {a.b = 1, a = 2}\n"), "accepted") != 0);
  CHECK (strcmp (error_of ("x = {a = {}, a.b = 1}\n"), "accepted") != 0);
  CHECK_STR (error_of ("x = {a.b = 1, a.c = 2}\n[y]\n"), "accepted");
  CHECK_STR (error_of ("[[a.b]]\n[a]\n[[a.b]]\n"), "accepted");
  /* A table a header only implied is not defined yet: dotted keys may
   * define it (as Python's tomllib agrees), and then no header may. */
  CHECK_STR (error_of ("[a.b.c]\n[a]\nb.d = 1\n"), "accepted");
  CHECK (strcmp (error_of ("[a.b.c]\n[a]\nb.d = 1\n[a.b]\n"), "accepted") != 0);
}

/* Hostile shapes: deep nesting is refused without deep recursion, and many
 * keys stay fast. */
TEST (limits)
{
  size_t n = 200000, i;
  cleanup_free char *buf = malloc (n * 2 + 16);
  char *p;
  mp_error err = { 0 };
  toml_value *root;

  /* TOML_MAX_DEPTH nested arrays are fine, one more is not. */
  p = buf + sprintf (buf, "a = ");
  for (i = 0; i < TOML_MAX_DEPTH; i++)
    *p++ = '[';
  for (i = 0; i < TOML_MAX_DEPTH; i++)
    *p++ = ']';
  root = toml_parse (buf, p - buf, &err);
  CHECK (root != NULL);
  toml_free (root);
  p = buf + sprintf (buf, "a = ");
  for (i = 0; i <= TOML_MAX_DEPTH; i++)
    *p++ = '[';
  for (i = 0; i <= TOML_MAX_DEPTH; i++)
    *p++ = ']';
  CHECK (toml_parse (buf, p - buf, &err) == NULL);
  CHECK (strstr (err.msg, "nest deeper than 128 levels") != NULL);

  /* Unclosed brackets far beyond the cap. */
  p = buf + sprintf (buf, "a = ");
  for (i = 0; i < n; i++)
    *p++ = i % 2 ? '{' : '[';
  CHECK (toml_parse (buf, p - buf, &err) == NULL);

  /* A dotted key and a header as deep. */
  p = buf;
  for (i = 0; i < n / 4; i++)
    p += sprintf (p, "a.");
  p += sprintf (p, "a = 1");
  CHECK (toml_parse (buf, p - buf, &err) == NULL);
  CHECK (strstr (err.msg, "deeper than 128 levels") != NULL);
  p = buf + sprintf (buf, "[a");
  for (i = 0; i < n / 4; i++)
    p += sprintf (p, ".a");
  p += sprintf (p, "]");
  CHECK (toml_parse (buf, p - buf, &err) == NULL);
  CHECK (strstr (err.msg, "deeper than 128 levels") != NULL);
  free (steal_pointer (&buf));

  /* Many keys in one table: linear, and all found. */
  {
    size_t nkeys = 100000;
    cleanup_free char *doc = malloc (nkeys * 24);
    clock_t t0 = clock ();
    char key[32];
    p = doc;
    for (i = 0; i < nkeys; i++)
      p += sprintf (p, "k%zu = %zu\n", i, i);
    root = toml_parse (doc, p - doc, &err);
    REQUIRE (root != NULL);
    CHECK (toml_table_size (root) == nkeys);
    for (i = 0; i < nkeys; i += 997)
      {
        snprintf (key, sizeof key, "k%zu", i);
        CHECK (toml_integer (toml_table_get (root, key)) == (int64_t)i);
      }
    CHECK (toml_table_get (root, "k100000") == NULL);
    toml_free (root);
    /* Quadratic lookups would take minutes even without sanitizers. */
    CHECK ((clock () - t0) / CLOCKS_PER_SEC < 20);
  }
}

TEST (parse_file)
{
  char path[] = "/tmp/test_toml_XXXXXX";
  int fd = mkstemp (path);
  mp_error err = { 0 };
  toml_value *root;
  static const char body[] = "\xef\xbb\xbfk = 'v'\nbad = \n";

  REQUIRE (fd >= 0);
  REQUIRE (write (fd, body, 11) == 11);
  root = toml_parse_file (path, &err);
  CHECK (root != NULL);
  CHECK_STR (toml_string (toml_table_get (root, "k")), "v");
  toml_free (root);

  REQUIRE (write (fd, body + 11, sizeof body - 12)
           == (ssize_t)sizeof body - 12);
  close (fd);
  CHECK (toml_parse_file (path, &err) == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strncmp (err.msg, path, strlen (path)) == 0);
  CHECK (strstr (err.msg, ": line 2, column 7: expected a value") != NULL);
  unlink (path);

  CHECK (toml_parse_file (path, &err) == NULL);
  CHECK (err.code == MP_ERR_NOT_FOUND && err.sys_errno == ENOENT);
}

TEST_MAIN (T (toml_test_corpus_1_0_0), T (toml_test_version_lists),
           T (containerd_config_paths), T (typed_getters),
           T (errors_name_line_and_column), T (scalars),
           T (tables_and_arrays_of_tables), T (limits), T (parse_file))
