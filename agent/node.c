/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/node.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>

#include "agent/image-gc.h"
#include "agent/informer.h"
#include "common/event-util.h"
#include "common/fileio.h"
#include "common/json-util.h"

#ifndef NODELET_VERSION_STRING
#define NODELET_VERSION_STRING "0.0.0"
#endif

/* The kubelet's registration and lease retry: 100 ms, doubling, at most 7 s between attempts. */
#define RETRY_INITIAL_USEC (100 * USEC_PER_MSEC)
#define RETRY_MAX_USEC (7 * USEC_PER_SEC)
/* The kubelet renews the lease every nodeLeaseDurationSeconds × 0.25 (its renewIntervalFraction). */
#define LEASE_RENEW_FRACTION 0.25
#define LEASE_NAMESPACE "kube-node-lease"
#define LEASE_COLLECTION "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NAMESPACE "/leases"
#define CMAD_ANNOTATION "volumes.kubernetes.io/controller-managed-attach-detach"

struct NodeController {
        sd_event *event;
        ApiClient *api;
        const NodeletConfig *cfg;
        NodeInfoSource src;
        NodeControllerCallbacks cb;
        void *userdata;

        char *node_name;
        char arch[sizeof(((struct utsname *) NULL)->machine)]; /* GOARCH spelling: amd64, arm64 */
        char *node_path;                                       /* /api/v1/nodes/<name> */
        char *lease_path;                                      /* .../leases/<name> */
        uint64_t update_usec, report_usec, lease_renew_usec;

        bool started, registered;
        bool ready;
        char *not_ready_message;
        json_t *server_node; /* the newest Node seen (write responses, the informer) */
        json_t *images;      /* status.images built from src.image_cache at images_generation */
        uint64_t images_generation;
        char *uid;
        char **pod_cidrs; /* as last handed to the pod_cidrs callback */
        Informer *informer;

        ApiRequest *reg_request;
        sd_event_source *reg_timer;
        uint64_t reg_step_usec;

        ApiRequest *status_request;
        sd_event_source *status_timer;
        uint64_t last_report_usec; /* monotonic; 0 = never */
        bool status_again;         /* a status sync was asked for while one was in flight */

        json_t *lease; /* the Lease as last read or written */
        ApiRequest *lease_request;
        sd_event_source *lease_timer;
        uint64_t lease_step_usec;
        unsigned lease_failures; /* in a row */

        NodeControllerStats stats;

        /* condition events: the statuses last reported (MemoryPressure, DiskPressure, PIDPressure, Ready) */
        unsigned event_known; /* bit per condition: reported at least once */
        bool event_status[4];
};

/* ---- small helpers ---- */

static uint64_t now_mono(NodeController *c) {
        uint64_t u = 0;
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &u);
        return u;
}

static void format_time(char *buf, size_t size, bool micro) {
        struct timespec ts;
        struct tm tm;
        char base[32];

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        (void) gmtime_r(&ts.tv_sec, &tm);
        (void) strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        if (micro)
                (void) snprintf(buf, size, "%s.%06ldZ", base, ts.tv_nsec / 1000);
        else
                (void) snprintf(buf, size, "%sZ", base);
}

static void report(NodeController *c, int r, const char *fmt, ...) _printf_(3, 4);
static void report(NodeController *c, int r, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        c->stats.failures++;
        if (!c->cb.error)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->cb.error(c, r, msg, c->userdata);
}

static const char *resp_message(const ApiResponse *resp) {
        return !isempty(resp->message) ? resp->message : strerror(-resp->error);
}

static int timer_handler(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms (or re-arms) a one-shot timer delay_usec from now. */
static int arm(NodeController *c, sd_event_source **s, uint64_t delay_usec) {
        uint64_t when = event_now_plus(c->event, delay_usec);
        int r;

        if (*s) {
                r = sd_event_source_set_time(*s, when);
                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
        }
        return sd_event_add_time(c->event, s, CLOCK_MONOTONIC, when, 0, timer_handler, c);
}

static uint64_t step_next(uint64_t *step) {
        uint64_t d = *step ?: RETRY_INITIAL_USEC;
        *step = MIN(d * 2, RETRY_MAX_USEC);
        return d;
}

/* resourceVersions are opaque to clients, but the API server's are etcd revisions: when both are numbers, an older
 * watch event must not replace what a write response already told us. */
static bool rv_newer_or_equal(const json_t *a, const json_t *b) {
        const char *ra = json_string_value(json_object_get(json_object_get(a, "metadata"), "resourceVersion"));
        const char *rb = json_string_value(json_object_get(json_object_get(b, "metadata"), "resourceVersion"));
        char *ea = NULL, *eb = NULL;
        unsigned long long na, nb;

        if (!ra || !rb)
                return true;
        errno = 0;
        na = strtoull(ra, &ea, 10);
        nb = strtoull(rb, &eb, 10);
        if (errno != 0 || *ea || *eb || ea == ra || eb == rb)
                return true;
        return na >= nb;
}

static const char *node_uid_of(const json_t *node) {
        return json_string_value(json_object_get(json_object_get(node, "metadata"), "uid"));
}

/* ---- host facts ---- */

static int host_read(const NodeController *c, const char *path, char **ret) {
        _cleanup_free_ char *p = NULL;
        size_t n = 0;
        char *data = NULL;
        int r;

        if (asprintf(&p, "%s%s", strempty(c->src.host_root), path) < 0)
                return -ENOMEM;
        r = read_full_file(p, 1024 * 1024, &data, &n);
        if (r < 0)
                return r;
        /* trailing whitespace (machine-id, boot_id end with a newline) */
        while (n > 0 && strchr(" \t\r\n", data[n - 1]))
                data[--n] = 0;
        *ret = data;
        return 0;
}

static int64_t host_read_int(const NodeController *c, const char *path, int64_t def) {
        _cleanup_free_ char *s = NULL;
        char *end = NULL;
        long long v;

        if (host_read(c, path, &s) < 0)
                return def;
        errno = 0;
        v = strtoll(s, &end, 10);
        return errno == 0 && end != s ? (int64_t) v : def;
}

/* A field of /proc/meminfo in bytes; -1 when absent. */
static int64_t meminfo_bytes(const char *meminfo, const char *field) {
        size_t l = strlen(field);

        for (const char *p = meminfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, field, l) == 0 && p[l] == ':') {
                        long long kb = strtoll(p + l + 1, NULL, 10);
                        return kb >= 0 ? (int64_t) kb * 1024 : -1;
                }
        return -1;
}

