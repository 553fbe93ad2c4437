/* --fast code: the stub region memtrace injects (the shared stub, then per
 * hooked function a thunk, its descriptor and its relocated prologue, then
 * the control page), and the jmp rel32 written over each function's first
 * bytes. Written and undone only while every thread of the process is
 * stopped; a thread stopped inside the replaced bytes is moved to the same
 * instruction in the relocated copy. */
#ifndef MT_FAST_PATCH_H
#define MT_FAST_PATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "fast_abi.h"
#include "insn.h"
#include "mt_addr.h"
#include "remote.h"

#define FAST_MAX_PATCHES ((FAST_CTL_OFFSET - FAST_THUNKS_OFFSET) / FAST_THUNK_SIZE)
#define FAST_PATCH_MAX_BYTES 16u

/* The stub as assembled into memtrace (fast_stub.S). */
extern const uint8_t memtrace_fast_stub_begin[], memtrace_fast_stub_end[];

struct fast_patch {
    mt_addr addr;                          /* the function */
    unsigned fn;                           /* its enum alloc_fn */
    unsigned allocator;                    /* its breakpoint's allocator library */
    uint32_t flags;                        /* FAST_FLAG_*: what its stub records */
    mt_addr thunk;                         /* what the jump at addr goes to */
    mt_addr relocated;                     /* its first instructions, moved */
    struct insn_reloc reloc;
    uint8_t orig[FAST_PATCH_MAX_BYTES];    /* bytes at addr before the jump */
    bool written;                          /* the jump is in memory */
};

struct fast_patches {
    mt_addr region;                        /* 0: no region */
    struct fast_patch items[FAST_MAX_PATCHES];
    unsigned n;
};

/* Records of which calls: FAST_FLAG_* for fn, the hooks layer's number. */
struct fast_fn_flags {
    unsigned fn;
    uint32_t flags;
};

/* The code pages of region: the stub, then no thunk yet. */
void fast_patches_init(struct fast_patches *fp, mt_addr region);
/* Prepares fn's thunk for the function at addr, whose original bytes are
 * code (avail: up to the end of the function) and writes it into the code
 * pages through r (still writable). Returns 0, or -1 with why when it
 * cannot be moved (it then stays on the int3 path). */
int fast_patches_add(struct fast_patches *fp, const struct remote *r, pid_t tid, mt_addr addr,
                     unsigned fn, uint32_t flags, const uint8_t *code, size_t avail, char *why,
                     size_t why_len);
/* Whether a jump at addr reaches the region (and its thunks). */
bool fast_patches_in_reach(const struct fast_patches *fp, mt_addr addr);
/* Writes the jump of every prepared patch not yet in memory. */
int fast_patches_write(struct fast_patches *fp, const struct remote *r, pid_t tid);
/* Puts every function's original bytes back. */
int fast_patches_restore(struct fast_patches *fp, const struct remote *r, pid_t tid);
/* The patch whose replaced bytes hold addr ([addr, addr + src_len)), or NULL. */
const struct fast_patch *fast_patches_find(const struct fast_patches *fp, mt_addr addr);
/* The patch of function fn, or NULL. */
const struct fast_patch *fast_patches_of(const struct fast_patches *fp, unsigned fn);
/* Where a thread stopped at ip must resume: to_copy (the jumps are being
 * written), the relocated twin of an instruction inside the replaced bytes;
 * else (they are being removed) the original of an instruction of a
 * relocated prologue or of its jump back. ip itself otherwise. */
mt_addr fast_patches_move_ip(const struct fast_patches *fp, mt_addr ip, bool to_copy);
/* Is addr inside the region's code? */
bool fast_patches_in_code(const struct fast_patches *fp, mt_addr addr);

#endif
