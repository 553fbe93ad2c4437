/* The symbolizer helper process and memtrace's side of it (see
 * symbolizer_worker.h). They talk over a SOCK_SEQPACKET socket pair: one
 * message per request (id, link-time address, module path) and per answer
 * (id, frames), so a message is taken whole or not at all. memtrace's end
 * never blocks: a request the socket cannot take now is sent again later.
 * The helper is reaped through a pidfd: memtrace's event loop waits for any
 * child (waitpid(-1)) and may reap it first when it dies, after which its
 * pid could name another process. */
#include "symbolizer_worker.h"
#include "diag.h"
#include "grow.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A module path longer than this is shown as module+offset only. */
#define REQUEST_PATH_MAX 4000
#define REQUEST_HEAD 17 /* id u32, path length u32, address u64, return_address u8 */
#define REQUEST_MAX (REQUEST_HEAD + REQUEST_PATH_MAX)
/* An answer: id u32, frame count u32, then per frame line i32, inlined u8,
 * function and file lengths u32 (NO_STRING: none), and their bytes. Names
 * are cut to NAME_MAX_BYTES, frames past what fits are left out. */
#define ANSWER_HEAD 8
#define FRAME_HEAD 13
#define NAME_MAX_BYTES 2000
#define ANSWER_MAX 16384
#define NO_STRING UINT32_MAX
#define NO_PATH UINT32_MAX

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- the helper ------------------------------------------------------- */

struct served_module {
    char *path;
    struct symbolizer *symbolizer; /* the module alone, at its link-time addresses */
};

static struct symbolizer *served_symbolizer(struct served_module **mods, size_t *n, size_t *cap,
                                            const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*mods)[i].path, path) == 0)
            return (*mods)[i].symbolizer;
    struct served_module *m = mt_grow(*mods, cap, *n + 1, sizeof(*m));
    if (!m)
        return NULL;
    *mods = m;
    struct symbolizer *s = symbolizer_create();
    char *copy = strdup(path);
    if (!s || !copy) {
        symbolizer_destroy(s);
        free(copy);
        return NULL;
    }
    char why[512];
    /* A module libdw cannot use stays without names: its lookups answer
     * with no function, and the view keeps module+offset. */
    symbolizer_add_module(s, path, 0, why, sizeof(why));
    m[(*n)++] = (struct served_module){ .path = copy, .symbolizer = s };
    return s;
}

static size_t put_string(unsigned char *p, const char *s, uint32_t *len)
{
    if (!s) {
        *len = NO_STRING;
        return 0;
    }
    size_t n = strlen(s);
    *len = (uint32_t)(n < NAME_MAX_BYTES ? n : NAME_MAX_BYTES);
    memcpy(p, s, *len);
    return *len;
}

static size_t encode_answer(unsigned char *out, uint32_t id, const struct sym_frame_ext *fr,
                            unsigned n)
{
    size_t used = ANSWER_HEAD;
    uint32_t written = 0;
    for (unsigned i = 0; i < n && used + FRAME_HEAD + 2 * NAME_MAX_BYTES <= ANSWER_MAX; i++) {
        unsigned char *head = out + used;
        used += FRAME_HEAD;
        uint32_t fn_len, file_len;
        used += put_string(out + used, fr[i].f.function, &fn_len);
        used += put_string(out + used, fr[i].f.file, &file_len);
        int32_t line = fr[i].f.line;
        memcpy(head, &line, sizeof(line));
        head[4] = fr[i].inlined;
        put_u32(head + 5, fn_len);
        put_u32(head + 9, file_len);
        written++;
    }
    put_u32(out, id);
    put_u32(out + 4, written);
    return used;
}

