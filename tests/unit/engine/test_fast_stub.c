/* The --fast stub, run for real in this process: a hand-made function is
 * patched with fast_patches_add/write (through a remote that writes this
 * process's own memory), called, and its ring records read back; the stub
 * blob is decoded whole with capstone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <capstone/capstone.h>

#include "fast_abi.h"
#include "fast_patch.h"
#include "fast_ring.h"

static int own_write(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    (void)ctx, (void)tid;
    memcpy((void *)addr, buf, len);
    return 0;
}

static const struct remote_ops own_ops = { .write = own_write, .poke_text = own_write };
static const struct remote own = { .ops = &own_ops };

#define CAP 4u
#define SLICE 64u
#define SLOT_SHIFT 8u    /* the header and 64 bytes of stack, in 256 */
/* The stack copies' own slots, when they are apart from the records. */
#define SLICES_OFF (((FAST_RING_SLOTS + (CAP << SLOT_SHIFT)) + 4095u) & ~4095u)
#define SLICE_STRIDE 128u

struct world {
    uint8_t *region;     /* code pages + control page */
    uint8_t *fn;         /* the patched function: rax = 2 * rdi */
    uint8_t *ring;
    uint64_t *ctl;
};

static struct world w;
static struct fast_patches patches;

static uint64_t ctl_get(unsigned off) { return w.ctl[off / 8]; }
static void ctl_set(unsigned off, uint64_t v) { w.ctl[off / 8] = v; }
static uint64_t ring_u64(unsigned off) { return *(uint64_t *)(w.ring + off); }
static uint8_t *record(uint64_t ticket)
{
    return w.ring + FAST_RING_SLOTS + ((ticket & (CAP - 1)) << SLOT_SHIFT);
}

static void main_stack(uint64_t *lo, uint64_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    *lo = *hi = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", lo, hi) != 2)
            *lo = *hi = 0;
    if (f)
        fclose(f);
}

