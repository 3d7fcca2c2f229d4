# loader.cmake - tests of config.json / safetensors / model loading (owner: load).
# Fixtures: tests/fixtures/loader/ (tests/gen/gen_loader_fixtures.py).
frspec_add_test(test_config test_config.c loader)
frspec_add_test(test_safetensors test_safetensors.c loader)
frspec_add_test(test_model_load test_model_load.c loader)

# The safetensors parser's fuzz entry point. Always built as a plain test that feeds it the
# fixture files and deterministic corruptions of them (runs under ASan/UBSan in CI); with
# -DFRSPEC_FUZZ=ON and clang, also built as a libFuzzer target: fuzz_safetensors_libfuzzer
# [corpus dir] (parser compiled in, instrumented for coverage).
option(FRSPEC_FUZZ "Build the libFuzzer target for the safetensors parser (clang only)" OFF)
frspec_add_test(fuzz_safetensors fuzz_safetensors.c loader)
if(FRSPEC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FRSPEC_FUZZ=ON needs clang (CC=clang), not ${CMAKE_C_COMPILER_ID}")
  endif()
  set(_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  add_executable(fuzz_safetensors_libfuzzer
    fuzz_safetensors.c
    ${CMAKE_SOURCE_DIR}/runtime/safetensors.c
    ${CMAKE_SOURCE_DIR}/runtime/status.c
    ${CMAKE_SOURCE_DIR}/runtime/tensor.c)
  target_compile_definitions(fuzz_safetensors_libfuzzer PRIVATE FRSPEC_LIBFUZZER=1 _GNU_SOURCE
                             FRSPEC_FIXTURES="${FRSPEC_FIXTURES}")
  target_include_directories(fuzz_safetensors_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR}/runtime
                             ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(fuzz_safetensors_libfuzzer PRIVATE ${FRSPEC_C_WARNINGS} ${_fuzz_flags})
  target_link_options(fuzz_safetensors_libfuzzer PRIVATE ${_fuzz_flags})
  target_link_libraries(fuzz_safetensors_libfuzzer PRIVATE PkgConfig::CJSON)
endif()
