/* An address in the target's address space. Never cast to a C pointer: the
 * target's memory is reached only through remote.h. */
#ifndef MT_ADDR_H
#define MT_ADDR_H
#include <stdint.h>
#include <inttypes.h>

typedef uint64_t mt_addr;
#define PRIxADDR PRIx64

#endif
