/* The cost of one `cpuid` instruction on this machine (it traps to the hypervisor in a VM). zstd runs it three
 * times per compression or decompression context it creates (BMI2 detection); see BENCHMARKS.md, issue 6.
 *   cc -O2 benches/scripts/cpuid_cost.c -o /tmp/cpuid_cost && /tmp/cpuid_cost */
#include <cpuid.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    unsigned a, b, c, d;
    struct timespec t0, t1;
    const int n = 10000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) __cpuid_count(7, 0, a, b, c, d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.2f us per cpuid (%u)\n", ns / n / 1000, a & 1);
    return 0;
}
