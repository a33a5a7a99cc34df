/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's configuration: kubelet flags, the KubeletConfiguration file, defaults, and errors that name the
 * setting and where it came from. */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "agent/config.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

/* Created by the (unchecked, parent-side) fixture so it is removed whatever the tests do. */
static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir_new("nodelet-config");
        ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void) {
        test_tmpdir_remove(tmpdir);
        tmpdir = NULL;
}

/* Writes text to <tmpdir>/name and returns the path (caller frees). */
static char *write_config(const char *name, const char *text) {
        char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0644, false), 0);
        return path;
}

/* Loads with argv = {"nodelet", flags..., [--config <file with yaml>]}. */
static int load(const char *yaml, const char *const *flags, NodeletConfig **ret, ErrorBuf *e) {
        char *argv[64] = {(char *) "nodelet"};
        _cleanup_free_ char *path = NULL, *config_flag = NULL;
        int argc = 1;

        for (; flags && *flags; flags++)
                argv[argc++] = (char *) *flags;
        if (yaml) {
                path = write_config("config.yaml", yaml);
                ck_assert_int_ge(asprintf(&config_flag, "--config=%s", path), 0);
                argv[argc++] = config_flag;
        }
        error_clear(e);
        return nodelet_config_load(argc, argv, ret, e);
}

static NodeletConfig *load_ok(const char *yaml, const char *const *flags) {
        NodeletConfig *c = NULL;
        ErrorBuf e = {};
        int r = load(yaml, flags, &c, &e);
        ck_assert_msg(r == 0, "load failed: %s", error_message(&e, r));
        ck_assert_ptr_nonnull(c);
        return c;
}

#define HEADER "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"

static const NodeletQuantity *find_quantity(const NodeletQuantity *q, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(q[i].name, name))
                        return &q[i];
        ck_abort_msg("no quantity %s", name);
}

static size_t strv_length(char **l) {
        size_t n = 0;
        while (l && l[n])
                n++;
        return n;
}

static bool warnings_contain(const NodeletConfig *c, const char *needle) {
        for (char **w = c->warnings; *w; w++)
                if (strstr(*w, needle))
                        return true;
        return false;
}

START_TEST(test_defaults) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(NULL, NULL);

        ck_assert_str_eq(c->config_file, "");
        ck_assert_str_eq(c->root_dir, "/var/lib/nodelet");
        ck_assert_str_eq(c->state_dir, "/run/nodelet");
        ck_assert_str_eq(c->cert_dir, "/var/lib/nodelet/pki");
        ck_assert_str_eq(c->static_pod_path, "");
        ck_assert_str_eq(c->pod_logs_dir, "/var/log/pods");
        ck_assert_str_eq(c->resolv_conf, "/etc/resolv.conf");
        ck_assert_str_eq(c->kubeconfig, "");
        ck_assert_str_eq(c->cni_conf_dir, "/etc/cni/net.d");
        ck_assert_int_eq(strv_length(c->cni_bin_dirs), 2);
        ck_assert_str_eq(c->cni_bin_dirs[0], "/opt/cni/bin");
        ck_assert_str_eq(c->cni_bin_dirs[1], "/usr/lib/cni");
        ck_assert_str_eq(c->cni_cache_dir, "/var/lib/cni");

        /* The host name, lowercased. */
        char h[256] = {};
        ck_assert_int_eq(gethostname(h, sizeof h - 1), 0);
        for (char *p = h; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        ck_assert_str_eq(c->hostname, h);
        ck_assert_int_eq(strv_length(c->node_ips), 0);
        ck_assert_str_eq(c->pod_cidr, "");
        ck_assert_int_eq(c->n_node_labels, 0);
        ck_assert(c->register_node);
        ck_assert_int_eq(c->n_register_with_taints, 0);
        ck_assert_int_eq(c->max_pods, 110);
        ck_assert_int_eq(c->kube_api_qps, 50);
        ck_assert_int_eq(c->kube_api_burst, 100);
        ck_assert_int_eq(strv_length(c->cluster_dns), 0);
        ck_assert_str_eq(c->cluster_domain, "");

        ck_assert(c->enable_server);
        ck_assert_str_eq(c->address, "0.0.0.0");
        ck_assert_int_eq(c->port, 10250);
        ck_assert_int_eq(c->read_only_port, 0);
        ck_assert_str_eq(c->healthz_bind_address, "127.0.0.1");
        ck_assert_int_eq(c->healthz_port, 10248);
        /* No file: the kubelet's flag defaults for authentication and authorization. */
        ck_assert(c->anonymous_auth);
        ck_assert(!c->webhook_authentication);
        ck_assert_int_eq(c->authorization_mode, AUTHORIZATION_MODE_ALWAYS_ALLOW);
        ck_assert_uint_eq(c->webhook_authentication_cache_ttl_usec, 120 * USEC_PER_SEC);

        ck_assert_str_eq(c->cgroup_root, "");
        ck_assert_int_eq(c->cgroup_driver, CGROUP_DRIVER_CGROUPFS);
        ck_assert_uint_eq(c->sync_frequency_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->file_check_frequency_usec, 20 * USEC_PER_SEC);
        ck_assert_uint_eq(c->runtime_request_timeout_usec, 120 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_update_frequency_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_report_frequency_usec, 300 * USEC_PER_SEC);
        ck_assert_int_eq(c->node_lease_duration_seconds, 40);
        ck_assert_uint_eq(c->max_container_restart_period_usec, 300 * USEC_PER_SEC);
        ck_assert_uint_eq(c->shutdown_grace_period_usec, 0);

        ck_assert(c->serialize_image_pulls);
        ck_assert_int_eq(c->max_parallel_image_pulls, 0);
        ck_assert_int_eq(c->image_gc_high_threshold_percent, 85);
        ck_assert_int_eq(c->image_gc_low_threshold_percent, 80);
        ck_assert_uint_eq(c->image_minimum_gc_age_usec, 120 * USEC_PER_SEC);
        ck_assert_str_eq(c->container_log_max_size, "10Mi");
        ck_assert_int_eq(c->container_log_max_size_bytes, 10 * 1024 * 1024);
        ck_assert_int_eq(c->container_log_max_files, 5);

        ck_assert_int_eq(c->n_eviction_hard, 4);
        const NodeletQuantity *q = find_quantity(c->eviction_hard, c->n_eviction_hard, "memory.available");
        ck_assert_ptr_nonnull(q);
        ck_assert(!q->percentage);
        ck_assert_int_eq(q->amount, 100 * 1024 * 1024);
        q = find_quantity(c->eviction_hard, c->n_eviction_hard, "nodefs.available");
        ck_assert(q && q->percentage && q->percent == 10);
        q = find_quantity(c->eviction_hard, c->n_eviction_hard, "imagefs.available");
        ck_assert(q && q->percentage && q->percent == 15);
        q = find_quantity(c->eviction_hard, c->n_eviction_hard, "nodefs.inodesFree");
        ck_assert(q && q->percentage && q->percent == 5);
        ck_assert_int_eq(c->n_kube_reserved + c->n_system_reserved + c->n_feature_gates, 0);

        ck_assert(!c->seccomp_default);
        ck_assert(c->fail_swap_on);
        ck_assert(!c->drain);
        ck_assert_int_eq(c->verbosity, 0);
        ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
        ck_assert_ptr_nonnull(c->warnings);
        ck_assert_ptr_null(c->warnings[0]);
}
END_TEST

