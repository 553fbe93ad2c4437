/* libelf-based reading of ELF files for hook placement. */
#include "elf_file.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ensure_libelf(void)
{
    static bool ready;
    if (!ready) {
        if (elf_version(EV_CURRENT) == EV_NONE)
            return -1;
        ready = true;
    }
    return 0;
}

int elf_file_open_regular(const char *path, struct stat *st)
{
    /* stat first: opening a device can have effects of its own. */
    if (stat(path, st) != 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* One file read by libelf, shared by every elf_file open on it: every
 * process that maps the same executable or library uses one image, however
 * many there are. A file is the same when its device, inode, size and
 * modification time are (as for symbolization, sym_file.c). */
struct elf_image {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    Elf *elf;
    Dwarf_CFI *cfi;         /* its .eh_frame, read on the first frame rule asked */
    bool cfi_tried;
    unsigned refs;
    struct elf_image *next;
};

/* Owned by this module: the images some elf_file holds. */
static struct elf_image *images;

static struct elf_image *image_find(const struct stat *st)
{
    for (struct elf_image *im = images; im; im = im->next)
        if (im->dev == st->st_dev && im->ino == st->st_ino && im->size == st->st_size &&
            im->mtime.tv_sec == st->st_mtim.tv_sec && im->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return im;
    return NULL;
}

/* Reads the file behind fd whole (mapped, or copied when mapping fails),
 * so the descriptor can go: a module costs memtrace no descriptor. */
static struct elf_image *image_load(int fd, const struct stat *st, const char *path, char *why,
                                    size_t why_len)
{
    struct elf_image *im = calloc(1, sizeof(*im));
    if (!im) {
        snprintf(why, why_len, "%s: out of memory", path);
        return NULL;
    }
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr ehdr;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr)) {
        snprintf(why, why_len, "%s: not an ELF file", path);
        goto fail;
    }
    /* FDREAD reads what is not mapped and lets go of the descriptor. */
    if (elf_cntl(elf, ELF_C_FDREAD) != 0) {
        snprintf(why, why_len, "%s: %s", path, elf_errmsg(-1));
        goto fail;
    }
    *im = (struct elf_image){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                              .mtime = st->st_mtim, .elf = elf, .next = images };
    images = im;
    return im;
fail:
    if (elf)
        elf_end(elf);
    free(im);
    return NULL;
}

static void image_put(struct elf_image *im)
{
    if (--im->refs > 0)
        return;
    for (struct elf_image **pp = &images; *pp; pp = &(*pp)->next) {
        if (*pp == im) {
            *pp = im->next;
            break;
        }
    }
    if (im->cfi)
        dwarf_cfi_end(im->cfi);
    elf_end(im->elf);
    free(im);
}

static int share_image(struct elf_file *ef, struct elf_image *im, const char *path, char *why,
                       size_t why_len);

int elf_file_open_fd(struct elf_file *ef, int fd, const char *path, char *why, size_t why_len)
{
    memset(ef, 0, sizeof(*ef));
    if (ensure_libelf() != 0) {
        snprintf(why, why_len, "libelf: %s", elf_errmsg(-1));
        close(fd);
        return -EINVAL;
    }
    struct stat st = { 0 };
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    struct elf_image *im = image_find(&st);
    if (!im)
        im = image_load(fd, &st, path, why, why_len);
    close(fd);
    if (!im)
        return -EINVAL;
    return share_image(ef, im, path, why, why_len);
}

int elf_file_open(struct elf_file *ef, const char *path, char *why, size_t why_len)
{
    struct stat st;
    int fd = elf_file_open_regular(path, &st);
    if (fd < 0) {
        memset(ef, 0, sizeof(*ef));
        snprintf(why, why_len, "%s: %s", path,
                 fd == -EINVAL ? "not a regular file" : strerror(-fd));
        return fd;
    }
    return elf_file_open_fd(ef, fd, path, why, why_len);
}

int elf_file_reopen(struct elf_file *dst, const struct elf_file *src, char *why, size_t why_len)
{
    memset(dst, 0, sizeof(*dst));
    if (!src->image) {
        snprintf(why, why_len, "%s: not open", src->path ? src->path : "(no file)");
        return -EINVAL;
    }
    return share_image(dst, src->image, src->path, why, why_len);
}

/* ef becomes one more user of im, named path. */
static int share_image(struct elf_file *ef, struct elf_image *im, const char *path, char *why,
                       size_t why_len)
{
    char *copy = strdup(path);
    if (!copy) {
        if (im->refs == 0) {   /* just loaded for ef: it goes */
            im->refs = 1;
            image_put(im);
        }
        snprintf(why, why_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    im->refs++;
    GElf_Ehdr ehdr;
    gelf_getehdr(im->elf, &ehdr);   /* checked when the image was loaded */
    ef->image = im;
    ef->elf = im->elf;
    ef->path = copy;
    ef->is_dyn = ehdr.e_type == ET_DYN;
    ef->entry = ehdr.e_entry;
    size_t nph = 0;
    elf_getphdrnum(im->elf, &nph);
    for (size_t i = 0; i < nph && ef->nsegs < ELF_FILE_MAX_SEGMENTS; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(im->elf, (int)i, &ph))
            continue;
        if (ph.p_type == PT_GNU_RELRO) {
            ef->relro_vaddr = ph.p_vaddr;
            ef->relro_memsz = ph.p_memsz;
        }
        if (ph.p_type != PT_LOAD)
            continue;
        ef->segs[ef->nsegs++] = (struct elf_segment){
            .vaddr = ph.p_vaddr,
            .memsz = ph.p_memsz,
            .offset = ph.p_offset,
            .filesz = ph.p_filesz,
            .flags = ph.p_flags,
        };
    }
    return 0;
}

void elf_file_close(struct elf_file *ef)
{
    if (ef->image)
        image_put(ef->image);
    free(ef->path);
    memset(ef, 0, sizeof(*ef));
}

int elf_file_check_executable(const char *path, char *why, size_t why_len)
{
    struct stat st;
    int fd = elf_file_open_regular(path, &st);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", path,
                 fd == -EINVAL ? "not a regular file" : strerror(-fd));
        return fd;
    }
    unsigned char hdr[64];
    ssize_t n = read(fd, hdr, sizeof(hdr));
    close(fd);
    if (n >= 2 && hdr[0] == '#' && hdr[1] == '!')
        return 0;
    if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(hdr, ELFMAG, SELFMAG) != 0) {
        snprintf(why, why_len, "%s is not an ELF executable", path);
        return -ENOEXEC;
    }
    Elf64_Ehdr eh;
    memcpy(&eh, hdr, sizeof(eh));
    if (hdr[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
        snprintf(why, why_len, "%s is not an x86-64 program (memtrace traces x86-64 only)", path);
        return -ENOEXEC;
    }
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
        snprintf(why, why_len, "%s is an ELF file but not an executable", path);
        return -ENOEXEC;
    }
    return 0;
}

