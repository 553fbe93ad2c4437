/* The --fast stub: every hooked allocator entry jumps here (through a
 * thunk that loads its descriptor into r11) instead of trapping. The stub
 * calls the function through its relocated prologue and appends what the
 * call did to the ring shared with memtrace: a free before the memory is
 * released, an allocation after it returns, so ring order is the order a
 * block changed hands. The program's return addresses are never touched.
 *
 * Freestanding and position-independent: assembled into memtrace as data,
 * copied to the target's code pages; the control block is found at a fixed
 * distance (fast_abi.h). Only rax and the callee-saved registers survive
 * from the function's contract, as in any call. */
#include "fast_abi.h"

        .intel_syntax noprefix
        .section .rodata.memtrace_fast_stub, "a"
        .balign 64
        .globl memtrace_fast_stub_begin
        .globl memtrace_fast_stub_end
memtrace_fast_stub_begin:
        .set CTL, memtrace_fast_stub_begin + FAST_CTL_OFFSET

/* The frame fast_entry keeps around the call. */
        .set FR_RDI, 0
        .set FR_RSI, 8
        .set FR_RDX, 16
        .set FR_DESC, 24
        .set FR_BLOCK, 32
        .set FR_RAX, 40
        .set FR_PAIR, 48
        .set FR_RCX, 56         /* the mapping family's further arguments */
        .set FR_R8, 64
        .set FR_R9, 72
        .set FR_WRAPPED, 80     /* FAST_PHASE_WRAPPED or 0 */
        .set FRAME, 88          /* entry rsp = 8 mod 16, so the call is aligned */

/* r11: the function's descriptor; arguments as the caller left them. */
fast_entry:
        mov     r10, qword ptr [rip + CTL + FAST_CTL_RING]
        test    r10, r10
        jz      pass_through
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_DEFER
        jz      0f
        test    rdi, rdi                /* free(NULL): nothing to do */
        jz      done_now
0:
        mov     r10, qword ptr [rsp]
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_ALLOC_LO]
        jb      1f
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_ALLOC_HI]
        jb      pass_through
1:      cmp     r10, qword ptr [rip + CTL + FAST_CTL_STUB_LO]
        jb      32f
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_STUB_HI]
        jb      pass_through
32:     cmp     r10, qword ptr [rip + CTL + FAST_CTL_SCRATCH_LO]
        jb      39f
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_SCRATCH_HI]
        jb      pass_through
39:     cmp     r10, qword ptr [rip + CTL + FAST_CTL_WRAP_BOX_LO]
        jb      2f
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_WRAP_BOX_HI]
        jae     2f
        .irp k, 0, 1, 2, 3, 4, 5
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_WRAPS + \k * 16]
        jb      33f
        cmp     r10, qword ptr [rip + CTL + FAST_CTL_WRAPS + \k * 16 + 8]
        jb      36f
33:
        .endr
2:      xor     r10d, r10d
        jmp     37f
36:     test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_WRAPPABLE
        jz      pass_through            /* new's own call of new (nothrow) */
        mov     r10d, FAST_PHASE_WRAPPED
37:     sub     rsp, FRAME
        mov     qword ptr [rsp + FR_WRAPPED], r10
        mov     qword ptr [rsp + FR_RDI], rdi
        mov     qword ptr [rsp + FR_RSI], rsi
        mov     qword ptr [rsp + FR_RDX], rdx
        mov     qword ptr [rsp + FR_DESC], r11
        mov     qword ptr [rsp + FR_RCX], rcx
        mov     qword ptr [rsp + FR_R8], r8
        mov     qword ptr [rsp + FR_R9], r9
        mov     qword ptr [rsp + FR_BLOCK], 0
        mov     qword ptr [rsp + FR_PAIR], 0
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_NO_QUEUE
        jnz     19f
        call    run_deferred_frees