static void __attribute__((noreturn)) serve(int sock)
{
    struct served_module *mods = NULL;
    size_t nmods = 0, mods_cap = 0;
    unsigned char req[REQUEST_MAX + 1], ans[ANSWER_MAX];
    for (;;) {
        ssize_t got = recv(sock, req, REQUEST_MAX, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            _exit(0); /* memtrace closed its end, or is gone */
        uint32_t id = get_u32(req), path_len = get_u32(req + 4);
        uint64_t offset;
        memcpy(&offset, req + 8, sizeof(offset));
        bool return_address = req[16] != 0;
        if ((size_t)got < REQUEST_HEAD || path_len != (size_t)got - REQUEST_HEAD)
            _exit(2);
        req[got] = '\0';
        const char *path = (const char *)req + REQUEST_HEAD;
        struct symbolizer *s = served_symbolizer(&mods, &nmods, &mods_cap, path);
        const struct sym_frame_ext *fr = NULL;
        unsigned n = s ? symbolizer_lookup(s, offset, symbolizer_generation(s), return_address, &fr)
                       : 0;
        size_t len = encode_answer(ans, id, fr, n);
        while (send(sock, ans, len, MSG_NOSIGNAL) < 0)
            if (errno != EINTR)
                _exit(0);
    }
}

/* In the forked child: memtrace's thread is its only thread, so all of
 * memtrace's state is consistent here. The helper prints nothing (libdw's
 * debuginfod progress, warnings memtrace gives itself at the final report),
 * holds none of memtrace's descriptors but its socket, and leaves terminal
 * signals to memtrace, which ends it. */
static void __attribute__((noreturn)) helper_main(int sock, pid_t memtrace)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != memtrace)
        _exit(1);
    static const int terminal_signals[] = { SIGINT,  SIGQUIT, SIGHUP, SIGTSTP,
                                            SIGTTIN, SIGTTOU, SIGPIPE };
    for (size_t i = 0; i < sizeof(terminal_signals) / sizeof(terminal_signals[0]); i++)
        if (signal(terminal_signals[i], SIG_IGN) == SIG_ERR)
            _exit(1);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int fd = fcntl(sock, F_DUPFD_CLOEXEC, 3); /* out of the way of 0..2 */
    if (null < 0 || fd < 0)
        _exit(1);
    for (int i = 0; i <= 2; i++)
        if (dup2(null, i) < 0)
            _exit(1);
    if (fd != 3 && dup2(fd, 3) < 0)
        _exit(1);
    close_range(4, ~0u, 0); /* hygiene only: a kernel without it leaves them open */
    serve(3);
}

/* ---- memtrace's side -------------------------------------------------- */

enum entry_state { ENTRY_UNSENT, ENTRY_PENDING, ENTRY_DONE };

struct entry {
    uint32_t path_id; /* NO_PATH: no module covers ip */
    mt_addr ip, offset;
    bool return_address;
    enum entry_state state;
    unsigned n;
    struct sym_frame_ext *frames; /* one malloc block with the answer's strings */
};

struct symbolizer_worker {
    int sock;     /* -1: no helper (it ended, or never started) */
    int pidfd;    /* -1: nothing to reap */
    char **paths; /* module paths seen, ids of entries */
    size_t npaths, paths_cap;
    struct entry *entries; /* id = index */
    size_t nentries, entries_cap;
    uint32_t *index; /* hash of (path id, ip, return_address): id + 1, 0 = empty */
    size_t index_cap;
    size_t pending, unsent;
    struct sym_frame_ext oom_frame; /* returned when a frame cannot be stored */
};

struct symbolizer_worker *symbolizer_worker_start(char *why, size_t why_len)
{
    struct symbolizer_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->sock = w->pidfd = -1;
    why[0] = '\0';
    w->index_cap = 256;
    w->index = calloc(w->index_cap, sizeof(*w->index));
    if (!w->index) {
        free(w);
        return NULL;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(why, why_len, "cannot start the symbolizer helper: socketpair: %s",
                 strerror(errno));
        return w;
    }
    pid_t memtrace = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        helper_main(sv[1], memtrace);
    }
    int fork_errno = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        snprintf(why, why_len, "cannot start the symbolizer helper: fork: %s",
                 strerror(fork_errno));
        return w;
    }
    w->sock = sv[0];
    w->pidfd = pidfd_open(pid, 0);
    if (w->pidfd < 0) {
        /* Not reaped yet, so its pid is still its own. */
        int e = errno;
        kill(pid, SIGKILL);
        siginfo_t info;
        while (waitid(P_PID, (id_t)pid, &info, WEXITED) != 0 && errno == EINTR)
            ;
        close(w->sock);
        w->sock = -1;
        snprintf(why, why_len, "cannot start the symbolizer helper: pidfd_open of pid %d: %s", pid,
                 strerror(e));
    }
    return w;
}

/* No more answers: what was asked stays module+offset. */
static void helper_gone(struct symbolizer_worker *w, const char *why)
{
    if (w->sock < 0)
        return;
    if (why)
        mt_warn("the symbolizer helper of the live view %s; its frames stay module+offset", why);
    close(w->sock);
    w->sock = -1;
    for (size_t i = 0; i < w->nentries; i++)
        w->entries[i].state = ENTRY_DONE;
    w->pending = w->unsent = 0;
}

