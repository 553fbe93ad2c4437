/* The process-wide file cache: one Dwfl per distinct ELF file, reported at
 * its link-time addresses and shared by every symbolizer; resolution of a
 * link-time address to its inline chain with DWARF; the per-file memo. The
 * debuginfo search is in debuginfo.c, names and demangling in names.c. */
#include "sym_internal.h"
#include "symbolizer.h"
#include <dwarf.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file cache --------------------------------------------------- */

struct memo_slot {
    mt_addr key;
    bool used;
    unsigned n;
    struct sym_chain_frame *frames;
};

struct sym_file {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    char *path;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    mt_addr lo, hi;
    char *build_id;                 /* hex */
    struct sym_debug_lookup lookup; /* the Dwfl module's userdata (debuginfo.c) */
    bool dwarf_checked;
    struct memo_slot *memo;
    size_t memo_cap, memo_count;
    char **strings; /* names made here (demangled, unversioned) */
    size_t nstrings, strings_cap;
    /* Its public function names (global or weak, no leading '_') by
     * address, built the first time an internal name needs one. */
    struct public_name *publics;
    size_t npublics;
    bool publics_built;
    struct sym_file *next;
};

struct public_name {
    mt_addr addr;
    const char *name;   /* libdw's string */
};

/* Owned by this module: the cache (its files live while at least one
 * symbolizer holds a reference) and the count of files opened, for --stats. */
static struct {
    int refs;
    struct sym_file *files;
} cache;
static unsigned long files_opened;

unsigned long symbolizer_files_opened(void)
{
    return files_opened;
}

static void file_free(struct sym_file *f)
{
    if (f->dwfl)
        dwfl_end(f->dwfl);
    for (size_t i = 0; f->memo && i < f->memo_cap; i++)   /* memo is NULL if its calloc failed */
        free(f->memo[i].frames);
    free(f->memo);
    for (size_t i = 0; i < f->nstrings; i++)
        free(f->strings[i]);
    free(f->strings);
    free(f->path);
    free(f->build_id);
    free(f->lookup.debug_path);
    free(f->lookup.build_id_match);
    free(f->publics);
    free(f);
}

void sym_cache_acquire(void)
{
    cache.refs++;
}

void sym_cache_release(void)
{
    if (--cache.refs > 0)
        return;
    sym_debug_cache_shutdown();
    while (cache.files) {
        struct sym_file *f = cache.files;
        cache.files = f->next;
        file_free(f);
    }
    cache.refs = 0;
}

const char *sym_file_keep_string(struct sym_file *f, char *s)
{
    if (!s)
        return NULL;
    char **p = mt_grow(f->strings, &f->strings_cap, f->nstrings + 1, sizeof(*p));
    if (!p) {
        free(s);
        return NULL;
    }
    f->strings = p;
    f->strings[f->nstrings++] = s;
    return s;
}

/* ---- opening ---------------------------------------------------------- */

static bool main_file_has_dwarf(struct sym_file *f)
{
    GElf_Addr bias;
    Elf *e = dwfl_module_getelf(f->mod, &bias);
    size_t shstrndx;
    if (!e || elf_getshdrstrndx(e, &shstrndx) != 0)
        return false;
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
        if (name && strcmp(name, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS)
            return true;
    }
    return false;
}

