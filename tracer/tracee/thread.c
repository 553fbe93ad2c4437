/* A thread's pending allocator calls (thread.h). */
#include "thread.h"
#include "process.h"
#include <stdlib.h>
#include <string.h>

struct pending_call *thread_push_pending(struct thread *t)
{
    if (t->npending == t->pending_cap) {
        unsigned cap = t->pending_cap ? t->pending_cap * 2 : 8;
        struct pending_call *p = realloc(t->pending, cap * sizeof(*p));
        if (!p)
            return NULL;
        t->pending = p;
        t->pending_cap = cap;
    }
    struct pending_call *c = &t->pending[t->npending++];
    memset(c, 0, sizeof(*c));
    c->stub = -1;
    return c;
}

void thread_prune_pending(struct thread *t, mt_addr sp)
{
    /* Calls left by longjmp (or a thread that unwound past them): a stub
     * of theirs will never run. */
    while (t->npending > 0 && t->pending[t->npending - 1].entry_sp < sp) {
        const struct pending_call *c = &t->pending[--t->npending];
        if (c->stub >= 0)
            return_stubs_release(&t->proc->stubs, (unsigned)c->stub);
    }
}

bool thread_take_stub_call(struct thread *t, unsigned stub, struct pending_call *out)
{
    for (unsigned j = t->npending; j-- > 0;) {
        if (t->pending[j].stub != (int)stub)
            continue;
        *out = t->pending[j];
        memmove(&t->pending[j], &t->pending[j + 1], (t->npending - j - 1) * sizeof(*out));
        t->npending--;
        return_stubs_release(&t->proc->stubs, stub);
        return true;
    }
    return false;
}
