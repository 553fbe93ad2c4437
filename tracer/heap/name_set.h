/* A set of named bits written as Valgrind writes its list options
 * (--show-leak-kinds, --leak-check-heuristics): "all", "none", or names
 * separated by commas. Pure string handling for the command line; it sits
 * here, below cli/, so that it is unit-tested with the heap layer. */
#ifndef MT_NAME_SET_H
#define MT_NAME_SET_H
#include <stddef.h>

struct name_bit {
    const char *name;
    unsigned bit;
};

/* Parses list against names[0..n): "all" gives all_bits, "none" 0, a list
 * the OR of its names' bits (a trailing comma is allowed). Returns 0, or -1
 * for an empty list, an empty name or an unknown one (*out untouched). */
int name_set_parse(const char *list, const struct name_bit *names, size_t n, unsigned all_bits,
                   unsigned *out);

#endif
