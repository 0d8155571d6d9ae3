/* Fuzz the two small hand-written parsers of the CLI: Modelfiles and
 * references.  Besides the sanitizers it checks what must hold for any
 * input: a rejection is InvalidArgument; an accepted Modelfile formats to
 * text that parses to the same directives; an accepted reference prints
 * as a string that parses to the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/modelfile.h"
#include "model/reference.h"

static void
same_or_abort (const char *a, const char *b)
{
  if ((a == NULL) != (b == NULL) || (a != NULL && strcmp (a, b) != 0))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  modelfile *mf = NULL, *again = NULL;
  model_reference r, r2;
  mp_error err = { 0 };
  char *text, *s;

  if (modelfile_parse ((const char *)data, size, &mf, &err) < 0)
    {
      if (err.code != MP_ERR_INVALID_ARGUMENT)
        abort ();
    }
  else
    {
      text = modelfile_format (mf);
      if (text == NULL
          || modelfile_parse (text, strlen (text), &again, &err) < 0)
        abort ();
      same_or_abort (mf->name, again->name);
      same_or_abort (mf->quantize, again->quantize);
      if (mf->n_rules != again->n_rules)
        abort ();
      for (size_t i = 0; i < mf->n_rules; i++)
        if (mf->rules[i].kind != again->rules[i].kind
            || strcmp (mf->rules[i].pattern, again->rules[i].pattern) != 0)
          abort ();
      free (text);
      modelfile_free (again);
      modelfile_free (mf);
    }

  s = malloc (size + 1);
  if (s == NULL)
    return 0;
  memcpy (s, data, size);
  s[size] = '\0';
  if (model_reference_parse (s, &r, &err) == 0)
    {
      char out[MODEL_REF_MAX + 512];
      model_reference_string (&r, out, sizeof out);
      if (model_reference_parse (out, &r2, &err) < 0
          || strcmp (r.host, r2.host) != 0 || strcmp (r.path, r2.path) != 0
          || strcmp (r.tag, r2.tag) != 0)
        abort ();
    }
  else if (err.code != MP_ERR_INVALID_ARGUMENT)
    abort ();
  free (s);
  return 0;
}
