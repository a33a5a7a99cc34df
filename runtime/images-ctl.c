/* SPDX-License-Identifier: Apache-2.0 */
/* `nodeletctl images`: import, ls, rm, with crictl's column layout for ls. This is a top layer: it logs. */

#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "runtime/image-store.h"
#include "runtime/reference.h"
#include "runtime/registry.h"

#define DEFAULT_ROOT_DIR "/var/lib/nodelet"
/* containerd's hosts directory layout, in our own /etc (docs/runtime-images.md) */
#define DEFAULT_REGISTRY_CONFIG_DIR "/etc/nodelet/certs.d"

static void usage(FILE *f) {
        fprintf(f, "usage: nodeletctl images [--root-dir DIR] COMMAND\n\n"
                   "commands:\n"
                   "  import PATH [--ref REF] [--quiet]\n"
                   "                           import an OCI layout directory, oci-archive or docker-archive tar;\n"
                   "                           --quiet prints only the image id, or only the error\n"
                   "  pull REF [--platform OS/ARCH[/VARIANT]] [--creds USER:PASS] [--authfile FILE]\n"
                   "       [--tls-verify=false] [--quiet]\n"
                   "       [--registry-config-dir DIR] [--node-authfile FILE] [--stall-timeout SEC]\n"
                   "                           pull an image from its registry; --authfile is a docker\n"
                   "                           config.json; --quiet prints only the image id, or only the error;\n"
                   "                           mirrors and plain-HTTP hosts from DIR/<registry>/hosts.toml\n"
                   "                           (containerd's layout, default " DEFAULT_REGISTRY_CONFIG_DIR ");\n"
                   "                           --node-authfile: credentials for registries --authfile lacks\n"
                   "  ls                       list images\n"
                   "  inspect REF|ID           print an image's id, references, config and layers as JSON\n"
                   "  rm REF|ID...             remove images (a reference removes that tag)\n"
                   "  prune [--all]            remove untagged images no container uses; --all: every image no\n"
                   "                           container uses\n");
}

/* Like crictl (docker/go-units HumanSize): decimal units, 4 significant digits. */
static void human_size(uint64_t size, char *buf, size_t n) {
        static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
        double v = (double) size;
        size_t u = 0;
        while (v >= 1000.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1000.0;
                u++;
        }
        snprintf(buf, n, "%.4g%s", v, units[u]);
}

/* What a verb returns for a usage error (wrong operands), apart from every errno its work can fail with. */
#define EXIT_USAGE 2

static int open_store(const char *root_dir, ImageStore **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/images", root_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        int r = image_store_open(dir, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open image store %s: %m", dir);
        return 0;
}

/* quiet is for programs (the daemon's image preload, agent/preload.c): stdout is the id alone, stderr the error
 * message alone, without a log header. */
