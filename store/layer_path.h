/* Checks on the names inside a layer, shared by the unpacker (unpack.c)
 * and the EROFS index writer (erofs_tar.c), so that both accept and refuse
 * exactly the same names and link targets. */
#ifndef MP_STORE_LAYER_PATH_H
#define MP_STORE_LAYER_PATH_H

#include <stdbool.h>

#include "util/error.h"

/* Whether S holds a control character (below 0x20, or DEL). */
bool layer_path_has_control (const char *s);

/* Normalise an entry name into OUT (MODEL_UNPACK_MAX_PATH + 1 bytes):
 * components joined by single slashes, "." and empty components dropped,
 * "" for the layer root.  Rejects absolute names, "..", control
 * characters, and names past the limits (MP_ERR_INVALID_ARGUMENT, the
 * message starting with WHAT). */
int layer_path_normalize (const char *in, char *out, const char *what,
                          mp_error *err);

/* Whether symlink TARGET, read from the directory of the normalised entry
 * PATH, stays inside the layer root.  Purely textual. */
bool layer_symlink_stays_inside (const char *path, const char *target);

#endif
