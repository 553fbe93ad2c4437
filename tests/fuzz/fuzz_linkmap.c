/* The link-map walk on any target memory: the input is mapped at
 * IMAGE_BASE in a fake target (tests/unit/fake); _r_debug is at its start,
 * so r_map is the word at offset 8, and every link_map and name pointer is
 * an address the input chooses. The entries read then go through the
 * link-map diff (modules_sync) three times: as read, without the first
 * module, as read again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fake_remote.h"
#include "linkmap.h"
#include "modules.h"

#define IMAGE_BASE 0x10000u
#define TID 1000

static int fake_open(void *ctx, const struct linkmap_entry *e, struct module *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    out->name = strdup(e->is_main ? "/bin/prog" : e->name);
    out->path = strdup(out->name);
    if (!out->name || !out->path) {
        free(out->name);
        free(out->path);
        return -12;
    }
    out->link_map = e->lm;
    out->bias = e->bias;
    out->lo = e->bias;
    out->hi = e->bias + 0x1000 < e->bias ? UINT64_MAX : e->bias + 0x1000;
    out->present = true;
    return 0;
}

static void fake_closed(void *ctx, struct module *m)
{
    (void)ctx, (void)m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FAKE_MAX_PAGES * FAKE_PAGE)
        return 0;
    struct fake_target f;
    fake_init(&f);
    f.tids[0] = TID;
    f.nthreads = 1;
    if (size)
        fake_map(&f, IMAGE_BASE, size, false);
    if (size)
        fake_put(&f, IMAGE_BASE, data, size);
    uint64_t lm = 0;
    if (size >= 16)
        memcpy(&lm, data + 8, 8);
    struct linkmap_walk w = { 0 };
    int err = linkmap_walk(&f.remote, TID, lm, &w);
    if (err == 0 && lm && w.n == 0)
        abort(); /* the main program's entry is always taken */
    struct module_table t;
    modules_init(&t);
    struct module_events ev = { .open = fake_open, .closed = fake_closed };
    modules_sync(&t, w.entries, w.n, &ev);
    if (w.n > 1)
        modules_sync(&t, w.entries + 1, w.n - 1, &ev);
    modules_sync(&t, w.entries, w.n, &ev);
    for (size_t i = 0; i < w.n; i++)
        (void)modules_at(&t, w.entries[i].bias + 8);
    modules_destroy(&t);
    linkmap_walk_free(&w);
    fake_destroy(&f);
    return 0;
}
