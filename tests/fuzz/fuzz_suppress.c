/* The suppression-file parser of report/suppress.c on any bytes (either
 * format), then every suppression it kept matched against a fixed stack. */
#include <stddef.h>
#include <stdint.h>
#include "leak_scan.h"
#include "suppress.h"

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct supp_frame frames[] = {
        { "malloc", NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL },
        { "operator new(unsigned long)", "_Znwm", "/usr/lib/libstdc++.so.6", NULL },
        { NULL, NULL, "/usr/lib/libthird.so.1", "third/cache.c" },
        { "main", NULL, "/work/app", "app.c" },
    };
    struct supp_set s;
    supp_set_init(&s);
    char why[256];
    if (supp_parse(&s, "fuzz.supp", (const char *)data, size, why, sizeof(why)) == 0) {
        for (unsigned k = 0; k < LEAK_KIND_COUNT; k++)
            sink += supp_match(&s, SUPP_LEAK, k, frames, 4) != NULL;
        sink += supp_match(&s, SUPP_FREE, 0, frames, 4) != NULL;
    } else {
        sink += why[0];
    }
    supp_set_destroy(&s);
    return 0;
}
