/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/seccomp.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <linux/capability.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "runtime/caps.h"

/* Allowed for every container (containerd's list; syscalls unknown to this architecture are skipped). */
static const char default_allow[] =
        "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime "
        "clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep "
        "clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create "
        "epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 "
        "execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir "
        "fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork "
        "fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex "
        "futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 "
        "getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid "
        "getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit "
        "get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid "
        "getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy "
        "io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill "
        "landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat "
        "listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack "
        "membarrier memfd_create mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 "
        "mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend "
        "mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap "
        "nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal "
        "pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 "
        "prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink "
        "readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename "
        "renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo "
        "rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity "
        "sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler "
        "sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam "
        "sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send "
        "sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 "
        "setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid "
        "setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area "
        "set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd "
        "signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink "
        "symlinkat sync sync_file_range syncfs sysinfo syslog tee tgkill time timer_create timer_delete "
        "timer_getoverrun "
        "timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime "
        "timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname "
        "unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev "
        "arch_prctl modify_ldt socket";

/* Extra syscalls per capability in the bounding set, as containerd grants them. */
static const struct {
        int cap;
        const char *names;
} cap_allow[] = {
        {CAP_DAC_READ_SEARCH, "open_by_handle_at"},
        {CAP_SYS_ADMIN, "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
                        "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
                        "sethostname setns syslog umount umount2 unshare"},
        {CAP_SYS_BOOT, "reboot"},
        {CAP_SYS_CHROOT, "chroot"},
        {CAP_SYS_MODULE, "delete_module init_module finit_module"},
        {CAP_SYS_PACCT, "acct"},
        {CAP_SYS_PTRACE, "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"},
        {CAP_SYS_RAWIO, "iopl ioperm"},
        {CAP_SYS_TIME, "settimeofday stime clock_settime clock_settime64"},
        {CAP_SYS_TTY_CONFIG, "vhangup"},
        {CAP_SYS_NICE, "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"},
        {CAP_SYSLOG, "syslog"},
        {CAP_BPF, "bpf"},
        {CAP_PERFMON, "perf_event_open"},
};

static int add_names(json_t *names, const char *list) {
        const char *p = list;
        while (*p) {
                size_t l = strcspn(p, " ");
                if (l > 0 && json_array_append_new(names, json_stringn(p, l)) < 0)
                        return -ENOMEM;
                p += l;
                p += strspn(p, " ");
        }
        return 0;
}

static int add_rule(json_t *syscalls, const char *names, json_t *args, const char *action, int errno_ret) {
        json_t *rule = json_object(), *n = json_array();
        if (!rule || !n || json_array_append_new(syscalls, rule) < 0) {
                json_decref(rule);
                json_decref(n);
                json_decref(args);
                return -ENOMEM;
        }
        if (json_object_set_new(rule, "names", n) < 0 || add_names(n, names) < 0 ||
            json_object_set_new(rule, "action", json_string(action)) < 0)
                return json_decref(args), -ENOMEM;
        if (args && json_object_set_new(rule, "args", args) < 0)
                return -ENOMEM;
        if (errno_ret && json_object_set_new(rule, "errnoRet", json_integer(errno_ret)) < 0)
                return -ENOMEM;
        return 0;
}