void symbolizer_worker_stop(struct symbolizer_worker *w)
{
    if (!w)
        return;
    helper_gone(w, NULL);
    if (w->pidfd >= 0) {
        if (pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0) != 0 && errno != ESRCH)
            mt_warn("cannot end the symbolizer helper: %s", strerror(errno));
        siginfo_t info;
        int rc;
        while ((rc = waitid(P_PIDFD, (id_t)w->pidfd, &info, WEXITED)) != 0 && errno == EINTR)
            ;
        /* ECHILD: the event loop reaped it when it died. */
        if (rc != 0 && errno != ECHILD)
            mt_warn("cannot reap the symbolizer helper: %s", strerror(errno));
        close(w->pidfd);
    }
    for (size_t i = 0; i < w->nentries; i++)
        free(w->entries[i].frames);
    free(w->entries);
    for (size_t i = 0; i < w->npaths; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w->index);
    free(w);
}

static void send_request(struct symbolizer_worker *w, uint32_t id)
{
    struct entry *e = &w->entries[id];
    const char *path = w->paths[e->path_id];
    size_t len = strlen(path);
    if (w->sock < 0 || len > REQUEST_PATH_MAX) {
        e->state = ENTRY_DONE;
        w->pending--;
        w->unsent--;
        return;
    }
    unsigned char msg[REQUEST_MAX];
    put_u32(msg, id);
    put_u32(msg + 4, (uint32_t)len);
    uint64_t offset = e->offset;
    memcpy(msg + 8, &offset, sizeof(offset));
    msg[16] = e->return_address;
    /* The path's length is in the head: it goes without its NUL. */
    memcpy(msg + REQUEST_HEAD, path, len); // NOLINT(bugprone-not-null-terminated-result)
    ssize_t sent = send(w->sock, msg, REQUEST_HEAD + len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent == (ssize_t)(REQUEST_HEAD + len)) {
        e->state = ENTRY_PENDING;
        w->unsent--;
    } else if (sent >= 0 || (errno != EAGAIN && errno != EINTR)) {
        char why[128];
        snprintf(why, sizeof(why), "cannot be asked (%s)",
                 sent < 0 ? strerror(errno) : "short send");
        helper_gone(w, why);
    }
}

/* Frames from an answer, in one block: the frames, then their strings. */
static int take_answer(struct symbolizer_worker *w, const unsigned char *msg, size_t len)
{
    if (len < ANSWER_HEAD)
        return -1;
    uint32_t id = get_u32(msg), n = get_u32(msg + 4);
    if (id >= w->nentries || w->entries[id].state != ENTRY_PENDING || n > len / FRAME_HEAD)
        return -1;
    struct entry *e = &w->entries[id];
    size_t strings = 0;
    for (size_t at = ANSWER_HEAD, i = 0; i < n; i++) {
        if (at + FRAME_HEAD > len)
            return -1;
        uint32_t fn_len = get_u32(msg + at + 5), file_len = get_u32(msg + at + 9);
        at += FRAME_HEAD;
        for (uint32_t l = fn_len, k = 0; k < 2; k++, l = file_len) {
            if (l == NO_STRING)
                continue;
            if (l > len - at)
                return -1;
            at += l;
            strings += (size_t)l + 1;
        }
    }
    if (n == 0) { /* the helper could not look it up: module+offset */
        e->state = ENTRY_DONE;
        w->pending--;
        return 0;
    }
    struct sym_frame_ext *fr = malloc(n * sizeof(*fr) + strings);
    if (!fr) { /* no room for names: module+offset it stays */
        e->state = ENTRY_DONE;
        w->pending--;
        return 0;
    }
    char *str = (char *)(fr + n);
    for (size_t at = ANSWER_HEAD, i = 0; i < n; i++) {
        int32_t line;
        memcpy(&line, msg + at, sizeof(line));
        fr[i] = (struct sym_frame_ext){ .f = e->frames[0].f, .inlined = msg[at + 4] != 0 };
        fr[i].f.line = line;
        const char **dst[2] = { &fr[i].f.function, &fr[i].f.file };
        uint32_t lens[2] = { get_u32(msg + at + 5), get_u32(msg + at + 9) };
        at += FRAME_HEAD;
        for (int k = 0; k < 2; k++) {
            *dst[k] = NULL;
            if (lens[k] == NO_STRING)
                continue;
            memcpy(str, msg + at, lens[k]);
            str[lens[k]] = '\0';
            *dst[k] = str;
            str += lens[k] + 1;
            at += lens[k];
        }
    }
    free(e->frames);
    e->frames = fr;
    e->n = n;
    e->state = ENTRY_DONE;
    w->pending--;
    return 0;
}

