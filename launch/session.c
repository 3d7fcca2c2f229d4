/* session.c - loading one rank's model, draft, vocabulary, tokenizer and backend (chosen through
 * runtime/backend_registry.h, created with the options' struct frs_backend_options). */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "backend_registry.h" /* frs_backend_find, frs_backend_default */
#include "batch.h"
#include "batch_engine.h"
#include "frvocab.h"

int session_step_rows(const struct session *s)
{
    const int per_seq = s->have_draft && s->opt.spec_policy != FRS_SPEC_OFF ? s->opt.tree.size : 1;
    /* a step's verify rows, bounded (activations and logits scale with them): past the bound the
     * engine gives the latest sequences autoregressive steps for that step */
    const int cap = strcmp(s->device, "cpu") ? 1024 : 512;
    const long rows = (long)s->opt.batch * per_seq;
    return rows > cap ? (s->opt.batch > cap ? s->opt.batch : cap) : (int)rows;
}

int session_step_tokens(const struct session *s)
{
    if (s->opt.step_tokens > 0)
        return s->opt.step_tokens;
    /* enough prefill per step that admissions keep the batch full (measured: with the budget equal
     * to --batch verify rows, a --batch 64 autoregressive job ran about 20 sequences at a time)
     * while a long prompt still takes several steps (chunked) */
    const int rows = session_step_rows(s), least = strcmp(s->device, "cpu") ? 2048 : 512;
    return rows > least ? rows : least;
}

enum frs_status session_open(struct session *s, const struct gen_options *o, struct frs_comm *comm,
                             int want_tokenizer)
{
    memset(s, 0, sizeof *s);
    s->opt = *o;
    s->comm = comm;
    s->rank = comm ? comm->rank : 0;
    s->size = comm ? comm->size : 1;
    enum frs_status st = FRS_OK;
    int32_t *ids = NULL;

    if (!o->model_dir)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "no model: pass --model DIR (a Hugging Face Llama directory)");
    if (o->tp && o->tp != s->size)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "--tp %d but the job has %d rank(s): launch with mpirun -np %d", o->tp,
                       s->size, o->tp);
    const struct frs_backend_entry *entry = frs_backend_default();
    if (o->device)
        FRS_TRY(frs_backend_find(o->device, &entry));
    s->device = entry->name;
    const struct frs_backend_ops *ops = entry->ops;

    FRS_TRY_GOTO(llama_model_load(&s->model, o->model_dir, s->rank, s->size), st, fail);
    s->have_model = 1;
    if (gen_options_finish(&s->opt, &s->model.cfg)) {
        st = FRS_ERR(FRS_ERR_INVALID_ARG, "invalid options");
        goto fail;
    }
    if (s->opt.draft_dir) {
        FRS_TRY_GOTO(eagle_draft_load(&s->draft, s->opt.draft_dir, &s->model), st, fail);
        s->have_draft = 1;
        if (s->opt.fr_vocab) {
            int n_ids = 0;
            FRS_TRY_GOTO(frvocab_load(s->opt.fr_vocab, &ids, &n_ids), st, fail);
            int k = s->opt.fr_vocab_size ? s->opt.fr_vocab_size : 0;
            FRS_TRY_GOTO(eagle_draft_set_vocab(&s->draft, &s->model, ids, n_ids, k), st, fail);
        }
        if (s->opt.tree.topk > s->draft.k) {
            st = FRS_ERR(FRS_ERR_INVALID_ARG, "--tree-topk %d is larger than the draft vocabulary (%s: K = %d ids): "
                         "lower --tree-topk or use a longer FR-Spec list", s->opt.tree.topk,
                         s->opt.fr_vocab ? s->opt.fr_vocab : "full vocabulary", s->draft.k);
            goto fail;
        }
    }
    if (want_tokenizer) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tokenizer.json", o->model_dir);
        FRS_TRY_GOTO(tokenizer_load(&s->tok, o->tokenizer ? o->tokenizer : path), st, fail);
        if (tokenizer_vocab_size(s->tok) > s->model.cfg.vocab_size) {
            st = FRS_ERR(FRS_ERR_SHAPE, "%s has %d token ids but %s/config.json vocab_size is %d: tokenizer and model differ",
                         o->tokenizer ? o->tokenizer : path, tokenizer_vocab_size(s->tok), o->model_dir,
                         s->model.cfg.vocab_size);
            goto fail;
        }
    }
    struct frs_limits lim = {
        .max_ctx = s->opt.max_ctx,
        .max_tree = s->have_draft ? s->opt.tree.size : 0,
        .prefill_chunk = s->opt.prefill_chunk,
    };
    if (s->opt.spec_policy < 0 || !s->have_draft)
        s->opt.spec_policy = s->have_draft ? FRS_SPEC_AUTO : FRS_SPEC_OFF;
    if (s->opt.batch > 0 && ops->batch && !ops->batch->draft && s->opt.spec_policy != FRS_SPEC_OFF) {
        /* batched ops without a batched draft (a backend that has none): batched jobs decode
         * autoregressively (and the pool's step rows are sized for that); --prompt still speculates */
        fprintf(stderr, "frspec: the %s backend has no batched draft yet: --prompts batches run with --spec-policy "
                "off\n", ops->name);
        s->opt.spec_policy = FRS_SPEC_OFF;
    }
    if (s->opt.batch > 0) { /* the paged pool for the batched engine (--prompts jobs) */
        lim.max_seqs = s->opt.batch;
        lim.max_step_rows = session_step_rows(s);
        lim.max_prefill_rows = session_step_tokens(s); /* a step's prompt chunks in one forward */
        lim.kv_block = FRS_KV_BLOCK_DEFAULT;
        lim.kv_blocks = s->opt.kv_blocks;
        lim.kv_share = s->opt.kv_share > 0 ? s->opt.kv_share : strcmp(s->device, "cpu") ? 0.9f : 0.5f;
        lim.max_topk = s->opt.tree.topk; /* auto's smaller trees never ask for more */
    }
    s->be.ops = ops;
    FRS_TRY_GOTO(ops->create(&s->be, &s->model, s->have_draft ? &s->draft : NULL, comm, &lim, &s->opt.backend), st,
                 fail);
    s->have_backend = 1;
    free(ids);
    return FRS_OK;
