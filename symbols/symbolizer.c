/* libdw (Dwfl) symbolization with a per-address memo. */
#include "symbolizer.h"
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct memo_entry {
    mt_addr key;             /* ip | return-address flag in bit 0 of the low... kept separately */
    bool used, return_address;
    struct sym_frame frame;
};

struct symbolizer {
    Dwfl *dwfl;
    struct memo_entry *memo;
    size_t memo_cap, memo_count;
    unsigned long lookups;
};

static char *debuginfo_path_none;   /* NULL: libdw's default search path */

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path_none,
};

struct symbolizer *symbolizer_create(void)
{
    struct symbolizer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->dwfl = dwfl_begin(&callbacks);
    s->memo_cap = 1024;
    s->memo = calloc(s->memo_cap, sizeof(*s->memo));
    if (!s->dwfl || !s->memo) {
        symbolizer_destroy(s);
        return NULL;
    }
    return s;
}

void symbolizer_destroy(struct symbolizer *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s->memo);
    free(s);
}

int symbolizer_add_module(struct symbolizer *s, const char *path, mt_addr bias, char *why,
                          size_t why_len)
{
    dwfl_report_begin_add(s->dwfl);
    Dwfl_Module *m = dwfl_report_elf(s->dwfl, path, path, -1, bias, false);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (!m) {
        snprintf(why, why_len, "%s: %s", path, dwfl_errmsg(-1));
        return -1;
    }
    return 0;
}

static size_t memo_hash(mt_addr ip)
{
    uint64_t x = ip * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17);
}

static struct memo_entry *memo_find(struct symbolizer *s, mt_addr ip, bool ret, bool *found)
{
    size_t mask = s->memo_cap - 1;
    for (size_t i = memo_hash(ip) & mask;; i = (i + 1) & mask) {
        struct memo_entry *e = &s->memo[i];
        if (!e->used) {
            *found = false;
            return e;
        }
        if (e->key == ip && e->return_address == ret) {
            *found = true;
            return e;
        }
    }
}

static void memo_grow(struct symbolizer *s)
{
    size_t old_cap = s->memo_cap;
    struct memo_entry *old = s->memo;
    struct memo_entry *bigger = calloc(old_cap * 2, sizeof(*bigger));
    if (!bigger)
        return; /* keep the smaller table; lookups still work */
    s->memo = bigger;
    s->memo_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].used)
            continue;
        bool found;
        *memo_find(s, old[i].key, old[i].return_address, &found) = old[i];
    }
    free(old);
}

static void resolve(struct symbolizer *s, mt_addr ip, bool return_address, struct sym_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->address = ip;
    Dwarf_Addr a = return_address && ip > 0 ? ip - 1 : ip;
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, a);
    if (!mod)
        return;
    Dwarf_Addr start = 0;
    const char *mainfile = NULL;
    const char *name = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, &mainfile, NULL);
    f->module = mainfile ? mainfile : name;
    f->module_offset = ip - start;
    GElf_Off off;
    GElf_Sym sym;
    f->function = dwfl_module_addrinfo(mod, a, &off, &sym, NULL, NULL, NULL);
    Dwfl_Line *line = dwfl_module_getsrc(mod, a);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (file) {
            f->file = file;
            f->line = lineno;
        }
    }
}

void symbolizer_lookup(struct symbolizer *s, mt_addr ip, bool return_address, struct sym_frame *out)
{
    bool found;
    struct memo_entry *e = memo_find(s, ip, return_address, &found);
    if (found) {
        *out = e->frame;
        return;
    }
    resolve(s, ip, return_address, out);
    s->lookups++;
    e->used = true;
    e->key = ip;
    e->return_address = return_address;
    e->frame = *out;
    if (++s->memo_count * 2 > s->memo_cap)
        memo_grow(s);
}

unsigned long symbolizer_lookups(const struct symbolizer *s)
{
    return s->lookups;
}
