/* The file helpers of fuzz_files.h. */
#include "fuzz_files.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "symbolizer.h"

static volatile size_t sink;
static char dir[64];
static char paths[4][128];
static size_t npaths;

static void remove_dir(void)
{
    for (size_t i = 0; i < npaths; i++)
        unlink(paths[i]);
    char sub[96];
    snprintf(sub, sizeof(sub), "%s/.debug", dir);
    rmdir(sub);
    rmdir(dir);
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx, (void)msg;
}

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "%s/memtrace-fuzz.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    char sub[96];
    snprintf(sub, sizeof(sub), "%s/.debug", dir);
    if (mkdir(sub, 0700) != 0) {
        perror(sub);
        abort();
    }
    atexit(remove_dir);
    /* warnings about the (bad) debug files are the expected outcome */
    symbolizer_set_warning_handler(quiet, NULL);
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    if (!dir[0])
        make_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t i = 0;
    while (i < npaths && strcmp(paths[i], path) != 0)
        i++;
    if (i == npaths) {
        if (npaths == sizeof(paths) / sizeof(paths[0]))
            abort();
        snprintf(paths[npaths++], sizeof(paths[0]), "%s", path);
    }
    /* a new inode each time: the symbol cache knows a file by its inode,
     * size and mtime, and two inputs may share all three otherwise */
    unlink(path);
    FILE *fh = fopen(path, "wbx");
    if (!fh || (size && fwrite(data, 1, size, fh) != size) || fclose(fh) != 0) {
        perror(path);
        abort();
    }
    return paths[i];
}

void fuzz_symbolize(const char *path, mt_addr bias, uint64_t entry, uint64_t lo, uint64_t hi)
{
    struct symbolizer *s = symbolizer_create();
    if (!s)
        abort();
    char why[512];
    if (symbolizer_add_module(s, path, bias, why, sizeof(why)) == 0) {
        uint64_t span = hi > lo ? hi - lo : 1;
        const uint64_t at[] = { entry, lo, lo + span / 3, lo + span / 2, hi - 1 };
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            const struct sym_frame_ext *frames;
            unsigned n = symbolizer_lookup(s, bias + at[i], SYMBOLIZER_NOW, i % 2 == 0, &frames);
            for (unsigned k = 0; k < n; k++)
                sink += (frames[k].f.function ? strlen(frames[k].f.function) : 0) +
                        (frames[k].f.file ? strlen(frames[k].f.file) : 0) +
                        (unsigned)frames[k].f.line;
        }
    }
    symbolizer_destroy(s);
}
