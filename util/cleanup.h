/* Scope-bound cleanup, as in crun and fuse-overlayfs: a variable declared
 * `cleanup_free char *p = NULL;` is freed when it leaves scope; hand it out
 * with steal_pointer (&p). */
#ifndef MP_UTIL_CLEANUP_H
#define MP_UTIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void
mp_freep (void *p)
{
  free (*(void **)p);
}

static inline void
mp_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}

static inline void
mp_fclosep (FILE **f)
{
  if (*f != NULL)
    fclose (*f);
}

static inline void
mp_closedirp (DIR **d)
{
  if (*d != NULL)
    closedir (*d);
}

#define cleanup_free __attribute__ ((cleanup (mp_freep)))
#define cleanup_close __attribute__ ((cleanup (mp_closep)))
#define cleanup_fclose __attribute__ ((cleanup (mp_fclosep)))
#define cleanup_dir __attribute__ ((cleanup (mp_closedirp)))

static inline void *
mp_steal_pointer (void *pp)
{
  void **p = (void **)pp;
  void *ret = *p;
  *p = NULL;
  return ret;
}
#define steal_pointer(pp) mp_steal_pointer (pp)

static inline int
mp_steal_fd (int *fd)
{
  int ret = *fd;
  *fd = -1;
  return ret;
}

#endif
