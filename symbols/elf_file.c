/* libelf-based reading of ELF files for hook placement. */
#include "elf_file.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
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

/* A regular file opened for reading, never blocking on a FIFO or device a
 * path names instead; the descriptor or -errno (-EINVAL: not a regular file). */
static int open_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

int elf_file_open_fd(struct elf_file *ef, int fd, const char *path, char *why, size_t why_len)
{
    memset(ef, 0, sizeof(*ef));
    ef->fd = fd;
    if (ensure_libelf() != 0) {
        snprintf(why, why_len, "libelf: %s", elf_errmsg(-1));
        elf_file_close(ef);
        return -EINVAL;
    }
    Elf *elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr ehdr;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr)) {
        snprintf(why, why_len, "%s: not an ELF file", path);
        if (elf)
            elf_end(elf);
        elf_file_close(ef);
        return -EINVAL;
    }
    ef->elf = elf;
    ef->path = strdup(path);
    ef->is_dyn = ehdr.e_type == ET_DYN;
    ef->entry = ehdr.e_entry;
    size_t nph = 0;
    elf_getphdrnum(elf, &nph);
    for (size_t i = 0; i < nph && ef->nsegs < ELF_FILE_MAX_SEGMENTS; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
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

int elf_file_open(struct elf_file *ef, const char *path, char *why, size_t why_len)
{
    int fd = open_regular(path);
    if (fd < 0) {
        memset(ef, 0, sizeof(*ef));
        ef->fd = -1;
        snprintf(why, why_len, "%s: %s", path,
                 fd == -EINVAL ? "not a regular file" : strerror(-fd));
        return fd;
    }
    return elf_file_open_fd(ef, fd, path, why, why_len);
}

int elf_file_reopen(struct elf_file *dst, const struct elf_file *src, char *why, size_t why_len)
{
    int fd = fcntl(src->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        int err = -errno;
        memset(dst, 0, sizeof(*dst));
        dst->fd = -1;
        snprintf(why, why_len, "%s: cannot duplicate its descriptor: %s", src->path,
                 strerror(-err));
        return err;
    }
    return elf_file_open_fd(dst, fd, src->path, why, why_len);
}

void elf_file_close(struct elf_file *ef)
{
    if (ef->elf)
        elf_end(ef->elf);
    if (ef->fd >= 0)
        close(ef->fd);
    free(ef->path);
    memset(ef, 0, sizeof(*ef));
    ef->fd = -1;
}

int elf_file_check_executable(const char *path, char *why, size_t why_len)
{
    int fd = open_regular(path);
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

int elf_file_read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
    for (int i = 0; i < ef->nsegs; i++) {
        const struct elf_segment *s = &ef->segs[i];
        if (vaddr >= s->vaddr && vaddr + len <= s->vaddr + s->filesz) {
            ssize_t n = pread(ef->fd, buf, len, (off_t)(s->offset + (vaddr - s->vaddr)));
            if (n < 0)
                return -errno;
            return (size_t)n == len ? 0 : -EIO;
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
