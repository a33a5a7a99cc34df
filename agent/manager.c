/* SPDX-License-Identifier: Apache-2.0 */
/* The manager: the daemon's state (one per process). It owns the runtime, the image store, the CNI runner, the
 * prober, the sources and one PodWorker per pod, and is the only place that turns source events (pod added,
 * removed) into worker actions — the kubelet's pod config merge + HandlePodAdditions/Removals, for one source today
 * (the manifest directory) and the API server next.
 *
 * Start-up order matters for restart safety: containers found in the runtime's state dir are collected first
 * (re-adoption), the sources then deliver their pods and each new worker takes its pod's containers; once every
 * source has synced, whatever is left belongs to no pod any more and is stopped and removed (orphans, like the
 * kubelet's HandlePodCleanups). */
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "agent/api-objects.h"
#include "agent/api-pods.h"
#include "agent/apiclient.h"
#include "agent/image-gc.h"
#include "agent/image-pull.h"
#include "agent/kubeconfig.h"
#include "agent/node.h"
#include "agent/pod-events.h"
#include "agent/preload.h"
#include "agent/prober.h"
#include "agent/static-pods.h"
#include "agent/volumes.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "runtime/sandbox.h"

#define KUBELET_VERSION "1.26"

static void manager_update_node_ready(Manager *m);

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

PodWorker *manager_find_worker(Manager *m, const char *uid) {
        for (PodWorker *w = m->workers; w; w = w->next)
                if (streq(w->pod->uid, uid))
                        return w;
        return NULL;
}

static void manager_unlink_worker(Manager *m, PodWorker *w) {
        for (PodWorker **p = &m->workers; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        m->n_workers--;
                        return;
                }
}

void manager_pod_gone(Manager *m, PodWorker *w) {
        char buf[512];
        log_info("Pod %s removed", pod_full_name(w->pod, buf, sizeof(buf)));
        api_pods_worker_gone(m->api_pods, w->pod->uid);
        api_objects_pod_release(m->api_objects, w->pod->uid);
        manager_unlink_worker(m, w);
        pod_worker_free(w);
        if (m->exiting && !m->workers)
                (void) sd_event_exit(m->event, 0);
}

AdoptedContainer *manager_take_adopted(Manager *m, const char *uid) {
        AdoptedContainer *taken = NULL;
        for (AdoptedContainer **p = &m->adopted; *p;) {
                AdoptedContainer *a = *p;
                if (streq(a->pod_uid, uid)) {
                        *p = a->next;
                        a->next = taken;
                        taken = a;
                } else
                        p = &a->next;
        }
        return taken;
}

void manager_record_pod_start(Manager *m, uint64_t usec) {
        /* kubelet_pod_start_sli_duration_seconds buckets */
        static const double buckets[] = {0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240};
        double s = (double) usec / (double) USEC_PER_SEC;
        for (size_t i = 0; i < ELEMENTSOF(buckets); i++)
                if (s <= buckets[i])
                        m->metrics.start_buckets[i]++;
        m->metrics.start_sum += s;
        m->metrics.start_count++;
        m->metrics.pod_starts++;
        log_debug("pod started in %.3f s", s);
}

static void manager_file_error(const char *path, const char *message, void *userdata) {
        Manager *m = userdata;
        log_error("%s", message);
        if (m->file_errors)
                (void) json_object_set_new(m->file_errors, path, json_string(message));
}

