/* Trap-free returns: an allocator call's return address is redirected to a
 * stub of its own in the scratch page instead of the int3 trampoline. The
 * stub stores rax and a sequence number into the call's record and jumps to
 * the real return address, so a malloc+free pair costs 2 traps, not 3.
 * memtrace drains the records of completed calls, in sequence order, at the
 * process's next trap (any thread: a block returned to one thread can be
 * freed by another only after the stub ran), before a leak scan and at
 * detach.
 *
 * Stub k (code page), record k (data page, read-write in the target):
 *     mov  [rip+value_k], rax
 *     mov  r10, [rip+target_k]
 *     mov  r11d, 1
 *     lock xadd [rip+counter], r11      ; r11 = this completion's number
 *     mov  [rip+seq_k], r11             ; published last: the call is done
 *     jmp  r10
 * Once published, the record may be drained and given to another call at
 * once, so the stub reads nothing of it afterwards. r10, r11 and the flags
 * are dead after a call in the System V ABI (posix_memalign, whose result
 * is not in rax alone, never uses a stub). */
#ifndef MT_RETURN_STUBS_H
#define MT_RETURN_STUBS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mt_addr.h"
#include "remote.h"

#define RETURN_STUB_SIZE 40u
/* From this offset in a stub on, r10 holds the call's return address. */
#define RETURN_STUB_TARGET_LOADED 14u
#define RETURN_STUBS_MAX 96u
#define RETURN_STUB_RECORDS_OFFSET 64u   /* in the data page; the counter is at 0 */
#define RETURN_STUB_RECORD_SIZE 32u

struct return_stub_record {
    uint64_t target;   /* the real return address */
    uint64_t seq;      /* 0 while the call is in flight */
    uint64_t value;    /* rax at the return */
    uint64_t unused;
};

struct return_stubs {
    mt_addr code;                      /* stub 0; 0: no stubs (the trampoline is used) */
    mt_addr data;                      /* the data page */
    uint64_t used[(RETURN_STUBS_MAX + 63) / 64];
    pid_t owner[RETURN_STUBS_MAX];     /* thread whose call is in flight there */
    unsigned nused;
};

struct return_stub_done {
    unsigned stub;
    uint64_t seq;
    uint64_t value;
};

/* The machine code of every stub, for a code page at code whose data page
 * is at data: RETURN_STUBS_MAX * RETURN_STUB_SIZE bytes into buf. */
void return_stubs_code(mt_addr code, mt_addr data, uint8_t *buf);
/* Starts with every stub free. code == 0 disables them. */
void return_stubs_init(struct return_stubs *rs, mt_addr code, mt_addr data);
/* A free stub for a call of thread owner returning to target: the record is
 * reset (one write into the target) and the stub's address returned in
 * *stub_addr. Returns the stub number, or -1 when none is free (or stubs are
 * off): the caller uses the trampoline. */
int return_stubs_take(struct return_stubs *rs, const struct remote *r, pid_t tid, pid_t owner, mt_addr target,
                      mt_addr *stub_addr);
void return_stubs_release(struct return_stubs *rs, unsigned stub);
/* Which stub addr is the entry of, or -1. */
int return_stubs_at(const struct return_stubs *rs, mt_addr addr);
/* Is addr inside the stub code (a thread stopped mid-stub)? */
bool return_stubs_contains(const struct return_stubs *rs, mt_addr addr);
/* The real return address in stub's record, read through tid. */
int return_stubs_read_target(const struct return_stubs *rs, const struct remote *r, pid_t tid, unsigned stub,
                             uint64_t *target);
/* Completed calls among the stubs in use, read through tid, sorted by
 * sequence number into out (RETURN_STUBS_MAX entries). racing: other
 * threads may be running, so records seen completed are read again (the
 * value is stored before the sequence number, but one read of both is not
 * ordered). Returns how many, or -errno. */
int return_stubs_collect(const struct return_stubs *rs, const struct remote *r, pid_t tid, bool racing,
                         struct return_stub_done *out);

#endif
