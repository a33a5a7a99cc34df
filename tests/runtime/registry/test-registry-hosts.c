/* SPDX-License-Identifier: Apache-2.0 */
/* Registry hosts configuration (runtime/registry-hosts.c): containerd's hosts.toml, read into the mirrors in file
 * order and the upstream last, with capabilities, skip_verify, ca (relative to the file), plain http:// hosts,
 * override_path; the directory lookup (<dir>/<host:port>/, then _default/); errors naming file and line. */

#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/registry.h"
#include "tests/lib/testlib.h"

static void parse_ok(const char *text, const char *server, RegistryHosts *h) {
        ErrorBuf e = {};
        int r = registry_hosts_parse(text, strlen(text), "/etc/nodelet/certs.d/r.example/hosts.toml", server, h, &e);
        ck_assert_msg(r >= 0, "%s: %s", text, error_message(&e, r));
}

START_TEST(test_mirrors_in_order) {
        _cleanup_(registry_hosts_done) RegistryHosts h = {};
        parse_ok("# mirrors for r.example\n"
                 "server = \"https://r.example\"\n"
                 "\n"
                 "[host.\"https://mirror-a.example:5000/cache/\"]\n"
                 "  capabilities = [\"pull\", \"resolve\"]  # both\n"
                 "  ca = \"mirror-a.pem\"\n"
                 "[host.\"http://127.0.0.1:5001\"]\n"
                 "  capabilities = [\n"
                 "    \"pull\",\n"
                 "  ]\n"
                 "  skip_verify = true\n"
                 "[host.'https://mirror-c.example/v2/x']\n"
                 "  override_path = true\n"
                 "  ca = [\"/abs/ca.pem\"]\n"
                 "  [host.\"https://mirror-c.example/v2/x\".header]\n"
                 "    x-custom = [\"ignored\"]\n",
                 "r.example", &h);
        ck_assert_uint_eq(h.n, 4);
        ck_assert_str_eq(h.hosts[0].url, "https://mirror-a.example:5000/cache");
        ck_assert_str_eq(h.hosts[0].api, "https://mirror-a.example:5000/cache/v2");
        ck_assert_str_eq(h.hosts[0].host, "mirror-a.example:5000");
        ck_assert_str_eq(h.hosts[0].ca_file, "/etc/nodelet/certs.d/r.example/mirror-a.pem");
        ck_assert(h.hosts[0].pull && h.hosts[0].resolve && !h.hosts[0].plain_http && !h.hosts[0].upstream);
        ck_assert_str_eq(h.hosts[1].api, "http://127.0.0.1:5001/v2");
        ck_assert(h.hosts[1].plain_http && h.hosts[1].skip_verify && h.hosts[1].pull && !h.hosts[1].resolve);
        ck_assert_str_eq(h.hosts[2].api, "https://mirror-c.example/v2/x");
        ck_assert_str_eq(h.hosts[2].ca_file, "/abs/ca.pem");
        ck_assert(h.hosts[2].pull && h.hosts[2].resolve); /* containerd's default capabilities */
        ck_assert_str_eq(h.hosts[3].url, "https://r.example");
        ck_assert_str_eq(h.hosts[3].api, "https://r.example/v2");
        ck_assert(h.hosts[3].upstream && h.hosts[3].pull && h.hosts[3].resolve);
}
END_TEST

START_TEST(test_upstream_default_and_plain) {
        _cleanup_(registry_hosts_done) RegistryHosts none = {}, plain = {}, dotted = {};
        parse_ok("", "registry-1.docker.io", &none);
        ck_assert_uint_eq(none.n, 1);
        ck_assert_str_eq(none.hosts[0].api, "https://registry-1.docker.io/v2");
        ck_assert(none.hosts[0].upstream && !none.hosts[0].plain_http);

        parse_ok("server = \"http://10.0.0.5:5000\"\nskip_verify = false\n", "r.example", &plain);
        ck_assert_uint_eq(plain.n, 1);
        ck_assert_str_eq(plain.hosts[0].api, "http://10.0.0.5:5000/v2");
        ck_assert_str_eq(plain.hosts[0].host, "10.0.0.5:5000");
        ck_assert(plain.hosts[0].plain_http);

        /* A dotted key at the top level is the same as a [host."…"] table; a bare host means https. */
        parse_ok("host.\"mirror.example\".capabilities = [\"pull\"]\n", "r.example", &dotted);
        ck_assert_uint_eq(dotted.n, 2);
        ck_assert_str_eq(dotted.hosts[0].url, "https://mirror.example");
        ck_assert(dotted.hosts[0].pull && !dotted.hosts[0].resolve);
}
END_TEST

