/* The modules of one address space as memtrace knows them: the executable,
 * ld.so's link-map entries, and those a dlclose removed (kept, absent, so
 * stacks taken while they were loaded still name them). */
#ifndef MT_MODULES_H
#define MT_MODULES_H
#include <stdbool.h>
#include <stddef.h>
#include "mt_addr.h"

struct elf_file;

struct module {
    char *name;             /* as the target names it (l_name): never opened */
    char *path;             /* the mapped file's path, as /proc/PID/maps shows it */
    mt_addr link_map;       /* the link_map entry, identity across updates ... */
    mt_addr dynamic;        /* ... with l_ld and the bias */
    mt_addr bias;
    mt_addr lo, hi;         /* runtime range of its load segments */
    mt_addr text_lo, text_hi;
    struct elf_file *elf;   /* open while present */
    bool present;           /* still in the link map */
};

struct module_table {
    struct module *items;   /* present ones in link-map order, then absent ones */
    size_t n, cap;
};

/* One entry of ld.so's link map, as the walk reads it. */
struct linkmap_entry {
    mt_addr lm;             /* the link_map's address */
    mt_addr bias;           /* l_addr */
    mt_addr dynamic;        /* l_ld: its dynamic section, inside its mapped file */
    const char *name;       /* l_name; "" for the main program */
    bool is_main;           /* the first entry */
};

/* What a change means outside the table: opening a new module (fill out,
 * return 0, or nonzero to leave the entry out), and a module leaving. */
struct module_events {
    int (*open)(void *ctx, const struct linkmap_entry *e, struct module *out);
    void (*closed)(void *ctx, struct module *m);
    void *ctx;
};

void modules_init(struct module_table *t);
void modules_destroy(struct module_table *t);
/* Appends m (its strings and ELF handle become the table's). */
int modules_append(struct module_table *t, const struct module *m);
/* The present module whose load segments hold addr, or NULL. */
const struct module *modules_at(const struct module_table *t, mt_addr addr);
/* A forked child's copy: the same modules, each present one's ELF file
 * opened again (the same file, through a duplicate of its descriptor). */
int modules_copy(struct module_table *dst, const struct module_table *src);
/* Closes m's ELF file (a module that left, or the table's end). */
void module_close_elf(struct module *m);

/* Brings t in line with the link map: a present module whose link_map
 * address, l_ld and bias match an entry is kept (whatever the entry's name
 * says now: a program may write over l_name, and the module, its
 * breakpoints with it, must stay accounted for);
 * an entry with none is opened; a present module no entry names leaves
 * (closed is called, it stays as an absent record). Returns the number of
 * changes, or -ENOMEM (t is then unchanged). */
int modules_sync(struct module_table *t, const struct linkmap_entry *entries, size_t n,
                 const struct module_events *ev);

#endif
