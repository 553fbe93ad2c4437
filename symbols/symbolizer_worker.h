/* Names for what memtrace shows while it traces (attach's live view), looked
 * up in a helper process so that no lookup ever holds a traced thread.
 *
 * One lookup can take as long as libdw's search for debug info: a slow
 * disk, a debuginfod server (DEBUGINFOD_URLS) that answers after half a
 * minute. memtrace's thread must never wait for it: a thread that trapped
 * on an allocator stays stopped until memtrace handles its trap. So the
 * live view asks the helper, a child process of memtrace with a symbolizer
 * of its own, and shows module+offset until the answer is in. A lookup in
 * progress cannot be interrupted inside libdw; in a process of its own it
 * ends when memtrace kills the helper, and whatever libdw does there
 * (block, crash) costs names, never the trace.
 *
 * The helper opens each module by the path the caller's symbolizer has for
 * it and looks up link-time addresses: its frames carry function, file,
 * line and the inline chain, not the linkage names and build-ids of the
 * reports. The final report does not use it: after detach, memtrace
 * symbolizes by itself. One thread (memtrace's) uses a worker. */
#ifndef MT_SYMBOLIZER_WORKER_H
#define MT_SYMBOLIZER_WORKER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mt_addr.h"
#include "symbolizer.h"

struct symbolizer_worker;

/* Forks the helper. Returns NULL only when out of memory. When the helper
 * cannot be started the worker answers module+offset only and why says
 * why; else why is "". */
struct symbolizer_worker *symbolizer_worker_start(char *why, size_t why_len);
/* Kills the helper (a lookup in progress ends with it), reaps it, frees w.
 * NULL: nothing. */
void symbolizer_worker_stop(struct symbolizer_worker *w);

/* The frames of ip in s's generation gen, as symbolizer_lookup gives them,
 * when the helper has answered; until then one frame with the module and
 * offset from s's module table (symbolizer_locate), and the helper is asked.
 * Never waits. The frames stay valid until the next symbolizer_worker_poll
 * or symbolizer_worker_stop. */
unsigned symbolizer_worker_lookup(struct symbolizer_worker *w, const struct symbolizer *s,
                                  mt_addr ip, uint32_t gen, bool return_address,
                                  const struct sym_frame_ext **frames);
/* Takes in the answers that have arrived, and asks again what the helper
 * could not take yet. Never waits. */
void symbolizer_worker_poll(struct symbolizer_worker *w);
/* Lookups asked and not answered yet (0 once the helper is gone). */
size_t symbolizer_worker_pending(const struct symbolizer_worker *w);

#endif