static const char *go_arch(const char *machine) {
        static const struct {
                const char *uname, *go;
        } table[] = {
                {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"armv7l", "arm"},
                {"armv6l", "arm"},      {"i686", "386"},      {"i386", "386"},
                {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(machine, table[i].uname))
                        return table[i].go;
        return machine;
}

/* PRETTY_NAME of os-release; "Linux" like cadvisor when there is none. */
static int os_image(const NodeController *c, char **ret) {
        _cleanup_free_ char *data = NULL;

        if (host_read(c, "/etc/os-release", &data) < 0 && host_read(c, "/usr/lib/os-release", &data) < 0)
                return (*ret = strdup("Linux")) ? 0 : -ENOMEM;
        for (char *line = data, *nl; line; line = nl) {
                const char *v;
                nl = strchr(line, '\n');
                if (nl)
                        *nl++ = 0;
                v = startswith(line, "PRETTY_NAME=");
                if (!v)
                        continue;
                size_t l = strlen(v);
                if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0]) {
                        *ret = strndup(v + 1, l - 2);
                        return *ret ? 0 : -ENOMEM;
                }
                return (*ret = strdup(v)) ? 0 : -ENOMEM;
        }
        return (*ret = strdup("Linux")) ? 0 : -ENOMEM;
}

/* The hard eviction threshold of a signal against its capacity; false when none is configured. Percentages use
 * the kubelet's float32 arithmetic so that allocatable matches its numbers to the byte. */
static bool eviction_threshold(const NodeletConfig *cfg, const char *signal, int64_t capacity, int64_t *ret) {
        for (size_t i = 0; i < cfg->n_eviction_hard; i++) {
                const NodeletQuantity *q = &cfg->eviction_hard[i];
                if (!streq(q->name, signal))
                        continue;
                if (q->percentage) {
                        float frac = (float) q->percent / 100.0f;
                        *ret = (int64_t) ((double) capacity * (double) frac);
                } else
                        *ret = q->amount;
                return true;
        }
        return false;
}

int64_t node_allocatable(const NodeletConfig *cfg, const char *resource, int64_t capacity) {
        const char *signal = streq(resource, "memory")              ? "memory.available"
                             : streq(resource, "ephemeral-storage") ? "nodefs.available"
                                                                    : NULL;
        int64_t v = capacity, t;

        if (!streq(resource, "cpu") && !signal)
                return capacity;
        for (size_t i = 0; i < cfg->n_kube_reserved; i++)
                if (streq(cfg->kube_reserved[i].name, resource))
                        v -= cfg->kube_reserved[i].amount;
        for (size_t i = 0; i < cfg->n_system_reserved; i++)
                if (streq(cfg->system_reserved[i].name, resource))
                        v -= cfg->system_reserved[i].amount;
        if (signal && eviction_threshold(cfg, signal, capacity, &t))
                v -= t;
        return MAX(v, 0);
}

/* ---- quantities ---- */

const char *node_format_quantity_milli(int64_t milli, char *buf, size_t size) {
        static const char *const suffix[] = {"", "k", "M", "G", "T", "P", "E"};
        int64_t v;
        unsigned e = 0;

        if (milli % 1000 != 0) {
                (void) snprintf(buf, size, "%" PRId64 "m", milli);
                return buf;
        }
        v = milli / 1000;
        while (v != 0 && v % 1000 == 0 && e + 1 < ELEMENTSOF(suffix)) {
                v /= 1000;
                e++;
        }
        (void) snprintf(buf, size, "%" PRId64 "%s", v, suffix[e]);
        return buf;
}

const char *node_format_quantity_binary(int64_t value, char *buf, size_t size) {
        static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        int64_t v = value;
        unsigned e = 0;

        /* like resource.Quantity: below 1024 the binary form is printed as a plain decimal number */
        if (v > -1024 && v < 1024) {
                (void) snprintf(buf, size, "%" PRId64, v);
                return buf;
        }
        while (v != 0 && v % 1024 == 0 && e + 1 < ELEMENTSOF(suffix)) {
                v /= 1024;
                e++;
        }
        (void) snprintf(buf, size, "%" PRId64 "%s", v, suffix[e]);
        return buf;
}

static int set_quantity(json_t *obj, const char *key, int64_t v, bool milli) {
        char buf[64];
        const char *s = milli ? node_format_quantity_milli(v, buf, sizeof buf)
                              : node_format_quantity_binary(v, buf, sizeof buf);
        return json_object_set_new(obj, key, json_string(s)) < 0 ? -ENOMEM : 0;
}

/* ---- the status ---- */

typedef struct HostFacts {
        int64_t cpu_milli, memory, storage, storage_avail, inodes, inodes_free, mem_avail;
        int64_t pid_max, pids;
        json_t *hugepages; /* "hugepages-2Mi" → bytes (integer) */
        int64_t hugepages_total;
} HostFacts;

static int host_facts(NodeController *c, HostFacts *f) {
        _cleanup_free_ char *meminfo = NULL, *loadavg = NULL, *hp_dir = NULL;
        struct statvfs sv;
        DIR *d;

        *f = (HostFacts){.storage = -1,
                         .storage_avail = -1,
                         .inodes = -1,
                         .inodes_free = -1,
                         .mem_avail = -1,
                         .pid_max = -1,
                         .pids = -1};
        f->hugepages = json_object();
        RET_NULL_ENOMEM(f->hugepages);

        f->cpu_milli = c->src.cpu_milli;
        if (f->cpu_milli <= 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                f->cpu_milli = (n > 0 ? n : 1) * 1000;
        }
        if (host_read(c, "/proc/meminfo", &meminfo) >= 0) {
                f->mem_avail = meminfo_bytes(meminfo, "MemAvailable");
                if (c->src.memory_bytes <= 0)
                        f->memory = MAX(meminfo_bytes(meminfo, "MemTotal"), 0);
        }
        if (c->src.memory_bytes > 0)
                f->memory = c->src.memory_bytes;

        if (statvfs(isempty(c->cfg->root_dir) ? "/" : c->cfg->root_dir, &sv) >= 0) {
                f->storage = (int64_t) sv.f_blocks * (int64_t) sv.f_frsize;
                f->storage_avail = (int64_t) sv.f_bavail * (int64_t) sv.f_frsize;
                f->inodes = (int64_t) sv.f_files;
                f->inodes_free = (int64_t) sv.f_favail;
        }

        /* the kubelet's pid.available: min(pid_max, threads-max) minus the tasks /proc/loadavg counts */
        int64_t pid_max = host_read_int(c, "/proc/sys/kernel/pid_max", -1);
        int64_t threads_max = host_read_int(c, "/proc/sys/kernel/threads-max", -1);
        f->pid_max = pid_max > 0 && threads_max > 0 ? MIN(pid_max, threads_max) : MAX(pid_max, threads_max);
        if (host_read(c, "/proc/loadavg", &loadavg) >= 0) {
                const char *slash = strchr(loadavg, '/');
                if (slash)
                        f->pids = strtoll(slash + 1, NULL, 10);
        }

        if (asprintf(&hp_dir, "%s/sys/kernel/mm/hugepages", strempty(c->src.host_root)) < 0)
                return -ENOMEM;
        d = opendir(hp_dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        char path[512], key[64], size[32];
                        const char *kb = startswith(de->d_name, "hugepages-");
                        long long page_kb;
                        int64_t n;

                        if (!kb || !endswith(kb, "kB"))
                                continue;
                        page_kb = strtoll(kb, NULL, 10);
                        if (page_kb <= 0)
                                continue;
                        (void) snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/%s/nr_hugepages", de->d_name);
                        n = MAX(host_read_int(c, path, 0), 0);
                        (void) snprintf(key, sizeof key, "hugepages-%s",
                                        node_format_quantity_binary(page_kb * 1024, size, sizeof size));
                        if (json_object_set_new(f->hugepages, key, json_integer(n * page_kb * 1024)) < 0) {
                                (void) closedir(d);
                                return -ENOMEM;
                        }
                        f->hugepages_total += n * page_kb * 1024;
                }
                (void) closedir(d);
        }
        return 0;
}

