/* Fuzz the Notation trust policy reader (model/notation_policy.h): any
 * bytes parse or fail with an InvalidArgument message.  A parsed policy
 * keeps the header's promises: statements have names, unique; levels other
 * than skip have stores and identities, skip has neither; the global
 * statement is the one with scopes ["*"]; each scope finds its own
 * statement; store names are safe path components.  The input is also
 * looked up as a repository and parsed as a distinguished name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/notation_policy.h"

static void
check (int cond, const char *what)
{
  if (!cond)
    {
      fprintf (stderr, "broken promise: %s\n", what);
      abort ();
    }
}

static void
check_statement (const notation_policy *p, const notation_statement *s)
{
  check (s->name != NULL && s->name[0] != '\0', "statement has a name");
  check (s->n_scopes >= 1, "statement has scopes");
  check (s->actions[NOTATION_CHECK_INTEGRITY]
             == (s->level == NOTATION_LEVEL_SKIP ? NOTATION_SKIP
                                                 : NOTATION_ENFORCE),
         "integrity is enforced unless skipped");
  if (s->level == NOTATION_LEVEL_SKIP)
    check (s->n_stores == 0 && s->n_identities == 0, "skip has no trust");
  else
    check (s->n_stores >= 1 && s->n_identities >= 1, "others have trust");
  check (s->any_identity ? s->n_identities == 1 : 1, "* stands alone");
  for (size_t i = 0; i < s->n_stores; i++)
    {
      const char *n = s->stores[i].name;

      check (n[0] != '\0' && strchr (n, '/') == NULL && strcmp (n, ".") != 0
                 && strcmp (n, "..") != 0,
             "store name is a safe path component");
    }
  for (size_t i = 0; i < s->n_x509; i++)
    for (size_t j = 0; j < s->x509[i].n; j++)
      check (s->x509[i].v[j].type[0] != '\0', "DN attribute has a type");
  if (s->global)
    {
      check (s->n_scopes == 1 && strcmp (s->scopes[0], "*") == 0,
             "global is [\"*\"]");
      return;
    }
  for (size_t i = 0; i < s->n_scopes; i++)
    {
      check (notation_scope_is_valid (s->scopes[i]), "scope is valid");
      check (notation_policy_lookup (p, s->scopes[i]) == s,
             "scope finds its statement");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  notation_policy *p = NULL;
  notation_dn dn;
  mp_error err;
  char *s = malloc (size + 1);
  size_t globals = 0;

  if (s == NULL)
    return 0;
  memcpy (s, data, size);
  s[size] = '\0';
  if (notation_dn_parse (s, &dn, &err) == 0)
    {
      check (notation_dn_subset (&dn, &dn), "a DN is a subset of itself");
      notation_dn_clear (&dn);
    }
  if (notation_policy_parse (data, size, &p, &err) < 0)
    {
      check (err.code == MP_ERR_INVALID_ARGUMENT && err.msg[0] != '\0',
             "error has a message");
      free (s);
      return 0;
    }
  check (p->n >= 1, "at least one statement");
  for (size_t i = 0; i < p->n; i++)
    {
      check_statement (p, &p->v[i]);
      globals += p->v[i].global;
      for (size_t j = 0; j < i; j++)
        check (strcmp (p->v[i].name, p->v[j].name) != 0, "unique names");
    }
  check (globals <= 1, "at most one global statement");
  {
    const notation_statement *st = notation_policy_lookup (p, s);

    check (st == NULL || (st >= p->v && st < p->v + p->n),
           "lookup returns a statement of the policy");
  }
  notation_policy_free (p);
  free (s);
  return 0;
}
