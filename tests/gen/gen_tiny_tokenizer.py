#!/usr/bin/env python3
"""gen_tiny_tokenizer.py - builds tests/fixtures/tiny-tokenizer/tokenizer.json, a tiny byte-level BPE
tokenizer shaped like Llama 3's (for the tiny test models of the other test areas).

Shape: the Llama 3 pre-tokenizer (Split on the Llama 3 regex, Isolated + ByteLevel without regex),
BPE with ignore_merges, 507 learned ids (256 bytes + merges) followed by the five Llama-3 special
tokens as added special tokens (ids 507..511, vocab 512), a TemplateProcessing post-processor that
adds <|begin_of_text|>, and the ByteLevel decoder. Trained with Hugging Face `tokenizers` on the
English questions of DATA/prompts (MT-Bench + EAGLE alpaca), in file order, so the
output is deterministic (the script checks this by training twice).

usage: python3 tests/gen/gen_tiny_tokenizer.py --data DATA [--out DIR]
"""
import argparse
import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>"]
N_LEARNED = 507  # + 5 specials = 512


def corpus(data):
    texts = []
    for name in ("mt_bench_question.jsonl", "eagle_alpaca_question.jsonl"):
        with open(os.path.join(data, "prompts", name), encoding="utf-8") as f:
            for line in f:
                q = json.loads(line)
                texts.extend(q["turns"])
                texts.extend(q.get("reference") or [])
    return texts


def build(texts):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=N_LEARNED, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.get_vocab_size() == N_LEARNED, tok.get_vocab_size()
    tok.add_special_tokens(SPECIALS)
    bos = tok.token_to_id(SPECIALS[0])
    assert bos == N_LEARNED, bos
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A {SPECIALS[0]}:1 $B:1",
        special_tokens=[(SPECIALS[0], bos)])
    return tok


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", required=True,
                    help="data directory: llama3.1-tokenizer/tokenizer.json and prompts/ (tests/README.md)")
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "tiny-tokenizer"))
    args = ap.parse_args()
    texts = corpus(args.data)
    a = build(texts).to_str(pretty=True)
    b = build(texts).to_str(pretty=True)
    assert a == b, "tokenizers training is not deterministic here"
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(a)
    tok = Tokenizer.from_file(path)
    enc = tok.encode("Hello, my dog is cute")
    print(f"wrote {path}: vocab {tok.get_vocab_size()}, {len(texts)} training texts;",
          "'Hello, my dog is cute' ->", enc.ids)


if __name__ == "__main__":
    main()
