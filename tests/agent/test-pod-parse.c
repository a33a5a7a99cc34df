/* SPDX-License-Identifier: Apache-2.0 */
/* pod_parse(): the API server's defaults (in the struct and in pod->object), validation errors that name the field,
 * QoS classes, container hashes, and unknown fields kept. Manifests are written with ' for " to stay readable. */

#include <stdio.h>

#include "agent/pod.h"
#include "common/json-util.h"
#include "common/yaml.h"
#include "tests/lib/testlib.h"

#define POD_HEAD "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u1'},'spec':{"
/* A pod with extra spec fields (each followed by a comma) and extra fields for its one container. */
#define POD(SPEC, CONTAINER) POD_HEAD SPEC "'containers':[{'name':'app','image':'busybox'" CONTAINER "}]}}"

static json_t *json_from(const char *text) {
        _cleanup_free_ char *t = strdup(text);
        json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_ptr_nonnull(t);
        for (char *c = t; *c; c++)
                if (*c == '\'')
                        *c = '"';
        if (jx_parse(t, strlen(t), "test", &j, &e) < 0)
                ck_abort_msg("bad test JSON: %s\n%s", e.msg, t);
        return j;
}

static Pod *parse_ok(const char *text) {
        _cleanup_json_ json_t *j = json_from(text);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(j, "file", &p, &e);
        if (r < 0)
                ck_abort_msg("pod_parse failed: %s (%s)", error_message(&e, r), text);
        return p;
}

static void expect_error(const char *text, const char *message) {
        _cleanup_json_ json_t *j = json_from(text);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(j, "file", &p, &e);
        if (r >= 0)
                ck_abort_msg("pod_parse accepted %s", text);
        ck_assert_ptr_null(p);
        if (!strstr(e.msg, message))
                ck_abort_msg("expected \"%s\" in \"%s\" for %s", message, e.msg, text);
}

static const char *jstr(const json_t *o, const char *path) {
        /* "a.b.0.c" through objects and arrays */
        _cleanup_free_ char *copy = strdup(path);
        const json_t *cur = o;
        for (char *tok = strtok(copy, "."); tok && cur; tok = strtok(NULL, "."))
                cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
        ck_assert_msg(cur != NULL, "%s missing", path);
        static char buf[256];
        if (json_is_string(cur))
                return json_string_value(cur);
        _cleanup_free_ char *s = jx_dump_compact(cur);
        snprintf(buf, sizeof buf, "%s", s);
        return buf;
}

START_TEST(test_defaults) {
        _cleanup_(pod_freep) Pod *p =
                parse_ok(POD("'volumes':[{'name':'scratch'},{'name':'meta','downwardAPI':{'items':["
                             "{'path':'labels','fieldRef':{'fieldPath':'metadata.labels'}}]}},"
                             "{'name':'host','hostPath':{'path':'/var/log'}},"
                             "{'name':'cm','configMap':{'name':'c'}},"
                             "{'name':'sec','secret':{'secretName':'s'}},"
                             "{'name':'proj','projected':{'sources':[]}}],",
                             ",'ports':[{'containerPort':80}],"
                             "'resources':{'limits':{'cpu':'500m','memory':'64Mi'},"
                             "'requests':{'cpu':'100m'}},"
                             "'livenessProbe':{'httpGet':{'port':80}},"
                             "'env':[{'name':'N','valueFrom':{'fieldRef':{'fieldPath':"
                             "'metadata.name'}}}]"));
        const json_t *o = p->object;

        ck_assert_str_eq(p->name, "web");
        ck_assert_str_eq(p->namespace_, "default");
        ck_assert_str_eq(p->uid, "u1");
        ck_assert_str_eq(p->source, "file");
        ck_assert(json_is_object(p->labels) && json_object_size(p->labels) == 0);
        ck_assert(json_is_object(p->annotations));
        ck_assert_int_eq(p->restart_policy, RESTART_POLICY_ALWAYS);
        ck_assert_int_eq(p->dns_policy, DNS_POLICY_CLUSTER_FIRST);
        ck_assert_int_eq(p->termination_grace_period_seconds, 30);
        ck_assert_int_eq(p->active_deadline_seconds, -1);
        ck_assert_str_eq(p->service_account_name, "default");
        ck_assert(p->automount_service_account_token);
        ck_assert_int_eq(p->security_context.run_as_user, -1);
        ck_assert_str_eq(jstr(o, "metadata.namespace"), "default");
        ck_assert_str_eq(jstr(o, "spec.restartPolicy"), "Always");
        ck_assert_str_eq(jstr(o, "spec.dnsPolicy"), "ClusterFirst");
        ck_assert_str_eq(jstr(o, "spec.terminationGracePeriodSeconds"), "30");
        ck_assert_str_eq(jstr(o, "spec.schedulerName"), "default-scheduler");
        ck_assert_str_eq(jstr(o, "spec.serviceAccountName"), "default");
        ck_assert_str_eq(jstr(o, "spec.securityContext"), "{}");
        ck_assert_str_eq(jstr(o, "spec.enableServiceLinks"), "true");

        ck_assert_int_eq(p->n_containers, 1);
        ck_assert_int_eq(p->n_init_containers, 0);
        const PodContainer *c = p->containers;
        ck_assert_int_eq(c->kind, CONTAINER_KIND_APP);
        ck_assert_str_eq(c->termination_message_path, "/dev/termination-log");
        ck_assert(!c->termination_message_fallback_to_logs);
        ck_assert_int_eq(c->image_pull_policy, PULL_POLICY_ALWAYS);
        ck_assert_str_eq(jstr(o, "spec.containers.0.terminationMessagePath"), "/dev/termination-log");
        ck_assert_str_eq(jstr(o, "spec.containers.0.terminationMessagePolicy"), "File");
        ck_assert_str_eq(jstr(o, "spec.containers.0.imagePullPolicy"), "Always");
        ck_assert_str_eq(c->ports[0].protocol, "TCP");
        ck_assert_int_eq(c->ports[0].host_port, 0);
        ck_assert_str_eq(jstr(o, "spec.containers.0.ports.0.protocol"), "TCP");
        ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(json_object_get(o, "spec"), "containers"), 0),
                                           "hostPort"));

        /* requests default to limits per resource; a given request stays */
        ck_assert_int_eq(c->resources.limits.cpu_milli, 500);
        ck_assert_int_eq(c->resources.limits.memory, 64 << 20);
        ck_assert_int_eq(c->resources.requests.cpu_milli, 100);
        ck_assert_int_eq(c->resources.requests.memory, 64 << 20);
        ck_assert_int_eq(c->resources.requests.ephemeral_storage, -1);
        ck_assert_str_eq(jstr(o, "spec.containers.0.resources.requests.memory"), "64Mi");
        ck_assert_str_eq(jstr(o, "spec.containers.0.resources.requests.cpu"), "100m");

        const Probe *lp = c->liveness_probe;
        ck_assert_ptr_nonnull(lp);
        ck_assert_ptr_null(c->readiness_probe);
        ck_assert_int_eq(lp->handler.type, HANDLER_HTTP_GET);
        ck_assert_str_eq(lp->handler.http_path, "/");
        ck_assert(!lp->handler.http_https);
        ck_assert_int_eq(lp->handler.port.number, 80);
        ck_assert_int_eq(lp->timeout_seconds, 1);
        ck_assert_int_eq(lp->period_seconds, 10);
        ck_assert_int_eq(lp->success_threshold, 1);
        ck_assert_int_eq(lp->failure_threshold, 3);
        ck_assert_int_eq(lp->initial_delay_seconds, 0);
        ck_assert_int_eq(lp->termination_grace_period_seconds, -1);
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.timeoutSeconds"), "1");
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.periodSeconds"), "10");
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.successThreshold"), "1");
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.failureThreshold"), "3");
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.httpGet.path"), "/");
        ck_assert_str_eq(jstr(o, "spec.containers.0.livenessProbe.httpGet.scheme"), "HTTP");
        ck_assert_str_eq(jstr(o, "spec.containers.0.env.0.valueFrom.fieldRef.apiVersion"), "v1");
        ck_assert_int_eq(c->env[0].source, ENV_SOURCE_FIELD_REF);
        ck_assert_str_eq(c->env[0].field_path, "metadata.name");

        ck_assert_int_eq(p->n_volumes, 6);
        ck_assert_int_eq(p->volumes[0].type, VOLUME_EMPTY_DIR);
        ck_assert_int_eq(p->volumes[0].size_limit, -1);
        ck_assert_str_eq(jstr(o, "spec.volumes.0.emptyDir"), "{}");
        ck_assert_int_eq(p->volumes[1].type, VOLUME_DOWNWARD_API);
        ck_assert_int_eq(p->volumes[1].default_mode, 0644);
        ck_assert_int_eq(p->volumes[1].items[0].mode, -1);
        ck_assert_str_eq(jstr(o, "spec.volumes.1.downwardAPI.defaultMode"), "420");
        ck_assert_str_eq(jstr(o, "spec.volumes.1.downwardAPI.items.0.fieldRef.apiVersion"), "v1");
        ck_assert_int_eq(p->volumes[2].type, VOLUME_HOST_PATH);
        ck_assert_int_eq(p->volumes[2].host_path_type, HOST_PATH_UNSET);
        ck_assert_str_eq(jstr(o, "spec.volumes.2.hostPath.type"), "");
        ck_assert_int_eq(p->volumes[3].type, VOLUME_CONFIG_MAP);
        ck_assert_str_eq(jstr(o, "spec.volumes.3.configMap.defaultMode"), "420");
        ck_assert_int_eq(p->volumes[4].type, VOLUME_SECRET);
        ck_assert_str_eq(p->volumes[4].ref_name, "s");
        ck_assert_str_eq(jstr(o, "spec.volumes.4.secret.defaultMode"), "420");
        ck_assert_int_eq(p->volumes[5].type, VOLUME_PROJECTED);
        ck_assert_str_eq(jstr(o, "spec.volumes.5.projected.defaultMode"), "420");
        ck_assert_ptr_eq(pod_find_volume(p, "host"), p->volumes + 2);
        ck_assert_ptr_null(pod_find_volume(p, "nope"));
}
END_TEST

