/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/image-pull.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/spawn.h"

#ifndef NODELET_BINDIR
#define NODELET_BINDIR "/usr/local/bin"
#endif

typedef struct PullOutput {
        int fd;
        sd_event_source *source;
        char buf[IMAGE_PULL_OUTPUT_MAX + 1];
        size_t size;
} PullOutput;

typedef struct PullEntry PullEntry;

struct ImagePullRequest {
        ImagePullRequest *next;
        PullEntry *pull;
        image_pull_done_fn done;
        void *userdata;
        uint64_t since_usec;
};

/* One pull: queued, running (a child), or finished and delivering its result to the waiters. */
struct PullEntry {
        PullEntry *next;
        ImagePullQueue *q;
        char *ref, *auth_json;
        ImagePullRequest *waiters;
        bool running, finished;
        pid_t pid;
        int pidfd;
        sd_event_source *exit_source;
        PullOutput out, err;
        char *auth_dir; /* the private directory of the auth file, removed when the child is gone */
        uint64_t started_usec;
};

struct ImagePullQueue {
        sd_event *event;
        sd_event_source *start_source;
        char *ctl_path, *root_dir, *tmp_dir;
        char *registry_config_dir; /* NULL: nodeletctl's default */
        char **node_auth_files;
        unsigned max_parallel, running;
        PullEntry *pulls; /* queued and running, in request order */
};

