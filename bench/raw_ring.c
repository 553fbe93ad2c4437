/* The --fast design's physical limit, as raw_trap.c is the trap path's: what
 * it costs a thread to hand records to a reader on another CPU through a
 * shared ring, with nothing else done. The writer does what the stub does
 * per record: a lock xadd for a ticket, its stores into the slot (LINES cache
 * lines of it) and a release store of the sequence word last; when the ring
 * is full it spins on the reader's position. The reader, pinned to the other
 * CPU, does what memtrace does: it consumes the slots in ticket order, half
 * a ring behind the writer (memtrace drains in batches, not record by
 * record: a reader right behind would pull each line away while it is
 * being written), reading the writer's counter only when it has consumed
 * what the counter said last, and publishes its position every 64 records. "alone" runs the writer with no reader (the
 * ring never fills): the difference is the cost of sharing the lines.
 *
 * Usage: raw_ring N LINES [alone]
 * Output: RAW_RING records=N lines=L reader=0|1 ns_per_record=X */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 1024u
#define SLOT_BYTES 256u
#define PUBLISH_EVERY 64u
#define LAG (SLOTS / 2)

struct ring {
    _Alignas(64) uint64_t ticket;  /* written by the writer (lock xadd) */
    _Alignas(64) uint64_t read;    /* published by the reader */
    _Alignas(64) unsigned char slots[SLOTS][SLOT_BYTES];
};

static struct ring *ring;
static long records;
static unsigned lines;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("sched_setaffinity");
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *reader(void *unused)
{
    (void)unused;
    pin(1);
    uint64_t sum = 0, seen = 0;
    for (uint64_t t = 0; t < (uint64_t)records; t++) {
        /* As memtrace: the writers' counter is read again only once what it
         * said last has been consumed. */
        while (t + LAG >= seen && seen < (uint64_t)records) {
            seen = __atomic_load_n(&ring->ticket, __ATOMIC_ACQUIRE);
            /* an idle reader must not pull the writer's counter line away
             * at every record (memtrace sleeps instead) */
            for (int k = 0; t + LAG >= seen && k < 200; k++)
                __builtin_ia32_pause();
        }
        uint64_t *seq = (uint64_t *)ring->slots[t % SLOTS];
        while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) != t + 1)
            __builtin_ia32_pause();
        for (unsigned l = 0; l < lines; l++)
            sum += ((volatile uint64_t *)ring->slots[t % SLOTS])[l * 8 + 1];
        if ((t + 1) % PUBLISH_EVERY == 0)
            __atomic_store_n(&ring->read, t + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&ring->read, (uint64_t)records, __ATOMIC_RELEASE);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    records = argc > 1 ? atol(argv[1]) : 10000000;
    lines = argc > 2 ? (unsigned)atoi(argv[2]) : 3;
    int with_reader = !(argc > 3 && strcmp(argv[3], "alone") == 0);
    if (records <= 0 || lines < 1 || lines > SLOT_BYTES / 64) {
        fprintf(stderr, "usage: raw_ring N LINES(1-4) [alone]\n");
        return 2;
    }
    ring = aligned_alloc(4096, sizeof(*ring));
    if (!ring) {
        perror("aligned_alloc");
        return 1;
    }
    memset(ring, 0, sizeof(*ring));
    pin(0);
    pthread_t th;
    if (with_reader && pthread_create(&th, NULL, reader, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    uint64_t t0 = now_ns();
    for (long i = 0; i < records; i++) {
        uint64_t t = __atomic_fetch_add(&ring->ticket, 1, __ATOMIC_ACQ_REL);
        if (with_reader)
            while (t >= __atomic_load_n(&ring->read, __ATOMIC_ACQUIRE) + SLOTS)
                __builtin_ia32_pause();
        uint64_t *slot = (uint64_t *)ring->slots[t % SLOTS];
        for (unsigned l = 0; l < lines; l++)
            for (unsigned w = (l == 0); w < 8; w++)
                slot[l * 8 + w] = t + w;
        __atomic_store_n(&slot[0], t + 1, __ATOMIC_RELEASE);
    }
    uint64_t t1 = now_ns();
    if (with_reader)
        pthread_join(th, NULL);
    printf("RAW_RING records=%ld lines=%u reader=%d ns_per_record=%.1f\n", records, lines,
           with_reader, (double)(t1 - t0) / (double)records);
    return 0;
}