START_TEST(test_pull_policy_and_scalars) {
        static const struct {
                const char *image;
                PullPolicy want;
        } cases[] = {
                {"busybox", PULL_POLICY_ALWAYS},
                {"busybox:latest", PULL_POLICY_ALWAYS},
                {"busybox:1.36", PULL_POLICY_IF_NOT_PRESENT},
                {"registry.local:5000/team/app:v2", PULL_POLICY_IF_NOT_PRESENT},
                {"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                 PULL_POLICY_IF_NOT_PRESENT},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[512];
                snprintf(buf, sizeof buf, POD_HEAD "'containers':[{'name':'a','image':'%s'}]}}", cases[i].image);
                _cleanup_(pod_freep) Pod *p = parse_ok(buf);
                ck_assert_msg(p->containers[0].image_pull_policy == cases[i].want, "%s", cases[i].image);
                ck_assert_str_eq(p->containers[0].image, cases[i].image);
        }
        /* a given policy stays; a negative grace period becomes 1; serviceAccount (deprecated) fills the name */
        _cleanup_(pod_freep) Pod *p = parse_ok(POD("'terminationGracePeriodSeconds':-5,'serviceAccount':'robot',"
                                                   "'restartPolicy':'Never','dnsPolicy':'None','dnsConfig':{"
                                                   "'nameservers':['10.0.0.10'],'searches':['svc.local'],'options':"
                                                   "[{'name':'ndots','value':'2'},{'name':'edns0'}]},"
                                                   "'hostAliases':[{'ip':'10.1.1.1','hostnames':['a','b']}],",
                                                   ",'imagePullPolicy':'Never','terminationMessagePolicy':"
                                                   "'FallbackToLogsOnError'"));
        ck_assert_int_eq(p->containers[0].image_pull_policy, PULL_POLICY_NEVER);
        ck_assert(p->containers[0].termination_message_fallback_to_logs);
        ck_assert_int_eq(p->termination_grace_period_seconds, 1);
        ck_assert_str_eq(jstr(p->object, "spec.terminationGracePeriodSeconds"), "1");
        ck_assert_str_eq(p->service_account_name, "robot");
        ck_assert_int_eq(p->restart_policy, RESTART_POLICY_NEVER);
        ck_assert_int_eq(p->dns_policy, DNS_POLICY_NONE);
        ck_assert(p->has_dns_config);
        ck_assert_str_eq(p->dns_config.nameservers[0], "10.0.0.10");
        ck_assert_str_eq(p->dns_config.searches[0], "svc.local");
        ck_assert_str_eq(p->dns_config.options[0], "ndots:2");
        ck_assert_str_eq(p->dns_config.options[1], "edns0");
        ck_assert_ptr_null(p->dns_config.options[2]);
        ck_assert_str_eq(p->host_aliases[0].ip, "10.1.1.1");
        ck_assert_str_eq(p->host_aliases[0].hostnames[1], "b");
}
END_TEST

START_TEST(test_host_network_ports) {
        _cleanup_(pod_freep) Pod *p = parse_ok(POD("'hostNetwork':true,", ",'ports':[{'containerPort':8080}]"));
        ck_assert(p->host_network);
        ck_assert_int_eq(p->containers[0].ports[0].host_port, 8080);
        ck_assert_str_eq(jstr(p->object, "spec.containers.0.ports.0.hostPort"), "8080");
        expect_error(POD("'hostNetwork':true,", ",'ports':[{'containerPort':8080,'hostPort':9090}]"),
                     "spec.containers[0].ports[0].hostPort: must match containerPort");
        /* without the host network, any host port */
        _cleanup_(pod_freep) Pod *q = parse_ok(POD("", ",'ports':[{'containerPort':8080,'hostPort':9090}]"));
        ck_assert_int_eq(q->containers[0].ports[0].host_port, 9090);
}
END_TEST

START_TEST(test_containers_probes_mounts) {
        _cleanup_(pod_freep) Pod *p = parse_ok(
                "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'prod','uid':'u1',"
                "'labels':{'app':'web','example.com/tier':'front'},'annotations':{'note':'x'}},'spec':{"
                "'volumes':[{'name':'data','emptyDir':{'medium':'Memory','sizeLimit':'1Gi'}}],"
                "'initContainers':[{'name':'init','image':'busybox:1','command':['sh','-c','true']},"
                "{'name':'side','image':'busybox:1','restartPolicy':'Always','readinessProbe':{'grpc':{'port':9000}},"
                "'startupProbe':{'exec':{'command':['true']}},'lifecycle':{'preStop':{'sleep':{'seconds':3}}}}],"
                "'containers':[{'name':'app','image':'busybox:1','args':['-v'],'workingDir':'/w',"
                "'ports':[{'name':'http','containerPort':80,'protocol':'UDP','hostIP':'127.0.0.1'}],"
                "'readinessProbe':{'httpGet':{'port':'http','scheme':'HTTPS','path':'/ready','httpHeaders':"
                "[{'name':'X-Probe','value':'1'}]},'successThreshold':2,'initialDelaySeconds':5},"
                "'livenessProbe':{'tcpSocket':{'port':80},'terminationGracePeriodSeconds':7},"
                "'lifecycle':{'postStart':{'exec':{'command':['echo','hi']}}},"
                "'securityContext':{'runAsUser':1000,'privileged':true,'capabilities':{'add':['NET_ADMIN']},"
                "'seccompProfile':{'type':'Localhost','localhostProfile':'profiles/a.json'}},"
                "'volumeMounts':[{'name':'data','mountPath':'/data','subPath':'x/y','readOnly':true},"
                "{'name':'data','mountPath':'/shared','mountPropagation':'Bidirectional'},"
                "{'name':'data','mountPath':'/expr','subPathExpr':'$(POD)'}],"
                "'stdin':true,'tty':true}]}}");
        char buf[64];
        ck_assert_str_eq(pod_full_name(p, buf, sizeof buf), "prod/web");
        ck_assert_str_eq(json_string_value(json_object_get(p->labels, "example.com/tier")), "front");
        ck_assert_int_eq(p->n_init_containers, 2);
        const PodContainer *init = pod_find_container(p, "init"), *side = pod_find_container(p, "side"),
                           *app = pod_find_container(p, "app");
        ck_assert_ptr_eq(init, p->init_containers);
        ck_assert_int_eq(init->kind, CONTAINER_KIND_INIT);
        ck_assert(!pod_container_is_sidecar(init));
        ck_assert(pod_container_is_sidecar(side));
        ck_assert_int_eq(side->index, 1);
        ck_assert_int_eq(side->readiness_probe->handler.type, HANDLER_GRPC);
        ck_assert_int_eq(side->readiness_probe->handler.port.number, 9000);
        ck_assert_int_eq(side->startup_probe->handler.type, HANDLER_EXEC);
        ck_assert_int_eq(side->pre_stop->type, HANDLER_SLEEP);
        ck_assert_int_eq(side->pre_stop->sleep_seconds, 3);
        ck_assert_ptr_null(pod_find_container(p, "nope"));

        ck_assert_str_eq(app->args[0], "-v");
        ck_assert_str_eq(app->working_dir, "/w");
        ck_assert_str_eq(app->ports[0].name, "http");
        ck_assert_str_eq(app->ports[0].protocol, "UDP");
        ck_assert_str_eq(app->ports[0].host_ip, "127.0.0.1");
        const Probe *rp = app->readiness_probe;
        ck_assert_str_eq(rp->handler.port.name, "http");
        ck_assert_int_eq(rp->handler.port.number, 0);
        ck_assert(rp->handler.http_https);
        ck_assert_str_eq(rp->handler.http_path, "/ready");
        ck_assert_str_eq(rp->handler.http_headers[0].name, "X-Probe");
        ck_assert_int_eq(rp->success_threshold, 2);
        ck_assert_int_eq(rp->initial_delay_seconds, 5);
        ck_assert_int_eq(app->liveness_probe->handler.type, HANDLER_TCP_SOCKET);
        ck_assert_int_eq(app->liveness_probe->termination_grace_period_seconds, 7);
        ck_assert_str_eq(app->post_start->exec_command[1], "hi");
        ck_assert_int_eq(app->security_context.run_as_user, 1000);
        ck_assert_int_eq(app->security_context.run_as_group, -1);
        ck_assert_int_eq(app->security_context.privileged, 1);
        ck_assert_int_eq(app->security_context.read_only_root_filesystem, -1);
        ck_assert_str_eq(app->security_context.cap_add[0], "NET_ADMIN");
        ck_assert_int_eq(app->security_context.seccomp, SECCOMP_PROFILE_LOCALHOST);
        ck_assert_str_eq(app->security_context.seccomp_localhost_profile, "profiles/a.json");
        ck_assert_int_eq(app->n_volume_mounts, 3);
        ck_assert_str_eq(app->volume_mounts[0].sub_path, "x/y");
        ck_assert(app->volume_mounts[0].read_only);
        ck_assert_int_eq(app->volume_mounts[0].propagation, MOUNT_PROPAGATION_PRIVATE);
        ck_assert_int_eq(app->volume_mounts[1].propagation, MOUNT_PROPAGATION_SHARED);
        ck_assert_str_eq(app->volume_mounts[2].sub_path_expr, "$(POD)");
        ck_assert(app->stdin_ && app->tty);
        ck_assert(p->volumes[0].medium_memory);
        ck_assert_int_eq(p->volumes[0].size_limit, 1LL << 30);
}
END_TEST

START_TEST(test_api_version_and_kind) {
        expect_error("{'apiVersion':'apps/v1','kind':'Pod','metadata':{'name':'a','uid':'u'},'spec':{}}",
                     "apiVersion: expected \"v1\", got \"apps/v1\"");
        expect_error("{'apiVersion':'v1','kind':'Service','metadata':{'name':'a','uid':'u'},'spec':{}}",
                     "kind: expected \"Pod\", got \"Service\"");
        expect_error("{'kind':'Pod'}", "apiVersion: required field is missing");
        expect_error("[]", "expected a Pod object");
}
END_TEST

/* Every validation error names its field. */
static const struct {
        const char *pod, *message;
} invalid[] = {
        /* metadata */
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'uid':'u'},'spec':{'containers':[{'name':'a','image':'b'}]}}",
         "metadata.name: required field is missing"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'Web_1','uid':'u'},'spec':{'containers':[{'name':'a',"
         "'image':'b'}]}}",
         "metadata.name: invalid value \"Web_1\""},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web'},'spec':{'containers':[{'name':'a','image':'b'}]}}",
         "metadata.uid: required field is missing"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':''},'spec':{'containers':[{'name':'a',"
         "'image':'b'}]}}",
         "metadata.uid: must not be empty"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','namespace':'a.b'},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.namespace: invalid value"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','labels':{'-bad':'x'}},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.labels: invalid key \"-bad\""},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','labels':{'a':'has space'}},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.labels[a]: invalid value \"has space\""},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','labels':{'Bad_Prefix/a':'x'}},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.labels: invalid key"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','annotations':{'a':1}},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.annotations[a]: expected a string, got number"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','annotations':{'a b':'x'}},'spec':{"
         "'containers':[{'name':'a','image':'b'}]}}",
         "metadata.annotations: invalid key \"a b\""},
        /* spec */
        {POD_HEAD "'containers':[]}}", "spec.containers: must have at least one container"},
        {POD_HEAD "'initContainers':[]}}", "spec.containers: required field is missing"},
        {POD("'restartPolicy':'Sometimes',", ""), "spec.restartPolicy: unsupported value \"Sometimes\""},
        {POD("'dnsPolicy':'Cluster',", ""), "spec.dnsPolicy: unsupported value \"Cluster\""},
        {POD("'dnsPolicy':'None',", ""), "spec.dnsConfig: must provide at least one DNS nameserver"},
        {POD("'dnsPolicy':'None','dnsConfig':{'searches':['a']},", ""), "spec.dnsConfig: must provide at least one"},
        {POD("'dnsConfig':{'nameservers':['1.1.1.1','1.1.1.2','1.1.1.3','1.1.1.4']},", ""),
         "spec.dnsConfig.nameservers: must not have more than 3"},
        {POD("'dnsConfig':{'nameservers':['dns.local']},", ""), "spec.dnsConfig.nameservers[0]: invalid IP address"},
        {POD("'dnsConfig':{'searches':['a1','a2','a3','a4','a5','a6','a7','a8','a9','a10','a11','a12','a13','a14',"
             "'a15','a16','a17','a18','a19','a20','a21','a22','a23','a24','a25','a26','a27','a28','a29','a30','a31',"
             "'a32','a33']},",
             ""),
         "spec.dnsConfig.searches: must not have more than 32"},
        {POD("'dnsConfig':{'searches':['bad_domain']},", ""), "spec.dnsConfig.searches[0]: invalid search domain"},
        {POD("'hostPID':true,'shareProcessNamespace':true,", ""), "spec.shareProcessNamespace:"},
        {POD("'hostname':'Not_A_Label',", ""), "spec.hostname: invalid value"},
        {POD("'hostAliases':[{'ip':'nope'}],", ""), "spec.hostAliases[0].ip: invalid IP address"},
        {POD("'activeDeadlineSeconds':0,", ""), "spec.activeDeadlineSeconds: 0 is out of range"},
        /* containers */
        {POD_HEAD "'containers':[{'image':'b'}]}}", "spec.containers[0].name: required field is missing"},
        {POD_HEAD "'containers':[{'name':'App','image':'b'}]}}", "spec.containers[0].name: invalid value \"App\""},
        {POD_HEAD "'containers':[{'name':'a','image':'b'},{'name':'a','image':'b'}]}}",
         "spec.containers[1].name: duplicate value \"a\""},
        {POD_HEAD "'initContainers':[{'name':'a','image':'b'}],'containers':[{'name':'a','image':'b'}]}}",
         "spec.containers[0].name: duplicate value \"a\""},
        {POD_HEAD "'containers':[{'name':'a'}]}}", "spec.containers[0].image: required field is missing"},
        {POD_HEAD "'containers':[{'name':'a','image':''}]}}", "spec.containers[0].image: must not be empty"},
        {POD_HEAD "'containers':[{'name':'a','image':'Upper/Case'}]}}",
         "spec.containers[0].image: invalid reference 'Upper/Case'"},
        {POD_HEAD "'containers':[{'name':'a','image':7}]}}", "spec.containers[0].image: expected a string, got number"},
        {POD("", ",'imagePullPolicy':'Sometimes'"), "spec.containers[0].imagePullPolicy: unsupported value"},
        {POD("", ",'terminationMessagePolicy':'Log'"), "spec.containers[0].terminationMessagePolicy: unsupported"},
        {POD("", ",'restartPolicy':'Always'"), "spec.containers[0].restartPolicy: may not be set for non-init"},
        {POD_HEAD "'initContainers':[{'name':'i','image':'b','restartPolicy':'OnFailure'}],'containers':[{'name':'a',"
                  "'image':'b'}]}}",
         "spec.initContainers[0].restartPolicy: unsupported value \"OnFailure\""},
        {POD("", ",'command':'sh'"), "spec.containers[0].command: expected a list, got string"},
        {POD("", ",'args':[1]"), "spec.containers[0].args[0]: expected a string, got number"},
        /* ports */
        {POD("", ",'ports':[{'containerPort':0}]"), "spec.containers[0].ports[0].containerPort: 0 is out of range"},
        {POD("", ",'ports':[{'containerPort':65536}]"), "spec.containers[0].ports[0].containerPort: 65536 is out"},
        {POD("", ",'ports':[{}]"), "spec.containers[0].ports[0].containerPort: required field is missing"},
        {POD("", ",'ports':[{'containerPort':80,'hostPort':70000}]"), "spec.containers[0].ports[0].hostPort: 70000"},
        {POD("", ",'ports':[{'containerPort':80,'protocol':'ICMP'}]"),
         "spec.containers[0].ports[0].protocol: unsupported value \"ICMP\""},
        {POD("", ",'ports':[{'containerPort':80,'name':'HTTP'}]"), "spec.containers[0].ports[0].name: invalid port"},
        {POD("", ",'ports':[{'containerPort':80,'name':'web'},{'containerPort':81,'name':'web'}]"),
         "spec.containers[0].ports: duplicate port name \"web\""},
        {POD("", ",'ports':[{'containerPort':80,'hostIP':'localhost'}]"),
         "spec.containers[0].ports[0].hostIP: invalid IP"},
        {POD("", ",'ports':['80']"), "spec.containers[0].ports[0]: expected an object, got string"},
        /* probes */
        {POD("", ",'livenessProbe':{}"), "spec.containers[0].livenessProbe: must specify a handler type"},
        {POD("", ",'readinessProbe':{'exec':{'command':['true']},'tcpSocket':{'port':1}}"),
         "spec.containers[0].readinessProbe: may not specify more than 1 handler type"},
        {POD("", ",'livenessProbe':{'exec':{'command':['true']},'successThreshold':2}"),
         "spec.containers[0].livenessProbe.successThreshold: must be 1"},
        {POD("", ",'startupProbe':{'exec':{'command':['true']},'successThreshold':3}"),
         "spec.containers[0].startupProbe.successThreshold: must be 1"},
        {POD("", ",'readinessProbe':{'exec':{'command':['true']},'failureThreshold':0}"),
         "spec.containers[0].readinessProbe.failureThreshold: 0 is out of range"},
        {POD("", ",'readinessProbe':{'exec':{'command':['true']},'successThreshold':0}"),
         "spec.containers[0].readinessProbe.successThreshold: 0 is out of range"},
        {POD("", ",'readinessProbe':{'exec':{'command':['true']},'periodSeconds':0}"),
         "spec.containers[0].readinessProbe.periodSeconds: 0 is out of range"},
        {POD("", ",'readinessProbe':{'exec':{'command':['true']},'timeoutSeconds':'1'}"),
         "spec.containers[0].readinessProbe.timeoutSeconds: expected an integer, got string"},
        {POD("", ",'livenessProbe':{'exec':{}}"), "spec.containers[0].livenessProbe.exec.command: required"},
        {POD("", ",'livenessProbe':{'httpGet':{}}"), "spec.containers[0].livenessProbe.httpGet.port: required"},
        {POD("", ",'livenessProbe':{'httpGet':{'port':80,'scheme':'FTP'}}"),
         "spec.containers[0].livenessProbe.httpGet.scheme: unsupported value \"FTP\""},
        {POD("", ",'livenessProbe':{'tcpSocket':{'port':0}}"),
         "spec.containers[0].livenessProbe.tcpSocket.port: 0 is out of range"},
        {POD("", ",'livenessProbe':{'tcpSocket':{'port':'8080'}}"),
         "spec.containers[0].livenessProbe.tcpSocket.port: invalid port name \"8080\""},
        {POD("", ",'livenessProbe':{'grpc':{'port':'grpc'}}"),
         "spec.containers[0].livenessProbe.grpc.port: expected an integer, got string"},
        {POD("", ",'lifecycle':{'preStop':{}}"), "spec.containers[0].lifecycle.preStop: must specify a handler type"},
        {POD("", ",'lifecycle':{'postStart':{'sleep':{'seconds':-1}}}"),
         "spec.containers[0].lifecycle.postStart.sleep.seconds: -1 is out of range"},
        {POD_HEAD "'initContainers':[{'name':'i','image':'b','readinessProbe':{'exec':{'command':['true']}}}],"
                  "'containers':[{'name':'a','image':'b'}]}}",
         "spec.initContainers[0].readinessProbe: may not be set for init containers"},
        {POD_HEAD "'initContainers':[{'name':'i','image':'b','livenessProbe':{'exec':{'command':['true']}}}],"
                  "'containers':[{'name':'a','image':'b'}]}}",
         "spec.initContainers[0].livenessProbe: may not be set for init containers"},
        {POD_HEAD "'initContainers':[{'name':'i','image':'b','lifecycle':{'preStop':{'exec':{'command':['x']}}}}],"
                  "'containers':[{'name':'a','image':'b'}]}}",
         "spec.initContainers[0].lifecycle: may not be set for init containers"},
        /* volume mounts */
        {POD("", ",'volumeMounts':[{'name':'missing','mountPath':'/m'}]"),
         "spec.containers[0].volumeMounts[0].name: volume \"missing\" not found"},
        {POD("'volumes':[{'name':'v'}],", ",'volumeMounts':[{'name':'v','mountPath':'rel'}]"),
         "spec.containers[0].volumeMounts[0].mountPath: must be an absolute path"},
        {POD("'volumes':[{'name':'v'}],", ",'volumeMounts':[{'name':'v'}]"),
         "spec.containers[0].volumeMounts[0].mountPath: required field is missing"},
        {POD("'volumes':[{'name':'v'}],",
             ",'volumeMounts':[{'name':'v','mountPath':'/m'},{'name':'v','mountPath':'/m'}]"),
         "spec.containers[0].volumeMounts[1].mountPath: must be unique"},
        {POD("'volumes':[{'name':'v'}],", ",'volumeMounts':[{'name':'v','mountPath':'/m','subPath':'/abs'}]"),
         "spec.containers[0].volumeMounts[0].subPath: must be a relative path"},
        {POD("'volumes':[{'name':'v'}],", ",'volumeMounts':[{'name':'v','mountPath':'/m','subPath':'a/../../b'}]"),
         "spec.containers[0].volumeMounts[0].subPath: must be a relative path without '..'"},
        {POD("'volumes':[{'name':'v'}],",
             ",'volumeMounts':[{'name':'v','mountPath':'/m','subPath':'a','subPathExpr':'$(X)'}]"),
         "spec.containers[0].volumeMounts[0].subPathExpr: subPathExpr and subPath are mutually exclusive"},
        {POD("'volumes':[{'name':'v'}],",
             ",'volumeMounts':[{'name':'v','mountPath':'/m','mountPropagation':'Bidirectional'}]"),
         "spec.containers[0].volumeMounts[0].mountPropagation: Bidirectional mount propagation is available only"},
        {POD("'volumes':[{'name':'v'}],", ",'volumeMounts':[{'name':'v','mountPath':'/m','mountPropagation':'x'}]"),
         "spec.containers[0].volumeMounts[0].mountPropagation: unsupported value \"x\""},
        /* volumes */
        {POD("'volumes':[{'name':'v'},{'name':'v'}],", ""), "spec.volumes[1].name: duplicate value \"v\""},
        {POD("'volumes':[{'emptyDir':{}}],", ""), "spec.volumes[0].name: required field is missing"},
        {POD("'volumes':[{'name':'V'}],", ""), "spec.volumes[0].name: invalid value \"V\""},
        {POD("'volumes':[{'name':'v','emptyDir':{},'hostPath':{'path':'/x'}}],", ""),
         "spec.volumes[0]: may not specify more than 1 volume type"},
        {POD("'volumes':[{'name':'v','hostPath':{'path':'x'}}],", ""),
         "spec.volumes[0].hostPath.path: must be an absolute path"},
        {POD("'volumes':[{'name':'v','hostPath':{'path':'/x','type':'Dir'}}],", ""),
         "spec.volumes[0].hostPath.type: unsupported value \"Dir\""},
        {POD("'volumes':[{'name':'v','persistentVolumeClaim':{'claimName':'c'}}],", ""),
         "spec.volumes[0].persistentVolumeClaim: volume type persistentVolumeClaim is not supported"},
        {POD("'volumes':[{'name':'v','emptyDir':{'sizeLimit':'lots'}}],", ""),
         "spec.volumes[0].emptyDir.sizeLimit: invalid quantity \"lots\""},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'/abs','fieldRef':{'fieldPath':"
             "'metadata.name'}}]}}],",
             ""),
         "spec.volumes[0].downwardAPI.items[0].path: must be a non-empty relative path without '..'"},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'a/../../etc','fieldRef':{'fieldPath':"
             "'metadata.name'}}]}}],",
             ""),
         "spec.volumes[0].downwardAPI.items[0].path: must be a non-empty relative path without '..'"},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'..data','fieldRef':{'fieldPath':"
             "'metadata.name'}}]}}],",
             ""),
         "spec.volumes[0].downwardAPI.items[0].path:"},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'n','fieldRef':{'fieldPath':"
             "'spec.nodeName'}}]}}],",
             ""),
         "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: unsupported value \"spec.nodeName\""},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'n'}]}}],", ""),
         "spec.volumes[0].downwardAPI.items[0]: must specify exactly one of fieldRef or resourceFieldRef"},
        {POD("'volumes':[{'name':'v','downwardAPI':{'items':[{'path':'n','resourceFieldRef':{'resource':"
             "'limits.cpu'}}]}}],",
             ""),
         "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: required field is missing"},
        {POD("'volumes':[{'name':'v','downwardAPI':{'defaultMode':1000}}],", ""),
         "spec.volumes[0].downwardAPI.defaultMode: 1000 is out of range"},
        {POD("'volumes':[{'name':'v','projected':{'sources':[{}]}}],", ""),
         "spec.volumes[0].projected.sources[0]: must specify exactly one projection source"},
        /* env */
        {POD("", ",'env':[{'value':'x'}]"), "spec.containers[0].env[0].name: required field is missing"},
        {POD("", ",'env':[{'name':'A=B'}]"), "spec.containers[0].env[0].name: invalid environment variable name"},
        {POD("", ",'env':[{'name':''}]"), "spec.containers[0].env[0].name: invalid environment variable name"},
        {POD("", ",'env':[{'name':'A','value':1}]"), "spec.containers[0].env[0].value: expected a string, got number"},
        {POD("", ",'env':[{'name':'A','value':'x','valueFrom':{'fieldRef':{'fieldPath':'metadata.name'}}}]"),
         "spec.containers[0].env[0].valueFrom: may not be specified when `value` is not empty"},
        {POD("", ",'env':[{'name':'A','valueFrom':{}}]"), "spec.containers[0].env[0].valueFrom: must specify exactly"},
        {POD("", ",'env':[{'name':'A','valueFrom':{'fieldRef':{'fieldPath':'metadata.name'},"
                 "'secretKeyRef':{'name':'s','key':'k'}}}]"),
         "spec.containers[0].env[0].valueFrom: must specify exactly one"},
        {POD("", ",'env':[{'name':'A','valueFrom':{'fieldRef':{'fieldPath':'spec.hostname'}}}]"),
         "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: unsupported value \"spec.hostname\""},
        {POD("", ",'env':[{'name':'A','valueFrom':{'fieldRef':{'fieldPath':'metadata.labels[]'}}}]"),
         "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: unsupported value"},
        {POD("", ",'env':[{'name':'A','valueFrom':{'fieldRef':{}}}]"),
         "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: required field is missing"},
        {POD("", ",'env':[{'name':'A','valueFrom':{'resourceFieldRef':{'resource':'limits.gpu'}}}]"),
         "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: unsupported value \"limits.gpu\""},
        {POD("", ",'env':[{'name':'A','valueFrom':{'resourceFieldRef':{'resource':'limits.cpu','divisor':'0'}}}]"),
         "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: invalid divisor \"0\""},
        {POD("", ",'env':[{'name':'A','valueFrom':{'configMapKeyRef':{'name':'c'}}}]"),
         "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: required field is missing"},
        {POD("", ",'envFrom':[{'prefix':'X_'}]"),
         "spec.containers[0].envFrom[0]: must specify exactly one of configMapRef or secretRef"},
        /* resources */
        {POD("", ",'resources':{'limits':{'cpu':'1x'}}"), "spec.containers[0].resources.limits.cpu: invalid quantity"},
        {POD("", ",'resources':{'requests':{'memory':'-1Mi'}}"),
         "spec.containers[0].resources.requests.memory: must be greater than or equal to 0"},
        {POD("", ",'resources':{'limits':{'cpu':'1'},'requests':{'cpu':'1500m'}}"),
         "spec.containers[0].resources.requests.cpu: must be less than or equal to cpu limit"},
        {POD("", ",'resources':{'limits':{'memory':'1Gi'},'requests':{'memory':'2Gi'}}"),
         "spec.containers[0].resources.requests.memory: must be less than or equal to memory limit"},
        {POD("", ",'resources':{'limits':[]}"), "spec.containers[0].resources.limits: expected an object, got array"},
        /* security */
        {POD("", ",'securityContext':{'privileged':true,'allowPrivilegeEscalation':false}"),
         "spec.containers[0].securityContext.allowPrivilegeEscalation: cannot set"},
        {POD("", ",'securityContext':{'seccompProfile':{'type':'Localhost'}}"),
         "spec.containers[0].securityContext.seccompProfile.localhostProfile: must be set"},
        {POD("", ",'securityContext':{'seccompProfile':{'type':'Default'}}"),
         "spec.containers[0].securityContext.seccompProfile.type: unsupported value"},
        {POD("'securityContext':{'runAsUser':-1},", ""), "spec.securityContext.runAsUser: -1 is out of range"},
        {POD("'securityContext':{'supplementalGroups':['a']},", ""), "spec.securityContext.supplementalGroups[0]"},
        /* types */
        {POD("'hostNetwork':'yes',", ""), "spec.hostNetwork: expected a boolean, got string"},
        {POD("'terminationGracePeriodSeconds':'30',", ""),
         "spec.terminationGracePeriodSeconds: expected an integer, got string"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u1'},'spec':{'containers':{}}}",
         "spec.containers: expected a list, got object"},
        {"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u1'},'spec':[]}",
         "spec: expected an object, got array"},
};

