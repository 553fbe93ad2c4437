/* The allocation model of one address space: live blocks, recently freed
 * blocks, counters and bad-free errors. Fed with allocation events, which
 * come from traps today and may come from an event ring later. Pure: no
 * ptrace, no symbols. */
#ifndef MT_ALLOC_MODEL_H
#define MT_ALLOC_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "alloc_fn.h"
#include "alloc_table.h"

/* One completed allocator call, as the program saw it. */
struct alloc_event {
    enum alloc_fn fn;
    pid_t tid;
    mt_addr ptr_in;      /* realloc/reallocarray's old pointer; free's argument */
    uint64_t size;       /* requested bytes (calloc: nmemb*size) */
    mt_addr ptr_out;     /* returned block, 0 on failure; unused for free */
    uint32_t stack_id;
    uint64_t time_ns;    /* CLOCK_MONOTONIC when the call completed, 0 = unknown */
    unsigned allocator;  /* alloc_model_allocator of the library called, 0: any */
};

enum free_verdict {
    FREE_OK,             /* NULL or a live block */
    FREE_DOUBLE,         /* was live once, already freed */
    FREE_INVALID,        /* never a block start we saw */
    FREE_UNTRACKED,      /* attach: unknown, maybe allocated before memtrace came */
    FREE_MISMATCHED,     /* a live block, released by the wrong family (free of new's
                          * block): an error, and the call goes on as the program made it */
};

enum alloc_error_kind { ERR_DOUBLE_FREE, ERR_INVALID_FREE, ERR_MISMATCHED_FREE };

/* What a bad pointer is, as memcheck's "Address 0x... is ..." line says. */
enum addr_kind {
    ADDR_UNKNOWN,        /* not stack'd, malloc'd or (recently) free'd */
    ADDR_STACK,          /* on a thread's stack */
    ADDR_HEAP_BLOCK,     /* inside a live block */
    ADDR_FREED_BLOCK,    /* inside a recently freed block */
    ADDR_DATA_SYMBOL,    /* inside a module's data object */
    ADDR_MAPPING,        /* in some other mapping */
};

struct addr_desc {
    enum addr_kind kind;
    unsigned thread;          /* stack: 1 = the main thread */
    uint64_t offset;          /* heap, freed, data symbol: bytes from its start */
    uint64_t block_size;      /* heap, freed, data symbol: its size */
    uint32_t alloc_stack;     /* heap, freed */
    uint32_t free_stack;      /* freed */
    char perms[4];            /* mapping: "rw-" */
    const char *path;         /* mapping: its file, NULL = anonymous; data symbol: module */
    const char *symbol;       /* data symbol */
};

struct alloc_error {
    enum alloc_error_kind kind;
    enum alloc_fn fn;         /* free, realloc, delete, ... */
    enum alloc_fn alloc_fn;   /* mismatched free: what made the block */
    mt_addr addr;
    uint64_t block_size;      /* double and mismatched free: size of the block */
    uint32_t stack;           /* the bad call */
    uint32_t alloc_stack;     /* double and mismatched free */
    uint32_t free_stack;      /* double free only: the first free */
    bool ran;                 /* the allocator got the call anyway (--fast cannot hold
                               * a realloc back); else memtrace skipped it */
    /* Mismatched free across allocators (a block of one library released
     * through another's entry point): both libraries, else NULL. */
    const char *alloc_library, *release_library;
    struct addr_desc where;
};

/* When allocation number seq happened: a checkpoint at most every
 * millisecond, so block ages cost no memory per block. */
struct seq_time {
    uint64_t seq;
    uint64_t ns;
};

/* The recently freed blocks, oldest first, like memcheck's freelist: a
 * block leaves when the ones freed after it add up to more than
 * freelist_vol bytes. */
struct freed_fifo {
    struct block *items;      /* [head, tail) */
    size_t head, tail, cap;
    uint64_t bytes;
};

/* memcheck's --freelist-vol default. memcheck holds the freed memory
 * itself; memtrace holds 24 bytes per block, so a program freeing small
 * blocks would have it hold ~1.2 million records: the count is capped too
 * (6 MiB of records). */
#define ALLOC_MODEL_FREELIST_VOL 20000000u
#define ALLOC_MODEL_FREELIST_MAX_BLOCKS 262144u

/* Allocator libraries a process calls into (libc.so.6, libjemalloc.so.2):
 * a block remembers which one made it in 4 bits. */
#define ALLOC_MODEL_MAX_ALLOCATORS 15

/* What the blocks of one allocation stack cost, for the pictures
 * (--flamegraph-cost): everything it allocated, what is live now, and the
 * most that was live at once. */
struct stack_cost {
    uint64_t allocated_bytes, allocations;
    uint64_t live_bytes, peak_bytes;
};

/* --timeline: the live bytes at a moment, the process's and those of the
 * stacks that held the most then. A bounded series: when it is full, every
 * other sample goes and samples come half as often. */
#define ALLOC_MODEL_SAMPLES 512
#define ALLOC_MODEL_SAMPLE_TOP 8
#define ALLOC_MODEL_FIRST_SAMPLE_NS 10000000u   /* 10 ms, doubled at each halving */
struct live_sample {
    uint64_t ns;                 /* CLOCK_MONOTONIC */
    uint64_t live_bytes;
    uint64_t peak_bytes;         /* the most live since the sample before */
    unsigned ntop;
    uint32_t top_stack[ALLOC_MODEL_SAMPLE_TOP];   /* by live bytes, most first */
    uint64_t top_bytes[ALLOC_MODEL_SAMPLE_TOP];
};

