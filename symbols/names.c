/* Function names: symbol-table and DWARF names cleaned for people (symbol
 * versions dropped; C++ and both Rust manglings, legacy _ZN...17h<hash>E and
 * v0 _R..., demangled by libiberty, the demangler of binutils and gdb), and the
 * name of a frame taken from its DIE. Names made here live in their file's
 * string list (sym_file_keep_string). */
#include "sym_internal.h"
#include "symbolizer.h"
#include <dwarf.h>
#include <libiberty/demangle.h>
#include <stdlib.h>
#include <string.h>

bool symbolizer_is_mangled(const char *name)
{
    return name[0] == '_' && (name[1] == 'Z' || name[1] == 'R');
}

char *symbolizer_clean_name(const char *raw)
{
    if (!raw)
        return NULL;
    const char *at = strchr(raw, '@');
    size_t len = at ? (size_t)(at - raw) : strlen(raw);
    if (len > 2 && symbolizer_is_mangled(raw)) {
        char *base = strndup(raw, len);
        /* Rust's legacy names are Itanium names ending in a hash component:
         * DMGL_AUTO tells them apart, decodes $LT$..$GT$ and drops the hash. */
        char *d = base ? cplus_demangle(base, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO) : NULL;
        if (d) {
            free(base);
            return d;
        }
        if (at)
            return base;
        free(base);
        return NULL;
    }
    return at && at != raw ? strndup(raw, len) : NULL;
}

void sym_name_set(struct sym_file *f, struct sym_chain_frame *fr, const char *raw, bool linkage)
{
    if (!raw)
        return;
    char *clean = symbolizer_clean_name(raw);
    if (!clean) {
        fr->function = raw;
        return;
    }
    fr->function = sym_file_keep_string(f, clean);
    if (!fr->function) {
        fr->function = raw;
        return;
    }
    if (linkage || symbolizer_is_mangled(raw)) {
        const char *at = strchr(raw, '@');
        fr->mangled = at ? sym_file_keep_string(f, strndup(raw, (size_t)(at - raw))) : raw;
    }
}

static const char *die_string(Dwarf_Die *die, unsigned attr)
{
    Dwarf_Attribute mem;
    return dwarf_formstring(dwarf_attr_integrate(die, attr, &mem));
}

void sym_name_from_die(struct sym_file *f, Dwarf_Die *die, struct sym_chain_frame *fr)
{
    const char *linkage = die_string(die, DW_AT_linkage_name);
    if (!linkage)
        linkage = die_string(die, DW_AT_MIPS_linkage_name);
    if (linkage) {
        sym_name_set(f, fr, linkage, true);
        if (fr->function)
            return;
    }
    fr->function = die_string(die, DW_AT_name);
}