19:     mov     rdi, qword ptr [rsp + FR_RDI]
        mov     rsi, qword ptr [rsp + FR_RSI]
        mov     rdx, qword ptr [rsp + FR_RDX]
        mov     r11, qword ptr [rsp + FR_DESC]
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_BEFORE
        jz      3f
        mov     r8d, FAST_FLAG_BEFORE
        xor     r9d, r9d
        call    record
        mov     rdi, qword ptr [rsp + FR_RDI]
        mov     rsi, qword ptr [rsp + FR_RSI]
        mov     rdx, qword ptr [rsp + FR_RDX]
        mov     r11, qword ptr [rsp + FR_DESC]
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_DEFER
        jnz     5f                      /* memtrace runs it once judged good */
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_TAIL
        jz      3f
        mov     rcx, qword ptr [rsp + FR_RCX]
        mov     r8, qword ptr [rsp + FR_R8]
        mov     r9, qword ptr [rsp + FR_R9]
        add     rsp, FRAME
        jmp     qword ptr [r11 + FAST_DESC_ORIG]
3:      mov     rcx, qword ptr [rsp + FR_RCX]
        mov     r8, qword ptr [rsp + FR_R8]
        mov     r9, qword ptr [rsp + FR_R9]
        call    qword ptr [r11 + FAST_DESC_ORIG]
        mov     r11, qword ptr [rsp + FR_DESC]
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_AFTER
        jz      5f
        mov     qword ptr [rsp + FR_RAX], rax
        test    dword ptr [r11 + FAST_DESC_FLAGS], FAST_FLAG_MEMPTR
        jz      4f
        test    eax, eax
        jnz     4f
        mov     rcx, qword ptr [rsp + FR_RDI]
        mov     rcx, qword ptr [rcx]
        mov     qword ptr [rsp + FR_BLOCK], rcx
4:      mov     r8d, FAST_FLAG_AFTER
        mov     r9, rax
        call    record
        xor     r9d, r9d                /* no stale copy in a register either */
        mov     rax, qword ptr [rsp + FR_RAX]
        /* No copy of a block's address may outlive the call on the stack:
         * a leak scan would take the stale word for a pointer to it. */
5:      xor     ecx, ecx
        mov     qword ptr [rsp + FR_RDI], rcx
        mov     qword ptr [rsp + FR_RSI], rcx
        mov     qword ptr [rsp + FR_RDX], rcx
        mov     qword ptr [rsp + FR_BLOCK], rcx
        mov     qword ptr [rsp + FR_RAX], rcx
        mov     qword ptr [rsp + FR_RCX], rcx
        mov     qword ptr [rsp + FR_R8], rcx
        mov     qword ptr [rsp + FR_R9], rcx
        add     rsp, FRAME
        ret

pass_through:
        jmp     qword ptr [r11 + FAST_DESC_ORIG]

done_now:
        ret

/* Runs up to 4 of the frees memtrace queued (each judged good), through
 * free's relocated prologue or the delete's the word names. Called with rsp = 0 mod 16; takes rax, rcx,
 * rdx, rsi, rdi, r8-r11. */
run_deferred_frees:
        mov     r8d, 4
14:     mov     r10, qword ptr [rip + CTL + FAST_CTL_RING]
        test    r10, r10
        jz      16f
        mov     rax, qword ptr [r10 + FAST_RING_REL_HEAD]
15:     cmp     rax, qword ptr [r10 + FAST_RING_REL_TAIL]
        jae     16f
        mov     rcx, rax
        and     ecx, FAST_RING_REL_CAP - 1
        mov     rdi, qword ptr [r10 + FAST_RING_REL_SLOTS + rcx * 8]
        lea     rdx, [rax + 1]
        lock cmpxchg qword ptr [r10 + FAST_RING_REL_HEAD], rdx
        jne     15b                     /* another thread took it: rax is the new head */
        push    r8
        mov     rax, rdi
        shr     rax, FAST_QUEUE_PATCH_SHIFT
        jnz     34f
        call    qword ptr [rip + CTL + FAST_CTL_FREE_ORIG]
        jmp     35f
34:     shl     rdi, 64 - FAST_QUEUE_PATCH_SHIFT       /* the pointer alone */
        shr     rdi, 64 - FAST_QUEUE_PATCH_SHIFT
        imul    rax, rax, FAST_THUNK_SIZE               /* (number + 1) thunks on */
        add     rax, qword ptr [rip + CTL + FAST_CTL_STUB_LO]
        call    qword ptr [rax + FAST_THUNKS_OFFSET - FAST_THUNK_SIZE + FAST_THUNK_DESC + FAST_DESC_ORIG]
35:     pop     r8
        dec     r8d
        jnz     14b
16:     ret