struct sym_file *sym_file_get(int fd, const char *path, char *why, size_t why_len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        /* libdw would read a device, or block on a FIFO. */
        snprintf(why, why_len, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    for (struct sym_file *f = cache.files; f; f = f->next) {
        if (f->dev == st.st_dev && f->ino == st.st_ino && f->size == st.st_size &&
            f->mtime_ns == mtime_ns) {
            close(fd);
            return f;
        }
    }
    const Dwfl_Callbacks *callbacks = sym_debuginfo_callbacks();
    struct sym_file *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(why, why_len, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime_ns = mtime_ns;
    f->path = strdup(path);
    f->memo_cap = 256;
    f->memo = calloc(f->memo_cap, sizeof(*f->memo));
    f->dwfl = dwfl_begin(callbacks);
    if (!f->path || !f->memo || !f->dwfl) {
        snprintf(why, why_len, "%s: %s", path, f->dwfl ? "out of memory" : dwfl_errmsg(-1));
        file_free(f);
        close(fd);
        return NULL;
    }
    /* Reported at its link-time addresses: callers subtract the bias. libdw
     * reads the file through fd (its own from now on), never by path: the
     * path may name another file by now. */
    dwfl_report_begin(f->dwfl);
    f->mod = dwfl_report_elf(f->dwfl, path, path, fd, 0, false);
    dwfl_report_end(f->dwfl, NULL, NULL);
    if (!f->mod) {
        snprintf(why, why_len, "%s: %s", path, dwfl_errmsg(-1));
        file_free(f);
        close(fd);
        return NULL;
    }
    void **userdata;
    Dwarf_Addr lo = 0, hi = 0;
    dwfl_module_info(f->mod, &userdata, &lo, &hi, NULL, NULL, NULL, NULL);
    *userdata = &f->lookup;
    f->lo = lo;
    f->hi = hi;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(f->mod, &bits, &vaddr);
    if (n > 0) {
        f->build_id = malloc(2 * (size_t)n + 1);
        if (f->build_id)
            sym_hex(bits, (size_t)n, f->build_id, 2 * (size_t)n + 1);
    }
    f->lookup.build_id = f->build_id;
    if (!main_file_has_dwarf(f))
        sym_debug_prefetch(f->build_id);
    f->next = cache.files;
    cache.files = f;
    files_opened++;
    return f;
}

void sym_file_range(const struct sym_file *f, mt_addr *lo, mt_addr *hi)
{
    *lo = f->lo;
    *hi = f->hi;
}

const char *sym_file_build_id(const struct sym_file *f)
{
    return f->build_id;
}

/* ---- resolution ------------------------------------------------------- */

/* Once per file: a debug file that was found (or DWARF in the binary) that
 * libdw cannot read is worth one warning; no debug info at all is not. */
static void check_dwarf(struct sym_file *f)
{
    f->dwarf_checked = true;
    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(f->mod, &bias))
        return;
    const char *err = dwfl_errmsg(-1);
    if (f->lookup.debug_path)
        sym_warn("cannot use the debug file %s of %s: %s", f->lookup.debug_path, f->path, err);
    else if (main_file_has_dwarf(f))
        sym_warn("cannot use the debug info in %s: %s", f->path, err);
}

static int call_line(Dwarf_Die *die, const char **file, Dwarf_Die *cu)
{
    Dwarf_Attribute mem;
    Dwarf_Word line = 0, idx = 0;
    *file = NULL;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &mem), &idx) == 0) {
        Dwarf_Files *files;
        size_t nfiles;
        if (dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
            *file = dwarf_filesrc(files, idx, NULL, NULL);
    }
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &mem), &line) != 0)
        line = 0;
    return line > INT_MAX ? 0 : (int)line;
}

static bool is_function_scope(Dwarf_Die *die)
{
    int tag = dwarf_tag(die);
    return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram ||
           tag == DW_TAG_entry_point;
}

#define MAX_INLINE_DEPTH 64

/* The function-like scopes containing pc, outermost first, appended to
 * chain from index n; returns the new count. dwarf_getscopes does not look
 * inside a DIE without an address range, and rustc defines every function
 * inside the namespace DIEs of its path (leak::make_box in namespace leak),
 * so for Rust it finds nothing; this walk also descends into namespaces and
 * types. */
static int scopes_in_namespaces(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int n)
{
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0)
        return n;
    do {
        int tag = dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_entry_point:
        case DW_TAG_lexical_block:
            if (dwarf_haspc(&child, pc) <= 0)
                break;
            if (tag != DW_TAG_lexical_block && n < MAX_INLINE_DEPTH)
                chain[n++] = child;
            return scopes_in_namespaces(&child, pc, chain, n);
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type: {
            int found = scopes_in_namespaces(&child, pc, chain, n);
            if (found > n)
                return found;
            break;
        }
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return n;
}

