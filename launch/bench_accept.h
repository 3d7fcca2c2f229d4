/* bench_accept.h - `frspec bench acceptance` (launch/bench_accept.c): mean accepted length and
 * tokens/s of real model pairs on a held-out prompt set, autoregressive against EAGLE-2 with the
 * full vocabulary against FR-Spec at each K, on the CPU or the GPU.
 *
 * defines: bench_acceptance
 */
#ifndef FRSPEC_BENCH_ACCEPT_H
#define FRSPEC_BENCH_ACCEPT_H

/* argv[0] = "acceptance"; returns the process exit code. */
int bench_acceptance(int argc, char **argv);

#endif
