/* containerd's filter language, as used by the `filters` field of List RPCs.
 *
 * A filter string is a comma-separated list of selectors that must all match;
 * several filter strings are alternatives (any one matching is enough); no
 * filter strings, or an empty string among them, matches everything.
 *
 *   selector  := fieldpath [ operator value ]
 *   fieldpath := field { "." field }
 *   field     := [A-Za-z0-9_]+ | "..."
 *   operator  := "==" | "!=" | "~="
 *   value     := bare | "..."        ("/.../" and "|...|" also for ~=)
 *
 * Without an operator the selector asks whether the field is present.
 * `==` needs the field present and equal; `!=` compares the value alone (an
 * absent field reads as ""); `~=` searches the value with a regular
 * expression.  Quoted strings take Go-style escapes (\n, \t, \\, \", \x41,
 * \101, \u00e9, ...).  As in containerd, whitespace may come before a field,
 * an operator or a value, but not before "," or "." nor at the end.
 *
 * Regular expressions are POSIX extended (regcomp), not Go's RE2: (?i) is
 * refused and \d means a plain d (use [[:digit:]] and friends), and the two
 * differ on odd corners such as a leading ^? or an unmatched ")".
 * Unlike containerd, which silently matches nothing when a pattern does not
 * compile, a bad pattern is rejected when the filter is parsed, and so are
 * patterns that would cost glibc too much: counts above 1000, expansions
 * beyond a few thousand nodes, loops around what can match "" such as
 * (a*)+, backreferences, and x{,n} (literal text to RE2).
 *
 * Every parse failure is MP_ERR_INVALID_ARGUMENT with a message that shows
 * where in which filter string the problem is.  Two more differences from
 * containerd's parser, both on odd input: code points unassigned in Go's
 * Unicode tables may continue a bare value here, and a quoted field name
 * may not contain a NUL (the lookup function takes C strings). */
#ifndef MP_UTIL_FILTER_H
#define MP_UTIL_FILTER_H

#include <stddef.h>

#include "util/error.h"

typedef struct mp_filter mp_filter;

/* Parse n filter strings into one filter.  Returns NULL and fills *err when
 * any of them is malformed. */
mp_filter *mp_filter_parse (const char *const *filters, size_t n,
                            mp_error *err);

/* The caller's view of one object: look up the field at path (components
 * unquoted, npath >= 1), set *present, and return its value.  An absent
 * field may return NULL or "". */
typedef const char *(*mp_filter_field_fn) (void *ctx, const char *const *path,
                                           size_t npath, int *present);

/* 1 if the object seen through field(ctx, ...) matches, 0 if not.  A parsed
 * filter is not modified by matching, so threads may share one. */
int mp_filter_match (const mp_filter *f, mp_filter_field_fn field, void *ctx);

void mp_filter_free (mp_filter *f);

/* The fields containerd's metadata store exposes for a snapshot:
 *   name, parent  always present (possibly ""), as containerd has it, so
 *                 `parent==""` selects the snapshots without a parent;
 *   kind          "active", "view" or "committed"; absent when NULL;
 *   labels.<key>  present when the label exists; the path after "labels" is
 *                 joined with "." to form the key, so labels.a.b and
 *                 labels."a.b" both name the label "a.b".
 * Anything else is absent.  NULL name or parent reads as "". */
struct mp_filter_snapshot_fields
{
  const char *name;
  const char *parent;
  const char *kind;
  const char *const *label_keys;
  const char *const *label_values;
  size_t nlabels;
};

/* An mp_filter_field_fn whose ctx is a struct mp_filter_snapshot_fields. */
const char *mp_filter_snapshot_field (void *ctx, const char *const *path,
                                      size_t npath, int *present);

#endif