/* The compile unit whose ranges hold link-time address a. libdw 0.188
 * finds it only through .debug_aranges, which clang does not emit (nor
 * does it build the table from the units, as later versions do): a program
 * built by clang would have no file and line. Walked only where that
 * lookup failed, once per address (the memo). */
static Dwarf_Die *cu_by_ranges(struct sym_file *f, Dwarf_Addr a, Dwarf_Die *out,
                               Dwarf_Addr *bias)
{
    Dwarf *dw = dwfl_module_getdwarf(f->mod, bias);
    if (!dw)
        return NULL;
    Dwarf_Off off = 0, next;
    size_t header;
    while (dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + header, out) && dwarf_haspc(out, a - *bias) > 0)
            return out;
        off = next;
    }
    return NULL;
}

/* The C runtime's start-up code below main. Its frames end every stack and
 * say nothing about a leak, yet their file and line would cost opening the
 * module's DWARF: for libc with libc6-dbg, inflating ~10 MiB of compressed
 * sections, ~0.1 s, most of memtrace's cost on a short program. They are
 * named from the symbol table only, as Valgrind hides them ("below main"). */
static bool is_startup_function(const char *symname)
{
    static const char *const startup[] = {
        "_start",
        "__libc_start_main",
        "__libc_start_main_impl",
        "__libc_start_call_main",
    };
    size_t len = strcspn(symname, "@"); /* __libc_start_main@@GLIBC_2.34 */
    for (size_t i = 0; i < sizeof(startup) / sizeof(startup[0]); i++)
        if (strlen(startup[i]) == len && strncmp(startup[i], symname, len) == 0)
            return true;
    return false;
}

static int by_addr(const void *a, const void *b)
{
    const struct public_name *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void build_publics(struct sym_file *f)
{
    f->publics_built = true;
    int n = dwfl_module_getsymtab(f->mod);
    if (n <= 0)
        return;
    f->publics = calloc((size_t)n, sizeof(*f->publics));
    if (!f->publics)
        return;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &addr, NULL, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
        if (name && name[0] && name[0] != '_' && sym.st_shndx != SHN_UNDEF &&
            (type == STT_FUNC || type == STT_GNU_IFUNC) && (bind == STB_GLOBAL || bind == STB_WEAK))
            f->publics[f->npublics++] = (struct public_name){ .addr = addr, .name = name };
    }
    qsort(f->publics, f->npublics, sizeof(*f->publics), by_addr);
}

/* The public name of the function that starts at addr (glibc's strdup for
 * its __GI___strdup, newlocale for __newlocale), or NULL. */