static int setup(void **state)
{
    (void)state;
    /* The function and the region within a jump of each other. */
    uint8_t *area = mmap(NULL, FAST_REGION_SIZE + 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(area != MAP_FAILED);
    w.region = area;
    w.fn = area + FAST_REGION_SIZE;
    w.ctl = (uint64_t *)(area + FAST_CTL_OFFSET);
    static const uint8_t double_it[] = { 0x48, 0x89, 0xf8,   /* mov rax, rdi */
                                         0x48, 0x01, 0xc0,   /* add rax, rax */
                                         0xc3 };             /* ret */
    memset(w.fn, 0xcc, 64);
    memcpy(w.fn, double_it, sizeof(double_it));
    w.ring = mmap(NULL, SLICES_OFF + CAP * SLICE_STRIDE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(w.ring != MAP_FAILED);
    size_t stub_len = (uintptr_t)memtrace_fast_stub_end - (uintptr_t)memtrace_fast_stub_begin;
    assert_true(stub_len <= FAST_THUNKS_OFFSET);   /* the thunks follow it */
    memcpy(w.region, memtrace_fast_stub_begin, stub_len);
    struct fast_patches *fp = &patches;
    fast_patches_init(fp, (mt_addr)w.region);
    char why[256] = "";
    assert_int_equal(fast_patches_add(fp, &own, 0, (mt_addr)w.fn, 0 /* FN_MALLOC */,
                                      FAST_FLAG_AFTER, w.fn, 64, why, sizeof(why)), 0);
    assert_int_equal(fp->items[0].reloc.src_len, 6);   /* both instructions moved */
    assert_int_equal(fast_patches_write(fp, &own, 0), 0);
    assert_int_equal(w.fn[0], 0xe9);
    uint64_t lo, hi;
    main_stack(&lo, &hi);
    ctl_set(FAST_CTL_TRACER_PID, (uint64_t)getpid());
    ctl_set(FAST_CTL_STUB_LO, (uint64_t)w.region);
    ctl_set(FAST_CTL_STUB_HI, (uint64_t)w.region + FAST_CTL_OFFSET);
    ctl_set(FAST_CTL_STACK_LO, lo);
    ctl_set(FAST_CTL_STACK_HI, hi);
    ctl_set(FAST_CTL_SLICE_MAX, SLICE);
    ctl_set(FAST_CTL_SLOT_SHIFT, SLOT_SHIFT);
    ctl_set(FAST_CTL_CAP, CAP);
    ctl_set(FAST_CTL_CAP_MASK, CAP - 1);
    ctl_set(FAST_CTL_RING, (uint64_t)w.ring);
    return 0;
}

static uint64_t rec_u64(const uint8_t *rec, unsigned off)
{
    uint64_t v;
    memcpy(&v, rec + off, 8);
    return v;
}

__attribute__((noinline)) static uint64_t call_fn(uint64_t arg)
{
    uint64_t (*fn)(uint64_t) = (uint64_t (*)(uint64_t))(void *)w.fn;
    uint64_t r = fn(arg);
    __asm__ volatile("" ::: "memory");   /* a real call, not a tail jump: it returns here */
    return r;
}

/* Consumes every record, as memtrace does. */
static void drain(void)
{
    *(volatile uint64_t *)(w.ring + FAST_RING_READ) = ring_u64(FAST_RING_WRITE);
}

static void test_call_records_after_return(void **state)
{
    (void)state;
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    assert_int_equal(call_fn(21), 42);
    assert_int_equal(ring_u64(FAST_RING_WRITE), ticket + 1);
    uint8_t *rec = record(ticket);
    uint64_t v;
    memcpy(&v, rec + FAST_REC_SEQ, 8);
    assert_int_equal(v, ticket + 1);        /* published */
    memcpy(&v, rec + FAST_REC_ARG0, 8);
    assert_int_equal(v, 21);
    memcpy(&v, rec + FAST_REC_RET, 8);
    assert_int_equal(v, 42);
    uint32_t phase;
    memcpy(&phase, rec + FAST_REC_PHASE, 4);
    assert_int_equal(phase, FAST_FLAG_AFTER);
    /* The stack copy starts with the return address into call_fn. */
    uint64_t rsp, len, ra;
    memcpy(&rsp, rec + FAST_REC_RSP, 8);
    memcpy(&len, rec + FAST_REC_SLICE_LEN, 8);
    memcpy(&ra, rec + FAST_REC_SLICE, 8);
    assert_int_equal(len, SLICE);
    assert_int_equal(ra, *(uint64_t *)rsp);
    assert_true(ra > (uint64_t)(uintptr_t)call_fn && ra < (uint64_t)(uintptr_t)call_fn + 256);
    drain();
}

/* With the copies apart (FAST_CTL_SLICES), the stack goes to the slot's
 * slice and the record keeps only its header; fast_ring_slice finds it. */
static void test_stack_copy_in_its_own_slot(void **state)
{
    (void)state;
    ctl_set(FAST_CTL_SLICES, SLICES_OFF);
    ctl_set(FAST_CTL_SLICE_STRIDE, SLICE_STRIDE);
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    uint8_t *rec = record(ticket);
    memset(rec + FAST_REC_SLICE, 0xab, SLICE);
    uint8_t *slice = w.ring + SLICES_OFF + (ticket & (CAP - 1)) * SLICE_STRIDE;
    memset(slice, 0, SLICE_STRIDE);
    assert_int_equal(call_fn(4), 8);
    ctl_set(FAST_CTL_SLICES, 0);
    ctl_set(FAST_CTL_SLICE_STRIDE, 0);
    uint64_t rsp, len, ra;
    memcpy(&rsp, rec + FAST_REC_RSP, 8);
    memcpy(&len, rec + FAST_REC_SLICE_LEN, 8);
    memcpy(&ra, slice, 8);
    assert_int_equal(len, SLICE);
    assert_int_equal(ra, *(uint64_t *)rsp);
    assert_int_equal(slice[SLICE], 0);                 /* no more than the slice */
    for (unsigned i = 0; i < SLICE; i++)
        assert_int_equal(rec[FAST_REC_SLICE + i], 0xab);   /* the record's own bytes untouched */
    struct fast_ring fr = { .local = w.ring, .slot_shift = SLOT_SHIFT, .slices_off = SLICES_OFF,
                            .slice_shift = 7 };
    assert_ptr_equal(fast_ring_slice(&fr, rec), slice);
    fr.slices_off = 0;
    assert_ptr_equal(fast_ring_slice(&fr, rec), rec + FAST_REC_SLICE);
    drain();
}

/* The flags word of the patched function's descriptor (thunk, then it). */
static uint32_t *desc_flags(void)
{
    return (uint32_t *)(uintptr_t)(patches.items[0].thunk + 16 + FAST_DESC_FLAGS);
}

/* --depth 1: a record is its first cache line, and its second too only
 * for a function that needs it; no registers, no stack copy. */
static void test_narrow_records(void **state)
{
    (void)state;
    ctl_set(FAST_CTL_NARROW, 1);
    ctl_set(FAST_CTL_DEPTH, 1);
    for (int wide = 0; wide < 2; wide++) {
        if (wide)
            *desc_flags() |= FAST_FLAG_WIDE;
        uint64_t ticket = ring_u64(FAST_RING_WRITE);
        uint8_t *rec = record(ticket);
        memset(rec, 0xab, (size_t)1 << SLOT_SHIFT);
        assert_int_equal(call_fn(9), 18);
        assert_int_equal(rec_u64(rec, FAST_REC_SEQ), ticket + 1);
        assert_int_equal(rec_u64(rec, FAST_REC_ARG0), 9);
        assert_int_equal(rec_u64(rec, FAST_REC_RET), 18);
        assert_int_equal(rec_u64(rec, FAST_REC_PAIR), 0);
        uint64_t ra = rec_u64(rec, FAST_REC_RA);
        assert_int_equal(ra, *(uint64_t *)(uintptr_t)rec_u64(rec, FAST_REC_RSP));
        assert_true(ra > (uint64_t)(uintptr_t)call_fn && ra < (uint64_t)(uintptr_t)call_fn + 256);
        /* The second line: the block (0 here), or an older record's bytes. */
        assert_int_equal(rec_u64(rec, FAST_REC_BLOCK), wide ? 0 : 0xabababababababab);
        for (unsigned i = FAST_REC_BLOCK + 8; i < (1u << SLOT_SHIFT); i++)
            assert_int_equal(rec[i], 0xab);
        drain();
    }
    *desc_flags() &= ~(uint32_t)FAST_FLAG_WIDE;
    ctl_set(FAST_CTL_NARROW, 0);
    ctl_set(FAST_CTL_DEPTH, 0);
}

/* A call from a wrapper's code (operator new's malloc) passes through
 * unless the function is FAST_FLAG_WRAPPABLE; then it is recorded with
 * FAST_PHASE_WRAPPED and no stack of its own. */
static void test_call_from_a_wrapper(void **state)
{
    (void)state;
    drain();
    uint64_t lo = (uint64_t)(uintptr_t)call_fn, hi = lo + 256;
    ctl_set(FAST_CTL_WRAP_BOX_LO, lo);
    ctl_set(FAST_CTL_WRAP_BOX_HI, hi);
    ctl_set(FAST_CTL_WRAPS + 16, lo);   /* the second span; the first is empty */
    ctl_set(FAST_CTL_WRAPS + 24, hi);
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    assert_int_equal(call_fn(6), 12);
    assert_int_equal(ring_u64(FAST_RING_WRITE), ticket);   /* passed through */
    *desc_flags() |= FAST_FLAG_WRAPPABLE;
    uint8_t *rec = record(ticket);
    memset(rec, 0xab, (size_t)1 << SLOT_SHIFT);
    assert_int_equal(call_fn(7), 14);
    assert_int_equal(rec_u64(rec, FAST_REC_SEQ), ticket + 1);
    uint32_t phase;
    memcpy(&phase, rec + FAST_REC_PHASE, 4);
    assert_int_equal(phase, FAST_FLAG_AFTER | FAST_PHASE_WRAPPED);
    assert_int_equal(rec_u64(rec, FAST_REC_RET), 14);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE_LEN), 0xabababababababab);   /* no stack */
    /* Out of every span: recorded as usual. */
    ctl_set(FAST_CTL_WRAP_BOX_LO, 0);
    ctl_set(FAST_CTL_WRAP_BOX_HI, 0);
    ctl_set(FAST_CTL_WRAPS + 16, 0);
    ctl_set(FAST_CTL_WRAPS + 24, 0);
    assert_int_equal(call_fn(8), 16);
    memcpy(&phase, record(ticket + 1) + FAST_REC_PHASE, 4);
    assert_int_equal(phase, FAST_FLAG_AFTER);
    *desc_flags() &= ~(uint32_t)FAST_FLAG_WRAPPABLE;
    drain();
}

