/* tg_records: the process's one ledger writer (records/ledger.h), and the plain-record
 * way into it.
 *
 * Workers hand finished requests to tg_records_submit, which only copies the record into
 * an in-memory queue (a mutex held for a memcpy): the event loop never waits on the disk.
 * One writer thread drains the queue in batches, one transaction per batch (group commit:
 * one fsync for many records).  The queue grows as needed, so no record is dropped when
 * the disk is slow; tg_records_stop writes everything still queued before it returns.
 * Reservations and settlements (quotas/quota.h) go through the same writer:
 * tg_records_ledger() gives it. */
#ifndef TG_RECORDS_H
#define TG_RECORDS_H
#include <stddef.h>

#include "records/ledger.h"
#include "store/store.h"

/* Starts the writer with its own handle on the store at `url`.  Returns 0, or -1 with one
 * plain line in err. */
int tg_records_start(const char *url, char *err, size_t errlen);

/* The running writer (NULL outside tg_records_start .. tg_records_stop), for the quota
 * module and durability notices. */
tg_ledger *tg_records_ledger(void);

/* Queues a copy of *rec for writing.  Thread-safe, never blocks on I/O.  Outside
 * tg_records_start .. tg_records_stop there is no writer: the record is reported on stderr
 * as lost (only a bug in the caller can cause that). */
void tg_records_submit(const tg_record *rec);

/* Writes every queued record, stops the writer and closes its store handle. */
void tg_records_stop(void);

/* Records written so far (for tests and metrics). */
unsigned long long tg_records_written(void);

#endif
