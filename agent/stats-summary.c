/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/stats-summary.h"

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"

#define SAMPLE_MIN_INTERVAL_NS NSEC_PER_SEC
#define USER_HZ 100ULL /* /proc/stat's unit on Linux (sysconf(_SC_CLK_TCK) is always 100 there) */

struct StatsSampler {
        unsigned n_ref;
        json_t *samples; /* key → [last_ns, last_cpu_ns, prev_ns, prev_cpu_ns] */
};

int stats_sampler_new(StatsSampler **ret) {
        StatsSampler *s = calloc(1, sizeof *s);
        RET_NULL_ENOMEM(s);
        s->samples = json_object();
        if (!s->samples) {
                free(s);
                return -ENOMEM;
        }
        s->n_ref = 1;
        *ret = s;
        return 0;
}

StatsSampler *stats_sampler_free(StatsSampler *s) {
        if (!s || --s->n_ref > 0)
                return NULL;
        json_decref(s->samples);
        free(s);
        return NULL;
}

/* Records a CPU sample for key and returns the rate over the last two (ns of CPU per s), or -1 when there is only
 * one yet. */
static double sampler_rate(StatsSampler *s, const char *key, uint64_t t_ns, uint64_t cpu_ns) {
        json_t *v = json_object_get(s->samples, key);
        uint64_t last_t, last_c, prev_t, prev_c;

        if (!v) {
                (void) json_object_set_new(s->samples, key,
                                           json_pack("[I, I, I, I]", (json_int_t) t_ns, (json_int_t) cpu_ns,
                                                     (json_int_t) 0, (json_int_t) 0));
                return -1;
        }
        last_t = (uint64_t) json_integer_value(json_array_get(v, 0));
        last_c = (uint64_t) json_integer_value(json_array_get(v, 1));
        if (t_ns >= last_t + SAMPLE_MIN_INTERVAL_NS && cpu_ns >= last_c) {
                (void) json_array_set_new(v, 2, json_integer((json_int_t) last_t));
                (void) json_array_set_new(v, 3, json_integer((json_int_t) last_c));
                (void) json_array_set_new(v, 0, json_integer((json_int_t) t_ns));
                (void) json_array_set_new(v, 1, json_integer((json_int_t) cpu_ns));
        } else if (cpu_ns < last_c) { /* a new instance under the same key: start over */
                (void) json_object_set_new(s->samples, key,
                                           json_pack("[I, I, I, I]", (json_int_t) t_ns, (json_int_t) cpu_ns,
                                                     (json_int_t) 0, (json_int_t) 0));
                return -1;
        }
        last_t = (uint64_t) json_integer_value(json_array_get(v, 0));
        last_c = (uint64_t) json_integer_value(json_array_get(v, 1));
        prev_t = (uint64_t) json_integer_value(json_array_get(v, 2));
        prev_c = (uint64_t) json_integer_value(json_array_get(v, 3));
        if (prev_t == 0 || last_t <= prev_t)
                return -1;
        return (double) (last_c - prev_c) * 1e9 / (double) (last_t - prev_t);
}

/* ---- what a summary reads (on a WorkPool thread) ---- */

typedef struct CgroupRead {
        bool have_cpu, have_memory;
        uint64_t cpu_ns;
        uint64_t usage, working_set, rss, page_faults, major_page_faults;
} CgroupRead;

typedef struct ContainerRead {
        char *id, *name;
        char **dirs;
        uint64_t start_ns;
        char *log_path;
        CgroupRead cg;
        bool have_log;
        uint64_t log_bytes;
} ContainerRead;

typedef struct NetRead {
        bool have;
        uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
} NetRead;

typedef struct FsRead {
        bool have;
        uint64_t available, capacity, used, inodes_free, inodes, inodes_used;
} FsRead;

typedef struct PodRead {
        char *ns, *name, *uid;
        uint64_t start_ns;
        pid_t pid; /* a running container's: its /proc/<pid>/net/dev is the pod's network namespace */
        ContainerRead *c;
        size_t n_c;
        NetRead net;
} PodRead;

