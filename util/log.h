/* Leveled logging to stderr (the daemon's journal).  Library code logs
 * events worth an operator's attention; it never prints results.
 *
 * Each message is one logfmt line, time=... level=... msg="...", with the
 * formatted message escaped (util/escape.h, quotes too): whatever names it
 * carries, it stays one line with no terminal control in it. */
#ifndef MP_UTIL_LOG_H
#define MP_UTIL_LOG_H

enum mp_log_level
{
  MP_LOG_ERROR = 0,
  MP_LOG_WARN,
  MP_LOG_INFO,
  MP_LOG_DEBUG,
};

/* Parse "error", "warn"/"warning", "info", "debug"; -1 if unknown. */
int mp_log_level_parse (const char *s);
void mp_log_set_level (enum mp_log_level level);
enum mp_log_level mp_log_get_level (void);
void mp_log (enum mp_log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#define mp_log_error(...) mp_log (MP_LOG_ERROR, __VA_ARGS__)
#define mp_log_warn(...) mp_log (MP_LOG_WARN, __VA_ARGS__)
#define mp_log_info(...) mp_log (MP_LOG_INFO, __VA_ARGS__)
#define mp_log_debug(...) mp_log (MP_LOG_DEBUG, __VA_ARGS__)

#endif
