/* The checks of eh_frame_hdr.h. Every offset, address and count comes from
 * the file: each sum is checked against overflow before it is used. */
#include "eh_frame_hdr.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF64_EHDR_SIZE 64u
#define ELF64_PHDR_SIZE 56u /* libunwind steps by this, whatever e_phentsize says */
#define ELF64_SHDR_SIZE 64u
#define ELF64_DYN_SIZE 16u
#define PT_LOAD 1u
#define PT_DYNAMIC 2u
#define PT_GNU_EH_FRAME 0x6474e550u
#define DT_NULL 0
#define DT_PLTGOT 3

#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30
#define EH_HDR_VERSION 1

/* Larger tables than these are not read into memory to be checked. The
 * largest programs have a few tens of MiB of unwind tables. */
#define EH_MAX_SECTION ((uint64_t)256 << 20)
#define EH_MAX_PHDRS 4096u

struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};

struct check {
    const struct eh_file *f;
    char *why;
    size_t why_len;
    struct phdr *ph;
    size_t phnum;
};

static enum eh_verdict corrupt(struct check *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static enum eh_verdict corrupt(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (c->why_len)
        vsnprintf(c->why, c->why_len, fmt, ap);
    va_end(ap);
    return EH_TABLES_CORRUPT;
}

static enum eh_verdict unreadable(struct check *c, const char *what, uint64_t off)
{
    if (c->why_len)
        snprintf(c->why, c->why_len, "cannot read %s at file offset %#" PRIx64, what, off);
    return EH_TABLES_UNREADABLE;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Whether [off, off + len) lies inside a file (or section) of size bytes. */
static bool inside(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

int eh_buffer_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct eh_buffer *b = ctx;
    if (!inside(off, len, b->len))
        return -1;
    if (len)
        memcpy(buf, b->bytes + off, len);
    return 0;
}

static int read_at(struct check *c, uint64_t off, void *buf, size_t len)
{
    if (!inside(off, len, c->f->size))
        return -1;
    return c->f->read(c->f->ctx, off, buf, len);
}

/* The file offset where the loaded image holds [vaddr, vaddr + len): inside
 * the file-backed part of one PT_LOAD segment. */
static bool mapped_offset(const struct check *c, uint64_t vaddr, uint64_t len, uint64_t *off,
                          const struct phdr **load)
{
    for (size_t i = 0; i < c->phnum; i++) {
        const struct phdr *p = &c->ph[i];
        if (p->type != PT_LOAD || vaddr < p->vaddr || !inside(vaddr - p->vaddr, len, p->filesz))
            continue;
        if (!inside(p->offset, p->filesz, c->f->size))
            return false;
        *off = p->offset + (vaddr - p->vaddr);
        if (load)
            *load = p;
        return true;
    }
    return false;
}

/* The size of an encoded value, 0 for an encoding that is not plain data
 * (indirect, aligned, omitted, unknown). */
static unsigned value_size(uint8_t enc)
{
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: return 8;
    case DW_EH_PE_udata2:
    case DW_EH_PE_sdata2: return 2;
    case DW_EH_PE_udata4:
    case DW_EH_PE_sdata4: return 4;
    case DW_EH_PE_udata8:
    case DW_EH_PE_sdata8: return 8;
    default: return 0;
    }
}

static uint64_t value_decode(uint8_t enc, const uint8_t *p)
{
    switch (enc & 0x0f) {
    case DW_EH_PE_udata2: return le16(p);
    case DW_EH_PE_sdata2: return (uint64_t)(int64_t)(int16_t)le16(p);
    case DW_EH_PE_udata4: return le32(p);
    case DW_EH_PE_sdata4: return (uint64_t)(int64_t)(int32_t)le32(p);
    default: return le64(p);
    }
}

static bool is_signed(uint8_t enc)
{
    return (enc & 0x08) != 0;
}

/* PT_DYNAMIC is scanned up to DT_PLTGOT or DT_NULL with no bound but the
 * mapped file: one of them must come before the file ends. */
static enum eh_verdict check_dynamic(struct check *c, const struct phdr *dyn)
{
    uint8_t entry[ELF64_DYN_SIZE];
    for (uint64_t off = dyn->offset;; off += ELF64_DYN_SIZE) {
        if (!inside(off, ELF64_DYN_SIZE, c->f->size))
            return corrupt(c, "PT_DYNAMIC at file offset %#" PRIx64 " has no DT_NULL in the file",
                           dyn->offset);
        if (c->f->read(c->f->ctx, off, entry, sizeof(entry)) != 0)
            return unreadable(c, "PT_DYNAMIC", off);
        int64_t tag = (int64_t)le64(entry);
        if (tag == DT_NULL || tag == DT_PLTGOT)
            return EH_TABLES_USABLE;
    }
}

/* .eh_frame's link-time range: the section header that starts at the
 * address eh_frame_ptr gives, else from there to the end of its segment. */
static void eh_frame_range(struct check *c, uint64_t start, const struct phdr *load, uint64_t *end)
{
    *end = load->vaddr + load->filesz;
    uint8_t eh[ELF64_EHDR_SIZE];
    if (read_at(c, 0, eh, sizeof(eh)) != 0)
        return;
    uint64_t shoff = le64(eh + 40);
    uint16_t shentsize = le16(eh + 58), shnum = le16(eh + 60);
    if (shentsize != ELF64_SHDR_SIZE || shnum == 0 ||
        !inside(shoff, (uint64_t)shnum * ELF64_SHDR_SIZE, c->f->size))
        return; /* no usable section headers: the segment bounds it */
    for (uint16_t i = 0; i < shnum; i++) {
        uint8_t sh[ELF64_SHDR_SIZE];
        if (read_at(c, shoff + (uint64_t)i * ELF64_SHDR_SIZE, sh, sizeof(sh)) != 0)
            return;
        uint32_t type = le32(sh + 4);
        uint64_t addr = le64(sh + 16), size = le64(sh + 32);
        /* SHT_PROGBITS (1) at exactly that address, inside the segment */
        if (type == 1 && addr == start && size > 0 && size <= *end - start) {
            *end = start + size;
            return;
        }
    }
}

/* The length field of a CIE or FDE at off in sec (.eh_frame's bytes, which
 * start at link-time address base): header bytes (length and, for the
 * 64-bit form, its escape), the record's length, and its id word. */
static bool record_at(const uint8_t *sec, uint64_t sec_len, uint64_t off, uint64_t *header,
                      uint64_t *len, uint64_t *id)
{
    if (!inside(off, 4, sec_len))
        return false;
    uint32_t len32 = le32(sec + off);
    if (len32 == 0xffffffffu) {
        if (!inside(off, 12, sec_len))
            return false;
        *header = 12;
        *len = le64(sec + off + 4);
    } else {
        *header = 4;
        *len = len32;
    }
    /* the id word: 4 bytes in .eh_frame, in both forms */
    if (*len < 4 || !inside(off + *header, *len, sec_len))
        return false;
    *id = le32(sec + off + *header);
    return true;
}

static enum eh_verdict check_table(struct check *c, const uint8_t *table, uint64_t fde_count,
                                   uint64_t hdr_vaddr, uint64_t eh_lo, uint64_t eh_hi)
{
    uint64_t eh_len = eh_hi - eh_lo;
    uint8_t *sec = NULL;
    if (eh_len <= EH_MAX_SECTION) {
        uint64_t eh_off;
        if (!mapped_offset(c, eh_lo, eh_len, &eh_off, NULL))
            return corrupt(c, ".eh_frame at %#" PRIx64 " is not in the file", eh_lo);
        if (!(sec = malloc(eh_len ? eh_len : 1)))
            return unreadable(c, ".eh_frame (out of memory)", eh_off);
        if (read_at(c, eh_off, sec, eh_len) != 0) {
            free(sec);
            return unreadable(c, ".eh_frame", eh_off);
        }
    }
    enum eh_verdict v = EH_TABLES_USABLE;
    int32_t prev_start = INT32_MIN;
    for (uint64_t i = 0; i < fde_count && v == EH_TABLES_USABLE; i++) {
        int32_t start = (int32_t)le32(table + 8 * i);
        int32_t fde_rel = (int32_t)le32(table + 8 * i + 4);
        uint64_t fde = hdr_vaddr + (uint64_t)(int64_t)fde_rel;
        if (start < prev_start) {
            v = corrupt(c, "search table entry %" PRIu64 " is out of order", i);
            break;
        }
        prev_start = start;
        if (fde < eh_lo || fde >= eh_hi) {
            v = corrupt(c,
                        "search table entry %" PRIu64 " points at %#" PRIx64
                        ", outside .eh_frame [%#" PRIx64 ", %#" PRIx64 ")",
                        i, fde, eh_lo, eh_hi);
            break;
        }
        if (!sec)
            continue;
        uint64_t header, len, id, cie_header, cie_len, cie_id;
        uint64_t off = fde - eh_lo;
        if (!record_at(sec, eh_len, off, &header, &len, &id) || id == 0) {
            v = corrupt(c,
                        "search table entry %" PRIu64 " points at %#" PRIx64
                        ", which is no FDE inside .eh_frame",
                        i, fde);
            break;
        }
        /* the CIE pointer counts back from its own position */
        uint64_t id_off = off + header;
        if (id > id_off || !record_at(sec, eh_len, id_off - id, &cie_header, &cie_len, &cie_id) ||
            cie_id != 0)
            v = corrupt(c, "the FDE at %#" PRIx64 " names no CIE inside .eh_frame", fde);
    }
    free(sec);
    return v;
}

static enum eh_verdict check_hdr(struct check *c, const struct phdr *hp)
{
    uint64_t hdr_off;
    const struct phdr *load;
    if (!inside(hp->offset, hp->filesz, c->f->size) || hp->filesz < 4)
        return corrupt(c,
                       ".eh_frame_hdr (file offset %#" PRIx64 ", %#" PRIx64
                       " bytes) is not in the file",
                       hp->offset, hp->filesz);
    /* libunwind decodes the header from the file and searches the table in
     * the loaded image: both must be the same bytes. */
    if (!mapped_offset(c, hp->vaddr, hp->filesz, &hdr_off, &load) || hdr_off != hp->offset)
        return corrupt(c, ".eh_frame_hdr at %#" PRIx64 " is not loaded from its file offset",
                       hp->vaddr);
    if (hp->filesz > EH_MAX_SECTION)
        return corrupt(c, ".eh_frame_hdr is %#" PRIx64 " bytes, too large", hp->filesz);
    uint8_t *hdr = malloc(hp->filesz);
    if (!hdr)
        return unreadable(c, ".eh_frame_hdr (out of memory)", hp->offset);
    enum eh_verdict v;
    if (read_at(c, hp->offset, hdr, hp->filesz) != 0) {
        v = unreadable(c, ".eh_frame_hdr", hp->offset);
        goto out;
    }
    uint8_t version = hdr[0], ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
    unsigned ptr_size = value_size(ptr_enc), count_size = value_size(count_enc);
    if (version != EH_HDR_VERSION) {
        v = corrupt(c, ".eh_frame_hdr has version %u", version);
        goto out;
    }
    if (ptr_size == 0 || (ptr_enc & 0xf0) & ~DW_EH_PE_pcrel) {
        v = corrupt(c, ".eh_frame_hdr's eh_frame_ptr has encoding %#x", ptr_enc);
        goto out;
    }
    if (count_size == 0 || (count_enc & 0xf0)) {
        v = corrupt(c, ".eh_frame_hdr's fde_count has encoding %#x", count_enc);
        goto out;
    }
    if (table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
        v = corrupt(c, ".eh_frame_hdr's search table has encoding %#x", table_enc);
        goto out;
    }
    uint64_t table_at = 4 + ptr_size + count_size;
    if (table_at > hp->filesz) {
        v = corrupt(c, ".eh_frame_hdr is %" PRIu64 " bytes, too short for its header", hp->filesz);
        goto out;
    }
    uint64_t eh_frame = value_decode(ptr_enc, hdr + 4);
    if (ptr_enc & DW_EH_PE_pcrel)
        eh_frame += hp->vaddr + 4;
    uint64_t fde_count = value_decode(count_enc, hdr + 4 + ptr_size);
    if (is_signed(count_enc) && (int64_t)fde_count < 0) {
        v = corrupt(c, ".eh_frame_hdr's fde_count is negative");
        goto out;
    }
    if (fde_count > (hp->filesz - table_at) / 8) {
        v = corrupt(c, ".eh_frame_hdr's fde_count %" PRIu64 " is beyond its %" PRIu64 " bytes",
                    fde_count, hp->filesz);
        goto out;
    }
    const struct phdr *eh_load;
    uint64_t eh_off, eh_end;
    if (!mapped_offset(c, eh_frame, 1, &eh_off, &eh_load)) {
        v = corrupt(c, ".eh_frame_hdr's eh_frame_ptr %#" PRIx64 " is outside the loaded file",
                    eh_frame);
        goto out;
    }
    eh_frame_range(c, eh_frame, eh_load, &eh_end);
    v = check_table(c, hdr + table_at, fde_count, hp->vaddr, eh_frame, eh_end);
out:
    free(hdr);
    return v;
}

enum eh_verdict eh_frame_hdr_check(const struct eh_file *f, char *why, size_t why_len)
{
    struct check c = { .f = f, .why = why, .why_len = why_len };
    if (why_len)
        why[0] = '\0';
    uint8_t eh[ELF64_EHDR_SIZE];
    if (f->size < sizeof(eh))
        return corrupt(&c, "%" PRIu64 " bytes: too short for an ELF header", f->size);
    if (read_at(&c, 0, eh, sizeof(eh)) != 0)
        return unreadable(&c, "the ELF header", 0);
    if (memcmp(eh, "\177ELF", 4) != 0 || eh[4] != 2 /* ELFCLASS64 */ ||
        eh[5] != 1 /* ELFDATA2LSB */)
        return corrupt(&c, "not a little-endian ELF64 file");
    uint64_t phoff = le64(eh + 32);
    uint16_t phnum = le16(eh + 56);
    if (phnum > EH_MAX_PHDRS)
        return corrupt(&c, "%u program headers", phnum);
    if (!inside(phoff, (uint64_t)phnum * ELF64_PHDR_SIZE, f->size))
        return corrupt(&c, "program headers (offset %#" PRIx64 ", %u of them) are not in the file",
                       phoff, phnum);
    /* Owned here (the callees only read c.ph): freed at out. */
    struct phdr *ph = calloc(phnum ? phnum : 1, sizeof(*ph));
    if (!ph)
        return unreadable(&c, "the program headers (out of memory)", phoff);
    c.ph = ph;
    c.phnum = phnum;
    const struct phdr *hdr = NULL, *dyn = NULL;
    enum eh_verdict v = EH_TABLES_USABLE;
    for (size_t i = 0; i < phnum; i++) {
        uint8_t raw[ELF64_PHDR_SIZE];
        uint64_t off = phoff + i * ELF64_PHDR_SIZE;
        if (read_at(&c, off, raw, sizeof(raw)) != 0) {
            v = unreadable(&c, "a program header", off);
            goto out;
        }
        ph[i] = (struct phdr){ .type = le32(raw),
                                 .offset = le64(raw + 8),
                                 .vaddr = le64(raw + 16),
                                 .filesz = le64(raw + 32) };
        /* the last of each kind counts, as in libunwind */
        if (ph[i].type == PT_GNU_EH_FRAME)
            hdr = &ph[i];
        else if (ph[i].type == PT_DYNAMIC)
            dyn = &ph[i];
    }
    if (!hdr)
        goto out; /* nothing for libunwind to misread */
    if (dyn && (v = check_dynamic(&c, dyn)) != EH_TABLES_USABLE)
        goto out;
    v = check_hdr(&c, hdr);
out:
    free(ph);
    return v;
}
