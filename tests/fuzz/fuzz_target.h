#pragma once
// Shared by the fuzz targets: the entry point macro and the invariant check.
//
// Each <target>_fuzz.cc defines its entry point with SLUICE_FUZZ_TARGET(target). Built as a
// libFuzzer executable (SLUICE_FUZZ=ON) that is LLVMFuzzerTestOneInput; built into
// fuzz_regression_test (SLUICE_FUZZ_REGRESSION defined, any compiler) it is SluiceFuzz_<target>,
// so the four entry points link into one binary that replays tests/fuzz/corpus and
// tests/fuzz/regressions through them.
//
// An entry point returns 0 for any input; a violated invariant is SLUICE_FUZZ_CHECK, which prints
// the reason and aborts (a crash to libFuzzer, a failed test to ctest). Sanitizer findings abort
// the same way.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifdef SLUICE_FUZZ_REGRESSION
#define SLUICE_FUZZ_TARGET(name) \
  extern "C" int SluiceFuzz_##name(const uint8_t* data, size_t size)
#else
#define SLUICE_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif

#define SLUICE_FUZZ_CHECK(cond, ...)                                                    \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", __FILE__, __LINE__, \
                   #cond);                                                              \
      std::fprintf(stderr, "  " __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                       \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
