/* --fast code generation and patching (see fast_patch.h). */
#include "fast_patch.h"
#include "diag.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

void fast_patches_init(struct fast_patches *fp, mt_addr region)
{
    memset(fp, 0, sizeof(*fp));
    fp->region = region;
}

bool fast_patches_in_reach(const struct fast_patches *fp, mt_addr addr)
{
    int64_t reach = (int64_t)(fp->region - addr);
    return reach >= INT32_MIN / 2 && reach <= INT32_MAX / 2;
}

static void put_rel32(uint8_t *p, mt_addr target, mt_addr next)
{
    int32_t d = (int32_t)(int64_t)(target - next);
    memcpy(p, &d, 4);
}

int fast_patches_add(struct fast_patches *fp, const struct remote *r, pid_t tid, mt_addr addr,
                     unsigned fn, uint32_t flags, const uint8_t *code, size_t avail, char *why,
                     size_t why_len)
{
    if (fp->n == FAST_MAX_PATCHES) {
        snprintf(why, why_len, "no room for another stub");
        return -1;
    }
    if (!fast_patches_in_reach(fp, addr)) {
        snprintf(why, why_len, "the stub region at 0x%" PRIxADDR " is out of a jump's reach",
                 fp->region);
        return -1;
    }
    struct fast_patch *pt = &fp->items[fp->n];
    memset(pt, 0, sizeof(*pt));
    mt_addr slot = fp->region + FAST_THUNKS_OFFSET + (mt_addr)fp->n * FAST_THUNK_SIZE;
    mt_addr desc = slot + FAST_THUNK_DESC, relocated = slot + 32;
    uint8_t buf[FAST_THUNK_SIZE];
    memset(buf, 0xcc, sizeof(buf));
    if (insn_relocate(code, avail, addr, 5, relocated, buf + 32, FAST_THUNK_SIZE - 32, &pt->reloc,
                      why, why_len) != 0)
        return -1;
    if (pt->reloc.src_len > FAST_PATCH_MAX_BYTES || pt->reloc.src_len > avail) {
        snprintf(why, why_len, "the function at 0x%" PRIxADDR " is shorter than a jump", addr);
        return -1;
    }
    if (insn_branch_into(code, avail, addr, addr, addr + pt->reloc.src_len)) {
        snprintf(why, why_len, "a branch lands inside the first %zu bytes of 0x%" PRIxADDR,
                 pt->reloc.src_len, addr);
        return -1;
    }
    /* lea r11, [rip + desc]; jmp stub */
    buf[0] = 0x4c, buf[1] = 0x8d, buf[2] = 0x1d;
    put_rel32(buf + 3, desc, slot + 7);
    buf[7] = 0xe9;
    put_rel32(buf + 8, fp->region, slot + 12);
    uint32_t fn32 = fn | fp->n << FAST_DESC_PATCH_SHIFT;
    uint64_t orig64 = relocated;
    memcpy(buf + FAST_THUNK_DESC + FAST_DESC_FN, &fn32, 4);
    memcpy(buf + FAST_THUNK_DESC + FAST_DESC_FLAGS, &flags, 4);
    memcpy(buf + FAST_THUNK_DESC + FAST_DESC_ORIG, &orig64, 8);
    int err = remote_poke_text(r, tid, slot, buf, sizeof(buf));
    if (err) {
        snprintf(why, why_len, "cannot write the stub of 0x%" PRIxADDR ": %s", addr, strerror(-err));
        return -1;
    }
    pt->addr = addr;
    pt->fn = fn;
    pt->flags = flags;
    pt->thunk = slot;
    pt->relocated = relocated;
    memcpy(pt->orig, code, pt->reloc.src_len);
    fp->n++;
    return 0;
}

/* The bytes fast_patches_write puts over pt's first instructions. */
static void jump_bytes(const struct fast_patch *pt, uint8_t jump[FAST_PATCH_MAX_BYTES])
{
    memset(jump, 0xcc, FAST_PATCH_MAX_BYTES);   /* the rest of a displaced instruction */
    jump[0] = 0xe9;
    put_rel32(jump + 1, pt->thunk, pt->addr + 5);
}

int fast_patches_write(struct fast_patches *fp, const struct remote *r, pid_t tid)
{
    for (unsigned i = 0; i < fp->n; i++) {
        struct fast_patch *pt = &fp->items[i];
        if (pt->written)
            continue;
        uint8_t jump[FAST_PATCH_MAX_BYTES];
        jump_bytes(pt, jump);
        int err = remote_poke_text(r, tid, pt->addr, jump, pt->reloc.src_len);
        if (err)
            return err;
        pt->written = true;
    }
    return 0;
}

int fast_patches_restore(struct fast_patches *fp, const struct remote *r, pid_t tid)
{
    int first = 0;
    for (unsigned i = 0; i < fp->n; i++) {
        struct fast_patch *pt = &fp->items[i];
        if (!pt->written)
            continue;
        /* Only over memtrace's own jump: a program that patched the
         * function meanwhile (an inline hook) keeps its bytes. */
        uint8_t jump[FAST_PATCH_MAX_BYTES], now[FAST_PATCH_MAX_BYTES];
        jump_bytes(pt, jump);
        int err = remote_read(r, tid, pt->addr, now, pt->reloc.src_len);
        if (!err && memcmp(now, jump, pt->reloc.src_len) != 0) {
            mt_warn("tid %d: the code at 0x%" PRIxADDR " was changed by the program while "
                    "traced; its original bytes are not written back over the change",
                    tid, pt->addr);
            pt->written = false;
            continue;
        }
        if (!err)
            err = remote_poke_text(r, tid, pt->addr, pt->orig, pt->reloc.src_len);
        if (err && !first)
            first = err;
        if (!err)
            pt->written = false;
    }
    return first;
}

const struct fast_patch *fast_patches_find(const struct fast_patches *fp, mt_addr addr)
{
    for (unsigned i = 0; i < fp->n; i++)
        if (addr >= fp->items[i].addr && addr < fp->items[i].addr + fp->items[i].reloc.src_len)
            return &fp->items[i];
    return NULL;
}

const struct fast_patch *fast_patches_of(const struct fast_patches *fp, unsigned fn)
{
    for (unsigned i = 0; i < fp->n; i++)
        if (fp->items[i].fn == fn)
            return &fp->items[i];
    return NULL;
}

mt_addr fast_patches_move_ip(const struct fast_patches *fp, mt_addr ip, bool to_copy)
{
    for (unsigned i = 0; i < fp->n; i++) {
        const struct fast_patch *pt = &fp->items[i];
        for (unsigned k = 0; k < pt->reloc.n; k++) {
            mt_addr in_orig = pt->addr + pt->reloc.src_off[k];
            mt_addr in_copy = pt->relocated + pt->reloc.dst_off[k];
            if (to_copy && ip == in_orig && k > 0)
                return in_copy;
            if (!to_copy && ip == in_copy)
                return in_orig;
        }
        /* Stopped on the copy's jump back: the instruction after the prologue. */
        if (!to_copy && ip == pt->relocated + pt->reloc.out_len - 5)
            return pt->addr + pt->reloc.src_len;
    }
    return ip;
}

bool fast_patches_in_code(const struct fast_patches *fp, mt_addr addr)
{
    return fp->region && addr >= fp->region && addr < fp->region + FAST_CTL_OFFSET;
}