static uint64_t now_usec(ImagePullQueue *q) {
        uint64_t t = 0;
        (void) sd_event_now(q->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Kills the child if it still runs and reaps it (nobody else reaps our children), then removes the credentials. */
static void pull_child_stop(PullEntry *p) {
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        p->out.source = sd_event_source_disable_unref(p->out.source);
        p->err.source = sd_event_source_disable_unref(p->err.source);
        if (p->pidfd >= 0) {
                siginfo_t si;
                (void) pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
                while (waitid((idtype_t) P_PIDFD, (id_t) p->pidfd, &si, WEXITED) < 0 && errno == EINTR)
                        ;
        }
        p->pidfd = safe_close(p->pidfd);
        p->out.fd = safe_close(p->out.fd);
        p->err.fd = safe_close(p->err.fd);
        if (p->auth_dir) {
                int r = rm_rf(p->auth_dir);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove the image pull credentials in %s: %m", p->auth_dir);
                p->auth_dir = mfree(p->auth_dir);
        }
        if (p->running) {
                p->running = false;
                p->q->running--;
        }
}

static PullEntry *pull_entry_free(PullEntry *p) {
        if (!p)
                return NULL;
        pull_child_stop(p);
        while (p->waiters) {
                ImagePullRequest *r = p->waiters;
                p->waiters = r->next;
                free(r);
        }
        free(p->ref);
        if (p->auth_json)
                explicit_bzero(p->auth_json, strlen(p->auth_json));
        free(p->auth_json);
        free(p);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PullEntry *, pull_entry_free)

static void queue_unlink(ImagePullQueue *q, PullEntry *p) {
        for (PullEntry **i = &q->pulls; *i; i = &(*i)->next)
                if (*i == p) {
                        *i = p->next;
                        p->next = NULL;
                        return;
                }
}

/* Runs the next pulls from the loop: after a request, and when one finished. */
static void queue_kick(ImagePullQueue *q) {
        if (q->start_source)
                (void) sd_event_source_set_enabled(q->start_source, SD_EVENT_ONESHOT);
}

/* Hands the result to every waiter, one at a time (a done() may cancel a sibling still in the list), then frees p,
 * which is no longer in the queue. */
static void pull_finish(PullEntry *p, int r, const char *image_id, const char *message) {
        ImagePullQueue *q = p->q;
        uint64_t now = now_usec(q);
        uint64_t pull_usec = p->started_usec > 0 && now > p->started_usec ? now - p->started_usec : 0;

        queue_unlink(q, p);
        pull_child_stop(p);
        p->finished = true;
        while (p->waiters) {
                ImagePullRequest *w = p->waiters;
                p->waiters = w->next;
                ImagePullResult res = {
                        .image_id = r >= 0 ? image_id : NULL,
                        .message = r < 0 ? message : NULL,
                        .pull_usec = pull_usec,
                        .pull_waiting_usec = now > w->since_usec ? now - w->since_usec : 0,
                };
                image_pull_done_fn done = w->done;
                void *userdata = w->userdata;
                free(w);
                done(r, &res, userdata);
        }
        pull_entry_free(p);
        queue_kick(q);
}

/* Reads what is there. Returns false at EOF or on an error. */
static bool output_read(PullOutput *o, unsigned max_reads) {
        char buf[4096];
        for (unsigned i = 0; i < max_reads; i++) {
                ssize_t n = read(o->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                size_t take = MIN((size_t) n, IMAGE_PULL_OUTPUT_MAX - o->size);
                memcpy(o->buf + o->size, buf, take);
                o->size += take;
                o->buf[o->size] = 0;
        }
        return true;
}

static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        if (!output_read(userdata, 4))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* The last non-empty line of o, without a common/log.c stderr header ("E1123 08:14:01.123456 "). Cuts o's buffer. */
static const char *output_last_line(PullOutput *o) {
        static const char pattern[] = "L0000 00:00:00.000000 ";
        while (o->size > 0 && strchr(" \t\r\n", o->buf[o->size - 1]))
                o->buf[--o->size] = 0;
        char *nl = strrchr(o->buf, '\n');
        const char *line = nl ? nl + 1 : o->buf;
        for (size_t i = 0; i < sizeof pattern - 1; i++) {
                char c = line[i];
                bool ok = pattern[i] == 'L'   ? c != 0 && strchr("EWNID", c)
                          : pattern[i] == '0' ? c >= '0' && c <= '9'
                                              : c == pattern[i];
                if (!ok)
                        return line;
        }
        return line + sizeof pattern - 1;
}

/* A pull that succeeded may still have something to say (a registry mirror that failed, a node credentials file
 * that was skipped): the child's stderr lines, logged once each without their own log header. */
static void log_child_warnings(PullEntry *p) {
        char *line = p->err.buf;
        while (line && *line) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                const char *text = line;
                if (strlen(line) > 22 && strchr("EWNID", line[0]) && line[5] == ' ' && line[21] == ' ')
                        text = line + 22; /* "W1123 08:14:01.123456 " */
                if (!isempty(text))
                        log_warning("Image pull of %s: %s", p->ref, text);
                if (!nl)
                        break;
                *nl = '\n';
                line = nl + 1;
        }
}

static bool is_image_id(const char *s) {
        const char *hex = startswith(s, "sha256:");
        if (!hex || strlen(hex) != 64)
                return false;
        for (; *hex; hex++)
                if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
                        return false;
        return true;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PullEntry *p = userdata;
        ImagePullQueue *q = p->q;
        siginfo_t si = {};
        char msg[1024];

        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0) {
                int r = -errno;
                /* Not reaped: pull_child_stop() kills and reaps it. */
                snprintf(msg, sizeof msg, "%s: waiting for %s: %s", p->ref, q->ctl_path, strerror(-r));
                pull_finish(p, r, NULL, msg);
                return 0;
        }
        if (si.si_pid == 0)
                return 0; /* not yet */
        /* Reaped: nothing left to kill. The source goes before its fd (see preload.c). */
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        p->pidfd = safe_close(p->pidfd);

        /* It has exited, so all it wrote is in the pipes. Bounded: nothing else should hold their write ends. */
        (void) output_read(&p->out, 64);
        (void) output_read(&p->err, 64);
        if (si.si_code == CLD_EXITED && si.si_status == 0)
                log_child_warnings(p);
        const char *id = output_last_line(&p->out), *err = output_last_line(&p->err);
        if (si.si_code == CLD_EXITED && si.si_status == 0) {
                if (is_image_id(id)) {
                        /* id lives in p->out: copied before p goes. */
                        char image_id[80];
                        snprintf(image_id, sizeof image_id, "%s", id);
                        pull_finish(p, 0, image_id, NULL);
                        return 0;
                }
                snprintf(msg, sizeof msg, "%s: %s printed no image id", p->ref, q->ctl_path);
        } else if (!isempty(err))
                snprintf(msg, sizeof msg, "%s", err);
        else if (si.si_code == CLD_EXITED)
                snprintf(msg, sizeof msg, "%s: %s failed with exit status %d", p->ref, q->ctl_path, si.si_status);
        else
                snprintf(msg, sizeof msg, "%s: %s was killed by signal %s", p->ref, q->ctl_path,
                         strna(sigabbrev_np(si.si_status)));
        pull_finish(p, -EIO, NULL, msg);
        return 0;
}

/* A private directory holding auth.json, 0600: only root reads the credentials, and only while the child runs. */
static int write_auth_file(ImagePullQueue *q, PullEntry *p, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&p->auth_dir, "%s/nodelet-pull-XXXXXX", q->tmp_dir) < 0) {
                p->auth_dir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(p->auth_dir)) {
                r = -errno;
                p->auth_dir = mfree(p->auth_dir);
                return r;
        }
        r = path_join(&path, p->auth_dir, "auth.json");
        if (r < 0)
                return r;
        r = write_file_atomic(path, p->auth_json, strlen(p->auth_json), 0600, false);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* The node's registry settings for the child: the hosts directory, and the first node credentials file there is.
 * argv has room for four more. */
