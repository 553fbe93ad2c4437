/* Report files (-o, --json): opened before the program starts, never
 * inherited by it, never through a symlink, every write checked; the JSON
 * replaced whole or not at all. */
#ifndef MT_REPORT_FILE_H
#define MT_REPORT_FILE_H
#include <stdbool.h>
#include <stdio.h>

/* A report file: opened before the program starts, so a bad path costs
 * no run; never inherited by the program (O_CLOEXEC) and never opened
 * through a symlink (O_NOFOLLOW); every write checked (the stream writes
 * through out_write, which keeps the first error). */
struct out_file {
    const char *name;   /* for messages: the path, or "standard output" */
    const char *path;   /* the path given; NULL for stdout */
    FILE *f;
    int fd;
    bool own_fd;        /* false for stdout */
    int err;            /* errno of the first failed write, 0: none */
    char *tmp;          /* JSON: written here, renamed to path at the end */
    bool truncate;      /* JSON written in place: truncated when written */
    bool created;       /* ... and memtrace created it */
};

/* -o FILE: created or truncated now. Returns 0, or -1 having said why. */
int out_open_log(struct out_file *o, const char *path);
/* --json FILE ("-": stdout). Returns 0, or -1 having said why. */
int out_open_json(struct out_file *o, const char *path);
/* Before writing the whole report: a file written in place is emptied
 * now. 0, or -1 with o->err set. */
int out_begin(struct out_file *o);
/* After writing it (write_rc: the writer's result): closes, and renames the
 * temporary file into place when all of it was written. 0, or -1 having
 * said why (the temporary file removed). */
int out_commit(struct out_file *o, int write_rc);
/* Closes the stream; true when everything written reached the file. */
bool out_finish(struct out_file *o);
/* The run failed: no report, and no file memtrace made for one. */
void out_discard(struct out_file *o);
/* %p (a process's pid) and %n (its number among the processes reported,
 * from 1: an exec'd image has its own) in a -o, --json, --xml-file or --sarif
 * path, as in Valgrind's --log-file: each process gets a file of its own. */
bool out_path_per_process(const char *path);
/* Whether path's % escapes are %p, %n and %%; else -1 with err filled. */
int out_path_check(const char *option, const char *path, char *err, size_t err_len);
/* path with its escapes replaced; -1 when it does not fit. */
int out_path_expand(const char *path, int pid, unsigned seq, char *out, size_t out_len);
/* The one line for a report that could not be written. */
void say_cannot_write(const char *name, const char *why);

#endif
