/* Which file a module is: the file the process has mapped where the module
 * is, read through /proc/PID/map_files/ (so a path replaced on disk since,
 * as a package upgrade does, or deleted, still reads the file the process
 * runs), never the name the target writes into its link map. Without
 * CAP_SYS_ADMIN the path /proc/PID/maps shows is opened instead, and only
 * when it still names the mapped file (same inode; same device, or the same
 * first page where the file system shows another device in maps). */
#ifndef MT_MODULE_FILE_H
#define MT_MODULE_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include "mt_addr.h"
#include "process.h"

struct module_mapping;

/* The process's mappings, read from /proc/PID/maps at the first lookup and
 * reused by the next ones (one read per link-map change). */
struct module_maps {
    struct module_mapping *items;
    size_t n, cap;
    bool loaded;
};

void module_maps_init(struct module_maps *maps);
void module_maps_free(struct module_maps *maps);

/* Opens the file mapped at addr in p (read-only, close-on-exec), and puts
 * the mapping's path as /proc/PID/maps shows it into shown (what reports
 * name). Returns the descriptor; -ENOENT when no file is mapped there (the
 * vDSO, an anonymous mapping); another -errno with why when the file cannot
 * or must not be read (not a regular file, replaced and unreadable); why
 * does not name the process. */
int module_file_open(const struct process *p, struct module_maps *maps, mt_addr addr, char *shown,
                     size_t shown_len, char *why, size_t why_len);

#endif