/* FAST_FLAG_TAIL (operator new): a record before, then the function runs
 * as if called from the program (the stub jumps), and nothing after. */
static void test_tail_call_records_before(void **state)
{
    (void)state;
    drain();
    uint32_t saved = *desc_flags();
    *desc_flags() = FAST_FLAG_BEFORE | FAST_FLAG_TAIL;
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    assert_int_equal(call_fn(11), 22);
    *desc_flags() = saved;
    assert_int_equal(ring_u64(FAST_RING_WRITE), ticket + 1);
    uint8_t *rec = record(ticket);
    uint32_t phase;
    memcpy(&phase, rec + FAST_REC_PHASE, 4);
    assert_int_equal(phase, FAST_FLAG_BEFORE);
    assert_int_equal(rec_u64(rec, FAST_REC_ARG0), 11);
    uint64_t ra = rec_u64(rec, FAST_REC_RA);
    assert_true(ra > (uint64_t)(uintptr_t)call_fn && ra < (uint64_t)(uintptr_t)call_fn + 256);
    drain();
}

static void test_nested_call_passes_through(void **state)
{
    (void)state;
    /* A caller inside the allocator's span: no record. */
    ctl_set(FAST_CTL_ALLOC_LO, (uint64_t)(uintptr_t)call_fn);
    ctl_set(FAST_CTL_ALLOC_HI, (uint64_t)(uintptr_t)call_fn + 256);
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    assert_int_equal(call_fn(5), 10);
    assert_int_equal(ring_u64(FAST_RING_WRITE), ticket);
    ctl_set(FAST_CTL_ALLOC_LO, 0);
    ctl_set(FAST_CTL_ALLOC_HI, 0);
}