START_TEST(test_invalid) {
        expect_error(invalid[_i].pod, invalid[_i].message);
}
END_TEST

START_TEST(test_annotation_size) {
        /* Exactly at the limit is fine; one byte more names metadata.annotations. A 5 MB value is rejected the same
         * way (without looking at its content). */
        static const size_t sizes[] = {256 * 1024, 256 * 1024 + 1, 5 * 1024 * 1024};
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_json_ json_t *j = json_from(POD("", ""));
                _cleanup_free_ char *big = malloc(sizes[i]);
                ck_assert_ptr_nonnull(big);
                memset(big, 'x', sizes[i] - 1);
                big[sizes[i] - 1] = 0;
                /* key "k" (1 byte) + value (size - 1 bytes) = size */
                json_t *ann = json_object();
                ck_assert_int_eq(json_object_set_new(ann, "k", json_string(big)), 0);
                ck_assert_int_eq(json_object_set_new(json_object_get(j, "metadata"), "annotations", ann), 0);
                Pod *p = NULL;
                ErrorBuf e = {};
                int r = pod_parse(j, "file", &p, &e);
                if (sizes[i] <= 256 * 1024) {
                        ck_assert_msg(r == 0, "%s", e.msg);
                        p = pod_free(p);
                } else {
                        ck_assert_int_eq(r, -EINVAL);
                        ck_assert_str_eq(e.msg, "metadata.annotations: too long: must have at most 262144 bytes");
                }
        }
}
END_TEST

