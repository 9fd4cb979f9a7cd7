/* `tollgate serve [--config FILE]`: loads the configuration (embedded defaults without a
 * file), refuses to start on any problem (printing each), then runs the proxy until
 * SIGINT/SIGTERM. */
#include "cmds.h"
#include "proxy/config.h"
#include "proxy/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_SERVE_MAX_PROBLEMS 64

int tg_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fputs("usage: tollgate serve [--config FILE]\n", stderr);
            return 2;
        }
    }
    static tg_config cfg;
    static tg_config_problem probs[TG_SERVE_MAX_PROBLEMS];
    int n = tg_config_load(path, &cfg, probs, TG_SERVE_MAX_PROBLEMS);
    if (n > 0) {
        for (int i = 0; i < n && i < TG_SERVE_MAX_PROBLEMS; i++)
            fprintf(stderr, "%s\n", probs[i].text);
        fprintf(stderr, "tollgate: not starting: %d problem%s in the configuration\n", n,
                n == 1 ? "" : "s");
        return 1;
    }
    return tg_server_run(&cfg);
}
