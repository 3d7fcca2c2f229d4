# spec: EAGLE-2 tree, acceptance walk, CPU speculative decoding (draft forward, verify, commit).
frspec_add_test(test_tree test_tree.c spec)
frspec_add_test(test_accept test_accept.c spec)
frspec_add_test(test_draft_forward test_draft_forward.c spec cpu)
frspec_add_test(test_spec test_spec.c spec cpu)
target_sources(test_spec PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/spec_util.c) # shared with test_cuda_spec/sample
# 3000 seeded sampling runs x 2 (chi-square) dominate: ~75 s in a release build, ~540 s under
# ASan+UBSan on 2 cores, too close to the default 600 s
set_tests_properties(test_spec PROPERTIES TIMEOUT 1800)
