/* Everything memtrace reads from /proc: one parser per file format. Every
 * function returns 0 (or a count) or -errno; a process that is gone reads
 * as -ENOENT or -ESRCH. */
#ifndef MT_PROCFS_H
#define MT_PROCFS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "mt_addr.h"

/* "/proc/PID/WHAT" into out (for files others open, like the exe link). */
void procfs_path(char *out, size_t len, pid_t pid, const char *what);

/* One line of /proc/PID/maps. name is the path, "[heap]", "[stack]", ...
 * or "", valid during the callback only. */
struct procfs_map {
    mt_addr lo, hi;
    bool readable, writable, executable, shared;
    uint64_t offset, inode;
    uint64_t dev;           /* makedev(major, minor) of the file's device */
    const char *name;
};
/* Calls fn for each mapping of pid in address order; a nonzero return of fn
 * stops the walk and is returned. */
int procfs_maps(pid_t pid, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx);

/* "/proc/PID/map_files/LO-HI": the file mapped at [lo, hi) itself, whatever
 * its path now names (opening it needs CAP_SYS_ADMIN). */
void procfs_map_file_path(char *out, size_t len, pid_t pid, mt_addr lo, mt_addr hi);

/* /proc/PID/maps opened to be read again later with procfs_maps_fd: the
 * permission check is made at open, so a descriptor opened while the
 * process is dumpable keeps working after it makes itself non-dumpable.
 * The descriptor or -errno. */
int procfs_open_maps(pid_t pid);
/* Opens the file that descriptor fd of pid refers to (/proc/PID/fd/FD),
 * e.g. a memfd it created. Returns the new descriptor or -errno. */
int procfs_open_fd(pid_t pid, int fd, int flags);
/* procfs_maps over such a descriptor, read from its start. */
int procfs_maps_fd(int fd, int (*fn)(void *ctx, const struct procfs_map *m), void *ctx);
/* One line of the maps file (NUL-terminated; its newline is cut off, name
 * points into it). False for a line that does not parse. */
bool procfs_parse_maps_line(char *line, struct procfs_map *out);

/* AT_BASE and AT_ENTRY of /proc/PID/auxv (0 when absent); -ENOENT without
 * AT_ENTRY. */
int procfs_auxv_entry(pid_t pid, mt_addr *at_base, mt_addr *at_entry);
/* The value of the auxv entry of that type (AT_*) in the len bytes of an
 * auxv file, 0 when absent. */
mt_addr procfs_auxv_value(const void *buf, size_t len, uint64_t type);
/* procfs_auxv_entry from the len bytes of an auxv file. */
int procfs_parse_auxv(const void *buf, size_t len, mt_addr *at_base, mt_addr *at_entry);
/* argv from /proc/PID/cmdline, read whole, NULL-terminated, each string malloc'd;
 * NULL when unreadable or out of memory. */
char **procfs_cmdline(pid_t pid);
/* The same from the n bytes of a cmdline file (NULL when n is 0). */
char **procfs_parse_cmdline(const char *buf, size_t n);
/* /proc/PID/mem opened read-write (O_CLOEXEC); the descriptor or -errno. */
int procfs_open_mem(pid_t pid);
/* readlink of /proc/PID/exe. */
int procfs_exe(pid_t pid, char *out, size_t len);
/* The file name its last execve was given (AT_EXECFN, read from its
 * stack): the script, not its interpreter; as given, maybe relative. */
int procfs_exec_filename(pid_t pid, char *out, size_t len);
/* stat of the file pid executes (through /proc/PID/exe), and whether its
 * file system is mounted nosuid. */
int procfs_exe_stat(pid_t pid, struct stat *st, bool *nosuid_mount);
/* readlink of /proc/PID/fd/FD: the file an fd names. */
int procfs_fd_path(pid_t pid, int fd, char *out, size_t len);
/* Where memtrace can open a file the target names: through /proc/PID/root
 * when the target lives in another root, directly otherwise (so paths stay
 * usable after the target is gone). */
void procfs_host_path(pid_t pid, const char *target_path, char *out, size_t len);
/* The value of "Key:" in /proc/PID/status (tid 0) or /proc/PID/task/TID/status;
 * -ENOENT when the key is absent. */
int procfs_status_field(pid_t pid, pid_t tid, const char *key, char *out, size_t len);
/* One line of a status file: true with the value in out when it is key's. */
bool procfs_parse_status_line(const char *line, const char *key, char *out, size_t len);
/* Whether a list of words (a status value such as x86_Thread_features'
 * "shstk wrss") holds word. */
bool procfs_words_have(const char *words, const char *word);
/* Whether thread tid of pid (0: the main thread) runs with a user shadow
 * stack (x86 CET, Linux 6.6+): x86_Thread_features lists shstk. False
 * where the kernel has no such line. */
bool procfs_shadow_stack(pid_t pid, pid_t tid);
/* Numeric field number `field` (3.., as proc(5) numbers them) of
 * /proc/PID/stat: 9 is the flags word, 47 start_brk (where the program
 * break began: the bottom of malloc's main heap). */
#define PROCFS_STAT_FLAGS 9
#define PROCFS_STAT_START_BRK 47
int procfs_stat_field(pid_t pid, unsigned field, unsigned long *value);
/* The same from a stat file's text (NUL-terminated). */
int procfs_parse_stat_field(const char *buf, unsigned field, unsigned long *value);
static inline int procfs_stat_flags(pid_t pid, unsigned long *flags)
{
    return procfs_stat_field(pid, PROCFS_STAT_FLAGS, flags);
}
/* /proc/sys/kernel/yama/ptrace_scope, or -1 without Yama. */
int procfs_yama_ptrace_scope(void);
/* Calls fn for each thread id in /proc/PID/task; -ESRCH when pid is gone. */
int procfs_tasks(pid_t pid, int (*fn)(void *ctx, pid_t tid), void *ctx);

/* One segment of /proc/sysvipc/shm. */
struct procfs_shm {
    int key, shmid;
    unsigned mode;          /* carries SHM_DEST once IPC_RMID was asked for */
    uint64_t size;
    pid_t cpid, lpid;
    unsigned long nattch;
};
/* Looks shmid up: 0, -ENOENT when it is not there, -errno when the file
 * cannot be read. */
int procfs_sysv_shm(int shmid, struct procfs_shm *out);
/* One line of /proc/sysvipc/shm; false for the header or a line that does
 * not parse. */
bool procfs_parse_shm_line(const char *line, struct procfs_shm *out);

#endif
