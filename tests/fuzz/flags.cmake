# Included by the top-level CMakeLists.txt before any target exists. With -DSLUICE_FUZZ=ON
# (clang only; tools/fuzz.sh configures build-fuzz/ so) every library is built with libFuzzer's
# coverage instrumentation plus ASan and UBSan, and tests/fuzz adds the libFuzzer executables.
# Use it with CMAKE_BUILD_TYPE=Sanitize (-O1 -g, asserts on).
option(SLUICE_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang)" OFF)
if(SLUICE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SLUICE_FUZZ=ON needs clang (CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer
                      # clang 14's -fsanitize=function (part of "undefined") breaks on coroutines
                      # with ASan ("Cannot represent a difference across sections").
                      -fno-sanitize=function)
  add_link_options(-fsanitize=address,undefined)
  # Asio 1.22 detects co_await support under clang only through <experimental/coroutine>, which
  # libstdc++ lacks; clang 14 has C++20 coroutines and libstdc++'s <coroutine>.
  add_compile_definitions(ASIO_HAS_CO_AWAIT=1)
endif()
