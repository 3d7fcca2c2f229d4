# The frspec program end to end (tests/cli/*.sh): TP identity under mpirun, batch jobs.
add_test(NAME cli_tp_identity
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/tp_identity.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES}
                 ${MPIEXEC_EXECUTABLE} ${FRSPEC_MPIRUN_FLAGS})
set_tests_properties(cli_tp_identity PROPERTIES LABELS "cli;mpi;tp" TIMEOUT 900
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
add_test(NAME cli_batch COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/batch.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES})
set_tests_properties(cli_batch PROPERTIES LABELS "cli" TIMEOUT 300)
if(FRSPEC_HAVE_CUDA)
  add_test(NAME cli_nccl1_identity
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/nccl1_identity.sh $<TARGET_FILE:frspec> ${FRSPEC_FIXTURES}
                   ${MPIEXEC_EXECUTABLE} ${FRSPEC_MPIRUN_FLAGS})
  set_tests_properties(cli_nccl1_identity PROPERTIES LABELS "cli;gpu;mpi" TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;NCCL_NVLS_ENABLE=0")
endif()
# cmake --install into a temporary prefix; the installed program finds its default pair itself
add_test(NAME cli_install
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/install.sh ${CMAKE_COMMAND} ${CMAKE_BINARY_DIR} $<TARGET_FILE:frspec>)
set_tests_properties(cli_install PROPERTIES LABELS "cli;install" TIMEOUT 300)
# the folder layering of the README's Layout section, checked on the sources
add_test(NAME layout COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/layout.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(layout PROPERTIES LABELS "layout" TIMEOUT 60)