START_TEST(test_unknown_fields_kept) {
        _cleanup_(pod_freep) Pod *p = parse_ok("{'apiVersion':'v1','kind':'Pod','status':{'phase':'Pending'},"
                                               "'metadata':{'name':'web','uid':'u1','future':{'a':1}},"
                                               "'spec':{'nodeSelector':{'disk':'ssd'},'tolerations':[{'key':'k'}],"
                                               "'containers':[{'name':'app','image':'busybox','resizePolicy':[],"
                                               "'livenessProbe':{'exec':{'command':['true']},'newField':1}}]}}");
        ck_assert_str_eq(jstr(p->object, "status.phase"), "Pending");
        ck_assert_str_eq(jstr(p->object, "metadata.future.a"), "1");
        ck_assert_str_eq(jstr(p->object, "spec.nodeSelector.disk"), "ssd");
        ck_assert_str_eq(jstr(p->object, "spec.tolerations.0.key"), "k");
        ck_assert_str_eq(jstr(p->object, "spec.containers.0.resizePolicy"), "[]");
        ck_assert_str_eq(jstr(p->object, "spec.containers.0.livenessProbe.newField"), "1");
}
END_TEST

START_TEST(test_input_not_modified) {
        _cleanup_json_ json_t *j = json_from(POD("", ""));
        _cleanup_free_ char *before = jx_dump_compact(j);
        _cleanup_(pod_freep) Pod *p = NULL;
        ck_assert_int_eq(pod_parse(j, "api", &p, NULL), 0);
        _cleanup_free_ char *after = jx_dump_compact(j);
        ck_assert_str_eq(before, after);
        ck_assert_str_eq(p->source, "api");
        ck_assert_ptr_ne(p->object, j);
}
END_TEST