START_TEST(test_file_only) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(HEADER "staticPodPath: /etc/kubernetes/manifests\n"
                                                                          "podCIDR: 10.244.1.0/24\n"
                                                                          "maxPods: 50\n"
                                                                          "kubeAPIQPS: 20\n"
                                                                          "kubeAPIBurst: 40\n"
                                                                          "clusterDNS: [10.96.0.10, fd00::a]\n"
                                                                          "clusterDomain: cluster.local\n"
                                                                          "healthzPort: 0\n"
                                                                          "port: 11250\n"
                                                                          "readOnlyPort: 10255\n"
                                                                          "address: \"::\"\n"
                                                                          "syncFrequency: 1m30s\n"
                                                                          "fileCheckFrequency: 500ms\n"
                                                                          "nodeStatusUpdateFrequency: 4s\n"
                                                                          "crashLoopBackOff:\n"
                                                                          "  maxContainerRestartPeriod: 1m\n"
                                                                          "serializeImagePulls: false\n"
                                                                          "maxParallelImagePulls: 3\n"
                                                                          "evictionHard:\n"
                                                                          "  memory.available: 1Gi\n"
                                                                          "kubeReserved: {cpu: 250m, memory: 1G}\n"
                                                                          "systemReserved:\n"
                                                                          "  ephemeral-storage: 1.5Gi\n"
                                                                          "containerLogMaxSize: 5Mi\n"
                                                                          "containerLogMaxFiles: 3\n"
                                                                          "registerNode: false\n"
                                                                          "registerWithTaints:\n"
                                                                          "- key: dedicated\n"
                                                                          "  value: edge\n"
                                                                          "  effect: NoSchedule\n"
                                                                          "- {key: example.com/gpu, effect: "
                                                                          "NoExecute}\n"
                                                                          "featureGates:\n"
                                                                          "  KubeletCrashLoopBackOffMax: true\n"
                                                                          "seccompDefault: true\n"
                                                                          "failSwapOn: false\n"
                                                                          "shutdownGracePeriod: 30s\n"
                                                                          "shutdownGracePeriodCriticalPods: 10s\n"
                                                                          "logging: {verbosity: 4}\n"
                                                                          "authentication:\n"
                                                                          "  x509: {clientCAFile: /etc/ca.crt}\n"
                                                                          "authorization: {mode: AlwaysAllow}\n",
                                                                   NULL);

        ck_assert_str_eq(c->static_pod_path, "/etc/kubernetes/manifests");
        ck_assert_str_eq(c->pod_cidr, "10.244.1.0/24");
        ck_assert_int_eq(c->max_pods, 50);
        ck_assert_int_eq(c->kube_api_qps, 20);
        ck_assert_int_eq(c->kube_api_burst, 40);
        ck_assert_int_eq(strv_length(c->cluster_dns), 2);
        ck_assert_str_eq(c->cluster_dns[1], "fd00::a");
        ck_assert_str_eq(c->cluster_domain, "cluster.local");
        ck_assert_int_eq(c->healthz_port, 0);
        ck_assert_int_eq(c->port, 11250);
        ck_assert_int_eq(c->read_only_port, 10255);
        ck_assert_str_eq(c->address, "::");
        ck_assert_uint_eq(c->sync_frequency_usec, 90 * USEC_PER_SEC);
        ck_assert_uint_eq(c->file_check_frequency_usec, 500 * USEC_PER_MSEC);
        /* An explicit update frequency also becomes the report frequency, like the kubelet. */
        ck_assert_uint_eq(c->node_status_update_frequency_usec, 4 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_report_frequency_usec, 4 * USEC_PER_SEC);
        ck_assert_uint_eq(c->max_container_restart_period_usec, 60 * USEC_PER_SEC);
        ck_assert(!c->serialize_image_pulls);
        ck_assert_int_eq(c->max_parallel_image_pulls, 3);
        /* A given evictionHard replaces the defaults. */
        ck_assert_int_eq(c->n_eviction_hard, 1);
        ck_assert_int_eq(c->eviction_hard[0].amount, 1024 * 1024 * 1024);
        ck_assert_int_eq(find_quantity(c->kube_reserved, c->n_kube_reserved, "cpu")->amount, 250);
        ck_assert_int_eq(find_quantity(c->kube_reserved, c->n_kube_reserved, "memory")->amount, 1000000000);
        ck_assert_int_eq(find_quantity(c->system_reserved, c->n_system_reserved, "ephemeral-storage")->amount,
                         1610612736);
        ck_assert_str_eq(c->container_log_max_size, "5Mi");
        ck_assert_int_eq(c->container_log_max_size_bytes, 5 * 1024 * 1024);
        ck_assert_int_eq(c->container_log_max_files, 3);
        ck_assert(!c->register_node);
        ck_assert_int_eq(c->n_register_with_taints, 2);
        ck_assert_str_eq(c->register_with_taints[0].key, "dedicated");
        ck_assert_str_eq(c->register_with_taints[0].value, "edge");
        ck_assert_str_eq(c->register_with_taints[0].effect, "NoSchedule");
        ck_assert_str_eq(c->register_with_taints[1].value, "");
        ck_assert_str_eq(c->register_with_taints[1].effect, "NoExecute");
        ck_assert(nodelet_config_feature_enabled(c, "KubeletCrashLoopBackOffMax", false));
        ck_assert(nodelet_config_feature_enabled(c, "SomethingElse", true));
        ck_assert(c->seccomp_default);
        ck_assert(!c->fail_swap_on);
        ck_assert_uint_eq(c->shutdown_grace_period_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(c->shutdown_grace_period_critical_pods_usec, 10 * USEC_PER_SEC);
        ck_assert_int_eq(c->verbosity, 4);
        ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
        ck_assert_str_eq(c->client_ca_file, "/etc/ca.crt");
        ck_assert_int_eq(c->authorization_mode, AUTHORIZATION_MODE_ALWAYS_ALLOW);
        /* With a file, the v1beta1 defaults: anonymous off, token webhook on. */
        ck_assert(!c->anonymous_auth);
        ck_assert(c->webhook_authentication);
        ck_assert_ptr_null(c->warnings[0]);

        /* The file's directory settings leave the flag-only ones alone. */
        ck_assert_str_eq(c->root_dir, "/var/lib/nodelet");
        ck_assert_str_eq(c->config_file + strlen(c->config_file) - strlen("config.yaml"), "config.yaml");
}
END_TEST

