#!/usr/bin/env python3
"""gen_frvocab_fixtures.py - writes tests/fixtures/frvocab/: FR-Spec token lists saved by torch.save
as FR-Spec's fr/fr.py saves them, tiny EAGLE-2 draft heads saved by torch.save (pytorch_model.bin)
and by safetensors (the converter's reference), and a small corpus with token counts from Hugging
Face `tokenizers` (the reference for `frspec vocab build`).

Lists (expected.json holds each raw list and its first K distinct ids, computed here in Python):
  freq_64.pt          fr.py's output for K=64 when <|eot_id|> is not in the top 64: ids[:63] + [bos, eot]
                      (65 entries, bos repeated) - counts from the Llama 3.1 tokenizer over MT-Bench
                      turns encoded with add_special_tokens=True, as fr.py does
  freq_64_eot.pt      same when eot is frequent (chat-formatted turns): ids[:64] + [bos, eot] (66
                      entries, both repeated)
  freq_64_p4.pt       freq_64.pt's list saved with pickle_protocol=4 (FRAME, MEMOIZE, ...)
  freq_1500.pt        1,500 ids (several APPENDS batches, BININT2 and BININT values)
  tuple.pt            a tuple of ints
  empty.pt            []
  out_of_range.pt     [5, 128256, 7] (128256 = Llama 3 vocabulary size: out of range)
  negative.pt         [3, -1, 4]
  long.pt             [1, 2**40] (LONG1)
  dict.pt, tensor.pt  not lists
  freq_64.txt         freq_64.pt's list in our text format, with comments and blank lines

Draft heads (config.json + pytorch_model.bin + reference.safetensors with the same tensors):
  head64/             hidden 64, 4 heads, 2 KV heads, head_dim 16, FFN 96, vocab 512, fc.bias;
                      bf16 weights, f32 fc.bias and norm, one f16 tensor; saved from an nn.Module's
                      state_dict (OrderedDict with _metadata)
  head16/             hidden 16, vocab 512, no fc.bias, f32, pickle_protocol=4; plus variants for the
                      loader's error tests: head16/nofc.safetensors (no fc.weight),
                      head16/fcshape.safetensors (fc.weight 16x16), head16/input_norm.safetensors (an
                      extra layers.0.input_layernorm.weight, to be ignored)
  views.pt            state_dict whose tensors are views: a transposed (non-contiguous) f16 tensor,
                      a slice at a storage offset, an i64 tensor, a 0-d f32 tensor, a nn.Parameter;
                      views.safetensors has the contiguous copies

Corpus (tests/fixtures/frvocab/corpus/, from DATA/prompts; MT-Bench Apache-2.0
lm-sys/FastChat, GSM8K MIT openai/grade-school-math, HumanEval MIT openai/human-eval):
  mtbench.txt         the first 40 MT-Bench questions' turns joined by blank lines (read whole)
  gsm8k.jsonl         first 25 GSM8K test problems (every string value counts)
  humaneval.jsonl.gz  first 6 HumanEval problems, gzipped
  counts_tiny.json / counts_llama3.json: {id: count} over the three files with the tiny tokenizer
  and with Llama 3.1 (add_special_tokens=False; text files encoded whole, each JSON string value
  encoded on its own), plus counts of gsm8k.jsonl's "question" field alone (--field question)

usage: python3 tests/gen/gen_frvocab_fixtures.py --data DATA [--out DIR]
"""
import argparse
import collections
import gzip
import io
import json
import os
import shutil
import warnings

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BOS, EOT = 128000, 128009


README = """# frvocab fixtures

Written by `tests/gen/gen_frvocab_fixtures.py` (rerun it to regenerate; torch.save files differ
between runs only in `.data/serialization_id`). Used by test_torchzip, test_frvocab,
test_draft_load and test_vocab_build (tests/cmake/draft.cmake). What each file is: see the
script's docstring.

Sources: the token lists are counted with the Llama 3.1 tokenizer (Llama 3.1 Community License)
over MT-Bench questions; `corpus/` copies the first 40 MT-Bench questions (Apache-2.0,
lm-sys/FastChat), the first 25 GSM8K test problems (MIT, openai/grade-school-math) and the first 6
HumanEval problems (MIT, openai/human-eval), all from DATA/prompts. The draft heads
are random tensors (seeded).
"""


def first_distinct(ids, k):
    out = list(dict.fromkeys(ids))
    return out[:k]


def fr_py_list(tok, texts, r):
    """What fr.py writes for vocab size r (its exact logic, on our texts)."""
    counter = collections.Counter()
    for t in texts:
        counter.update(tok.encode(t, add_special_tokens=True).ids)
    ids = [i for i, _ in sorted(counter.items(), key=lambda x: x[1], reverse=True)]
    eos_id = tok.encode("<|eot_id|>", add_special_tokens=True).ids  # [bos, eot]
    assert eos_id == [BOS, EOT], eos_id
    if eos_id not in ids[:r]:  # always true in fr.py (a list is never an element of ids)
        not_in_ids = len(set(eos_id) - set(ids[:r]))
        return ids[:r - not_in_ids] + eos_id
    return ids[:r]