static int cmd_import(ImageStore *s, int argc, char *argv[], const char *ref, bool quiet) {
        if (argc != 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        _cleanup_(image_info_freep) ImageInfo *info = NULL;
        ErrorBuf e = {};
        int r = image_store_import(s, argv[1], ref, &info, &e);
        if (r < 0) {
                if (quiet)
                        fprintf(stderr, "%s\n", error_message(&e, r));
                else
                        log_error("Failed to import image: %s", error_message(&e, r));
                return r;
        }
        for (char **i = info->refs; !quiet && *i; i++)
                printf("Imported %s\n", *i);
        printf("%s\n", info->id);
        return 0;
}

typedef struct PullCtl {
        const char *platform, *creds, *authfile, *node_authfile, *registry_config_dir;
        unsigned stall_timeout_sec;
        bool tls_verify_off;
} PullCtl;

typedef struct PullView {
        bool tty, quiet;
        uint64_t last_usec;
} PullView;

/* A progress line redrawn in place on a terminal (at most ten times a second), one line per layer otherwise (logs,
 * CI): the podman/skopeo split. */
static void pull_progress(const PullProgress *p, void *userdata) {
        PullView *v = userdata;
        char done[32], total[32];
        if (streq(p->event, "fallback")) {
                /* Also with --quiet: the daemon logs what its pull children say besides the image id. */
                if (v->tty)
                        printf("\n");
                log_warning("Registry host failed: %s", p->message);
                return;
        }
        if (v->quiet)
                return;
        if (!v->tty) {
                if (streq(p->event, "skipped"))
                        printf("Layer %s: already present\n", p->layer);
                else if (streq(p->event, "layer"))
                        printf("Layer %s: done (%u/%u)\n", p->layer, p->layers_done, p->layers_total);
                fflush(stdout);
                return;
        }
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
        if (streq(p->event, "bytes") && now - v->last_usec < 100 * USEC_PER_MSEC)
                return;
        v->last_usec = now;
        human_size(p->bytes_done, done, sizeof done);
        human_size(p->bytes_total, total, sizeof total);
        unsigned width = 30, fill = p->bytes_total ? (unsigned) (p->bytes_done * width / p->bytes_total) : width;
        char bar[64];
        for (unsigned i = 0; i < width; i++)
                bar[i] = i < fill ? '=' : ' ';
        bar[width] = 0;
        printf("\r[%s] %s / %s  layers %u/%u (%u present)\033[K", bar, done, total, p->layers_done, p->layers_total,
               p->layers_skipped);
        fflush(stdout);
}

static int cmd_pull(ImageStore *s, int argc, char *argv[], const PullCtl *c, bool quiet) {
        if (argc != 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        _cleanup_free_ char *user = NULL, *authfile = NULL;
        _cleanup_free_ char *node_auth = NULL;
        PullView view = {.tty = !quiet && isatty(STDOUT_FILENO), .quiet = quiet};
        PullOptions o = {
                .ref = argv[1],
                .platform = c->platform,
                .tls_verify_off = c->tls_verify_off,
                .registry_config_dir = c->registry_config_dir ?: DEFAULT_REGISTRY_CONFIG_DIR,
                .stall_timeout_sec = c->stall_timeout_sec,
                .progress = pull_progress,
                .progress_userdata = &view,
        };
        if (c->creds) {
                const char *colon = strchr(c->creds, ':');
                if (!colon) {
                        fprintf(stderr, "nodeletctl images pull: --creds expects USER:PASS\n");
                        return EXIT_USAGE;
                }
                user = strndup(c->creds, (size_t) (colon - c->creds));
                if (!user)
                        return log_error_errno(-ENOMEM, "Out of memory");
                o.username = user;
                o.password = colon + 1;
        }
        if (c->authfile) {
                int r = read_full_file(c->authfile, 1024 * 1024, &authfile, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to read --authfile %s: %m", c->authfile);
                o.auth_json = authfile;
        }
        if (c->node_authfile) {
                /* Like the kubelet's keyring: a node file that cannot be used is skipped, with a word. */
                int r = read_full_file(c->node_authfile, 1024 * 1024, &node_auth, NULL);
                ErrorBuf ne = {};
                _cleanup_free_ char *u = NULL, *pw = NULL;
                if (r >= 0)
                        r = pull_auth_lookup(node_auth, "localhost", "", &u, &pw, &ne);
                if (r < 0)
                        log_warning("Ignoring --node-authfile %s: %s", c->node_authfile, error_message(&ne, r));
                else
                        o.node_auth_json = node_auth;
        }
        _cleanup_(image_info_freep) ImageInfo *info = NULL;
        ErrorBuf e = {};
        int r = image_pull(s, &o, &info, &e);
        if (view.tty && !quiet)
                printf("\n");
        if (r < 0) {
                if (quiet)
                        fprintf(stderr, "%s\n", error_message(&e, r));
                else
                        log_error("Failed to pull image: %s", error_message(&e, r));
                return r;
        }
        if (!quiet)
                printf("Pulled %s (%s)\n", info->refs[0] ?: argv[1], info->manifest_digest);
        printf("%s\n", info->id);
        return 0;
}

static void print_row(const char *repo, const char *tag, const ImageInfo *i) {
        char size[32];
        human_size(i->size, size, sizeof size);
        /* crictl prints the first 13 hex digits of the id */
        printf("%-48s %-16s %-15.13s %s\n", repo, tag, i->id + STRLEN("sha256:"), size);
}

static int cmd_ls(ImageStore *s) {
        ImageInfo **l = NULL;
        size_t n = 0;
        int r = image_store_list(s, &l, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list images in %s: %m", image_store_path(s));
        printf("%-48s %-16s %-15s %s\n", "IMAGE", "TAG", "IMAGE ID", "SIZE");
        for (size_t k = 0; k < n; k++) {
                if (!l[k]->refs[0])
                        print_row("<none>", "<none>", l[k]);
                for (char **ref = l[k]->refs; *ref; ref++) {
                        _cleanup_free_ char *repo = NULL, *tag = NULL;
                        if (reference_split(*ref, &repo, &tag, NULL) < 0)
                                continue;
                        print_row(repo, tag ?: "<none>", l[k]);
                }
        }
        image_info_list_free(l, n);
        return 0;
}

static json_t *strv_json(char **l) {
        json_t *a = json_array();
        for (size_t i = 0; a && l && l[i]; i++)
                json_array_append_new(a, json_string(l[i]));
        return a;
}

/* Like `crictl inspecti`: the image status the runtime reports, plus where its layers are unpacked. */
static int cmd_inspect(ImageStore *s, int argc, char *argv[]) {
        if (argc != 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        ErrorBuf e = {};
        int r = image_store_get(s, argv[1], &i, &e);
        if (r < 0) {
                log_error("Failed to inspect image %s: %s", argv[1], error_message(&e, r));
                return r;
        }
        _cleanup_json_ json_t *digests = json_array();
        for (char **ref = i->refs; digests && *ref; ref++) {
                _cleanup_free_ char *repo = NULL, *d = NULL;
                if (reference_split(*ref, &repo, NULL, NULL) >= 0 &&
                    asprintf(&d, "%s@%s", repo, i->manifest_digest) >= 0)
                        json_array_append_new(digests, json_string(d));
        }
        _cleanup_json_ json_t *j = json_pack(
                "{s:s,s:o,s:O,s:I,s:{s:o,s:o,s:o,s:s?,s:s?,s:s?},s:o}", "id", i->id, "repoTags", strv_json(i->refs),
                "repoDigests", digests, "size", (json_int_t) i->size, "config", "Entrypoint", strv_json(i->entrypoint),
                "Cmd", strv_json(i->cmd), "Env", strv_json(i->env), "WorkingDir", i->working_dir, "User", i->user,
                "StopSignal", i->stop_signal, "layerDirs", strv_json(i->layer_dirs));
        _cleanup_free_ char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (!text)
                return log_error_errno(-ENOMEM, "Out of memory");
        puts(text);
        return 0;
}

static int cmd_rm(ImageStore *s, int argc, char *argv[]) {
        int ret = 0;
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        for (int i = 1; i < argc; i++) {
                ErrorBuf e = {};
                int r = image_store_remove(s, argv[i], &e);
                if (r < 0) {
                        log_error("Failed to remove image %s: %s", argv[i], error_message(&e, r));
                        ret = r;
                } else
                        printf("Deleted: %s\n", argv[i]);
        }
        return ret;
}

/* Like `podman image prune`: prints the ids removed. */
static int cmd_prune(ImageStore *s, int argc, bool all) {
        if (argc != 1) {
                usage(stderr);
                return EXIT_USAGE;
        }
        _cleanup_strv_free_ char **removed = NULL;
        ErrorBuf e = {};
        int r = image_store_prune(s, all, &removed, &e);
        if (r < 0) {
                log_error("Failed to prune images: %s", error_message(&e, r));
                return r;
        }
        for (char **id = removed; id && *id; id++)
                printf("%s\n", *id + STRLEN("sha256:"));
        return 0;
}

int images_ctl_main(int argc, char *argv[]) {
        static const struct option options[] = {
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'}, /* every verb takes it; images live in root-dir */
                {"ref", required_argument, NULL, 'r'},
                {"quiet", no_argument, NULL, 'q'},
                {"platform", required_argument, NULL, 'P'},
                {"creds", required_argument, NULL, 'C'},
                {"authfile", required_argument, NULL, 'A'},
                {"tls-verify", optional_argument, NULL, 'T'},
                {"registry-config-dir", required_argument, NULL, 'D'},
                {"node-authfile", required_argument, NULL, 'N'},
                {"stall-timeout", required_argument, NULL, 'W'},
                {"all", no_argument, NULL, 'a'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *root_dir = getenv("NODELET_ROOT_DIR") ?: DEFAULT_ROOT_DIR, *ref = NULL;
        bool quiet = false, pull_opts = false, all = false;
        PullCtl pc = {};
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "ahq", options, NULL)) >= 0)
                switch (c) {
                case 'R':
                        root_dir = optarg;
                        break;
                case 'S':
                        break;
                case 'r':
                        ref = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'P':
                        pc.platform = optarg;
                        pull_opts = true;
                        break;
                case 'C':
                        pc.creds = optarg;
                        pull_opts = true;
                        break;
                case 'A':
                        pc.authfile = optarg;
                        pull_opts = true;
                        break;
                case 'T':
                        /* podman's and skopeo's spelling: --tls-verify=false */
                        if (optarg && !streq(optarg, "true") && !streq(optarg, "false")) {
                                fprintf(stderr, "nodeletctl images: --tls-verify expects true or false\n");
                                return 2;
                        }
                        pc.tls_verify_off = optarg && streq(optarg, "false");
                        pull_opts = true;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'D':
                        pc.registry_config_dir = optarg;
                        pull_opts = true;
                        break;
                case 'N':
                        pc.node_authfile = optarg;
                        pull_opts = true;
                        break;
                case 'W': {
                        char *end = NULL;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (!end || *end || v == 0 || v > 3600 || optarg[0] == '-') {
                                fprintf(stderr, "nodeletctl images: --stall-timeout expects seconds (1..3600)\n");
                                return 2;
                        }
                        pc.stall_timeout_sec = (unsigned) v;
                        pull_opts = true;
                        break;
                }
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        int n = argc - optind + 1;
        char **args = argv + optind - 1; /* args[0] is the subcommand's slot, args[1..] its operands */
        if (n < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = args[1];
        if (!streq(cmd, "import") && !streq(cmd, "pull") && !streq(cmd, "ls") && !streq(cmd, "list") &&
            !streq(cmd, "rm") && !streq(cmd, "inspect") && !streq(cmd, "prune")) {
                fprintf(stderr, "nodeletctl images: unknown command '%s'\n", cmd);
                usage(stderr);
                return 2;
        }
        if ((ref && !streq(cmd, "import")) || (quiet && !streq(cmd, "import") && !streq(cmd, "pull"))) {
                fprintf(stderr, "nodeletctl images: --ref is only valid with import, --quiet with import and pull\n");
                return 2;
        }
        if (all && !streq(cmd, "prune")) {
                fprintf(stderr, "nodeletctl images: --all is only valid with prune\n");
                return 2;
        }
        if (pull_opts && !streq(cmd, "pull")) {
                fprintf(stderr,
                        "nodeletctl images: --platform, --creds, --authfile, --tls-verify, "
                        "--registry-config-dir, --node-authfile and --stall-timeout are only valid with pull\n");
                return 2;
        }
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        if (open_store(root_dir, &s) < 0)
                return 1;
        int r;
        if (streq(cmd, "import"))
                r = cmd_import(s, n - 1, args + 1, ref, quiet);
        else if (streq(cmd, "pull"))
                r = cmd_pull(s, n - 1, args + 1, &pc, quiet);
        else if (streq(cmd, "rm"))
                r = cmd_rm(s, n - 1, args + 1);
        else if (streq(cmd, "inspect"))
                r = cmd_inspect(s, n - 1, args + 1);
        else if (streq(cmd, "prune"))
                r = cmd_prune(s, n - 1, all);
        else
                r = cmd_ls(s);
        /* Only a usage error exits 2; an image the store refuses (-EINVAL and all) is a plain failure. */
        return r == EXIT_USAGE ? 2 : r < 0 ? 1 : 0;
}