/* One record: r8d = phase, r9 = rax after the call. The caller's frame is
 * at rsp + 8, the function's entry rsp at rsp + 8 + FRAME. Keeps rbx, rbp,
 * r12-r15 (they are the caller's, and are recorded). */
record:
        mov     r10, qword ptr [rip + CTL + FAST_CTL_RING]
        test    r10, r10
        jz      9f
        mov     edx, 1
        lock xadd qword ptr [r10 + FAST_RING_WRITE], rdx     /* rdx = ticket */
6:      mov     rax, qword ptr [r10 + FAST_RING_READ]
        add     rax, qword ptr [rip + CTL + FAST_CTL_CAP]
        cmp     rdx, rax
        jb      7f
        call    ring_full
        mov     r10, qword ptr [rip + CTL + FAST_CTL_RING]
        test    r10, r10
        jz      9f                      /* memtrace is gone: nobody reads the ring */
        jmp     6b
7:      mov     rax, rdx
        and     rax, qword ptr [rip + CTL + FAST_CTL_CAP_MASK]
        mov     ecx, dword ptr [rip + CTL + FAST_CTL_SLOT_SHIFT]
        shl     rax, cl
        lea     r11, [r10 + rax + FAST_RING_SLOTS]             /* the record */
        /* Its first line: all a malloc, calloc, realloc or free needs. */
        mov     rcx, qword ptr [rsp + 8 + FR_DESC]
        mov     eax, dword ptr [rcx + FAST_DESC_FN]
        mov     dword ptr [r11 + FAST_REC_FN], eax
        or      r8d, dword ptr [rsp + 8 + FR_WRAPPED]
        mov     dword ptr [r11 + FAST_REC_PHASE], r8d
        mov     rax, qword ptr [rsp + 8 + FR_RDI]
        mov     qword ptr [r11 + FAST_REC_ARG0], rax
        mov     rax, qword ptr [rsp + 8 + FR_RSI]
        mov     qword ptr [r11 + FAST_REC_ARG1], rax
        mov     qword ptr [r11 + FAST_REC_RET], r9
        mov     rax, qword ptr [rsp + 8 + FR_PAIR]
        mov     qword ptr [r11 + FAST_REC_PAIR], rax
        lea     rax, [rdx + 1]
        mov     qword ptr [rsp + 8 + FR_PAIR], rax      /* the after record names this one */
        lea     rsi, [rsp + 8 + FRAME]
        mov     qword ptr [r11 + FAST_REC_RSP], rsi
        mov     rax, qword ptr [rsi]
        mov     qword ptr [r11 + FAST_REC_RA], rax
        test    r8d, FAST_PHASE_WRAPPED
        jnz     38f                     /* its stack is its wrapper's */
        cmp     qword ptr [rip + CTL + FAST_CTL_NARROW], 0
        je      29f
38:     test    dword ptr [rcx + FAST_DESC_FLAGS], FAST_FLAG_WIDE
        jz      30f                     /* a narrow record: published now */
29:     mov     rax, qword ptr [rsp + 8 + FR_RDX]
        mov     qword ptr [r11 + FAST_REC_ARG2], rax
        mov     rax, qword ptr [rsp + 8 + FR_RCX]
        mov     qword ptr [r11 + FAST_REC_ARG3], rax
        mov     rax, qword ptr [rsp + 8 + FR_R8]
        mov     qword ptr [r11 + FAST_REC_ARG4], rax
        mov     rax, qword ptr [rsp + 8 + FR_BLOCK]
        mov     qword ptr [r11 + FAST_REC_BLOCK], rax
        test    r8d, FAST_PHASE_WRAPPED
        jnz     30f
        cmp     qword ptr [rip + CTL + FAST_CTL_NARROW], 0
        jne     30f
        mov     qword ptr [r11 + FAST_REC_RBX], rbx
        mov     qword ptr [r11 + FAST_REC_RBP], rbp
        mov     qword ptr [r11 + FAST_REC_R12], r12
        mov     qword ptr [r11 + FAST_REC_R13], r13
        mov     qword ptr [r11 + FAST_REC_R14], r14
        mov     qword ptr [r11 + FAST_REC_R15], r15
        /* How far the thread's stack goes above rsi: nothing past it is read. */
        mov     rax, qword ptr [rip + CTL + FAST_CTL_STACK_HI]
        cmp     rsi, qword ptr [rip + CTL + FAST_CTL_STACK_LO]
        jb      10f
        cmp     rsi, rax
        jae     10f
        sub     rax, rsi                /* the main thread: up to its stack's top */
        jmp     11f
