# bench_kernels.cmake - the kernel workbench (tests/bench/kernels/bench_kernels.c): a program, not a
# ctest test and not part of the product (nothing installs it). Built with the CUDA tests so it
# keeps compiling; run it by hand on a GPU machine: build/tests/bench_kernels.
if(FRSPEC_HAVE_CUDA)
  add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
  target_compile_options(bench_kernels PRIVATE ${FRSPEC_C_WARNINGS})
  target_include_directories(bench_kernels PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(bench_kernels PRIVATE FRSPEC_FIXTURES="${FRSPEC_FIXTURES}")
  target_link_libraries(bench_kernels PRIVATE frspec_backends) # frspec_core + frspec_cuda
  set_target_properties(bench_kernels PROPERTIES LINKER_LANGUAGE CUDA)
endif()