START_TEST(test_errors_name_file_and_line) {
        static const struct {
                const char *text, *expect;
        } bad[] = {
                {"server = \"https://x\"\n[host.\"https://m\"]\n  capabilities = \"pull\"\n",
                 "hosts.toml:3: capabilities"},
                {"server = 'unterminated\n", "hosts.toml:1: unterminated string"},
                {"[[host]]\n", "hosts.toml:1: arrays of tables"},
                {"\n\nheader = {a = 1}\n", "hosts.toml:3: inline tables"},
                {"server = \"ftp://x\"\n", "only http:// and https://"},
                {"[host.\"https://m\"]\nskip_verify = \"yes\"\n", "hosts.toml:2: skip_verify"},
                {"[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]\n", "hosts.toml:2: capabilities"},
                {"server = \"https://x\" trailing\n", "hosts.toml:1: expected the end of the line"},
                {"ca = \"\"\n", "hosts.toml:1: ca"},
                {"s = \"\"\"\nmulti\n\"\"\"\n", "multi-line strings"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RegistryHosts h = {};
                ErrorBuf e = {};
                int r = registry_hosts_parse(bad[i].text, strlen(bad[i].text), "/d/r/hosts.toml", "r", &h, &e);
                ck_assert_msg(r == -EINVAL, "%s: expected -EINVAL, got %d", bad[i].text, r);
                ck_assert_msg(strstr(e.msg, bad[i].expect), "%s: message '%s' lacks '%s'", bad[i].text, e.msg,
                              bad[i].expect);
                registry_hosts_done(&h);
        }
}
END_TEST

START_TEST(test_directory_lookup) {
        char dir[] = "/tmp/test-registry-hosts.XXXXXX", path[256];
        ck_assert_ptr_nonnull(mkdtemp(dir));
        RegistryHosts h = {};
        ErrorBuf e = {};

        /* No file at all: just the upstream. */
        ck_assert_int_eq(registry_hosts_load(dir, "127.0.0.1:5000", "127.0.0.1:5000", &h, &e), 0);
        ck_assert_uint_eq(h.n, 1);
        ck_assert_ptr_null(h.source);
        registry_hosts_done(&h);

        /* _default applies to registries without a directory of their own; host:port is the directory name. */
        snprintf(path, sizeof path, "%s/_default", dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/_default/hosts.toml", dir);
        const char *def = "[host.\"https://default-mirror\"]\n";
        ck_assert_int_eq(write_file_atomic(path, def, strlen(def), 0644, false), 0);
        snprintf(path, sizeof path, "%s/127.0.0.1:5000", dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/127.0.0.1:5000/hosts.toml", dir);
        const char *own = "server = \"http://127.0.0.1:5000\"\n";
        ck_assert_int_eq(write_file_atomic(path, own, strlen(own), 0644, false), 0);

        ck_assert_int_eq(registry_hosts_load(dir, "127.0.0.1:5000", "127.0.0.1:5000", &h, &e), 0);
        ck_assert_uint_eq(h.n, 1);
        ck_assert(h.hosts[0].plain_http);
        ck_assert_str_eq(h.source, path);
        registry_hosts_done(&h);

        ck_assert_int_eq(registry_hosts_load(dir, "quay.io", "quay.io", &h, &e), 0);
        ck_assert_uint_eq(h.n, 2);
        ck_assert_str_eq(h.hosts[0].url, "https://default-mirror");
        ck_assert_str_eq(h.hosts[1].url, "https://quay.io");
        registry_hosts_done(&h);

        /* A broken file is an error naming it, not silently no mirrors. */
        const char *broken = "[host.\"https://m\"\n";
        ck_assert_int_eq(write_file_atomic(path, broken, strlen(broken), 0644, false), 0);
        ck_assert_int_eq(registry_hosts_load(dir, "127.0.0.1:5000", "127.0.0.1:5000", &h, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, ":1:"), "%s", e.msg);
        ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("registry-hosts");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_mirrors_in_order);
        tcase_add_test(tc, test_upstream_default_and_plain);
        tcase_add_test(tc, test_errors_name_file_and_line);
        tcase_add_test(tc, test_directory_lookup);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
