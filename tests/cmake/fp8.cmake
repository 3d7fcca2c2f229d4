# fp8.cmake - FP8 checkpoints (issue 15): compressed-tensors and fbgemm_fp8 layouts loaded as
# published, the CPU forward on them vs transformers on the dequantized weights (test_forward's
# checks, at TP 1 and 2), activation quantization vs its Python reference, `frspec quantize` vs
# compressed-tensors bit for bit, malformed files, speculative == autoregressive on FP8 targets.
# Fixtures: tests/fixtures/models/fp8-*, tests/fixtures/fp8 (tests/gen/gen_fp8_fixtures.py).
set(FRSPEC_FP8_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

add_test(NAME test_fp8_forward COMMAND test_forward fp8-ct-channel fp8-ct-static fp8-fbgemm)
set_tests_properties(test_fp8_forward PROPERTIES TIMEOUT 600 LABELS "fp8;forward;cpu")
add_test(NAME test_fp8_forward_tp2
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${FRSPEC_MPIRUN_FLAGS} $<TARGET_FILE:test_forward>
                 fp8-ct-channel fp8-ct-static)
set_tests_properties(test_fp8_forward_tp2 PROPERTIES ENVIRONMENT "${FRSPEC_FP8_MPI_ENV}" TIMEOUT 600
                     LABELS "fp8;forward;mpi")

# e4m3, quantize vs compressed-tensors, --fp8-activations quant, malformed files, spec == AR
frspec_add_test(test_fp8 test_fp8.c fp8 cpu)
target_sources(test_fp8 PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c)
target_compile_definitions(test_fp8 PRIVATE FRSPEC_DEFAULT_PAIR="${CMAKE_SOURCE_DIR}/configs/default")

# GPU: the FP8 kernels vs the CPU reference, speculative == autoregressive on the CUDA backend with
# FP8 targets, and test_cuda_model's checks (vs transformers and the CPU backend) on the FP8
# fixtures. Skipped (77) without a CUDA device.
if(FRSPEC_HAVE_CUDA)
  frspec_add_test(test_cuda_fp8 test_cuda_fp8.c fp8 cuda gpu)
  target_sources(test_cuda_fp8 PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c)
  if(TARGET test_cuda_model)
    add_test(NAME test_cuda_fp8_model
             COMMAND test_cuda_model models/fp8-ct-channel models/fp8-ct-static models/fp8-fbgemm)
    set_tests_properties(test_cuda_fp8_model PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "fp8;cuda;gpu")
  endif()
endif()

# the command line: frspec quantize, then generate on its output (both activation modes), and a bad flag value
add_test(NAME test_fp8_cli
         COMMAND sh -c "d=$(mktemp -d) && trap 'rm -rf $d' EXIT && \
$<TARGET_FILE:frspec> quantize --in ${FRSPEC_FIXTURES}/models/gqa-bf16 --out $d/q && \
$<TARGET_FILE:frspec> generate --model $d/q --device cpu --prompt Hello --max-new-tokens 4 --quiet && \
$<TARGET_FILE:frspec> generate --model ${FRSPEC_FIXTURES}/models/fp8-fbgemm --device cpu --prompt Hello \
  --max-new-tokens 4 --fp8-activations quant --quiet && \
! $<TARGET_FILE:frspec> generate --model $d/q --device cpu --prompt Hello --fp8-activations bogus 2>/dev/null")
set_tests_properties(test_fp8_cli PROPERTIES TIMEOUT 120 LABELS "fp8;cli")