/* available < threshold, the kubelet's "threshold met" */
static bool signal_pressure(const NodeletConfig *cfg, const char *signal, int64_t available, int64_t capacity) {
        int64_t t;

        if (available < 0 || capacity <= 0)
                return false;
        return eviction_threshold(cfg, signal, capacity, &t) && available < t;
}

static const json_t *find_condition(const json_t *conditions, const char *type) {
        size_t i;
        json_t *cond;

        json_array_foreach (conditions, i, cond) {
                if (streq_ptr(json_string_value(json_object_get(cond, "type")), type))
                        return cond;
        }
        return NULL;
}

static int add_condition(json_t *conditions, const json_t *old_conditions, const char *type, bool status,
                         const char *reason, const char *message, const char *now) {
        const json_t *old = find_condition(old_conditions, type);
        const char *s = status ? "True" : "False";
        const char *transition = now;
        json_t *cond;

        /* lastTransitionTime moves only when the status flips */
        if (old && streq_ptr(json_string_value(json_object_get(old, "status")), s) &&
            json_string_value(json_object_get(old, "lastTransitionTime")))
                transition = json_string_value(json_object_get(old, "lastTransitionTime"));
        cond = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", s, "lastHeartbeatTime", now,
                         "lastTransitionTime", transition, "reason", reason, "message", message);
        RET_NULL_ENOMEM(cond);
        return json_array_append_new(conditions, cond) < 0 ? -ENOMEM : 0;
}

/* The kubelet's condition events (nodestatus setters' recordEventFunc): compared with what was last reported, not
 * with the server's view, so every build reports a change once. */
static void condition_events(NodeController *c, const bool status[4]) {
        static const char *const reasons[4][2] = {
                {"NodeHasSufficientMemory", "NodeHasInsufficientMemory"},
                {"NodeHasNoDiskPressure", "NodeHasDiskPressure"},
                {"NodeHasSufficientPID", "NodeHasInsufficientPID"},
                {"NodeNotReady", "NodeReady"},
        };
        for (unsigned i = 0; i < 4; i++) {
                bool known = c->event_known & (1U << i);
                if (known && c->event_status[i] == status[i])
                        continue;
                c->event_known |= 1U << i;
                c->event_status[i] = status[i];
                /* Ready: no event for the first status, only for transitions */
                if ((known || i < 3) && c->cb.condition_event)
                        c->cb.condition_event(c, reasons[i][status[i]], c->userdata);
        }
}