static QosClass qos_of(const char *init_resources, const char *app_resources) {
        char buf[1024];
        snprintf(buf, sizeof buf,
                 POD_HEAD "'initContainers':[{'name':'i','image':'b'%s}],'containers':[{'name':'a','image':'b'%s},"
                          "{'name':'c','image':'b'}]}}",
                 init_resources, app_resources);
        _cleanup_(pod_freep) Pod *p = parse_ok(buf);
        return p->qos_class;
}

START_TEST(test_qos) {
        ck_assert_int_eq(qos_of("", ""), QOS_BEST_EFFORT);
        /* zero quantities count as unset */
        ck_assert_int_eq(qos_of("", ",'resources':{'requests':{'cpu':'0','memory':'0'}}"), QOS_BEST_EFFORT);
        /* only cpu and memory count */
        ck_assert_int_eq(qos_of("", ",'resources':{'limits':{'ephemeral-storage':'1Gi'}}"), QOS_BEST_EFFORT);
        ck_assert_int_eq(qos_of("", ",'resources':{'requests':{'cpu':'100m'}}"), QOS_BURSTABLE);
        /* every container (init too) needs cpu and memory limits for Guaranteed: 'c' has none */
        ck_assert_int_eq(qos_of(",'resources':{'limits':{'cpu':'1','memory':'1Gi'}}",
                                ",'resources':{'limits':{'cpu':'1','memory':'1Gi'}}"),
                         QOS_BURSTABLE);
        char buf[1024];
        snprintf(buf, sizeof buf,
                 POD_HEAD "'initContainers':[{'name':'i','image':'b','resources':{'limits':{'cpu':'2','memory':"
                          "'1Gi'}}}],'containers':[{'name':'a','image':'b','resources':{'limits':{'cpu':'500m',"
                          "'memory':'64Mi'}}}]}}");
        _cleanup_(pod_freep) Pod *g = parse_ok(buf);
        ck_assert_int_eq(g->qos_class, QOS_GUARANTEED); /* requests defaulted from limits */
        snprintf(buf, sizeof buf,
                 POD_HEAD "'containers':[{'name':'a','image':'b','resources':{'limits':{'cpu':'1','memory':'1Gi'},"
                          "'requests':{'cpu':'500m'}}}]}}");
        _cleanup_(pod_freep) Pod *b = parse_ok(buf);
        ck_assert_int_eq(b->qos_class, QOS_BURSTABLE); /* request below limit */
        snprintf(buf, sizeof buf,
                 POD_HEAD "'containers':[{'name':'a','image':'b','resources':{'limits':{'cpu':'1'}}}]}}");
        _cleanup_(pod_freep) Pod *c = parse_ok(buf);
        ck_assert_int_eq(c->qos_class, QOS_BURSTABLE); /* no memory limit */
        snprintf(buf, sizeof buf,
                 POD_HEAD "'containers':[{'name':'a','image':'b','resources':{'limits':{'cpu':1,'memory':1073741824},"
                          "'requests':{'cpu':'1000m','memory':'1Gi'}}}]}}");
        _cleanup_(pod_freep) Pod *d = parse_ok(buf);
        ck_assert_int_eq(d->qos_class, QOS_GUARANTEED); /* numbers and strings compare by value */
        ck_assert_str_eq(qos_class_to_string(QOS_GUARANTEED), "Guaranteed");
        ck_assert_str_eq(qos_class_to_string(QOS_BURSTABLE), "Burstable");
        ck_assert_str_eq(qos_class_to_string(QOS_BEST_EFFORT), "BestEffort");
}
END_TEST

