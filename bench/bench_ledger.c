/* Ledger and quota benchmark (run by bench/ledger.sh): tollgate beside baselines in the
 * same run, each figure the median of RUNS runs.
 *
 * Disk (fresh SQLite file per measurement, WAL, synchronous=NORMAL, the real schema):
 *   raw-1      tg_store_records_insert of one row per transaction (the naive way)
 *   raw-batch  tg_store_records_insert of BATCH rows per transaction (the ceiling)
 *   ledger     WORKERS threads acting as event loops: each keeps WINDOW requests in
 *              flight, reserves (tg_quota_reserve with the ledger and its waiter), waits
 *              for the reservation to be durable (at once with the slot file; else a
 *              notice on its eventfd), then settles; the time
 *              runs until every settlement is committed (tg_ledger_sync).  Each settled
 *              request is two row writes (the reservation, then its settlement).
 * Memory (no ledger): reserve + settle of one request, ns, one thread and WORKERS
 *   threads on one team (lock contention), beside two uncontended mutex lock/unlock
 *   pairs (the floor of any locked design).
 *
 * usage: bench_ledger DIR [REQUESTS [RUNS]] */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quotas/quota.h"
#include "records/ledger.h"
#include "store/store.h"

#define DEFAULT_REQUESTS 200000
#define DEFAULT_RUNS 5
#define MAX_RUNS 15
#define RAW1_MAX 20000   /* rows for the one-per-transaction baseline (it is slow) */
#define BATCH 1000       /* rows per transaction for the batched baseline */
#define WORKERS 2        /* event-loop threads (the machine has 2 cores) */
#define WINDOW 512       /* requests in flight per worker */
#define MEM_OPS 2000000  /* reserve+settle pairs per memory measurement */
#define PATH_SIZE 512

static char dir[PATH_SIZE - 64];
static int64_t requests = DEFAULT_REQUESTS;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A fresh database URL for measurement `name` of run `run`. */
static void fresh_url(char *url, size_t n, const char *name, int run)
{
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s/%s-%d.db", dir, name, run);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[PATH_SIZE + 8];
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        unlink(f);
    }
    snprintf(url, n, "sqlite:%s", path);
}

static tg_record bench_rec(const char *prefix, int64_t i)
{
    tg_record r = {.attempt = 1, .ts_us = wall_us(), .ttfb_us = 1200, .status = 200,
                   .upstream_status = 200, .input_tokens = 120, .output_tokens = 40,
                   .est_input_tokens = 118, .latency_us = 350000, .cost_nusd = 42000,
                   .state = TG_RECORD_SETTLED};
    snprintf(r.id, sizeof r.id, "%s%lld", prefix, (long long)i);
    snprintf(r.team, sizeof r.team, "bench");
    snprintf(r.key_id, sizeof r.key_id, "key_0123456789ab");
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.requested_model, sizeof r.requested_model, "auto");
    snprintf(r.model, sizeof r.model, "gpt-4o-mini");
    snprintf(r.endpoint, sizeof r.endpoint, "chat_completions");
    return r;
}

static tg_store *open_or_die(const char *url)
{
    tg_store *st;
    char err[TG_STORE_ERR_SIZE];
    if (tg_store_open(url, &st, err, sizeof err) != TG_STORE_OK) {
        fprintf(stderr, "bench_ledger: %s\n", err);
        exit(1);
    }
    return st;
}

/* ---------------------------------------------------------------- raw baselines */

/* Rows per second inserting n rows, `per` rows per transaction. */
static double raw_rate(int run, int64_t n, int per)
{
    char url[PATH_SIZE + 16];
    fresh_url(url, sizeof url, per == 1 ? "raw1" : "rawb", run);
    tg_store *st = open_or_die(url);
    tg_record *rows = malloc((size_t)per * sizeof *rows);
    if (!rows)
        exit(1);
    double t0 = now_s();
    for (int64_t i = 0; i < n; i += per) {
        for (int j = 0; j < per; j++)
            rows[j] = bench_rec("raw", i + j);
        if (tg_store_records_insert(st, rows, (size_t)per) != TG_STORE_OK) {
            fprintf(stderr, "bench_ledger: %s\n", tg_store_errmsg(st));
            exit(1);
        }
    }
    double t = now_s() - t0;
    free(rows);
    tg_store_close(st);
    return (double)n / t;
}