static size_t pull_child_registry_args(ImagePullQueue *q, char **argv, size_t n) {
        if (q->registry_config_dir) {
                argv[n++] = (char *) "--registry-config-dir";
                argv[n++] = q->registry_config_dir;
        }
        for (char **f = q->node_auth_files; f && *f; f++)
                if (access(*f, F_OK) == 0) {
                        argv[n++] = (char *) "--node-authfile";
                        argv[n++] = *f;
                        break;
                }
        return n;
}

/* Starts `nodeletctl images --root-dir R pull -q [--authfile F] [--registry-config-dir D] [--node-authfile N] REF`
 * for p. On failure what was made is undone by
 * pull_child_stop(). */
static int pull_child_start(ImagePullQueue *q, PullEntry *p) {
        _cleanup_free_ char *auth_path = NULL;
        int r;

        p->running = true;
        q->running++;
        if (p->auth_json) {
                r = write_auth_file(q, p, &auth_path);
                if (r < 0)
                        return r;
        }
        char *argv[15];
        size_t n = 0;
        argv[n++] = q->ctl_path;
        argv[n++] = (char *) "images";
        argv[n++] = (char *) "--root-dir";
        argv[n++] = q->root_dir;
        argv[n++] = (char *) "pull";
        argv[n++] = (char *) "-q";
        if (auth_path) {
                argv[n++] = (char *) "--authfile";
                argv[n++] = auth_path;
        }
        n = pull_child_registry_args(q, argv, n);
        /* A reference never starts with a dash (it parsed), but the child need not rely on that. */
        argv[n++] = (char *) "--";
        argv[n++] = p->ref;
        argv[n] = NULL;
        r = spawn_piped(q->ctl_path, argv, &p->pid, &p->pidfd, &p->out.fd, &p->err.fd);
        if (r < 0)
                return r;
        p->started_usec = now_usec(q);
        if ((r = sd_event_add_io(q->event, &p->exit_source, p->pidfd, EPOLLIN, on_child_exit, p)) < 0 ||
            (r = sd_event_add_io(q->event, &p->out.source, p->out.fd, EPOLLIN, on_child_output, &p->out)) < 0 ||
            (r = sd_event_add_io(q->event, &p->err.source, p->err.fd, EPOLLIN, on_child_output, &p->err)) < 0)
                return r;
        /* Output first when both are ready in one iteration (the exit handler drains the pipes anyway). */
        (void) sd_event_source_set_priority(p->exit_source, SD_EVENT_PRIORITY_NORMAL + 1);
        log_debug("Pulling %s with %s (pid %d)", p->ref, q->ctl_path, (int) p->pid);
        return 0;
}