void manager_pod_add(Manager *m, json_t *obj, const char *source, const char *origin) {
        _cleanup_(pod_freep) Pod *pod = NULL;
        ErrorBuf e = {};
        const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
        const char *file = json_string_value(json_object_get(
                json_object_get(json_object_get(obj, "metadata"), "annotations"), "kubernetes.io/config.source"));
        (void) file;
        if (uid && manager_find_worker(m, uid))
                return; /* same UID: same content */
        if (m->exiting)
                return; /* draining: a source still reporting a pod (the API, until we stop watching) starts nothing */
        int r = pod_parse(obj, source, &pod, &e);
        if (r < 0) {
                /* The kubelet rejects such a pod; nothing else is affected. */
                log_error("%s%spod \"%s\": %s", strempty(origin), origin ? ": " : "", strna(name),
                          error_message(&e, r));
                return;
        }
        if (origin)
                pod->source_path = strdup(origin);
        char buf[512];
        PodWorker *w;
        r = pod_worker_new(m, pod, &w);
        if (r < 0) {
                log_error_errno(r, "Pod %s: failed to create its worker: %m", pod_full_name(pod, buf, sizeof(buf)));
                return;
        }
        TAKE_PTR(pod);
        /* The kubelet admits against its active pods: those stopping, terminal or being removed do not count
         * (pkg/kubelet filterOutInactivePods), so a deleted pod still being torn down frees its slot at once. */
        size_t active = 0;
        for (PodWorker *o = m->workers; o; o = o->next)
                if (!o->removal_requested && o->terminal_phase == POD_PHASE_UNKNOWN && o->state < W_STOPPING)
                        active++;
        if (active >= m->cfg.max_pods) {
                /* Admission: the kubelet fails the pod with OutOfpods. */
                log_warning("Pod %s rejected: node has %u pods already (max-pods)",
                            pod_full_name(w->pod, buf, sizeof(buf)), m->cfg.max_pods);
                w->terminal_phase = POD_PHASE_FAILED;
                snprintf(w->terminal_reason, sizeof(w->terminal_reason), "OutOfpods");
                snprintf(w->terminal_message, sizeof(w->terminal_message),
                         "Node didn't have enough resource: pods, requested: 1, used: %zu, capacity: %u", active,
                         m->cfg.max_pods);
                w->state = W_TERMINAL;
                pod_worker_event(w, NULL, EVENT_TYPE_WARNING, "OutOfpods", "%s", w->terminal_message);
        }
        w->next = m->workers;
        m->workers = w;
        m->n_workers++;
        pod_worker_adopt(w, manager_take_adopted(m, w->pod->uid));
        log_info("Pod %s added%s", pod_full_name(w->pod, buf, sizeof(buf)), w->adopted ? " (re-adopted)" : "");
        pod_worker_schedule(w);
}

void manager_pod_remove(Manager *m, const char *uid) {
        PodWorker *w = manager_find_worker(m, uid);
        if (!w)
                return;
        char buf[512];
        log_info("Pod %s: source removed it, stopping", pod_full_name(w->pod, buf, sizeof(buf)));
        pod_worker_request_removal(w);
}

static void source_add(json_t *pod, const char *origin, void *userdata) {
        manager_pod_add(userdata, pod, "file", origin);
}

static void source_remove(const char *uid, void *userdata) {
        manager_pod_remove(userdata, uid);
}

/* ---- orphans: containers and sandboxes of pods no source knows ---- */

typedef struct OrphanJob {
        Manager *m;
        Container **containers;
        size_t n;
        char *uid;
        char *pod_dir;
        char *log_glob_dir;
} OrphanJob;