/* ---------------------------------------------------------------- through the ledger */

typedef struct {
    tg_quota *q;
    int id;
    int64_t n;
} worker_arg;

static void *ledger_worker(void *p)
{
    worker_arg *a = p;
    tg_ledger_waiter *w;
    if (tg_ledger_waiter_new(&w) != 0)
        exit(1);
    tg_key key = {.lim = TG_LIMITS_NONE, .team_lim = TG_LIMITS_NONE, .period = TG_PERIOD_MONTH};
    snprintf(key.team, sizeof key.team, "bench");
    snprintf(key.id, sizeof key.id, "key_00000000000%d", a->id);
    static __thread tg_quota_hold holds[WINDOW];
    static __thread tg_record recs[WINDOW];
    int free_slots[WINDOW], nfree = WINDOW;
    for (int i = 0; i < WINDOW; i++)
        free_slots[i] = i;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "w%d-", a->id);
    int64_t issued = 0, settled = 0, pending = 0;
    tg_ledger_done done[WINDOW];
    while (settled < a->n) {
        while (nfree > 0 && issued < a->n) {
            int s = free_slots[--nfree];
            recs[s] = bench_rec(prefix, issued++);
            tg_quota_ask ask = {.key = &key, .rec = &recs[s], .cost_nusd = 90000,
                                .tokens = 4216, .out_tokens = 4096,
                                .out_nusd_per_mtok = 600000000, .waiter = w,
                                .cookie = (uint64_t)s};
            tg_quota_result res;
            if (tg_quota_reserve(a->q, &ask, &holds[s], &res) != TG_QUOTA_OK)
                exit(1);
            if (!res.wait) { /* durable already (the slot file): "forward", then settle */
                tg_quota_settle(a->q, &holds[s], &recs[s]);
                free_slots[nfree++] = s;
                settled++;
            } else {
                pending++;
            }
        }
        if (!pending)
            continue;
        struct pollfd pf = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
        poll(&pf, 1, 1000);
        size_t got = tg_ledger_collect(w, done, WINDOW);
        pending -= (int64_t)got;
        for (size_t i = 0; i < got; i++) { /* durable: "forward", then settle */
            int s = (int)done[i].cookie;
            tg_quota_settle(a->q, &holds[s], &recs[s]);
            free_slots[nfree++] = s;
            settled++;
        }
    }
    tg_ledger_waiter_free(w);
    return NULL;
}

