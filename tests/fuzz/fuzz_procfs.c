/* The /proc parsers of kernel/procfs.c on any bytes. The first byte picks
 * the format: 'm' maps, 's' status, 'a' auxv, 't' stat, 'h' sysvipc/shm,
 * 'c' cmdline (any other byte: its value modulo 6); the rest is the file.
 * Line formats are cut into lines as the readers' fgets does. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "procfs.h"

static volatile size_t sink;

/* Calls fn on each line of data as fgets(buf, line_max) would give it. */
static void each_line(const uint8_t *data, size_t size, size_t line_max, void (*fn)(char *line))
{
    char *line = malloc(line_max);
    if (!line)
        return;
    size_t at = 0;
    while (at < size) {
        size_t n = 0;
        while (at < size && n < line_max - 1) {
            char ch = (char)data[at++];
            line[n++] = ch;
            if (ch == '\n')
                break;
        }
        line[n] = '\0';
        fn(line);
    }
    free(line);
}

static void maps_line(char *line)
{
    struct procfs_map m;
    if (procfs_parse_maps_line(line, &m))
        sink += strlen(m.name) + m.lo + m.hi + m.offset + m.inode;
}

static void status_line(char *line)
{
    static const char *const keys[] = { "TracerPid", "State", "Name", "Uid", "" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char out[64];
        if (procfs_parse_status_line(line, keys[i], out, sizeof(out)))
            sink += strlen(out);
    }
    char tiny[1];
    if (procfs_parse_status_line(line, "State", tiny, sizeof(tiny)) && tiny[0] != '\0')
        abort();
}

static void shm_line(char *line)
{
    struct procfs_shm seg;
    if (procfs_parse_shm_line(line, &seg))
        sink += seg.size + seg.nattch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t kind = data[0];
    data++, size--;
    switch (kind == 'm'   ? 0
            : kind == 's' ? 1
            : kind == 'a' ? 2
            : kind == 't' ? 3
            : kind == 'h' ? 4
            : kind == 'c' ? 5
                          : kind % 6) {
    case 0: each_line(data, size, PATH_MAX + 128, maps_line); break;
    case 1: each_line(data, size, 512, status_line); break;
    case 2: {
        mt_addr base, entry;
        int rc = procfs_parse_auxv(data, size, &base, &entry);
        if ((rc == 0) != (entry != 0))
            abort();
        break;
    }
    case 3: {
        char buf[1024];
        size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
        memcpy(buf, data, n);
        buf[n] = '\0';
        unsigned long value;
        for (unsigned field = 0; field <= 53; field++)
            if (procfs_parse_stat_field(buf, field, &value) == 0)
                sink += value;
        break;
    }
    case 4: each_line(data, size, 512, shm_line); break;
    case 5: {
        size_t n = size < 8192 ? size : 8192;
        char *copy = malloc(n ? n : 1); /* its own allocation: overreads show */
        if (!copy)
            break;
        memcpy(copy, data, n);
        char **argv = procfs_parse_cmdline(copy, n);
        if (n > 0 && !argv)
            abort();
        for (size_t i = 0; argv && argv[i]; i++) {
            sink += strlen(argv[i]);
            free(argv[i]);
        }
        free(argv);
        free(copy);
        break;
    }
    }
    return 0;
}
