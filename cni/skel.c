/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/skel.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/in-addr.h"
#include "common/fileio.h"
#include "common/json-util.h"

int cni_error(CniError *e, int code, const char *fmt, ...) {
        if (e && e->code == 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->msg, sizeof e->msg, fmt, ap);
                va_end(ap);
                e->code = code;
        }
        return code == CNI_ERR_IO ? -EIO : code == CNI_ERR_TRY_AGAIN ? -EAGAIN : -EINVAL;
}

void cni_error_details(CniError *e, const char *fmt, ...) {
        if (!e || e->details[0])
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->details, sizeof e->details, fmt, ap);
        va_end(ap);
}

json_t *cni_error_to_json(const CniError *e, const char *cni_version) {
        json_t *j = json_pack("{s:s, s:i, s:s}", "cniVersion", cni_version ?: CNI_VERSION_LATEST, "code",
                              e->code ?: CNI_ERR_INTERNAL, "msg", e->msg[0] ? e->msg : "unknown error");
        if (j && e->details[0])
                (void) json_object_set_new(j, "details", json_string(e->details));
        return j;
}

int cni_error_from_json(const json_t *j, CniError *e) {
        json_t *code = json_object_get(j, "code");
        if (!json_is_integer(code))
                return -EINVAL;
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *details = json_string_value(json_object_get(j, "details"));
        e->code = (int) json_integer_value(code);
        snprintf(e->msg, sizeof e->msg, "%s", strempty(msg));
        snprintf(e->details, sizeof e->details, "%s", strempty(details));
        return 0;
}

static const char *const command_table[_CNI_CMD_MAX] = {
        [CNI_CMD_ADD] = "ADD",         [CNI_CMD_DEL] = "DEL",       [CNI_CMD_CHECK] = "CHECK",
        [CNI_CMD_VERSION] = "VERSION", [CNI_CMD_STATUS] = "STATUS", [CNI_CMD_GC] = "GC",
};

const char *cni_command_to_string(CniCommand c) {
        return c >= 0 && c < _CNI_CMD_MAX ? command_table[c] : NULL;
}

CniCommand cni_command_from_string(const char *s) {
        for (int i = 0; s && i < _CNI_CMD_MAX; i++)
                if (streq(command_table[i], s))
                        return (CniCommand) i;
        return _CNI_CMD_INVALID;
}

static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

static void version_split(const char *v, long out[3]) {
        out[0] = out[1] = out[2] = -1;
        for (int i = 0; v && i < 3; i++) {
                char *end;
                out[i] = strtol(v, &end, 10);
                if (end == v)
                        return;
                v = *end == '.' ? end + 1 : NULL;
        }
}

int cni_version_cmp(const char *a, const char *b) {
        long va[3], vb[3];
        version_split(a, va);
        version_split(b, vb);
        for (int i = 0; i < 3; i++)
                if (va[i] != vb[i])
                        return va[i] < vb[i] ? -1 : 1;
        return 0;
}

bool cni_version_supported(const char *v) {
        for (size_t i = 0; v && i < ELEMENTSOF(supported_versions); i++)
                if (streq(v, supported_versions[i]))
                        return true;
        return false;
}

json_t *cni_supported_versions(void) {
        json_t *l = json_array();
        for (size_t i = 0; l && i < ELEMENTSOF(supported_versions); i++)
                (void) json_array_append_new(l, json_string(supported_versions[i]));
        return l;
}

bool cni_container_id_valid(const char *id) {
        /* libcni: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
        if (isempty(id) || !isalnum((unsigned char) id[0]))
                return false;
        for (const char *p = id; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_.-", *p))
                        return false;
        return true;
}

bool cni_ifname_valid(const char *name) {
        /* libcni: at most IFNAMSIZ-1 bytes, not "." or "..", no '/', ':' or whitespace. */
        if (isempty(name) || strlen(name) > 15 || streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || isspace((unsigned char) *p))
                        return false;
        return true;
}

