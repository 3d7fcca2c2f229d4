/* defaults.c - where the embedded default model pair is: next to the installed program
 * (<prefix>/bin/frspec -> <prefix>/share/frspec/default, found from /proc/self/exe), else the
 * source tree's configs/default as compiled in (a binary run from its build directory). */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FRSPEC_INSTALL_DATA_REL
#define FRSPEC_INSTALL_DATA_REL "../share/frspec/default" /* from the program's directory */
#endif

struct cli_default_pair {
    int resolved;
    char model[PATH_MAX], draft[PATH_MAX], fr[PATH_MAX];
};

static struct cli_default_pair *default_pair(void)
{
    static struct cli_default_pair p;
    if (p.resolved)
        return &p;
    p.resolved = 1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char rel[PATH_MAX + 64], base[PATH_MAX], probe[PATH_MAX + 64];
            snprintf(rel, sizeof rel, "%s/%s", exe, FRSPEC_INSTALL_DATA_REL);
            /* canonical (no "bin/..") and short enough for the suffixes below */
            if (realpath(rel, base) && strlen(base) + 32 < sizeof p.model) {
                snprintf(probe, sizeof probe, "%s/target/config.json", base);
                if (access(probe, R_OK) == 0) {
                    snprintf(p.model, sizeof p.model, "%.*s/target", PATH_MAX - 32, base);
                    snprintf(p.draft, sizeof p.draft, "%.*s/draft", PATH_MAX - 32, base);
                    snprintf(p.fr, sizeof p.fr, "%.*s/fr/freq_8192.pt", PATH_MAX - 32, base);
                    return &p;
                }
            }
        }
    }
    snprintf(p.model, sizeof p.model, "%s", FRSPEC_DEFAULT_MODEL);
    snprintf(p.draft, sizeof p.draft, "%s", FRSPEC_DEFAULT_DRAFT);
    snprintf(p.fr, sizeof p.fr, "%s", FRSPEC_DEFAULT_FR);
    return &p;
}

const char *cli_default_model(void) { return default_pair()->model; }
const char *cli_default_draft(void) { return default_pair()->draft; }
const char *cli_default_fr(void) { return default_pair()->fr; }
