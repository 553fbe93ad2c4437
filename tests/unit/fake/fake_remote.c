/* The fake target of fake_remote.h. */
#include "fake_remote.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct fake_page *page_of(struct fake_target *f, mt_addr addr)
{
    mt_addr base = addr & ~(mt_addr)(FAKE_PAGE - 1);
    for (size_t i = 0; i < f->npages; i++)
        if (f->pages[i]->addr == base)
            return f->pages[i];
    return NULL;
}

static ssize_t fake_read(void *ctx, pid_t tid, mt_addr addr, void *buf, size_t len)
{
    (void)tid;
    struct fake_target *f = ctx;
    size_t done = 0;
    while (done < len) {
        struct fake_page *pg = page_of(f, addr + done);
        if (!pg)
            break;
        size_t off = (size_t)(addr + done - pg->addr);
        size_t n = FAKE_PAGE - off < len - done ? FAKE_PAGE - off : len - done;
        memcpy((uint8_t *)buf + done, pg->bytes + off, n);
        done += n;
    }
    return (ssize_t)done;
}

static int copy_in(struct fake_target *f, mt_addr addr, const void *buf, size_t len, bool text_ok)
{
    for (size_t i = 0; i < len; i++) {   /* all or nothing: check first */
        struct fake_page *pg = page_of(f, addr + i);
        if (!pg || (pg->text && !text_ok))
            return -EFAULT;
    }
    for (size_t i = 0; i < len; i++) {
        struct fake_page *pg = page_of(f, addr + i);
        pg->bytes[addr + i - pg->addr] = ((const uint8_t *)buf)[i];
    }
    return 0;
}

static int fake_write(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    (void)tid;
    struct fake_target *f = ctx;
    f->writes++;
    return copy_in(f, addr, buf, len, false);
}

static int fake_poke_text(void *ctx, pid_t tid, mt_addr addr, const void *buf, size_t len)
{
    (void)tid;
    struct fake_target *f = ctx;
    f->pokes++;
    return copy_in(f, addr, buf, len, true);
}

static int thread_index(struct fake_target *f, pid_t tid, bool create)
{
    for (size_t i = 0; i < f->nthreads; i++)
        if (f->tids[i] == tid)
            return (int)i;
    if (!create || f->nthreads == FAKE_MAX_THREADS)
        return -1;
    f->tids[f->nthreads] = tid;
    memset(&f->regs[f->nthreads], 0, sizeof(f->regs[0]));
    return (int)f->nthreads++;
}

static int fake_get_regs(void *ctx, pid_t tid, mt_regs *regs)
{
    int i = thread_index(ctx, tid, false);
    if (i < 0)
        return -ESRCH;
    *regs = ((struct fake_target *)ctx)->regs[i];
    return 0;
}

static int fake_set_regs(void *ctx, pid_t tid, const mt_regs *regs)
{
    int i = thread_index(ctx, tid, true);
    if (i < 0)
        return -ESRCH;
    ((struct fake_target *)ctx)->regs[i] = *regs;
    return 0;
}

static const struct remote_ops fake_ops = {
    .read = fake_read, .write = fake_write, .poke_text = fake_poke_text,
    .get_regs = fake_get_regs, .set_regs = fake_set_regs,
};

void fake_init(struct fake_target *f)
{
    memset(f, 0, sizeof(*f));
    f->remote = (struct remote){ .ops = &fake_ops, .ctx = f };
}

void fake_destroy(struct fake_target *f)
{
    for (size_t i = 0; i < f->npages; i++)
        free(f->pages[i]);
    f->npages = 0;
}

void fake_map(struct fake_target *f, mt_addr addr, size_t len, bool text)
{
    mt_addr lo = addr & ~(mt_addr)(FAKE_PAGE - 1);
    for (mt_addr a = lo; a < addr + len; a += FAKE_PAGE) {
        if (page_of(f, a) || f->npages == FAKE_MAX_PAGES)
            continue;
        struct fake_page *pg = calloc(1, sizeof(*pg));
        if (!pg)
            abort();
        pg->addr = a;
        pg->text = text;
        f->pages[f->npages++] = pg;
    }
}

uint8_t *fake_at(struct fake_target *f, mt_addr addr)
{
    struct fake_page *pg = page_of(f, addr);
    return pg ? pg->bytes + (addr - pg->addr) : NULL;
}

void fake_put(struct fake_target *f, mt_addr addr, const void *bytes, size_t len)
{
    if (copy_in(f, addr, bytes, len, true) != 0)
        abort();
}

uint64_t fake_u64(struct fake_target *f, mt_addr addr)
{
    uint64_t v = 0;
    if (fake_read(f, 0, addr, &v, sizeof(v)) != (ssize_t)sizeof(v))
        abort();
    return v;
}

void fake_put_u64(struct fake_target *f, mt_addr addr, uint64_t value)
{
    fake_put(f, addr, &value, sizeof(value));
}
