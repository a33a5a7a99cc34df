/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl pods|ps|logs|exec: the daemon's pods as the runtime's state dir shows them (see pods-ctl.h). The
 * container-level work (listing, printing a CRI log, exec) is the runtime's (runtime/runtime-ctl.h); this file adds
 * what needs Kubernetes: grouping containers into pods by their annotations, and finding "the container NAME of pod
 * POD" (its newest instance, or the one before for --previous) the way kubectl does. */
#include "agent/pods-ctl.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/pod.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/strv.h"
#include "runtime/runtime-ctl.h"

/* crictl abbreviates ids to 13 characters in tables; a prefix that long is what `logs`/`exec` then accept. */
#define ID_TRUNC 13

typedef struct CtlContainer {
        Container *c;
        const char *name; /* annotations of c */
        const char *kind; /* "init" or "app" */
        unsigned attempt; /* the restart count it was created for */
        ContainerStatus status;
} CtlContainer;

typedef struct CtlPod {
        char *uid;
        const char *name, *namespace_; /* a container's annotations; NULL for a sandbox without containers */
        CtlContainer *containers;      /* sorted by kind (init first), name, newest attempt first */
        size_t n_containers;
        bool sandbox;
        uint64_t created_at; /* ns since the epoch: the sandbox's, else the oldest container's */
} CtlPod;

typedef struct PodTable {
        Runtime *rt;
        CtlPod *pods; /* newest first, like crictl */
        size_t n_pods;
} PodTable;

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static void pod_table_done(PodTable *t) {
        for (size_t i = 0; i < t->n_pods; i++) {
                for (size_t k = 0; k < t->pods[i].n_containers; k++)
                        container_free(t->pods[i].containers[k].c);
                free(t->pods[i].containers);
                free(t->pods[i].uid);
        }
        t->pods = mfree(t->pods);
        t->n_pods = 0;
        t->rt = runtime_free(t->rt);
}

static CtlPod *table_pod(PodTable *t, const char *uid) {
        for (size_t i = 0; i < t->n_pods; i++)
                if (streq(t->pods[i].uid, uid))
                        return &t->pods[i];
        CtlPod *n = realloc(t->pods, (t->n_pods + 1) * sizeof(CtlPod));
        if (!n)
                return NULL;
        t->pods = n;
        CtlPod *p = &t->pods[t->n_pods];
        *p = (CtlPod){.uid = strdup(uid)};
        if (!p->uid)
                return NULL;
        t->n_pods++;
        return p;
}

static int cmp_container(const void *a, const void *b) {
        const CtlContainer *x = a, *y = b;
        bool xi = streq_ptr(x->kind, "init"), yi = streq_ptr(y->kind, "init");
        if (xi != yi)
                return xi ? -1 : 1;
        int r = strcmp(x->name, y->name);
        if (r != 0)
                return r;
        return x->attempt < y->attempt ? 1 : x->attempt > y->attempt ? -1 : 0;
}

static int cmp_pod(const void *a, const void *b) {
        const CtlPod *x = a, *y = b;
        if (x->created_at != y->created_at)
                return x->created_at < y->created_at ? 1 : -1;
        return strcmp(x->uid, y->uid);
}

static int table_add_container(PodTable *t, Container *c) {
        const char *uid = container_annotation(c, POD_ANNOTATION_POD_UID);
        const char *name = container_annotation(c, POD_ANNOTATION_CONTAINER_NAME);
        if (!uid || !name) {
                container_free(c); /* not a pod's: `nodeletctl run` */
                return 0;
        }
        CtlPod *p = table_pod(t, uid);
        CtlContainer *n = p ? realloc(p->containers, (p->n_containers + 1) * sizeof(CtlContainer)) : NULL;
        if (!n) {
                container_free(c);
                return -ENOMEM;
        }
        p->containers = n;
        CtlContainer *cc = &p->containers[p->n_containers++];
        *cc = (CtlContainer){.c = c, .name = name, .kind = container_annotation(c, POD_ANNOTATION_CONTAINER_KIND)};
        const char *rc = container_annotation(c, POD_ANNOTATION_RESTART_COUNT);
        cc->attempt = rc ? (unsigned) strtoul(rc, NULL, 10) : 0;
        if (container_get_status(c, &cc->status) < 0)
                cc->status.state = CONTAINER_UNKNOWN;
        p->name = p->name ?: container_annotation(c, POD_ANNOTATION_POD_NAME);
        p->namespace_ = p->namespace_ ?: container_annotation(c, POD_ANNOTATION_POD_NAMESPACE);
        if (cc->status.created_at && (!p->created_at || cc->status.created_at < p->created_at))
                p->created_at = cc->status.created_at;
        return 0;
}

