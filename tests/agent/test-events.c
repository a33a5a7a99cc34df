/* SPDX-License-Identifier: Apache-2.0 */
/* Events (agent/events.h): the Event object as the kubelet's recorder makes it (the capture's
 * 09-event-create-corev1.request.json shape), and client-go's correlator with a fake clock — deduplication into a
 * count PATCH of the first event, aggregation of 10 similar events in 10 minutes, the spam filter's burst of 25 per
 * object refilled at one per 5 minutes — then the writer's bounds with no server: a full queue drops, and an
 * unreachable server gets a bounded number of tries per event. The end-to-end behaviour: tests/agent/test-events.py. */

#include <stdio.h>

#include "agent/events.h"
#include "common/event-util.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#define T0_NS 1795421149000000000ULL /* 2026-11-23T08:05:49Z */
#define SEC USEC_PER_SEC

static const EventObjectRef pod_ref = {.kind = "Pod",
                                       .api_version = "v1",
                                       .namespace_ = "default",
                                       .name = "basic",
                                       .uid = "506ffb48-0475-4e00-be03-5d4f4fe9f9a9",
                                       .resource_version = "415",
                                       .field_path = "spec.containers{main}"};

static json_t *make(const EventObjectRef *ref, const char *reason, const char *message, uint64_t ns) {
        json_t *ev = NULL;
        ck_assert_int_eq(event_make(ref, EVENT_TYPE_NORMAL, reason, message, "kubelet", "node1", ns, &ev), 0);
        return ev;
}

static const char *str(const json_t *j, const char *obj, const char *key) {
        const json_t *o = obj ? json_object_get(j, obj) : j;
        return json_string_value(json_object_get(o, key));
}

START_TEST(test_make) {
        _cleanup_json_ json_t *ev = make(&pod_ref, "Started", "Started container main", T0_NS + 123);
        char want[64];
        snprintf(want, sizeof(want), "basic.%llx", (unsigned long long) (T0_NS + 123));
        ck_assert_str_eq(str(ev, "metadata", "name"), want);
        ck_assert_str_eq(str(ev, "metadata", "namespace"), "default");
        ck_assert_str_eq(str(ev, NULL, "kind"), "Event");
        ck_assert_str_eq(str(ev, NULL, "apiVersion"), "v1");
        ck_assert_str_eq(str(ev, "involvedObject", "kind"), "Pod");
        ck_assert_str_eq(str(ev, "involvedObject", "uid"), pod_ref.uid);
        ck_assert_str_eq(str(ev, "involvedObject", "apiVersion"), "v1");
        ck_assert_str_eq(str(ev, "involvedObject", "resourceVersion"), "415");
        ck_assert_str_eq(str(ev, "involvedObject", "fieldPath"), "spec.containers{main}");
        ck_assert_str_eq(str(ev, NULL, "reason"), "Started");
        ck_assert_str_eq(str(ev, NULL, "message"), "Started container main");
        ck_assert_str_eq(str(ev, "source", "component"), "kubelet");
        ck_assert_str_eq(str(ev, "source", "host"), "node1");
        ck_assert_str_eq(str(ev, NULL, "firstTimestamp"), "2026-11-23T08:05:49Z");
        ck_assert_str_eq(str(ev, NULL, "lastTimestamp"), "2026-11-23T08:05:49Z");
        ck_assert_int_eq(json_integer_value(json_object_get(ev, "count")), 1);
        ck_assert_str_eq(str(ev, NULL, "type"), "Normal");
        ck_assert(json_is_null(json_object_get(ev, "eventTime")));
        ck_assert_str_eq(str(ev, NULL, "reportingComponent"), "kubelet");
        ck_assert_str_eq(str(ev, NULL, "reportingInstance"), "node1");
        /* the capture's key set, exactly */
        _cleanup_json_ json_t *capture = NULL;
        _cleanup_free_ char *path = NULL;
        ck_assert_int_ge(
                asprintf(&path, "%s/../shared/k8s-api-v1.26/09-event-create-corev1.request.json", test_source_dir()),
                0);
        if (access(path, R_OK) == 0) {
                ck_assert_int_eq(jx_load_file(path, &capture, NULL), 0);
                const char *k;
                json_t *v;
                json_object_foreach (capture, k, v)
                        ck_assert_msg(json_object_get(ev, k), "field %s missing", k);
                ck_assert_int_eq(json_object_size(capture), json_object_size(ev));
        }

        /* A Node: no namespace (the event goes to "default"), no fieldPath. */
        const EventObjectRef node = {.kind = "Node", .name = "node1", .uid = "node1"};
        _cleanup_json_ json_t *nev = make(&node, "Starting", "Starting nodelet.", T0_NS);
        ck_assert_str_eq(str(nev, "metadata", "namespace"), "default");
        ck_assert_ptr_null(json_object_get(json_object_get(nev, "involvedObject"), "namespace"));
        ck_assert_ptr_null(json_object_get(json_object_get(nev, "involvedObject"), "fieldPath"));
        ck_assert_str_eq(str(nev, "involvedObject", "uid"), "node1");
        ck_assert_int_eq(event_make(&node, EVENT_TYPE_NORMAL, "", "x", "kubelet", "n", T0_NS, &ev), -EINVAL);
}
END_TEST