static int on_start(sd_event_source *s, void *userdata) {
        ImagePullQueue *q = userdata;

        for (PullEntry *p = q->pulls; p && (q->max_parallel == 0 || q->running < q->max_parallel);) {
                PullEntry *next = p->next;
                if (!p->running) {
                        int r = pull_child_start(q, p);
                        if (r < 0) {
                                char msg[1024];
                                snprintf(msg, sizeof msg, "%s: cannot run %s: %s", p->ref, q->ctl_path, strerror(-r));
                                /* Frees p and kicks the queue again: the loop goes on from there. */
                                pull_finish(p, r, NULL, msg);
                                return 0;
                        }
                }
                p = next;
        }
        return 0;
}

/* Like the kubelet's keyring (credentialprovider.ReadDockerConfigJSONFile): its root directory, then the home. */
static int queue_registry_setup(ImagePullQueue *q, const ImagePullQueueOptions *o) {
        size_t n = 0;
        if (o->registry_config_dir && !(q->registry_config_dir = strdup(o->registry_config_dir)))
                return -ENOMEM;
        if (o->node_auth_files) {
                while (o->node_auth_files[n])
                        n++;
                q->node_auth_files = calloc(n + 1, sizeof(char *));
                RET_NULL_ENOMEM(q->node_auth_files);
                for (size_t i = 0; i < n; i++)
                        if (!(q->node_auth_files[i] = strdup(o->node_auth_files[i])))
                                return -ENOMEM;
                return 0;
        }
        q->node_auth_files = calloc(3, sizeof(char *));
        RET_NULL_ENOMEM(q->node_auth_files);
        if (asprintf(&q->node_auth_files[0], "%s/config.json", q->root_dir) < 0) {
                q->node_auth_files[0] = NULL;
                return -ENOMEM;
        }
        q->node_auth_files[1] = strdup("/root/.docker/config.json");
        RET_NULL_ENOMEM(q->node_auth_files[1]);
        return 0;
}

int image_pull_queue_new(sd_event *e, const ImagePullQueueOptions *o, ImagePullQueue **ret) {
        _cleanup_(image_pull_queue_freep) ImagePullQueue *q = NULL;
        int r;

        if (!e || !o || isempty(o->root_dir) || !ret)
                return -EINVAL;
        q = calloc(1, sizeof *q);
        RET_NULL_ENOMEM(q);
        q->event = e;
        q->max_parallel = o->max_parallel;
        q->ctl_path = strdup(o->ctl_path ?: getenv("NODELET_CTL") ?: NODELET_BINDIR "/nodeletctl");
        q->root_dir = strdup(o->root_dir);
        q->tmp_dir = strdup(o->tmp_dir ?: "/tmp");
        if (!q->ctl_path || !q->root_dir || !q->tmp_dir)
                return -ENOMEM;
        r = queue_registry_setup(q, o);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &q->start_source, on_start, q);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(q->start_source, SD_EVENT_OFF);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

ImagePullQueue *image_pull_queue_free(ImagePullQueue *q) {
        if (!q)
                return NULL;
        while (q->pulls) {
                PullEntry *p = q->pulls;
                q->pulls = p->next;
                pull_entry_free(p);
        }
        sd_event_source_disable_unref(q->start_source);
        free(q->ctl_path);
        free(q->root_dir);
        free(q->tmp_dir);
        free(q->registry_config_dir);
        strv_free(q->node_auth_files);
        free(q);
        return NULL;
}