void symbolizer_worker_poll(struct symbolizer_worker *w)
{
    if (!w)
        return;
    unsigned char msg[ANSWER_MAX];
    while (w->sock >= 0) {
        ssize_t got = recv(w->sock, msg, sizeof(msg), MSG_DONTWAIT);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            break;
        if (got <= 0) {
            char why[128];
            snprintf(why, sizeof(why), "ended (%s)", got == 0 ? "end of file" : strerror(errno));
            helper_gone(w, why);
            break;
        }
        if (take_answer(w, msg, (size_t)got) != 0)
            helper_gone(w, "sent an answer that makes no sense");
    }
    for (size_t i = 0; w->unsent && w->sock >= 0 && i < w->nentries; i++)
        if (w->entries[i].state == ENTRY_UNSENT)
            send_request(w, (uint32_t)i);
}

size_t symbolizer_worker_pending(const struct symbolizer_worker *w)
{
    return w ? w->pending : 0;
}

static uint32_t intern_path(struct symbolizer_worker *w, const char *path)
{
    for (size_t i = 0; i < w->npaths; i++)
        if (strcmp(w->paths[i], path) == 0)
            return (uint32_t)i;
    char **p = mt_grow(w->paths, &w->paths_cap, w->npaths + 1, sizeof(*p));
    if (!p)
        return NO_PATH;
    w->paths = p;
    if (!(w->paths[w->npaths] = strdup(path)))
        return NO_PATH;
    return (uint32_t)w->npaths++;
}

static size_t slot_of(const struct symbolizer_worker *w, uint32_t path_id, mt_addr ip, bool ret)
{
    uint64_t x = (ip ^ ((uint64_t)path_id << 40) ^ (uint64_t)ret) * 0x9e3779b97f4a7c15ULL;
    size_t mask = w->index_cap - 1;
    for (size_t i = (size_t)(x >> 17) & mask;; i = (i + 1) & mask) {
        uint32_t id = w->index[i];
        if (!id)
            return i;
        const struct entry *e = &w->entries[id - 1];
        if (e->path_id == path_id && e->ip == ip && e->return_address == ret)
            return i;
    }
}

/* Doubles the index when it is half full; false when out of memory. */
static bool index_room(struct symbolizer_worker *w)
{
    if ((w->nentries + 1) * 2 <= w->index_cap)
        return true;
    size_t old_cap = w->index_cap;
    uint32_t *old = w->index;
    w->index_cap = old_cap * 2;
    w->index = calloc(w->index_cap, sizeof(*w->index));
    if (!w->index) {
        w->index = old;
        w->index_cap = old_cap;
        return false;
    }
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        const struct entry *e = &w->entries[old[i] - 1];
        w->index[slot_of(w, e->path_id, e->ip, e->return_address)] = old[i];
    }
    free(old);
    return true;
}

unsigned symbolizer_worker_lookup(struct symbolizer_worker *w, const struct symbolizer *s,
                                  mt_addr ip, uint32_t gen, bool return_address,
                                  const struct sym_frame_ext **frames)
{
    const char *path = NULL;
    mt_addr offset = 0;
    uint32_t path_id = NO_PATH;
    if (symbolizer_locate(s, ip, gen, return_address, &path, &offset))
        path_id = intern_path(w, path);
    w->oom_frame = (struct sym_frame_ext){ .f.address = ip };
    if (path && path_id == NO_PATH) {
        *frames = &w->oom_frame;
        return 1;
    }
    size_t slot = slot_of(w, path_id, ip, return_address);
    if (!w->index[slot]) {
        struct entry *grown = mt_grow(w->entries, &w->entries_cap, w->nentries + 1, sizeof(*grown));
        if (grown)
            w->entries = grown;
        struct sym_frame_ext *fr = grown ? calloc(1, sizeof(*fr)) : NULL;
        if (!fr || !index_room(w)) {
            free(fr);
            *frames = &w->oom_frame;
            return 1;
        }
        fr->f.address = ip;
        if (path_id != NO_PATH) {
            fr->f.module = w->paths[path_id];
            fr->f.module_offset = offset;
        }
        uint32_t id = (uint32_t)w->nentries++;
        w->entries[id] = (struct entry){ .path_id = path_id,
                                         .ip = ip,
                                         .offset = offset,
                                         .return_address = return_address,
                                         .state = ENTRY_DONE,
                                         .n = 1,
                                         .frames = fr };
        w->index[slot_of(w, path_id, ip, return_address)] = id + 1;
        if (path_id != NO_PATH && w->sock >= 0) {
            w->entries[id].state = ENTRY_UNSENT;
            w->pending++;
            w->unsent++;
            send_request(w, id);
        }
        slot = slot_of(w, path_id, ip, return_address);
    }
    const struct entry *e = &w->entries[w->index[slot] - 1];
    *frames = e->frames;
    return e->n;
}
