/* Tests for util/filter: containerd's snapshot walk cases, the cases of
 * containerd's own filter tests, and the corners of its scanner. */
#include <stdarg.h>
#include <string.h>

#include "tests/harness.h"
#include "util/filter.h"

/* The snapshots containerd's testsuite checkWalk creates. */
#define GC "containerd.io/gc.root"
static const char *const gc_keys[] = { GC };
static const char *const gc_values[] = { "check-walk" };
static const char *const l_keys[] = { "l", GC };
static const char *const l1[] = { "1", "check-walk" };
static const char *const l2[] = { "2", "check-walk" };
static const char *const l3[] = { "3", "check-walk" };

static const struct mp_filter_snapshot_fields walk[] = {
  { "a-np", "", "active", gc_keys, gc_values, 1 },
  { "p", "", "committed", gc_keys, gc_values, 1 },
  { "a", "p", "active", gc_keys, gc_values, 1 },
  { "v", "p", "view", gc_keys, gc_values, 1 },
  { "p-wl", "", "committed", l_keys, l1, 2 },
  { "a-wl", "p-wl", "active", l_keys, l2, 2 },
  { "v-wl", "p-wl", "view", l_keys, l3, 2 },
  { "a-np-wl", NULL, "active", l_keys, l2, 2 },
};
#define NWALK (sizeof walk / sizeof walk[0])

/* Names of the walk snapshots that f matches, space-separated, in order. */
static const char *
matching (const mp_filter *f)
{
  static char out[256];
  size_t i;

  out[0] = '\0';
  for (i = 0; i < NWALK; i++)
    if (mp_filter_match (f, mp_filter_snapshot_field, (void *)&walk[i]))
      {
        if (out[0])
          strcat (out, " ");
        strcat (out, walk[i].name);
      }
  return out;
}

/* Parse the NULL-terminated filter strings and return what they match, or
 * "ERROR: <message>". */
static const char *
run (const char *first, ...)
{
  static char out[1100];
  const char *filters[16];
  size_t n = 0;
  mp_error err = { 0 };
  mp_filter *f;
  va_list ap;

  va_start (ap, first);
  for (const char *s = first; s != NULL; s = va_arg (ap, const char *))
    filters[n++] = s;
  va_end (ap);

  f = mp_filter_parse (filters, n, &err);
  if (f == NULL)
    {
      snprintf (out, sizeof out, "ERROR: %s", err.msg);
      return out;
    }
  snprintf (out, sizeof out, "%s", matching (f));
  mp_filter_free (f);
  return out;
}

/* Parsing fails with InvalidArgument and a message containing each of the
 * given fragments (the offset, what was expected). */
static int
rejected (const char *filter, const char *frag1, const char *frag2)
{
  mp_error err = { 0 };
  mp_filter *f = mp_filter_parse (&filter, 1, &err);

  if (f != NULL)
    {
      fprintf (stderr, "accepted: %s\n", filter);
      mp_filter_free (f);
      return 0;
    }
  if (err.code != MP_ERR_INVALID_ARGUMENT
      || (frag1 && strstr (err.msg, frag1) == NULL)
      || (frag2 && strstr (err.msg, frag2) == NULL))
    {
      fprintf (stderr, "%s -> [%s] %s\n", filter, mp_errcode_name (err.code),
               err.msg);
      return 0;
    }
  return 1;
}

