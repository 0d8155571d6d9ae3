/* registry/link: next-page links of registry lists, as registries write
 * them and as a hostile one might. */
#include <string.h>

#include "harness.h"
#include "registry/link.h"

#define D                                                                      \
  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *
next_of (const char *header)
{
  static char out[512];

  return registry_link_next (header, out, sizeof out) ? out : NULL;
}

TEST (test_link_next_forms)
{
  CHECK_STR (next_of ("</v2/a/referrers/" D "?n=1&last=x>; rel=\"next\""),
             "/v2/a/referrers/" D "?n=1&last=x");
  CHECK_STR (next_of ("<https://r.example/v2/a/tags/list?last=b>;rel=next"),
             "https://r.example/v2/a/tags/list?last=b");
  /* Another link first, several relation types, any case, spaces. */
  CHECK_STR (next_of ("</first>; rel=\"prev\", </n2> ; title=\"a, b; rel=next\""
                      " ; REL = \"last NEXT\""),
             "/n2");
  CHECK_STR (next_of ("</p>; rel=prev, </q>; rel=\"next\""), "/q");
  /* Not a next link. */
  CHECK (next_of ("</p>; rel=\"prev\"") == NULL);
  CHECK (next_of ("</p>; rel=\"nextpage\"") == NULL);
  CHECK (next_of ("</p>; xrel=next") == NULL);
  CHECK (next_of ("</p>; title=\"rel=next\"") == NULL);
  CHECK (next_of ("/p; rel=next") == NULL);
  CHECK (next_of ("</p; rel=next") == NULL);
  CHECK (next_of ("") == NULL);
  CHECK (next_of ("<>; rel=next") != NULL && next_of ("<>; rel=next")[0] == 0);
  /* Bounded: a URI longer than OUT is not cut, it is refused. */
  {
    char big[2048], out[64];
    memset (big, 'a', sizeof big);
    big[0] = '<';
    memcpy (big + sizeof big - 12, ">;rel=next", 11);
    CHECK (!registry_link_next (big, out, sizeof out));
  }
  /* Unterminated quotes and odd separators end without reading past. */
  CHECK (next_of ("</p>; rel=\"next") != NULL);
  CHECK (next_of ("</p>; =; ;;, ,<") == NULL);
}

TEST (test_referrers_next_query)
{
  const char *q;

  q = registry_referrers_next_query ("/v2/ml/m/referrers/" D "?n=1&last=x",
                                     "ml/m", D);
  CHECK_STR (q, "?n=1&last=x");
  /* Absolute, another host: only the query counts. */
  q = registry_referrers_next_query (
      "http://elsewhere:9/v2/ml/m/referrers/" D "?last=y", "ml/m", D);
  CHECK_STR (q, "?last=y");
  /* A mirror's prefix between /v2/ and the repository. */
  CHECK_STR (registry_referrers_next_query (
                 "/v2/mirror/ml/m/referrers/" D "?last=z", "ml/m", D),
             "?last=z");
  /* Another list, another subject, another API, no query, bad bytes. */
  CHECK (registry_referrers_next_query ("/v2/ml/other/referrers/" D "?a=1",
                                        "ml/m", D)
         == NULL);
  CHECK (registry_referrers_next_query ("/v2/ml/m/referrers/sha256:00?a=1",
                                        "ml/m", D)
         == NULL);
  CHECK (registry_referrers_next_query ("/v2/ml/m/tags/list?last=a", "ml/m", D)
         == NULL);
  CHECK (registry_referrers_next_query ("/v2/ml/m/referrers/" D, "ml/m", D)
         == NULL);
  CHECK (registry_referrers_next_query ("/x/ml/m/referrers/" D "?a", "ml/m", D)
         == NULL);
  CHECK (
      registry_referrers_next_query ("/v2/ml/m/referrers/" D "?a b", "ml/m", D)
      == NULL);
  CHECK (
      registry_referrers_next_query ("/v2/ml/m/referrers/" D "?a#f", "ml/m", D)
      == NULL);
  CHECK (registry_referrers_next_query ("/v2/ml/m/referrers/" D "?a\r\nX: y",
                                        "ml/m", D)
         == NULL);
  CHECK (registry_referrers_next_query ("http://host-only", "ml/m", D) == NULL);
  /* The repository must be whole: "xml/m" is not "ml/m". */
  CHECK (
      registry_referrers_next_query ("/v2/xml/m/referrers/" D "?a", "ml/m", D)
      == NULL);
}

TEST_MAIN (T (test_link_next_forms), T (test_referrers_next_query))