static int orphan_work(void *userdata) {
        OrphanJob *j = userdata;
        for (size_t i = 0; i < j->n; i++) {
                const char *iid = container_annotation(j->containers[i], POD_ANNOTATION_IMAGE_ID);
                if (iid)
                        (void) image_store_remove_user(j->m->images, iid, container_id(j->containers[i]));
                (void) container_remove(j->containers[i], true, NULL);
                j->containers[i] = NULL;
        }
        (void) sandbox_remove(j->m->runtime, j->uid, NULL);
        static const char *const qos[] = {"kubepods", "kubepods/burstable", "kubepods/besteffort"};
        for (size_t i = 0; i < ELEMENTSOF(qos); i++) {
                char rel[256];
                snprintf(rel, sizeof(rel), "%s/pod%s", qos[i], j->uid);
                (void) runtime_pod_cgroup_remove(j->m->runtime, rel, NULL);
        }
        (void) pod_volumes_teardown(j->pod_dir, NULL);
        /* Log directories: <pod-logs>/<ns>_<name>_<uid>. */
        _cleanup_(closedirp) DIR *d = opendir(j->m->cfg.pod_logs_dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (endswith(de->d_name, j->uid) && de->d_name[strlen(de->d_name) - strlen(j->uid) - 1] == '_') {
                        _cleanup_free_ char *p = NULL;
                        if (path_join(&p, j->m->cfg.pod_logs_dir, de->d_name) >= 0)
                                (void) rm_rf(p);
                }
        return 0;
}

static void orphan_done(int result, void *userdata) {
        OrphanJob *j = userdata;
        for (size_t i = 0; i < j->n; i++)
                container_free(j->containers[i]);
        free(j->containers);
        free(j->uid);
        free(j->pod_dir);
        free(j);
}

static void orphan_cni_done(int r, const json_t *result, const CniError *err, void *userdata) {
        OrphanJob *j = userdata;
        if (work_pool_submit(j->m->pool, orphan_work, orphan_done, j) < 0)
                orphan_done(0, j);
}

static void manager_cleanup_orphan(Manager *m, const char *uid, const char *ns, const char *name) {
        OrphanJob *j = calloc(1, sizeof(OrphanJob));
        if (!j || !(j->uid = strdup(uid)) || asprintf(&j->pod_dir, "%s/pods/%s", m->cfg.root_dir, uid) < 0) {
                if (j)
                        free(j->uid);
                free(j);
                return;
        }
        j->m = m;
        size_t n = 0;
        for (AdoptedContainer *a = m->adopted; a; a = a->next)
                n += streq(a->pod_uid, uid);
        j->containers = calloc(n + 1, sizeof(Container *));
        AdoptedContainer *l = manager_take_adopted(m, uid);
        for (AdoptedContainer *a = l, *next; a; a = next) {
                next = a->next;
                if (j->containers)
                        j->containers[j->n++] = a->c;
                else
                        container_free(a->c);
                free(a->pod_uid);
                free(a->pod_name);
                free(a->pod_namespace);
                free(a->name);
                free(a);
        }
        log_info("Removing orphaned pod %s/%s (%s): no source has it any more", strna(ns), strna(name), uid);
        _cleanup_free_ char *netns = NULL;
        _cleanup_strv_free_ char **args = calloc(4, sizeof(char *));
        if (m->network && args && sandbox_ns_path(m->runtime, uid, NAMESPACE_NET, &netns) >= 0 &&
            asprintf(&args[0], "K8S_POD_NAMESPACE=%s", strempty(ns)) >= 0 &&
            asprintf(&args[1], "K8S_POD_NAME=%s", strempty(name)) >= 0 &&
            asprintf(&args[2], "K8S_POD_INFRA_CONTAINER_ID=%s", uid) >= 0) {
                CniRuntimeConf rc = {.container_id = uid, .netns = netns, .ifname = "eth0", .args = args};
                if (cni_runner_start(m->cni, CNI_CMD_DEL, m->network, &rc, orphan_cni_done, j) >= 0)
                        return;
        }
        orphan_cni_done(0, NULL, NULL, j);
}

void manager_source_synced(Manager *m, const char *source) {
        log_info("Pod source \"%s\" synced", source);
        if (m->sources_pending > 0 && --m->sources_pending > 0)
                return;
        if (m->source_synced)
                return;
        m->source_synced = true;
        /* Containers of pods no source knows. */
        while (m->adopted) {
                AdoptedContainer *a = m->adopted;
                _cleanup_free_ char *uid = strdup(a->pod_uid), *ns = a->pod_namespace ? strdup(a->pod_namespace) : NULL,
                                    *name = a->pod_name ? strdup(a->pod_name) : NULL;
                if (!uid)
                        break;
                manager_cleanup_orphan(m, uid, ns, name);
        }
        /* Sandboxes and pod directories without containers. */
        for (char **s = m->adopted_sandboxes; s && *s; s++)
                if (!manager_find_worker(m, *s))
                        manager_cleanup_orphan(m, *s, NULL, NULL);
        m->adopted_sandboxes = (strv_free(m->adopted_sandboxes), NULL);
        log_info("All pod sources synced: %zu pods", m->n_workers);
        manager_update_node_ready(m);
        api_pods_sources_synced(m->api_pods);
        manager_image_gc_maybe_start(m);
}

static void source_synced(void *userdata) {
        manager_source_synced(userdata, "file");
}

/* Collects every container of the runtime that carries a pod's annotations, and every sandbox. */
static int manager_collect_adopted(Manager *m) {
        _cleanup_strv_free_ char **ids = NULL;
        int r = runtime_list(m->runtime, &ids);
        if (r < 0)
                return log_error_errno(r, "Failed to list containers in %s: %m", runtime_state_dir(m->runtime));
        for (char **id = ids; *id; id++) {
                Container *c = NULL;
                ErrorBuf e = {};
                if (container_load(m->runtime, *id, &c, &e) < 0) {
                        log_warning("Container %s: cannot be re-adopted: %s", *id, e.msg);
                        continue;
                }
                const char *uid = container_annotation(c, POD_ANNOTATION_POD_UID);
                const char *name = container_annotation(c, POD_ANNOTATION_CONTAINER_NAME);
                const char *kind = container_annotation(c, POD_ANNOTATION_CONTAINER_KIND);
                const char *rc = container_annotation(c, POD_ANNOTATION_RESTART_COUNT);
                if (!uid || !name) {
                        container_free(c); /* not ours (nodeletctl run) */
                        continue;
                }
                AdoptedContainer *a = calloc(1, sizeof(AdoptedContainer));
                if (!a) {
                        container_free(c);
                        return -ENOMEM;
                }
                a->c = c;
                a->pod_uid = strdup(uid);
                a->name = strdup(name);
                const char *pn = container_annotation(c, POD_ANNOTATION_POD_NAME);
                const char *pns = container_annotation(c, POD_ANNOTATION_POD_NAMESPACE);
                a->pod_name = pn ? strdup(pn) : NULL;
                a->pod_namespace = pns ? strdup(pns) : NULL;
                a->kind = kind && streq(kind, "init") ? CONTAINER_KIND_INIT : CONTAINER_KIND_APP;
                a->restart_count = rc ? (unsigned) strtoul(rc, NULL, 10) : 0;
                a->next = m->adopted;
                m->adopted = a;
        }
        /* Sandboxes: <state>/sandboxes/<uid>. */
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/sandboxes", runtime_state_dir(m->runtime)) < 0)
                return -ENOMEM;
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char **l = realloc(m->adopted_sandboxes, (n + 2) * sizeof(char *));
                if (!l)
                        return -ENOMEM;
                m->adopted_sandboxes = l;
                l[n] = strdup(de->d_name);
                l[++n] = NULL;
        }
        return 0;
}