/* Settled requests per second through the ledger writer. */
static double ledger_rate(int run)
{
    char url[PATH_SIZE + 16], err[TG_STORE_ERR_SIZE];
    fresh_url(url, sizeof url, "ledger", run);
    tg_ledger *lg;
    if (tg_ledger_start(url, &lg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ledger: %s\n", err);
        exit(1);
    }
    tg_quota_config cfg = {.ledger = lg};
    tg_quota *q;
    if (tg_quota_new(&cfg, &q) != 0)
        exit(1);
    pthread_t th[WORKERS];
    worker_arg args[WORKERS];
    double t0 = now_s();
    for (int i = 0; i < WORKERS; i++) {
        args[i] = (worker_arg){q, i, requests / WORKERS};
        pthread_create(&th[i], NULL, ledger_worker, &args[i]);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    tg_ledger_sync(lg);
    double t = now_s() - t0;
    uint64_t rows = tg_ledger_written(lg);
    tg_ledger_stop(lg);
    tg_quota_free(q);
    if (rows != (uint64_t)(requests / WORKERS * WORKERS * 2)) {
        fprintf(stderr, "bench_ledger: %llu rows written, expected %lld\n",
                (unsigned long long)rows, (long long)(requests / WORKERS * WORKERS * 2));
        exit(1);
    }
    return (double)(requests / WORKERS * WORKERS) / t;
}

/* ---------------------------------------------------------------- in memory */

typedef struct {
    tg_quota *q;
    int id;
    double ns;
} mem_arg;

static void *mem_worker(void *p)
{
    mem_arg *a = p;
    tg_key key = {.lim = TG_LIMITS_NONE, .team_lim = TG_LIMITS_NONE, .period = TG_PERIOD_MONTH};
    key.team_lim.budget_nusd = INT64_MAX / 2;
    key.team_lim.rpm = INT64_MAX / 2;
    snprintf(key.team, sizeof key.team, "bench");
    snprintf(key.id, sizeof key.id, "key_00000000000%d", a->id);
    tg_record r = bench_rec("m", 0);
    tg_quota_ask ask = {.key = &key, .rec = &r, .cost_nusd = 90000, .tokens = 4216,
                        .out_tokens = 4096, .out_nusd_per_mtok = 600000000};
    double t0 = now_s();
    for (int i = 0; i < MEM_OPS; i++) {
        tg_quota_hold h;
        tg_quota_result res;
        r.ts_us += 10; /* time moves: windows advance now and then */
        if (tg_quota_reserve(a->q, &ask, &h, &res) != TG_QUOTA_OK)
            exit(1);
        r.cost_nusd = 42000, r.input_tokens = 120, r.output_tokens = 40;
        tg_quota_settle(a->q, &h, &r);
    }
    a->ns = (now_s() - t0) * 1e9 / MEM_OPS;
    return NULL;
}

/* ns per reserve+settle with `threads` threads on one team (the mean over threads). */
static double mem_ns(int threads)
{
    tg_quota_config cfg = {0};
    tg_quota *q;
    if (tg_quota_new(&cfg, &q) != 0)
        exit(1);
    pthread_t th[WORKERS];
    mem_arg args[WORKERS];
    for (int i = 0; i < threads; i++) {
        args[i] = (mem_arg){q, i, 0};
        pthread_create(&th[i], NULL, mem_worker, &args[i]);
    }
    double sum = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        sum += args[i].ns;
    }
    tg_quota_free(q);
    return sum / threads;
}

static double mutex_floor_ns(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static volatile int64_t x;
    double t0 = now_s();
    for (int i = 0; i < MEM_OPS; i++) {
        pthread_mutex_lock(&mu);
        x++;
        pthread_mutex_unlock(&mu);
        pthread_mutex_lock(&mu);
        x--;
        pthread_mutex_unlock(&mu);
    }
    return (now_s() - t0) * 1e9 / MEM_OPS;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ledger DIR [REQUESTS [RUNS]]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    requests = argc > 2 ? atoll(argv[2]) : DEFAULT_REQUESTS;
    int runs = argc > 3 ? atoi(argv[3]) : DEFAULT_RUNS;
    if (requests < WORKERS * WINDOW || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_ledger: REQUESTS >= %d, RUNS 1..%d\n", WORKERS * WINDOW, MAX_RUNS);
        return 2;
    }
    int64_t raw1 = requests < RAW1_MAX ? requests : RAW1_MAX;
    double r1[MAX_RUNS], rb[MAX_RUNS], lr[MAX_RUNS], floor_ns[MAX_RUNS], m1[MAX_RUNS],
        m2[MAX_RUNS];
    for (int run = 0; run < runs; run++) {
        r1[run] = raw_rate(run, raw1, 1);
        rb[run] = raw_rate(run, requests / BATCH * BATCH, BATCH);
        lr[run] = ledger_rate(run);
        floor_ns[run] = mutex_floor_ns();
        m1[run] = mem_ns(1);
        m2[run] = mem_ns(WORKERS);
        fprintf(stderr, "run %d: raw-1 %.0f/s, raw-batch %.0f/s, ledger %.0f settled/s, "
                        "mem %.0f / %.0f ns\n", run + 1, r1[run], rb[run], lr[run], m1[run], m2[run]);
    }
    printf("SQLite (WAL, synchronous=NORMAL), median of %d runs, %lld requests:\n", runs,
           (long long)requests);
    printf("  %-58s %10.0f rows/s\n", "baseline: raw insert, one transaction per row",
           median(r1, runs));
    printf("  %-58s %10.0f rows/s\n", "baseline: raw insert, 1000 rows per transaction",
           median(rb, runs));
    printf("  %-58s %10.0f settled requests/s (2 rows each)\n",
           "tollgate: reserve (durable) -> settle, 2 workers", median(lr, runs));
    printf("In memory, ns per request (median of %d runs, %d requests each):\n", runs, MEM_OPS);
    printf("  %-58s %10.0f ns\n", "baseline: 2 x mutex lock/unlock, uncontended", median(floor_ns, runs));
    printf("  %-58s %10.0f ns\n", "tollgate: reserve + settle, 1 thread", median(m1, runs));
    printf("  %-58s %10.0f ns\n", "tollgate: reserve + settle, 2 threads on one team",
           median(m2, runs));
    return 0;
}
