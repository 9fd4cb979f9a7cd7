/* tg_records: the plain-record face of the ledger writer (see records.h).
 *
 * One process-wide tg_ledger started by tg_records_start; tg_records_submit queues a
 * record without a durability notice.  The quota module and anything else that writes
 * ledger rows uses the same writer through tg_records_ledger(), so there is one writer
 * thread and one SQLite writer per process. */
#include "records.h"

#include <stdatomic.h>
#include <stdio.h>

static _Atomic(tg_ledger *) ledger;

int tg_records_start(const char *url, char *err, size_t errlen)
{
    tg_ledger *lg;
    if (tg_ledger_start(url, &lg, err, errlen) != 0)
        return -1;
    atomic_store(&ledger, lg);
    return 0;
}

tg_ledger *tg_records_ledger(void)
{
    return atomic_load(&ledger);
}

void tg_records_submit(const tg_record *rec)
{
    tg_ledger *lg = atomic_load(&ledger);
    if (!lg) {
        fprintf(stderr, "tollgate: record %s lost: the record writer is not running\n",
                rec->id);
        return;
    }
    tg_record r = *rec; /* (a reservation would get its slot written into it) */
    tg_ledger_submit(lg, &r, NULL, 0);
}

void tg_records_stop(void)
{
    tg_ledger_stop(atomic_exchange(&ledger, NULL));
}

unsigned long long tg_records_written(void)
{
    tg_ledger *lg = atomic_load(&ledger);
    return lg ? tg_ledger_written(lg) : 0;
}