int image_pull_queue_request(ImagePullQueue *q, const char *ref, const char *auth_json, image_pull_done_fn done,
                             void *userdata, ImagePullRequest **ret) {
        _cleanup_(pull_entry_freep) PullEntry *np = NULL;
        PullEntry *p = NULL, *last = NULL;

        if (!q || isempty(ref) || !done)
                return -EINVAL;
        for (PullEntry *i = q->pulls; i; i = i->next) {
                if (streq(i->ref, ref) && streq_ptr(i->auth_json, auth_json))
                        p = i;
                last = i;
        }
        ImagePullRequest *w = calloc(1, sizeof *w);
        RET_NULL_ENOMEM(w);
        if (!p) {
                np = calloc(1, sizeof *np);
                if (!np || !(np->ref = strdup(ref)) || (auth_json && !(np->auth_json = strdup(auth_json)))) {
                        free(w);
                        return -ENOMEM;
                }
                np->q = q;
                np->pidfd = np->out.fd = np->err.fd = -EBADF;
                p = np;
        }
        w->pull = p;
        w->done = done;
        w->userdata = userdata;
        w->since_usec = now_usec(q);
        /* Appended: the first caller comes first. */
        ImagePullRequest **tail = &p->waiters;
        while (*tail)
                tail = &(*tail)->next;
        *tail = w;
        if (np) {
                if (last)
                        last->next = TAKE_PTR(np);
                else
                        q->pulls = TAKE_PTR(np);
                queue_kick(q);
        }
        if (ret)
                *ret = w;
        return 0;
}

void image_pull_request_cancel(ImagePullRequest *r) {
        if (!r)
                return;
        PullEntry *p = r->pull;
        for (ImagePullRequest **i = &p->waiters; *i; i = &(*i)->next)
                if (*i == r) {
                        *i = r->next;
                        break;
                }
        free(r);
        if (p->waiters || p->finished)
                return; /* others still wait, or pull_finish() is delivering and frees p */
        if (p->running)
                log_debug("Image pull of %s no longer needed: stopping it", p->ref);
        ImagePullQueue *q = p->q;
        queue_unlink(q, p);
        pull_entry_free(p);
        queue_kick(q);
}

unsigned image_pull_queue_pending(const ImagePullQueue *q) {
        unsigned n = 0;
        for (const PullEntry *p = q ? q->pulls : NULL; p; p = p->next)
                n++;
        return n;
}

/* Adds the registries of one credentials map ({"host": {...}}) to auths, keeping entries already there. */
static int auths_merge(json_t *auths, const json_t *from) {
        const char *host;
        json_t *v;

        if (!json_is_object(from))
                return 0;
        json_object_foreach ((json_t *) from, host, v) {
                if (!json_is_object(v) || json_object_get(auths, host))
                        continue;
                if (json_object_set_new(auths, host, json_deep_copy(v)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* A Secret's value as JSON; NULL when it is missing or not JSON. */
static json_t *secret_json(const json_t *data, const char *key) {
        const json_t *v = json_object_get(data, key);
        json_t *j = NULL;
        if (!json_is_string(v) || jx_parse(json_string_value(v), json_string_length(v), key, &j, NULL) < 0)
                return NULL;
        return j;
}

int image_pull_auth_from_secrets(const json_t *pod, const json_t *secrets, char **ret) {
        _cleanup_json_ json_t *auths = json_object(), *out = NULL;
        const json_t *list = json_object_get(json_object_get(pod, "spec"), "imagePullSecrets");
        size_t i;
        json_t *ref;
        int r;

        RET_NULL_ENOMEM(auths);
        json_array_foreach (list, i, ref) {
                const json_t *name = json_object_get(ref, "name");
                if (!json_is_string(name))
                        continue;
                const json_t *data = json_object_get(json_object_get(secrets, json_string_value(name)), "data");
                if (!data) {
                        log_debug("imagePullSecrets: secret \"%s\" is not available, pulling without it",
                                  json_string_value(name));
                        continue;
                }
                _cleanup_json_ json_t *cfg = secret_json(data, ".dockerconfigjson"),
                                      *old = secret_json(data, ".dockercfg");
                r = auths_merge(auths, json_object_get(cfg, "auths"));
                if (r >= 0)
                        r = auths_merge(auths, old);
                if (r < 0)
                        return r;
        }
        if (json_object_size(auths) == 0) {
                *ret = NULL;
                return 0;
        }
        out = json_pack("{sO}", "auths", auths);
        RET_NULL_ENOMEM(out);
        *ret = jx_dump_compact(out);
        RET_NULL_ENOMEM(*ret);
        return 0;
}