START_TEST(test_dedup) {
        _cleanup_(event_correlator_freep) EventCorrelator *c = NULL;
        EventCorrelation r = {};
        ck_assert_int_eq(event_correlator_new(NULL, &c), 0);

        _cleanup_json_ json_t *e1 = make(&pod_ref, "BackOff", "Back-off restarting failed container", T0_NS);
        ck_assert_int_eq(event_correlate(c, e1, 1000 * SEC, T0_NS, &r), 0);
        ck_assert(!r.skip);
        ck_assert_ptr_null(r.patch); /* new: a POST */
        ck_assert_int_eq(json_integer_value(json_object_get(r.event, "count")), 1);
        /* the server's answer carries a resourceVersion */
        _cleanup_json_ json_t *answer = json_deep_copy(r.event);
        json_object_set_new(json_object_get(answer, "metadata"), "resourceVersion", json_string("443"));
        ck_assert_int_eq(event_correlator_update_state(c, answer), 0);
        event_correlation_done(&r);

        /* The same event 10 s later: a PATCH of the first one (its name, first timestamp), count 2. */
        _cleanup_json_ json_t *e2 =
                make(&pod_ref, "BackOff", "Back-off restarting failed container", T0_NS + 10 * NSEC_PER_SEC);
        ck_assert_int_eq(event_correlate(c, e2, 1010 * SEC, T0_NS + 10 * NSEC_PER_SEC, &r), 0);
        ck_assert(!r.skip);
        ck_assert_ptr_nonnull(r.patch);
        ck_assert_str_eq(str(r.event, "metadata", "name"), str(e1, "metadata", "name"));
        ck_assert_str_eq(str(r.event, "metadata", "resourceVersion"), "443");
        ck_assert_str_eq(str(r.event, NULL, "firstTimestamp"), "2026-11-23T08:05:49Z");
        ck_assert_str_eq(str(r.event, NULL, "lastTimestamp"), "2026-11-23T08:05:59Z");
        /* the capture's 09-event-patch-corev1.request.json: exactly count, lastTimestamp, message */
        ck_assert_int_eq(json_object_size(r.patch), 3);
        ck_assert_int_eq(json_integer_value(json_object_get(r.patch, "count")), 2);
        ck_assert_str_eq(str(r.patch, NULL, "lastTimestamp"), "2026-11-23T08:05:59Z");
        ck_assert_str_eq(str(r.patch, NULL, "message"), "Back-off restarting failed container");
        event_correlation_done(&r);

        /* Without an answer in between, the count still goes on (the observation is cached when correlated). */
        ck_assert_int_eq(event_correlate(c, e2, 1020 * SEC, T0_NS + 20 * NSEC_PER_SEC, &r), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(r.patch, "count")), 3);
        event_correlation_done(&r);

        /* Another container (fieldPath) is another event. */
        EventObjectRef other = pod_ref;
        other.field_path = "spec.containers{sidecar}";
        _cleanup_json_ json_t *e3 = make(&other, "BackOff", "Back-off restarting failed container", T0_NS);
        ck_assert_int_eq(event_correlate(c, e3, 1030 * SEC, T0_NS, &r), 0);
        ck_assert_ptr_null(r.patch);
        ck_assert_int_eq(json_integer_value(json_object_get(r.event, "count")), 1);
        event_correlation_done(&r);
}
END_TEST