10:     mov     rax, qword ptr fs:[0]   /* glibc's thread block sits at the top */
        cmp     rax, rsi                /* of each thread stack it made */
        jbe     12f
        sub     rax, rsi
        cmp     rax, 0x4000000
        jb      11f
12:     mov     eax, 8                  /* a stack not known: the return address */
11:     cmp     qword ptr [rip + CTL + FAST_CTL_DEPTH], 1
        jbe     20f
        call    walk
        jnc     8f                      /* rcx = 0: no stack copy */
20:     mov     qword ptr [r11 + FAST_REC_NFRAMES], 0
        mov     rcx, qword ptr [rip + CTL + FAST_CTL_SLICE_MAX]
        test    rcx, rcx
        jz      8f
        cmp     rcx, rax
        cmova   rcx, rax
        /* memtrace's hint for this return address: how much stack its
         * walks needed, (ra << 16) | bytes / 16 in one word. */
        mov     rax, qword ptr [rsi]
        mov     rdi, 0x9e3779b97f4a7c15
        imul    rdi, rax
        shr     rdi, 64 - FAST_HINT_BITS
        mov     rdi, qword ptr [r10 + FAST_RING_HINTS + rdi * 8]
        shl     rax, 16
        xor     rax, rdi
        cmp     rax, 0x10000
        jae     8f                      /* none for it: the whole slice */
        shl     rax, 4
        cmp     rcx, rax
        cmova   rcx, rax
8:      mov     qword ptr [r11 + FAST_REC_SLICE_LEN], rcx
        lea     rdi, [r11 + FAST_REC_SLICE]
        mov     rax, qword ptr [rip + CTL + FAST_CTL_SLICES]
        test    rax, rax
        jz      31f                     /* short copies stay in the record */
        mov     rdi, rdx                /* else the slot's own slice */
        and     rdi, qword ptr [rip + CTL + FAST_CTL_CAP_MASK]
        imul    rdi, qword ptr [rip + CTL + FAST_CTL_SLICE_STRIDE]
        add     rdi, rax
        add     rdi, r10
31:     rep movsb
30:     lea     rax, [rdx + 1]
        mov     qword ptr [r11 + FAST_REC_SEQ], rax     /* published last */
9:      ret

/* The stack walk with memtrace's rules (FAST_RING_RULES), from rsi (the
 * function's entry rsp, the caller's rbp in rbp) for up to FAST_CTL_DEPTH
 * return addresses into the record; it reads only [rsi, rsi + rax).
 * Returns with CF clear and rcx = 0 when the walk is whole (depth reached,
 * the outermost frame, a zero return address), the count in the record;
 * with CF set, rax and rsi as they came, when a return address has no rule
 * or a frame does not lie in the stack: memtrace walks a copy instead.
 * Takes rcx, rdi, r8, r9; keeps rdx, r10, r11. */
walk:
        push    rdx
        push    rbx
        push    rax
        push    rsi
        lea     r8, [rsi + rax]         /* the stack's end */
        mov     rcx, rbp                /* the caller's rbp */
        mov     rax, qword ptr [rsi]    /* the return address */
        test    rax, rax
        jz      24f
        mov     qword ptr [r11 + FAST_REC_SLICE], rax
        mov     r9d, 1
        add     rsi, 8                  /* the caller's rsp */
21:     cmp     r9, qword ptr [rip + CTL + FAST_CTL_DEPTH]
        jae     23f
        mov     rbx, rax
        shr     rbx, FAST_RULE_RA_BITS
        jnz     24f                     /* not a user-space address: no rule */
        mov     rdi, 0x9e3779b97f4a7c15
        imul    rdi, rax
        shr     rdi, 64 - FAST_RULE_BITS
        mov     rdx, qword ptr [r10 + FAST_RING_RULES + rdi * 8]
        mov     rbx, rdx
        xor     rbx, rax
        shl     rbx, 64 - FAST_RULE_RA_BITS
        jz      22f
        inc     edi                     /* the next slot, the only other place */
        and     edi, (1 << FAST_RULE_BITS) - 1
        mov     rdx, qword ptr [r10 + FAST_RING_RULES + rdi * 8]
        mov     rbx, rdx
        xor     rbx, rax
        shl     rbx, 64 - FAST_RULE_RA_BITS
        jnz     24f                     /* no rule known for it */