typedef struct SummaryJob {
        StatsSampler *sampler;
        HttpRequest *req; /* NULL once the server let go of it */
        char *node_name, *root_dir;
        uint64_t node_start_ns, time_ns;
        PodRead *pods;
        size_t n_pods;
        /* node */
        bool have_cpu, have_memory;
        uint64_t cpu_ns;
        uint64_t mem_total, mem_free, mem_available, mem_inactive_file, mem_rss, page_faults, major_page_faults;
        NetRead net;
        char net_name[64];
        FsRead fs, image_fs;
        uint64_t max_pid, cur_proc;
} SummaryJob;

static void summary_job_free(SummaryJob *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n_pods; i++) {
                PodRead *p = &j->pods[i];
                for (size_t k = 0; k < p->n_c; k++) {
                        free(p->c[k].id);
                        free(p->c[k].name);
                        strv_free(p->c[k].dirs);
                        free(p->c[k].log_path);
                }
                free(p->c);
                free(p->ns);
                free(p->name);
                free(p->uid);
        }
        free(j->pods);
        free(j->node_name);
        free(j->root_dir);
        stats_sampler_free(j->sampler);
        free(j);
}

static int read_u64_at(const char *dir, const char *file, uint64_t *ret) {
        char path[4096], buf[64];
        _cleanup_(fclosep) FILE *f = NULL;

        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int) sizeof path)
                return -ENAMETOOLONG;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, sizeof buf, f))
                return -EIO;
        if (streq(buf, "max\n"))
                return -ERANGE;
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

/* "key value" lines (memory.stat, cpu.stat, /proc/meminfo with its "key: value kB"). Unknown keys are skipped;
 * keys[i] found → vals[i] set and bit i of the result. */
static unsigned read_keyed(const char *path, const char *const *keys, size_t n, uint64_t *vals) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[256];
        unsigned found = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof line, f)) {
                char *sp = strpbrk(line, " :");
                if (!sp)
                        continue;
                *sp = 0;
                for (size_t i = 0; i < n; i++)
                        if (streq(line, keys[i])) {
                                uint64_t v = strtoull(sp + 1 + strspn(sp + 1, " :"), NULL, 10);
                                vals[i] = strstr(sp + 1, "kB") ? v * 1024 : v;
                                found |= 1U << i;
                        }
        }
        return found;
}

static void read_cgroup(char *const *dirs, CgroupRead *ret) {
        for (char *const *d = dirs; d && *d; d++) {
                char path[4096];
                uint64_t v = 0;

                /* v1: cpuacct and memory are separate hierarchies; v2: one directory with both. */
                if (!ret->have_cpu && read_u64_at(*d, "cpuacct.usage", &v) >= 0) {
                        ret->cpu_ns = v;
                        ret->have_cpu = true;
                }
                if (!ret->have_cpu && snprintf(path, sizeof path, "%s/cpu.stat", *d) < (int) sizeof path) {
                        static const char *const keys[] = {"usage_usec"};
                        if (read_keyed(path, keys, 1, &v) & 1) {
                                ret->cpu_ns = v * NSEC_PER_USEC;
                                ret->have_cpu = true;
                        }
                }
                if (!ret->have_memory &&
                    (read_u64_at(*d, "memory.usage_in_bytes", &v) >= 0 || read_u64_at(*d, "memory.current", &v) >= 0)) {
                        /* v1 names its hierarchical totals total_*; v2's memory.stat is hierarchical already. */
                        static const char *const keys[] = {
                                "total_inactive_file", "total_rss", "total_pgfault", "total_pgmajfault",
                                "inactive_file",       "anon",      "pgfault",       "pgmajfault"};
                        uint64_t s[ELEMENTSOF(keys)] = {};
                        unsigned f = 0;
                        ret->usage = v;
                        ret->have_memory = true;
                        if (snprintf(path, sizeof path, "%s/memory.stat", *d) < (int) sizeof path)
                                f = read_keyed(path, keys, ELEMENTSOF(keys), s);
                        bool v1 = f & 1;
                        uint64_t inactive = v1 ? s[0] : s[4];
                        /* cAdvisor's working set: usage minus inactive file pages (never below 0) */
                        ret->working_set = v > inactive ? v - inactive : 0;
                        ret->rss = v1 ? s[1] : s[5];
                        ret->page_faults = v1 ? s[2] : s[6];
                        ret->major_page_faults = v1 ? s[3] : s[7];
                }
        }
}

