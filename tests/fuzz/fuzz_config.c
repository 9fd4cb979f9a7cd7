/* libFuzzer target for the configuration loader: arbitrary bytes as a config file.
 * Checks: no crash, and a load either succeeds with a usable config (ports in range, at
 * least one worker, the default provider present) or reports at least one problem, each a
 * non-empty line. */
#include "proxy/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PROBS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/tg-fuzz-config-%ld.json", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    static tg_config cfg;
    static tg_config_problem probs[MAX_PROBS];
    int n = tg_config_load(path, &cfg, probs, MAX_PROBS);
    if (n < 0)
        abort();
    for (int i = 0; i < n && i < MAX_PROBS; i++)
        if (!probs[i].text[0])
            abort();
    if (n == 0 && (cfg.listen_port < 0 || cfg.listen_port > 65535 || cfg.workers < 1 ||
                   !tg_config_provider(&cfg, cfg.default_provider)))
        abort();
    return 0;
}
