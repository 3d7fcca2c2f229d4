# batch: batched speculative decoding (paged KV pool accounting, the CPU batched ops, the batched engine).
frspec_add_test(test_kvpool test_kvpool.c batch)
frspec_add_test(test_batch test_batch.c batch spec cpu)