static void test_full_ring_without_reader_turns_off(void **state)
{
    (void)state;
    /* memtrace is gone: a child that has exited and been reaped. */
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    ctl_set(FAST_CTL_TRACER_PID, (uint64_t)gone);
    drain();
    for (unsigned i = 0; i < CAP; i++)
        assert_int_equal(call_fn(i), 2 * i);
    assert_int_equal(ring_u64(FAST_RING_FULL_WAITS), 0);
    /* The next call finds the ring full, sees no reader, and passes through. */
    assert_int_equal(call_fn(100), 200);
    assert_int_equal(ring_u64(FAST_RING_FULL_WAITS), 1);
    assert_int_equal(ctl_get(FAST_CTL_RING), 0);
    uint64_t written = ring_u64(FAST_RING_WRITE);
    assert_int_equal(call_fn(7), 14);
    assert_int_equal(ring_u64(FAST_RING_WRITE), written);   /* off: not even a ticket */
}

/* fake_caller(arg, fake_ra, fn, word) calls fn(arg) with a made-up stack
 * above its own return address (fake_caller_ret), at fn's entry rsp e:
 * [e] fake_caller_ret, [e + 8] word, [e + 16] fake_ra, [e + 24] fake_caller's
 * saved rbp. So the caller's CFA is its rsp + 16, where fake_ra is its
 * return address and word sits at CFA - 16, a saved rbp's place. */
extern uint64_t fake_caller(uint64_t arg, uint64_t fake_ra, void *fn, uint64_t word);
extern char fake_caller_ret[];
__asm__(".text\n"
        ".globl fake_caller\n"
        ".globl fake_caller_ret\n"
        "fake_caller:\n"
        "    push %rbp\n"
        "    push %rsi\n"
        "    push %rcx\n"
        "    call *%rdx\n"
        "fake_caller_ret:\n"
        "    add $16, %rsp\n"
        "    pop %rbp\n"
        "    ret\n");

static struct fast_ring rules_view(void)
{
    struct fast_ring fr = { .local = w.ring };
    fast_ring_forget_rules(&fr);
    return fr;
}

/* Calls fn through fake_caller with depth frames asked for; returns its record. */
static uint8_t *walked_call(unsigned depth, uint64_t fake_ra, uint64_t word)
{
    drain();
    ctl_set(FAST_CTL_DEPTH, depth);
    uint64_t ticket = ring_u64(FAST_RING_WRITE);
    assert_int_equal(fake_caller(8, fake_ra, w.fn, word), 16);
    ctl_set(FAST_CTL_DEPTH, 0);
    assert_int_equal(ring_u64(FAST_RING_WRITE), ticket + 1);
    uint8_t *rec = record(ticket);
    assert_int_equal(rec_u64(rec, FAST_REC_SEQ), ticket + 1);
    return rec;
}