START_TEST(test_aggregate) {
        _cleanup_(event_correlator_freep) EventCorrelator *c = NULL;
        EventCorrelation r = {};
        char msg[64];
        uint64_t now = 5000 * SEC;
        ck_assert_int_eq(event_correlator_new(NULL, &c), 0);

        /* 9 distinct messages of one reason: each its own event. */
        for (int i = 0; i < 9; i++) {
                snprintf(msg, sizeof(msg), "Liveness probe failed: attempt %d", i);
                _cleanup_json_ json_t *e = make(&pod_ref, "Unhealthy", msg, T0_NS + (uint64_t) i);
                ck_assert_int_eq(event_correlate(c, e, now + (uint64_t) i * SEC, T0_NS + (uint64_t) i, &r), 0);
                ck_assert_ptr_null(r.patch);
                ck_assert_str_eq(str(r.event, NULL, "message"), msg);
                event_correlation_done(&r);
        }
        /* The 10th within 10 minutes: one combined event, a new name, count 1. */
        _cleanup_json_ json_t *e10 = make(&pod_ref, "Unhealthy", "Liveness probe failed: attempt 9", T0_NS + 9);
        ck_assert_int_eq(event_correlate(c, e10, now + 9 * SEC, T0_NS + 99, &r), 0);
        ck_assert_ptr_null(r.patch);
        ck_assert_str_eq(str(r.event, NULL, "message"),
                         "(combined from similar events): Liveness probe failed: attempt 9");
        char want[64];
        snprintf(want, sizeof(want), "basic.%llx", (unsigned long long) (T0_NS + 99));
        ck_assert_str_eq(str(r.event, "metadata", "name"), want);
        ck_assert_str_eq(str(r.event, NULL, "reason"), "Unhealthy");
        ck_assert_str_eq(str(r.event, "involvedObject", "uid"), pod_ref.uid);
        ck_assert_int_eq(json_integer_value(json_object_get(r.event, "count")), 1);
        event_correlation_done(&r);
        /* The 11th (another message): counted on the combined event. */
        _cleanup_json_ json_t *e11 = make(&pod_ref, "Unhealthy", "Liveness probe failed: attempt 10", T0_NS + 10);
        ck_assert_int_eq(event_correlate(c, e11, now + 10 * SEC, T0_NS + 100, &r), 0);
        ck_assert_ptr_nonnull(r.patch);
        ck_assert_str_eq(str(r.event, "metadata", "name"), want);
        ck_assert_int_eq(json_integer_value(json_object_get(r.patch, "count")), 2);
        ck_assert_str_eq(str(r.patch, NULL, "message"),
                         "(combined from similar events): Liveness probe failed: attempt 10");
        event_correlation_done(&r);

        /* Another reason is another group. */
        _cleanup_json_ json_t *k = make(&pod_ref, "Killing", "Stopping container main", T0_NS);
        ck_assert_int_eq(event_correlate(c, k, now + 11 * SEC, T0_NS, &r), 0);
        ck_assert_str_eq(str(r.event, NULL, "message"), "Stopping container main");
        event_correlation_done(&r);

        /* After 10 quiet minutes the group starts over. */
        now += 11 * SEC + 601 * SEC;
        _cleanup_json_ json_t *e12 = make(&pod_ref, "Unhealthy", "Liveness probe failed: later", T0_NS);
        ck_assert_int_eq(event_correlate(c, e12, now, T0_NS, &r), 0);
        ck_assert_str_eq(str(r.event, NULL, "message"), "Liveness probe failed: later");
        ck_assert_ptr_null(r.patch);
        event_correlation_done(&r);
}
END_TEST

