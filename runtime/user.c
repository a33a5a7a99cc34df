/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/user.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "common/fileio.h"

void resolved_user_done(ResolvedUser *u) {
        free(u->groups);
        free(u->home);
        *u = (ResolvedUser){};
}

/* The content of etc/<name> from the top-most lower dir that has it, NULL when none has. */
static int read_etc(char *const *lower_dirs, const char *name, char **ret) {
        size_t n = 0;
        while (lower_dirs && lower_dirs[n])
                n++;
        for (size_t i = n; i > 0; i--) {
                _cleanup_close_ int root = open(lower_dirs[i - 1], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (root < 0)
                        continue;
                char rel[32];
                snprintf(rel, sizeof(rel), "etc/%s", name);
                struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
                _cleanup_close_ int fd = (int) syscall(SYS_openat2, root, rel, &how, sizeof(how));
                if (fd < 0)
                        continue;
                return read_full_fd(fd, 16u * 1024u * 1024u, ret, NULL);
        }
        *ret = NULL;
        return 0;
}

static bool parse_id(const char *s, unsigned long *ret) {
        if (!s || !*s)
                return false;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (*end || errno || v > UINT32_MAX - 1)
                return false;
        *ret = v;
        return true;
}

/* Splits a colon-separated line into at most max fields (in place). */
static size_t split(char *line, char **f, size_t max) {
        size_t n = 0;
        f[n++] = line;
        for (char *p = line; *p && n < max; p++)
                if (*p == ':') {
                        *p = 0;
                        f[n++] = p + 1;
                }
        return n;
}

typedef bool (*line_fn)(char **f, size_t n, void *userdata);

static void for_each_line(char *text, size_t nfields, line_fn fn, void *userdata) {
        if (!text)
                return;
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (*l == '#' || !*l)
                        continue;
                char *f[8];
                _cleanup_free_ char *copy = strdup(l);
                if (!copy)
                        return;
                size_t n = split(copy, f, nfields);
                if (fn(f, n, userdata))
                        return;
        }
}

typedef struct PasswdMatch {
        const char *name;
        unsigned long uid;
        bool by_name, found;
        unsigned long out_uid, out_gid;
        char *out_name, *out_home;
} PasswdMatch;

static bool passwd_line(char **f, size_t n, void *userdata) {
        PasswdMatch *m = userdata;
        unsigned long uid, gid;
        if (n < 4 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
                return false;
        if (m->by_name ? !streq(f[0], m->name) : uid != m->uid)
                return false;
        m->found = true;
        m->out_uid = uid;
        m->out_gid = gid;
        m->out_name = strdup(f[0]);
        m->out_home = n >= 6 ? strdup(f[5]) : NULL;
        return true;
}

typedef struct GroupScan {
        const char *group_name; /* resolve this name to a gid */
        bool group_found;
        unsigned long group_gid;
        const char *member; /* collect gids listing this user */
        gid_t *gids;
        size_t n_gids;
} GroupScan;

static bool group_line(char **f, size_t n, void *userdata) {
        GroupScan *g = userdata;
        unsigned long gid;
        if (n < 3 || !parse_id(f[2], &gid))
                return false;
        if (g->group_name && !g->group_found && streq(f[0], g->group_name)) {
                g->group_found = true;
                g->group_gid = gid;
        }
        if (g->member && n >= 4) {
                char *save = NULL;
                for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
                        if (streq(m, g->member)) {
                                gid_t *ng = realloc(g->gids, (g->n_gids + 1) * sizeof(gid_t));
                                if (!ng)
                                        return true;
                                g->gids = ng;
                                g->gids[g->n_gids++] = (gid_t) gid;
                                break;
                        }
        }
        return false;
}

int user_resolve(char *const *lower_dirs, const char *user, ResolvedUser *ret, ErrorBuf *e) {
        _cleanup_free_ char *copy = strdup(user ?: "0");
        RET_NULL_ENOMEM(copy);
        char *group = strchr(copy, ':');
        if (group)
                *group++ = 0;
        if (!*copy || (group && !*group))
                return error_set(e, -EINVAL, "user \"%s\": empty user or group", user);

        _cleanup_free_ char *passwd = NULL, *groupf = NULL;
        int r = read_etc(lower_dirs, "passwd", &passwd);
        if (r < 0)
                return error_set(e, r, "reading /etc/passwd of the rootfs: %s", strerror(-r));
        r = read_etc(lower_dirs, "group", &groupf);
        if (r < 0)
                return error_set(e, r, "reading /etc/group of the rootfs: %s", strerror(-r));

        PasswdMatch m = {.name = copy};
        m.by_name = !parse_id(copy, &m.uid);
        _cleanup_free_ char *pw_copy = passwd ? strdup(passwd) : NULL;
        for_each_line(pw_copy, 7, passwd_line, &m);
        _cleanup_free_ char *uname = m.out_name, *home = m.out_home;
        if (m.by_name && !m.found)
                return error_set(e, -ENOENT, "unable to find user %s: no matching entries in passwd file", copy);
        ResolvedUser u = {.uid = (uid_t) (m.found ? m.out_uid : m.uid), .gid = (gid_t) (m.found ? m.out_gid : 0)};

        GroupScan g = {.member = uname};
        if (group) {
                unsigned long gid;
                if (parse_id(group, &gid))
                        u.gid = (gid_t) gid;
                else
                        g.group_name = group;
        }
        _cleanup_free_ char *gr_copy = groupf ? strdup(groupf) : NULL;
        if (gr_copy)
                for_each_line(gr_copy, 4, group_line, &g);
        if (g.group_name) {
                if (!g.group_found) {
                        free(g.gids);
                        return error_set(e, -ENOENT, "unable to find group %s: no matching entries in group file",
                                         group);
                }
                u.gid = (gid_t) g.group_gid;
        }
        /* Drop the primary group from the supplementary list. */
        size_t k = 0;
        for (size_t i = 0; i < g.n_gids; i++)
                if (g.gids[i] != u.gid)
                        g.gids[k++] = g.gids[i];
        u.groups = g.gids;
        u.n_groups = k;
        u.home = TAKE_PTR(home);
        *ret = u;
        return 0;
}
