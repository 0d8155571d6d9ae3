/* Strict JSON documents we read (signature policies, trust policies):
 * members a format does not define refuse the file, naming them, rather
 * than being ignored (a misspelt requirement would silently weaken it). */
#ifndef MP_MODEL_JSONFIELD_H
#define MP_MODEL_JSONFIELD_H

#include <jansson.h>

#include "util/error.h"

/* Every member of OBJ must be one of the NULL-terminated NAMES; otherwise
 * MP_ERR_INVALID_ARGUMENT "WHERE: unknown field \"...\"". */
int model_json_check_fields (const json_t *obj, const char *where,
                             const char *const *names, mp_error *err);

#endif