START_TEST(test_flags_only) {
        const char *const flags[] = {
                "--root-dir=/srv/nodelet",
                "--state-dir",
                "/run/n2",
                "--hostname-override=Worker-1.example.com",
                "--node-ip=192.168.1.10,fd00::10",
                "--pod-cidr",
                "10.88.0.0/16",
                "--max-pods=20",
                "--cluster-dns=10.96.0.10",
                "--cluster-dns",
                "10.96.0.11", /* list flags: a repeat appends */
                "--cluster-domain=cluster.local.",
                "--healthz-port=0",
                "--port",
                "10251",
                "--read-only-port=10255",
                "--address=127.0.0.1",
                "--cgroup-driver=systemd",
                "--cni-bin-dir=/usr/libexec/cni, /opt/cni/bin",
                "--v=3",
                "--file-check-frequency=1h",
                "--sync-frequency=2m",
                "--serialize-image-pulls=false",
                "--max-parallel-image-pulls",
                "5",
                "--image-gc-high-threshold=90",
                "--image-gc-low-threshold=70",
                "--eviction-hard=memory.available<500Mi,nodefs.available<5%",
                "--kube-reserved=cpu=1,memory=512Mi",
                "--container-log-max-size=1Gi",
                "--register-node=false",
                "--register-with-taints=a=b:NoSchedule,c:PreferNoSchedule",
                "--node-labels=node-role.kubernetes.io/edge=,zone=a",
                "--node-labels=tier=1",
                "--kubeconfig=/etc/nodelet/kubeconfig",
                "--bootstrap-kubeconfig=/etc/nodelet/bootstrap",
                "--seccomp-default",
                "--fail-swap-on=F",
                "--feature-gates=KubeletCrashLoopBackOffMax=true,FancyThing=false",
                "--authorization-mode=Webhook",
                "--anonymous-auth=false",
                "--drain",
                "--max_pods=21", /* like the kubelet: underscores are dashes, and the last value wins */
                NULL,
        };
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(NULL, flags);

        ck_assert_str_eq(c->root_dir, "/srv/nodelet");
        ck_assert_str_eq(c->cert_dir, "/srv/nodelet/pki"); /* follows --root-dir */
        ck_assert_str_eq(c->state_dir, "/run/n2");
        ck_assert_str_eq(c->hostname, "worker-1.example.com");
        ck_assert_int_eq(strv_length(c->node_ips), 2);
        ck_assert_str_eq(c->node_ips[1], "fd00::10");
        ck_assert_str_eq(c->pod_cidr, "10.88.0.0/16");
        ck_assert_int_eq(c->max_pods, 21);
        ck_assert_int_eq(strv_length(c->cluster_dns), 2);
        ck_assert_str_eq(c->cluster_dns[1], "10.96.0.11");
        ck_assert_str_eq(c->cluster_domain, "cluster.local.");
        ck_assert_int_eq(c->healthz_port, 0);
        ck_assert_int_eq(c->port, 10251);
        ck_assert_int_eq(c->read_only_port, 10255);
        ck_assert_str_eq(c->address, "127.0.0.1");
        ck_assert_int_eq(c->cgroup_driver, CGROUP_DRIVER_SYSTEMD);
        ck_assert(warnings_contain(c, "cgroupDriver: systemd"));
        ck_assert_int_eq(strv_length(c->cni_bin_dirs), 3);
        ck_assert_str_eq(c->cni_bin_dirs[0], "/usr/libexec/cni");
        ck_assert_str_eq(c->cni_bin_dirs[1], "/opt/cni/bin");
        ck_assert_str_eq(c->cni_bin_dirs[2], "/usr/lib/cni");
        ck_assert_int_eq(c->verbosity, 3);
        ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
        ck_assert_uint_eq(c->file_check_frequency_usec, 3600 * USEC_PER_SEC);
        ck_assert_uint_eq(c->sync_frequency_usec, 120 * USEC_PER_SEC);
        ck_assert(!c->serialize_image_pulls);
        ck_assert_int_eq(c->max_parallel_image_pulls, 5);
        ck_assert_int_eq(c->image_gc_high_threshold_percent, 90);
        ck_assert_int_eq(c->image_gc_low_threshold_percent, 70);
        ck_assert_int_eq(c->n_eviction_hard, 2);
        ck_assert_int_eq(find_quantity(c->eviction_hard, c->n_eviction_hard, "memory.available")->amount,
                         500 * 1024 * 1024);
        ck_assert(find_quantity(c->eviction_hard, c->n_eviction_hard, "nodefs.available")->percentage);
        ck_assert_int_eq(find_quantity(c->kube_reserved, c->n_kube_reserved, "cpu")->amount, 1000);
        ck_assert_int_eq(c->container_log_max_size_bytes, 1024 * 1024 * 1024);
        ck_assert(!c->register_node);
        ck_assert_int_eq(c->n_register_with_taints, 2);
        ck_assert_str_eq(c->register_with_taints[0].key, "a");
        ck_assert_str_eq(c->register_with_taints[0].value, "b");
        ck_assert_str_eq(c->register_with_taints[1].key, "c");
        ck_assert_str_eq(c->register_with_taints[1].effect, "PreferNoSchedule");
        ck_assert_int_eq(c->n_node_labels, 3);
        ck_assert_str_eq(c->node_labels[0].key, "node-role.kubernetes.io/edge");
        ck_assert_str_eq(c->node_labels[0].value, "");
        ck_assert_str_eq(c->node_labels[2].key, "tier");
        ck_assert_str_eq(c->kubeconfig, "/etc/nodelet/kubeconfig");
        ck_assert_str_eq(c->bootstrap_kubeconfig, "/etc/nodelet/bootstrap");
        ck_assert(c->seccomp_default);
        ck_assert(!c->fail_swap_on);
        ck_assert(nodelet_config_feature_enabled(c, "KubeletCrashLoopBackOffMax", false));
        ck_assert(!nodelet_config_feature_enabled(c, "FancyThing", true));
        ck_assert(warnings_contain(c, "--feature-gates: FancyThing: feature gate not used by nodelet"));
        ck_assert(!warnings_contain(c, "KubeletCrashLoopBackOffMax"));
        ck_assert_int_eq(c->authorization_mode, AUTHORIZATION_MODE_WEBHOOK);
        ck_assert(!c->anonymous_auth);
        ck_assert(c->drain);
}
END_TEST