/* The first non-loopback interface's counters, like the kubelet's default interface ("eth0" in pods). */
static void read_net_dev(const char *path, NetRead *ret, char *ret_name, size_t name_size) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[512];

        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                char name[64];
                unsigned long long rx, rxe, tx, txe, skip;
                if (sscanf(line, " %63[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &rx, &skip,
                           &rxe, &skip, &skip, &skip, &skip, &skip, &tx, &skip, &txe) != 12)
                        continue;
                if (streq(name, "lo"))
                        continue;
                *ret = (NetRead){.have = true, .rx_bytes = rx, .rx_errors = rxe, .tx_bytes = tx, .tx_errors = txe};
                if (ret_name)
                        (void) snprintf(ret_name, name_size, "%s", name);
                if (streq(name, "eth0") || !ret_name)
                        return;
        }
}

static void read_fs(const char *path, FsRead *ret) {
        struct statvfs sv;
        if (!path || statvfs(path, &sv) < 0)
                return;
        *ret = (FsRead){
                .have = true,
                .available = (uint64_t) sv.f_bavail * sv.f_frsize,
                .capacity = (uint64_t) sv.f_blocks * sv.f_frsize,
                .used = (uint64_t) (sv.f_blocks - sv.f_bfree) * sv.f_frsize,
                .inodes_free = sv.f_ffree,
                .inodes = sv.f_files,
                .inodes_used = sv.f_files - sv.f_ffree,
        };
}

static int summary_work(void *userdata) {
        SummaryJob *j = userdata;
        char path[4096];
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        j->time_ns = (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;

        for (size_t i = 0; i < j->n_pods; i++) {
                PodRead *p = &j->pods[i];
                for (size_t k = 0; k < p->n_c; k++) {
                        ContainerRead *c = &p->c[k];
                        struct stat st;
                        read_cgroup(c->dirs, &c->cg);
                        if (c->log_path && stat(c->log_path, &st) >= 0) {
                                c->have_log = true;
                                c->log_bytes = (uint64_t) st.st_blocks * 512;
                        }
                }
                if (p->pid > 0) {
                        (void) snprintf(path, sizeof path, "/proc/%d/net/dev", (int) p->pid);
                        read_net_dev(path, &p->net, NULL, 0);
                }
        }

        /* The node: /proc/stat's cpu line (jiffies of every state but idle and iowait), /proc/meminfo. */
        {
                _cleanup_(fclosep) FILE *f = fopen("/proc/stat", "re");
                unsigned long long u, n, s, idle, iow, irq, sirq, steal;
                if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &s, &idle, &iow, &irq, &sirq,
                                &steal) == 8) {
                        j->cpu_ns = (u + n + s + irq + sirq + steal) * (NSEC_PER_SEC / USER_HZ);
                        j->have_cpu = true;
                }
        }
        {
                static const char *const keys[] = {"MemTotal", "MemFree", "MemAvailable", "Inactive(file)",
                                                   "AnonPages"};
                uint64_t v[ELEMENTSOF(keys)] = {};
                if ((read_keyed("/proc/meminfo", keys, ELEMENTSOF(keys), v) & 3) == 3) {
                        j->have_memory = true;
                        j->mem_total = v[0];
                        j->mem_free = v[1];
                        j->mem_available = v[2];
                        j->mem_inactive_file = v[3];
                        j->mem_rss = v[4];
                }
        }
        {
                static const char *const keys[] = {"pgfault", "pgmajfault"};
                uint64_t v[2] = {};
                (void) read_keyed("/proc/vmstat", keys, 2, v);
                j->page_faults = v[0];
                j->major_page_faults = v[1];
        }
        read_net_dev("/proc/net/dev", &j->net, j->net_name, sizeof j->net_name);
        read_fs(j->root_dir, &j->fs);
        if (snprintf(path, sizeof path, "%s/images", j->root_dir) < (int) sizeof path)
                read_fs(path, &j->image_fs);
        if (read_u64_at("/proc/sys/kernel", "pid_max", &j->max_pid) < 0)
                j->max_pid = 0;
        {
                _cleanup_(fclosep) FILE *f = fopen("/proc/loadavg", "re");
                unsigned long long running, total;
                if (f && fscanf(f, "%*s %*s %*s %llu/%llu", &running, &total) == 2)
                        j->cur_proc = total;
        }
        return 0;
}

