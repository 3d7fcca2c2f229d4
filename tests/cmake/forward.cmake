# forward.cmake - the CPU backend's forward pass vs Hugging Face transformers, and sampling.
# Fixtures: tests/fixtures/models (tests/gen/gen_models.py).
set(FRSPEC_FWD_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

frspec_add_test(test_forward test_forward.c forward cpu)
frspec_add_test(test_sampling test_sampling.c sampling cpu)
frspec_add_test(test_memplan test_memplan.c memplan cpu)

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