START_TEST(test_hash) {
        _cleanup_(pod_freep) Pod *a = parse_ok(POD_HEAD "'containers':[{'name':'a','image':'busybox:1'},"
                                                        "{'name':'b','image':'busybox:1'}]}}");
        /* same spec, keys in another order and the defaults spelled out: same hashes */
        _cleanup_(pod_freep) Pod *a2 = parse_ok(
                POD_HEAD "'containers':[{'image':'busybox:1','name':'a','imagePullPolicy':'IfNotPresent'},"
                         "{'terminationMessagePath':'/dev/termination-log','name':'b','image':'busybox:1'}]}}");
        /* b edited */
        _cleanup_(pod_freep) Pod *b = parse_ok(POD_HEAD "'containers':[{'name':'a','image':'busybox:1'},"
                                                        "{'name':'b','image':'busybox:2'}]}}");
        ck_assert_int_eq(strlen(a->containers[0].hash), 16);
        ck_assert_int_eq(strspn(a->containers[0].hash, "0123456789abcdef"), 16);
        ck_assert_str_ne(a->containers[0].hash, a->containers[1].hash);
        ck_assert_str_eq(a->containers[0].hash, a2->containers[0].hash);
        ck_assert_str_eq(a->containers[1].hash, a2->containers[1].hash);
        ck_assert_str_eq(a->containers[0].hash, b->containers[0].hash);
        ck_assert_str_ne(a->containers[1].hash, b->containers[1].hash);
}
END_TEST