/* ---- the answer (on the loop) ---- */

static json_t *timestamp(uint64_t ns) {
        time_t t = (time_t) (ns / NSEC_PER_SEC);
        struct tm tm;
        char buf[32];

        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static json_t *u64(uint64_t v) {
        return json_integer((json_int_t) MIN(v, (uint64_t) INT64_MAX));
}

static json_t *cpu_json(SummaryJob *j, const char *key, uint64_t cpu_ns) {
        json_t *o = json_pack("{s:o, s:o}", "time", timestamp(j->time_ns), "usageCoreNanoSeconds", u64(cpu_ns));
        double rate = sampler_rate(j->sampler, key, j->time_ns, cpu_ns);
        if (o && rate >= 0)
                (void) json_object_set_new(o, "usageNanoCores", u64((uint64_t) rate));
        return o;
}

static json_t *memory_json(SummaryJob *j, uint64_t usage, uint64_t working_set, uint64_t rss, uint64_t pf,
                           uint64_t majpf) {
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "time", timestamp(j->time_ns), "usageBytes", u64(usage),
                         "workingSetBytes", u64(working_set), "rssBytes", u64(rss), "pageFaults", u64(pf),
                         "majorPageFaults", u64(majpf));
}

static json_t *fs_json(SummaryJob *j, const FsRead *f, bool with_used, uint64_t used) {
        if (!f->have)
                return json_pack("{s:o}", "time", timestamp(j->time_ns));
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "time", timestamp(j->time_ns), "availableBytes",
                         u64(f->available), "capacityBytes", u64(f->capacity), "usedBytes",
                         u64(with_used ? used : f->used), "inodesFree", u64(f->inodes_free), "inodes", u64(f->inodes),
                         "inodesUsed", u64(f->inodes_used));
}

static json_t *net_json(SummaryJob *j, const NetRead *n, const char *name) {
        if (!n->have)
                return json_pack("{s:o}", "time", timestamp(j->time_ns));
        return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:[{s:s, s:o, s:o, s:o, s:o}]}", "time", timestamp(j->time_ns),
                         "name", name, "rxBytes", u64(n->rx_bytes), "rxErrors", u64(n->rx_errors), "txBytes",
                         u64(n->tx_bytes), "txErrors", u64(n->tx_errors), "interfaces", "name", name, "rxBytes",
                         u64(n->rx_bytes), "rxErrors", u64(n->rx_errors), "txBytes", u64(n->tx_bytes), "txErrors",
                         u64(n->tx_errors));
}

