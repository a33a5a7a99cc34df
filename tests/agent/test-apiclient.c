/* SPDX-License-Identifier: Apache-2.0 */
/* The API client and informers (agent/apiclient.h, agent/informer.h) against a scripted HTTP(S) server on
 * 127.0.0.1 (tests/agent/fixtures/api/api-server.py) serving real kube-apiserver captures: verbs, headers, Status
 * decoding, retries (5xx for idempotent verbs only, 429 after Retry-After), the response size cap, cancellation,
 * TLS with a CA made by openssl here (client certificate, tls-server-name, wrong CA, insecure) and bearer tokens;
 * informers: paginated lists handed out page by page, watch with bookmarks, 410 → relist with a consistent diff,
 * disconnects, garbage, truncated lines and 5xx → backoff and re-watch from the last resourceVersion. The token
 * bucket, backoff and Retry-After parsing are tested as pure functions (a fake clock, no timing). */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/apiclient.h"
#include "agent/informer.h"
#include "common/event-util.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "tests/lib/testlib.h"

static sd_event *event;
static CurlGlue *glue;
static char *tmpdir;
static pid_t server_pid = -1;
static unsigned server_port;
static char log_path[512];

/* ---- pure pieces ---- */

START_TEST(test_token_bucket) {
        TokenBucket b;

        /* burst 3 at 10 qps: three at once, then one every 100 ms, waiters in order */
        token_bucket_init(&b, 10, 3, 1000000);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 100000);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 200000);
        /* 50 ms later the fifth waiter's token is 150 ms away from now; the next one 250 ms */
        ck_assert_uint_eq(token_bucket_reserve(&b, 1050000), 250000);
        /* after a long pause the bucket is full again, never more than burst */
        ck_assert_uint_eq(token_bucket_reserve(&b, 60000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 60000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 60000000), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 60000000), 100000);
        /* a clock going backwards refills nothing */
        ck_assert_uint_eq(token_bucket_reserve(&b, 1), 200000);

        /* the kubelet's defaults: 100 at once, then 50 per second */
        token_bucket_init(&b, 50, 100, 0);
        for (unsigned i = 0; i < 100; i++)
                ck_assert_uint_eq(token_bucket_reserve(&b, 0), 0);
        ck_assert_uint_eq(token_bucket_reserve(&b, 0), 20000);
        ck_assert_uint_eq(token_bucket_reserve(&b, 1000000), 0); /* 50 tokens back after 1 s, one was owed */

        /* qps <= 0: no limit */
        token_bucket_init(&b, -1, 1, 0);
        for (unsigned i = 0; i < 1000; i++)
                ck_assert_uint_eq(token_bucket_reserve(&b, 0), 0);
}
END_TEST

START_TEST(test_backoff) {
        const uint64_t s = USEC_PER_SEC;

        ck_assert_uint_eq(api_backoff_usec(0, s, 30 * s, 0.5), s);
        ck_assert_uint_eq(api_backoff_usec(0, s, 30 * s, 0.0), s); /* never below the initial delay */
        ck_assert_uint_eq(api_backoff_usec(1, s, 30 * s, 0.5), 2 * s);
        ck_assert_uint_eq(api_backoff_usec(1, s, 30 * s, 0.0), 1600000);
        ck_assert_uint_eq(api_backoff_usec(1, s, 30 * s, 0.999999) / 1000, 2399);
        ck_assert_uint_eq(api_backoff_usec(4, s, 30 * s, 0.5), 16 * s);
        ck_assert_uint_eq(api_backoff_usec(5, s, 30 * s, 0.5), 30 * s); /* capped */
        ck_assert_uint_eq(api_backoff_usec(5, s, 30 * s, 0.0), 24 * s); /* jitter below the cap too */
        ck_assert_uint_eq(api_backoff_usec(5, s, 30 * s, 0.99), 30 * s);
        ck_assert_uint_eq(api_backoff_usec(1000, s, 30 * s, 0.5), 30 * s);
}
END_TEST

