# parallel.cmake - tests of parallel/ (MPI collectives, bootstrap, control plane, faults) and
# kernels/nccl_comm.c. MPI tests run the binary under mpirun with N ranks.
set(FRSPEC_PAR_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_mpi_yield_when_idle=1;OMPI_MCA_btl_vader_single_copy_mechanism=none")

# frspec_add_mpi_test(NAME TARGET NP [args...]): TARGET (built by frspec_add_test) under mpirun -np NP.
function(frspec_add_mpi_test name target np)
  add_test(NAME ${name} COMMAND ${FRSPEC_MPIRUN} ${np} ${FRSPEC_MPIRUN_FLAGS} $<TARGET_FILE:${target}> ${ARGN})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS "parallel;mpi"
                                          ENVIRONMENT "${FRSPEC_PAR_ENV}")
endfunction()

frspec_add_test(test_comm test_comm.c parallel)
set_tests_properties(test_comm PROPERTIES ENVIRONMENT "${FRSPEC_PAR_ENV}")
frspec_add_mpi_test(test_comm_np2 test_comm 2)
frspec_add_mpi_test(test_comm_np4 test_comm 4)

frspec_add_test(test_control test_control.c parallel)
set_tests_properties(test_control PROPERTIES ENVIRONMENT "${FRSPEC_PAR_ENV}")
frspec_add_mpi_test(test_control_np3 test_control 3)

# Faults: the driver runs the job under mpirun itself and fails on a hang (40 s bound).
add_executable(test_fault ${CMAKE_CURRENT_SOURCE_DIR}/test_fault.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_compile_options(test_fault PRIVATE ${FRSPEC_C_WARNINGS})
target_include_directories(test_fault PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_fault PRIVATE FRSPEC_FIXTURES="${FRSPEC_FIXTURES}")
target_link_libraries(test_fault PRIVATE frspec_core)
foreach(scenario fail oom kill hang step)
  add_test(NAME test_fault_${scenario}
           COMMAND test_fault --driver ${scenario} ${FRSPEC_MPIRUN} ${FRSPEC_MPIRUN_FLAGS})
  set_tests_properties(test_fault_${scenario} PROPERTIES TIMEOUT 60 LABELS "parallel;mpi;fault"
                                                         ENVIRONMENT "${FRSPEC_PAR_ENV}")
endforeach()

# GPU: NCCL communicator and device collectives (skip without a GPU or with fewer GPUs than ranks).
if(FRSPEC_HAVE_CUDA)
  frspec_add_test(test_par_nccl test_par_nccl.c parallel gpu)
  set_tests_properties(test_par_nccl PROPERTIES ENVIRONMENT "${FRSPEC_PAR_ENV}")
  frspec_add_mpi_test(test_par_nccl_np2 test_par_nccl 2)
  frspec_add_mpi_test(test_par_nccl_stuck_np2 test_par_nccl 2 --stuck)
  set_tests_properties(test_par_nccl_np2 test_par_nccl_stuck_np2 PROPERTIES LABELS "parallel;mpi;gpu")
endif()

# The presets in configs/ parse and are self-consistent.
frspec_add_test(test_par_configs test_par_configs.c parallel)
target_compile_definitions(test_par_configs PRIVATE FRSPEC_CONFIGS="${CMAKE_SOURCE_DIR}/configs")
