# tokenizer: runtime/tokenizer.c against HF tokenizers fixtures (tests/gen/gen_tokenizer_fixtures.py)
frspec_add_test(test_tokenizer test_tokenizer.c tokenizer)