json_t *cni_result_convert(const json_t *result, const char *cni_version) {
        json_t *out = json_deep_copy(result);
        json_t *ips, *ip;
        size_t i;
        bool legacy = cni_version_cmp(cni_version, "1.0.0") < 0;

        if (!out)
                return NULL;
        (void) json_object_set_new(out, "cniVersion", json_string(cni_version));
        ips = json_object_get(out, "ips");
        json_array_foreach (ips, i, ip) {
                if (!legacy) {
                        (void) json_object_del(ip, "version");
                        continue;
                }
                InPrefix p;
                if (in_prefix_parse(json_string_value(json_object_get(ip, "address")), IN_PARSE_UNMAP_V4, &p) == 0)
                        (void) json_object_set_new(ip, "version", json_string(p.addr.family == AF_INET ? "4" : "6"));
        }
        return out;
}

/* Environment variables each command needs (SPEC.md "Parameters"; CNI_NETNS is optional for DEL since 1.0). */
static int check_env(const CniArgs *a, CniError *e) {
        static const struct {
                const char *name;
                size_t offset;
                unsigned commands; /* bit mask of CniCommand */
        } vars[] = {
                {"CNI_CONTAINERID", offsetof(CniArgs, container_id),
                 1u << CNI_CMD_ADD | 1u << CNI_CMD_DEL | 1u << CNI_CMD_CHECK},
                {"CNI_NETNS", offsetof(CniArgs, netns), 1u << CNI_CMD_ADD | 1u << CNI_CMD_CHECK},
                {"CNI_IFNAME", offsetof(CniArgs, ifname), 1u << CNI_CMD_ADD | 1u << CNI_CMD_DEL | 1u << CNI_CMD_CHECK},
                {"CNI_PATH", offsetof(CniArgs, path),
                 1u << CNI_CMD_ADD | 1u << CNI_CMD_DEL | 1u << CNI_CMD_CHECK | 1u << CNI_CMD_GC},
        };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = *(const char *const *) ((const char *) a + vars[i].offset);
                if ((vars[i].commands & (1u << a->command)) && isempty(v))
                        return cni_error(e, CNI_ERR_INVALID_ENV, "required env variable %s is missing", vars[i].name);
        }
        if (!isempty(a->container_id) && !cni_container_id_valid(a->container_id))
                return cni_error(e, CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID \"%s\"", a->container_id);
        if (!isempty(a->ifname) && !cni_ifname_valid(a->ifname))
                return cni_error(e, CNI_ERR_INVALID_ENV, "invalid CNI_IFNAME \"%s\"", a->ifname);
        return 0;
}

static int parse_conf(CniArgs *a, CniError *e) {
        json_error_t jerr;

        a->conf = json_loadb(a->stdin_data, a->stdin_size, JSON_REJECT_DUPLICATES, &jerr);
        if (!a->conf)
                return cni_error(e, CNI_ERR_DECODE, "failed to decode network configuration: %s (line %d column %d)",
                                 jerr.text, jerr.line, jerr.column);
        if (!json_is_object(a->conf))
                return cni_error(e, CNI_ERR_DECODE, "network configuration is not a JSON object");
        a->cni_version = json_string_value(json_object_get(a->conf, "cniVersion"));
        a->name = json_string_value(json_object_get(a->conf, "name"));
        return 0;
}

