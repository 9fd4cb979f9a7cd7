/* Tokenizer benchmark: single-thread throughput of tollgate's BPE in count mode (and
 * encode mode) on the files given, for both encodings, plus the time for 1 MiB of one
 * repeated character (the quadratic case of tiktoken).  Each figure is the median of
 * several timed rounds; a round tokenizes the whole file at least once and runs >= 0.2 s.
 *
 * usage: bench_tokenizer [--rounds N] FILE...
 * Output: one line per (encoding, file, mode): "tollgate <enc> <file> <mode> <MB/s>", and
 * "tollgate <enc> repeat-1MiB-<char> count <seconds>" lines; bench/tokenizer.sh puts them
 * beside the npm tiktoken figures. */
#include "router/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return s;
}

static volatile size_t sink_count;

/* Seconds per pass over text, median of `rounds` rounds. */
static double time_pass(const tg_bpe *b, const char *text, size_t len, int encode,
                        int rounds)
{
    double res[64];
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++) {
        int passes = 0;
        double t0 = now(), t;
        do {
            if (encode) {
                tg_bpe_ids v = {0};
                if (tg_bpe_encode(b, text, len, &v) != 0)
                    abort();
                sink_count += v.n;
                tg_bpe_ids_free(&v);
            } else {
                sink_count += tg_bpe_count(b, text, len);
            }
            passes++;
            t = now();
        } while (t - t0 < 0.2);
        res[r] = (t - t0) / passes;
    }
    qsort(res, (size_t)rounds, sizeof *res, cmp_double);
    return res[rounds / 2];
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int main(int argc, char **argv)
{
    int rounds = 5, first = 1;
    if (argc > 2 && strcmp(argv[1], "--rounds") == 0)
        rounds = atoi(argv[2]), first = 3;
    const tg_bpe *encs[] = {tg_bpe_get(TG_BPE_CL100K), tg_bpe_get(TG_BPE_O200K)};
    for (int e = 0; e < 2; e++) {
        for (int i = first; i < argc; i++) {
            size_t len;
            char *text = load(argv[i], &len);
            if (!text) {
                fprintf(stderr, "bench_tokenizer: cannot read %s\n", argv[i]);
                return 1;
            }
            for (int mode = 0; mode < 2; mode++) {
                double s = time_pass(encs[e], text, len, mode, rounds);
                printf("tollgate %s %s %s %.1f\n", tg_bpe_name(encs[e]), base(argv[i]),
                       mode ? "encode" : "count", (double)len / s / 1e6);
            }
            free(text);
        }
        static const char reps[] = {'a', ' ', '!'};
        size_t n = (size_t)1 << 20;
        char *big = malloc(n);
        for (size_t k = 0; k < sizeof reps; k++) {
            memset(big, reps[k], n);
            double s = time_pass(encs[e], big, n, 0, rounds);
            printf("tollgate %s repeat-1MiB-%s count %.4f\n", tg_bpe_name(encs[e]),
                   reps[k] == ' ' ? "space" : reps[k] == 'a' ? "a" : "bang", s);
        }
        free(big);
    }
    return 0;
}