int seccomp_default_profile(uint64_t caps, json_t **ret) {
        _cleanup_json_ json_t *p = json_pack("{s:s,s:[s,s,s],s:[]}", "defaultAction", "SCMP_ACT_ERRNO", "architectures",
                                             "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls");
        RET_NULL_ENOMEM(p);
        json_t *sc = json_object_get(p, "syscalls");
        int r = add_rule(sc, default_allow, NULL, "SCMP_ACT_ALLOW", 0);
        /* personality: only the harmless personas (PER_LINUX, PER_LINUX32, query). */
        static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(personas); i++)
                r = add_rule(sc, "personality",
                             json_pack("[{s:i,s:I,s:s}]", "index", 0, "value", (json_int_t) personas[i], "op",
                                       "SCMP_CMP_EQ"),
                             "SCMP_ACT_ALLOW", 0);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(cap_allow); i++)
                if (caps & (UINT64_C(1) << cap_allow[i].cap))
                        r = add_rule(sc, cap_allow[i].names, NULL, "SCMP_ACT_ALLOW", 0);
        if (r == 0 && !(caps & (UINT64_C(1) << CAP_SYS_ADMIN))) {
                /* Threads and forks yes, new namespaces no; clone3's flags live in memory seccomp cannot read, so
                 * it gets ENOSYS and libc falls back to clone. */
                const json_int_t nsflags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                           CLONE_NEWNET | CLONE_NEWCGROUP;
                r = add_rule(sc, "clone",
                             json_pack("[{s:i,s:I,s:I,s:s}]", "index", 0, "value", nsflags, "valueTwo", (json_int_t) 0,
                                       "op", "SCMP_CMP_MASKED_EQ"),
                             "SCMP_ACT_ALLOW", 0);
                r = r ?: add_rule(sc, "clone3", NULL, "SCMP_ACT_ERRNO", ENOSYS);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

static int parse_action(const char *s, int errno_ret, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        if (streq(s, "SCMP_ACT_ALLOW"))
                *ret = SCMP_ACT_ALLOW;
        else if (streq(s, "SCMP_ACT_ERRNO"))
                *ret = SCMP_ACT_ERRNO((uint32_t) errno_ret);
        else if (streq(s, "SCMP_ACT_KILL") || streq(s, "SCMP_ACT_KILL_THREAD"))
                *ret = SCMP_ACT_KILL_THREAD;
        else if (streq(s, "SCMP_ACT_KILL_PROCESS"))
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (streq(s, "SCMP_ACT_TRAP"))
                *ret = SCMP_ACT_TRAP;
        else if (streq(s, "SCMP_ACT_TRACE"))
                *ret = SCMP_ACT_TRACE((uint32_t) errno_ret);
        else if (streq(s, "SCMP_ACT_LOG"))
                *ret = SCMP_ACT_LOG;
        else
                return -EOPNOTSUPP; /* SCMP_ACT_NOTIFY needs a listener we do not have */
        return 0;
}

static int parse_op(const char *s, enum scmp_compare *ret) {
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {
                {"SCMP_CMP_NE", SCMP_CMP_NE},
                {"SCMP_CMP_LT", SCMP_CMP_LT},
                {"SCMP_CMP_LE", SCMP_CMP_LE},
                {"SCMP_CMP_EQ", SCMP_CMP_EQ},
                {"SCMP_CMP_GE", SCMP_CMP_GE},
                {"SCMP_CMP_GT", SCMP_CMP_GT},
                {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
        };
        for (size_t i = 0; s && i < ELEMENTSOF(ops); i++)
                if (streq(s, ops[i].name)) {
                        *ret = ops[i].op;
                        return 0;
                }
        return -EINVAL;
}

/* "SCMP_ARCH_X86_64" → libseccomp's token. */
static uint32_t resolve_arch(const char *s) {
        char buf[64];
        const char *n = startswith(s, "SCMP_ARCH_") ?: s;
        snprintf(buf, sizeof(buf), "%s", n);
        for (char *p = buf; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return seccomp_arch_resolve_name(buf);
}

/* Docker's includes/excludes: {"caps": [...], "arches": [...]}. Returns true when the rule applies. */
static bool rule_applies(const json_t *rule, uint64_t caps) {
        static const char *const native_names[] = {"amd64", "x86_64", "SCMP_ARCH_X86_64"};
        for (int inc = 0; inc < 2; inc++) {
                const json_t *c = json_object_get(rule, inc ? "includes" : "excludes");
                if (!json_is_object(c))
                        continue;
                size_t i;
                json_t *v;
                json_array_foreach (json_object_get(c, "caps"), i, v) {
                        int cap;
                        bool have =
                                caps_from_name(json_string_value(v) ?: "", &cap) == 0 && (caps & (UINT64_C(1) << cap));
                        if (inc && !have)
                                return false;
                        if (!inc && have)
                                return false;
                }
                const json_t *arches = json_object_get(c, "arches");
                if (json_array_size(arches) > 0) {
                        bool match = false;
                        json_array_foreach (arches, i, v)
                                for (size_t k = 0; k < ELEMENTSOF(native_names); k++)
                                        match = match || streq_ptr(json_string_value(v), native_names[k]);
                        if (inc != match)
                                return false;
                }
        }
        return true;
}

static int add_one(scmp_filter_ctx ctx, uint32_t default_action, const char *name, uint32_t action, const json_t *args,
                   const char *where, ErrorBuf *e) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* unknown to this architecture/libseccomp: skipped, like runc */
        if (action == default_action)
                return 0; /* libseccomp refuses rules that repeat the default */
        size_t n = json_array_size(args);
        if (n > 6)
                return error_set(e, -EINVAL, "%s: more than 6 args", where);
        struct scmp_arg_cmp cmp[6];
        bool same_index = false;
        for (size_t i = 0; i < n; i++) {
                const json_t *a = json_array_get(args, i);
                enum scmp_compare op;
                if (!json_is_object(a) || parse_op(json_string_value(json_object_get(a, "op")), &op) < 0)
                        return error_set(e, -EINVAL, "%s.args[%zu]: invalid or missing \"op\"", where, i);
                json_int_t idx = json_integer_value(json_object_get(a, "index"));
                if (idx < 0 || idx > 5)
                        return error_set(e, -EINVAL, "%s.args[%zu].index: must be 0..5", where, i);
                cmp[i] = (struct scmp_arg_cmp){
                        .arg = (unsigned) idx,
                        .op = op,
                        .datum_a = (scmp_datum_t) json_integer_value(json_object_get(a, "value")),
                        .datum_b = (scmp_datum_t) json_integer_value(json_object_get(a, "valueTwo")),
                };
                for (size_t k = 0; k < i; k++)
                        same_index = same_index || cmp[k].arg == cmp[i].arg;
        }
        int r;
        if (same_index) {
                /* Several conditions on one argument mean "any of them" in runc's reading of the OCI format:
                 * one rule each. */
                for (size_t i = 0; i < n; i++)
                        if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp[i])) < 0)
                                return error_set(e, r, "%s: %s: %s", where, name, strerror(-r));
                return 0;
        }
        r = seccomp_rule_add_array(ctx, action, nr, (unsigned) n, cmp);
        if (r < 0)
                return error_set(e, r, "%s: %s: %s", where, name, strerror(-r));
        return 0;
}

