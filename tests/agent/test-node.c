/* SPDX-License-Identifier: Apache-2.0 */
/* The node controller's pure pieces (agent/node.h): the two-way strategic merge patch of the node status (the
 * capture's heartbeat patch with $setElementOrder/conditions, transitions, the addresses fix-up, removed keys, foreign
 * conditions), canonical quantities, and allocatable computed to the byte like the kubelet's (the capture's
 * numbers: 8140216Ki − 100Mi, 61202244Ki − 10 % = 56403987978). Network behaviour: tests/agent/test-node.py. */

#include "agent/node.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

static json_t *parse(const char *text) {
        _cleanup_free_ char *t = strdup(text);
        json_error_t je;
        json_t *j;

        for (char *p = t; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = json_loads(t, 0, &je);
        ck_assert_msg(j, "bad JSON: %s", je.text);
        return j;
}

static void assert_json_eq(const json_t *got, const char *want) {
        _cleanup_json_ json_t *w = parse(want);
        _cleanup_free_ char *g = got ? jx_dump_compact(got) : strdup("null"), *ws = jx_dump_compact(w);
        ck_assert_msg(json_equal(got, w), "got %s, want %s", g, ws);
}

#define COND(type, status, hb, tr, reason)                                                                             \
        "{'type':'" type "','status':'" status "','lastHeartbeatTime':'" hb "','lastTransitionTime':'" tr              \
        "','reason':'" reason "','message':'m'}"

START_TEST(test_patch_heartbeat) {
        _cleanup_json_ json_t *from = parse(
                "{'capacity':{'cpu':'4'},'conditions':[" COND("MemoryPressure", "False", "t1", "t0", "A") "," COND(
                        "Ready", "True", "t1", "t0", "KubeletReady") "],'volumesInUse':['x']}");
        _cleanup_json_ json_t *to = parse("{'capacity':{'cpu':'4'},'conditions':[" COND(
                "MemoryPressure", "False", "t2", "t0", "A") "," COND("Ready", "True", "t2", "t0", "KubeletReady") "]}");
        json_t *p = NULL;

        /* only heartbeats differ: nothing changed */
        ck_assert_int_eq(node_status_patch(from, to, true, &p), 0);
        ck_assert_ptr_null(p);
        /* the report: the capture's shape, fields nodelet does not own (volumesInUse) untouched */
        ck_assert_int_eq(node_status_patch(from, to, false, &p), 0);
        assert_json_eq(p, "{'status':{'$setElementOrder/conditions':[{'type':'MemoryPressure'},{'type':'Ready'}],"
                          "'conditions':[{'type':'MemoryPressure','lastHeartbeatTime':'t2'},"
                          "{'type':'Ready','lastHeartbeatTime':'t2'}]}}");
        json_decref(p);
}
END_TEST

START_TEST(test_patch_changes) {
        /* a foreign condition (NetworkUnavailable) keeps its place in the order and is not deleted */
        _cleanup_json_ json_t *from = parse(
                "{'capacity':{'cpu':'4','example.com/dev':'2'},'conditions':[{'type':'NetworkUnavailable','status':"
                "'False'}," COND("Ready", "Unknown", "t1", "t0",
                                 "NodeStatusUnknown") "],"
                                                      "'addresses':[{'type':'InternalIP','address':'10.0.0.1'},{'type':"
                                                      "'Hostname','address':'n'}],"
                                                      "'nodeInfo':{'bootID':'a','kernelVersion':'k'}}");
        _cleanup_json_ json_t *to = parse(
                "{'capacity':{'cpu':'4'},'conditions':[" COND("MemoryPressure", "False", "t2", "t2", "A") "," COND(
                        "Ready", "True", "t2", "t2",
                        "KubeletReady") "],"
                                        "'addresses':[{'type':'InternalIP','address':'10.0.0.1'},{'type':'InternalIP','"
                                        "address':'fd00::1'},"
                                        "{'type':'Hostname','address':'n'}],'nodeInfo':{'bootID':'b','kernelVersion':'"
                                        "k'},"
                                        "'images':[{'names':['x'],'sizeBytes':1}]}");
        json_t *p = NULL;

        ck_assert_int_eq(node_status_patch(from, to, true, &p), 0);
        assert_json_eq(p, "{'status':{'capacity':{'example.com/dev':null},"
                          "'$setElementOrder/conditions':[{'type':'NetworkUnavailable'},{'type':'Ready'},"
                          "{'type':'MemoryPressure'}],"
                          "'conditions':[" COND(
                                  "MemoryPressure", "False", "t2", "t2",
                                  "A") ",{'type':'Ready','status':'True','lastTransitionTime':'t2',"
                                       "'reason':'KubeletReady'}],"
                                       "'addresses':[{'$patch':'replace'},{'type':'InternalIP','address':'10.0.0.1'},"
                                       "{'type':'InternalIP','address':'fd00::1'},{'type':'Hostname','address':'n'}],"
                                       "'nodeInfo':{'bootID':'b'},'images':[{'names':['x'],'sizeBytes':1}]}}");
        json_decref(p);

        /* from nothing: everything, addresses as a plain list */
        ck_assert_int_eq(node_status_patch(NULL, to, true, &p), 0);
        ck_assert_ptr_nonnull(p);
        ck_assert(json_equal(json_object_get(json_object_get(p, "status"), "addresses"),
                             json_object_get(to, "addresses")));
        json_decref(p);

        /* images gone: null */
        _cleanup_json_ json_t *no_images = json_deep_copy(to);
        ck_assert_int_eq(json_object_del(no_images, "images"), 0);
        ck_assert_int_eq(node_status_patch(to, no_images, true, &p), 0);
        assert_json_eq(p, "{'status':{'images':null}}");
        json_decref(p);
}
END_TEST

START_TEST(test_quantities) {
        char b[64];

        ck_assert_str_eq(node_format_quantity_milli(4000, b, sizeof b), "4");
        ck_assert_str_eq(node_format_quantity_milli(3500, b, sizeof b), "3500m");
        ck_assert_str_eq(node_format_quantity_milli(110000, b, sizeof b), "110");
        ck_assert_str_eq(node_format_quantity_milli(1000000, b, sizeof b), "1k");
        ck_assert_str_eq(node_format_quantity_milli(0, b, sizeof b), "0");
        ck_assert_str_eq(node_format_quantity_binary(8140216LL * 1024, b, sizeof b), "8140216Ki");
        ck_assert_str_eq(node_format_quantity_binary(56403987978LL, b, sizeof b), "56403987978");
        ck_assert_str_eq(node_format_quantity_binary(2LL * 1024 * 1024, b, sizeof b), "2Mi");
        ck_assert_str_eq(node_format_quantity_binary(0, b, sizeof b), "0");
        ck_assert_str_eq(node_format_quantity_binary(512, b, sizeof b), "512");
}
END_TEST

START_TEST(test_allocatable) {
        _cleanup_(nodelet_config_freep) NodeletConfig *cfg = NULL;
        char *argv[] = {(char *) "nodelet", NULL};
        char *argv2[] = {(char *) "nodelet", (char *) "--kube-reserved=cpu=500m,memory=1Gi",
                         (char *) "--system-reserved=memory=512Mi,ephemeral-storage=1Gi",
                         (char *) "--eviction-hard=memory.available<5%", NULL};
        ErrorBuf e = {};

        /* the kubelet's defaults: memory.available<100Mi, nodefs.available<10% (the capture's numbers) */
        ck_assert_int_eq(nodelet_config_load(1, argv, &cfg, &e), 0);
        ck_assert_int_eq(node_allocatable(cfg, "memory", 8140216LL * 1024), 8037816LL * 1024);
        ck_assert_int_eq(node_allocatable(cfg, "ephemeral-storage", 61202244LL * 1024), 56403987978LL);
        ck_assert_int_eq(node_allocatable(cfg, "cpu", 4000), 4000);
        ck_assert_int_eq(node_allocatable(cfg, "pods", 110), 110);
        ck_assert_int_eq(node_allocatable(cfg, "memory", 50LL * 1024 * 1024), 0); /* never negative */
        cfg = nodelet_config_free(cfg);

        ck_assert_msg(nodelet_config_load(4, argv2, &cfg, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(node_allocatable(cfg, "cpu", 4000), 3500);
        /* 8 GiB − 1 GiB − 512 MiB − 5 % of 8 GiB (float32 0.05 as the kubelet computes it) */
        ck_assert_int_eq(node_allocatable(cfg, "memory", 8LL << 30),
                         (8LL << 30) - (1LL << 30) - (512LL << 20) - (int64_t) ((double) (8LL << 30) * (double) 0.05f));
        /* the eviction map replaced the defaults: no nodefs threshold left */
        ck_assert_int_eq(node_allocatable(cfg, "ephemeral-storage", 10LL << 30), 9LL << 30);
}
END_TEST

static Suite *node_suite(void) {
        Suite *s = suite_create("node");
        TCase *tc = tcase_create("pure");

        tcase_add_test(tc, test_patch_heartbeat);
        tcase_add_test(tc, test_patch_changes);
        tcase_add_test(tc, test_quantities);
        tcase_add_test(tc, test_allocatable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(node_suite());
}