static json_t *summary_json(SummaryJob *j) {
        _cleanup_json_ json_t *pods = json_array(), *node = NULL, *seen = json_object();
        uint64_t node_usage = j->mem_total - MIN(j->mem_free, j->mem_total);

        if (!pods || !seen)
                return NULL;
        node = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:{s:o}, s:{s:o, s:o, s:o}}", "nodeName", j->node_name,
                         "startTime", timestamp(j->node_start_ns), "cpu", cpu_json(j, "node", j->cpu_ns), "memory",
                         memory_json(j, node_usage, node_usage - MIN(j->mem_inactive_file, node_usage), j->mem_rss,
                                     j->page_faults, j->major_page_faults),
                         "network", net_json(j, &j->net, j->net_name), "fs", fs_json(j, &j->fs, false, 0), "runtime",
                         "imageFs", fs_json(j, &j->image_fs, false, 0), "rlimit", "time", timestamp(j->time_ns),
                         "maxpid", u64(j->max_pid), "curproc", u64(j->cur_proc));
        if (!node)
                return NULL;
        if (j->have_memory)
                (void) json_object_set_new(json_object_get(node, "memory"), "availableBytes", u64(j->mem_available));
        (void) json_object_set_new(seen, "node", json_true());

        for (size_t i = 0; i < j->n_pods; i++) {
                PodRead *p = &j->pods[i];
                _cleanup_json_ json_t *containers = json_array();
                uint64_t cpu = 0, usage = 0, ws = 0, rss = 0, pf = 0, majpf = 0, logs = 0;
                bool any_cpu = false;
                char key[512];

                if (!containers)
                        return NULL;
                for (size_t k = 0; k < p->n_c; k++) {
                        ContainerRead *c = &p->c[k];
                        json_t *o = json_pack("{s:s, s:o}", "name", c->name, "startTime", timestamp(c->start_ns));
                        if (!o || json_array_append_new(containers, o) < 0)
                                return NULL;
                        if (c->cg.have_cpu) {
                                (void) json_object_set_new(o, "cpu", cpu_json(j, c->id, c->cg.cpu_ns));
                                (void) json_object_set_new(seen, c->id, json_true());
                                cpu += c->cg.cpu_ns;
                                any_cpu = true;
                        }
                        if (c->cg.have_memory)
                                (void) json_object_set_new(o, "memory",
                                                           memory_json(j, c->cg.usage, c->cg.working_set, c->cg.rss,
                                                                       c->cg.page_faults, c->cg.major_page_faults));
                        usage += c->cg.usage;
                        ws += c->cg.working_set;
                        rss += c->cg.rss;
                        pf += c->cg.page_faults;
                        majpf += c->cg.major_page_faults;
                        logs += c->log_bytes;
                        (void) json_object_set_new(o, "rootfs", fs_json(j, &j->fs, true, 0));
                        (void) json_object_set_new(o, "logs", fs_json(j, &j->fs, true, c->log_bytes));
                }
                json_t *po = json_pack("{s:{s:s, s:s, s:s}, s:o, s:O, s:o, s:[], s:o}", "podRef", "name", p->name,
                                       "namespace", p->ns, "uid", p->uid, "startTime", timestamp(p->start_ns),
                                       "containers", containers, "memory", memory_json(j, usage, ws, rss, pf, majpf),
                                       "volume", "ephemeral-storage", fs_json(j, &j->fs, true, logs));
                if (!po || json_array_append_new(pods, po) < 0)
                        return NULL;
                /* The pod's CPU is its containers' (nodelet has no pause container to add). */
                (void) snprintf(key, sizeof key, "pod/%s", p->uid);
                if (any_cpu) {
                        (void) json_object_set_new(po, "cpu", cpu_json(j, key, cpu));
                        (void) json_object_set_new(seen, key, json_true());
                }
                (void) json_object_set_new(po, "network", net_json(j, &p->net, "eth0"));
        }
        /* Forget the samples of containers and pods that are gone. */
        {
                const char *key;
                json_t *v, *tmp;
                json_object_foreach_safe (j->sampler->samples, tmp, key, v) {
                        if (!json_object_get(seen, key))
                                (void) json_object_del(j->sampler->samples, key);
                }
        }
        return json_pack("{s:O, s:O}", "node", node, "pods", pods);
}

static void summary_done(int result, void *userdata) {
        SummaryJob *j = userdata;
        HttpRequest *req = j->req;
        _cleanup_json_ json_t *summary = NULL;
        char *body;

        if (!req) { /* the server went away meanwhile */
                summary_job_free(j);
                return;
        }
        summary = summary_json(j);
        body = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
        if (body)
                (void) http_respond(req, 200, "application/json", body, strlen(body));
        else
                (void) http_respond_text(req, 500, "Internal Server Error");
        summary_job_free(j);
        http_request_resume(req);
}

