/* Fault injection: see fault.h. */
#include "fault.h"
#include "diag.h"
#include <inttypes.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_MAX_RULES 8

struct fault_rule {
    enum fault_class cls;
    uint64_t nth;
    int err;
};

/* Owned by this module: the rules of MEMTRACE_INJECT_FAULT and the number
 * of calls each class has made so far. */
static struct fault_rule rules[FAULT_MAX_RULES];
static size_t nrules;
static uint64_t calls[FAULT_CLASS_COUNT];

static const struct { const char *name; enum fault_class cls; } class_names[] = {
    { "ptrace", FAULT_PTRACE }, { "wait", FAULT_WAIT }, { "vm", FAULT_VM }, { "proc", FAULT_PROC },
};

static const struct { const char *name; int err; } errno_names[] = {
    { "EPERM", EPERM }, { "ESRCH", ESRCH }, { "EIO", EIO }, { "EINTR", EINTR },
    { "EFAULT", EFAULT }, { "ENOMEM", ENOMEM }, { "EMFILE", EMFILE }, { "EACCES", EACCES },
    { "EAGAIN", EAGAIN },
};

static bool parse_rule(const char *text, size_t len, struct fault_rule *out)
{
    char buf[64];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *nth_text = strchr(buf, ':');
    char *err_text = nth_text ? strchr(nth_text + 1, ':') : NULL;
    if (!err_text)
        return false;
    *nth_text++ = '\0';
    *err_text++ = '\0';
    bool known = false;
    for (size_t i = 0; i < sizeof(class_names) / sizeof(class_names[0]); i++)
        if (strcmp(buf, class_names[i].name) == 0) {
            out->cls = class_names[i].cls;
            known = true;
        }
    char *end;
    errno = 0;
    unsigned long long nth = strtoull(nth_text, &end, 10);
    if (!known || errno || end == nth_text || *end || nth == 0 || nth_text[0] == '-')
        return false;
    out->nth = nth;
    for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
        if (strcmp(err_text, errno_names[i].name) == 0) {
            out->err = errno_names[i].err;
            return true;
        }
    return false;
}

int fault_configure(const char *spec, char *why, size_t why_len)
{
    nrules = 0;
    memset(calls, 0, sizeof(calls));
    if (!spec)
        return 0;
    while (*spec) {
        size_t len = strcspn(spec, ",");
        if (nrules == FAULT_MAX_RULES || !parse_rule(spec, len, &rules[nrules])) {
            snprintf(why, why_len, "MEMTRACE_INJECT_FAULT: bad rule '%.*s' (want CLASS:N:ERRNO, "
                     "at most %d rules; CLASS ptrace, wait, vm or proc)", (int)len, spec,
                     FAULT_MAX_RULES);
            nrules = 0;
            return -1;
        }
        nrules++;
        spec += len + (spec[len] == ',');
    }
    return 0;
}

int fault_next(enum fault_class c)
{
    if (nrules == 0)
        return 0;
    uint64_t n = ++calls[c];
    for (size_t i = 0; i < nrules; i++) {
        if (rules[i].cls == c && rules[i].nth == n) {
            mt_warn("injected fault: %s call %" PRIu64 " fails with %s", class_names[c].name, n,
                    strerror(rules[i].err));
            return rules[i].err;
        }
    }
    return 0;
}
