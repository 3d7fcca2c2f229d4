# draft.cmake - tests of the EAGLE-2 draft head loader, FR-Spec token lists (torch.save reader and
# writer, text format), the frequency builder and `frspec convert-draft` / `frspec vocab`.
# Fixtures: tests/fixtures/frvocab (tests/gen/gen_frvocab_fixtures.py).
frspec_add_test(test_torchzip test_torchzip.c draft)
target_sources(test_torchzip PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_torchzip.c
                                     ${CMAKE_SOURCE_DIR}/launch/cmd_convert.c)
frspec_add_test(test_frvocab test_frvocab.c draft)
frspec_add_test(test_draft_load test_draft_load.c draft)
frspec_add_test(test_vocab_build test_vocab_build.c draft)
target_sources(test_vocab_build PRIVATE ${CMAKE_SOURCE_DIR}/launch/cmd_vocab.c)

# libFuzzer target for the torch.save reader: cmake -DFRSPEC_FUZZ=ON -DCMAKE_C_COMPILER=clang
#   ./fuzz_torchzip -max_total_time=60 CORPUS_DIR tests/fixtures/frvocab
# (The parser sources are compiled into the target so that libFuzzer sees their coverage.)
option(FRSPEC_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(FRSPEC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FRSPEC_FUZZ=ON needs clang (-DCMAKE_C_COMPILER=clang)")
  endif()
  add_executable(fuzz_torchzip ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_torchzip.c
                               ${CMAKE_SOURCE_DIR}/runtime/torchzip.c ${CMAKE_SOURCE_DIR}/runtime/status.c
                               ${CMAKE_SOURCE_DIR}/runtime/tensor.c)
  target_include_directories(fuzz_torchzip PRIVATE ${CMAKE_SOURCE_DIR}/runtime)
  target_compile_definitions(fuzz_torchzip PRIVATE _GNU_SOURCE)
  target_compile_options(fuzz_torchzip PRIVATE ${FRSPEC_C_WARNINGS} -fsanitize=fuzzer,address,undefined
                                               -fno-omit-frame-pointer)
  target_link_options(fuzz_torchzip PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_torchzip PRIVATE ZLIB::ZLIB ${M_LIB})
endif()
