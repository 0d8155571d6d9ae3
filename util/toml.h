/* A TOML 1.0.0 reader.
 *
 * toml_parse() turns a document into a tree of toml_value nodes owned by the
 * root table; toml_free(root) releases all of it, and every pointer handed
 * out by the accessors lives exactly as long as the tree.  Anything that is
 * not valid TOML 1.0.0 is rejected with MP_ERR_INVALID_ARGUMENT and a message
 * "line L, column C: what is wrong" (columns count characters, from 1).
 *
 * Hostile input is expected: the input need not be NUL-terminated, nesting
 * of tables and arrays is capped at TOML_MAX_DEPTH, and table lookups are
 * hashed, so time stays linear in the input size.
 *
 * Accessors are total: asked for the wrong type or an index out of range
 * they return NULL, 0, 0.0 or false rather than crash.  Config code should
 * prefer the toml_get_* lookups, which say what was wrong. */
#ifndef MP_UTIL_TOML_H
#define MP_UTIL_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define TOML_MAX_DEPTH 128

enum toml_type
{
  TOML_TABLE,
  TOML_ARRAY,
  TOML_STRING,
  TOML_INTEGER,
  TOML_FLOAT,
  TOML_BOOL,
  TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
  TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
  TOML_DATE_LOCAL,     /* 1979-05-27 */
  TOML_TIME_LOCAL,     /* 07:32:00 */
};

typedef struct toml_value toml_value;

/* Returns the root table, or NULL with *err set. */
toml_value *toml_parse (const char *buf, size_t len, mp_error *err);

/* Reads and parses a file; parse errors are prefixed with the path. */
toml_value *toml_parse_file (const char *path, mp_error *err);

void toml_free (toml_value *v);

/* v must not be NULL. */
enum toml_type toml_type_of (const toml_value *v);

/* "table", "array", "string", "integer", "float", "boolean", "datetime",
 * "local datetime", "local date", "local time": for messages. */
const char *toml_type_name (enum toml_type type);

/* Tables keep their keys in document order.  A quoted key may contain NUL
 * ("\u0000"); toml_table_key_len_at and toml_table_getn see all of it. */
size_t toml_table_size (const toml_value *t);
const char *toml_table_key_at (const toml_value *t, size_t i);
size_t toml_table_key_len_at (const toml_value *t, size_t i);
toml_value *toml_table_value_at (const toml_value *t, size_t i);
toml_value *toml_table_get (const toml_value *t, const char *key);
toml_value *toml_table_getn (const toml_value *t, const char *key, size_t len);

/* Follows keys[0..n) down nested tables: the value at root.k0.k1..., or
 * NULL when a key is absent or an intermediate value is not a table. */
toml_value *toml_get_path (const toml_value *root, const char *const *keys,
                           size_t n);

size_t toml_array_size (const toml_value *a);
toml_value *toml_array_at (const toml_value *a, size_t i);

/* A string value is NUL-terminated but may also contain NUL. */
const char *toml_string (const toml_value *v);
size_t toml_string_len (const toml_value *v);
int64_t toml_integer (const toml_value *v);
double toml_float (const toml_value *v);
bool toml_bool (const toml_value *v);

/* Any of the four date/time kinds as text in one canonical spelling:
 * 'T' between date and time, 'Z' for UTC, fractional seconds as written. */
const char *toml_datetime (const toml_value *v);

/* Typed lookups of table[key] for config code.  Return 1 and set *out when
 * the key is present with the right type; 0 when it is absent (*out is left
 * alone, so it can hold a default); -1 with *err naming the key and the
 * expected and found types otherwise. */
int toml_get_string (const toml_value *table, const char *key, const char **out,
                     mp_error *err);
int toml_get_integer (const toml_value *table, const char *key, int64_t *out,
                      mp_error *err);
int toml_get_bool (const toml_value *table, const char *key, bool *out,
                   mp_error *err);
int toml_get_table (const toml_value *table, const char *key, toml_value **out,
                    mp_error *err);
int toml_get_array (const toml_value *table, const char *key, toml_value **out,
                    mp_error *err);

#endif