START_TEST(test_shorthand_and_bool_forms) {
        const char *const a[] = {"-v", "2", "--drain=true", "--seccomp-default=0", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *c1 = load_ok(NULL, a);
        ck_assert_int_eq(c1->verbosity, 2);
        ck_assert_int_eq(c1->log_level, LOG_LEVEL_INFO);
        ck_assert(c1->drain);
        ck_assert(!c1->seccomp_default);

        const char *const b[] = {"-v=5", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *c2 = load_ok(NULL, b);
        ck_assert_int_eq(c2->verbosity, 5);
        const char *const d[] = {"-v7", "--", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *c3 = load_ok(NULL, d);
        ck_assert_int_eq(c3->verbosity, 7);
        ck_assert_int_eq(c3->log_level, LOG_LEVEL_DEBUG);
}
END_TEST

START_TEST(test_flag_overrides_file) {
        const char *yaml = HEADER "maxPods: 50\n"
                                  "clusterDNS: [10.0.0.1, 10.0.0.2]\n"
                                  "staticPodPath: /etc/file-manifests\n"
                                  "evictionHard: {memory.available: 1Gi, nodefs.available: 20%}\n"
                                  "registerWithTaints: [{key: a, effect: NoSchedule}]\n"
                                  "featureGates: {KubeletCrashLoopBackOffMax: false}\n"
                                  "logging: {verbosity: 1}\n"
                                  "authentication: {anonymous: {enabled: false}}\n"
                                  "syncFrequency: 30s\n";
        const char *const flags[] = {"--max-pods=60",
                                     "--kube-api-qps=7",
                                     "--cluster-dns=10.0.0.9",
                                     "--eviction-hard=memory.available<2Gi",
                                     "--register-with-taints=b:NoExecute",
                                     "--feature-gates=KubeletCrashLoopBackOffMax=true",
                                     "--v=3",
                                     "--anonymous-auth",
                                     NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(yaml, flags);

        ck_assert_int_eq(c->max_pods, 60);
        ck_assert_int_eq(c->kube_api_qps, 7);
        /* A list flag replaces the file's list, it does not extend it. */
        ck_assert_int_eq(strv_length(c->cluster_dns), 1);
        ck_assert_str_eq(c->cluster_dns[0], "10.0.0.9");
        ck_assert_int_eq(c->n_eviction_hard, 1);
        ck_assert_str_eq(c->eviction_hard[0].value, "2Gi");
        ck_assert_int_eq(c->n_register_with_taints, 1);
        ck_assert_str_eq(c->register_with_taints[0].key, "b");
        ck_assert(nodelet_config_feature_enabled(c, "KubeletCrashLoopBackOffMax", false));
        ck_assert_int_eq(c->verbosity, 3);
        ck_assert(c->anonymous_auth);
        /* What no flag overrides stays as the file says. */
        ck_assert_str_eq(c->static_pod_path, "/etc/file-manifests");
        ck_assert_uint_eq(c->sync_frequency_usec, 30 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_zero_values_default) {
        /* Zero values of the Go struct's plain fields mean "unset" (the kubelet's defaulting); those of its pointer
         * fields (healthzPort, containerLogMaxFiles, ...) are values. */
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(HEADER "maxPods: 0\n"
                                                                          "port: 0\n"
                                                                          "address: \"\"\n"
                                                                          "syncFrequency: 0s\n"
                                                                          "nodeStatusUpdateFrequency: 0m\n"
                                                                          "containerLogMaxSize: \"\"\n"
                                                                          "healthzPort: 0\n"
                                                                          "imageGCLowThresholdPercent: 0\n"
                                                                          "resolvConf: \"\"\n",
                                                                   NULL);
        ck_assert_int_eq(c->max_pods, 110);
        ck_assert_int_eq(c->port, 10250);
        ck_assert_str_eq(c->address, "0.0.0.0");
        ck_assert_uint_eq(c->sync_frequency_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_update_frequency_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_report_frequency_usec, 300 * USEC_PER_SEC);
        ck_assert_str_eq(c->container_log_max_size, "10Mi");
        ck_assert_int_eq(c->healthz_port, 0);
        ck_assert_int_eq(c->image_gc_low_threshold_percent, 0);
        ck_assert_str_eq(c->resolv_conf, ""); /* like the kubelet: no resolver configuration for the pods */

        /* A flag's zero is a value, and checked. */
        const char *const flags[] = {"--port=0", NULL};
        NodeletConfig *c2 = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(load(NULL, flags, &c2, &e), -EINVAL);
}
END_TEST

START_TEST(test_eviction_merge) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(HEADER "mergeDefaultEvictionSettings: true\n"
                                                                          "evictionHard: {memory.available: 1Gi}\n",
                                                                   NULL);
        ck_assert_int_eq(c->n_eviction_hard, 4);
        ck_assert_str_eq(find_quantity(c->eviction_hard, c->n_eviction_hard, "memory.available")->value, "1Gi");
        ck_assert_str_eq(find_quantity(c->eviction_hard, c->n_eviction_hard, "imagefs.available")->value, "15%");
}
END_TEST

typedef struct ErrorCase {
        const char *yaml; /* NULL: no file; the text after HEADER otherwise (unless it starts with "!") */
        const char *flags[4];
        const char *message; /* expected message; "@" stands for the file's path */
} ErrorCase;

static const ErrorCase error_cases[] = {
        /* Flags: the flag's name. */
        {NULL, {"--max-podz=3"}, "--max-podz: unknown flag"},
        {NULL, {"-x"}, "-x: unknown shorthand flag"},
        {NULL, {"extra"}, "extra: unexpected argument, nodelet takes only flags"},
        {NULL, {"--max-pods"}, "--max-pods: flag needs an argument"},
        {NULL, {"--max-pods=many"}, "--max-pods: expected an integer, got \"many\""},
        {NULL, {"--max-pods=0"}, "--max-pods: 0 is out of range [1, 2147483647]"},
        {NULL, {"--port=0"}, "--port: 0 is out of range [1, 65535]"},
        {NULL, {"--healthz-port=65536"}, "--healthz-port: 65536 is out of range [0, 65535]"},
        {NULL, {"--read-only-port=-1"}, "--read-only-port: -1 is out of range [0, 65535]"},
        {NULL, {"--image-gc-high-threshold=101"}, "--image-gc-high-threshold: 101 is out of range [0, 100]"},
        {NULL,
         {"--image-gc-high-threshold=50", "--image-gc-low-threshold=60"},
         "--image-gc-high-threshold: 50 must be greater than imageGCLowThresholdPercent (60)"},
        {NULL, {"--drain=maybe"}, "--drain: expected true or false, got \"maybe\""},
        {NULL, {"--address=0.0.0.256"}, "--address: expected an IP address, got \"0.0.0.256\""},
        {NULL, {"--cluster-dns=10.0.0.1,dns"}, "--cluster-dns: expected an IP address, got \"dns\""},
        {NULL,
         {"--pod-cidr=10.88.0.0/33"},
         "--pod-cidr: expected a CIDR (address/prefix length), got \"10.88.0.0/33\""},
        {NULL, {"--node-ip=10.0.0.1,10.0.0.2"}, "--node-ip: at most one IPv4 and one IPv6 address"},
        {NULL,
         {"--cluster-domain=Cluster_Local"},
         "--cluster-domain: expected a DNS domain (RFC 1123 subdomain), got \"Cluster_Local\""},
        {NULL, {"--sync-frequency=0s"}, "--sync-frequency: must be positive, got \"0s\""},
        {NULL, {"--sync-frequency=-1m"}, "--sync-frequency: must not be negative, got \"-1m\""},
        {NULL,
         {"--sync-frequency=10"},
         "--sync-frequency: expected a duration (like \"90s\", \"1m30s\", \"500ms\"), got \"10\""},
        {NULL, {"--cgroup-driver=cgroupv2"}, "--cgroup-driver: expected \"cgroupfs\" or \"systemd\", got \"cgroupv2\""},
        {NULL,
         {"--container-log-max-size=10MB"},
         "--container-log-max-size: expected a quantity (like \"10Mi\"), "
         "got \"10MB\""},
        {NULL, {"--container-log-max-files=1"}, "--container-log-max-files: 1 is out of range [2, 2147483647]"},
        {NULL, {"--eviction-hard=memory.free<1Gi"}, "--eviction-hard: unknown eviction signal \"memory.free\""},
        {NULL,
         {"--eviction-hard=nodefs.available<110%"},
         "--eviction-hard: expected a percentage in [0%, 100%], got "
         "\"110%\""},
        {NULL,
         {"--register-with-taints=a=b:Never"},
         "--register-with-taints: taint effect must be NoSchedule, "
         "PreferNoSchedule or NoExecute, got \"Never\""},
        {NULL, {"--node-labels=bad key=x"}, "--node-labels: invalid label key \"bad key\""},
        {NULL, {"--feature-gates=A=yes"}, "--feature-gates: A: expected true or false, got \"yes\""},
        {NULL,
         {"--authorization-mode=RBAC"},
         "--authorization-mode: expected \"AlwaysAllow\" or \"Webhook\", got "
         "\"RBAC\""},
        {NULL,
         {"--manifest-url=http://x/pods"},
         "--manifest-url: not supported: nodelet reads static pods from "
         "--pod-manifest-path only"},
        {NULL,
         {"--hostname-override=Not_A_Name"},
         "--hostname-override: \"not_a_name\" is not a valid node name "
         "(RFC 1123 subdomain)"},
        {NULL, {"--tls-cert-file=/x.crt"}, "--tls-cert-file: tlsCertFile and tlsPrivateKeyFile must be given together"},
        {NULL,
         {"--max-parallel-image-pulls=4", "--serialize-image-pulls=true"},
         "--max-parallel-image-pulls: must not "
         "be larger than 1 when "
         "serializeImagePulls is true"},
        {NULL, {"--v=-1"}, "--v: -1 is out of range [0, 2147483647]"},

        /* The file: file:line: field. */
        {"staticPodPth: /etc/kubernetes/manifests\n", {}, "@:3: staticPodPth: unknown field"},
        {"maxPods: many\n", {}, "@:3: maxPods: expected an integer, got string \"many\""},
        {"maxPods: 1.5\n", {}, "@:3: maxPods: expected an integer, got number 1.5"},
        {"maxPods: -3\n", {}, "@:3: maxPods: -3 is out of range [1, 2147483647]"},
        {"# a comment\n\nport: 70000\n", {}, "@:5: port: 70000 is out of range [1, 65535]"},
        {"registerNode: \"yes\"\n", {}, "@:3: registerNode: expected a boolean, got string \"yes\""},
        {"clusterDNS: 10.0.0.10\n", {}, "@:3: clusterDNS: expected a list, got string \"10.0.0.10\""},
        {"clusterDNS:\n- 10.0.0.10\n- 7\n", {}, "@:5: clusterDNS[1]: expected a string, got number 7"},
        {"clusterDNS:\n- 10.0.0.10\n- ten\n", {}, "@:5: clusterDNS[1]: expected an IP address, got \"ten\""},
        {"evictionHard:\n  memory.available: 100Mi\n  nodefs.available: 10 percent\n",
         {},
         "@:5: evictionHard.nodefs.available: expected a quantity or a percentage, got \"10 percent\""},
        {"authentication:\n  anonymous:\n    enabld: true\n",
         {},
         "@:5: authentication.anonymous.enabld: unknown field"},
        {"authentication:\n  anonymous: true\n", {}, "@:4: authentication.anonymous: expected an object, got boolean"},
        {"authorization:\n  mode: RBAC\n",
         {},
         "@:4: authorization.mode: expected \"AlwaysAllow\" or \"Webhook\", got "
         "\"RBAC\""},
        {"syncFrequency: 10\n", {}, "@:3: syncFrequency: expected a duration string, got number 10"},
        {"fileCheckFrequency: -5s\n", {}, "@:3: fileCheckFrequency: must not be negative, got \"-5s\""},
        {"crashLoopBackOff:\n  maxContainerRestartPeriod: 0s\n",
         {},
         "@:4: crashLoopBackOff.maxContainerRestartPeriod: \"0s\" is out of range [1s, 5m0s]"},
        {"crashLoopBackOff:\n  maxContainerRestartPeriod: 10m\n",
         {},
         "@:4: crashLoopBackOff.maxContainerRestartPeriod: \"10m\" is out of range [1s, 5m0s]"},
        {"imageGCHighThresholdPercent: 70\n",
         {},
         "@:3: imageGCHighThresholdPercent: 70 must be greater than "
         "imageGCLowThresholdPercent (80)"},
        {"shutdownGracePeriod: 10s\nshutdownGracePeriodCriticalPods: 20s\n",
         {},
         "@:4: shutdownGracePeriodCriticalPods: must not be longer than shutdownGracePeriod"},
        {"clusterDomain: -bad-\n", {}, "@:3: clusterDomain: expected a DNS domain (RFC 1123 subdomain), got \"-bad-\""},
        {"podCIDR: 10.1.0.0\n", {}, "@:3: podCIDR: expected a CIDR (address/prefix length), got \"10.1.0.0\""},
        {"healthzBindAddress: localhost\n", {}, "@:3: healthzBindAddress: expected an IP address, got \"localhost\""},
        {"staticPodURL: http://example.com/pods\n",
         {},
         "@:3: staticPodURL: not supported: nodelet reads static pods from staticPodPath only"},
        {"registerWithTaints:\n- key: a\n  effect: Sometimes\n",
         {},
         "@:4: registerWithTaints[0]: taint effect must be NoSchedule, PreferNoSchedule or NoExecute, got "
         "\"Sometimes\""},
        {"registerWithTaints:\n- key: a\n  colour: red\n  effect: NoSchedule\n",
         {},
         "@:5: registerWithTaints[0].colour: unknown field"},
        {"featureGates:\n  A: enabled\n", {}, "@:4: featureGates.A: expected a boolean, got string \"enabled\""},
        {"kubeReserved:\n  cpu: lots\n", {}, "@:4: kubeReserved.cpu: expected a non-negative quantity, got \"lots\""},
        {"containerLogMaxSize: 10\n", {}, "@:3: containerLogMaxSize: expected a quantity string, got number 10"},
        {"logging:\n  verbosity: high\n", {}, "@:4: logging.verbosity: expected an integer, got string \"high\""},
        {"tlsPrivateKeyFile: /k.pem\n",
         {},
         "@:3: tlsPrivateKeyFile: tlsCertFile and tlsPrivateKeyFile must be given "
         "together"},
        {"!apiVersion: kubelet.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
         {},
         "@:1: apiVersion: expected \"kubelet.config.k8s.io/v1beta1\", got \"kubelet.config.k8s.io/v1alpha1\""},
        {"!apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n",
         {},
         "@:2: kind: expected \"KubeletConfiguration\", got \"KubeProxyConfiguration\""},
        {"!kind: KubeletConfiguration\n", {}, "@: apiVersion: expected \"kubelet.config.k8s.io/v1beta1\", got none"},
        {"!- a\n- b\n", {}, "@: expected a KubeletConfiguration object, got array"},
        /* A value from the file, overridden by a valid flag, is not an error; a bad flag over a good file is. */
        {"maxPods: 10\n", {"--max-pods=x"}, "--max-pods: expected an integer, got \"x\""},
};

START_TEST(test_errors) {
        const ErrorCase *t = &error_cases[_i];
        _cleanup_free_ char *yaml = NULL, *expected = NULL, *path = NULL;
        NodeletConfig *c = NULL;
        ErrorBuf e = {};

        if (t->yaml)
                ck_assert_int_ge(asprintf(&yaml, "%s", t->yaml[0] == '!' ? t->yaml + 1 : t->yaml), 0);
        if (t->yaml && t->yaml[0] != '!') {
                free(yaml);
                ck_assert_int_ge(asprintf(&yaml, HEADER "%s", t->yaml), 0);
        }
        int r = load(yaml, t->flags, &c, &e);
        ck_assert_msg(r == -EINVAL, "case %d: expected -EINVAL, got %d (%s)", _i, r, e.msg);
        ck_assert_ptr_null(c);

        /* "@" is the file's path. */
        ck_assert_int_ge(asprintf(&path, "%s/config.yaml", tmpdir), 0);
        const char *at = strchr(t->message, '@');
        if (at)
                ck_assert_int_ge(asprintf(&expected, "%.*s%s%s", (int) (at - t->message), t->message, path, at + 1), 0);
        else
                ck_assert_int_ge(asprintf(&expected, "%s", t->message), 0);
        ck_assert_str_eq(e.msg, expected);
}
END_TEST

START_TEST(test_file_errors) {
        NodeletConfig *c = NULL;
        ErrorBuf e = {};
        char *argv[] = {(char *) "nodelet", (char *) "--config", (char *) "/nonexistent/nodelet.yaml", NULL};
        ck_assert_int_eq(nodelet_config_load(3, argv, &c, &e), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/nodelet.yaml"));

        /* A YAML syntax error: -EINVAL, with the file's line. */
        int r = load(HEADER "maxPods: [1\n", NULL, &c, &e);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "config.yaml:"));
}
END_TEST

START_TEST(test_json_file) {
        /* JSON is YAML too, and errors still carry the line. */
        const char *json = "{\n"
                           "  \"apiVersion\": \"kubelet.config.k8s.io/v1beta1\",\n"
                           "  \"kind\": \"KubeletConfiguration\",\n"
                           "  \"maxPods\": 12,\n"
                           "  \"clusterDNS\": [\"10.0.0.10\"]\n"
                           "}\n";
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(json, NULL);
        ck_assert_int_eq(c->max_pods, 12);

        const char *bad = "{\n"
                          "  \"apiVersion\": \"kubelet.config.k8s.io/v1beta1\",\n"
                          "  \"kind\": \"KubeletConfiguration\",\n"
                          "  \"maxPods\": \"12\"\n"
                          "}\n";
        NodeletConfig *c2 = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(load(bad, NULL, &c2, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "config.yaml:4: maxPods: expected an integer, got string \"12\""));
}
END_TEST

/* What `kubeadm init` writes to /var/lib/kubelet/config.yaml (v1.31), plus a few fields operators add. */
static const char kubeadm_config[] = "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                     "authentication:\n"
                                     "  anonymous:\n"
                                     "    enabled: false\n"
                                     "  webhook:\n"
                                     "    cacheTTL: 0s\n"
                                     "    enabled: true\n"
                                     "  x509:\n"
                                     "    clientCAFile: /etc/kubernetes/pki/ca.crt\n"
                                     "authorization:\n"
                                     "  mode: Webhook\n"
                                     "  webhook:\n"
                                     "    cacheAuthorizedTTL: 0s\n"
                                     "    cacheUnauthorizedTTL: 0s\n"
                                     "cgroupDriver: systemd\n"
                                     "clusterDNS:\n"
                                     "- 10.96.0.10\n"
                                     "clusterDomain: cluster.local\n"
                                     "containerRuntimeEndpoint: \"\"\n"
                                     "cpuManagerReconcilePeriod: 0s\n"
                                     "evictionPressureTransitionPeriod: 0s\n"
                                     "fileCheckFrequency: 0s\n"
                                     "healthzBindAddress: 127.0.0.1\n"
                                     "healthzPort: 10248\n"
                                     "httpCheckFrequency: 0s\n"
                                     "imageMaximumGCAge: 0s\n"
                                     "imageMinimumGCAge: 0s\n"
                                     "kind: KubeletConfiguration\n"
                                     "logging:\n"
                                     "  flushFrequency: 0\n"
                                     "  options:\n"
                                     "    json:\n"
                                     "      infoBufferSize: \"0\"\n"
                                     "    text:\n"
                                     "      infoBufferSize: \"0\"\n"
                                     "  verbosity: 0\n"
                                     "memorySwap: {}\n"
                                     "nodeStatusReportFrequency: 0s\n"
                                     "nodeStatusUpdateFrequency: 0s\n"
                                     "resolvConf: /run/systemd/resolve/resolv.conf\n"
                                     "rotateCertificates: true\n"
                                     "runtimeRequestTimeout: 0s\n"
                                     "shutdownGracePeriod: 0s\n"
                                     "shutdownGracePeriodCriticalPods: 0s\n"
                                     "staticPodPath: /etc/kubernetes/manifests\n"
                                     "streamingConnectionIdleTimeout: 0s\n"
                                     "syncFrequency: 0s\n"
                                     "volumeStatsAggPeriod: 0s\n"
                                     "cpuManagerPolicy: none\n"
                                     "kubeAPIQPS: 50\n";

START_TEST(test_kubeadm_config) {
        /* kubeadm writes 0s for "use the default", which the kubelet's defaulting turns into the default. */
        NodeletConfig *c = NULL;
        ErrorBuf e = {};
        int r = load(kubeadm_config, NULL, &c, &e);
        if (r < 0) {
                /* nodelet refuses 0s durations where the kubelet would default them: say where. */
                ck_abort_msg("kubeadm config refused: %s", e.msg);
        }
        ck_assert_str_eq(c->static_pod_path, "/etc/kubernetes/manifests");
        ck_assert_str_eq(c->cluster_domain, "cluster.local");
        ck_assert_str_eq(c->cluster_dns[0], "10.96.0.10");
        ck_assert_str_eq(c->resolv_conf, "/run/systemd/resolve/resolv.conf");
        ck_assert_str_eq(c->client_ca_file, "/etc/kubernetes/pki/ca.crt");
        ck_assert_int_eq(c->authorization_mode, AUTHORIZATION_MODE_WEBHOOK);
        ck_assert_int_eq(c->cgroup_driver, CGROUP_DRIVER_SYSTEMD);
        /* 0s means "the default" in a KubeletConfiguration, as the kubelet's defaulting treats zero values. */
        ck_assert_uint_eq(c->sync_frequency_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->file_check_frequency_usec, 20 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_update_frequency_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(c->node_status_report_frequency_usec, 300 * USEC_PER_SEC);
        ck_assert_uint_eq(c->webhook_authentication_cache_ttl_usec, 120 * USEC_PER_SEC);
        ck_assert_uint_eq(c->image_minimum_gc_age_usec, 120 * USEC_PER_SEC);

        /* Ignored fields: one warning each, with the line; empty ones ({} or "") say nothing. */
        /* rotateCertificates is a real setting now (TLS bootstrap, agent/bootstrap.h): taken, no warning. */
        ck_assert(!warnings_contain(c, "rotateCertificates"));
        ck_assert(c->rotate_certificates);
        ck_assert(warnings_contain(c, "config.yaml:49: cpuManagerPolicy: not implemented by nodelet, ignored"));
        /* kubeAPIQPS is a real setting now: no warning, its value taken. */
        ck_assert(!warnings_contain(c, "kubeAPIQPS"));
        ck_assert_int_eq(c->kube_api_qps, 50);
        ck_assert(warnings_contain(c, "logging.options: not implemented by nodelet"));
        ck_assert(warnings_contain(c, "cgroupDriver: systemd"));
        ck_assert(!warnings_contain(c, "memorySwap"));
        ck_assert(!warnings_contain(c, "containerRuntimeEndpoint"));
        nodelet_config_free(c);
}
END_TEST

typedef struct DurationCase {
        const char *text;
        int ret;
        uint64_t usec;
        const char *formatted;
} DurationCase;

static const DurationCase duration_cases[] = {
        {"20s", 0, 20 * USEC_PER_SEC, "20s"},
        {"1m30s", 0, 90 * USEC_PER_SEC, "1m30s"},
        {"500ms", 0, 500 * USEC_PER_MSEC, "500ms"},
        {"1h", 0, 3600 * USEC_PER_SEC, "1h0m0s"},
        {"1m", 0, 60 * USEC_PER_SEC, "1m0s"},
        {"2h45m", 0, (2 * 3600 + 45 * 60) * USEC_PER_SEC, "2h45m0s"},
        {"1.5s", 0, 1500 * USEC_PER_MSEC, "1.5s"},
        {".5m", 0, 30 * USEC_PER_SEC, "30s"},
        {"1.25ms", 0, 1250, "1.25ms"},
        {"300us", 0, 300, "300\xc2\xb5s"},
        {"300\xc2\xb5s", 0, 300, "300\xc2\xb5s"},
        {"1000ns", 0, 1, "1\xc2\xb5s"},
        {"0", 0, 0, "0s"},
        {"0s", 0, 0, "0s"},
        {"+5s", 0, 5 * USEC_PER_SEC, "5s"},
        {"1h1m1.000001s", 0, 3661 * USEC_PER_SEC + 1, "1h1m1.000001s"},
        {"", -EINVAL, 0, NULL},
        {"10", -EINVAL, 0, NULL},
        {"s", -EINVAL, 0, NULL},
        {"1d", -EINVAL, 0, NULL},
        {"1m 30s", -EINVAL, 0, NULL},
        {"-1s", -ERANGE, 0, NULL},
        {"9999999999h", -ERANGE, 0, NULL},
};

START_TEST(test_durations) {
        const DurationCase *t = &duration_cases[_i];
        uint64_t usec = 12345;
        int r = config_parse_duration(t->text, &usec);
        ck_assert_msg(r == t->ret, "\"%s\": %d, expected %d", t->text, r, t->ret);
        if (r < 0) {
                ck_assert_uint_eq(usec, 12345); /* untouched */
                return;
        }
        ck_assert_uint_eq(usec, t->usec);
        char buf[64];
        ck_assert_str_eq(config_format_duration(usec, buf, sizeof buf), t->formatted);
}
END_TEST

typedef struct QuantityCase {
        const char *text;
        bool milli;
        int ret;
        int64_t value;
} QuantityCase;

static const QuantityCase quantity_cases[] = {
        {"10Mi", false, 0, 10 * 1024 * 1024},
        {"1Gi", false, 0, 1073741824},
        {"1.5Gi", false, 0, 1610612736},
        {"1G", false, 0, 1000000000},
        {"1k", false, 0, 1000},
        {"1Ki", false, 0, 1024},
        {"128974848", false, 0, 128974848},
        {"129e6", false, 0, 129000000},
        {"1E", false, 0, 1000000000000000000},
        {"8Ei", false, -ERANGE, 0},
        {"0.1", false, 0, 1},   /* rounded up to whole bytes */
        {"100m", false, 0, 1},  /* 0.1 byte, rounded up */
        {"250m", true, 0, 250}, /* millicores */
        {"0.5", true, 0, 500},
        {"2", true, 0, 2000},
        {"1u", true, 0, 1}, /* 0.001 milli, rounded up */
        {"0", false, 0, 0},
        {"+3", false, 0, 3},
        {"", false, -EINVAL, 0},
        {"Mi", false, -EINVAL, 0},
        {"10MB", false, -EINVAL, 0},
        {"-1", false, -EINVAL, 0},
        {"1 Gi", false, -EINVAL, 0},
        {"1.2.3", false, -EINVAL, 0},
        {"99999999999999999999", false, -ERANGE, 0},
};

START_TEST(test_quantities) {
        const QuantityCase *t = &quantity_cases[_i];
        int64_t v = -7;
        int r = config_parse_quantity(t->text, t->milli, &v);
        ck_assert_msg(r == t->ret, "\"%s\": %d, expected %d", t->text, r, t->ret);
        if (r == 0)
                ck_assert_msg(v == t->value, "\"%s\": %" PRId64 ", expected %" PRId64, t->text, v, t->value);
        else
                ck_assert_int_eq(v, -7);
}
END_TEST

START_TEST(test_help) {
        /* --help: printed, NODELET_CONFIG_HELP, no config; also when other flags are wrong-looking values. */
        NodeletConfig *c = (NodeletConfig *) 0x1;
        ErrorBuf e = {};
        char *argv[] = {(char *) "nodelet", (char *) "--max-pods=3", (char *) "--help", NULL};
        ck_assert_ptr_nonnull(freopen("/dev/null", "w", stdout));
        ck_assert_int_eq(nodelet_config_load(3, argv, &c, &e), NODELET_CONFIG_HELP);
        ck_assert_ptr_eq(c, (NodeletConfig *) 0x1);
        char *argv2[] = {(char *) "nodelet", (char *) "-h", NULL};
        ck_assert_int_eq(nodelet_config_load(2, argv2, &c, &e), NODELET_CONFIG_HELP);

        /* The text names every flag with its default. */
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        ck_assert_ptr_nonnull(f);
        nodelet_config_usage(f);
        fclose(f);
        const char *expect[] = {
                "--config string",
                "--max-pods int32",
                "(default 110)",
                "--root-dir string",
                "(default \"/var/lib/nodelet\")",
                "--state-dir string",
                "(default \"/run/nodelet\")",
                "--sync-frequency duration",
                "(default 1m0s)",
                "--file-check-frequency duration",
                "(default 20s)",
                "--healthz-port int32",
                "(default 10248)",
                "--port int32",
                "(default 10250)",
                "--read-only-port int32",
                "(default 0)",
                "--cni-bin-dir strings",
                "(default /opt/cni/bin)",
                "10.88.0.0/16",
                "--cert-dir string",
                "(default <root-dir>/pki)",
                "--container-log-max-size quantity",
                "(default 10Mi)",
                "-v int",
                "--drain ",
                "--help",
        };
        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                ck_assert_msg(strstr(text, expect[i]), "--help lacks \"%s\":\n%s", expect[i], text);
}
END_TEST

START_TEST(test_dump_round_trip) {
        const char *yaml = HEADER "maxPods: 50\n"
                                  "clusterDNS: [10.96.0.10]\n"
                                  "clusterDomain: cluster.local\n"
                                  "syncFrequency: 90s\n"
                                  "evictionHard: {memory.available: 1Gi}\n"
                                  "kubeReserved: {cpu: 250m}\n"
                                  "registerWithTaints: [{key: a, value: b, effect: NoSchedule}]\n"
                                  "featureGates: {KubeletCrashLoopBackOffMax: true}\n"
                                  "cgroupDriver: systemd\n";
        const char *const flags[] = {"--max-parallel-image-pulls=2", "--v=2", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *c = load_ok(yaml, flags);
        _cleanup_json_ json_t *dump = NULL;
        ck_assert_int_eq(nodelet_config_dump(c, &dump), 0);

        const char *api_version = NULL, *sync = NULL;
        int64_t max_pods = 0;
        ck_assert_int_eq(jx_get_string(dump, "apiVersion", "", true, &api_version, NULL), 0);
        ck_assert_str_eq(api_version, NODELET_CONFIG_API_VERSION);
        ck_assert_int_eq(jx_get_string(dump, "syncFrequency", "", true, &sync, NULL), 0);
        ck_assert_str_eq(sync, "1m30s");
        ck_assert_int_eq(jx_get_int(dump, "maxPods", "", true, 0, 1000, &max_pods, NULL), 0);
        ck_assert_int_eq(max_pods, 50);
        ck_assert(json_is_false(json_object_get(dump, "serializeImagePulls")));
        ck_assert_int_eq(json_integer_value(json_object_get(dump, "maxParallelImagePulls")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dump, "evictionHard"), "memory.available")),
                         "1Gi");
        ck_assert_str_eq(json_string_value(json_object_get(dump, "nodeStatusReportFrequency")), "5m0s");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dump, "authorization"), "mode")), "Webhook");

        /* The dump is a valid KubeletConfiguration: it loads back to the same configuration. */
        _cleanup_free_ char *text = json_dumps(dump, JSON_INDENT(2) | JSON_SORT_KEYS);
        ck_assert_ptr_nonnull(text);
        _cleanup_(nodelet_config_freep) NodeletConfig *c2 = load_ok(text, NULL);
        _cleanup_json_ json_t *dump2 = NULL;
        ck_assert_int_eq(nodelet_config_dump(c2, &dump2), 0);
        _cleanup_free_ char *a = jx_dump_compact(dump), *b = jx_dump_compact(dump2);
        ck_assert_str_eq(a, b);

        /* The defaults dump, and load back, too. */
        _cleanup_(nodelet_config_freep) NodeletConfig *d = load_ok(NULL, NULL);
        _cleanup_json_ json_t *dd = NULL, *dd2 = NULL;
        ck_assert_int_eq(nodelet_config_dump(d, &dd), 0);
        _cleanup_free_ char *dtext = json_dumps(dd, 0);
        _cleanup_(nodelet_config_freep) NodeletConfig *d2 = load_ok(dtext, NULL);
        ck_assert_int_eq(nodelet_config_dump(d2, &dd2), 0);
        ck_assert(json_equal(dd, dd2));
}
END_TEST

