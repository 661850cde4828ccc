// fuzz_check.h — the one assertion the fuzz targets use. A failed property
// must abort (not just print), so that libFuzzer records the input as a
// crash and keeps it as a reproducer; assert() would vanish under NDEBUG.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)
