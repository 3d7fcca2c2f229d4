/* main.c - the frspec program: subcommand dispatch. Only launch/ prints errors and exits. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: frspec <generate|tokenize|vocab|bench> [options]\n");
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "frspec: unknown command '%s'\n", argv[1]);
    return 2;
}
