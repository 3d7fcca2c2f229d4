# jobs.cmake - unattended runs (issue 12): batch-job files (launch/jobfile.c) through the frspec
# program, their unit test and fuzz entry point, the option checks of `frspec generate`.
# Each item of tests/cli/batch_jobs.sh is its own ctest (cli_jobs_<item>) so a failure names it.
foreach(item ids torn same badline retry scale progress ctx)
  add_test(NAME cli_jobs_${item}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/batch_jobs.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES} ${item})
  set_tests_properties(cli_jobs_${item} PROPERTIES LABELS "cli;jobs" TIMEOUT 300)
endforeach()

# The batch JSONL reader's fuzz entry point: a plain test (known answers + deterministic
# corruptions, under ASan/UBSan in CI) and, with -DFRSPEC_FUZZ=ON and clang, a libFuzzer target.
frspec_add_test(fuzz_jobfile fuzz_jobfile.c jobs)
target_sources(fuzz_jobfile PRIVATE ${CMAKE_SOURCE_DIR}/launch/jobfile.c)
target_include_directories(fuzz_jobfile PRIVATE ${CMAKE_SOURCE_DIR}/launch)
option(FRSPEC_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(FRSPEC_FUZZ)
  set(_jobs_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  add_executable(fuzz_jobfile_libfuzzer fuzz_jobfile.c ${CMAKE_SOURCE_DIR}/launch/jobfile.c
                                        ${CMAKE_SOURCE_DIR}/runtime/status.c)
  target_compile_definitions(fuzz_jobfile_libfuzzer PRIVATE FRSPEC_LIBFUZZER=1 _GNU_SOURCE)
  target_include_directories(fuzz_jobfile_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR}/runtime ${CMAKE_SOURCE_DIR}/launch)
  target_compile_options(fuzz_jobfile_libfuzzer PRIVATE ${FRSPEC_C_WARNINGS} ${_jobs_fuzz_flags})
  target_link_options(fuzz_jobfile_libfuzzer PRIVATE ${_jobs_fuzz_flags})
  target_link_libraries(fuzz_jobfile_libfuzzer PRIVATE PkgConfig::CJSON)
endif()

# Speculative decoding at the end of the context == autoregressive (runtime/engine.c, item 8).
frspec_add_test(test_spec_ctx test_spec_ctx.c spec cpu)
target_sources(test_spec_ctx PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c)

# Option checks and published files through the program (tests/cli/options.sh): one ctest per item.
foreach(item convert vocab generate watchdog)
  add_test(NAME cli_options_${item}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/options.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES} ${item})
  set_tests_properties(cli_options_${item} PROPERTIES LABELS "cli;jobs" TIMEOUT 300)
endforeach()

# config.json and tokenizer.json fuzz entry points (tests/fuzz_formats.c, one source, FUZZ_TARGET
# picks the entry): plain tests in CI, libFuzzer targets with FRSPEC_FUZZ.
foreach(pair "config;1" "tokenizer;2")
  list(GET pair 0 what)
  list(GET pair 1 target)
  frspec_add_test(fuzz_${what} fuzz_formats.c loader)
  target_compile_definitions(fuzz_${what} PRIVATE FUZZ_TARGET=${target})
  if(FRSPEC_FUZZ)
    # the parser's sources compiled in, so that libFuzzer sees their coverage
    add_executable(fuzz_${what}_libfuzzer fuzz_formats.c ${CMAKE_SOURCE_DIR}/runtime/${what}.c
                                          ${CMAKE_SOURCE_DIR}/runtime/status.c ${CMAKE_SOURCE_DIR}/runtime/tensor.c)
    target_compile_definitions(fuzz_${what}_libfuzzer PRIVATE FRSPEC_LIBFUZZER=1 FUZZ_TARGET=${target} _GNU_SOURCE)
    target_include_directories(fuzz_${what}_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR}/runtime)
    target_compile_options(fuzz_${what}_libfuzzer PRIVATE ${FRSPEC_C_WARNINGS} ${_jobs_fuzz_flags})
    target_link_options(fuzz_${what}_libfuzzer PRIVATE ${_jobs_fuzz_flags})
    target_link_libraries(fuzz_${what}_libfuzzer PRIVATE PkgConfig::CJSON PkgConfig::PCRE2 ${M_LIB})
  endif()
endforeach()

# A stuck GPU step ends the job (item 11): the FRS_TEST_GPU_HANG_STEP hook under --force-nccl, on
# one GPU and at TP 2 with two GPUs (tests/cli/gpu_hang.sh); skipped (77) without a GPU.
if(FRSPEC_HAVE_CUDA)
  add_test(NAME cli_gpu_hang
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/gpu_hang.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES}
                   ${MPIEXEC_EXECUTABLE} ${FRSPEC_MPIRUN_FLAGS})
  set_tests_properties(cli_gpu_hang PROPERTIES LABELS "cli;gpu;mpi" TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;NCCL_NVLS_ENABLE=0")
endif()