static const char *public_name_at(struct sym_file *f, mt_addr addr)
{
    if (!f->publics_built)
        build_publics(f);
    size_t lo = 0, hi = f->npublics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->publics[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->npublics && f->publics[lo].addr == addr ? f->publics[lo].name : NULL;
}

/* Frames of link-time address a, innermost first (as eu-addr2line -i):
 * dwarf_getscopes finds the innermost function-like scope at a; while it is
 * an inlined call, dwarf_getscopes_die on it gives the concrete scopes that
 * contain it, whose first function-like scope is the caller, at the inlined
 * call's DW_AT_call_file/DW_AT_call_line. */
static unsigned resolve(struct sym_file *f, mt_addr a, struct sym_chain_frame **out)
{
    *out = NULL;
    GElf_Off off;
    GElf_Sym sym;
    const char *symname = dwfl_module_addrinfo(f->mod, a, &off, &sym, NULL, NULL, NULL);
    if (symname && is_startup_function(symname)) {
        struct sym_chain_frame *fr = calloc(1, sizeof(*fr));
        if (fr)
            sym_name_set(f, fr, symname, false);
        *out = fr;
        return fr ? 1 : 0;
    }
    if (!f->dwarf_checked)
        check_dwarf(f);
    const char *file = NULL;
    int lineno = 0;
    Dwfl_Line *line = dwfl_module_getsrc(f->mod, a);
    if (line) {
        file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (!file)
            lineno = 0;
    }
    Dwarf_Addr cubias = 0;
    Dwarf_Die cu_mem;
    Dwarf_Die *cu = dwfl_module_addrdie(f->mod, a, &cubias);
    if (!cu && (cu = cu_by_ranges(f, a, &cu_mem, &cubias)) != NULL && !file) {
        Dwarf_Line *l = dwarf_getsrc_die(cu, a - cubias);
        file = l ? dwarf_linesrc(l, NULL, NULL) : NULL;
        if (!file || dwarf_lineno(l, &lineno) != 0)
            lineno = 0;
    }
    if (!symname && !file)
        return 0;
    struct sym_chain_frame *fr = calloc(MAX_INLINE_DEPTH, sizeof(*fr));
    if (!fr)
        return 0;
    unsigned n = 1;
    fr[0].file = file;
    fr[0].line = lineno;
    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, a - cubias, &scopes) : 0;
    Dwarf_Die die;
    bool have_die = false;
    for (int i = 0; i < nscopes && !have_die; i++) {
        if (is_function_scope(&scopes[i])) {
            die = scopes[i];
            have_die = true;
        }
    }
    free(scopes);
    if (!have_die && cu) {
        Dwarf_Die chain[MAX_INLINE_DEPTH];
        int depth = scopes_in_namespaces(cu, a - cubias, chain, 0);
        for (int k = depth - 1; k >= 0 && n <= MAX_INLINE_DEPTH; k--) {
            if (k < depth - 1) {
                fr[n - 1].inlined = true;
                fr[n].line = call_line(&chain[k + 1], &fr[n].file, cu);
                n++;
            }
            sym_name_from_die(f, &chain[k], &fr[n - 1]);
            if (dwarf_tag(&chain[k]) != DW_TAG_inlined_subroutine || n == MAX_INLINE_DEPTH)
                break;
        }
    }
    if (have_die) {
        sym_name_from_die(f, &die, &fr[0]);
        while (dwarf_tag(&die) == DW_TAG_inlined_subroutine && n < MAX_INLINE_DEPTH) {
            Dwarf_Die *outer = NULL;
            int nouter = dwarf_getscopes_die(&die, &outer);
            int j = 1;
            while (j < nouter && !is_function_scope(&outer[j]))
                j++;
            if (j >= nouter) {
                free(outer);
                break;
            }
            fr[n - 1].inlined = true;
            fr[n].line = call_line(&die, &fr[n].file, cu);
            die = outer[j];
            free(outer);
            sym_name_from_die(f, &die, &fr[n]);
            n++;
        }
    }
    /* The real function: the symbol table's name when DWARF has none; an
     * internal name (__GI___strdup) as the program calls it (strdup). */
    if (!fr[n - 1].function)
        sym_name_set(f, &fr[n - 1], symname, false);
    bool in_symbol = symname && a >= sym.st_value && a - sym.st_value < sym.st_size;
    const char *public = in_symbol && fr[n - 1].function &&
                                 strncmp(fr[n - 1].function, "__", 2) == 0
                             ? public_name_at(f, sym.st_value) : NULL;
    const char *at = public ? strchr(public, '@') : NULL;   /* a symbol version */
    if (at)
        public = sym_file_keep_string(f, strndup(public, (size_t)(at - public)));
    if (public) {
        fr[n - 1].function = public;
        fr[n - 1].mangled = NULL;
    }
    struct sym_chain_frame *shrunk = realloc(fr, n * sizeof(*fr));
    *out = shrunk ? shrunk : fr;
    return n;
}