static void test_walk_to_the_outermost_frame(void **state)
{
    (void)state;
    struct fast_ring fr = rules_view();
    const uint64_t ra0 = (uint64_t)(uintptr_t)fake_caller_ret, ra1 = 0x1000;
    fast_ring_learn_rule(&fr, ra0, fast_rule_word(ra0, false, false, 16, FAST_RBP_SAME));
    fast_ring_learn_rule(&fr, ra1, fast_rule_word(ra1, true, false, 0, FAST_RBP_SAME));
    uint8_t *rec = walked_call(16, ra1, 0);
    assert_int_equal(rec_u64(rec, FAST_REC_NFRAMES), 2);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE_LEN), 0);   /* no stack copy */
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE), ra0);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE + 8), ra1);
    drain();
}

static void test_walk_through_a_saved_rbp(void **state)
{
    (void)state;
    struct fast_ring fr = rules_view();
    /* fake_ra's frame finds its CFA from rbp, which fake_caller's frame
     * saved: a frame made here, above the call on this stack. */
    uint64_t frame[3] = { 0x77, 0x2000, 0 };   /* saved rbp, return address */
    const uint64_t ra0 = (uint64_t)(uintptr_t)fake_caller_ret, ra1 = 0x1000, ra2 = 0x2000;
    fast_ring_learn_rule(&fr, ra0, fast_rule_word(ra0, false, false, 16, -16));
    fast_ring_learn_rule(&fr, ra1, fast_rule_word(ra1, false, true, 16, -16));
    fast_ring_learn_rule(&fr, ra2, fast_rule_word(ra2, true, false, 0, FAST_RBP_SAME));
    uint8_t *rec = walked_call(16, ra1, (uint64_t)(uintptr_t)frame);
    assert_int_equal(rec_u64(rec, FAST_REC_NFRAMES), 3);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE + 16), ra2);
    /* The depth asked for ends the walk first. */
    rec = walked_call(2, ra1, (uint64_t)(uintptr_t)frame);
    assert_int_equal(rec_u64(rec, FAST_REC_NFRAMES), 2);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE + 8), ra1);
    drain();
    __asm__ volatile("" : : "r"(frame) : "memory");
}

static void test_walk_without_a_rule_copies_the_stack(void **state)
{
    (void)state;
    struct fast_ring fr = rules_view();
    const uint64_t ra0 = (uint64_t)(uintptr_t)fake_caller_ret, ra1 = 0x1000;
    fast_ring_learn_rule(&fr, ra0, fast_rule_word(ra0, false, false, 16, FAST_RBP_SAME));
    uint8_t *rec = walked_call(16, ra1, 0);
    assert_int_equal(rec_u64(rec, FAST_REC_NFRAMES), 0);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE_LEN), SLICE);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE), ra0);
    assert_int_equal(rec_u64(rec, FAST_REC_SLICE + 16), ra1);
    /* A rule whose CFA would lie below the frame is not followed either. */
    fast_ring_learn_rule(&fr, ra0, fast_rule_word(ra0, false, true, 0, FAST_RBP_SAME));
    fast_ring_learn_rule(&fr, ra1, fast_rule_word(ra1, true, false, 0, FAST_RBP_SAME));
    rec = walked_call(16, ra1, 0);
    assert_int_equal(rec_u64(rec, FAST_REC_NFRAMES), 0);
    drain();
}

