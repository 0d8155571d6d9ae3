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

/* A JSON path for messages into W (MODEL_JSON_WHERE_MAX bytes); a path too
 * long is cut short, which only shortens a message. */
#define MODEL_JSON_WHERE_MAX 512
void model_json_path (char *w, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* MP_ERR_INVALID_ARGUMENT "WHERE: WHAT". */
int model_json_bad (mp_error *err, const char *where, const char *what);

#endif