static void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

int seccomp_compile_json(const json_t *profile, uint64_t caps, int fd, ErrorBuf *e) {
        if (!json_is_object(profile))
                return error_set(e, -EINVAL, "seccomp profile: expected an object");
        json_int_t def_errno = EPERM;
        const json_t *de = json_object_get(profile, "defaultErrnoRet");
        if (json_is_integer(de))
                def_errno = json_integer_value(de);
        uint32_t def;
        const char *defs = json_string_value(json_object_get(profile, "defaultAction"));
        if (parse_action(defs, (int) def_errno, &def) < 0)
                return error_set(e, -EINVAL, "seccomp profile: defaultAction: unsupported \"%s\"", strna(defs));

        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(def);
        RET_NULL_ENOMEM(ctx);
        /* no_new_privs is the container's own setting; never let libseccomp force it. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        /* A binary tree instead of a linear list of ~400 comparisons: the kernel runs the filter for every syscall
         * (and at load time for every syscall number, to build its allow cache), so this matters per container. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        /* The export's write errors as they are (ENOSPC on a full disk), not libseccomp's catch-all ECANCELED. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        size_t i;
        json_t *v;
        json_array_foreach (json_object_get(profile, "architectures"), i, v) {
                uint32_t a = resolve_arch(json_string_value(v) ?: "");
                if (a == 0)
                        return error_set(e, -EINVAL, "seccomp profile: architectures[%zu]: unknown \"%s\"", i,
                                         strna(json_string_value(v)));
                int r = seccomp_arch_add(ctx, a);
                if (r < 0 && r != -EEXIST)
                        return error_set(e, r, "seccomp profile: architectures[%zu]: %s", i, strerror(-r));
        }
        /* Docker's archMap: the native architecture's entry names the sub-architectures. */
        json_array_foreach (json_object_get(profile, "archMap"), i, v) {
                if (resolve_arch(json_string_value(json_object_get(v, "architecture")) ?: "") != SCMP_ARCH_NATIVE &&
                    resolve_arch(json_string_value(json_object_get(v, "architecture")) ?: "") != seccomp_arch_native())
                        continue;
                size_t k;
                json_t *sub;
                json_array_foreach (json_object_get(v, "subArchitectures"), k, sub) {
                        uint32_t a = resolve_arch(json_string_value(sub) ?: "");
                        if (a != 0)
                                (void) seccomp_arch_add(ctx, a);
                }
        }
        const json_t *syscalls = json_object_get(profile, "syscalls");
        if (syscalls && !json_is_array(syscalls))
                return error_set(e, -EINVAL, "seccomp profile: syscalls: expected a list");
        json_array_foreach (syscalls, i, v) {
                char where[64];
                snprintf(where, sizeof(where), "seccomp profile: syscalls[%zu]", i);
                if (!json_is_object(v))
                        return error_set(e, -EINVAL, "%s: expected an object", where);
                if (!rule_applies(v, caps))
                        continue;
                const json_t *er = json_object_get(v, "errnoRet");
                const char *acts = json_string_value(json_object_get(v, "action"));
                uint32_t act;
                if (parse_action(acts, json_is_integer(er) ? (int) json_integer_value(er) : EPERM, &act) < 0)
                        return error_set(e, -EINVAL, "%s.action: unsupported \"%s\"", where, strna(acts));
                const json_t *args = json_object_get(v, "args");
                if (args && !json_is_array(args) && !json_is_null(args))
                        return error_set(e, -EINVAL, "%s.args: expected a list", where);
                const json_t *names = json_object_get(v, "names");
                const char *name = json_string_value(json_object_get(v, "name"));
                if (!json_is_array(names) && !name)
                        return error_set(e, -EINVAL, "%s: \"names\" (or \"name\") is required", where);
                int r = 0;
                if (name)
                        r = add_one(ctx, def, name, act, args, where, e);
                size_t k;
                json_t *n;
                json_array_foreach (names, k, n) {
                        if (r < 0)
                                break;
                        if (!json_is_string(n))
                                return error_set(e, -EINVAL, "%s.names[%zu]: expected a string", where, k);
                        r = add_one(ctx, def, json_string_value(n), act, args, where, e);
                }
                if (r < 0)
                        return r;
        }
        int r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return error_set(e, r, "seccomp profile: exporting BPF: %s", strerror(-r));
        return 0;
}