static void on_summary_cancelled(HttpRequest *req, void *userdata) {
        SummaryJob *j = userdata;
        j->req = NULL; /* the job is still on the pool: summary_done() frees it */
}

static int container_read_add(PodRead *p, CState *cs) {
        Container *c = cs->current;
        char *const *dirs;
        ContainerRead *cr;
        int version;

        if (!c || cs->phase != CS_RUNNING)
                return 0;
        cr = &p->c[p->n_c];
        *cr = (ContainerRead){.start_ns = cs->status.started_at};
        dirs = container_cgroup_dirs(c, &version);
        cr->id = strdup(container_id(c));
        cr->name = strdup(cs->spec->name);
        if (!cr->id || !cr->name)
                goto oom;
        if (container_log_path(c) && !(cr->log_path = strdup(container_log_path(c))))
                goto oom;
        if (dirs) {
                size_t n = 0;
                while (dirs[n])
                        n++;
                cr->dirs = calloc(n + 1, sizeof(char *));
                if (!cr->dirs)
                        goto oom;
                for (size_t i = 0; i < n; i++)
                        if (!(cr->dirs[i] = strdup(dirs[i])))
                                goto oom;
        }
        if (p->pid <= 0 && cs->status.pid > 0)
                p->pid = cs->status.pid;
        p->n_c++;
        return 0;
oom:
        free(cr->id);
        free(cr->name);
        free(cr->log_path);
        strv_free(cr->dirs);
        return -ENOMEM;
}

int stats_summary_handle(HttpRequest *r, void *userdata) {
        Manager *m = userdata;
        SummaryJob *j;
        int k;

        if (!m->stats) {
                k = stats_sampler_new(&m->stats);
                if (k < 0)
                        return k;
        }
        j = calloc(1, sizeof *j);
        RET_NULL_ENOMEM(j);
        j->sampler = m->stats;
        m->stats->n_ref++;
        j->node_name = strdup(strempty(m->node_name));
        j->root_dir = strdup(strempty(m->cfg.root_dir));
        j->pods = calloc(m->n_workers + 1, sizeof *j->pods);
        if (!j->node_name || !j->root_dir || !j->pods) {
                summary_job_free(j);
                return -ENOMEM;
        }
        {
                /* The node's start: boot time, from the realtime and boottime clocks. */
                struct timespec rt, bt;
                (void) clock_gettime(CLOCK_REALTIME, &rt);
                (void) clock_gettime(CLOCK_BOOTTIME, &bt);
                j->node_start_ns = ((uint64_t) rt.tv_sec - (uint64_t) bt.tv_sec) * NSEC_PER_SEC;
        }
        for (PodWorker *w = m->workers; w && j->n_pods < m->n_workers + 1; w = w->next) {
                PodRead *p = &j->pods[j->n_pods];
                if (!w->sandbox_ready || w->state > W_STOPPING)
                        continue;
                p->ns = strdup(w->pod->namespace_);
                p->name = strdup(w->pod->name);
                p->uid = strdup(w->pod->uid);
                p->start_ns = w->start_time_ns;
                p->c = calloc(w->n_init + w->n_app + 1, sizeof *p->c);
                j->n_pods++;
                if (!p->ns || !p->name || !p->uid || !p->c) {
                        summary_job_free(j);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < w->n_init + w->n_app; i++) {
                        k = container_read_add(p, i < w->n_init ? &w->init[i] : &w->app[i - w->n_init]);
                        if (k < 0) {
                                summary_job_free(j);
                                return k;
                        }
                }
        }
        k = http_request_suspend(r, on_summary_cancelled, j);
        if (k < 0) {
                summary_job_free(j);
                return k;
        }
        j->req = r;
        k = work_pool_submit(m->pool, summary_work, summary_done, j);
        if (k < 0) {
                j->req = NULL;
                summary_job_free(j);
                (void) http_respond_text(r, 500, "Internal Server Error");
                http_request_resume(r);
                return 0;
        }
        return 0;
}