/* Dispatches one command; returns 0 or a negative value with e set. */
static int run(const CniPlugin *p, CniArgs *a, json_t **ret_out, CniError *e) {
        int r;

        if (a->command == CNI_CMD_VERSION) {
                /* VERSION reads cniVersion from stdin when given, but any input is fine. */
                *ret_out = json_pack("{s:s, s:o}", "cniVersion", CNI_VERSION_LATEST, "supportedVersions",
                                     cni_supported_versions());
                return 0;
        }
        r = check_env(a, e);
        if (r < 0)
                return r;
        r = parse_conf(a, e);
        if (r < 0)
                return r;
        if (!a->cni_version)
                return cni_error(e, CNI_ERR_INCOMPATIBLE_VERSION,
                                 "network configuration has no cniVersion; %s supports 0.3.0 to %s", p->name,
                                 CNI_VERSION_LATEST);
        if (!cni_version_supported(a->cni_version))
                return cni_error(e, CNI_ERR_INCOMPATIBLE_VERSION,
                                 "incompatible CNI versions: config is \"%s\", "
                                 "plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0",
                                 a->cni_version);
        if (isempty(a->name))
                return cni_error(e, CNI_ERR_INVALID_CONFIG,
                                 "network configuration: required field \"name\" is missing");

        switch (a->command) {
        case CNI_CMD_ADD: {
                _cleanup_json_ json_t *result = NULL;
                r = p->add(a, &result, e);
                if (r < 0)
                        return r;
                *ret_out = cni_result_convert(result, a->cni_version);
                return *ret_out ? 0 : cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        }
        case CNI_CMD_DEL:
                return p->del(a, e);
        case CNI_CMD_CHECK:
                if (cni_version_cmp(a->cni_version, "0.4.0") < 0)
                        return cni_error(e, CNI_ERR_INCOMPATIBLE_VERSION,
                                         "config version \"%s\" does not allow CHECK (needs 0.4.0 or later)",
                                         a->cni_version);
                return p->check(a, e);
        case CNI_CMD_STATUS:
        case CNI_CMD_GC:
                if (cni_version_cmp(a->cni_version, "1.1.0") < 0)
                        return cni_error(e, CNI_ERR_INCOMPATIBLE_VERSION,
                                         "config version \"%s\" does not allow %s (needs 1.1.0)", a->cni_version,
                                         cni_command_to_string(a->command));
                return a->command == CNI_CMD_STATUS ? p->status(a, e) : p->gc(a, e);
        default:
                return cni_error(e, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND");
        }
}

int cni_plugin_main(const CniPlugin *p) {
        _cleanup_free_ char *data = NULL;
        _cleanup_json_ json_t *out = NULL;
        CniArgs a = {};
        CniError e = {};
        size_t size = 0;
        int r;

        const char *cmd = getenv("CNI_COMMAND");
        if (isempty(cmd)) {
                /* Run by hand: say what we are (like libcni's skel), and still answer as the spec asks of every
                 * failure, with an error object on stdout (code 4, invalid environment). */
                fprintf(stderr, "%s: CNI plugin, implements CNI spec versions 0.3.0 to %s\n", p->name,
                        CNI_VERSION_LATEST);
                (void) cni_error(&e, CNI_ERR_INVALID_ENV, "required environment variable CNI_COMMAND is missing");
                out = cni_error_to_json(&e, CNI_VERSION_LATEST);
                if (out) {
                        (void) json_dumpf(out, stdout, JSON_COMPACT);
                        (void) fputc('\n', stdout);
                }
                (void) fflush(stdout);
                return 1;
        }
        /* A delegate that exits before reading its stdin must not kill us with SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        /* jansson would seed its hash function from /dev/urandom (open, read, close) on first use; one getrandom()
         * does the same for a third of the system calls, on every ADD and DEL. */
        uint32_t seed;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t) sizeof seed)
                json_object_seed(seed ?: 1);
        a.command = cni_command_from_string(cmd);
        a.container_id = getenv("CNI_CONTAINERID");
        a.netns = getenv("CNI_NETNS");
        a.ifname = getenv("CNI_IFNAME");
        a.args = getenv("CNI_ARGS");
        a.path = getenv("CNI_PATH");

        if (a.command < 0)
                r = cni_error(&e, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND \"%s\"", cmd);
        else if (a.command == CNI_CMD_VERSION)
                r = 0;
        else {
                r = read_full_fd(STDIN_FILENO, 16 * 1024 * 1024, &data, &size);
                if (r < 0)
                        r = cni_error(&e, CNI_ERR_IO, "failed to read network configuration from stdin: %s",
                                      strerror(-r));
        }
        if (r >= 0) {
                a.stdin_data = data;
                a.stdin_size = size;
                r = run(p, &a, &out, &e);
        }
        if (r < 0) {
                json_decref(out);
                out = cni_error_to_json(&e, a.cni_version && cni_version_supported(a.cni_version) ? a.cni_version
                                                                                                  : CNI_VERSION_LATEST);
        }
        if (out) {
                (void) json_dumpf(out, stdout, JSON_COMPACT);
                (void) fputc('\n', stdout);
        }
        json_decref(a.conf);
        if (fflush(stdout) != 0 && r >= 0)
                return 1;
        return r < 0 ? 1 : 0;
}
