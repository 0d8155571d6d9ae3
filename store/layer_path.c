/* Name checks shared by the unpacker and the EROFS index writer: moved
 * here from unpack.c unchanged, so both refuse the same names. */
#include "store/layer_path.h"

#include <limits.h>
#include <string.h>

#include "store/unpack.h"

/* A control character in a name would reach terminals, logs and the
 * annotations of a CRI-O export that no reader accepts: refused. */
bool
layer_path_has_control (const char *s)
{
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

/* Normalise an entry name into OUT (MODEL_UNPACK_MAX_PATH + 1 bytes):
 * components joined by single slashes, "." and empty components dropped,
 * "" for the layer root.  Rejects absolute names, "..", control
 * characters, and names past the limits. */
int
layer_path_normalize (const char *in, char *out, const char *what,
                      mp_error *err)
{
  size_t o = 0, depth = 0;
  const char *p = in;

  if (in[0] == '/')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s \"%s\": absolute path", what, in);
  if (strlen (in) > MODEL_UNPACK_MAX_PATH)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: path longer than %d bytes", what,
                         MODEL_UNPACK_MAX_PATH);
  if (layer_path_has_control (in))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s \"%s\": control character in the name", what, in);
  while (*p != '\0')
    {
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);

      if (n == 2 && p[0] == '.' && p[1] == '.')
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s \"%s\": \"..\" component", what, in);
      if (n > NAME_MAX)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s: component longer than %d bytes", what,
                             NAME_MAX);
      if (n > 0 && !(n == 1 && p[0] == '.'))
        {
          if (++depth > MODEL_UNPACK_MAX_DEPTH)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "%s: deeper than %d components", what,
                                 MODEL_UNPACK_MAX_DEPTH);
          if (o > 0)
            out[o++] = '/';
          memcpy (out + o, p, n);
          o += n;
        }
      p = *end ? end + 1 : end;
    }
  out[o] = '\0';
  return 0;
}

/* Whether symlink TARGET, read from the directory of the normalised entry
 * PATH, stays inside the layer root.  Purely textual: components are not
 * resolved (the tree never holds a path that crosses a symlink, and a
 * reader resolves link chains inside the read-only mount). */
bool
layer_symlink_stays_inside (const char *path, const char *target)
{
  long depth = 0;
  const char *p;

  if (target[0] == '/')
    return false;
  for (p = path; *p != '\0'; p++)
    if (*p == '/')
      depth++;
  for (p = target; *p != '\0';)
    {
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);

      if (n == 2 && p[0] == '.' && p[1] == '.')
        {
          if (--depth < 0)
            return false;
        }
      else if (n > 0 && !(n == 1 && p[0] == '.'))
        depth++;
      p = *end ? end + 1 : end;
    }
  return true;
}
