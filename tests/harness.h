/* A minimal unit-test harness.  Each test file defines test functions with
 * TEST(name), lists them in TEST_MAIN(...), and the binary prints one line
 * per failure and closes with "N passed, N failed".  Exit status is non-zero
 * on any failure. */
#ifndef MP_TESTS_HARNESS_H
#define MP_TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int mp_test_failed_checks;

#define TEST(name) static void name (void)

#define CHECK(cond)                                                            \
  do                                                                           \
    {                                                                          \
      if (!(cond))                                                             \
        {                                                                      \
          fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
          mp_test_failed_checks++;                                             \
        }                                                                      \
    }                                                                          \
  while (0)

#define CHECK_STR(a, b)                                                        \
  do                                                                           \
    {                                                                          \
      const char *a_ = (a), *b_ = (b);                                         \
      if (a_ == NULL || b_ == NULL || strcmp (a_, b_) != 0)                    \
        {                                                                      \
          fprintf (stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,    \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                    \
          mp_test_failed_checks++;                                             \
        }                                                                      \
    }                                                                          \
  while (0)

/* Stop the current test when a precondition for the rest fails. */
#define REQUIRE(cond)                                                          \
  do                                                                           \
    {                                                                          \
      if (!(cond))                                                             \
        {                                                                      \
          fprintf (stderr, "%s:%d: required: %s\n", __FILE__, __LINE__,        \
                   #cond);                                                     \
          mp_test_failed_checks++;                                             \
          return;                                                              \
        }                                                                      \
    }                                                                          \
  while (0)

typedef struct
{
  const char *name;
  void (*fn) (void);
} mp_test_case;

#define TEST_MAIN(...)                                                         \
  int mp_test_failed_checks;                                                   \
  int main (int argc, char **argv)                                             \
  {                                                                            \
    static const mp_test_case cases[] = { __VA_ARGS__ };                       \
    int passed = 0, failed = 0;                                                \
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)                \
      {                                                                        \
        if (argc > 1 && strstr (cases[i].name, argv[1]) == NULL)               \
          continue;                                                            \
        int before = mp_test_failed_checks;                                    \
        cases[i].fn ();                                                        \
        if (mp_test_failed_checks == before)                                   \
          passed++;                                                            \
        else                                                                   \
          {                                                                    \
            failed++;                                                          \
            fprintf (stderr, "FAIL %s\n", cases[i].name);                      \
          }                                                                    \
      }                                                                        \
    printf ("%s: %d passed, %d failed\n", argv[0], passed, failed);            \
    return failed ? 1 : 0;                                                     \
  }
#define T(fn)                                                                  \
  {                                                                            \
#fn, fn                                                                    \
  }

#endif