def save_torch(obj, path, **kw):
    torch.save(obj, path, **kw)
    back = torch.load(path, weights_only=False)
    if isinstance(obj, (list, tuple)):
        assert back == obj


def make_head(hidden, heads, kv, head_dim, ffn, vocab, bias, dtype, seed):
    g = torch.Generator().manual_seed(seed)

    def w(*shape, dt=dtype):
        return (torch.randn(*shape, generator=g) * 0.05).to(dt)

    sd = collections.OrderedDict()
    sd["fc.weight"] = w(hidden, 2 * hidden)
    if bias:
        sd["fc.bias"] = w(hidden, dt=torch.float32)
    sd["layers.0.self_attn.q_proj.weight"] = w(heads * head_dim, hidden)
    sd["layers.0.self_attn.k_proj.weight"] = w(kv * head_dim, hidden)
    sd["layers.0.self_attn.v_proj.weight"] = w(kv * head_dim, hidden, dt=torch.float16 if dtype != torch.float32 else dtype)
    sd["layers.0.self_attn.o_proj.weight"] = w(hidden, heads * head_dim)
    sd["layers.0.mlp.gate_proj.weight"] = w(ffn, hidden)
    sd["layers.0.mlp.up_proj.weight"] = w(ffn, hidden)
    sd["layers.0.mlp.down_proj.weight"] = w(hidden, ffn)
    sd["layers.0.post_attention_layernorm.weight"] = (1 + w(hidden, dt=torch.float32))
    cfg = {
        "architectures": ["LlamaForCausalLM"], "bias": bias, "bos_token_id": 128000, "eos_token_id": 128001,
        "hidden_act": "silu", "hidden_size": hidden, "intermediate_size": ffn,
        "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": heads,
        "num_hidden_layers": 1, "num_key_value_heads": kv, "head_dim": head_dim, "rms_norm_eps": 1e-05,
        "rope_theta": 500000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16" if dtype == torch.bfloat16 else "float32", "vocab_size": vocab,
    }
    return sd, cfg


def state_dict_with_metadata(sd):
    """A state_dict as nn.Module.state_dict() returns it: an OrderedDict with _metadata (pickled
    with BUILD), as the published EAGLE heads are."""
    out = collections.OrderedDict(sd)
    out._metadata = collections.OrderedDict({"": {"version": 1}, "fc": {"version": 1}})
    return out


def write_head(out, name, sd, cfg, **kw):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_torch(sd, os.path.join(d, "pytorch_model.bin"), **kw)
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(d, "reference.safetensors"))
    back = torch.load(os.path.join(d, "pytorch_model.bin"), weights_only=False)
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    return d