/* Pods whose setup made the sandbox but no container yet show up too, by UID only. */
static int table_add_sandboxes(PodTable *t) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/sandboxes", runtime_state_dir(t->rt)) < 0)
                return -ENOMEM;
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Failed to read %s: %m", dir);
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                CtlPod *p = table_pod(t, de->d_name);
                if (!p)
                        return -ENOMEM;
                p->sandbox = true;
                /* The directory changes only while sandbox_create() fills it: its mtime is the sandbox's birth. */
                p->created_at = (uint64_t) st.st_mtim.tv_sec * NSEC_PER_SEC + (uint64_t) st.st_mtim.tv_nsec;
        }
        return 0;
}

static int pod_table_load(const RuntimeCtlOptions *o, PodTable *t) {
        int r = runtime_ctl_open(o, &t->rt);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **ids = NULL;
        r = runtime_list(t->rt, &ids);
        if (r < 0)
                return log_error_errno(r, "Failed to list containers in %s: %m", o->state_dir);
        for (char **id = ids; *id; id++) {
                Container *c = NULL;
                if (container_load(t->rt, *id, &c, NULL) < 0)
                        continue; /* removed meanwhile */
                r = table_add_container(t, c);
                if (r < 0)
                        return log_error_errno(r, "Out of memory");
        }
        r = table_add_sandboxes(t);
        if (r < 0)
                return r == -ENOMEM ? log_error_errno(r, "Out of memory") : r;
        /* qsort() wants a non-NULL array even when empty (a bare sandbox has none). */
        for (size_t i = 0; i < t->n_pods; i++)
                if (t->pods[i].n_containers > 0)
                        qsort(t->pods[i].containers, t->pods[i].n_containers, sizeof(CtlContainer), cmp_container);
        if (t->n_pods > 0)
                qsort(t->pods, t->n_pods, sizeof(CtlPod), cmp_pod);
        return 0;
}

/* The newest instance of each container: the first of each name in the sorted list. */
static bool is_newest(const CtlPod *p, size_t k) {
        return k == 0 || !streq(p->containers[k].name, p->containers[k - 1].name);
}

/* Like crictl's SANDBOX_READY: the pod's namespaces exist and something runs in them. (The pod's Ready condition
 * needs the daemon's probe results: /pods.) */
static bool pod_ready(const CtlPod *p, size_t *ret_running, size_t *ret_total) {
        size_t running = 0, total = 0;
        for (size_t k = 0; k < p->n_containers; k++)
                if (is_newest(p, k)) {
                        total++;
                        running += p->containers[k].status.state == CONTAINER_RUNNING;
                }
        *ret_running = running;
        *ret_total = total;
        return p->sandbox && running > 0;
}

static void format_age(uint64_t ns, char *buf, size_t size) {
        if (!ns) {
                snprintf(buf, size, "-");
                return;
        }
        uint64_t now = (uint64_t) time(NULL) * NSEC_PER_SEC;
        uint64_t s = now > ns ? (now - ns) / NSEC_PER_SEC : 0;
        if (s < 120)
                snprintf(buf, size, "%" PRIu64 "s ago", s);
        else if (s < 7200)
                snprintf(buf, size, "%" PRIu64 "m ago", s / 60);
        else if (s < 2 * 86400)
                snprintf(buf, size, "%" PRIu64 "h ago", s / 3600);
        else
                snprintf(buf, size, "%" PRIu64 "d ago", s / 86400);
}

/* ---- pods ---- */