START_TEST(test_spam) {
        _cleanup_(event_correlator_freep) EventCorrelator *c = NULL;
        EventCorrelation r = {};
        uint64_t now = 100 * SEC;
        ck_assert_int_eq(event_correlator_new(NULL, &c), 0);

        _cleanup_json_ json_t *e = make(&pod_ref, "BackOff", "Back-off", T0_NS);
        /* A burst of 25 per source+object (the same event too: every write counts) ... */
        for (int i = 0; i < 25; i++) {
                ck_assert_int_eq(event_correlate(c, e, now, T0_NS, &r), 0);
                ck_assert_msg(!r.skip, "event %d filtered", i);
                event_correlation_done(&r);
        }
        ck_assert_int_eq(event_correlate(c, e, now, T0_NS, &r), 0);
        ck_assert(r.skip);
        ck_assert_ptr_null(r.event);
        /* ... another object of the same source is not affected (another uid: another pod) ... */
        EventObjectRef other = pod_ref;
        other.uid = "other-uid";
        _cleanup_json_ json_t *o = make(&other, "BackOff", "Back-off", T0_NS);
        ck_assert_int_eq(event_correlate(c, o, now, T0_NS, &r), 0);
        ck_assert(!r.skip);
        event_correlation_done(&r);
        /* ... and the bucket refills at one event per 5 minutes. */
        ck_assert_int_eq(event_correlate(c, e, now + 299 * SEC, T0_NS, &r), 0);
        ck_assert(r.skip);
        ck_assert_int_eq(event_correlate(c, e, now + 300 * SEC, T0_NS, &r), 0);
        ck_assert(!r.skip);
        event_correlation_done(&r);
        ck_assert_int_eq(event_correlate(c, e, now + 301 * SEC, T0_NS, &r), 0);
        ck_assert(r.skip);
        ck_assert_int_eq(event_correlate(c, e, now + 900 * SEC, T0_NS, &r), 0);
        ck_assert(!r.skip);
        event_correlation_done(&r);
}
END_TEST

START_TEST(test_cache_bound) {
        /* The caches are LRUs: old objects go, and an object seen again starts with a full bucket. */
        EventCorrelatorOptions opts = {.cache_size = 4, .spam_burst = 1};
        _cleanup_(event_correlator_freep) EventCorrelator *c = NULL;
        EventCorrelation r = {};
        ck_assert_int_eq(event_correlator_new(&opts, &c), 0);
        char uid[32];
        for (int i = 0; i < 100; i++) {
                EventObjectRef ref = pod_ref;
                snprintf(uid, sizeof(uid), "uid-%d", i);
                ref.uid = uid;
                _cleanup_json_ json_t *e = make(&ref, "Started", "Started container main", T0_NS);
                ck_assert_int_eq(event_correlate(c, e, SEC, T0_NS, &r), 0);
                ck_assert(!r.skip);
                event_correlation_done(&r);
        }
        _cleanup_json_ json_t *e0 = NULL;
        EventObjectRef ref = pod_ref;
        ref.uid = "uid-0";
        e0 = make(&ref, "Started", "Started container main", T0_NS);
        ck_assert_int_eq(event_correlate(c, e0, SEC, T0_NS, &r), 0);
        ck_assert(!r.skip);
        ck_assert_ptr_null(r.patch); /* forgotten: a new event */
        event_correlation_done(&r);
}
END_TEST

/* ---- the writer without a server ---- */

