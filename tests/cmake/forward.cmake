# forward.cmake - the CPU backend's forward pass vs Hugging Face transformers, sampling, the memory
# plan (runtime/memplan.h) and the backend registry with the CLI's backend options.
# Fixtures: tests/fixtures/models (tests/gen/gen_models.py).
set(FRSPEC_FWD_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

frspec_add_test(test_forward test_forward.c forward cpu)
frspec_add_test(test_sampling test_sampling.c sampling cpu)
frspec_add_test(test_memplan test_memplan.c memplan cpu)
# the backend registry and launch/options.c's FRS_* switches (options.c and cli.c compiled in)
frspec_add_test(test_backend_registry test_backend_registry.c registry cpu)
target_sources(test_backend_registry PRIVATE ${CMAKE_SOURCE_DIR}/launch/options.c ${CMAKE_SOURCE_DIR}/launch/cli.c)
target_include_directories(test_backend_registry PRIVATE ${CMAKE_SOURCE_DIR}/launch)

# sharded sampling == single rank, at 2 and 3 ranks (vocabulary split unevenly at 3)
foreach(np 2 3)
  add_test(NAME test_sampling_np${np}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${FRSPEC_MPIRUN_FLAGS}
                   $<TARGET_FILE:test_sampling>)
  set_tests_properties(test_sampling_np${np} PROPERTIES ENVIRONMENT "${FRSPEC_FWD_MPI_ENV}" TIMEOUT 600
                       LABELS "sampling;mpi")
endforeach()

# tensor-parallel forward: llama_model_load(dir, rank, 2), logits shards and greedy tokens vs transformers
add_test(NAME test_forward_tp2
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${FRSPEC_MPIRUN_FLAGS} $<TARGET_FILE:test_forward>)
set_tests_properties(test_forward_tp2 PROPERTIES ENVIRONMENT "${FRSPEC_FWD_MPI_ENV}" TIMEOUT 600
                     LABELS "forward;mpi")
