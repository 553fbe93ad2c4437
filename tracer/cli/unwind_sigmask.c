/* Why memtrace defines sigprocmask.
 *
 * libunwind guards its unwind-info cache with a lock, and around the lock it
 * blocks every signal: two rt_sigprocmask syscalls per unwind step, about 20
 * of the ~35 syscalls memtrace makes per traced malloc+free pair. Debian's
 * libunwind is built without __thread, so UNW_CACHE_PER_THREAD silently falls
 * back to that global, locked cache. The masking protects signal handlers
 * that unwind; memtrace's handlers only forward a signal with kill().
 *
 * The executable's definition comes first in the dynamic linker's lookup, so
 * libunwind's calls arrive here. Calls from libunwind's own code are answered
 * without a syscall (its lock/unlock calls come in pairs and only hand the
 * saved mask back); every other caller gets the real system call. */
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <libunwind.h>

/* Owned by this file: the text range of libunwind, found on first use. */
static uintptr_t unwind_text_lo, unwind_text_hi;
static bool unwind_text_known;

/* cppcheck-suppress constParameter ; dl_iterate_phdr's callback type */
static int find_text(struct dl_phdr_info *info, size_t size, void *base)
{
    (void)size;
    if ((void *)info->dlpi_addr != base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            unwind_text_lo = info->dlpi_addr + ph->p_vaddr;
            unwind_text_hi = unwind_text_lo + ph->p_memsz;
        }
    }
    return 1;
}

static bool called_from_libunwind(uintptr_t ret)
{
    if (!unwind_text_known) {
        Dl_info info;
        if (dladdr((void *)(uintptr_t)&unw_init_remote, &info) && info.dli_fbase)
            dl_iterate_phdr(find_text, info.dli_fbase);
        unwind_text_known = true;
    }
    return ret >= unwind_text_lo && ret < unwind_text_hi;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *oset)
{
    if (called_from_libunwind((uintptr_t)__builtin_return_address(0))) {
        if (oset)
            memset(oset, 0, sizeof(*oset));
        return 0;
    }
    return (int)syscall(SYS_rt_sigprocmask, how, set, oset, _NSIG / 8);
}