START_TEST(test_enums) {
        for (RestartPolicy i = 0; i < _RESTART_POLICY_MAX; i++)
                ck_assert_int_eq(restart_policy_from_string(restart_policy_to_string(i)), i);
        for (PullPolicy i = 0; i < _PULL_POLICY_MAX; i++)
                ck_assert_int_eq(pull_policy_from_string(pull_policy_to_string(i)), i);
        for (DnsPolicy i = 0; i < _DNS_POLICY_MAX; i++)
                ck_assert_int_eq(dns_policy_from_string(dns_policy_to_string(i)), i);
        ck_assert_str_eq(restart_policy_to_string(RESTART_POLICY_ON_FAILURE), "OnFailure");
        ck_assert_str_eq(dns_policy_to_string(DNS_POLICY_CLUSTER_FIRST_WITH_HOST_NET), "ClusterFirstWithHostNet");
        ck_assert_str_eq(host_path_type_to_string(HOST_PATH_CHAR_DEVICE), "CharDevice");
        ck_assert_int_eq(restart_policy_from_string("always"), -EINVAL);
        ck_assert_int_eq(pull_policy_from_string(NULL), -EINVAL);
        ck_assert_ptr_null(restart_policy_to_string(_RESTART_POLICY_MAX));
        ck_assert_ptr_null(qos_class_to_string(_QOS_CLASS_INVALID));
}
END_TEST

