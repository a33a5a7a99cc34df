/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/signals.h"

#include <signal.h>

#include "common/macro.h"

/* Linux's names without the "SIG" prefix, indexed by number (as in signal(7)); realtime signals have none. */
static const char *const signal_table[] = {
        [SIGHUP] = "HUP",       [SIGINT] = "INT",   [SIGQUIT] = "QUIT",   [SIGILL] = "ILL",   [SIGTRAP] = "TRAP",
        [SIGABRT] = "ABRT",     [SIGBUS] = "BUS",   [SIGFPE] = "FPE",     [SIGKILL] = "KILL", [SIGUSR1] = "USR1",
        [SIGSEGV] = "SEGV",     [SIGUSR2] = "USR2", [SIGPIPE] = "PIPE",   [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
        [SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD", [SIGCONT] = "CONT",   [SIGSTOP] = "STOP", [SIGTSTP] = "TSTP",
        [SIGTTIN] = "TTIN",     [SIGTTOU] = "TTOU", [SIGURG] = "URG",     [SIGXCPU] = "XCPU", [SIGXFSZ] = "XFSZ",
        [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH", [SIGIO] = "IO",     [SIGPWR] = "PWR",
        [SIGSYS] = "SYS",
};

const char *signal_to_string(int sig) {
        return sig > 0 && (size_t) sig < ELEMENTSOF(signal_table) ? signal_table[sig] : NULL;
}

int signal_from_string(const char *s) {
        if (isempty(s))
                return -EINVAL;
        const char *n = startswith(s, "SIG") ?: s;
        for (size_t i = 1; i < ELEMENTSOF(signal_table); i++)
                if (signal_table[i] && streq(n, signal_table[i]))
                        return (int) i;
        /* Aliases that moby/sys/signal accepts too. */
        if (streq(n, "IOT"))
                return SIGABRT;
        if (streq(n, "POLL"))
                return SIGIO;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v <= 0 || v >= NSIG)
                return -EINVAL;
        return (int) v;
}
