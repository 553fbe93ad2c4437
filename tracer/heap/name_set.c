#include "name_set.h"
#include <string.h>

static const struct name_bit *lookup(const struct name_bit *names, size_t n, const char *p,
                                     size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0)
            return &names[i];
    return NULL;
}

int name_set_parse(const char *list, const struct name_bit *names, size_t n, unsigned all_bits,
                   unsigned *out)
{
    if (strcmp(list, "all") == 0 || strcmp(list, "none") == 0) {
        *out = strcmp(list, "all") == 0 ? all_bits : 0;
        return 0;
    }
    if (!*list)
        return -1;
    unsigned bits = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const struct name_bit *nb = lookup(names, n, p, len);
        if (!nb)
            return -1;
        bits |= nb->bit;
        p += len + (p[len] == ',');
    }
    *out = bits;
    return 0;
}
