# batch: batched speculative decoding (paged KV pool accounting, the CPU batched ops, the batched engine).
frspec_add_test(test_kvpool test_kvpool.c batch)
frspec_add_test(test_batch test_batch.c batch spec cpu)
target_sources(test_batch PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c) # spec_load_pair
add_test(NAME cli_batch_engine
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/batch_engine.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES}
                 ${MPIEXEC_EXECUTABLE} ${FRSPEC_MPIRUN_FLAGS})
set_tests_properties(cli_batch_engine PROPERTIES LABELS "cli;mpi;batch" TIMEOUT 900
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