fail:
    free(ids);
    session_close(s);
    return st;
}

void session_close(struct session *s)
{
    if (s->have_backend)
        s->be.ops->destroy(&s->be);
    if (s->tok)
        tokenizer_free(s->tok);
    if (s->have_draft)
        eagle_draft_free(&s->draft);
    if (s->have_model)
        llama_model_free(&s->model);
    s->have_backend = s->have_draft = s->have_model = 0;
    s->tok = NULL;
}

void session_print_config(const struct session *s, FILE *f)
{
    const struct llama_config *c = &s->model.cfg;
    fprintf(f, "frspec configuration\n");
    fprintf(f, "  %-18s %s\n", "model", s->opt.model_dir);
    fprintf(f, "  %-18s layers %d, hidden %d, heads %d/%d kv, head_dim %d, ffn %d, vocab %d\n", "shape",
            c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->num_key_value_heads, c->head_dim,
            c->intermediate_size, c->vocab_size);
    fprintf(f, "  %-18s %s, tp %d\n", "device", s->device, s->size);
    if (s->model.quant.method != FRS_QUANT_NONE) {
        const struct frs_mat *w = &s->model.layers[0].wq;
        fprintf(f, "  %-18s FP8 (%s%s), activations %s\n", "weights",
                s->model.quant.method == FRS_QUANT_FBGEMM_FP8 ? "fbgemm_fp8" : "compressed-tensors",
                w->dtype == FRS_DTYPE_F8_E4M3 ? (w->scale_per_row ? ", a scale per channel" : ", a scale per tensor") : "",
                s->opt.backend.fp8_act_quant ? "quantized as the format says" : "in full precision (dequant)");
    }
    if (s->have_draft) {
        fprintf(f, "  %-18s %s\n", "draft", s->opt.draft_dir);
        fprintf(f, "  %-18s %s (K = %d)\n", "draft vocabulary", s->opt.fr_vocab ? s->opt.fr_vocab : "full", s->draft.k);
        fprintf(f, "  %-18s depth %d, top-k %d, %d tokens\n", "tree", s->opt.tree.depth, s->opt.tree.topk,
                s->opt.tree.size);
    } else {
        fprintf(f, "  %-18s none (autoregressive)\n", "draft");
    }
    if (s->opt.sampling.temperature > 0)
        fprintf(f, "  %-18s temperature %g, top-p %g, top-k %d, seed %llu\n", "sampling", s->opt.sampling.temperature,
                s->opt.sampling.top_p, s->opt.sampling.top_k, (unsigned long long)s->opt.sampling.seed);
    else
        fprintf(f, "  %-18s greedy\n", "sampling");
    fprintf(f, "  %-18s %d tokens\n", "context", s->opt.max_ctx);
    if (s->opt.batch > 0 && s->be.ops->batch)
        fprintf(f, "  %-18s %d sequences, spec policy %s, KV pool %d blocks of %d positions\n", "batch", s->opt.batch,
                batch_policy_name((enum frs_spec_policy)s->opt.spec_policy), s->be.kv_blocks, FRS_KV_BLOCK_DEFAULT);
    char bo[160];
    if (strcmp(backend_options_describe(&s->opt.backend, bo, sizeof bo), "defaults"))
        fprintf(f, "  %-18s %s (FRS_* environment)\n", "backend options", bo);
}
