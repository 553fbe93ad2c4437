/* cli_parse on any command line: the input is argv[1..], NUL-separated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "suppress.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* words are copied so each ends at its own allocation: an overread
     * past a word's NUL is an ASan report */
    char *words[MAX_WORDS + 2] = { 0 };
    int argc = 0;
    words[argc++] = strdup("memtrace");
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < MAX_WORDS; i++) {
        if (i == size || data[i] == '\0') {
            if (i == size && start == size && size > 0)
                break;
            words[argc++] = strndup((const char *)data + start, i - start);
            start = i + 1;
        }
    }
    words[argc] = NULL;
    struct mt_options o;
    char err[256];
    if (cli_parse(argc, words, &o, err, sizeof(err)) != 0) {
        /* a reason is always given, one line */
        if (err[0] == '\0' || strchr(err, '\n'))
            abort();
    }
    supp_set_destroy(&o.suppressions);   /* the caller's, whatever the result */
    for (int i = 0; i < argc; i++)
        free(words[i]);
    return 0;
}
