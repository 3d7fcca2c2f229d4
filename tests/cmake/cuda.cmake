# cuda.cmake - the CUDA backend's tests and the bench's CPU test (owner: perf, formerly cuda).
# GPU tests are registered only when the CUDA backend is built; each returns 77 (skipped) when
# cudaGetDeviceCount reports no device, so CPU-only CI shows them as skipped. On the GPU machine:
# tests/gpu/run_gpu_tests.sh and tests/bench/run_bench.sh.
if(FRSPEC_HAVE_CUDA)
  frspec_add_test(test_cuda_ops test_cuda_ops.c cuda gpu)
  frspec_add_test(test_cuda_rng test_cuda_rng.c cuda gpu) # runtime/rng.h: host and device bits
  frspec_add_test(test_cuda_check test_cuda_check.c cuda) # kernels/cuda_check.h (no GPU needed)
  foreach(t test_cuda_model test_cuda_spec test_cuda_sample test_cuda_batch)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      frspec_add_test(${t} ${t}.c cuda gpu)
      if(t STREQUAL "test_cuda_model" OR t STREQUAL "test_cuda_batch")
        target_sources(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/model_bf16.c) # the bf16 copy for the CPU comparisons
      endif()
      if(t STREQUAL "test_cuda_spec" OR t STREQUAL "test_cuda_sample" OR t STREQUAL "test_cuda_batch")
        target_sources(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c) # the spec tests' helpers (test_cuda_batch: the job)
      endif()
    endif()
  endforeach()
endif()

# `frspec bench acceptance` on the CPU over the spec Markov fixtures (runs the frspec program)
frspec_add_test(test_bench_accept test_bench_accept.c bench)
target_compile_definitions(test_bench_accept PRIVATE FRSPEC_BIN="$<TARGET_FILE:frspec>")
add_dependencies(test_bench_accept frspec)

# the kernel micro-benchmarks (not a test): tests/bench/kernels/
include(${CMAKE_CURRENT_SOURCE_DIR}/bench/kernels/bench_kernels.cmake)
