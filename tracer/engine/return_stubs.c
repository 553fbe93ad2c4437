/* Trap-free return stubs: code generation, allocation, draining (see
 * return_stubs.h). */
#include "return_stubs.h"
#include "remote.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static mt_addr record_addr(mt_addr data, unsigned k)
{
    return data + RETURN_STUB_RECORDS_OFFSET + (mt_addr)k * RETURN_STUB_RECORD_SIZE;
}

static uint8_t *put_disp(uint8_t *p, mt_addr target, mt_addr next_insn)
{
    int32_t d = (int32_t)(int64_t)(target - next_insn);
    memcpy(p, &d, 4);
    return p + 4;
}

void return_stubs_code(mt_addr code, mt_addr data, uint8_t *buf)
{
    memset(buf, ARCH_BREAKPOINT_INSN, RETURN_STUBS_MAX * RETURN_STUB_SIZE);
    for (unsigned k = 0; k < RETURN_STUBS_MAX; k++) {
        mt_addr s = code + (mt_addr)k * RETURN_STUB_SIZE;
        mt_addr rec = record_addr(data, k);
        uint8_t *p = buf + k * RETURN_STUB_SIZE;
        /* mov [rip+value], rax */
        *p++ = 0x48; *p++ = 0x89; *p++ = 0x05;
        p = put_disp(p, rec + offsetof(struct return_stub_record, value), s + 7);
        /* mov r10, [rip+target] */
        *p++ = 0x4c; *p++ = 0x8b; *p++ = 0x15;
        p = put_disp(p, rec + offsetof(struct return_stub_record, target), s + 14);
        /* mov r11d, 1 */
        *p++ = 0x41; *p++ = 0xbb; *p++ = 1; *p++ = 0; *p++ = 0; *p++ = 0;
        /* lock xadd [rip+counter], r11 */
        *p++ = 0xf0; *p++ = 0x4c; *p++ = 0x0f; *p++ = 0xc1; *p++ = 0x1d;
        p = put_disp(p, data, s + 29);
        /* mov [rip+seq], r11 */
        *p++ = 0x4c; *p++ = 0x89; *p++ = 0x1d;
        p = put_disp(p, rec + offsetof(struct return_stub_record, seq), s + 36);
        /* jmp r10 */
        *p++ = 0x41; *p++ = 0xff; *p++ = 0xe2;
    }
}

void return_stubs_init(struct return_stubs *rs, mt_addr code, mt_addr data)
{
    memset(rs, 0, sizeof(*rs));
    rs->code = code;
    rs->data = data;
}

static bool is_used(const struct return_stubs *rs, unsigned k)
{
    return rs->used[k / 64] >> (k % 64) & 1;
}

int return_stubs_take(struct return_stubs *rs, const struct remote *r, pid_t tid, pid_t owner, mt_addr target,
                      mt_addr *stub_addr)
{
    if (!rs->code || rs->nused == RETURN_STUBS_MAX)
        return -1;
    unsigned k = 0;
    while (is_used(rs, k))
        k++;
    struct return_stub_record rec = { .target = target };
    if (remote_write(r, tid, record_addr(rs->data, k), &rec, sizeof(rec)) != 0)
        return -1;
    rs->used[k / 64] |= (uint64_t)1 << (k % 64);
    rs->owner[k] = owner;
    rs->nused++;
    *stub_addr = rs->code + (mt_addr)k * RETURN_STUB_SIZE;
    return (int)k;
}

void return_stubs_release(struct return_stubs *rs, unsigned stub)
{
    if (stub >= RETURN_STUBS_MAX || !is_used(rs, stub))
        return;
    rs->used[stub / 64] &= ~((uint64_t)1 << (stub % 64));
    rs->owner[stub] = 0;
    rs->nused--;
}

int return_stubs_at(const struct return_stubs *rs, mt_addr addr)
{
    if (!return_stubs_contains(rs, addr) || (addr - rs->code) % RETURN_STUB_SIZE)
        return -1;
    return (int)((addr - rs->code) / RETURN_STUB_SIZE);
}

bool return_stubs_contains(const struct return_stubs *rs, mt_addr addr)
{
    return rs->code && addr >= rs->code && addr < rs->code + RETURN_STUBS_MAX * RETURN_STUB_SIZE;
}

int return_stubs_read_target(const struct return_stubs *rs, const struct remote *r, pid_t tid, unsigned stub,
                             uint64_t *target)
{
    return remote_read_u64(r, tid, record_addr(rs->data, stub) +
                                    offsetof(struct return_stub_record, target), target);
}

static int by_seq(const void *a, const void *b)
{
    const struct return_stub_done *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int return_stubs_collect(const struct return_stubs *rs, const struct remote *r, pid_t tid, bool racing,
                         struct return_stub_done *out)
{
    if (!rs->nused)
        return 0;
    unsigned top = RETURN_STUBS_MAX;
    while (top > 0 && !is_used(rs, top - 1))
        top--;
    struct return_stub_record recs[RETURN_STUBS_MAX];
    size_t len = top * sizeof(recs[0]);
    int err = remote_read(r, tid, record_addr(rs->data, 0), recs, len);
    if (err)
        return err;
    unsigned n = 0;
    for (unsigned k = 0; k < top; k++)
        if (is_used(rs, k) && recs[k].seq)
            out[n++] = (struct return_stub_done){ .stub = k, .seq = recs[k].seq };
    if (n && racing) {
        /* Each value was stored before its sequence number: now it shows. */
        if ((err = remote_read(r, tid, record_addr(rs->data, 0), recs, len)))
            return err;
    }
    for (unsigned i = 0; i < n; i++)
        out[i].value = recs[out[i].stub].value;
    qsort(out, n, sizeof(*out), by_seq);
    return (int)n;
}