/* ---- node facts ---- */

static int detect_host_ips(Manager *m) {
        if (m->cfg.node_ips && m->cfg.node_ips[0]) {
                size_t n = 0;
                while (m->cfg.node_ips[n])
                        n++;
                m->node_ips = calloc(n + 1, sizeof(char *));
                RET_NULL_ENOMEM(m->node_ips);
                for (size_t i = 0; i < n; i++)
                        RET_NULL_ENOMEM(m->node_ips[i] = strdup(m->cfg.node_ips[i]));
        } else {
                /* The first global address of an up, non-loopback interface, IPv4 first (the kubelet asks the
                 * resolver for the hostname, then falls back to the default route's interface). */
                struct ifaddrs *ifa = NULL;
                char v4[INET6_ADDRSTRLEN] = "", v6[INET6_ADDRSTRLEN] = "";
                if (getifaddrs(&ifa) == 0) {
                        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                                if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
                                        continue;
                                if (i->ifa_addr->sa_family == AF_INET && !v4[0])
                                        (void) inet_ntop(AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, v4,
                                                         sizeof(v4));
                                else if (i->ifa_addr->sa_family == AF_INET6 && !v6[0]) {
                                        struct in6_addr *a = &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr;
                                        if (!IN6_IS_ADDR_LINKLOCAL(a))
                                                (void) inet_ntop(AF_INET6, a, v6, sizeof(v6));
                                }
                        }
                        freeifaddrs(ifa);
                }
                m->node_ips = calloc(3, sizeof(char *));
                RET_NULL_ENOMEM(m->node_ips);
                size_t n = 0;
                if (v4[0])
                        RET_NULL_ENOMEM(m->node_ips[n++] = strdup(v4));
                if (v6[0])
                        RET_NULL_ENOMEM(m->node_ips[n++] = strdup(v6));
                if (n == 0)
                        RET_NULL_ENOMEM(m->node_ips[n++] = strdup("127.0.0.1"));
        }
        RET_NULL_ENOMEM(m->host_ip = strdup(m->node_ips[0]));
        return 0;
}

