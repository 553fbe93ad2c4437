/* ELF files on disk, read with libelf: machine checks, load segments,
 * dynamic symbols, and bytes at a virtual address (to verify that what we
 * are about to patch in the target is what the file says). */
#ifndef MT_ELF_FILE_H
#define MT_ELF_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "mt_addr.h"

struct elf_segment {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags; /* PF_R | PF_W | PF_X */
};

#define ELF_FILE_MAX_SEGMENTS 16

struct elf_image;

/* An open ELF file. Files are read whole and shared: every elf_file open on
 * the same file (device, inode, size, mtime) uses one image and no
 * descriptor. */
struct elf_file {
    struct elf_image *image; /* shared, counted */
    void *elf;               /* Elf *, the image's */
    char *path;
    bool is_dyn; /* ET_DYN (PIE or shared object) */
    uint64_t entry;
    struct elf_segment segs[ELF_FILE_MAX_SEGMENTS];
    int nsegs;
    /* PT_GNU_RELRO (0/0 without): data the dynamic linker or the static
     * start-up code writes, then makes read-only. */
    uint64_t relro_vaddr, relro_memsz;
};

/* path opened for reading only when it is a regular file (never blocking
 * on a FIFO, never opening a device): the descriptor (O_CLOEXEC, st filled)
 * or -errno (-EINVAL: not a regular file). */
int elf_file_open_regular(const char *path, struct stat *st);

/* Opens path (a regular file only: never blocks on a FIFO, never opens a
 * device); on failure returns -errno or -EINVAL with a reason in why. */
int elf_file_open(struct elf_file *ef, const char *path, char *why, size_t why_len);
/* The same on fd, already open (ef takes it: it is closed, on failure too,
 * once the file is read); path names it in messages. */
int elf_file_open_fd(struct elf_file *ef, int fd, const char *path, char *why, size_t why_len);
/* dst opens the very file src has open (a forked child maps the same file,
 * whatever its path names now): the image is shared, not read again. */
int elf_file_reopen(struct elf_file *dst, const struct elf_file *src, char *why, size_t why_len);
void elf_file_close(struct elf_file *ef);

/* Checks that path can be executed by an x86-64 kernel as a program: an
 * x86-64 ELF executable or shared object, or a #! script. */
int elf_file_check_executable(const char *path, char *why, size_t why_len);

/* Looks name up among the defined, default-version function symbols of the
 * dynamic symbol table (then .symtab). Returns true with *value (link-time
 * address) and *size. */
bool elf_file_find_function(const struct elf_file *ef, const char *name, uint64_t *value,
                            uint64_t *size);
/* A file-local function symbol of that name in .symtab: a static-pie
 * executable's malloc is one (libc.a's internal aliases stay local there). */
bool elf_file_find_local_function(const struct elf_file *ef, const char *name, uint64_t *value,
                                  uint64_t *size);
bool elf_file_find_object(const struct elf_file *ef, const char *name, uint64_t *value);
/* The file's GNU build-id in lower-case hex; false when it has none (or hex
 * is too short). */
bool elf_file_build_id(const struct elf_file *ef, char *hex, size_t hex_len);
/* The data object (STT_OBJECT, .symtab first, then .dynsym) whose
 * [value, value + size) holds link-time address vaddr: *name points into
 * the file's string table (valid while ef is open). */
bool elf_file_object_at(const struct elf_file *ef, uint64_t vaddr, const char **name,
                        uint64_t *value, uint64_t *size);

/* Copies len bytes that the file maps at link-time address vaddr. */
int elf_file_read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);

/* [lo, hi) of the link-time addresses covered by executable segments. */
void elf_file_text_range(const struct elf_file *ef, uint64_t *lo, uint64_t *hi);

/* How a caller's frame is found from a pc of this file, when .eh_frame
 * says it simply: CFA = rsp or rbp + offset, the return address at CFA - 8
 * (or undefined: the outermost frame), rbx, rbp, r12-r15 each unchanged or
 * saved at CFA + offset. Registers by DWARF number. */
#define FRAME_REG_RBP 6
#define FRAME_REG_RSP 7
#define FRAME_REG_RA 16
#define FRAME_SAVED_REGS 6          /* rbx, rbp, r12, r13, r14, r15 */
#define FRAME_RULE_SAME INT16_MIN
#define FRAME_RULE_UNDEFINED (INT16_MIN + 1)
struct frame_rule {
    uint8_t cfa_reg;                /* FRAME_REG_RSP or FRAME_REG_RBP; 0: no rule */
    bool outermost;
    int32_t cfa_off;
    int16_t saved[FRAME_SAVED_REGS];
};
/* The rule at link-time address vaddr; false when there is none this
 * simple (then a full unwinder must read the CFI). */
bool elf_file_frame_rule(const struct elf_file *ef, uint64_t vaddr, struct frame_rule *out);

#endif