static void usage_pods(FILE *f) {
        fprintf(f, "usage: nodeletctl pods [-q] [--name REGEX] [--namespace REGEX] [-o table|json] [--no-trunc]\n\n"
                   "Lists the daemon's pods from the runtime state (the daemon need not run), like crictl pods.\n"
                   "STATE is Ready when the pod's sandbox exists and one of its containers runs; CONTAINERS counts\n"
                   "the running ones of the newest instance of each container.\n\n"
                   "  -q, --quiet            only the pod UIDs\n"
                   "  --name REGEX           only pods whose name matches\n"
                   "  -n, --namespace REGEX  only pods whose namespace matches\n"
                   "  -o, --output FORMAT    table (default) or json\n"
                   "  --no-trunc             full pod UIDs in the table\n");
}

static json_t *pod_json(const CtlPod *p, bool ready) {
        json_t *cs = json_array();
        if (!cs)
                return NULL;
        for (size_t k = 0; k < p->n_containers; k++) {
                const CtlContainer *c = &p->containers[k];
                char state[32];
                snprintf(state, sizeof(state), "CONTAINER_%s", container_state_to_string(c->status.state));
                for (char *s = state; *s; s++)
                        *s = (char) toupper((unsigned char) *s);
                if (json_array_append_new(cs, json_pack("{s:s, s:s, s:s?, s:i, s:s, s:i, s:b}", "id",
                                                        container_id(c->c), "name", c->name, "kind", c->kind, "attempt",
                                                        (int) c->attempt, "state", state, "exitCode",
                                                        c->status.exit_code, "newest", is_newest(p, k))) < 0) {
                        json_decref(cs);
                        return NULL;
                }
        }
        char created[32];
        snprintf(created, sizeof(created), "%" PRIu64, p->created_at);
        /* crictl's shape: metadata, state, createdAt (ns, as a string); the containers are ours. */
        return json_pack("{s:s, s:{s:s?, s:s, s:s?, s:i}, s:s, s:s, s:o}", "id", p->uid, "metadata", "name", p->name,
                         "uid", p->uid, "namespace", p->namespace_, "attempt", 0, "state",
                         ready ? "SANDBOX_READY" : "SANDBOX_NOTREADY", "createdAt", created, "containers", cs);
}

static bool matches(regex_t *re, const char *s) {
        return !re || (s && regexec(re, s, 0, NULL, 0) == 0);
}

static void regfreep(regex_t **re) {
        if (*re)
                regfree(*re);
}