static void test_rule_words(void **state)
{
    (void)state;
    const uint64_t ra = 0x7f0012345678;
    uint64_t word = fast_rule_word(ra, false, true, 16, -16);
    assert_int_equal(word & ((1ull << FAST_RULE_RA_BITS) - 1), ra);
    assert_int_equal(word >> FAST_RULE_CFA_RBP & 1, 1);
    assert_int_equal(word >> FAST_RULE_CFA_OFF & FAST_RULE_CFA_OFF_MAX, 2);
    assert_int_equal(word >> FAST_RULE_RBP_AT, 2);
    assert_int_equal(fast_rule_word(ra, false, false, 8, FAST_RBP_UNDEFINED) >> FAST_RULE_RBP_AT,
                     FAST_RULE_RBP_UNDEFINED);
    /* What the stubs cannot hold stays memtrace's to walk. */
    assert_int_equal(fast_rule_word(ra, false, false, 12, FAST_RBP_SAME), 0);
    assert_int_equal(fast_rule_word(ra, false, false, -8, FAST_RBP_SAME), 0);
    assert_int_equal(fast_rule_word(ra, false, false, 8 * 2048, FAST_RBP_SAME), 0);
    assert_int_equal(fast_rule_word(ra, false, false, 8 * 2047, FAST_RBP_SAME) >> FAST_RULE_CFA_OFF &
                     FAST_RULE_CFA_OFF_MAX, 2047);
    assert_int_equal(fast_rule_word(ra, false, false, 16, -8 * 15), 0);
    assert_int_equal(fast_rule_word(ra, false, false, 16, 8), 0);
    assert_int_equal(fast_rule_word(1ull << 47, true, false, 0, FAST_RBP_SAME), 0);
    assert_int_equal(fast_rule_word(0, true, false, 0, FAST_RBP_SAME), 0);
    /* Two return addresses of one slot both stay known; a third takes the
     * first slot. */
    struct fast_ring fr = rules_view();
    const uint64_t *rules = (const uint64_t *)(w.ring + FAST_RING_RULES);
    uint64_t a = 0x401000, b = a, c;
    size_t slot = (size_t)((a * 0x9e3779b97f4a7c15ull) >> (64 - FAST_RULE_BITS));
    do
        b += 1;
    while ((size_t)((b * 0x9e3779b97f4a7c15ull) >> (64 - FAST_RULE_BITS)) != slot);
    c = b;
    do
        c += 1;
    while ((size_t)((c * 0x9e3779b97f4a7c15ull) >> (64 - FAST_RULE_BITS)) != slot);
    uint64_t wa = fast_rule_word(a, true, false, 0, 0), wb = fast_rule_word(b, true, false, 0, 0),
             wc = fast_rule_word(c, true, false, 0, 0);
    fast_ring_learn_rule(&fr, a, wa);
    fast_ring_learn_rule(&fr, b, wb);
    assert_int_equal(rules[slot], wa);
    assert_int_equal(rules[(slot + 1) & ((1u << FAST_RULE_BITS) - 1)], wb);
    fast_ring_learn_rule(&fr, c, wc);
    assert_int_equal(rules[slot], wc);
    rules_view();
}

static void test_stub_decodes_whole(void **state)
{
    (void)state;
    csh h;
    assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h), CS_ERR_OK);
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    const uint8_t *code = memtrace_fast_stub_begin;
    size_t len = (uintptr_t)memtrace_fast_stub_end - (uintptr_t)memtrace_fast_stub_begin;
    uint64_t pc = 0;
    cs_insn *insn = cs_malloc(h);
    size_t left = len;
    unsigned n = 0;
    while (cs_disasm_iter(h, &code, &left, &pc, insn)) {
        n++;
        const cs_x86 *x = &insn->detail->x86;
        for (int i = 0; i < x->op_count; i++) {
            if (x->operands[i].type != X86_OP_MEM || x->operands[i].mem.base != X86_REG_RIP)
                continue;
            /* Every RIP-relative operand is a field of the control block. */
            uint64_t target = insn->address + insn->size + (uint64_t)x->operands[i].mem.disp;
            assert_true(target >= FAST_CTL_OFFSET && target < FAST_CTL_OFFSET + FAST_CTL_NAME);
        }
    }
    assert_int_equal(left, 0);   /* no byte that is not an instruction */
    assert_true(n > 50);
    cs_free(insn, 1);
    cs_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stub_decodes_whole),
        cmocka_unit_test(test_call_records_after_return),
        cmocka_unit_test(test_stack_copy_in_its_own_slot),
        cmocka_unit_test(test_narrow_records),
        cmocka_unit_test(test_call_from_a_wrapper),
        cmocka_unit_test(test_tail_call_records_before),
        cmocka_unit_test(test_nested_call_passes_through),
        cmocka_unit_test(test_walk_to_the_outermost_frame),
        cmocka_unit_test(test_walk_through_a_saved_rbp),
        cmocka_unit_test(test_walk_without_a_rule_copies_the_stack),
        cmocka_unit_test(test_rule_words),
        cmocka_unit_test(test_full_ring_without_reader_turns_off),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
