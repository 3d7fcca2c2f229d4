# cuda.cmake - the CUDA backend's tests (owner: cuda). Registered only when the CUDA backend is
# built; each returns 77 (skipped) when cudaGetDeviceCount reports no device, so CPU-only CI
# shows them as skipped. On the GPU machine: tests/gpu/run_gpu_tests.sh.
if(FRSPEC_HAVE_CUDA)
  frspec_add_test(test_cuda_ops test_cuda_ops.c cuda gpu)
  foreach(t test_cuda_model test_cuda_spec)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      frspec_add_test(${t} ${t}.c cuda gpu)
    endif()
  endforeach()
endif()