static void detect_node_resources(Manager *m) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        m->node_cpu_milli = cpus > 0 ? cpus * 1000 : 1000;
        m->node_memory = pages > 0 && psize > 0 ? (int64_t) pages * psize : 0;
}

/* ---- preload ---- */

static void preload_file_done(const char *path, PreloadResult result, const char *detail, void *userdata) {
        Manager *m = userdata;
        /* Preloaded images are pinned (never garbage collected), like k3s pins its air-gap images: a node that
         * preloads may have no registry to get them back from. */
        if (result != PRELOAD_FAILED && detail && image_gc_pin(m->image_gc, detail) < 0)
                log_warning("Cannot pin the preloaded image %s: %s", detail, strerror(ENOMEM));
        if (result == PRELOAD_IMPORTED)
                image_gc_images_changed(m->image_gc);
        if (result == PRELOAD_FAILED)
                log_error("Preloading %s failed: %s", path, strna(detail));
        else if (result == PRELOAD_IMPORTED)
                log_info("Preloaded image %s from %s", strna(detail), path);
}

static void preload_done(unsigned imported, unsigned skipped, unsigned failed, void *userdata) {
        Manager *m = userdata;
        m->preload_done = true;
        if (imported + failed > 0)
                log_info("Image preload: %u imported, %u already present, %u failed", imported, skipped, failed);
        /* Pods that waited for an image retry now. */
        for (PodWorker *w = m->workers; w; w = w->next) {
                for (size_t i = 0; i < w->n_app + w->n_init; i++) {
                        CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                        if (cs->create_failed &&
                            (streq(cs->reason, "ErrImagePull") || streq(cs->reason, "ImagePullBackOff") ||
                             streq(cs->reason, "ErrImageNeverPull"))) {
                                cs->backoff_until_ns = 0;
                                cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
                        }
                }
                pod_worker_schedule(w);
        }
        manager_image_gc_maybe_start(m);
}

/* ---- lifecycle ---- */

static void manager_start_sources(Manager *m) {
        static const PodSourceCallbacks cb = {
                .add = source_add,
                .remove = source_remove,
                .file_error = manager_file_error,
                .synced = source_synced,
        };
        if (isempty(m->cfg.pod_manifest_path)) {
                source_synced(m);
                return;
        }
        int r = static_pod_source_new(m->event, m->cfg.pod_manifest_path, m->node_name,
                                      m->cfg.file_check_frequency_usec, &cb, m, &m->static_source);
        if (r < 0) {
                log_error_errno(r, "Failed to watch %s: %m", m->cfg.pod_manifest_path);
                source_synced(m);
        }
}