def corpus(data, out, tiny_path, llama_path):
    cdir = os.path.join(out, "corpus")
    os.makedirs(cdir, exist_ok=True)
    turns = []
    with open(os.path.join(data, "prompts", "mt_bench_question.jsonl"), encoding="utf-8") as f:
        for line in list(f)[:40]:
            turns.extend(json.loads(line)["turns"])
    text = "\n\n".join(turns) + "\n"
    with open(os.path.join(cdir, "mtbench.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(data, "prompts", "gsm8k_test.jsonl"), encoding="utf-8") as f:
        gsm = [f.readline() for _ in range(25)]
    with open(os.path.join(cdir, "gsm8k.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(gsm)
    with gzip.open(os.path.join(data, "prompts", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        he = [f.readline() for _ in range(6)]
    with open(os.path.join(cdir, "humaneval.jsonl.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write("".join(he).encode("utf-8"))

    def strings(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, dict):
            for x in v.values():
                yield from strings(x)

    for tag, path in (("tiny", tiny_path), ("llama3", llama_path)):
        tok = Tokenizer.from_file(path)
        c = collections.Counter(tok.encode(text, add_special_tokens=False).ids)
        total = sum(c.values())
        for lines in (gsm, he):
            for line in lines:
                for s in strings(json.loads(line)):
                    c.update(tok.encode(s, add_special_tokens=False).ids)
        q = collections.Counter()
        for line in gsm:
            q.update(tok.encode(json.loads(line)["question"], add_special_tokens=False).ids)
        res = {"vocab_size": tok.get_vocab_size(with_added_tokens=True),
               "mtbench_tokens": total,
               "counts": {str(k): v for k, v in sorted(c.items())},
               "gsm8k_question_counts": {str(k): v for k, v in sorted(q.items())}}
        with open(os.path.join(out, f"counts_{tag}.json"), "w") as f:
            json.dump(res, f, separators=(",", ":"))


def main():
    warnings.filterwarnings("ignore", message="Detected pickle protocol")
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True,
                    help="data directory: llama3.1-tokenizer/tokenizer.json and prompts/ (tests/README.md)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "frvocab"))
    a = ap.parse_args()
    out = a.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    llama_path = os.path.join(a.data, "llama3.1-tokenizer", "tokenizer.json")
    tiny_path = os.path.join(ROOT, "tests", "fixtures", "tiny-tokenizer", "tokenizer.json")
    tok = Tokenizer.from_file(llama_path)

    turns = []
    with open(os.path.join(a.data, "prompts", "mt_bench_question.jsonl"), encoding="utf-8") as f:
        for line in f:
            turns.extend(json.loads(line)["turns"])
    chat = [f"<|start_header_id|>user<|end_header_id|>\n\n{t}<|eot_id|>" for t in turns]

    expected = {}

    def add_list(name, lst, k=None, **kw):
        save_torch(lst, os.path.join(out, name), **kw)
        e = {"raw": list(lst)}
        if k is not None:
            e["k"] = k
            e["first_k_distinct"] = first_distinct(list(lst), k)
        expected[name] = e

    l64 = fr_py_list(tok, turns, 64)
    assert len(l64) == 65 and l64.count(BOS) == 2, (len(l64), l64.count(BOS))
    add_list("freq_64.pt", l64, 64)
    l64e = fr_py_list(tok, chat, 64)
    assert len(l64e) == 66 and l64e.count(BOS) == 2 and l64e.count(EOT) == 2
    add_list("freq_64_eot.pt", l64e, 64)
    add_list("freq_64_p4.pt", l64, 64, pickle_protocol=4)
    l1500 = fr_py_list(tok, turns, 1500)
    add_list("freq_1500.pt", l1500, 1500)
    add_list("tuple.pt", tuple(l64[:10]), 10)
    expected["tuple.pt"]["raw"] = list(l64[:10])
    add_list("empty.pt", [])
    add_list("out_of_range.pt", [5, 128256, 7])
    add_list("negative.pt", [3, -1, 4])
    add_list("long.pt", [1, 2**40])
    save_torch({"a": 1}, os.path.join(out, "dict.pt"))
    save_torch(torch.arange(5), os.path.join(out, "tensor.pt"))
    with open(os.path.join(out, "freq_64.txt"), "w") as f:
        f.write("# FR-Spec token list, most frequent first\n\n")
        for i, t in enumerate(l64):
            f.write(f"{t}  # rank {i}\n" if i % 7 == 0 else f"{t}\n")
            if i == 30:
                f.write("   \n# a comment line\n")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))

    # draft heads
    sd, cfg = make_head(64, 4, 2, 16, 96, 512, True, torch.bfloat16, 1)
    write_head(out, "head64", state_dict_with_metadata(sd), cfg)
    sd16, cfg16 = make_head(16, 2, 1, 8, 32, 512, False, torch.float32, 2)
    d16 = write_head(out, "head16", sd16, cfg16, pickle_protocol=4)
    save_file({k: v for k, v in sd16.items() if k != "fc.weight"}, os.path.join(d16, "nofc.safetensors"))
    bad = dict(sd16)
    bad["fc.weight"] = sd16["fc.weight"][:, :16].contiguous()
    save_file(bad, os.path.join(d16, "fcshape.safetensors"))
    extra = dict(sd16)
    extra["layers.0.input_layernorm.weight"] = torch.ones(16)
    extra["embed_tokens.weight"] = torch.zeros(32, 16, dtype=torch.bfloat16)
    save_file(extra, os.path.join(d16, "input_norm.safetensors"))

    # views
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, generator=g)
    views = collections.OrderedDict()
    views["transposed_f16"] = base.half().t()
    views["slice_f32"] = base.flatten()[7:19]
    views["row_bf16"] = base.bfloat16()[2]
    views["ids_i64"] = torch.arange(10, 22, dtype=torch.int64).view(3, 4)[:, 1:3]
    views["scalar_f32"] = torch.tensor(3.25)
    views["param"] = torch.nn.Parameter(torch.randn(2, 3, generator=g), requires_grad=False)
    torch.save(views, os.path.join(out, "views.pt"))
    save_file({k: v.detach().contiguous() for k, v in views.items()}, os.path.join(out, "views.safetensors"))
    back = torch.load(os.path.join(out, "views.pt"), weights_only=True)
    for k, v in views.items():
        assert torch.equal(back[k], v), k

    corpus(a.data, out, tiny_path, llama_path)

    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README)

    total = 0
    for dp, _, fs in os.walk(out):
        for fn in fs:
            total += os.path.getsize(os.path.join(dp, fn))
    print(f"wrote {out}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