22:     bt      rdx, FAST_RULE_OUTERMOST
        jc      23f
        mov     rbx, rdx                /* CFA = rsp or rbp + offset */
        shr     rbx, FAST_RULE_CFA_OFF
        and     ebx, FAST_RULE_CFA_OFF_MAX
        shl     rbx, 3
        bt      rdx, FAST_RULE_CFA_RBP
        jc      25f
        add     rbx, rsi
        jmp     26f
25:     add     rbx, rcx
26:     cmp     rbx, rsi                /* a caller's frame lies above, in the stack */
        jbe     24f
        cmp     rbx, r8
        ja      24f
        shr     rdx, FAST_RULE_RBP_AT
        jz      28f                     /* rbp unchanged */
        xor     ecx, ecx
        cmp     edx, FAST_RULE_RBP_UNDEFINED
        je      28f
        shl     edx, 3
        mov     rdi, rbx
        sub     rdi, rdx
        cmp     rdi, qword ptr [r11 + FAST_REC_RSP]
        jb      24f
        mov     rcx, qword ptr [rdi]    /* the caller's rbp, where it was saved */
28:     mov     rax, qword ptr [rbx - 8]
        test    rax, rax
        jz      23f
        mov     rsi, rbx
        mov     qword ptr [r11 + FAST_REC_SLICE + r9 * 8], rax
        inc     r9
        jmp     21b
23:     mov     qword ptr [r11 + FAST_REC_NFRAMES], r9
        xor     ecx, ecx
        pop     rsi
        pop     rax
        pop     rbx
        pop     rdx
        mov     qword ptr [rsp - 16], rcx       /* the program's rbx: no stale copy */
        clc
        ret
24:     pop     rsi
        pop     rax
        pop     rbx
        pop     rdx
        mov     qword ptr [rsp - 16], 0
        stc
        ret

/* The ring is full: wake memtrace, find out whether it still exists (if
 * not, turn this process's stubs off), then sleep until memtrace makes room
 * (it wakes the sleepers on READ) or 1 ms passes, so the CPU goes to
 * memtrace rather than to threads spinning on a full ring. Keeps rdx, r8,
 * r9 (syscall takes rcx and r11). Bounded: each call returns; a signal
 * ends the sleep. */
ring_full:
        lock inc qword ptr [r10 + FAST_RING_FULL_WAITS]
        push    rdx
        push    r8
        push    r9
        push    r10
        lea     rdi, [r10 + FAST_RING_DOORBELL]
        mov     esi, 1                  /* FUTEX_WAKE */
        mov     edx, 1
        mov     eax, 202                /* futex */
        syscall
        mov     rdi, qword ptr [rip + CTL + FAST_CTL_TRACER_PID]
        xor     esi, esi
        mov     eax, 62                 /* kill(pid, 0) */
        syscall
        cmp     rax, -3                 /* ESRCH */
        jne     13f
        mov     qword ptr [rip + CTL + FAST_CTL_RING], 0
        jmp     17f
        /* Counted as a sleeper before READ is read again (lock: a full
         * barrier): memtrace stores READ, then reads the count, so either
         * the room is seen here or memtrace wakes this thread. */
13:     mov     r10, qword ptr [rsp]
        lock inc qword ptr [r10 + FAST_RING_WAITERS]
        mov     rax, qword ptr [r10 + FAST_RING_READ]
        mov     rdx, rax
        add     rax, qword ptr [rip + CTL + FAST_CTL_CAP]
        cmp     qword ptr [rsp + 24], rax       /* the ticket */
        jb      18f                     /* room already */
        lea     rdi, [r10 + FAST_RING_READ]
        xor     esi, esi                /* FUTEX_WAIT while READ's low word is edx */
        push    1000000                 /* 1 ms */
        push    0
        mov     r10, rsp
        mov     eax, 202
        syscall
        add     rsp, 16
        mov     r10, qword ptr [rsp]
18:     lock dec qword ptr [r10 + FAST_RING_WAITERS]
17:     pop     r10
        pop     r9
        pop     r8
        pop     rdx
        mov     qword ptr [rsp - 24], 0         /* r9: a block's address */
        ret
memtrace_fast_stub_end:

        .section .note.GNU-stack, "", @progbits