static int image_compare(const void *a, const void *b) {
        const ImageInfo *x = *(ImageInfo *const *) a, *y = *(ImageInfo *const *) b;
        return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static bool strv_contains_json(const json_t *a, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach (a, i, v) {
                if (streq_ptr(json_string_value(v), s))
                        return true;
        }
        return false;
}

/* status.images from list, sorted largest first (the kubelet sorts its image list by size), digests then tags. */
static int images_json(ImageInfo **list, size_t n, json_t **ret) {
        _cleanup_json_ json_t *images = json_array();
        int r = 0;

        RET_NULL_ENOMEM(images);
        for (size_t i = 0; i < n && json_array_size(images) < NODE_MAX_IMAGES; i++) {
                json_t *names = json_array(), *entry;
                if (!names) {
                        r = -ENOMEM;
                        break;
                }
                for (char **ref = list[i]->refs; ref && *ref && !isempty(list[i]->manifest_digest); ref++) {
                        /* repo@digest: the reference without its tag */
                        const char *slash = strrchr(*ref, '/'), *at = strchr(*ref, '@');
                        const char *colon = strrchr(slash ? slash : *ref, ':');
                        size_t l = at ? (size_t) (at - *ref) : colon ? (size_t) (colon - *ref) : strlen(*ref);
                        _cleanup_free_ char *d = NULL;
                        if (asprintf(&d, "%.*s@%s", (int) l, *ref, list[i]->manifest_digest) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        if (!strv_contains_json(names, d))
                                (void) json_array_append_new(names, json_string(d));
                }
                for (char **ref = list[i]->refs; ref && *ref; ref++)
                        if (!strchr(*ref, '@') && !strv_contains_json(names, *ref))
                                (void) json_array_append_new(names, json_string(*ref));
                while (json_array_size(names) > NODE_MAX_IMAGE_NAMES)
                        (void) json_array_remove(names, json_array_size(names) - 1);
                if (json_array_size(names) == 0) {
                        json_decref(names);
                        continue;
                }
                entry = json_pack("{s:o,s:I}", "names", names, "sizeBytes", (json_int_t) list[i]->size);
                if (!entry || json_array_append_new(images, entry) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(images);
        return 0;
}

static int build_images(NodeController *c, json_t **ret) {
        ImageInfo **list = NULL;
        size_t n = 0;
        int r;

        if (c->src.image_cache) {
                /* The cached list: JSON only when it changed (every build would otherwise read the store). */
                const ImageListCache *cache = c->src.image_cache;
                if (!c->images || c->images_generation != cache->generation) {
                        json_t *j = NULL;
                        r = images_json(cache->images, cache->n, &j);
                        if (r < 0)
                                return r;
                        json_decref(c->images);
                        c->images = j;
                        c->images_generation = cache->generation;
                }
                *ret = json_incref(c->images);
                return 0;
        }
        if (!c->src.images) {
                *ret = json_array();
                return *ret ? 0 : -ENOMEM;
        }
        r = image_store_list(c->src.images, &list, &n);
        if (r < 0)
                return r;
        qsort(list, n, sizeof *list, image_compare);
        r = images_json(list, n, ret);
        image_info_list_free(list, n);
        return r;
}

static int build_node_info(NodeController *c, json_t **ret) {
        _cleanup_free_ char *machine_id = NULL, *uuid = NULL, *boot_id = NULL, *os = NULL, *runtime = NULL;
        struct utsname u;

        (void) host_read(c, "/etc/machine-id", &machine_id);
        (void) host_read(c, "/sys/class/dmi/id/product_uuid", &uuid);
        (void) host_read(c, "/proc/sys/kernel/random/boot_id", &boot_id);
        if (os_image(c, &os) < 0)
                return -ENOMEM;
        if (uname(&u) < 0)
                u.release[0] = 0;
        if (asprintf(&runtime, "nodelet://%s", NODELET_VERSION_STRING) < 0)
                return -ENOMEM;
        *ret = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "machineID", strempty(machine_id), "systemUUID",
                         strempty(uuid), "bootID", strempty(boot_id), "kernelVersion", u.release, "osImage", os,
                         "containerRuntimeVersion", runtime, "kubeletVersion", NODE_KUBELET_VERSION, "kubeProxyVersion",
                         NODE_KUBELET_VERSION, "operatingSystem", "linux", "architecture", c->arch);
        return *ret ? 0 : -ENOMEM;
}

/* The status as the kubelet's setters build it; transition times come from the server's view (old_status). */
static int build_status(NodeController *c, const json_t *old_status, json_t **ret) {
        _cleanup_json_ json_t *status = NULL, *capacity = NULL, *allocatable = NULL, *conditions = NULL,
                              *addresses = NULL, *node_info = NULL, *images = NULL;
        const json_t *old_conditions = json_object_get(old_status, "conditions");
        HostFacts f;
        char now[64];
        const char *k;
        json_t *v;
        int r;

        format_time(now, sizeof now, false);
        r = host_facts(c, &f);
        if (r < 0) {
                json_decref(f.hugepages);
                return r;
        }
        capacity = json_object();
        allocatable = json_object();
        conditions = json_array();
        addresses = json_array();
        if (!capacity || !allocatable || !conditions || !addresses) {
                json_decref(f.hugepages);
                return -ENOMEM;
        }

        r = set_quantity(capacity, "cpu", f.cpu_milli, true);
        if (r >= 0 && f.storage >= 0)
                r = set_quantity(capacity, "ephemeral-storage", f.storage, false);
        json_object_foreach (f.hugepages, k, v) {
                if (r >= 0)
                        r = set_quantity(capacity, k, json_integer_value(v), false);
                if (r >= 0)
                        r = set_quantity(allocatable, k, json_integer_value(v), false);
        }
        if (r >= 0)
                r = set_quantity(capacity, "memory", f.memory, false);
        if (r >= 0)
                r = set_quantity(capacity, "pods", (int64_t) c->cfg->max_pods * 1000, true);
        if (r >= 0)
                r = set_quantity(allocatable, "cpu", node_allocatable(c->cfg, "cpu", f.cpu_milli), true);
        if (r >= 0 && f.storage >= 0)
                r = set_quantity(allocatable, "ephemeral-storage",
                                 node_allocatable(c->cfg, "ephemeral-storage", f.storage), false);
        /* hugepages are not allocatable as memory (the kubelet subtracts them too) */
        if (r >= 0)
                r = set_quantity(allocatable, "memory",
                                 MAX(node_allocatable(c->cfg, "memory", f.memory) - f.hugepages_total, 0), false);
        if (r >= 0)
                r = set_quantity(allocatable, "pods", (int64_t) c->cfg->max_pods * 1000, true);
        json_decref(f.hugepages);
        if (r < 0)
                return r;

        /* conditions in the kubelet's order, with its reasons and messages */
        bool mem = signal_pressure(c->cfg, "memory.available", f.mem_avail, f.memory);
        bool disk = signal_pressure(c->cfg, "nodefs.available", f.storage_avail, f.storage) ||
                    signal_pressure(c->cfg, "nodefs.inodesFree", f.inodes_free, f.inodes) ||
                    /* images live below the root dir: imagefs is nodefs */
                    signal_pressure(c->cfg, "imagefs.available", f.storage_avail, f.storage) ||
                    signal_pressure(c->cfg, "imagefs.inodesFree", f.inodes_free, f.inodes);
        bool pid = f.pid_max > 0 && f.pids >= 0 &&
                   signal_pressure(c->cfg, "pid.available", MAX(f.pid_max - f.pids, 0), f.pid_max);
        r = add_condition(conditions, old_conditions, "MemoryPressure", mem,
                          mem ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                          mem ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available",
                          now);
        if (r >= 0)
                r = add_condition(conditions, old_conditions, "DiskPressure", disk,
                                  disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                                  disk ? "kubelet has disk pressure" : "kubelet has no disk pressure", now);
        if (r >= 0)
                r = add_condition(
                        conditions, old_conditions, "PIDPressure", pid,
                        pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                        pid ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available", now);
        if (r >= 0)
                r = add_condition(conditions, old_conditions, "Ready", c->ready,
                                  c->ready ? "KubeletReady" : "KubeletNotReady",
                                  c->ready ? "kubelet is posting ready status"
                                           : c->not_ready_message ?: "node is not ready",
                                  now);
        if (r < 0)
                return r;
        condition_events(c, (const bool[4]){mem, disk, pid, c->ready});

        for (char **ip = c->src.node_ips; ip && *ip; ip++)
                if (json_array_append_new(addresses, json_pack("{s:s,s:s}", "type", "InternalIP", "address", *ip)) < 0)
                        return -ENOMEM;
        if (json_array_append_new(addresses, json_pack("{s:s,s:s}", "type", "Hostname", "address", c->node_name)) < 0)
                return -ENOMEM;

        r = build_node_info(c, &node_info);
        if (r < 0)
                return r;
        r = build_images(c, &images);
        if (r < 0)
                return r;

        status = json_pack("{s:O,s:O,s:O,s:O,s:{s:{s:i}},s:O}", "capacity", capacity, "allocatable", allocatable,
                           "conditions", conditions, "addresses", addresses, "daemonEndpoints", "kubeletEndpoint",
                           "Port", (int) c->cfg->port, "nodeInfo", node_info);
        RET_NULL_ENOMEM(status);
        /* omitempty, like the kubelet's v1.NodeStatus */
        if (json_array_size(images) > 0 && json_object_set(status, "images", images) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(status);
        return 0;
}

/* ---- the two-way merge patch ---- */

/* Map diff: changed and new keys with their new value (maps recursively), removed keys as null. NULL = equal. */
static int diff_map(const json_t *from, const json_t *to, json_t **ret) {
        _cleanup_json_ json_t *d = NULL;
        const char *k;
        json_t *v;
        int r;

        if (!json_is_object(from) || !json_is_object(to)) {
                *ret = json_equal(from, to) ? NULL : json_deep_copy(to);
                return json_equal(from, to) || *ret ? 0 : -ENOMEM;
        }
        d = json_object();
        RET_NULL_ENOMEM(d);
        json_object_foreach ((json_t *) to, k, v) {
                const json_t *fv = json_object_get(from, k);
                json_t *sub = NULL;
                if (!fv)
                        sub = json_deep_copy(v);
                else {
                        r = diff_map(fv, v, &sub);
                        if (r < 0)
                                return r;
                        if (!sub)
                                continue;
                }
                if (!sub || json_object_set_new(d, k, sub) < 0)
                        return -ENOMEM;
        }
        json_object_foreach ((json_t *) from, k, v) {
                if (!json_object_get(to, k) && json_object_set_new(d, k, json_null()) < 0)
                        return -ENOMEM;
        }
        *ret = json_object_size(d) > 0 ? TAKE_PTR(d) : NULL;
        return 0;
}

static int diff_conditions(const json_t *from, const json_t *to, bool ignore_heartbeat, json_t *patch) {
        _cleanup_json_ json_t *list = json_array(), *order = json_array();
        size_t i;
        json_t *cond;

        RET_NULL_ENOMEM(list);
        RET_NULL_ENOMEM(order);
        json_array_foreach (to, i, cond) {
                const char *type = json_string_value(json_object_get(cond, "type"));
                const json_t *old = find_condition(from, type);
                json_t *d = NULL;
                const char *k;
                json_t *v;

                if (!type)
                        continue;
                if (!old) {
                        if (json_array_append_new(list, json_deep_copy(cond)) < 0)
                                return -ENOMEM;
                        continue;
                }
                d = json_object();
                RET_NULL_ENOMEM(d);
                json_object_foreach (cond, k, v) {
                        if (ignore_heartbeat && streq(k, "lastHeartbeatTime"))
                                continue;
                        if (!json_equal(json_object_get(old, k), v) && json_object_set(d, k, v) < 0)
                                goto oom;
                }
                json_object_foreach ((json_t *) old, k, v) {
                        if (ignore_heartbeat && streq(k, "lastHeartbeatTime"))
                                continue;
                        if (!json_object_get(cond, k) && json_object_set_new(d, k, json_null()) < 0)
                                goto oom;
                }
                if (json_object_size(d) == 0) {
                        json_decref(d);
                        continue;
                }
                if (json_object_set_new(d, "type", json_string(type)) < 0 || json_array_append_new(list, d) < 0)
                        return -ENOMEM;
                continue;
        oom:
                json_decref(d);
                return -ENOMEM;
        }
        if (json_array_size(list) == 0)
                return 0;
        /* the order of the merged list: the server's conditions (foreign ones too), then the new types */
        json_array_foreach (from, i, cond) {
                const char *type = json_string_value(json_object_get(cond, "type"));
                if (type && json_array_append_new(order, json_pack("{s:s}", "type", type)) < 0)
                        return -ENOMEM;
        }
        json_array_foreach (to, i, cond) {
                const char *type = json_string_value(json_object_get(cond, "type"));
                if (type && !find_condition(from, type) &&
                    json_array_append_new(order, json_pack("{s:s}", "type", type)) < 0)
                        return -ENOMEM;
        }
        if (json_object_set(patch, "$setElementOrder/conditions", order) < 0 ||
            json_object_set(patch, "conditions", list) < 0)
                return -ENOMEM;
        return 0;
}

int node_status_patch(const json_t *from, const json_t *to, bool ignore_heartbeat, json_t **ret) {
        static const char *const maps[] = {"capacity", "allocatable", "daemonEndpoints", "nodeInfo"};
        _cleanup_json_ json_t *patch = json_object();
        const json_t *fa, *ta;
        int r;

        RET_NULL_ENOMEM(patch);
        if (!json_is_object(from))
                from = NULL;
        for (size_t i = 0; i < ELEMENTSOF(maps); i++) {
                const json_t *f = json_object_get(from, maps[i]), *t = json_object_get(to, maps[i]);
                json_t *d = NULL;
                if (!t) {
                        if (f && json_object_set_new(patch, maps[i], json_null()) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = diff_map(f, t, &d);
                if (r < 0)
                        return r;
                if (d && json_object_set_new(patch, maps[i], d) < 0)
                        return -ENOMEM;
        }

        r = diff_conditions(json_object_get(from, "conditions"), json_object_get(to, "conditions"), ignore_heartbeat,
                            patch);
        if (r < 0)
                return r;

        /* addresses carry a wrong patchMergeKey (type) in the API, so the kubelet replaces the whole list when it
         * changed (its fixupPatchForNodeStatusAddresses) */
        fa = json_object_get(from, "addresses");
        ta = json_object_get(to, "addresses");
        if (!json_equal(fa, ta) && !(fa == NULL && ta == NULL)) {
                json_t *a;
                if (!ta)
                        a = json_null();
                else if (json_array_size(fa) > 0) {
                        a = json_array();
                        if (a && (json_array_append_new(a, json_pack("{s:s}", "$patch", "replace")) < 0 ||
                                  json_array_extend(a, (json_t *) ta) < 0))
                                a = (json_decref(a), NULL);
                } else
                        a = json_deep_copy(ta);
                if (!a || json_object_set_new(patch, "addresses", a) < 0)
                        return -ENOMEM;
        }

        /* images: an atomic list */
        fa = json_object_get(from, "images");
        ta = json_object_get(to, "images");
        if ((fa || ta) && !json_equal(fa, ta))
                if (json_object_set_new(patch, "images", ta ? json_deep_copy(ta) : json_null()) < 0)
                        return -ENOMEM;

        if (json_object_size(patch) == 0) {
                *ret = NULL;
                return 0;
        }
        *ret = json_pack("{s:O}", "status", patch);
        return *ret ? 0 : -ENOMEM;
}

/* ---- the Node object ---- */

static void set_server_node(NodeController *c, json_t *node) {
        json_t *spec;
        _cleanup_strv_free_ char **cidrs = NULL;
        size_t n = 0, i;
        json_t *v;

        if (!json_is_object(node))
                return;
        json_decref(c->server_node);
        c->server_node = json_incref(node);

        /* spec.podCIDRs (spec.podCIDR on servers that do not fill podCIDRs) */
        spec = json_object_get(node, "spec");
        json_t *list = json_object_get(spec, "podCIDRs");
        if (json_array_size(list) == 0 && json_string_value(json_object_get(spec, "podCIDR")))
                list = NULL;
        cidrs = calloc(json_array_size(list) + 2, sizeof(char *));
        if (!cidrs)
                return;
        if (list)
                json_array_foreach (list, i, v) {
                        if (json_string_value(v) && !(cidrs[n++] = strdup(json_string_value(v))))
                                return;
                }
        else if (json_string_value(json_object_get(spec, "podCIDR")) &&
                 !(cidrs[n++] = strdup(json_string_value(json_object_get(spec, "podCIDR")))))
                return;
        if (n == 0)
                return;
        bool same = c->pod_cidrs != NULL;
        for (i = 0; same && (c->pod_cidrs[i] || cidrs[i]); i++)
                same = streq_ptr(c->pod_cidrs[i], cidrs[i]);
        if (same)
                return;
        strv_free(c->pod_cidrs);
        c->pod_cidrs = TAKE_PTR(cidrs);
        if (c->cb.pod_cidrs)
                c->cb.pod_cidrs(c, c->pod_cidrs, c->userdata);
}

static int build_node(NodeController *c, json_t **ret) {
        _cleanup_json_ json_t *node = NULL, *status = NULL;
        json_t *labels, *spec;
        const char *arch = c->arch;
        int r;

        r = build_status(c, NULL, &status);
        if (r < 0)
                return r;
        node = json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s,s:s,s:s},s:{s:s}},s:{},s:O}", "kind", "Node", "apiVersion",
                         "v1", "metadata", "name", c->node_name, "labels", "beta.kubernetes.io/arch", arch,
                         "beta.kubernetes.io/os", "linux", "kubernetes.io/arch", arch, "kubernetes.io/hostname",
                         c->node_name, "kubernetes.io/os", "linux", "annotations", CMAD_ANNOTATION, "true", "spec",
                         "status", status);
        RET_NULL_ENOMEM(node);
        labels = json_object_get(json_object_get(node, "metadata"), "labels");
        for (size_t i = 0; i < c->cfg->n_node_labels; i++)
                if (json_object_set_new(labels, c->cfg->node_labels[i].key, json_string(c->cfg->node_labels[i].value)) <
                    0)
                        return -ENOMEM;
        spec = json_object_get(node, "spec");
        if (!isempty(c->cfg->pod_cidr) &&
            (json_object_set_new(spec, "podCIDR", json_string(c->cfg->pod_cidr)) < 0 ||
             json_object_set_new(spec, "podCIDRs", json_pack("[s]", c->cfg->pod_cidr)) < 0))
                return -ENOMEM;
        if (c->cfg->n_register_with_taints > 0) {
                json_t *taints = json_array();
                RET_NULL_ENOMEM(taints);
                if (json_object_set_new(spec, "taints", taints) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < c->cfg->n_register_with_taints; i++) {
                        const NodeletTaint *t = &c->cfg->register_with_taints[i];
                        json_t *o = json_pack("{s:s}", "key", t->key);
                        if (!o || (!isempty(t->value) && json_object_set_new(o, "value", json_string(t->value)) < 0) ||
                            json_object_set_new(o, "effect", json_string(t->effect)) < 0 ||
                            json_array_append_new(taints, o) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(node);
        return 0;
}

static void register_begin(NodeController *c);
static void lease_schedule(NodeController *c, uint64_t delay_usec);
static void status_schedule(NodeController *c, uint64_t delay_usec);

static void register_retry(NodeController *c) {
        int r = arm(c, &c->reg_timer, step_next(&c->reg_step_usec));
        if (r < 0)
                report(c, r, "register node %s: cannot arm the retry timer", c->node_name);
}

static void node_registered(NodeController *c, json_t *node) {
        const char *uid = node_uid_of(node);

        c->registered = true;
        c->reg_step_usec = 0;
        free(c->uid);
        c->uid = uid ? strdup(uid) : NULL;
        set_server_node(c, node);
        if (c->cb.registered)
                c->cb.registered(c, strempty(c->uid), c->userdata);
        /* the status right away: a node found again may carry what the node lifecycle controller wrote meanwhile
         * (Ready Unknown); a freshly created one has nothing to send and waits for the report period */
        status_schedule(c, 0);
        if (!c->lease_request)
                lease_schedule(c, 0);
}

/* The Node is gone from the server (deleted by an operator, or by a cloud controller): register it again. */
static void node_gone(NodeController *c) {
        if (!c->registered)
                return;
        c->registered = false;
        c->stats.reregistrations++;
        c->uid = mfree(c->uid);
        json_decref(c->server_node);
        c->server_node = NULL;
        c->last_report_usec = 0;
        api_request_cancel(c->status_request);
        c->status_request = NULL;
        if (c->status_timer)
                (void) sd_event_source_set_enabled(c->status_timer, SD_EVENT_OFF);
        if (c->cfg->register_node && !c->reg_request)
                register_begin(c);
}

/* updateDefaultLabels and the attach-detach annotation of tryRegisterWithAPIServer: the labels the kubelet owns
 * are made to match, others (--node-labels included) are left as they are. */
static int reconcile_patch(NodeController *c, const json_t *existing, json_t **ret) {
        static const char *const defaults[] = {
                "kubernetes.io/hostname",
                "topology.kubernetes.io/zone",
                "topology.kubernetes.io/region",
                "node.kubernetes.io/instance-type",
                "failure-domain.beta.kubernetes.io/zone",
                "failure-domain.beta.kubernetes.io/region",
                "beta.kubernetes.io/instance-type",
                "kubernetes.io/os",
                "kubernetes.io/arch",
                "beta.kubernetes.io/os",
                "beta.kubernetes.io/arch",
        };
        _cleanup_json_ json_t *wanted = NULL, *labels = json_object(), *annotations = json_object();
        const json_t *meta = json_object_get(existing, "metadata");
        const json_t *have_labels = json_object_get(meta, "labels");
        const json_t *want_labels;
        int r;

        RET_NULL_ENOMEM(labels);
        RET_NULL_ENOMEM(annotations);
        r = build_node(c, &wanted);
        if (r < 0)
                return r;
        want_labels = json_object_get(json_object_get(wanted, "metadata"), "labels");
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
                const json_t *w = json_object_get(want_labels, defaults[i]);
                const json_t *h = json_object_get(have_labels, defaults[i]);
                if (w && !json_equal(w, h) && json_object_set(labels, defaults[i], (json_t *) w) < 0)
                        return -ENOMEM;
                if (!w && h && json_object_set_new(labels, defaults[i], json_null()) < 0)
                        return -ENOMEM;
        }
        if (!streq_ptr(json_string_value(json_object_get(json_object_get(meta, "annotations"), CMAD_ANNOTATION)),
                       "true") &&
            json_object_set_new(annotations, CMAD_ANNOTATION, json_string("true")) < 0)
                return -ENOMEM;
        if (json_object_size(labels) == 0 && json_object_size(annotations) == 0) {
                *ret = NULL;
                return 0;
        }
        *ret = json_object();
        RET_NULL_ENOMEM(*ret);
        if (json_object_set_new(*ret, "metadata", json_object()) < 0)
                return -ENOMEM;
        if (json_object_size(labels) > 0)
                (void) json_object_set(json_object_get(*ret, "metadata"), "labels", labels);
        if (json_object_size(annotations) > 0)
                (void) json_object_set(json_object_get(*ret, "metadata"), "annotations", annotations);
        return 0;
}

static void on_reconcile_patch(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;

        c->reg_request = NULL;
        if (resp->error < 0) {
                report(c, resp->error, "reconcile node %s: %s", c->node_name, resp_message(resp));
                register_retry(c);
                return;
        }
        node_registered(c, resp->body);
}

static void on_reconcile_get(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;
        _cleanup_json_ json_t *patch = NULL;
        int r;

        c->reg_request = NULL;
        if (resp->error < 0) {
                /* gone between the create and the GET: a plain create again */
                report(c, resp->error, "get node %s: %s", c->node_name, resp_message(resp));
                register_retry(c);
                return;
        }
        r = reconcile_patch(c, resp->body, &patch);
        if (r < 0) {
                report(c, r, "reconcile node %s: %s", c->node_name, strerror(-r));
                register_retry(c);
                return;
        }
        if (!patch) {
                node_registered(c, resp->body);
                return;
        }
        /* the main resource: the status subresource of a Node takes metadata on a real server, but not everywhere */
        r = api_client_patch(c->api, c->node_path, API_PATCH_STRATEGIC, patch, on_reconcile_patch, c, &c->reg_request);
        if (r < 0) {
                report(c, r, "reconcile node %s: %s", c->node_name, strerror(-r));
                register_retry(c);
        }
}

static void on_register_done(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;
        int r;

        c->reg_request = NULL;
        if (resp->error == 0) {
                c->last_report_usec = now_mono(c); /* the create carried the whole status */
                node_registered(c, resp->body);
                return;
        }
        if (resp->error != -EEXIST) {
                report(c, resp->error, "register node %s: %s", c->node_name, resp_message(resp));
                register_retry(c);
                return;
        }
        c->stats.reconciles++;
        r = api_client_get(c->api, c->node_path, on_reconcile_get, c, &c->reg_request);
        if (r < 0) {
                report(c, r, "get node %s: %s", c->node_name, strerror(-r));
                register_retry(c);
        }
}

static void register_begin(NodeController *c) {
        _cleanup_json_ json_t *node = NULL;
        int r;

        if (c->reg_request || c->registered)
                return;
        r = build_node(c, &node);
        if (r >= 0) {
                c->stats.registrations++;
                r = api_client_create(c->api, "/api/v1/nodes", node, on_register_done, c, &c->reg_request);
        }
        if (r < 0) {
                report(c, r, "register node %s: %s", c->node_name, strerror(-r));
                register_retry(c);
        }
}

/* ---- status ---- */

static void status_sync(NodeController *c);

static void status_schedule(NodeController *c, uint64_t delay_usec) {
        int r = arm(c, &c->status_timer, delay_usec);
        if (r < 0)
                report(c, r, "node %s status: cannot arm the timer", c->node_name);
}

static void on_refresh_done(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;

        c->status_request = NULL;
        if (resp->error == -ENOENT) {
                node_gone(c);
                return;
        }
        if (resp->error == 0)
                set_server_node(c, resp->body);
        /* the next period, not at once: a server answering every patch with a conflict must not make us spin */
        status_schedule(c, c->update_usec);
}

static void on_status_done(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;
        int r;

        c->status_request = NULL;
        if (resp->error == 0) {
                c->last_report_usec = now_mono(c);
                set_server_node(c, resp->body);
        } else if (resp->error == -ENOENT) {
                report(c, resp->error, "update node %s status: %s", c->node_name, resp_message(resp));
                node_gone(c);
                return;
        } else if (resp->error == -ESTALE) {
                /* read the node again and compute the patch from what the server has */
                report(c, resp->error, "update node %s status: %s", c->node_name, resp_message(resp));
                r = api_client_get(c->api, c->node_path, on_refresh_done, c, &c->status_request);
                if (r >= 0)
                        return;
        } else
                report(c, resp->error, "update node %s status: %s", c->node_name, resp_message(resp));
        status_schedule(c, c->status_again ? 0 : c->update_usec);
        c->status_again = false;
}

static void status_sync(NodeController *c) {
        _cleanup_json_ json_t *status = NULL, *changes = NULL, *patch = NULL;
        _cleanup_free_ char *path = NULL;
        const json_t *old = json_object_get(c->server_node, "status");
        uint64_t now = now_mono(c);
        bool due;
        int r;

        if (!c->registered)
                return;
        if (c->status_request) {
                c->status_again = true;
                return;
        }
        c->stats.status_builds++;
        r = build_status(c, old, &status);
        if (r >= 0)
                r = node_status_patch(old, status, true, &changes);
        if (r < 0) {
                report(c, r, "node %s status: %s", c->node_name, strerror(-r));
                status_schedule(c, c->update_usec);
                return;
        }
        /* like the kubelet: only a change is sent at once; heartbeats alone wait for the report frequency */
        due = c->last_report_usec == 0 || now - c->last_report_usec >= c->report_usec;
        if (!changes && !due) {
                status_schedule(c, c->update_usec);
                return;
        }
        r = node_status_patch(old, status, false, &patch);
        if (r >= 0 && !patch) {
                c->last_report_usec = now;
                status_schedule(c, c->update_usec);
                return;
        }
        if (r >= 0 && asprintf(&path, "%s/status", c->node_path) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                c->stats.status_patches++;
                r = api_client_patch(c->api, path, API_PATCH_STRATEGIC, patch, on_status_done, c, &c->status_request);
        }
        if (r < 0) {
                report(c, r, "node %s status: %s", c->node_name, strerror(-r));
                status_schedule(c, c->update_usec);
        }
}

/* ---- the Lease ---- */

static void lease_schedule(NodeController *c, uint64_t delay_usec) {
        int r = arm(c, &c->lease_timer, delay_usec);
        if (r < 0)
                report(c, r, "node lease %s: cannot arm the timer", c->node_name);
}

/* After a failure: at once the first time (a conflict only needs a fresh read), then backing off. */
static void lease_failed(NodeController *c) {
        c->lease_failures++;
        lease_schedule(c, c->lease_failures <= 1 ? 0 : step_next(&c->lease_step_usec));
}

static void lease_ok(NodeController *c, json_t *lease) {
        json_decref(c->lease);
        c->lease = json_incref(lease);
        c->lease_failures = 0;
        c->lease_step_usec = 0;
        lease_schedule(c, c->lease_renew_usec);
}

static int lease_spec(NodeController *c, json_t *lease) {
        json_t *meta = json_object_get(lease, "metadata"), *spec;
        char now[64];

        format_time(now, sizeof now, true);
        spec = json_object_get(lease, "spec");
        if (!json_is_object(spec)) {
                spec = json_object();
                if (!spec || json_object_set_new(lease, "spec", spec) < 0)
                        return -ENOMEM;
        }
        if (json_object_set_new(spec, "holderIdentity", json_string(c->node_name)) < 0 ||
            json_object_set_new(spec, "leaseDurationSeconds", json_integer(c->cfg->node_lease_duration_seconds)) < 0 ||
            json_object_set_new(spec, "renewTime", json_string(now)) < 0)
                return -ENOMEM;
        /* the owner is the current Node (a re-registered node has a new uid) */
        if (c->uid) {
                const json_t *refs = json_object_get(meta, "ownerReferences");
                const json_t *first = json_array_get(refs, 0);
                if (json_array_size(refs) != 1 ||
                    !streq_ptr(json_string_value(json_object_get(first, "uid")), c->uid) ||
                    !streq_ptr(json_string_value(json_object_get(first, "kind")), "Node"))
                        if (json_object_set_new(meta, "ownerReferences",
                                                json_pack("[{s:s,s:s,s:s,s:s}]", "apiVersion", "v1", "kind", "Node",
                                                          "name", c->node_name, "uid", c->uid)) < 0)
                                return -ENOMEM;
        }
        return 0;
}

static void on_lease_write(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;

        c->lease_request = NULL;
        if (resp->error == 0) {
                lease_ok(c, resp->body);
                return;
        }
        report(c, resp->error, "node lease %s: %s", c->node_name, resp_message(resp));
        /* stale resourceVersion, lease deleted, or created by someone else meanwhile: read it again */
        if (resp->error == -ESTALE || resp->error == -ENOENT || resp->error == -EEXIST) {
                json_decref(c->lease);
                c->lease = NULL;
        }
        lease_failed(c);
}

static void on_lease_get(ApiClient *api, const ApiResponse *resp, void *userdata) {
        NodeController *c = userdata;
        _cleanup_json_ json_t *lease = NULL;
        int r;

        c->lease_request = NULL;
        if (resp->error == 0) {
                /* renew right away (the kubelet's ensureLease, then its update) */
                json_decref(c->lease);
                c->lease = json_incref(resp->body);
                lease_schedule(c, 0);
                return;
        }
        if (resp->error != -ENOENT) {
                report(c, resp->error, "node lease %s: %s", c->node_name, resp_message(resp));
                lease_failed(c);
                return;
        }
        lease = json_pack("{s:s,s:s,s:{s:s,s:s},s:{}}", "kind", "Lease", "apiVersion", "coordination.k8s.io/v1",
                          "metadata", "name", c->node_name, "namespace", LEASE_NAMESPACE, "spec");
        r = lease ? lease_spec(c, lease) : -ENOMEM;
        if (r >= 0) {
                c->stats.lease_creates++;
                r = api_client_create(c->api, LEASE_COLLECTION, lease, on_lease_write, c, &c->lease_request);
        }
        if (r < 0) {
                report(c, r, "node lease %s: %s", c->node_name, strerror(-r));
                lease_failed(c);
        }
}

static void lease_sync(NodeController *c) {
        _cleanup_json_ json_t *lease = NULL;
        int r;

        if (c->lease_request)
                return;
        if (!c->lease) {
                c->stats.lease_gets++;
                r = api_client_get(c->api, c->lease_path, on_lease_get, c, &c->lease_request);
        } else {
                lease = json_deep_copy(c->lease);
                r = lease ? lease_spec(c, lease) : -ENOMEM;
                /* the object as read, without managedFields (what the kubelet's update sends) */
                if (r >= 0)
                        (void) json_object_del(json_object_get(lease, "metadata"), "managedFields");
                if (r >= 0) {
                        c->stats.lease_renewals++;
                        r = api_client_update(c->api, c->lease_path, lease, on_lease_write, c, &c->lease_request);
                }
        }
        if (r < 0) {
                report(c, r, "node lease %s: %s", c->node_name, strerror(-r));
                lease_failed(c);
        }
}

/* ---- the node informer ---- */

static void on_node_event(Informer *inf, InformerEventType type, json_t *object, void *userdata) {
        NodeController *c = userdata;
        const char *uid = node_uid_of(object);

        if (type == INFORMER_DELETED) {
                if (c->registered && streq_ptr(uid, c->uid))
                        node_gone(c);
                return;
        }
        if (c->server_node && streq_ptr(uid, node_uid_of(c->server_node)) && !rv_newer_or_equal(object, c->server_node))
                return;
        if (!c->registered) {
                /* with registerNode false the node is somebody else's to create; otherwise registration is on
                 * its way and its answer decides */
                if (!c->cfg->register_node)
                        node_registered(c, object);
                return;
        }
        if (!streq_ptr(uid, c->uid)) {
                /* deleted and created again behind our back: take the new object as ours */
                free(c->uid);
                c->uid = uid ? strdup(uid) : NULL;
        }
        set_server_node(c, object);
}

static void on_node_error(Informer *inf, int r, const char *message, void *userdata) {
        NodeController *c = userdata;

        if (c->cb.error)
                c->cb.error(c, r, message, c->userdata);
}

/* ---- the object ---- */

static int timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        NodeController *c = userdata;

        if (s == c->reg_timer)
                register_begin(c);
        else if (s == c->status_timer)
                status_sync(c);
        else if (s == c->lease_timer)
                lease_sync(c);
        return 0;
}

int node_controller_new(sd_event *e, ApiClient *api, const NodeletConfig *cfg, const NodeInfoSource *src,
                        const NodeControllerCallbacks *cb, void *userdata, NodeController **ret) {
        _cleanup_(node_controller_freep) NodeController *c = NULL;
        _cleanup_free_ char *name = NULL;
        _cleanup_free_ char *selector = NULL;
        int r;

        if (!e || !api || !cfg || !src || isempty(src->node_name) || !ret)
                return -EINVAL;
        c = calloc(1, sizeof *c);
        RET_NULL_ENOMEM(c);
        c->event = sd_event_ref(e);
        c->api = api;
        c->cfg = cfg;
        c->src = *src;
        if (cb)
                c->cb = *cb;
        c->userdata = userdata;
        c->node_name = strdup(src->node_name);
        RET_NULL_ENOMEM(c->node_name);
        struct utsname u;
        (void) snprintf(c->arch, sizeof c->arch, "%s", uname(&u) >= 0 ? go_arch(u.machine) : "amd64");
        r = api_escape(c->node_name, &name);
        if (r < 0)
                return r;
        if (asprintf(&c->node_path, "/api/v1/nodes/%s", name) < 0 ||
            asprintf(&c->lease_path, "%s/%s", LEASE_COLLECTION, name) < 0)
                return -ENOMEM;
        c->update_usec = cfg->node_status_update_frequency_usec ?: 10 * USEC_PER_SEC;
        c->report_usec = cfg->node_status_report_frequency_usec ?: 5 * 60 * USEC_PER_SEC;
        c->lease_renew_usec =
                (uint64_t) ((double) (cfg->node_lease_duration_seconds > 0 ? cfg->node_lease_duration_seconds : 40) *
                            LEASE_RENEW_FRACTION * USEC_PER_SEC);

        if (asprintf(&selector, "metadata.name=%s", c->node_name) < 0)
                return -ENOMEM;
        r = informer_new(api, &(InformerOptions){.path = "/api/v1/nodes", .field_selector = selector},
                         &(InformerCallbacks){.event = on_node_event, .error = on_node_error}, c, &c->informer);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int node_controller_start(NodeController *c) {
        int r;

        if (c->started)
                return -EBUSY;
        c->started = true;
        r = informer_start(c->informer);
        if (r < 0)
                return r;
        if (c->cfg->register_node)
                register_begin(c);
        return 0;
}

NodeController *node_controller_free(NodeController *c) {
        if (!c)
                return NULL;
        informer_free(c->informer);
        api_request_cancel(c->reg_request);
        api_request_cancel(c->status_request);
        api_request_cancel(c->lease_request);
        sd_event_source_disable_unref(c->reg_timer);
        sd_event_source_disable_unref(c->status_timer);
        sd_event_source_disable_unref(c->lease_timer);
        json_decref(c->server_node);
        json_decref(c->images);
        json_decref(c->lease);
        strv_free(c->pod_cidrs);
        free(c->uid);
        free(c->not_ready_message);
        free(c->node_name);
        free(c->node_path);
        free(c->lease_path);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

void node_controller_set_ready(NodeController *c, bool ready, const char *message) {
        bool changed = c->ready != ready || (!ready && !streq_ptr(message, c->not_ready_message));
        char *m = NULL;

        if (!ready && message) {
                m = strdup(message);
                if (!m)
                        return; /* keep the old state: the next call tries again */
        }
        free(c->not_ready_message);
        c->not_ready_message = m;
        c->ready = ready;
        if (changed && c->registered)
                status_schedule(c, 0);
}

bool node_controller_registered(const NodeController *c) {
        return c->registered;
}

const char *node_controller_node_uid(const NodeController *c) {
        return c->registered ? c->uid : NULL;
}

const NodeControllerStats *node_controller_stats(const NodeController *c) {
        return &c->stats;
}