/* Walks one symbol table for a defined symbol of that name and type, global
 * or weak (or, with local, file-local only). */
static bool search_table(Elf *elf, Elf_Scn *scn, const char *name, int want_type, bool local,
                         uint64_t *value, uint64_t *size)
{
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh))
        return false;
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data || sh.sh_entsize == 0)
        return false;
    Elf_Data *versym = NULL;
    if (sh.sh_type == SHT_DYNSYM) {
        Elf_Scn *s = NULL;
        while ((s = elf_nextscn(elf, s))) {
            GElf_Shdr vs;
            if (gelf_getshdr(s, &vs) && vs.sh_type == SHT_GNU_versym) {
                versym = elf_getdata(s, NULL);
                break;
            }
        }
    }
    size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 1; i < count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        bool type_ok = want_type == STT_FUNC ? (type == STT_FUNC || type == STT_GNU_IFUNC)
                                             : type == want_type;
        if (!type_ok || (GELF_ST_BIND(sym.st_info) == STB_LOCAL) != local)
            continue;
        const char *n = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (!n || strcmp(n, name) != 0)
            continue;
        if (versym) {
            GElf_Versym v;
            /* A hidden version (name@VER, not name@@VER) is not what the linker binds. */
            if (gelf_getversym(versym, (int)i, &v) && (v & 0x8000))
                continue;
        }
        *value = sym.st_value;
        if (size)
            *size = sym.st_size;
        return true;
    }
    return false;
}

static bool find_symbol(const struct elf_file *ef, const char *name, int type, uint64_t *value,
                        uint64_t *size)
{
    Elf *elf = ef->elf;
    for (int pass = 0; pass < 2; pass++) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(elf, scn))) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh))
                continue;
            if (sh.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB) &&
                search_table(elf, scn, name, type, false, value, size))
                return true;
        }
    }
    return false;
}

bool elf_file_find_function(const struct elf_file *ef, const char *name, uint64_t *value,
                            uint64_t *size)
{
    return find_symbol(ef, name, STT_FUNC, value, size);
}

bool elf_file_find_local_function(const struct elf_file *ef, const char *name, uint64_t *value,
                                  uint64_t *size)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(ef->elf, scn))) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB &&
            search_table(ef->elf, scn, name, STT_FUNC, true, value, size))
            return true;
    }
    return false;
}

bool elf_file_find_object(const struct elf_file *ef, const char *name, uint64_t *value)
{
    return find_symbol(ef, name, STT_OBJECT, value, NULL);
}

static bool object_in_table(Elf *elf, Elf_Scn *scn, uint64_t vaddr, const char **name,
                            uint64_t *value, uint64_t *size)
{
    GElf_Shdr sh;
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!gelf_getshdr(scn, &sh) || !data || sh.sh_entsize == 0)
        return false;
    size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 1; i < count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
            GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
            continue;
        /* A zero-sized object holds the one address it names. */
        uint64_t len = sym.st_size ? sym.st_size : 1;
        if (vaddr < sym.st_value || vaddr - sym.st_value >= len)
            continue;
        const char *n = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (!n || !*n)
            continue;
        *name = n;
        *value = sym.st_value;
        *size = sym.st_size;
        return true;
    }
    return false;
}