int manager_new(sd_event *e, const ManagerConfig *cfg, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        RET_NULL_ENOMEM(m);
        m->event = sd_event_ref(e);
        m->cfg = *cfg;
        RET_NULL_ENOMEM(m->node_name = strdup(cfg->node_name));
        RET_NULL_ENOMEM(m->file_errors = json_object());
        (void) sd_event_now(e, CLOCK_MONOTONIC, &m->started_usec);
        int r = detect_host_ips(m);
        if (r < 0)
                return r;
        detect_node_resources(m);

        RuntimeConfig rc = {
                .state_dir = cfg->state_dir, .shim_path = cfg->shim_path, .cgroup_parent = cfg->cgroup_root};
        r = runtime_new(&rc, &m->runtime);
        if (r < 0)
                return log_error_errno(r, "Failed to open the runtime state in %s: %m", strna(cfg->state_dir));
        _cleanup_free_ char *images = NULL;
        if (asprintf(&images, "%s/images", cfg->root_dir) < 0)
                return -ENOMEM;
        r = image_store_open(images, &m->images);
        if (r < 0)
                return log_error_errno(r, "Failed to open the image store %s: %m", images);
        r = work_pool_new(e, 2, &m->pool);
        if (r < 0)
                return log_error_errno(r, "Failed to start the work pool: %m");
        CniRunnerOptions co = {.bin_dirs = cfg->cni_bin_dirs, .cache_dir = cfg->cni_cache_dir};
        r = cni_runner_new(e, &co, &m->cni);
        if (r < 0)
                return log_error_errno(r, "Failed to create the CNI runner: %m");
        /* The pod network: the operator's configuration, or ours written for --pod-cidr (like k3s writes flannel's). */
        ErrorBuf err = {};
        /* Leases live next to the CNI cache: /var/lib/cni/networks by default, like host-local's; a node (or a test)
         * with its own --cni-cache-dir keeps its leases there too. */
        _cleanup_free_ char *leases = NULL;
        if (cfg->cni_cache_dir && !streq(cfg->cni_cache_dir, CNI_DEFAULT_CACHE_DIR) &&
            asprintf(&leases, "%s/networks", cfg->cni_cache_dir) < 0)
                return -ENOMEM;
        r = cni_write_default_conflist_full(cfg->cni_conf_dir, cfg->pod_cidrs, cfg->cni_bin_dirs, leases, &err);
        if (r < 0)
                log_warning("Cannot write the default CNI network: %s", error_message(&err, r));
        else if (r == 0)
                log_info("Wrote the default CNI network %s/10-nodelet.conflist for %s", cfg->cni_conf_dir,
                         cfg->pod_cidrs && cfg->pod_cidrs[0] ? cfg->pod_cidrs[0] : "?");
        error_clear(&err);
        r = cni_network_load(cfg->cni_conf_dir, &m->network, &err);
        if (r < 0) {
                const char *msg = error_message(&err, r);
                log_warning("No usable CNI network in %s: %s (pods without hostNetwork cannot start)",
                            cfg->cni_conf_dir, msg);
                m->cni_load_error = strdup(msg);
        } else
                log_info("CNI network \"%s\" from %s", cni_network_name(m->network), cni_network_source(m->network));
        r = prober_new(e, "kube-probe/" KUBELET_VERSION, &m->prober);
        if (r < 0)
                return log_error_errno(r, "Failed to create the prober: %m");
        /* Registry pulls run as nodeletctl children; their credential files go below the state dir (root only). */
        ImagePullQueueOptions po = {.ctl_path = cfg->ctl_path,
                                    .root_dir = cfg->root_dir,
                                    .tmp_dir = cfg->state_dir,
                                    .max_parallel = cfg->max_parallel_image_pulls,
                                    .registry_config_dir =
                                            cfg->nodelet_config ? cfg->nodelet_config->registry_config_dir : NULL};
        r = image_pull_queue_new(e, &po, &m->pulls);
        if (r < 0)
                return log_error_errno(r, "Failed to set up image pulls: %m");
        r = manager_image_gc_new(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static void node_pod_cidrs(NodeController *c, char **cidrs, void *userdata) {
        Manager *m = userdata;
        if (cidrs && cidrs[0] && !(m->cfg.pod_cidrs_from_flag))
                log_info("The Node's podCIDR is %s (the default CNI network was written for %s; set --pod-cidr to "
                         "match, or remove the generated conflist)",
                         cidrs[0], m->cfg.pod_cidrs && m->cfg.pod_cidrs[0] ? m->cfg.pod_cidrs[0] : "?");
}

static void node_registered(NodeController *c, const char *uid, void *userdata) {
        Manager *m = userdata;
        log_info("Node %s registered (uid %s)", m->node_name, uid);
        api_pods_node_registered(m->api_pods);
}

/* The kubelet's node condition events: "Node <name> status is now: NodeReady" etc. */
static void node_condition_event(NodeController *c, const char *reason, void *userdata) {
        Manager *m = userdata;
        manager_node_event(m, EVENT_TYPE_NORMAL, reason, "Node %s status is now: %s", m->node_name, reason);
}

static void node_error(NodeController *c, int r, const char *message, void *userdata) {
        log_warning("%s", message);
}

/* The node is Ready once every pod source synced and the pod network is configured. */
static void manager_update_node_ready(Manager *m) {
        if (!m->node)
                return;
        if (!m->network)
                node_controller_set_ready(m->node, false, NODE_NOT_READY_NETWORK_MESSAGE);
        else
                node_controller_set_ready(m->node, m->source_synced,
                                          m->source_synced ? NULL : "pod sources not synced");
}

int manager_connect(Manager *m, const char *kubeconfig_path) {
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;
        ErrorBuf e = {};
        int r = kubeconfig_load(kubeconfig_path, NULL, &kc, &e);
        if (r < 0)
                return log_error_errno(r, "%s", error_message(&e, r));
        return manager_connect_kubeconfig(m, TAKE_PTR(kc), kubeconfig_path);
}

int manager_connect_kubeconfig(Manager *m, Kubeconfig *kubeconfig, const char *origin) {
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = kubeconfig;
        const char *kubeconfig_path = origin;
        int r;
        /* The TLS bootstrap (agent/bootstrap.h) may have set up the connection pool already. */
        if (!m->glue) {
                r = curl_glue_new(m->event, &m->glue);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the HTTP client: %m");
        }
        ApiClientOptions o = {.qps = m->cfg.api_qps,
                              .burst = m->cfg.api_burst,
                              .user_agent = "nodelet/v0.1.0 (linux/amd64) kubernetes/v1.26.1"};
        r = api_client_new(m->event, m->glue, kc, &o, &m->api);
        if (r < 0)
                return log_error_errno(r, "Failed to create the API client: %m");
        TAKE_PTR(kc);
        log_info("API server %s (kubeconfig %s)", api_client_kubeconfig(m->api)->server, kubeconfig_path);
        if (m->cfg.nodelet_config) {
                NodeInfoSource src = {.node_name = m->node_name,
                                      .node_ips = m->node_ips,
                                      .cpu_milli = m->node_cpu_milli,
                                      .memory_bytes = m->node_memory,
                                      .images = m->images,
                                      .image_cache = image_gc_images(m->image_gc)};
                static const NodeControllerCallbacks cb = {.pod_cidrs = node_pod_cidrs,
                                                           .registered = node_registered,
                                                           .error = node_error,
                                                           .condition_event = node_condition_event};
                r = node_controller_new(m->event, m->api, m->cfg.nodelet_config, &src, &cb, m, &m->node);
                if (r < 0)
                        return log_error_errno(r, "Failed to create the node controller: %m");
        }
        return 0;
}

/* A ConfigMap, Secret or token an API pod refers to changed (agent/api-objects.h). */
static void manager_api_object_changed(ApiObjects *o, const char *pod_uid, void *userdata) {
        PodWorker *w = manager_find_worker(userdata, pod_uid);
        if (w)
                pod_worker_api_objects_changed(w);
}

int manager_start(Manager *m) {
        int r = manager_collect_adopted(m);
        if (r < 0)
                return r;
        size_t n = 0;
        for (AdoptedContainer *a = m->adopted; a; a = a->next)
                n++;
        if (n > 0)
                log_info("Found %zu containers of earlier pods to re-adopt", n);
        /* The kubelet's "Starting kubelet." (same reason; the message names what starts). */
        manager_node_event(m, EVENT_TYPE_NORMAL, "Starting", "Starting nodelet.");
        /* Preload, then the sources. A pod whose image is not there yet retries once preload is done. */
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/images/preload", m->cfg.root_dir) < 0)
                return -ENOMEM;
        static const PreloadCallbacks pcb = {.file_done = preload_file_done, .done = preload_done};
        Preload *p = NULL;
        PreloadOptions po = {.ctl_path = m->cfg.ctl_path};
        r = preload_images_start_full(m->event, m->pool, m->images, dir, &po, &pcb, m, &p);
        if (r < 0) {
                log_warning_errno(r, "Image preload from %s failed to start: %m", dir);
                m->preload_done = true;
        }
        m->preload = p;
        /* With credentials still to come (TLS bootstrap), the API source counts as pending too: the containers of
         * API pods re-adopted from an earlier run must not be taken for orphans meanwhile. */
        m->sources_pending = m->api || m->api_pending ? 2 : 1;
        r = manager_start_api(m);
        if (r < 0)
                return r;
        manager_start_sources(m);
        return 0;
}

int manager_start_api(Manager *m) {
        int r;
        if (!m->api)
                return 0;
        m->api_pending = false;
        if (m->node) {
                manager_update_node_ready(m);
                r = node_controller_start(m->node);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the node controller: %m");
        }
        if (m->api) {
                r = api_objects_new(m->api, manager_api_object_changed, m, &m->api_objects);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the ConfigMap/Secret cache: %m");
                r = api_pods_new(m, m->api, &m->api_pods);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch this node's pods in the API server: %m");
        }
        return 0;
}

int manager_drain(Manager *m) {
        m->exiting = true;
        m->static_source = static_pod_source_free(m->static_source);
        if (!m->workers)
                return 0;
        log_info("Draining: stopping %zu pods", m->n_workers);
        for (PodWorker *w = m->workers; w; w = w->next)
                pod_worker_request_removal(w);
        return sd_event_loop(m->event);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->static_source = static_pod_source_free(m->static_source);
        m->api_pods = api_pods_free(m->api_pods);
        m->api_objects = api_objects_free(m->api_objects);
        m->node = node_controller_free(m->node);
        m->preload = preload_free(m->preload);
        while (m->workers) {
                PodWorker *w = m->workers;
                m->workers = w->next;
                pod_worker_free(w);
        }
        while (m->adopted) {
                AdoptedContainer *a = m->adopted;
                m->adopted = a->next;
                container_free(a->c);
                free(a->pod_uid);
                free(a->pod_name);
                free(a->pod_namespace);
                free(a->name);
                free(a);
        }
        strv_free(m->adopted_sandboxes);
        m->pulls = image_pull_queue_free(m->pulls); /* after the workers, which cancelled their requests */
        m->image_gc = image_gc_free(m->image_gc);   /* before the pool: a run in flight is detached */
        m->prober = prober_free(m->prober);
        m->events = event_recorder_free(m->events); /* before the glue its API client uses */
        m->api = api_client_free(m->api);
        m->glue = curl_glue_free(m->glue);
        m->cni = cni_runner_free(m->cni);
        m->pool = work_pool_free(m->pool); /* waits for running jobs: their workers were freed with jobs > 0 */
        m->network = cni_network_free(m->network);
        m->images = image_store_free(m->images);
        m->runtime = runtime_free(m->runtime);
        json_decref(m->file_errors);
        free(m->cni_load_error);
        free(m->node_name);
        strv_free(m->node_ips);
        free(m->host_ip);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}
