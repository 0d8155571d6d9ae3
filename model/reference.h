/* Image and artifact references: [host[:port]/]path[:tag][@digest], as the
 * OCI distribution spec and Docker name them.  A first component with a
 * "." or ":" or equal to "localhost" is the registry host; otherwise the
 * host is docker.io and a one-component path gets "library/". */
#ifndef MP_MODEL_REFERENCE_H
#define MP_MODEL_REFERENCE_H

#include <stdbool.h>

#include "util/error.h"

#define MODEL_REF_MAX 1024

typedef struct model_reference
{
  char host[256];           /* "docker.io", "127.0.0.1:5000" */
  char path[MODEL_REF_MAX]; /* "library/ubuntu", "ml/llama" */
  char tag[129];            /* "" if none */
  char digest[136];         /* "" if none */
} model_reference;

/* Parse TEXT; without tag or digest the tag is "latest".  Errors are
 * MP_ERR_INVALID_ARGUMENT naming what is wrong. */
int model_reference_parse (const char *text, model_reference *out,
                           mp_error *err);
/* host/path:tag (or host/path@digest when there is no tag), the form the
 * stores name a model by.  OUT must hold MODEL_REF_MAX + 512 bytes. */
void model_reference_string (const model_reference *r, char *out,
                             size_t outsize);

#endif
