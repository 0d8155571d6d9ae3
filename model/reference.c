/* References (see reference.h).  The grammar is small and fixed; written
 * here rather than with regex(3) so errors can say which part is wrong. */
#include "model/reference.h"

#include <stdio.h>
#include <string.h>

#include "model/digest.h"

static bool
is_alnum_lower (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ with single separators ".", "_", "__" or
 * runs of "-" between. */
static bool
component_ok (const char *s, size_t n)
{
  size_t i = 0;

  if (n == 0 || !is_alnum_lower (s[0]) || !is_alnum_lower (s[n - 1]))
    return false;
  while (i < n)
    {
      if (is_alnum_lower (s[i]))
        {
          i++;
          continue;
        }
      if (s[i] == '.' || (s[i] == '_' && (i + 1 >= n || s[i + 1] != '_')))
        i++;
      else if (s[i] == '_')
        i += 2;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
      if (i >= n || !is_alnum_lower (s[i]))
        return false;
    }
  return true;
}

static bool
host_ok (const char *s, size_t n)
{
  if (n == 0 || n >= 256)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':'
            || c == '[' || c == ']'))
        return false;
    }
  return true;
}

int
model_reference_parse (const char *text, model_reference *out, mp_error *err)
{
  char buf[MODEL_REF_MAX + 256];
  char *name, *at, *slash, *colon;
  size_t len;

  memset (out, 0, sizeof *out);
  if (text == NULL || *text == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "empty reference");
  len = strlen (text);
  if (len >= sizeof buf)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "reference longer than %zu characters",
                         sizeof buf - 1);
  memcpy (buf, text, len + 1);
  name = buf;
  at = strchr (name, '@');
  if (at != NULL)
    {
      *at = '\0';
      if (!model_digest_is_valid (at + 1))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "reference \"%.300s\": \"%.140s\" is not a "
                             "valid digest",
                             text, at + 1);
      snprintf (out->digest, sizeof out->digest, "%s", at + 1);
    }
  /* A tag is after the last ':' that follows the last '/'. */
  slash = strrchr (name, '/');
  colon = strrchr (slash ? slash : name, ':');
  if (colon != NULL)
    {
      size_t tl = strlen (colon + 1);
      *colon = '\0';
      if (tl == 0 || tl > 128)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "reference \"%.300s\": a tag has 1 to 128 "
                             "characters",
                             text);
      for (const char *t = colon + 1; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z')
              || (*t >= '0' && *t <= '9') || *t == '_'
              || (t > colon + 1 && (*t == '.' || *t == '-'))))
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "reference \"%.300s\": tag \"%.128s\" has a "
                               "character a tag cannot have",
                               text, colon + 1);
      memcpy (out->tag, colon + 1, tl + 1);
    }
  /* Host: the first component if it looks like one. */
  slash = strchr (name, '/');
  if (slash != NULL
      && (memchr (name, '.', (size_t)(slash - name)) != NULL
          || memchr (name, ':', (size_t)(slash - name)) != NULL
          || (slash - name == 9 && strncmp (name, "localhost", 9) == 0)))
    {
      if (!host_ok (name, (size_t)(slash - name)))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "reference \"%.300s\": bad registry host", text);
      memcpy (out->host, name, (size_t)(slash - name));
      name = slash + 1;
    }
  else
    snprintf (out->host, sizeof out->host, "docker.io");
  if (*name == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "reference \"%.300s\": no repository name", text);
  for (const char *p = name; *p;)
    {
      const char *e = strchrnul (p, '/');
      if (!component_ok (p, (size_t)(e - p)))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "reference \"%.300s\": repository \"%.300s\" "
                             "must be lowercase letters, digits and "
                             "separators (. _ __ -) between them",
                             text, name);
      p = *e ? e + 1 : e;
      if (*e && *p == '\0')
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "reference \"%.300s\": empty path component",
                             text);
    }
  {
    bool library
        = strcmp (out->host, "docker.io") == 0 && strchr (name, '/') == NULL;
    if (strlen (name) + (library ? 8 : 0) >= sizeof out->path)
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "reference \"%.300s\": repository name too long",
                           text);
  }
  /* Lengths checked above. */
  if (strcmp (out->host, "docker.io") == 0 && strchr (name, '/') == NULL)
    {
      memcpy (out->path, "library/", 8);
      memcpy (out->path + 8, name, strlen (name) + 1);
    }
  else
    memcpy (out->path, name, strlen (name) + 1);
  if (out->tag[0] == '\0' && out->digest[0] == '\0')
    snprintf (out->tag, sizeof out->tag, "latest");
  return 0;
}

void
model_reference_string (const model_reference *r, char *out, size_t outsize)
{
  if (r->tag[0] != '\0')
    snprintf (out, outsize, "%s/%s:%s", r->host, r->path, r->tag);
  else
    snprintf (out, outsize, "%s/%s@%s", r->host, r->path, r->digest);
}
