/* A fake target behind struct remote: a sparse map of pages and a register
 * file per tid, so the trap path (breakpoints, stepping, return stubs,
 * hooks) runs in a unit test without a process. Text pages refuse plain
 * writes, as process_vm_writev does on r-x mappings; poke_text writes any
 * mapped page, as PTRACE_POKEDATA does. */
#ifndef MT_FAKE_REMOTE_H
#define MT_FAKE_REMOTE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "remote.h"

#define FAKE_PAGE 4096u
#define FAKE_MAX_PAGES 64
#define FAKE_MAX_THREADS 8

struct fake_page {
    mt_addr addr;
    bool text;
    uint8_t bytes[FAKE_PAGE];
};

struct fake_target {
    struct fake_page *pages[FAKE_MAX_PAGES];
    size_t npages;
    pid_t tids[FAKE_MAX_THREADS];
    mt_regs regs[FAKE_MAX_THREADS];
    size_t nthreads;
    unsigned writes, pokes;          /* calls, for tests that count them */
    struct remote remote;            /* points at this target */
};

void fake_init(struct fake_target *f);
void fake_destroy(struct fake_target *f);
/* Maps [addr, addr+len) rounded out to pages, zero-filled. */
void fake_map(struct fake_target *f, mt_addr addr, size_t len, bool text);
/* Host pointer to the byte at addr (mapped), for setting up and checking. */
uint8_t *fake_at(struct fake_target *f, mt_addr addr);
void fake_put(struct fake_target *f, mt_addr addr, const void *bytes, size_t len);
uint64_t fake_u64(struct fake_target *f, mt_addr addr);
void fake_put_u64(struct fake_target *f, mt_addr addr, uint64_t value);

#endif