TEST (test_containerd_walk_cases)
{
  CHECK_STR (run ("labels.\"containerd.io/gc.root\"==check-walk", NULL),
             "a-np p a v p-wl a-wl v-wl a-np-wl");
  CHECK_STR (
      run ("kind==active,labels.\"containerd.io/gc.root\"==check-walk", NULL),
      "a-np a a-wl a-np-wl");
  CHECK_STR (
      run ("kind==view,labels.\"containerd.io/gc.root\"==check-walk", NULL),
      "v v-wl");
  CHECK_STR (run ("kind==committed,labels.\"containerd.io/gc.root\"=="
                  "check-walk",
                  NULL),
             "p p-wl");
  CHECK_STR (run ("name==p", "name==a-np-wl", NULL), "p a-np-wl");
  CHECK_STR (run ("name==a-wl,labels.l", NULL), "a-wl");
  CHECK_STR (run ("parent==p", NULL), "a v");
  CHECK_STR (
      run ("parent!=\"\",labels.\"containerd.io/gc.root\"==check-walk", NULL),
      "a v a-wl v-wl");
  CHECK_STR (run ("labels.l", NULL), "p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("labels.l==2", NULL), "a-wl a-np-wl");
}

TEST (test_match_all)
{
  mp_error err = { 0 };
  mp_filter *f = mp_filter_parse (NULL, 0, &err);

  REQUIRE (f != NULL);
  CHECK_STR (matching (f), "a-np p a v p-wl a-wl v-wl a-np-wl");
  mp_filter_free (f);
  /* An empty string is containerd's "always", even next to others. */
  CHECK_STR (run ("", NULL), "a-np p a v p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("name==p", "", NULL), "a-np p a v p-wl a-wl v-wl a-np-wl");
  /* ... but the others must still be valid. */
  CHECK (strncmp (run ("", "name=", NULL), "ERROR: filter 2 of 2: ", 22) == 0);
}

TEST (test_or_and)
{
  CHECK_STR (run ("kind==view", "kind==committed,labels.l", NULL),
             "v p-wl v-wl");
  CHECK_STR (run ("kind==view,labels.l==3", "name==a", "name==nope", NULL),
             "a v-wl");
  CHECK_STR (run ("kind==view,kind==active", NULL), "");
  CHECK_STR (run ("name==p, kind==committed", NULL), "p");
}

TEST (test_presence_and_absence)
{
  /* containerd reports name and parent as always present. */
  CHECK_STR (run ("parent", NULL), "a-np p a v p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("parent==\"\"", NULL), "a-np p p-wl a-np-wl");
  CHECK_STR (run ("kind", NULL), "a-np p a v p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("nosuchfield", NULL), "");
  /* != does not need the field: absent reads as "". */
  CHECK_STR (run ("labels.l!=2", NULL), "a-np p a v p-wl v-wl");
  CHECK_STR (run ("labels.l!=\"\"", NULL), "p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("nosuchfield!=x", NULL), "a-np p a v p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("labels.l==\"\"", NULL), "");
  /* Only the first component counts for name, as in containerd. */
  CHECK_STR (run ("name.whatever==p", NULL), "p");
}

TEST (test_quoted_label_keys)
{
  static const char *const keys[]
      = { "a.b", "more complex label", "with \\ and \"", "é" };
  static const char *const values[] = { "dot", "present", "odd", "accent" };
  const struct mp_filter_snapshot_fields s
      = { "s", "", "active", keys, values, 4 };
  static const struct
  {
    const char *filter;
    int match;
  } cases[] = {
    { "labels.\"a.b\"==dot", 1 },
    { "labels.a.b==dot", 1 },
    { "labels.\"a\".b", 1 },
    { "labels.\"a\\x2eb\"", 1 },
    { "labels.a", 0 },
    { "labels.\"more complex label\"==present", 1 },
    { "labels.\"with \\\\ and \\\"\"==odd", 1 },
    { "labels.\"\\u00e9\"==accent", 1 },
    { "labels.\"\\303\\251\"==accent", 1 },
    { "labels.\"\\U000000e9\"", 1 },
    { "labels. \"a.b\"", 1 },
    { "labels.\"\"", 0 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      mp_error err = { 0 };
      mp_filter *f = mp_filter_parse (&cases[i].filter, 1, &err);
      if (f == NULL)
        {
          fprintf (stderr, "%s: %s\n", cases[i].filter, err.msg);
          CHECK (f != NULL);
          continue;
        }
      if (mp_filter_match (f, mp_filter_snapshot_field, (void *)&s)
          != cases[i].match)
        {
          fprintf (stderr, "wrong answer for %s\n", cases[i].filter);
          CHECK (0);
        }
      mp_filter_free (f);
    }
}

TEST (test_values)
{
  /* Bare values run to ',' or whitespace and may hold punctuation. */
  static const char *const keys[] = { "v", "sp" };
  static const char *const values[]
      = { "omg_asdf.asdf-qwer=\"x\"/|", "too complex, yo" };
  const struct mp_filter_snapshot_fields s
      = { "s", "", "active", keys, values, 2 };
  static const struct
  {
    const char *filter;
    int match;
  } cases[] = {
    { "labels.v==omg_asdf.asdf-qwer=\"x\"/|", 1 },
    { "labels.v==omg_asdf", 0 },
    { "labels.sp==\"too complex, yo\"", 1 },
    { "labels.sp == \"too complex, yo\"", 1 },
    { "labels.sp==\"too complex,\\x20yo\"", 1 },
    /* A NUL from an escape never equals a C string... */
    { "name==\"s\\x00\"", 0 },
    /* ... so it is always unequal. */
    { "name!=\"s\\x00\"", 1 },
    /* NBSP is whitespace to Go, so it may precede a value. */
    { "name==\xc2\xa0s", 1 },
    { "name==s", 1 },
    { "name==S", 0 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      mp_error err = { 0 };
      mp_filter *f = mp_filter_parse (&cases[i].filter, 1, &err);
      if (f == NULL)
        {
          fprintf (stderr, "%s: %s\n", cases[i].filter, err.msg);
          CHECK (f != NULL);
          continue;
        }
      if (mp_filter_match (f, mp_filter_snapshot_field, (void *)&s)
          != cases[i].match)
        {
          fprintf (stderr, "wrong answer for %s\n", cases[i].filter);
          CHECK (0);
        }
      mp_filter_free (f);
    }
}

TEST (test_regex)
{
  CHECK_STR (run ("name~=^a-", NULL), "a-np a-wl a-np-wl");
  CHECK_STR (run ("name~=/^(a|v)$/", NULL), "a v");
  CHECK_STR (run ("name~=|^p|", NULL), "p p-wl");
  CHECK_STR (run ("name~=\"wl$\"", NULL), "p-wl a-wl v-wl a-np-wl");
  CHECK_STR (run ("name~=[[:digit:]]", NULL), "");
  CHECK_STR (run ("labels.l~=[23]", NULL), "a-wl v-wl a-np-wl");
  /* Absent fields are matched as "". */
  CHECK_STR (run ("labels.l~=^$", NULL), "a-np p a v");
  CHECK_STR (run ("kind~=/^(view|committed)$/,labels.l", NULL), "p-wl v-wl");
  /* A slash inside /.../ is escaped; a regex backslash is doubled. */
  CHECK_STR (run ("name~=/^a\\/?-np$/", NULL), "a-np");
  CHECK_STR (run ("name~=/^a\\\\-np$/", NULL), "a-np");
  CHECK_STR (run ("name~=^a\\-np$", NULL), "a-np");
  /* containerd's "garbage" case: valid, matches nothing. */
  CHECK_STR (run ("name~=/[abc]{0,1}\"\\//,name!=foo", NULL), "");
  /* A bare value ends at ',', so intervals with a comma need quoting. */
  CHECK_STR (run ("name~=/a{1,1000}/", NULL), "a-np a a-wl a-np-wl");
  CHECK (rejected ("name~=a{1,1000}", "offset 6", "Unmatched"));
  CHECK_STR (run ("name~=((a){10}){10}|p", NULL), "a-np p p-wl a-np-wl");
  /* Optional parts may be repeated a bounded number of times. */
  CHECK_STR (run ("name~=/^(a-?)?(n?p?){2}-?(w?l?){0,3}$/", NULL),
             "a-np p a p-wl a-wl a-np-wl");
  CHECK_STR (run ("name~=(-wl)+$", NULL), "p-wl a-wl v-wl a-np-wl");
}

TEST (test_syntax_errors)
{
  /* Unterminated quotes, in a field and in a value. */
  CHECK (rejected ("labels.\"abc", "offset 7", "not terminated"));
  CHECK (rejected ("labels.ns/key==value", "offset 9", "must be quoted"));
  CHECK (rejected ("labels.key==/value", "offset 12", "not terminated"));
  CHECK (rejected ("name==\"a\nb\"", "offset 6", "not terminated"));
  /* Missing values. */
  CHECK (rejected ("name==", "offset 6 (end of input)", "expected a value"));
  CHECK (rejected ("image~=,id?=?fbaq", "offset 7", "expected a value"));
  CHECK (rejected ("name==.x", "offset 6", "expected a value"));
  CHECK (rejected ("name== ", "offset 7", "expected a value"));
  /* Bad operators. */
  CHECK (rejected ("name=p", "offset 4", "unsupported operator \"=\""));
  CHECK (rejected ("name===p", "offset 4", "unsupported operator \"===\""));
  CHECK (rejected ("name=!p", "offset 4", "unsupported operator"));
  CHECK (rejected ("name<p", "offset 4", "expected an operator"));
  CHECK (rejected ("name p", "offset 5", "expected an operator"));
  /* As in containerd, the operator runs over all of "=!~". */
  CHECK (rejected ("name==!p", "offset 4", "unsupported operator \"==!\""));
  CHECK (rejected ("name== !p", "offset 7", "expected a value"));
  /* Bad fields and separators. */
  CHECK (rejected (" ", "offset 1", "expected a field name"));
  CHECK (rejected ("name==foo,", "offset 10", "expected a field name"));
  CHECK (rejected ("labels.", "offset 7", "expected a field name"));
  CHECK (rejected (",name", "offset 0", "expected a field name"));
  CHECK (rejected ("a,,b", "offset 2", "expected a field name"));
  CHECK (rejected ("labels.?\"x\".post==present", "offset 7",
                   "expected a field name"));
  CHECK (rejected ("labels .l", "offset 7", "expected an operator"));
  CHECK (rejected ("name==p ", "offset 7", "whitespace"));
  CHECK (rejected ("name==p ,kind", "offset 7", "expected ','"));
  CHECK (rejected ("name ", "offset 5", "expected an operator"));
  CHECK (rejected ("name==\"p\"x", "offset 9", "expected ','"));
  /* Alternative quotes only for regular expressions. */
  CHECK (rejected ("labels.|foo|==x", "offset 7", "only for ~="));
  CHECK (rejected ("name==/p/", "offset 6", "only for ~="));
  /* Escapes. */
  CHECK (rejected ("name==\"\\q\"", "offset 7", "invalid escape"));
  CHECK (rejected ("name==\"\\/\"", "offset 7", "invalid escape"));
  CHECK (rejected ("name==\"\\'\"", "offset 7", "invalid escape"));
  CHECK (rejected ("name==\"\\400\"", "offset 7", "\\377"));
  CHECK (rejected ("name==\"\\12\"", "offset 7", "three digits"));
  CHECK (rejected ("name==\"\\x4\"", "offset 7", "hex digits"));
  CHECK (rejected ("name==\"\\u12\"", "offset 7", "hex digits"));
  CHECK (rejected ("name==\"\\U00110000\"", "offset 7", "U+10FFFF"));
  CHECK (rejected ("name==\"abc\\", "offset 6", NULL));
  CHECK (rejected ("labels.\"a\\x00b\"", "offset 7", "NUL"));
  /* Text that is not UTF-8, and U+FFFD, which containerd cannot tell
   * apart from broken text. */
  CHECK (rejected ("name==\xff", "offset 6", "UTF-8"));
  CHECK (rejected ("name==\xed\xa0\x80", "offset 6", "UTF-8"));
  CHECK (rejected ("name==\xef\xbf\xbd", "offset 6", "U+FFFD"));
  /* A format character cannot continue a bare value. */
  CHECK (rejected ("name==a\xe2\x80\x8b", "offset 7", "expected ','"));
  /* Every message quotes the filter. */
  CHECK (rejected ("name=p", "invalid filter \"name=p\"", "(at \"=p\")"));
}

TEST (test_regex_errors)
{
  CHECK (rejected ("name~=(", "offset 6", "invalid regular expression"));
  CHECK (rejected ("name~=/a[/", "offset 6", "invalid regular expression"));
  CHECK (rejected ("name~=*a", "offset 6", "invalid regular expression"));
  CHECK (rejected ("name~=/(a)\\\\1/", "offset 6", "backreferences"));
  CHECK (rejected ("name~=a{1001}", "offset 6", "larger than 1000"));
  CHECK (rejected ("name~=a{99999999999999999999999}", "offset 6",
                   "larger than 1000"));
  /* Found by the fuzzer: a long count without its closing brace. */
  CHECK (
      rejected ("name~=/a{5558088/", "offset 6", "invalid regular expression"));
  CHECK (rejected ("name~=(a{100}){11}", "offset 6", "multiply"));
  CHECK (rejected ("name~=((a{10}){10}){11}", "offset 6", "multiply"));
  CHECK (rejected ("name~=/(((a{10}){10}){1,10})/", "offset 6", "too large"));
  /* Loops around what can match "", which glibc compiles in exponential
   * time; the fuzzer found these. */
  CHECK (rejected ("name~=/a{,3}/", "offset 6", "write {0,n}"));
  CHECK_STR (run ("name~=/^a{0,1}-np$/", NULL), "a-np");
  CHECK (rejected ("name~=(a*)*", "offset 6", "empty string"));
  CHECK (rejected ("name~=/(a|)+/", "offset 6", "empty string"));
  CHECK (rejected ("name~=/((c?|d?)+){20}/", "offset 6", "empty string"));
  CHECK (rejected ("name~=(^)*", "offset 6", "empty string"));
  CHECK (rejected ("name~=/(a?){2,}/", "offset 6", "empty string"));
  CHECK (rejected ("name~=c'++++?+++++++++", "offset 6", "empty string"));
  CHECK (rejected ("name~=(abcdefghijklmnopqrstuvwxyz){1000}", "offset 6",
                   "too large"));
  CHECK (rejected ("name~=\"a\\x00\"", "offset 6", "NUL"));
  /* Inside brackets a backslash is literal, so this is no backreference. */
  CHECK_STR (run ("name~=[\\1]", NULL), "");
}

TEST (test_snapshot_field)
{
  static const char *const keys[] = { "a.b.c", "" };
  static const char *const values[] = { "abc", "empty" };
  const struct mp_filter_snapshot_fields s
      = { "n", NULL, NULL, keys, values, 2 };
  const char *p1[] = { "labels", "a", "b", "c" };
  const char *p2[] = { "labels", "a.b", "c" };
  const char *p3[] = { "labels", "a", "b" };
  const char *p4[] = { "labels" };
  const char *p5[] = { "parent" };
  const char *p6[] = { "kind" };
  const char *p7[] = { "Name" };
  int present = -1;

  CHECK_STR (mp_filter_snapshot_field ((void *)&s, p1, 4, &present), "abc");
  CHECK (present == 1);
  CHECK_STR (mp_filter_snapshot_field ((void *)&s, p2, 3, &present), "abc");
  CHECK (present == 1);
  mp_filter_snapshot_field ((void *)&s, p3, 3, &present);
  CHECK (present == 0);
  CHECK_STR (mp_filter_snapshot_field ((void *)&s, p4, 1, &present), "empty");
  CHECK (present == 1);
  CHECK_STR (mp_filter_snapshot_field ((void *)&s, p5, 1, &present), "");
  CHECK (present == 1);
  mp_filter_snapshot_field ((void *)&s, p6, 1, &present);
  CHECK (present == 0);
  mp_filter_snapshot_field ((void *)&s, p7, 1, &present);
  CHECK (present == 0);
}

TEST (test_error_names_filter_of_many)
{
  mp_error err = { 0 };
  const char *filters[] = { "name==a", "kind==view", "labels.\"x" };

  CHECK (mp_filter_parse (filters, 3, &err) == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "filter 3 of 3: ") == err.msg);
  CHECK (strstr (err.msg, "\"labels.\"x\"") != NULL);
}

TEST_MAIN (T (test_containerd_walk_cases), T (test_match_all), T (test_or_and),
           T (test_presence_and_absence), T (test_quoted_label_keys),
           T (test_values), T (test_regex), T (test_syntax_errors),
           T (test_regex_errors), T (test_snapshot_field),
           T (test_error_names_filter_of_many))