START_TEST(test_retry_after) {
        uint64_t u = 0;

        ck_assert_int_eq(api_parse_retry_after("3", &u), 0);
        ck_assert_uint_eq(u, 3 * USEC_PER_SEC);
        ck_assert_int_eq(api_parse_retry_after(" 0\r\n", &u), 0);
        ck_assert_uint_eq(u, 0);
        ck_assert_int_eq(api_parse_retry_after("99999999999999999999", &u), 0);
        ck_assert_uint_eq(u, 600 * USEC_PER_SEC);
        ck_assert_int_eq(api_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", &u), -EINVAL);
        ck_assert_int_eq(api_parse_retry_after("1.5", &u), -EINVAL);
        ck_assert_int_eq(api_parse_retry_after("", &u), -EINVAL);
}
END_TEST

START_TEST(test_status_errno) {
        ck_assert_int_eq(api_status_to_errno(200, NULL), 0);
        ck_assert_int_eq(api_status_to_errno(201, NULL), 0);
        ck_assert_int_eq(api_status_to_errno(400, "BadRequest"), -EINVAL);
        ck_assert_int_eq(api_status_to_errno(401, "Unauthorized"), -EACCES);
        ck_assert_int_eq(api_status_to_errno(403, "Forbidden"), -EPERM);
        ck_assert_int_eq(api_status_to_errno(404, "NotFound"), -ENOENT);
        ck_assert_int_eq(api_status_to_errno(409, "AlreadyExists"), -EEXIST);
        ck_assert_int_eq(api_status_to_errno(409, "Conflict"), -ESTALE);
        ck_assert_int_eq(api_status_to_errno(410, "Expired"), -ETIME);
        ck_assert_int_eq(api_status_to_errno(422, "Invalid"), -EINVAL);
        ck_assert_int_eq(api_status_to_errno(429, "TooManyRequests"), -EBUSY);
        ck_assert_int_eq(api_status_to_errno(500, NULL), -EIO);
        ck_assert_int_eq(api_status_to_errno(504, NULL), -ETIMEDOUT);
        ck_assert_int_eq(api_status_to_errno(302, NULL), -EPROTO);

        char *s = NULL;
        ck_assert_int_eq(api_escape("spec.nodeName=node-1,a!=b c/d", &s), 0);
        ck_assert_str_eq(s, "spec.nodeName%3Dnode-1%2Ca%21%3Db%20c%2Fd");
        free(s);
}
END_TEST

/* ---- the fixture server ---- */

static void setup(void) {
        tmpdir = test_tmpdir_new("apiclient");
        ck_assert_ptr_nonnull(tmpdir);
        (void) snprintf(log_path, sizeof log_path, "%s/requests.jsonl", tmpdir);
        ck_assert_int_ge(sd_event_new(&event), 0);
        ck_assert_int_eq(curl_glue_new(event, &glue), 0);
}

static void teardown(void) {
        if (server_pid > 0) {
                (void) kill(server_pid, SIGKILL);
                (void) waitpid(server_pid, NULL, 0);
                server_pid = -1;
        }
        glue = curl_glue_free(glue);
        event = sd_event_unref(event);
        test_tmpdir_remove(tmpdir);
        tmpdir = NULL;
}

/* routes: JSON with ' for " (readable in C); tls: NULL or {cert, key, client_ca} paths. */
static void server_start(const char *routes, const char *tls_cert, const char *tls_key, const char *client_ca) {
        _cleanup_free_ char *text = strdup(routes), *dump = NULL;
        _cleanup_json_ json_t *config = NULL, *r = NULL;
        char path[600], script[600], line[64] = "";
        json_error_t je;
        int pipefd[2];
        ssize_t n;

        for (char *p = text; *p; p++)
                if (*p == '\'')
                        *p = '"';
        r = json_loads(text, 0, &je);
        ck_assert_msg(r, "bad routes: %s at %d:%d", je.text, je.line, je.column);
        config = json_pack("{s:s,s:O}", "log", log_path, "routes", r);
        ck_assert_ptr_nonnull(config);
        if (tls_cert)
                ck_assert_int_eq(json_object_set_new(config, "tls",
                                                     json_pack("{s:s,s:s,s:s?}", "cert", tls_cert, "key", tls_key,
                                                               "client_ca", client_ca)),
                                 0);
        dump = json_dumps(config, 0);
        (void) snprintf(path, sizeof path, "%s/server.json", tmpdir);
        ck_assert_int_eq(write_file_atomic(path, dump, strlen(dump), 0600, false), 0);
        (void) snprintf(script, sizeof script, "%s/tests/agent/fixtures/api/api-server.py", test_source_dir());

        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        server_pid = fork();
        ck_assert_int_ge(server_pid, 0);
        if (server_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, also when an assertion ends it */
                (void) dup2(pipefd[1], STDOUT_FILENO);
                execl("/usr/bin/python3", "python3", script, path, (char *) NULL);
                _exit(127);
        }
        (void) close(pipefd[1]);
        /* up to the newline: closing the pipe earlier would kill the server with SIGPIPE */
        for (size_t got = 0; !strchr(line, '\n');) {
                n = read(pipefd[0], line + got, sizeof line - 1 - got);
                ck_assert_int_gt(n, 0);
                got += (size_t) n;
        }
        (void) close(pipefd[0]);
        ck_assert_int_eq(sscanf(line, "%u", &server_port), 1);
        if (getenv("TEST_DEBUG"))
                fprintf(stderr, "server pid %d port %u (%s)\n", (int) server_pid, server_port, tmpdir);
}

/* The requests the server saw so far. */
static json_t *server_log(void) {
        _cleanup_free_ char *data = NULL;
        json_t *a = json_array();
        size_t size = 0;

        if (read_full_file(log_path, 0, &data, &size) < 0)
                return a;
        for (char *line = data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (*line)
                        ck_assert_int_eq(json_array_append_new(a, json_loads(line, 0, NULL)), 0);
        }
        return a;
}

static const char *log_str(json_t *log, size_t i, const char *a, const char *b) {
        json_t *v = json_object_get(json_array_get(log, i), a);
        if (b)
                v = json_object_get(v, b);
        return json_string_value(v);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

typedef bool (*cond_fn)(void *userdata);

static void run_until(cond_fn cond, void *userdata) {
        uint64_t deadline = now_usec() + 30 * USEC_PER_SEC;
        while (!cond(userdata)) {
                ck_assert_msg(now_usec() < deadline, "the loop did not get there within 30s");
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        }
}

static bool flag_set(void *userdata) {
        return *(bool *) userdata;
}

static ApiClient *client_for(const char *kubeconfig_extra_cluster, const char *user, const ApiClientOptions *o) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        char text[4096], path[600];
        ApiClient *c = NULL;
        ErrorBuf e = {};

        (void) snprintf(path, sizeof path, "%s/kubeconfig", tmpdir);
        (void) snprintf(text, sizeof text,
                        "clusters:\n- name: c\n  cluster:\n%s"
                        "users:\n- name: u\n  user:\n%s"
                        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
                        kubeconfig_extra_cluster, user ?: "    {}\n");
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0600, false), 0);
        ck_assert_msg(kubeconfig_load(path, NULL, &k, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(api_client_new(event, glue, k, o, &c), 0);
        TAKE_PTR(k);
        return c;
}

static ApiClient *http_client(const ApiClientOptions *o) {
        char cluster[256];
        ApiClientOptions fast = {.retry_initial_usec = 10 * USEC_PER_MSEC, .retry_max_usec = 50 * USEC_PER_MSEC};
        (void) snprintf(cluster, sizeof cluster, "    server: http://127.0.0.1:%u\n", server_port);
        return client_for(cluster, NULL, o ?: &fast);
}

/* ---- requests ---- */

typedef struct Result {
        bool done;
        int error;
        long status;
        char reason[64];
        char message[512];
        json_t *body;
} Result;

static void on_result(ApiClient *c, const ApiResponse *r, void *userdata) {
        Result *res = userdata;
        ck_assert(!res->done);
        res->done = true;
        res->error = r->error;
        res->status = r->status;
        (void) snprintf(res->reason, sizeof res->reason, "%s", r->reason);
        (void) snprintf(res->message, sizeof res->message, "%s", r->message);
        res->body = r->body ? json_incref(r->body) : NULL;
}

static void result_reset(Result *r) {
        json_decref(r->body);
        *r = (Result){};
}

START_TEST(test_requests) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_json_ json_t *body = json_pack("{s:s,s:{s:s}}", "kind", "Node", "metadata", "name", "node1");
        _cleanup_json_ json_t *log = NULL;
        Result r = {};

        server_start("[{'method':'GET','path':'/api/v1/nodes/node1','responses':[{'json':{'kind':'Node'}}]},"
                     " {'method':'POST','path':'/api/v1/nodes','responses':["
                     "   {'status':201,'json':{'kind':'Node','metadata':{'name':'node1'}}},"
                     "   {'status':409,'file':'02-node-create-again.response.json'}]},"
                     " {'method':'PUT','path':'/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1',"
                     "  'responses':[{'status':409,'file':'03-lease-renew-stale.response.json'}]},"
                     " {'method':'PATCH','path':'/api/v1/nodes/node1/status','responses':[{'json':{'kind':'Node'}}]},"
                     " {'method':'DELETE','path':'/api/v1/namespaces/default/pods/with-init',"
                     "  'responses':[{'status':404,'file':'07-pod-get-after-delete.response.json'}]}]",
                     NULL, NULL, NULL);
        c = http_client(NULL);

        ck_assert_int_eq(api_client_get(c, "/api/v1/nodes/node1", on_result, &r, NULL), 0);
        ck_assert_uint_eq(api_client_n_pending(c), 1);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(json_string_value(json_object_get(r.body, "kind")), "Node");
        ck_assert_uint_eq(api_client_n_pending(c), 0);
        result_reset(&r);

        ck_assert_int_eq(api_client_create(c, "/api/v1/nodes", body, on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, 0);
        ck_assert_int_eq(r.status, 201);
        result_reset(&r);

        ck_assert_int_eq(api_client_create(c, "/api/v1/nodes", body, on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -EEXIST);
        ck_assert_int_eq(r.status, 409);
        ck_assert_str_eq(r.reason, "AlreadyExists");
        ck_assert_str_eq(r.message, "nodes \"node1\" already exists");
        ck_assert_str_eq(json_string_value(json_object_get(r.body, "kind")), "Status");
        result_reset(&r);

        ck_assert_int_eq(api_client_update(c, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1",
                                           body, on_result, &r, NULL),
                         0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -ESTALE);
        ck_assert_str_eq(r.reason, "Conflict");
        result_reset(&r);

        ck_assert_int_eq(
                api_client_patch(c, "/api/v1/nodes/node1/status", API_PATCH_STRATEGIC, body, on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, 0);
        result_reset(&r);

        _cleanup_json_ json_t *opts =
                json_pack("{s:i,s:{s:s}}", "gracePeriodSeconds", 0, "preconditions", "uid", "6a3b");
        ck_assert_int_eq(api_client_delete(c, "/api/v1/namespaces/default/pods/with-init", opts, on_result, &r, NULL),
                         0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -ENOENT);
        ck_assert_str_eq(r.reason, "NotFound");
        ck_assert_str_eq(r.message, "pods \"with-init\" not found");
        result_reset(&r);

        /* a PATCH needs a type and a body */
        ck_assert_int_eq(api_client_patch(c, "/api/v1/nodes/node1", API_PATCH_MERGE, NULL, on_result, &r, NULL),
                         -EINVAL);
        ck_assert_int_eq(api_client_get(c, "api/v1/nodes", on_result, &r, NULL), -EINVAL);

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 6);
        ck_assert_ptr_nonnull(startswith(log_str(log, 0, "headers", "user-agent"), "nodelet/v"));
        ck_assert_ptr_nonnull(strstr(log_str(log, 0, "headers", "user-agent"), " (linux/"));
        ck_assert_str_eq(log_str(log, 0, "headers", "accept"), "application/json");
        ck_assert_ptr_null(log_str(log, 0, "headers", "authorization"));
        ck_assert_str_eq(log_str(log, 1, "method", NULL), "POST");
        ck_assert_str_eq(log_str(log, 1, "headers", "content-type"), "application/json");
        ck_assert_str_eq(log_str(log, 1, "body", NULL), "{\"kind\":\"Node\",\"metadata\":{\"name\":\"node1\"}}");
        ck_assert_str_eq(log_str(log, 3, "method", NULL), "PUT");
        ck_assert_str_eq(log_str(log, 4, "method", NULL), "PATCH");
        ck_assert_str_eq(log_str(log, 4, "headers", "content-type"), "application/strategic-merge-patch+json");
        ck_assert_str_eq(log_str(log, 5, "method", NULL), "DELETE");
        ck_assert_ptr_nonnull(strstr(log_str(log, 5, "body", NULL), "\"preconditions\":{\"uid\":\"6a3b\"}"));
}
END_TEST

START_TEST(test_retries) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_json_ json_t *body = json_pack("{s:s}", "kind", "Event");
        _cleanup_json_ json_t *log = NULL;
        Result r = {};

        server_start("[{'method':'GET','path':'/flaky','responses':["
                     "   {'status':500,'headers':{'Content-Type':'text/html'},'body':'<html><body>oops</body></html>'},"
                     "   {'status':503,'body':'busy'},"
                     "   {'json':{'kind':'Pod'}}]},"
                     " {'method':'POST','path':'/create','responses':[{'status':500,'body':'internal'},"
                     "   {'status':201,'json':{}}]},"
                     " {'method':'POST','path':'/throttled','responses':["
                     "   {'status':429,'headers':{'Retry-After':'1'},'json':{'kind':'Status','code':429,"
                     "    'reason':'TooManyRequests','message':'slow down'}},"
                     "   {'status':201,'json':{'kind':'Event'}}]},"
                     " {'method':'GET','path':'/always500','responses':[{'status':500,'body':'no'}]},"
                     " {'method':'GET','path':'/big','responses':[{'body':'" /* 3000 bytes of JSON */
                     "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
                     ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
                     ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
                     ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
                     "]'}]}]",
                     NULL, NULL, NULL);
        ApiClientOptions o = {.retry_initial_usec = 10 * USEC_PER_MSEC,
                              .retry_max_usec = 50 * USEC_PER_MSEC,
                              .max_retries = 3,
                              .max_response_size = 300};
        c = http_client(&o);

        /* GET: retried through an HTML 500 and a 503 */
        ck_assert_int_eq(api_client_get(c, "/flaky", on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, 0);
        ck_assert_str_eq(json_string_value(json_object_get(r.body, "kind")), "Pod");
        result_reset(&r);

        /* POST: a 500 is final (the server may have acted on it) */
        ck_assert_int_eq(api_client_create(c, "/create", body, on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -EIO);
        ck_assert_int_eq(r.status, 500);
        ck_assert_str_eq(r.message, "the server responded with status 500: internal");
        result_reset(&r);

        /* 429: retried for any verb, after Retry-After */
        ck_assert_int_eq(api_client_create(c, "/throttled", body, on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, 0);
        ck_assert_int_eq(r.status, 201);
        result_reset(&r);

        /* retries run out: the last answer is reported */
        ck_assert_int_eq(api_client_get(c, "/always500", on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -EIO);
        ck_assert_int_eq(r.status, 500);
        result_reset(&r);

        /* a response over the cap */
        ck_assert_int_eq(api_client_get(c, "/big", on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -EFBIG);
        ck_assert_ptr_null(r.body);
        result_reset(&r);

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 3 + 1 + 2 + 4 + 1);
        ck_assert_str_eq(log_str(log, 2, "path", NULL), "/flaky");
        ck_assert_str_eq(log_str(log, 3, "path", NULL), "/create");
        ck_assert_str_eq(log_str(log, 4, "path", NULL), "/throttled");
        ck_assert_str_eq(log_str(log, 5, "path", NULL), "/throttled");
        /* Retry-After: 1 honoured. A lower bound only: the retry may never come earlier, however loaded the
         * machine is. */
        double t0 = json_real_value(json_object_get(json_array_get(log, 4), "time"));
        double t1 = json_real_value(json_object_get(json_array_get(log, 5), "time"));
        ck_assert_msg(t1 - t0 >= 0.95, "the 429 was retried after %.3f s", t1 - t0);
}
END_TEST

static void on_never(ApiClient *c, const ApiResponse *r, void *userdata) {
        ck_abort_msg("the callback of a cancelled request ran");
}

START_TEST(test_cancel_and_refused) {
        _cleanup_(api_client_freep) ApiClient *c = NULL, *dead = NULL;
        ApiRequest *req = NULL;
        Result r = {};
        unsigned port;

        server_start("[{'method':'GET','path':'/slow','responses':[{'chunks':[{'data':'{','delay':0}],'hold':30}]}]",
                     NULL, NULL, NULL);
        c = http_client(NULL);
        ck_assert_int_eq(api_client_get(c, "/slow", on_never, NULL, &req), 0);
        /* let it connect and receive the start of the body, then cancel it */
        for (unsigned i = 0; i < 20; i++)
                ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
        api_request_cancel(req);
        ck_assert_uint_eq(api_client_n_pending(c), 0);
        for (unsigned i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(event, 10 * USEC_PER_MSEC), 0);
        ck_assert_uint_eq(curl_glue_n_running(glue), 0);

        /* requests still pending are dropped by api_client_free(), without callbacks */
        ck_assert_int_eq(api_client_get(c, "/slow", on_never, NULL, NULL), 0);
        for (unsigned i = 0; i < 10; i++)
                ck_assert_int_ge(sd_event_run(event, 20 * USEC_PER_MSEC), 0);
        ck_assert_uint_eq(curl_glue_n_running(glue), 1);
        c = api_client_free(c);
        ck_assert_uint_eq(curl_glue_n_running(glue), 0);

        /* nobody listens: connection refused, after the retries of a GET */
        port = server_port;
        (void) kill(server_pid, SIGKILL);
        (void) waitpid(server_pid, NULL, 0);
        server_pid = -1;
        server_port = port;
        ApiClientOptions o = {.retry_initial_usec = USEC_PER_MSEC, .retry_max_usec = 2 * USEC_PER_MSEC};
        dead = http_client(&o);
        ck_assert_int_eq(api_client_get(dead, "/x", on_result, &r, NULL), 0);
        run_until(flag_set, &r.done);
        ck_assert_int_eq(r.error, -ECONNREFUSED);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_ne(r.message, "");
        result_reset(&r);
}
END_TEST

/* ---- TLS ---- */

static void make_pki(void) {
        /* A CA, a server certificate for the name kubernetes.test only (so that connecting to 127.0.0.1 needs
         * tls-server-name), a client certificate as a kubelet has it, and a second, unrelated CA. */
        int r = test_system(
                "cd %s && exec >openssl.log 2>&1 && set -e && "
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
                "  -subj /CN=test-ca -days 2 && "
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt "
                "  -subj /CN=other-ca -days 2 && "
                "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr "
                "  -subj /CN=kube-apiserver && "
                "printf 'subjectAltName=DNS:kubernetes.test\\n' >server.ext && "
                "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 "
                "  -extfile server.ext && "
                "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr "
                "  -subj '/O=system:nodes/CN=system:node:node1' && "
                "printf 'extendedKeyUsage=clientAuth\\n' >client.ext && "
                "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 "
                "  -extfile client.ext",
                tmpdir);
        ck_assert_msg(r == 0, "openssl failed, see %s/openssl.log", tmpdir);
}

static char *b64_file(const char *name) {
        _cleanup_free_ char *path = NULL, *out = NULL;
        char cmd[800];
        ck_assert_int_ge(asprintf(&path, "%s/%s.b64", tmpdir, name), 0);
        (void) snprintf(cmd, sizeof cmd, "base64 -w0 %s/%s >%s", tmpdir, name, path);
        ck_assert_int_eq(test_system("%s", cmd), 0);
        ck_assert_int_eq(read_one_line_file(path, &out), 0);
        return TAKE_PTR(out);
}

static void tls_get(ApiClient *c, Result *r) {
        *r = (Result){};
        ck_assert_int_eq(api_client_get(c, "/version", on_result, r, NULL), 0);
        run_until(flag_set, &r->done);
}

START_TEST(test_tls) {
        _cleanup_json_ json_t *log = NULL;
        _cleanup_free_ char *cert64 = NULL, *key64 = NULL, *ca64 = NULL;
        char cluster[4096], user[4096], p[3][600];
        ApiClient *c;
        Result r;

        test_require_program("openssl");
        make_pki();
        (void) snprintf(p[0], sizeof p[0], "%s/server.crt", tmpdir);
        (void) snprintf(p[1], sizeof p[1], "%s/server.key", tmpdir);
        (void) snprintf(p[2], sizeof p[2], "%s/ca.crt", tmpdir);
        server_start("[{'method':'GET','path':'/version','responses':[{'json':{'gitVersion':'v1.26.1'}}]}]", p[0], p[1],
                     p[2]);
        cert64 = b64_file("client.crt");
        key64 = b64_file("client.key");
        ca64 = b64_file("ca.crt");

        /* CA file (relative to the kubeconfig), tls-server-name, client certificate inline */
        (void) snprintf(cluster, sizeof cluster,
                        "    server: https://127.0.0.1:%u\n    certificate-authority: ca.crt\n"
                        "    tls-server-name: kubernetes.test\n",
                        server_port);
        (void) snprintf(user, sizeof user, "    client-certificate-data: %s\n    client-key-data: %s\n", cert64, key64);
        c = client_for(cluster, user, NULL);
        tls_get(c, &r);
        ck_assert_msg(r.error == 0, "%d %s", r.error, r.message);
        ck_assert_str_eq(json_string_value(json_object_get(r.body, "gitVersion")), "v1.26.1");
        result_reset(&r);
        c = api_client_free(c);

        /* inline CA, client certificate files, bearer token */
        (void) snprintf(cluster, sizeof cluster,
                        "    server: https://127.0.0.1:%u\n    certificate-authority-data: %s\n"
                        "    tls-server-name: kubernetes.test\n",
                        server_port, ca64);
        (void) snprintf(user, sizeof user,
                        "    client-certificate: client.crt\n    client-key: %s/client.key\n"
                        "    token: abc.123\n",
                        tmpdir);
        c = client_for(cluster, user, NULL);
        tls_get(c, &r);
        ck_assert_msg(r.error == 0, "%d %s", r.error, r.message);
        result_reset(&r);
        c = api_client_free(c);

        /* without tls-server-name the certificate does not match 127.0.0.1 */
        (void) snprintf(cluster, sizeof cluster,
                        "    server: https://127.0.0.1:%u\n    certificate-authority: ca.crt\n", server_port);
        c = client_for(cluster, NULL, NULL);
        tls_get(c, &r);
        ck_assert_int_eq(r.error, -EPROTO);
        ck_assert_int_eq(r.status, 0);
        result_reset(&r);
        c = api_client_free(c);

        /* the wrong CA: refused, and the system roots are not consulted instead */
        (void) snprintf(cluster, sizeof cluster,
                        "    server: https://127.0.0.1:%u\n    certificate-authority: other.crt\n"
                        "    tls-server-name: kubernetes.test\n",
                        server_port);
        c = client_for(cluster, NULL, NULL);
        tls_get(c, &r);
        ck_assert_int_eq(r.error, -EPROTO);
        result_reset(&r);
        c = api_client_free(c);

        /* insecure-skip-tls-verify, anonymous, token from a file */
        char token_path[600];
        (void) snprintf(token_path, sizeof token_path, "%s/token", tmpdir);
        ck_assert_int_eq(write_file_atomic(token_path, "from-file\n", 10, 0600, false), 0);
        (void) snprintf(cluster, sizeof cluster,
                        "    server: https://127.0.0.1:%u\n    insecure-skip-tls-verify: true\n", server_port);
        c = client_for(cluster, "    token: static\n    tokenFile: token\n", NULL);
        tls_get(c, &r);
        ck_assert_int_eq(r.error, 0);
        result_reset(&r);
        ck_assert_int_eq(write_file_atomic(token_path, "rotated\n", 8, 0600, false), 0);
        tls_get(c, &r);
        ck_assert_int_eq(r.error, 0);
        result_reset(&r);
        c = api_client_free(c);

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 4);
        ck_assert_str_eq(log_str(log, 0, "client_cn", NULL), "system:node:node1");
        ck_assert_ptr_null(log_str(log, 0, "headers", "authorization"));
        ck_assert_str_eq(log_str(log, 1, "client_cn", NULL), "system:node:node1");
        ck_assert_str_eq(log_str(log, 1, "headers", "authorization"), "Bearer abc.123");
        ck_assert_ptr_null(log_str(log, 2, "client_cn", NULL));
        ck_assert_str_eq(log_str(log, 2, "headers", "authorization"), "Bearer from-file");
        ck_assert_str_eq(log_str(log, 3, "headers", "authorization"), "Bearer rotated");
}
END_TEST

/* ---- informers ---- */

typedef struct Recorder {
        char events[64][128]; /* "ADDED default/api 245" */
        unsigned n_events;
        unsigned pages_at_event[64];
        unsigned synced;
        unsigned errors;
        unsigned without_kind; /* objects handed out without kind or apiVersion */
        char last_error[512];
        Informer *inf;
} Recorder;

static void rec_event(Informer *inf, InformerEventType type, json_t *object, void *userdata) {
        Recorder *rec = userdata;
        json_t *meta = json_object_get(object, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        ck_assert_uint_lt(rec->n_events, ELEMENTSOF(rec->events));
        rec->pages_at_event[rec->n_events] = informer_stats(inf)->pages;
        if (!json_is_string(json_object_get(object, "kind")) || !json_is_string(json_object_get(object, "apiVersion")))
                rec->without_kind++;
        (void) snprintf(rec->events[rec->n_events++], sizeof rec->events[0], "%s %s%s%s %s",
                        informer_event_type_to_string(type), strempty(ns), ns ? "/" : "",
                        json_string_value(json_object_get(meta, "name")),
                        strna(json_string_value(json_object_get(meta, "resourceVersion"))));
        if (getenv("TEST_DEBUG"))
                fprintf(stderr, "event %s\n", rec->events[rec->n_events - 1]);
}

static void rec_synced(Informer *inf, void *userdata) {
        Recorder *rec = userdata;
        rec->synced++;
}

static void rec_error(Informer *inf, int r, const char *message, void *userdata) {
        Recorder *rec = userdata;
        ck_assert_int_lt(r, 0);
        rec->errors++;
        (void) snprintf(rec->last_error, sizeof rec->last_error, "%s", message);
}

static const InformerCallbacks rec_callbacks = {.event = rec_event, .synced = rec_synced, .error = rec_error};

static Informer *informer_for(ApiClient *c, Recorder *rec, const char *path, unsigned page_size) {
        Informer *inf = NULL;
        InformerOptions o = {.path = path,
                             .page_size = page_size,
                             .backoff_initial_usec = 20 * USEC_PER_MSEC,
                             .backoff_max_usec = 100 * USEC_PER_MSEC};
        ck_assert_int_eq(informer_new(c, &o, &rec_callbacks, rec, &inf), 0);
        rec->inf = inf;
        ck_assert_int_eq(informer_start(inf), 0);
        return inf;
}

typedef struct WaitRequests {
        size_t n;
} WaitRequests;

static bool have_requests(void *userdata) {
        _cleanup_json_ json_t *log = server_log();
        return json_array_size(log) >= ((WaitRequests *) userdata)->n;
}

static bool have_events(void *userdata) {
        Recorder *rec = userdata;
        return rec->n_events >= rec->pages_at_event[63]; /* the wanted count is parked in the last slot */
}

static void wait_events(Recorder *rec, unsigned n) {
        rec->pages_at_event[63] = n;
        run_until(have_events, rec);
}

#define SERVICES_LIST                                                                                                  \
        "{'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':null},"                            \
        " 'responses':[{'file':'12-services-list-page1.response.json'}]},"                                             \
        "{'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':"                                  \
        "  'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mjc5LCJzdGFydCI6ImRlZmF1bHQvY2FjaGVcdTAwMDAifQ'},"                     \
        " 'responses':[{'file':'12-services-list-page2.response.json'}]},"                                             \
        "{'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':"                                  \
        "  'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mjc5LCJzdGFydCI6ImRlZmF1bHQvbWV0cmljc1x1MDAwMCJ9'},"                   \
        " 'responses':[{'file':'12-services-list-page3.response.json'}]},"

START_TEST(test_list_pages_and_bookmarks) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_(informer_freep) Informer *inf = NULL;
        _cleanup_json_ json_t *log = NULL;
        static Recorder rec;
        static const char *const want[] = {
                "ADDED default/api 245",     "ADDED default/api-headless 248", "ADDED default/cache 257",
                "ADDED default/db 261",      "ADDED default/kubernetes 189",   "ADDED default/metrics 265",
                "ADDED default/queue 269",   "ADDED default/web-nodeport 253", "ADDED default/temp 288",
                "MODIFIED default/temp 291", "DELETED default/temp 295",
        };

        rec = (Recorder){};
        /* the captured watch, ended by the server (its timeoutSeconds); the next watch stays open */
        server_start("[" SERVICES_LIST
                     "{'method':'GET','path':'/api/v1/services','query':{'watch':'true'},'responses':["
                     "  {'chunks':[{'file':'12-services-watch-bookmark.jsonl','delay':0.05}],'hold':1.1},"
                     "  {'chunks':[],'hold':60}]}]",
                     NULL, NULL, NULL);
        c = http_client(NULL);
        inf = informer_for(c, &rec, "/api/v1/services", 3);
        ck_assert(!informer_has_synced(inf));

        wait_events(&rec, ELEMENTSOF(want));
        WaitRequests w = {.n = 5};
        run_until(have_requests, &w);
        ck_assert_uint_eq(rec.n_events, ELEMENTSOF(want));
        for (unsigned i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_str_eq(rec.events[i], want[i]);
        /* items are handed out as their page arrives, item by item: those of page n while page n itself is still
         * being read (n - 1 pages complete) and page n+1 has not been asked for yet */
        for (unsigned i = 0; i < 8; i++)
                ck_assert_uint_eq(rec.pages_at_event[i], i / 3);
        ck_assert_uint_eq(rec.synced, 1);
        ck_assert(informer_has_synced(inf));
        /* the bookmark moved the resourceVersion past the last event's */
        ck_assert_str_eq(informer_resource_version(inf), "295");
        ck_assert_uint_eq(informer_n_objects(inf), 8);
        /* listed items get the kind and apiVersion of their list (ServiceList v1 → Service v1), like watched ones */
        ck_assert_uint_eq(rec.without_kind, 0);

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 5);
        ck_assert_str_eq(log_str(log, 0, "query", "limit"), "3");
        ck_assert_ptr_null(log_str(log, 0, "query", "resourceVersion"));
        ck_assert_str_eq(log_str(log, 1, "query", "limit"), "3");
        ck_assert_str_eq(log_str(log, 2, "query", "continue"),
                         "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mjc5LCJzdGFydCI6ImRlZmF1bHQvbWV0cmljc1x1MDAwMCJ9");
        /* the watch starts from the list's resourceVersion, with bookmarks and a randomised timeout */
        ck_assert_str_eq(log_str(log, 3, "query", "watch"), "true");
        ck_assert_str_eq(log_str(log, 3, "query", "resourceVersion"), "279");
        ck_assert_str_eq(log_str(log, 3, "query", "allowWatchBookmarks"), "true");
        int t = atoi(log_str(log, 3, "query", "timeoutSeconds"));
        ck_assert_int_ge(t, 300);
        ck_assert_int_le(t, 600);
        /* after the server ended it: re-watch from the bookmark's resourceVersion, no relist */
        ck_assert_str_eq(log_str(log, 4, "query", "watch"), "true");
        ck_assert_str_eq(log_str(log, 4, "query", "resourceVersion"), "295");
        ck_assert_uint_eq(informer_stats(inf)->lists, 1);
        ck_assert_uint_eq(informer_stats(inf)->failures, 0);
        ck_assert_uint_eq(rec.errors, 0);
}
END_TEST

/* A one-page list of pods built from items "name:rv:uid". */
#define POD(name, rv, uid)                                                                                             \
        "{'metadata':{'namespace':'default','name':'" name "','resourceVersion':'" rv "','uid':'" uid "'}}"
#define POD_LIST(rv, items)                                                                                            \
        "{'json':{'kind':'PodList','apiVersion':'v1','metadata':{'resourceVersion':'" rv "'},'items':[" items "]}}"
/* A watch event line inside a JSON string of the routes: quotes escaped. */
#define Q "\\\""
#define WATCH_EVENT(type, name, rv)                                                                                    \
        "{" Q "type" Q ":" Q type Q "," Q "object" Q ":{" Q "metadata" Q ":{" Q "namespace" Q ":" Q "default" Q "," Q  \
        "name" Q ":" Q name Q "," Q "resourceVersion" Q ":" Q rv Q "," Q "uid" Q ":" Q "u-" name Q "}}}\\n"

START_TEST(test_watch_expired_relist) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_(informer_freep) Informer *inf = NULL;
        _cleanup_json_ json_t *log = NULL;
        static Recorder rec;
        static const char *const want[] = {
                "ADDED default/a 10",
                "ADDED default/b 11",
                "ADDED default/c 12",
                /* the relist: a unchanged (not handed out again), b changed, c gone, d new */
                "MODIFIED default/b 20",
                "ADDED default/d 21",
                "DELETED default/c 12",
                /* the second watch expires with an HTTP 410 rather than an ERROR event */
                "MODIFIED default/d 30",
        };

        rec = (Recorder){};
        server_start(
                "[{'method':'GET','path':'/api/v1/pods','query':{'watch':null,"
                "   'fieldSelector':'spec.nodeName=node1'},'responses':["
                "  " POD_LIST(
                        "15",
                        POD("a", "10", "u-a") "," POD("b", "11", "u-b") "," POD(
                                "c", "12",
                                "u-c")) ","
                                        "  " POD_LIST(
                                                "25",
                                                POD("a", "10", "u-a") "," POD("b", "20", "u-b") "," POD(
                                                        "d", "21",
                                                        "u-d")) ","
                                                                "  " POD_LIST(
                                                                        "35",
                                                                        POD("a", "10", "u-a") "," POD(
                                                                                "b", "20",
                                                                                "u-b") "," POD("d", "30",
                                                                                               "u-d")) "]},"
                                                                                                       " {'method':'"
                                                                                                       "GET','path':'/"
                                                                                                       "api/v1/"
                                                                                                       "pods','query':{"
                                                                                                       "'watch':'true'}"
                                                                                                       ",'responses':["
                                                                                                       "  "
                                                                                                       "{'chunks':[{'"
                                                                                                       "file':'05-pods-"
                                                                                                       "watch-too-old."
                                                                                                       "jsonl'}]},"
                                                                                                       "  "
                                                                                                       "{'status':410,'"
                                                                                                       "json':{'kind':'"
                                                                                                       "Status','code':"
                                                                                                       "410,'reason':'"
                                                                                                       "Expired','"
                                                                                                       "message':'gone'"
                                                                                                       "}},"
                                                                                                       "  "
                                                                                                       "{'chunks':[],'"
                                                                                                       "hold':60}]}]",
                NULL, NULL, NULL);
        c = http_client(NULL);
        InformerOptions o = {.path = "/api/v1/pods",
                             .field_selector = "spec.nodeName=node1",
                             .backoff_initial_usec = 20 * USEC_PER_MSEC,
                             .backoff_max_usec = 100 * USEC_PER_MSEC};
        ck_assert_int_eq(informer_new(c, &o, &rec_callbacks, &rec, &inf), 0);
        ck_assert_int_eq(informer_start(inf), 0);

        wait_events(&rec, ELEMENTSOF(want));
        WaitRequests w = {.n = 6};
        run_until(have_requests, &w);
        for (unsigned i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_str_eq(rec.events[i], want[i]);
        ck_assert_uint_eq(rec.n_events, ELEMENTSOF(want));
        ck_assert_uint_eq(rec.synced, 1); /* once: relists do not un-sync */
        ck_assert_uint_eq(informer_n_objects(inf), 3);
        ck_assert_str_eq(informer_resource_version(inf), "35");
        ck_assert_uint_eq(informer_stats(inf)->lists, 3);
        ck_assert_uint_eq(informer_stats(inf)->expired, 2);

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 6);
        ck_assert_str_eq(log_str(log, 0, "query", "fieldSelector"), "spec.nodeName=node1");
        ck_assert_str_eq(log_str(log, 0, "query", "limit"), "500");
        ck_assert_str_eq(log_str(log, 1, "query", "resourceVersion"), "15");
        ck_assert_str_eq(log_str(log, 1, "query", "fieldSelector"), "spec.nodeName=node1");
        ck_assert_ptr_null(log_str(log, 2, "query", "watch"));
        ck_assert_str_eq(log_str(log, 3, "query", "resourceVersion"), "25");
        ck_assert_ptr_null(log_str(log, 4, "query", "watch"));
        ck_assert_str_eq(log_str(log, 5, "query", "resourceVersion"), "35");
}
END_TEST

START_TEST(test_watch_failures) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_(informer_freep) Informer *inf = NULL;
        _cleanup_json_ json_t *log = NULL;
        static Recorder rec;
        static const char *const want[] = {
                "ADDED default/a 10",    "MODIFIED default/a 11", /* then the connection drops */
                "MODIFIED default/a 12",                          /* then a garbage line */
                "MODIFIED default/a 13",                          /* then a line cut off by a clean end */
                "MODIFIED default/a 14",                          /* after a 500 HTML page and an empty 200 */
        };

        rec = (Recorder){};
        server_start(
                "[{'method':'GET','path':'/api/v1/pods','query':{'watch':null},'responses':["
                "  " POD_LIST(
                        "10",
                        POD("a", "10",
                            "u-a")) "]},"
                                    " {'method':'GET','path':'/api/v1/pods','query':{'watch':'true'},'responses':["
                                    "  {'chunks':[{'data':'" WATCH_EVENT(
                                            "MODIFIED", "a",
                                            "11") "'}],'abort':true},"
                                                  "  {'chunks':[{'data':'" WATCH_EVENT(
                                                          "MODIFIED", "a",
                                                          "12") "'},"
                                                                "             {'data':'<html><body>502 Bad "
                                                                "Gateway</body></html>\\n'}],'hold':30},"
                                                                "  {'chunks':[{'data':'" WATCH_EVENT(
                                                                        "MODIFIED", "a",
                                                                        "13") "'},"
                                                                              "             "
                                                                              "{'data':'{\\\"type\\\":\\\"MODIFIED\\\","
                                                                              "\\\"obj'}]},"
                                                                              "  "
                                                                              "{'status':500,'headers':{'Content-Type':"
                                                                              "'text/html'},'body':'<html>Internal "
                                                                              "error</html>'},"
                                                                              "  {'chunks':[]},"
                                                                              "  {'chunks':[{'data':'" WATCH_EVENT(
                                                                                      "MODIFIED", "a",
                                                                                      "14") "'}],'hold':60}]}]",
                NULL, NULL, NULL);
        c = http_client(NULL);
        inf = informer_for(c, &rec, "/api/v1/pods", 0);

        wait_events(&rec, ELEMENTSOF(want));
        for (unsigned i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_str_eq(rec.events[i], want[i]);
        ck_assert_uint_eq(rec.n_events, ELEMENTSOF(want));

        log = server_log();
        ck_assert_uint_eq(json_array_size(log), 7);
        /* every failure re-watched from the last resourceVersion seen; never a relist */
        ck_assert_str_eq(log_str(log, 1, "query", "resourceVersion"), "10");
        ck_assert_str_eq(log_str(log, 2, "query", "resourceVersion"), "11");
        ck_assert_str_eq(log_str(log, 3, "query", "resourceVersion"), "12");
        ck_assert_str_eq(log_str(log, 4, "query", "resourceVersion"), "13");
        ck_assert_str_eq(log_str(log, 5, "query", "resourceVersion"), "13");
        ck_assert_str_eq(log_str(log, 6, "query", "resourceVersion"), "13");
        ck_assert_uint_eq(informer_stats(inf)->lists, 1);
        /* the drop, the garbage, the cut line, the 500 and the empty 200 ("very short watch") */
        ck_assert_uint_eq(informer_stats(inf)->failures, 5);
        ck_assert_uint_eq(rec.errors, 5);
}
END_TEST

START_TEST(test_list_failures) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        _cleanup_(informer_freep) Informer *inf = NULL;
        _cleanup_json_ json_t *log = NULL;
        static Recorder rec;

        rec = (Recorder){};
        /* forbidden, garbage with a 200, an expired continue token in the middle, then a good list */
        server_start("[{'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':null},"
                     "  'responses':[{'status':403,'json':{'kind':'Status','code':403,'reason':'Forbidden',"
                     "     'message':'services is forbidden'}},"
                     "   {'body':'<html>not json</html>'},"
                     "   {'file':'12-services-list-page1.response.json'},"
                     "   {'file':'12-services-list-page1.response.json'}]},"
                     " {'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':"
                     "   'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mjc5LCJzdGFydCI6ImRlZmF1bHQvY2FjaGVcdTAwMDAifQ'},"
                     "  'responses':[{'status':410,'file':'12-services-list-continue-expired.response.json'},"
                     "   {'file':'12-services-list-page2.response.json'}]},"
                     " {'method':'GET','path':'/api/v1/services','query':{'watch':null,'continue':"
                     "   'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mjc5LCJzdGFydCI6ImRlZmF1bHQvbWV0cmljc1x1MDAwMCJ9'},"
                     "  'responses':[{'file':'12-services-list-page3.response.json'}]},"
                     " {'method':'GET','path':'/api/v1/services','query':{'watch':'true'},'responses':["
                     "  {'chunks':[],'hold':60}]}]",
                     NULL, NULL, NULL);
        c = http_client(NULL);
        inf = informer_for(c, &rec, "/api/v1/services", 3);

        wait_events(&rec, 8);
        WaitRequests w = {.n = 8};
        run_until(have_requests, &w);
        ck_assert_uint_eq(rec.n_events, 8); /* page 1 twice, but its items only once */
        ck_assert_str_eq(rec.events[0], "ADDED default/api 245");
        ck_assert_str_eq(rec.events[7], "ADDED default/web-nodeport 253");
        ck_assert_uint_eq(rec.synced, 1);
        ck_assert_uint_eq(informer_stats(inf)->expired, 1);
        ck_assert_uint_eq(informer_stats(inf)->failures, 2);
        ck_assert_uint_ge(rec.errors, 3);
        log = server_log();
        /* 403, garbage, page 1, 410 on page 2, page 1 again, pages 2 and 3, the watch */
        ck_assert_uint_eq(json_array_size(log), 8);
        ck_assert_ptr_null(log_str(log, 4, "query", "continue"));
        ck_assert_str_eq(log_str(log, 7, "query", "watch"), "true");
        ck_assert_str_eq(log_str(log, 7, "query", "resourceVersion"), "279");
}
END_TEST

/* TEST_ONLY=name runs one test (debugging). */
#define ADD_TEST(tc, fn)                                                                                               \
        do {                                                                                                           \
                if (!getenv("TEST_ONLY") || streq(getenv("TEST_ONLY"), #fn))                                           \
                        tcase_add_test(tc, fn);                                                                        \
        } while (0)

int main(void) {
        /* Every test's files live below one directory that is removed here, also when a test failed (a failing
         * Check test ends its process before it can clean up). */
        char *top = test_tmpdir_new("test-apiclient");
        int r;

        if (!top || setenv("TMPDIR", top, 1) < 0)
                return EXIT_FAILURE;
        Suite *s = suite_create("apiclient");
        if (getenv("TEST_DEBUG"))
                log_set_max_level(LOG_LEVEL_DEBUG);
        TCase *pure = tcase_create("pure");
        ADD_TEST(pure, test_token_bucket);
        ADD_TEST(pure, test_backoff);
        ADD_TEST(pure, test_retry_after);
        ADD_TEST(pure, test_status_errno);
        suite_add_tcase(s, pure);

        TCase *client = tcase_create("client");
        tcase_add_checked_fixture(client, setup, teardown);
        tcase_set_timeout(client, 60);
        ADD_TEST(client, test_requests);
        ADD_TEST(client, test_retries);
        ADD_TEST(client, test_cancel_and_refused);
        ADD_TEST(client, test_tls);
        suite_add_tcase(s, client);

        TCase *informer = tcase_create("informer");
        tcase_add_checked_fixture(informer, setup, teardown);
        tcase_set_timeout(informer, 60);
        ADD_TEST(informer, test_list_pages_and_bookmarks);
        ADD_TEST(informer, test_watch_expired_relist);
        ADD_TEST(informer, test_watch_failures);
        ADD_TEST(informer, test_list_failures);
        suite_add_tcase(s, informer);
        r = test_run_suite(s);
        test_tmpdir_remove(top);
        return r;
}
