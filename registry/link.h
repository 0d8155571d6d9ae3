/* Pagination links of registry answers (the referrers API, OCI 1.1).
 *
 * A registry may answer a list in pages, the next one named by an HTTP
 * `Link: <URI>; rel="next"` header (RFC 8288; several links may share one
 * header, separated by commas).  The header comes from the network: these
 * functions bound what they copy and decide what may be followed.  Pure
 * string work, no allocation; safe from any thread. */
#ifndef MP_REGISTRY_LINK_H
#define MP_REGISTRY_LINK_H

#include <stdbool.h>
#include <stddef.h>

/* The URI of HEADER's link whose rel (a parameter "rel", its value quoted
 * or not, one of its space-separated relation types) is "next" (any case)
 * into OUT (SIZE bytes): true when there is one and it fits. */
bool registry_link_next (const char *header, char *out, size_t size);

/* The query ("?…", inside LINK) of a next link of the referrers list of
 * DIGEST in repository REPO, or NULL when LINK is not for that list: its
 * path (after a scheme and host, which are ignored: the next page is asked
 * of the registry that answered) must start with /v2/ and end with
 * /REPO/referrers/DIGEST (a mirror may put a prefix between), and the query
 * must be under 500 bytes with no space, control byte or '#'.  A caller
 * appends only the query to its own URL, so a link cannot send it to
 * another host or list. */
const char *registry_referrers_next_query (const char *link, const char *repo,
                                           const char *digest);

#endif