bool sym_file_find_symbol(struct sym_file *f, const char *name, int type, mt_addr *value,
                          uint64_t *size)
{
    /* libdwfl's symbol table is the file's .symtab, else its separate debug
     * file's (found as for symbolization), else .dynsym. */
    int n = dwfl_module_getsymtab(f->mod);
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *s = dwfl_module_getsym_info(f->mod, i, &sym, &addr, NULL, NULL, NULL);
        if (s && GELF_ST_TYPE(sym.st_info) == type && sym.st_shndx != SHN_UNDEF &&
            strcmp(s, name) == 0) {
            *value = addr;
            *size = sym.st_size;
            return true;
        }
    }
    return false;
}

static size_t memo_hash(mt_addr a)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17);
}

static struct memo_slot *memo_find(struct memo_slot *tab, size_t cap, mt_addr a)
{
    size_t mask = cap - 1;
    for (size_t i = memo_hash(a) & mask;; i = (i + 1) & mask)
        if (!tab[i].used || tab[i].key == a)
            return &tab[i];
}

static void memo_grow(struct sym_file *f)
{
    size_t cap = f->memo_cap * 2;
    struct memo_slot *bigger = calloc(cap, sizeof(*bigger));
    if (!bigger)
        return; /* keep the smaller table: it still has room */
    for (size_t i = 0; i < f->memo_cap; i++)
        if (f->memo[i].used)
            *memo_find(bigger, cap, f->memo[i].key) = f->memo[i];
    free(f->memo);
    f->memo = bigger;
    f->memo_cap = cap;
}

unsigned sym_file_resolve(struct sym_file *f, mt_addr a, const struct sym_chain_frame **frames)
{
    struct memo_slot *e = memo_find(f->memo, f->memo_cap, a);
    if (!e->used) {
        struct sym_chain_frame *fr;
        e->n = resolve(f, a, &fr);
        e->frames = fr;
        e->key = a;
        e->used = true;
        if (++f->memo_count * 2 > f->memo_cap) {
            memo_grow(f);
            e = memo_find(f->memo, f->memo_cap, a);
        }
    }
    *frames = e->frames;
    return e->n;
}

/* A struct's layout from a compilation unit's DWARF: the unit is found by
 * one of its functions' addresses, so libc's thousand other units are not
 * read. */
static bool die_named(Dwarf_Die *die, const char *name)
{
    const char *n = dwarf_diename(die);
    return n && strcmp(n, name) == 0;
}

static bool member_offset(Dwarf_Die *member, uint64_t *offset)
{
    Dwarf_Attribute attr;
    Dwarf_Word off;
    if (!dwarf_attr(member, DW_AT_data_member_location, &attr) ||
        dwarf_formudata(&attr, &off) != 0)
        return false;
    *offset = off;
    return true;
}

bool sym_file_struct_layout(struct sym_file *f, mt_addr cu_code, const char *name,
                            const char *const *members, size_t n, uint64_t *offsets,
                            uint64_t *size)
{
    Dwarf_Addr cubias = 0;
    Dwarf_Die cu_mem;
    Dwarf_Die *cu = dwfl_module_addrdie(f->mod, cu_code, &cubias);
    if (!cu)
        cu = cu_by_ranges(f, cu_code, &cu_mem, &cubias);
    Dwarf_Die die;
    if (!cu || dwarf_child(cu, &die) != 0)
        return false;
    do {
        if (dwarf_tag(&die) != DW_TAG_structure_type || !die_named(&die, name) ||
            dwarf_hasattr(&die, DW_AT_declaration))
            continue;
        int bytes = dwarf_bytesize(&die);
        Dwarf_Die member;
        if (bytes <= 0 || dwarf_child(&die, &member) != 0)
            return false;
        for (size_t i = 0; i < n; i++)
            offsets[i] = UINT64_MAX;
        do {
            if (dwarf_tag(&member) != DW_TAG_member)
                continue;
            for (size_t i = 0; i < n; i++)
                if (die_named(&member, members[i]) && !member_offset(&member, &offsets[i]))
                    return false;
        } while (dwarf_siblingof(&member, &member) == 0);
        *size = (uint64_t)bytes;
        return true;
    } while (dwarf_siblingof(&die, &die) == 0);
    return false;
}