/* FNV-1a: a cache key, not a security boundary (the cache directory is root's). */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

int seccomp_prepare(const char *profile_path, uint64_t caps, const char *cache_dir, char **ret_path, ErrorBuf *e) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        /* Bump when the RuntimeDefault tables or the compiler change. */
        static const char version[] = "nodelet-seccomp-v2";
        h = fnv1a(h, version, sizeof(version));
        h = fnv1a(h, &caps, sizeof(caps));
        if (profile_path) {
                int r = read_full_file(profile_path, 4u * 1024u * 1024u, &text, &size);
                if (r < 0)
                        return error_set(e, r, "seccomp profile %s: %s", profile_path, strerror(-r));
                h = fnv1a(h, text, size);
        }
        char *path = NULL;
        if (asprintf(&path, "%s/%s-%016" PRIx64 ".bpf", cache_dir, profile_path ? "localhost" : "default", h) < 0)
                return -ENOMEM;
        _cleanup_free_ char *p = path;
        if (access(p, R_OK) == 0) {
                *ret_path = TAKE_PTR(p);
                return 0;
        }

        _cleanup_json_ json_t *profile = NULL;
        int r;
        if (profile_path) {
                r = jx_parse(text, size, profile_path, &profile, e);
                if (r < 0)
                        return error_prefix(e, r, "seccomp profile");
        } else {
                r = seccomp_default_profile(caps, &profile);
                if (r < 0)
                        return r;
        }
        r = mkdir_p(cache_dir, 0700);
        if (r < 0)
                return error_set(e, r, "%s: %s", cache_dir, strerror(-r));
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.%d.tmp", p, (int) getpid()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return error_set(e, -errno, "%s: %m", tmp);
        r = seccomp_compile_json(profile, caps, fd, e);
        if (r < 0) {
                (void) unlink(tmp);
                if (profile_path)
                        error_prefix(e, r, "%s", profile_path);
                else if (r == -ENOSPC || r == -EDQUOT)
                        error_prefix(e, r, "%s", tmp);
                return r;
        }
        if (rename(tmp, p) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return error_set(e, r, "%s: %s", p, strerror(-r));
        }
        *ret_path = TAKE_PTR(p);
        return 0;
}