bool elf_file_object_at(const struct elf_file *ef, uint64_t vaddr, const char **name,
                        uint64_t *value, uint64_t *size)
{
    /* .symtab first: it has the file-local objects (a function's static
     * variable, global.0), which .dynsym never holds. */
    for (int pass = 0; pass < 2; pass++) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(ef->elf, scn))) {
            GElf_Shdr sh;
            if (gelf_getshdr(scn, &sh) && sh.sh_type == (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) &&
                object_in_table(ef->elf, scn, vaddr, name, value, size))
                return true;
        }
    }
    return false;
}

int elf_file_read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
    for (int i = 0; i < ef->nsegs; i++) {
        const struct elf_segment *s = &ef->segs[i];
        if (vaddr >= s->vaddr && vaddr + len <= s->vaddr + s->filesz) {
            size_t image_len = 0;
            const char *image = elf_rawfile(ef->elf, &image_len);
            uint64_t at = s->offset + (vaddr - s->vaddr);
            if (!image || at > image_len || len > image_len - at)
                return -EIO;
            memcpy(buf, image + at, len);
            return 0;
        }
    }
    return -ERANGE;
}

void elf_file_text_range(const struct elf_file *ef, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (int i = 0; i < ef->nsegs; i++) {
        const struct elf_segment *s = &ef->segs[i];
        if (!(s->flags & PF_X))
            continue;
        if (s->vaddr < *lo)
            *lo = s->vaddr;
        if (s->vaddr + s->memsz > *hi)
            *hi = s->vaddr + s->memsz;
    }
    if (*lo == UINT64_MAX)
        *lo = 0;
}

/* CFA + offset, as libdw spells a register saved in the frame:
 * call_frame_cfa, then nothing, plus_uconst N, or consts N; plus. */
static bool cfa_offset(const Dwarf_Op *ops, size_t n, int64_t *off)
{
    if (n == 0 || ops[0].atom != DW_OP_call_frame_cfa)
        return false;
    if (n == 1) {
        *off = 0;
        return true;
    }
    if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
        *off = (int64_t)ops[1].number;
        return true;
    }
    if (n == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) {
        *off = (int64_t)ops[1].number;
        return true;
    }
    return false;
}

bool elf_file_frame_rule(const struct elf_file *ef, uint64_t vaddr, struct frame_rule *out)
{
    memset(out, 0, sizeof(*out));
    struct elf_image *im = ef->image;
    if (!im->cfi_tried) {
        im->cfi_tried = true;
        im->cfi = dwarf_getcfi_elf(im->elf);
    }
    Dwarf_Frame *frame = NULL;
    if (!im->cfi || dwarf_cfi_addrframe(im->cfi, vaddr, &frame) != 0)
        return false;
    bool ok = false;
    Dwarf_Op *ops, mem[3];
    size_t n;
    bool signal_frame = false;
    if (dwarf_frame_info(frame, NULL, NULL, &signal_frame) < 0 || signal_frame)
        goto out;
    if (dwarf_frame_cfa(frame, &ops, &n) != 0 || n != 1)
        goto out;
    if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
        out->cfa_reg = (uint8_t)(ops[0].atom - DW_OP_breg0);
        out->cfa_off = (int32_t)(int64_t)ops[0].number;
    } else if (ops[0].atom == DW_OP_bregx) {
        out->cfa_reg = (uint8_t)ops[0].number;
        out->cfa_off = (int32_t)(int64_t)ops[0].number2;
    } else {
        goto out;
    }
    if (out->cfa_reg != FRAME_REG_RSP && out->cfa_reg != FRAME_REG_RBP)
        goto out;
    /* The return address: at CFA - 8, or undefined where the stack ends. */
    int64_t off;
    if (dwarf_frame_register(frame, FRAME_REG_RA, mem, &ops, &n) != 0)
        goto out;
    if (n == 0 && ops == mem) {
        out->outermost = true;
    } else if (!cfa_offset(ops, n, &off) || off != -8) {
        goto out;
    }
    static const int saved_regs[FRAME_SAVED_REGS] = { 3, 6, 12, 13, 14, 15 };
    for (int i = 0; i < FRAME_SAVED_REGS; i++) {
        if (dwarf_frame_register(frame, saved_regs[i], mem, &ops, &n) != 0)
            goto out;
        if (n == 0 && ops == NULL)
            out->saved[i] = FRAME_RULE_SAME;
        else if (n == 0)
            out->saved[i] = FRAME_RULE_UNDEFINED;
        else if (cfa_offset(ops, n, &off) && off >= INT16_MIN + 2 && off <= INT16_MAX)
            out->saved[i] = (int16_t)off;
        else
            goto out;
    }
    ok = true;
out:
    free(frame);
    if (!ok)
        out->cfa_reg = 0;
    return ok;
}

bool elf_file_build_id(const struct elf_file *ef, char *hex, size_t hex_len)
{
    const unsigned char *bytes;
    ssize_t n = dwelf_elf_gnu_build_id(ef->elf, (const void **)&bytes);
    if (n <= 0 || (size_t)n * 2 + 1 > hex_len)
        return false;
    for (ssize_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    return true;
}
