/* main.c - the frspec program: subcommand dispatch. Only launch/ prints errors and exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"generate", cmd_generate, "generate text (autoregressive, or speculative with --draft)"},
    {"tokenize", cmd_tokenize, "token ids of a text, or text of ids"},
    {"vocab", cmd_vocab, "FR-Spec token lists: `vocab build` counts token frequencies over a corpus, `vocab show`"},
    {"convert-draft", cmd_convert_draft, "convert an EAGLE pytorch_model.bin to model.safetensors"},
    {"quantize", cmd_quantize, "write an FP8 (compressed-tensors) checkpoint from a bf16 one"},
    {"bench", cmd_bench, "timings on synthetic models (GPU), `bench acceptance` on real model pairs"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: frspec <command> [options]   (frspec <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nMulti-GPU: mpirun -np N frspec generate --tp N ...  (one rank per GPU)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("frspec %s\n", FRSPEC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "frspec: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