int pods_ctl_pods(int argc, char *argv[]) {
        enum { OPT_NAME = 256, OPT_NO_TRUNC };
        static const struct option opts[] = {
                {"quiet", no_argument, NULL, 'q'},
                {"name", required_argument, NULL, OPT_NAME},
                {"namespace", required_argument, NULL, 'n'},
                {"output", required_argument, NULL, 'o'},
                {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        RuntimeCtlOptions o;
        runtime_ctl_options_init(&o);
        const char *name_re = NULL, *ns_re = NULL, *output = "table";
        bool quiet = false, no_trunc = false;
        int c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        while ((c = getopt_long(argc, argv, "qn:o:hv", opts, NULL)) >= 0)
                switch (c) {
                case 'q':
                        quiet = true;
                        break;
                case OPT_NAME:
                        name_re = optarg;
                        break;
                case 'n':
                        ns_re = optarg;
                        break;
                case 'o':
                        output = optarg;
                        break;
                case OPT_NO_TRUNC:
                        no_trunc = true;
                        break;
                case 'h':
                        usage_pods(stdout);
                        return 0;
                default:
                        if (runtime_ctl_option(&o, c, optarg))
                                break;
                        usage_pods(stderr);
                        return 2;
                }
        if (optind < argc || (!streq(output, "table") && !streq(output, "json"))) {
                usage_pods(stderr);
                return 2;
        }
        /* Unanchored extended regular expressions, like crictl's filters. */
        regex_t name_buf, ns_buf;
        _cleanup_(regfreep) regex_t *name_rx = NULL, *ns_rx = NULL;
        const struct {
                const char *opt, *pattern;
                regex_t *buf, **rx;
        } filters[] = {{"--name", name_re, &name_buf, &name_rx}, {"--namespace", ns_re, &ns_buf, &ns_rx}};
        for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
                if (!filters[i].pattern)
                        continue;
                int r = regcomp(filters[i].buf, filters[i].pattern, REG_EXTENDED | REG_NOSUB);
                if (r != 0) {
                        char msg[256];
                        (void) regerror(r, filters[i].buf, msg, sizeof(msg));
                        log_error("%s %s: invalid regular expression: %s", filters[i].opt, filters[i].pattern, msg);
                        return 2;
                }
                *filters[i].rx = filters[i].buf;
        }

        _cleanup_(pod_table_done) PodTable t = {};
        if (pod_table_load(&o, &t) < 0)
                return 1;
        _cleanup_json_ json_t *items = json_array();
        if (!items)
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        int namew = STRLEN("NAME"), nsw = STRLEN("NAMESPACE");
        for (size_t i = 0; i < t.n_pods; i++) {
                namew = MAX(namew, (int) strlen(strempty(t.pods[i].name)));
                nsw = MAX(nsw, (int) strlen(strempty(t.pods[i].namespace_)));
        }
        int idw = no_trunc ? 32 : ID_TRUNC;
        bool table = streq(output, "table");
        if (table && !quiet)
                printf("%-*s %-12s %-9s %-*s %-*s %-7s %s\n", idw, "POD ID", "CREATED", "STATE", namew, "NAME", nsw,
                       "NAMESPACE", "ATTEMPT", "CONTAINERS");
        for (size_t i = 0; i < t.n_pods; i++) {
                const CtlPod *p = &t.pods[i];
                if (!matches(name_rx, p->name) || !matches(ns_rx, p->namespace_))
                        continue;
                size_t running, total;
                bool ready = pod_ready(p, &running, &total);
                if (quiet) {
                        puts(p->uid);
                        continue;
                }
                if (!table) {
                        if (json_array_append_new(items, pod_json(p, ready)) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), 1;
                        continue;
                }
                char age[32];
                format_age(p->created_at, age, sizeof(age));
                /* ATTEMPT is the sandbox's, as in crictl: a nodelet sandbox is named after the pod UID and made
                 * once per pod, so it stays 0; container restarts show in `ps`. */
                printf("%-*.*s %-12s %-9s %-*s %-*s %-7d %zu/%zu\n", idw, idw, p->uid, age,
                       ready ? "Ready" : "NotReady", namew, p->name ?: "-", nsw, p->namespace_ ?: "-", 0, running,
                       total);
        }
        if (!table && !quiet) {
                _cleanup_json_ json_t *root = json_pack("{s:O}", "items", items);
                _cleanup_free_ char *s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
                if (!s)
                        return log_error_errno(-ENOMEM, "Out of memory"), 1;
                puts(s);
        }
        return 0;
}

/* ---- ps ---- */

int pods_ctl_ps(int argc, char *argv[]) {
        /* crictl's NAME, ATTEMPT and POD; containers that are no pod's (`nodeletctl run`) show "-". */
        static const RuntimeCtlColumn columns[] = {
                {"NAME", POD_ANNOTATION_CONTAINER_NAME},
                {"ATTEMPT", POD_ANNOTATION_RESTART_COUNT},
                {"POD", POD_ANNOTATION_POD_NAME},
        };
        return runtime_ctl_ps_columns(argc, argv, columns, ELEMENTSOF(columns));
}

/* ---- finding POD [-c NAME] ---- */

typedef enum PodMatch {
        MATCH_NAME,     /* "web-node1" */
        MATCH_UID,      /* the full UID */
        MATCH_MANIFEST, /* "web": a static pod is named <manifest name>-<node name> */
        MATCH_UID_PREFIX,
        _MATCH_MAX,
} PodMatch;

static bool pod_matches(const CtlPod *p, const char *arg, PodMatch m) {
        const char *rest;
        switch (m) {
        case MATCH_NAME:
                return streq_ptr(p->name, arg);
        case MATCH_UID:
                return streq(p->uid, arg);
        case MATCH_MANIFEST:
                return p->name && (rest = startswith(p->name, arg)) && rest[0] == '-' && rest[1];
        case MATCH_UID_PREFIX:
                return startswith(p->uid, arg) != NULL;
        default:
                return false;
        }
}

/* The pod arg names: the first kind of match (in PodMatch order) that finds any must find exactly one. -ENOENT
 * (not logged) when none does. */
static int find_pod(PodTable *t, const char *arg, const char *ns, CtlPod **ret) {
        for (PodMatch m = 0; m < _MATCH_MAX; m++) {
                CtlPod *found = NULL;
                size_t n = 0;
                for (size_t i = 0; i < t->n_pods; i++) {
                        CtlPod *p = &t->pods[i];
                        if ((!ns || streq_ptr(p->namespace_, ns)) && pod_matches(p, arg, m)) {
                                found = p;
                                n++;
                        }
                }
                if (n == 1) {
                        *ret = found;
                        return 0;
                }
                if (n > 1) {
                        char list[1024] = "";
                        size_t l = 0;
                        for (size_t i = 0; i < t->n_pods && l < sizeof(list); i++)
                                if ((!ns || streq_ptr(t->pods[i].namespace_, ns)) && pod_matches(&t->pods[i], arg, m))
                                        l += (size_t) snprintf(list + l, sizeof(list) - l, "%s%s/%s (%s)",
                                                               l ? ", " : "", t->pods[i].namespace_ ?: "-",
                                                               t->pods[i].name ?: "-", t->pods[i].uid);
                        log_error("pod %s: ambiguous, it matches %zu pods: %s", arg, n, list);
                        return -ENOTUNIQ;
                }
        }
        return -ENOENT; /* the caller says what else it looked for */
}

/* "[a b]" of the newest instances of one kind of container, for kubectl's error messages. */
static void container_names(const CtlPod *p, bool init, char *buf, size_t size) {
        size_t l = (size_t) snprintf(buf, size, "[");
        bool first = true;
        for (size_t k = 0; k < p->n_containers && l < size; k++)
                if (is_newest(p, k) && streq_ptr(p->containers[k].kind, "init") == init) {
                        l += (size_t) snprintf(buf + l, size - l, "%s%s", first ? "" : " ", p->containers[k].name);
                        first = false;
                }
        if (l < size)
                (void) snprintf(buf + l, size - l, "]");
}

static void log_choose_one(const CtlPod *p, const char *what) {
        char apps[512], inits[512];
        container_names(p, false, apps, sizeof(apps));
        container_names(p, true, inits, sizeof(inits));
        log_error("%s, choose one of: %s%s%s", what, apps,
                  streq(inits, "[]") ? "" : " or one of the init containers: ", streq(inits, "[]") ? "" : inits);
}

/* The container of pod p named cname (NULL: the pod's only one), its newest instance or with previous the one
 * before it, like kubectl logs -c/-p. */
static int find_container(const CtlPod *p, const char *cname, bool previous, Container **ret) {
        const CtlContainer *newest = NULL;
        size_t names = 0;
        for (size_t k = 0; k < p->n_containers; k++)
                if (is_newest(p, k)) {
                        names++;
                        if (!cname || streq(p->containers[k].name, cname))
                                newest = newest ?: &p->containers[k];
                }
        if (cname && !newest) {
                char what[512];
                snprintf(what, sizeof(what), "container %s is not valid for pod %s", cname, p->name ?: p->uid);
                log_choose_one(p, what);
                return -ENOENT;
        }
        if (!cname && names > 1) {
                char what[512];
                snprintf(what, sizeof(what), "a container name must be specified for pod %s (-c NAME)",
                         p->name ?: p->uid);
                log_choose_one(p, what);
                return -EINVAL;
        }
        if (!newest) {
                log_error("pod %s: has no containers yet", p->name ?: p->uid);
                return -ENOENT;
        }
        if (!previous) {
                *ret = newest->c;
                return 0;
        }
        /* The daemon keeps exactly one previous instance, for lastState and this. */
        for (const CtlContainer *c = newest + 1; newest->attempt > 0 && c < p->containers + p->n_containers; c++)
                if (streq(c->name, newest->name) && c->attempt == newest->attempt - 1) {
                        *ret = c->c;
                        return 0;
                }
        log_error("previous terminated container \"%s\" in pod \"%s\" not found", newest->name, p->name ?: p->uid);
        return -ENOENT;
}

/* What a logs/exec argument names: a container ID (the runtime's own form, unless -c or --previous say a pod is
 * meant), else a pod and one of its containers. *ret is borrowed from t or, for an ID, owned by *ret_owned. */
static int resolve(PodTable *t, const char *arg, const char *ns, const char *cname, bool previous,
                   Container **ret_owned, Container **ret) {
        bool id_form = !cname && !previous && !ns;
        if (id_form && container_load(t->rt, arg, ret_owned, NULL) >= 0) {
                *ret = *ret_owned;
                return 0;
        }
        CtlPod *p = NULL;
        int r = find_pod(t, arg, ns, &p);
        if (r == -ENOENT) {
                if (id_form)
                        log_error("container %s: not found, and no pod is called that either (nodeletctl ps -a, "
                                  "nodeletctl pods)",
                                  arg);
                else if (ns)
                        log_error("pod %s: not found in namespace %s", arg, ns);
                else
                        log_error("pod %s: not found (nodeletctl pods lists them)", arg);
        }
        if (r < 0)
                return r;
        return find_container(p, cname, previous, ret);
}

/* ---- logs ---- */

static void usage_logs(FILE *f) {
        fprintf(f, "usage: nodeletctl logs [-f] [--tail N] [-p|--previous] [--timestamps] [-n NAMESPACE]\n"
                   "                       (POD [-c CONTAINER] | CONTAINER-ID)\n\n"
                   "Prints a container's log. POD is a pod name, the manifest's name when it is unique on this node,\n"
                   "or a prefix of the pod UID; -c picks the container when the pod has more than one.\n\n"
                   "  -c, --container NAME  the container of the pod\n"
                   "  -f, --follow          keep printing what the container writes until it exits\n"
                   "  --tail N              only the last N lines\n"
                   "  -p, --previous        the instance before the newest (the one that last exited)\n"
                   "  -t, --timestamps      prefix each line with its RFC 3339 time\n"
                   "  -n, --namespace NS    the pod's namespace\n");
}

int pods_ctl_logs(int argc, char *argv[]) {
        enum { OPT_TAIL = 256 };
        static const struct option opts[] = {
                {"container", required_argument, NULL, 'c'},
                {"follow", no_argument, NULL, 'f'},
                {"tail", required_argument, NULL, OPT_TAIL},
                {"previous", no_argument, NULL, 'p'},
                {"timestamps", no_argument, NULL, 't'},
                {"namespace", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        RuntimeCtlOptions o;
        runtime_ctl_options_init(&o);
        const char *cname = NULL, *ns = NULL;
        bool follow = false, previous = false, timestamps = false;
        unsigned tail = 0;
        int c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        /* Options may follow POD, as with kubectl (`logs web -c httpd`): there is no command line to protect. */
        while ((c = getopt_long(argc, argv, "c:fptn:hv", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        cname = optarg;
                        break;
                case 'f':
                        follow = true;
                        break;
                case OPT_TAIL: {
                        char *end;
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || *end || v < -1 || v > (long) UINT32_MAX) {
                                log_error("--tail %s: not a number of lines", optarg);
                                return 2;
                        }
                        tail = v < 0 ? 0 : (unsigned) v; /* kubectl: -1 = everything */
                        break;
                }
                case 'p':
                        previous = true;
                        break;
                case 't':
                        timestamps = true;
                        break;
                case 'n':
                        ns = optarg;
                        break;
                case 'h':
                        usage_logs(stdout);
                        return 0;
                default:
                        if (runtime_ctl_option(&o, c, optarg))
                                break;
                        usage_logs(stderr);
                        return 2;
                }
        if (argc - optind != 1) {
                usage_logs(stderr);
                return 2;
        }
        _cleanup_(pod_table_done) PodTable t = {};
        _cleanup_(container_freep) Container *owned = NULL;
        Container *target = NULL;
        if (pod_table_load(&o, &t) < 0 || resolve(&t, argv[optind], ns, cname, previous, &owned, &target) < 0)
                return 1;
        return runtime_ctl_print_log(target, tail, follow, timestamps) < 0 ? 1 : 0;
}

/* ---- exec ---- */

static void usage_exec(FILE *f) {
        fprintf(f, "usage: nodeletctl exec [-e K=V]... [--timeout SECONDS] [-n NAMESPACE] [--root-dir DIR]\n"
                   "                       [--state-dir DIR] [-v] (POD [-c CONTAINER] | CONTAINER-ID) [--] COMMAND "
                   "[ARG...]\n\n"
                   "Runs a command in a running container (its namespaces, cgroup, user, capabilities, seccomp)\n"
                   "and exits with its exit code (126: it could not be started). Its output is passed on as it is\n"
                   "written; there is no TTY and no stdin. Options go before COMMAND: from there on every word is\n"
                   "the command's.\n\n"
                   "  -c, --container NAME   the container of the pod, when it has more than one\n"
                   "  -e, --env K=V          add to the container's environment\n"
                   "  --timeout SECONDS      kill the command after this long (exit 137)\n"
                   "  -n, --namespace NS     the pod's namespace\n");
}

int pods_ctl_exec(int argc, char *argv[]) {
        enum { OPT_TIMEOUT = 256 };
        static const struct option opts[] = {
                {"env", required_argument, NULL, 'e'},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"container", required_argument, NULL, 'c'},
                {"namespace", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        RuntimeCtlOptions o;
        runtime_ctl_options_init(&o);
        _cleanup_strv_free_ char **env = NULL;
        const char *target = NULL, *cname = NULL, *ns = NULL;
        uint64_t timeout = 0;
        /* Options before and after the target, never in the command: getopt's "+" stops at the first operand, so
         * two rounds read `exec -e K=V POD -c NAME -- sh -c X` and `exec ID sh -c X --root-dir Y` right. After a
         * "--" the next word is the target (when none came yet) or the command. */
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        for (int round = 0; round < 2 && optind < argc; round++) {
                int c;
                while ((c = getopt_long(argc, argv, "+e:c:n:hv", opts, NULL)) >= 0)
                        switch (c) {
                        case 'e':
                                if (!strchr(optarg, '='))
                                        return log_error("--env %s: expected NAME=VALUE", optarg), 2;
                                if (strv_extend(&env, optarg) < 0)
                                        return log_error_errno(-ENOMEM, "Out of memory"), 1;
                                break;
                        case OPT_TIMEOUT: {
                                char *end;
                                double sec = strtod(optarg, &end);
                                if (*end || sec <= 0 || sec > 86400 * 365)
                                        return log_error("--timeout %s: not a positive number of seconds", optarg), 2;
                                timeout = (uint64_t) (sec * USEC_PER_SEC);
                                break;
                        }
                        case 'c':
                                cname = optarg;
                                break;
                        case 'n':
                                ns = optarg;
                                break;
                        case 'h':
                                usage_exec(stdout);
                                return 0;
                        default:
                                if (runtime_ctl_option(&o, c, optarg))
                                        break;
                                usage_exec(stderr);
                                return 2;
                        }
                bool dashdash = optind > 1 && streq(argv[optind - 1], "--");
                if (target || optind >= argc)
                        break;
                target = argv[optind++];
                if (dashdash)
                        break;
        }
        if (!target || optind >= argc) {
                usage_exec(stderr);
                return 2;
        }
        _cleanup_(pod_table_done) PodTable t = {};
        _cleanup_(container_freep) Container *owned = NULL;
        Container *c = NULL;
        if (pod_table_load(&o, &t) < 0 || resolve(&t, target, ns, cname, false, &owned, &c) < 0)
                return 1;
        return runtime_ctl_exec_in(c, argv + optind, env, timeout);
}