/* Ends the loop once the recorder is idle (nothing queued, every event given up), or at the deadline. */
static uint64_t check_deadline_usec;
static int on_check(sd_event_source *s, uint64_t usec, void *userdata) {
        EventRecorder *r = userdata;
        uint64_t now = 0;
        (void) sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
        if ((event_recorder_queued(r) == 0 && event_recorder_stats(r)->failed == 3) || now > check_deadline_usec)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        (void) sd_event_source_set_time_relative(s, 20 * USEC_PER_MSEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

START_TEST(test_writer_bounds) {
        _cleanup_event_ sd_event *e = NULL;
        ck_assert_int_ge(sd_event_new(&e), 0);
        _cleanup_(curl_glue_freep) CurlGlue *glue = NULL;
        ck_assert_int_ge(curl_glue_new(e, &glue), 0);
        /* A server that refuses connections (nothing listens on 127.0.0.1:1). */
        char *dir = test_tmpdir_new("test-events");
        _cleanup_free_ char *kc = NULL;
        ck_assert_int_ge(asprintf(&kc, "%s/kubeconfig", dir), 0);
        FILE *f = fopen(kc, "we");
        ck_assert_ptr_nonnull(f);
        fputs("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\n"
              "users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
              "current-context: x\n",
              f);
        fclose(f);
        EventRecorderOptions o = {.max_queue = 3, .max_tries = 3, .retry_usec = 20 * USEC_PER_MSEC};
        _cleanup_(event_recorder_freep) EventRecorder *r = NULL;
        ck_assert_int_eq(event_recorder_connect(e, glue, kc, 0, 0, "node1", &o, &r), 0);
        /* Five events into a queue of three: two dropped at once. */
        for (int i = 0; i < 5; i++)
                event_record(r, &pod_ref, EVENT_TYPE_WARNING, "BackOff", "event %d", i);
        ck_assert_int_eq(event_recorder_stats(r)->recorded, 5);
        ck_assert_int_eq(event_recorder_stats(r)->dropped, 2);
        ck_assert_int_eq(event_recorder_queued(r), 3);
        /* Each of the three gets three tries and is given up; nothing more is sent. */
        _cleanup_event_source_ sd_event_source *check = NULL;
        check_deadline_usec = event_now_plus(e, 20 * USEC_PER_SEC);
        ck_assert_int_ge(sd_event_add_time_relative(e, &check, CLOCK_MONOTONIC, 20 * USEC_PER_MSEC, 0, on_check, r), 0);
        ck_assert_int_ge(sd_event_loop(e), 0);
        const EventRecorderStats *s = event_recorder_stats(r);
        ck_assert_int_eq(s->failed, 3);
        ck_assert_int_eq(s->retries, 6);
        ck_assert_int_eq(s->created, 0);
        ck_assert_int_eq(event_recorder_queued(r), 0);
        r = event_recorder_free(r);
        test_tmpdir_remove(dir);

        /* Standalone: logged only, nothing queued. */
        _cleanup_(event_recorder_freep) EventRecorder *s2 = NULL;
        ck_assert_int_eq(event_recorder_new(e, NULL, "node1", NULL, &s2), 0);
        event_record(s2, &pod_ref, EVENT_TYPE_NORMAL, "Started", "Started container %s", "main");
        ck_assert_int_eq(event_recorder_stats(s2)->recorded, 1);
        ck_assert_int_eq(event_recorder_queued(s2), 0);
        event_record(NULL, &pod_ref, EVENT_TYPE_NORMAL, "Started", "nothing");
}
END_TEST

static Suite *events_suite(void) {
        Suite *s = suite_create("events");
        TCase *tc = tcase_create("correlator");
        tcase_add_test(tc, test_make);
        tcase_add_test(tc, test_dedup);
        tcase_add_test(tc, test_aggregate);
        tcase_add_test(tc, test_spam);
        tcase_add_test(tc, test_cache_bound);
        suite_add_tcase(s, tc);
        TCase *tw = tcase_create("writer");
        tcase_add_test(tw, test_writer_bounds);
        suite_add_tcase(s, tw);
        return s;
}

int main(void) {
        return test_run_suite(events_suite());
}