START_TEST(test_cert_rotation_settings) {
        /* Both off by default, like the kubelet's v1beta1 defaults and flags. */
        _cleanup_(nodelet_config_freep) NodeletConfig *d = load_ok(NULL, NULL);
        ck_assert(!d->rotate_certificates);
        ck_assert(!d->server_tls_bootstrap);

        /* From the file, without warnings, and dumped back under their KubeletConfiguration names. */
        _cleanup_(nodelet_config_freep) NodeletConfig *c =
                load_ok(HEADER "rotateCertificates: true\nserverTLSBootstrap: true\n", NULL);
        ck_assert(c->rotate_certificates);
        ck_assert(c->server_tls_bootstrap);
        ck_assert(!warnings_contain(c, "rotateCertificates"));
        ck_assert(!warnings_contain(c, "serverTLSBootstrap"));
        _cleanup_json_ json_t *dump = NULL;
        ck_assert_int_eq(nodelet_config_dump(c, &dump), 0);
        ck_assert(json_is_true(json_object_get(dump, "rotateCertificates")));
        ck_assert(json_is_true(json_object_get(dump, "serverTLSBootstrap")));

        /* The flags override the file. */
        static const char *const flags[] = {"--rotate-certificates=false", "--rotate-server-certificates=false", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *f =
                load_ok(HEADER "rotateCertificates: true\nserverTLSBootstrap: true\n", flags);
        ck_assert(!f->rotate_certificates);
        ck_assert(!f->server_tls_bootstrap);
        static const char *const on[] = {"--rotate-certificates", "--rotate-server-certificates", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *o = load_ok(NULL, on);
        ck_assert(o->rotate_certificates);
        ck_assert(o->server_tls_bootstrap);

        /* A wrong type is refused with the field named. */
        NodeletConfig *bad = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(load(HEADER "serverTLSBootstrap: sometimes\n", NULL, &bad, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, "serverTLSBootstrap"), "%s", e.msg);
}
END_TEST

START_TEST(test_enums) {
        ck_assert_str_eq(cgroup_driver_kind_to_string(CGROUP_DRIVER_SYSTEMD), "systemd");
        ck_assert_int_eq(cgroup_driver_kind_from_string("cgroupfs"), CGROUP_DRIVER_CGROUPFS);
        ck_assert_int_eq(cgroup_driver_kind_from_string("Systemd"), _CGROUP_DRIVER_INVALID);
        ck_assert_ptr_null(cgroup_driver_kind_to_string(_CGROUP_DRIVER_MAX));
        ck_assert_str_eq(authorization_mode_to_string(AUTHORIZATION_MODE_ALWAYS_ALLOW), "AlwaysAllow");
        ck_assert_int_eq(authorization_mode_from_string("Webhook"), AUTHORIZATION_MODE_WEBHOOK);
        ck_assert_int_eq(authorization_mode_from_string(NULL), _AUTHORIZATION_MODE_INVALID);
}
END_TEST

/* The kube-proxy flags (cluster mode's Services): kube-proxy's names, flag-only, validated. */
START_TEST(test_proxy_flags) {
        NodeletConfig *c = load_ok(NULL, NULL);
        ck_assert(!c->disable_proxy);
        ck_assert_str_eq(c->proxy_mode, "nftables");
        ck_assert_str_eq(c->proxy_kubeconfig, "");
        ck_assert_ptr_nonnull(c->cluster_cidrs);
        ck_assert_ptr_null(c->cluster_cidrs[0]);
        ck_assert_ptr_null(c->service_cluster_ip_ranges[0]);
        ck_assert_ptr_null(c->nodeport_addresses[0]);
        ck_assert(!c->masquerade_all);
        ck_assert_uint_eq(c->proxy_min_sync_period_usec, USEC_PER_SEC);
        c = nodelet_config_free(c);

        const char *const flags[] = {"--disable-proxy",
                                     "--proxy-mode=nftables",
                                     "--proxy-kubeconfig=/etc/nodelet/proxy.conf",
                                     "--cluster-cidr=10.244.0.0/16,fd00:10::/56",
                                     "--service-cluster-ip-range",
                                     "10.96.0.0/12",
                                     "--nodeport-addresses=192.168.0.0/16,10.0.0.0/8",
                                     "--masquerade-all",
                                     "--proxy-min-sync-period=250ms",
                                     NULL};
        c = load_ok(NULL, flags);
        ck_assert(c->disable_proxy);
        ck_assert_str_eq(c->proxy_kubeconfig, "/etc/nodelet/proxy.conf");
        ck_assert_str_eq(c->cluster_cidrs[0], "10.244.0.0/16");
        ck_assert_str_eq(c->cluster_cidrs[1], "fd00:10::/56");
        ck_assert_ptr_null(c->cluster_cidrs[2]);
        ck_assert_str_eq(c->service_cluster_ip_ranges[0], "10.96.0.0/12");
        ck_assert_str_eq(c->nodeport_addresses[1], "10.0.0.0/8");
        ck_assert(c->masquerade_all);
        ck_assert_uint_eq(c->proxy_min_sync_period_usec, 250 * USEC_PER_MSEC);
        /* Not KubeletConfiguration fields: the dump has none of them. */
        _cleanup_json_ json_t *dump = NULL;
        ck_assert_int_eq(nodelet_config_dump(c, &dump), 0);
        ck_assert_ptr_null(json_object_get(dump, "clusterCIDR"));
        ck_assert_ptr_null(json_object_get(dump, "masqueradeAll"));
        c = nodelet_config_free(c);

        const char *const primary[] = {"--nodeport-addresses=primary", "--proxy-min-sync-period=0", NULL};
        c = load_ok(NULL, primary);
        ck_assert_str_eq(c->nodeport_addresses[0], "primary");
        ck_assert_uint_eq(c->proxy_min_sync_period_usec, 0);
        c = nodelet_config_free(c);

        static const struct {
                const char *flags[3];
                const char *yaml;
                const char *message;
        } bad[] = {
                {{"--proxy-mode=iptables"}, NULL, "--proxy-mode: only \"nftables\" is supported, got \"iptables\""},
                {{"--proxy-mode=ipvs"}, NULL, "--proxy-mode: only \"nftables\" is supported, got \"ipvs\""},
                {{"--cluster-cidr=10.244.0.0/16,10.245.0.0/16"},
                 NULL,
                 "--cluster-cidr: at most one IPv4 and one IPv6 CIDR"},
                {{"--cluster-cidr=10.244.0.0"},
                 NULL,
                 "--cluster-cidr: expected a CIDR (address/prefix length), got \"10.244.0.0\""},
                {{"--service-cluster-ip-range=fd00::/108,fd01::/108"},
                 NULL,
                 "--service-cluster-ip-range: at most one IPv4 and one IPv6 CIDR"},
                {{"--nodeport-addresses=eth0"},
                 NULL,
                 "--nodeport-addresses: expected a CIDR or \"primary\", got \"eth0\""},
                {{"--nodeport-addresses=primary,10.0.0.0/8"},
                 NULL,
                 "--nodeport-addresses: \"primary\" cannot be combined with CIDRs"},
                {{"--proxy-min-sync-period=-1s"}, NULL, "--proxy-min-sync-period: must not be negative, got \"-1s\""},
                {{"--masquerade-all=maybe"}, NULL, "--masquerade-all: expected true or false, got \"maybe\""},
                /* flag-only: the file does not take them */
                {{NULL}, HEADER "clusterCIDR: 10.244.0.0/16\n", "@/config.yaml:3: clusterCIDR: unknown field"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *expected = NULL;
                ErrorBuf e = {};
                int r = load(bad[i].yaml, bad[i].flags, &c, &e);
                ck_assert_msg(r == -EINVAL, "case %zu: %d", i, r);
                ck_assert_int_ge(asprintf(&expected, "%s%s", bad[i].message[0] == '@' ? tmpdir : "",
                                          bad[i].message + (bad[i].message[0] == '@')),
                                 0);
                ck_assert_str_eq(e.msg, expected);
        }

        /* --help lists them. */
        _cleanup_free_ char *help = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&help, &size);
        ck_assert_ptr_nonnull(f);
        nodelet_config_usage(f);
        fclose(f);
        for (const char *const *flag =
                     (const char *const[]){"--disable-proxy", "--proxy-mode string", "--proxy-kubeconfig string",
                                           "--cluster-cidr strings", "--service-cluster-ip-range strings",
                                           "--nodeport-addresses strings", "--masquerade-all",
                                           "--proxy-min-sync-period duration", NULL};
             *flag; flag++)
                ck_assert_msg(strstr(help, *flag), "--help lacks %s", *flag);
}
END_TEST

/* eventRecordQPS/eventBurst (--event-qps/--event-burst): real settings for the events' own API client; QPS 0 means
 * no limit and is kept, a 0 burst is the default (the kubelet's v1beta1 defaulting). */
START_TEST(test_event_rate_settings) {
        _cleanup_(nodelet_config_freep) NodeletConfig *d = load_ok(NULL, NULL);
        ck_assert_int_eq(d->event_record_qps, 50);
        ck_assert_int_eq(d->event_burst, 100);
        ck_assert(!warnings_contain(d, "eventRecordQPS"));

        _cleanup_(nodelet_config_freep) NodeletConfig *f = load_ok(HEADER "eventRecordQPS: 0\neventBurst: 0\n", NULL);
        ck_assert_int_eq(f->event_record_qps, 0);
        ck_assert_int_eq(f->event_burst, 100);
        ck_assert(!warnings_contain(f, "eventRecordQPS"));
        ck_assert(!warnings_contain(f, "eventBurst"));

        const char *const flags[] = {"--event-qps=5", "--event-burst=7", NULL};
        _cleanup_(nodelet_config_freep) NodeletConfig *g =
                load_ok(HEADER "eventRecordQPS: 20\neventBurst: 30\n", flags);
        ck_assert_int_eq(g->event_record_qps, 5);
        ck_assert_int_eq(g->event_burst, 7);

        NodeletConfig *bad = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(load(HEADER "eventRecordQPS: -1\n", NULL, &bad, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, "eventRecordQPS"), "%s", e.msg);
        ck_assert_ptr_null(bad);

        _cleanup_json_ json_t *dump = NULL;
        ck_assert_int_eq(nodelet_config_dump(g, &dump), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(dump, "eventRecordQPS")), 5);
        ck_assert_int_eq(json_integer_value(json_object_get(dump, "eventBurst")), 7);
}
END_TEST

int main(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_file_only);
        tcase_add_test(tc, test_flags_only);
        tcase_add_test(tc, test_shorthand_and_bool_forms);
        tcase_add_test(tc, test_flag_overrides_file);
        tcase_add_test(tc, test_zero_values_default);
        tcase_add_test(tc, test_eviction_merge);
        tcase_add_loop_test(tc, test_errors, 0, (int) ELEMENTSOF(error_cases));
        tcase_add_test(tc, test_file_errors);
        tcase_add_test(tc, test_json_file);
        tcase_add_test(tc, test_kubeadm_config);
        tcase_add_loop_test(tc, test_durations, 0, (int) ELEMENTSOF(duration_cases));
        tcase_add_loop_test(tc, test_quantities, 0, (int) ELEMENTSOF(quantity_cases));
        tcase_add_test(tc, test_help);
        tcase_add_test(tc, test_dump_round_trip);
        tcase_add_test(tc, test_enums);
        tcase_add_test(tc, test_cert_rotation_settings);
        tcase_add_test(tc, test_proxy_flags);
        tcase_add_test(tc, test_event_rate_settings);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