struct alloc_model {
    struct alloc_table live;
    char *allocators[ALLOC_MODEL_MAX_ALLOCATORS];   /* paths; number i + 1 */
    unsigned nallocators;
    /* The fifo's blocks by address, built when a free is first found bad
     * (or a bad pointer described) and kept from then on: a program that
     * frees nothing twice never pays for it. */
    struct alloc_table freed;
    bool freed_indexed;
    struct freed_fifo fifo;
    uint64_t freelist_vol;
    char **names;                /* strings the errors' descriptions point to */
    size_t nnames, names_cap;
    uint64_t allocations, frees, bytes_allocated;
    uint64_t next_seq;
    bool untracked_ok;           /* attach: blocks from before are not errors */
    uint64_t untracked_frees;    /* frees of such blocks */
    struct seq_time *timeline;   /* increasing seq and ns */
    size_t ntimeline, timeline_cap;
    struct alloc_error *errors;
    size_t nerrors, errors_cap;
    struct stack_cost *costs;    /* by stack id; NULL when out of memory (then no costs) */
    size_t costs_cap;
    bool costs_lost;             /* an allocation failed: costs are incomplete */
    uint64_t live_bytes;         /* of the live blocks */
    uint64_t peak_since_sample;  /* the most live bytes since the last sample */
    bool sample_live;            /* --timeline: keep samples */
    struct live_sample *samples; /* ALLOC_MODEL_SAMPLES of them once the first is taken */
    size_t nsamples;
    uint64_t sample_every_ns, next_sample_ns;
};

int alloc_model_init(struct alloc_model *m);
void alloc_model_destroy(struct alloc_model *m);
/* A forked child starts with a copy of its parent's state. */
int alloc_model_copy(struct alloc_model *dst, const struct alloc_model *src);
/* The address space is gone: no free will be checked again, so the
 * recently freed blocks go; live blocks, counters and errors stay for the
 * report. No event may be applied afterwards. */
void alloc_model_end(struct alloc_model *m);

/* The number (1..ALLOC_MODEL_MAX_ALLOCATORS) of the allocator library at
 * path, added when new; 0 ("any": no cross-allocator check) when the table
 * is full or out of memory. */
unsigned alloc_model_allocator(struct alloc_model *m, const char *path);

/* Decides, before the allocator runs, whether freeing ptr through fn of
 * allocator (0: any) is legal. When it is not, *err is filled (stack = the
 * caller's stack) for reporting; a live block of another allocator library
 * is FREE_MISMATCHED with err->alloc_library set: the call must not reach
 * the wrong allocator. */
enum free_verdict alloc_model_check_free(struct alloc_model *m, enum alloc_fn fn,
                                         unsigned allocator, mt_addr ptr, uint32_t stack,
                                         struct alloc_error *err);
int alloc_model_record_error(struct alloc_model *m, const struct alloc_error *err);

/* How far before addr a block start is looked for (glibc's 16-byte
 * granules, each a hash probe): an address further inside a block is not
 * described as in it. */
#define ALLOC_MODEL_DESCRIBE_WINDOW 65536u
/* Fills *d when addr is inside a live or recently freed block (live first,
 * as memcheck). */
bool alloc_model_describe_heap(struct alloc_model *m, mt_addr addr, struct addr_desc *d);
/* The most recent free of the block at addr, while it is on the free list
 * and addr was not allocated again; NULL otherwise. */
const struct block *alloc_model_freed_block(struct alloc_model *m, mt_addr addr);
/* Blocks on the free list that alloc_model_freed_block can name. */
size_t alloc_model_freed_count(struct alloc_model *m);
/* A copy of s that lives as long as the model (descriptions point to it). */
const char *alloc_model_keep_name(struct alloc_model *m, const char *s);

/* attach: a block live before memtrace came (the heap census), made by
 * FN_UNKNOWN with a stack that names its group; not an allocation of the
 * session. Returns 0 or -ENOMEM. */
int alloc_model_add_existing(struct alloc_model *m, mt_addr addr, uint64_t size, uint32_t stack,
                             unsigned allocator);

/* Applies a completed call. Returns 0 or -ENOMEM. */
int alloc_model_apply(struct alloc_model *m, const struct alloc_event *ev);

/* A realloc seen in two halves (--fast records it before and after the
 * call, so no other thread's block can take its old address in between):
 * the old block is freed at the start and its record kept in *taken;
 * returns false when ptr is no live block. */
bool alloc_model_realloc_begin(struct alloc_model *m, mt_addr ptr, uint32_t stack,
                               struct block *taken);
/* The realloc failed: the old block taken by alloc_model_realloc_begin is
 * live again, as it was. Returns 0 or -ENOMEM. */
int alloc_model_realloc_undo(struct alloc_model *m, const struct block *taken);

/* When the allocation with sequence number seq (struct block.seq) was made,
 * within a millisecond; 0 when unknown. */
uint64_t alloc_model_seq_time(const struct alloc_model *m, uint64_t seq);
/* --timeline: a sample of now (ns), taken whatever the interval (the end
 * of tracing). Returns 0 or -ENOMEM. */
int alloc_model_sample(struct alloc_model *m, uint64_t ns);
/* The costs of stack id, or NULL when nothing was allocated there (or
 * memtrace ran out of memory keeping them: m->costs_lost). */
const struct stack_cost *alloc_model_stack_cost(const struct alloc_model *m, uint32_t stack);
/* The full sequence number of a live block (its 32-bit seq is the low half
 * of the most recent such number). */
uint64_t alloc_model_block_seq(const struct alloc_model *m, const struct block *b);

#endif
