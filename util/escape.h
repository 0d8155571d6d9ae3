/* Untrusted text made safe to print on a terminal or in a log line.
 *
 * Names and strings from tar entries, manifests, configs and registries may
 * hold terminal control sequences, newlines or invalid UTF-8.  The edges
 * that print them (the log writer, the CLI) pass them through here once.
 *
 * mp_escape keeps printable UTF-8 and writes everything else as an escape:
 * backslash as \\, newline, tab and CR as \n \t \r, and each byte of a C0
 * control, DEL, a C1 control, a bidirectional-text or line/paragraph
 * separator control, or invalid UTF-8 as \xNN (lowercase hex).  The result
 * is valid UTF-8 with no control character, and mp_unescape gives back the
 * original bytes.
 *
 * mp_json_quote writes a JSON string literal instead: the same characters
 * as \uXXXX escapes (invalid UTF-8 becomes U+FFFD, as JSON cannot carry
 * it), so a document built with it stays valid JSON and prints no control
 * character either. */
#ifndef MP_UTIL_ESCAPE_H
#define MP_UTIL_ESCAPE_H

#include <stddef.h>
#include <sys/types.h>

/* Also escape '"' as \" (a value between quotes, as in a logfmt line). */
#define MP_ESCAPE_QUOTE 1u
/* Leave backslashes as they are, for text that is only read, such as an
 * error line whose library parts already escaped the names in it
 * (model_quote) and would show doubled backslashes otherwise.  Still no
 * control character, but mp_unescape no longer inverts it. */
#define MP_ESCAPE_KEEP_BACKSLASH 2u

/* Escape the LEN bytes at S into OUT (SIZE bytes; NUL-terminated when SIZE
 * is not 0), cutting only between whole escapes when it does not fit.
 * Returns the length of the whole escape, as snprintf does. */
size_t mp_escape_mem (char *out, size_t size, const void *s, size_t len,
                      unsigned flags);

/* The escape of the string S (of "(null)" for NULL), malloc'd; NULL only
 * when out of memory. */
char *mp_escape (const char *s);
/* The same with FLAGS. */
char *mp_escape_str (const char *s, unsigned flags);

/* Decode the LEN bytes at S, as mp_escape_mem wrote them, into OUT (room
 * for LEN bytes).  Returns the decoded length, or -1 for a backslash that
 * does not start one of the escapes above. */
ssize_t mp_unescape (void *out, const char *s, size_t len);

/* S (of LEN bytes) as a JSON string literal with its quotes, written into
 * OUT as mp_escape_mem does.  Returns the length of the whole literal. */
size_t mp_json_quote_mem (char *out, size_t size, const void *s, size_t len);

/* The JSON string literal for the string S ("null" for NULL), malloc'd;
 * NULL only when out of memory. */
char *mp_json_quote (const char *s);

/* The JSON text JSON (as json_dumps writes it, valid UTF-8) with the
 * characters mp_json_quote escapes and jansson does not (DEL, C1, the bidi
 * and separator controls: all inside strings) written as \uXXXX too,
 * malloc'd; NULL only when out of memory. */
char *mp_json_text_safe (const char *json);

#endif
