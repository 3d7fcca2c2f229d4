# batch: batched speculative decoding (paged KV pool accounting, the CPU batched ops, the batched engine).
frspec_add_test(test_kvpool test_kvpool.c batch)