/* The shipped example manifests and the fuzz seed parse (a source adds the uid). */
START_TEST(test_manifests) {
        static const char *const files[] = {"examples/pods/hello.yaml", "examples/pods/web.yaml",
                                            "tests/agent/corpus/pod/full.yaml"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_json_ json_t *j = NULL;
                _cleanup_(pod_freep) Pod *p = NULL;
                ErrorBuf e = {};
                ck_assert_int_ge(asprintf(&path, "%s/%s", test_source_dir(), files[i]), 0);
                ck_assert_msg(yaml_load_file(path, &j, &e) == 0, "%s: %s", path, e.msg);
                json_t *md = json_object_get(j, "metadata");
                if (!json_object_get(md, "uid"))
                        ck_assert_int_eq(json_object_set_new(md, "uid", json_string("uid-1")), 0);
                ck_assert_msg(pod_parse(j, "file", &p, &e) == 0, "%s: %s", path, e.msg);
                ck_assert_int_ge(p->n_containers, 1);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("pod-parse");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_pull_policy_and_scalars);
        tcase_add_test(tc, test_host_network_ports);
        tcase_add_test(tc, test_containers_probes_mounts);
        tcase_add_test(tc, test_api_version_and_kind);
        tcase_add_loop_test(tc, test_invalid, 0, (int) ELEMENTSOF(invalid));
        tcase_add_test(tc, test_annotation_size);
        tcase_add_test(tc, test_unknown_fields_kept);
        tcase_add_test(tc, test_input_not_modified);
        tcase_add_test(tc, test_qos);
        tcase_add_test(tc, test_hash);
        tcase_add_test(tc, test_enums);
        tcase_add_test(tc, test_manifests);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
