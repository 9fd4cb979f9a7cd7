/* tg_records writer: a growable FIFO of records under one mutex, drained by one thread.
 *
 * The writer takes everything queued at once (swapping the array out under the lock), writes
 * it in one store transaction, and sleeps until more arrives: it looks every
 * TG_RECORDS_TICK_MS, or at once when TG_RECORDS_WAKE_AT records wait, so submitting does
 * not cost a thread wake-up per request.  A
 * failed write is retried after a short pause, never dropped: the records stay in memory
 * until the store takes them. */
#include "records.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_RECORDS_BATCH_MAX 4096 /* records per transaction */
#define TG_RECORDS_WAKE_AT 512    /* queued records that wake the writer at once */
#define TG_RECORDS_TICK_MS 5      /* otherwise it looks every this often */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static tg_record *queue;
static size_t qlen, qcap;
static bool running, stopping;
static pthread_t writer;
static tg_store *store;
static atomic_ullong written;

void tg_records_submit(const tg_record *rec)
{
    pthread_mutex_lock(&mu);
    if (!running) {
        pthread_mutex_unlock(&mu);
        fprintf(stderr, "tollgate: record %s lost: the record writer is not running\n",
                rec->id);
        return;
    }
    if (qlen == qcap) {
        size_t cap = qcap ? qcap * 2 : 1024;
        tg_record *nq = realloc(queue, cap * sizeof *nq);
        while (!nq) { /* out of memory: wait for the writer to drain, never drop */
            pthread_mutex_unlock(&mu);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&mu);
            if (qlen < qcap)
                break;
            nq = realloc(queue, cap * sizeof *nq);
        }
        if (nq)
            queue = nq, qcap = cap;
    }
    queue[qlen++] = *rec;
    if (qlen == TG_RECORDS_WAKE_AT) /* no wake-up per record: the writer ticks */
        pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Writes batch[0..n) in transactions of at most TG_RECORDS_BATCH_MAX, retrying failures. */
static void write_batch(const tg_record *batch, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < TG_RECORDS_BATCH_MAX ? n - done : TG_RECORDS_BATCH_MAX;
        if (tg_store_records_insert(store, batch + done, k) == TG_STORE_OK) {
            done += k;
            atomic_fetch_add(&written, k);
            continue;
        }
        fprintf(stderr, "tollgate: writing %zu records failed (%s); retrying\n", k,
                tg_store_errmsg(store));
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    tg_record *batch = NULL;
    size_t bcap = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (qlen == 0 && !stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += TG_RECORDS_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        if (qlen == 0 && stopping)
            break;
        /* swap the queue out so submitters never wait for the disk */
        tg_record *q = queue;
        size_t n = qlen, cap = qcap;
        queue = batch, qcap = bcap, qlen = 0;
        batch = q, bcap = cap;
        pthread_mutex_unlock(&mu);
        write_batch(batch, n);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    free(batch);
    return NULL;
}

int tg_records_start(const char *url, char *err, size_t errlen)
{
    if (tg_store_open(url, &store, err, errlen) != TG_STORE_OK)
        return -1;
    pthread_mutex_lock(&mu);
    running = true;
    stopping = false;
    pthread_mutex_unlock(&mu);
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the record writer thread");
        running = false;
        tg_store_close(store);
        store = NULL;
        return -1;
    }
    return 0;
}

void tg_records_stop(void)
{
    pthread_mutex_lock(&mu);
    if (!running) {
        pthread_mutex_unlock(&mu);
        return;
    }
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(writer, NULL);
    pthread_mutex_lock(&mu);
    running = false;
    free(queue);
    queue = NULL;
    qlen = qcap = 0;
    pthread_mutex_unlock(&mu);
    tg_store_close(store);
    store = NULL;
}

unsigned long long tg_records_written(void)
{
    return atomic_load(&written);
}
