/* Function names: symbol-table and DWARF names cleaned for people (symbol
 * versions dropped, C++ demangled with libstdc++'s __cxa_demangle), and the
 * name of a frame taken from its DIE. Names made here live in their file's
 * string list (sym_file_keep_string). */
#include "sym_internal.h"
#include "symbolizer.h"
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

char *symbolizer_clean_name(const char *raw)
{
    if (!raw)
        return NULL;
    const char *at = strchr(raw, '@');
    size_t len = at ? (size_t)(at - raw) : strlen(raw);
    if (len > 2 && raw[0] == '_' && raw[1] == 'Z') {
        char *base = strndup(raw, len);
        int status = -1;
        char *d = base ? __cxa_demangle(base, NULL, NULL, &status) : NULL;
        if (d && status == 0) {
            free(base);
            return d;
        }
        free(d);
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
    if (linkage || (raw[0] == '_' && raw[1] == 'Z')) {
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
