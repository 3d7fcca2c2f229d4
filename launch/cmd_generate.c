/* cmd_generate.c - `frspec generate`: one prompt streamed to stdout, or a batch of prompts
 * (JSONL in, JSONL out, each result written and flushed as soon as it is finished, so a batch
 * job killed midway keeps every finished result; --resume skips them on the next run). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "runner.h"
#include "session.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: frspec generate [--model DIR] (--prompt TEXT | --prompt-file FILE | --prompts FILE.jsonl)\n"
            "                       [--chat] [--system TEXT] [--json] [--out FILE.jsonl] [options]\n"
            "\n"
            "Generates a continuation of the prompt, streaming text to stdout and a one-line summary\n"
            "(tokens, tokens/s, prefill time, acceptance) to stderr. With --draft, speculative decoding\n"
            "(EAGLE-2 tree, FR-Spec vocabulary with --fr-vocab); greedy output is token-identical to\n"
            "plain greedy decoding.\n"
            "\n"
            "prompts:\n"
            "  --prompt TEXT          the prompt\n"
            "  --prompt-file FILE     the prompt, read from a file ('-' = stdin)\n"
            "  --prompt-ids IDS       the prompt as token ids (\"128000,9906,11\"): no tokenizer needed\n"
            "  --prompts FILE.jsonl   a batch: one JSON object a line with \"prompt\" (or \"turns\"[0],\n"
            "                         \"question\", \"text\") and an optional id (\"id\", \"question_id\", \"task_id\")\n"
            "  --out FILE.jsonl       batch results, one line each, appended and fsynced per prompt\n"
            "                         (ids exact, duplicates refused; bad lines get an error line)\n"
            "  --resume               skip prompts with a result in --out; retry those with an error\n"
            "  --chat                 wrap the prompt in the Llama-3 chat format\n"
            "  --system TEXT          system message for --chat\n"
            "  --stop-token ID        extra stop token (repeatable; eos ids of the model always stop)\n"
            "  --ignore-eos           generate max-new-tokens tokens whatever they are (benchmarks)\n"
            "output:\n"
            "  --json                 one JSON object on stdout (tokens, text, timings) instead of text\n"
            "  --quiet                no configuration table, no summary, no batch progress\n");
    gen_options_usage(f);
    fprintf(f, "parallel:\n%s", par_options_usage());
}

int cmd_generate(int argc, char **argv)
{
    struct gen_options opt;
    struct run_options ro;
    gen_options_init(&opt);
    run_options_init(&ro);
    const char *prompt = NULL, *prompt_file = NULL, *prompt_ids = NULL;
    struct par_options po;
    par_options_default(&po);
    if (par_options_parse(&po, &argc, argv) != FRS_OK)
        return cli_fail("generate");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int r = gen_options_parse(&opt, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        r = run_options_parse(&ro, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--prompt") && i + 1 < argc) {
            prompt = argv[++i];
        } else if (!strcmp(a, "--prompt-ids") && i + 1 < argc) {
            prompt_ids = argv[++i];
        } else if (!strcmp(a, "--prompt-file") && i + 1 < argc) {
            prompt_file = argv[++i];
        } else {
            fprintf(stderr, "frspec generate: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!!prompt + !!prompt_file + !!prompt_ids + !!ro.prompts_file != 1) {
        fprintf(stderr, "frspec generate: give exactly one of --prompt, --prompt-file, --prompt-ids, --prompts (see --help)\n");
        return 2;
    }
    if (ro.out && !ro.prompts_file) {
        fprintf(stderr, "frspec generate: --out is for batch jobs (--prompts FILE.jsonl); a single prompt's "
                "result goes to stdout (use --json and a shell redirection)\n");
        return 2;
    }
    if (ro.resume && !ro.out) {
        fprintf(stderr, "frspec generate: --resume needs --out FILE.jsonl (the results file it resumes)\n");
        return 2;
    }
    if (gen_options_check(&opt))
        return 2;
    if (!opt.model_dir)
        opt.model_dir = cli_default_model();
    /* the embedded default is a pair: its EAGLE-2 head and FR-Spec list come with it */
    char draft_cfg[4200];
    snprintf(draft_cfg, sizeof draft_cfg, "%s/config.json", cli_default_draft());
    if (!opt.draft_dir && !opt.no_draft && !opt.config && !strcmp(opt.model_dir, cli_default_model()) &&
        access(draft_cfg, R_OK) == 0) {
        opt.draft_dir = cli_default_draft();
        /* its lists are prefixes of one another: --fr-vocab-size K alone takes the first K */
        if (!opt.fr_vocab && access(cli_default_fr(), R_OK) == 0)
            opt.fr_vocab = cli_default_fr();
    }

    char *prompt_text = NULL;
    if (prompt_file) {
        if (cli_read_file(prompt_file, &prompt_text, NULL) != FRS_OK)
            return cli_fail("--prompt-file");
        prompt = prompt_text;
    }
    int32_t *ids = NULL;
    if (prompt_ids) {
        int cap = 16;
        ids = malloc((size_t)cap * sizeof *ids);
        for (char *p = (char *)prompt_ids; ids && *p;) {
            char *end;
            p += strspn(p, " ,\t\n[]");
            if (!*p)
                break;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > 2147483647L) {
                fprintf(stderr, "frspec generate: --prompt-ids: '%.20s' is not a token id\n", p);
                free(ids);
                return 2;
            }
            if (ro.n_prompt_ids == cap) {
                int32_t *n = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
                if (!n)
                    break;
                ids = n;
            }
            ids[ro.n_prompt_ids++] = (int32_t)v;
            p = end;
        }
        ro.prompt_ids = ids;
        prompt = "";
    }
    int rc = runner_main(&opt, &ro, &po, prompt, &argc, &argv);
    free(ids);
    free(prompt_text);
    return rc;
}
