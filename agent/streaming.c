/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's streaming endpoints (agent/streaming.h): one Session per upgraded connection, all on the loop.
 *
 * Channels: exec and attach use the remotecommand channels 0 stdin, 1 stdout, 2 stderr, 3 error (the final
 * metav1.Status), 4 resize, as WebSocket message prefixes or as SPDY streams of those streamType. The process's
 * stdout/stderr (or pty) are read only while the client connection has less than OUT_HIGH bytes queued: a slow
 * client makes the command block on its pipe rather than the daemon buffer its output. Client input (stdin, the
 * port-forward data) is paused the same way while more than IN_HIGH bytes wait for the process or the pod socket.
 *
 * Exit: like the kubelet (v4+ protocols), the error channel carries {"status":"Success"} or a Failure with reason
 * NonZeroExitCode and a cause ExitCode, from which kubectl takes its own exit code. Output the process wrote before
 * it exited is all sent before the status. */
#include "agent/streaming.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include <openssl/evp.h>

#include "common/json-util.h"
#include "common/log.h"
#include "common/spdy.h"
#include "common/websocket.h"
#include "runtime/logs.h"
#include "runtime/sandbox.h"

#define OUT_HIGH (256U * 1024)
#define IN_HIGH (256U * 1024)
#define READ_CHUNK (32U * 1024)
#define STREAM_CREATION_TIMEOUT_USEC (30 * USEC_PER_SEC) /* the kubelet's default streamCreationTimeout */
#define ATTACH_POLL_USEC (100 * USEC_PER_MSEC)
#define NETNS_STACK_SIZE (32 * 1024)

#define CH_STDIN 0
#define CH_STDOUT 1
#define CH_STDERR 2
#define CH_ERROR 3
#define CH_RESIZE 4
#define CH_CLOSE 255 /* v5.channel.k8s.io: "close this channel" (stdin EOF) */
#define N_CHANNELS 5

typedef enum SessionKind {
        SESSION_EXEC,
        SESSION_ATTACH,
        SESSION_PORTFORWARD,
} SessionKind;

typedef struct Session Session;

/* A readable fd whose data goes to one client channel: the process's stdout, stderr or pty. */
typedef struct OutSource {
        Session *s;
        int fd;
        unsigned channel;
        sd_event_source *src;
        bool done; /* EOF, or nothing more after the process exited */
} OutSource;

/* One port-forward connection to the pod: SPDY stream ids (data, error) or WebSocket channels. */
typedef struct Forward {
        Session *s;
        struct Forward *next;
        uint16_t port;
        char *request_id;
        uint32_t data_id, error_id; /* SPDY: stream ids (0 = not opened yet); WebSocket: channel numbers */
        int fd;
        sd_event_source *src;
        bool connecting, connected, failed;
        uint8_t *to_pod; /* client data not written to the socket yet */
        size_t to_pod_size;
        bool client_fin, shut_wr, pod_eof;
} Forward;

struct Session {
        Manager *m;
        SessionKind kind;
        HttpUpgrade *upgrade;
        WebSocket *ws;
        SpdySession *spdy;
        bool websocket;    /* else SPDY/3.1 */
        bool base64;       /* base64.channel.k8s.io: text messages, channel as a digit */
        unsigned version;  /* remotecommand protocol: 1 (channel.k8s.io) .. 5; 0 for port-forward */
        const char *proto; /* the negotiated protocol name (static) */
        bool freeing;

        /* request */
        char *namespace_, *pod, *uid, *container;
        char **command;
        bool want_stdin, want_stdout, want_stderr, tty;

        /* exec/attach over SPDY: the stream of each channel (0 = not opened) */
        uint32_t channel_id[N_CHANNELS];
        bool started;
        sd_event_source *timeout;

        /* exec */
        pid_t pid;
        int pidfd;
        sd_event_source *exit_src;
        int stdin_fd; /* pipe or dup of the pty master; -EBADF when stdin is not wanted */
        sd_event_source *stdin_src;
        uint8_t *stdin_buf;
        size_t stdin_size;
        bool stdin_eof;
        int pty;
        OutSource out[2];
        bool exited, status_sent;
        int exit_code;
        char *resize_buf; /* SPDY resize stream: JSON objects back to back */
        size_t resize_size;

        /* attach */
        char *pod_uid;
        int log_fd;
        char *log_pending;
        size_t log_pending_size;
        sd_event_source *log_timer;

        /* port-forward */
        Forward *forwards;
};

/* ---- helpers ---- */

static bool query_flag(HttpRequest *r, const char *a, const char *b) {
        const char *v = http_request_query(r, a) ?: http_request_query(r, b);
        return v && (streq(v, "1") || streq(v, "true") || streq(v, ""));
}

static CState *lookup_container(Manager *m, const char *ns, const char *pod, const char *uid, const char *container,
                                PodWorker **ret_w) {
        *ret_w = NULL;
        for (PodWorker *w = m->workers; w; w = w->next) {
                if (!streq(w->pod->namespace_, ns) || !streq(w->pod->name, pod))
                        continue;
                if (!isempty(uid) && !streq(w->pod->uid, uid))
                        continue;
                *ret_w = w;
                for (size_t i = 0; container && i < w->n_init + w->n_app; i++) {
                        CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                        if (streq(cs->spec->name, container))
                                return cs;
                }
                return NULL;
        }
        return NULL;
}

static size_t session_buffered(Session *s) {
        if (s->ws)
                return websocket_buffered(s->ws);
        if (s->spdy)
                return spdy_session_buffered(s->spdy);
        return 0;
}

static void session_want_drained(Session *s) {
        if (s->ws)
                websocket_want_drained(s->ws);
        else if (s->spdy)
                spdy_session_want_drained(s->spdy);
}

static void session_pause_input(Session *s, bool paused) {
        if (s->ws)
                websocket_pause(s->ws, paused);
        else if (s->spdy)
                spdy_session_pause(s->spdy, paused);
}

/* Sends data on a channel (WebSocket: channel number; SPDY: stream id). fin closes an SPDY stream. */
static int session_send(Session *s, uint32_t target, const void *data, size_t size, bool fin) {
        if (s->spdy)
                return target == 0 ? 0 : spdy_session_send(s->spdy, target, data, size, fin);
        if (!s->ws || (size == 0 && fin))
                return 0;
        if (s->base64) {
                _cleanup_free_ char *enc = malloc(4 * ((size + 2) / 3) + 1);
                char ch = (char) ('0' + target);
                if (!enc)
                        return -ENOMEM;
                int n = EVP_EncodeBlock((unsigned char *) enc, data, (int) size);
                return websocket_send2(s->ws, WS_OP_TEXT, &ch, 1, enc, (size_t) n);
        }
        uint8_t ch = (uint8_t) target;
        return websocket_send2(s->ws, WS_OP_BINARY, &ch, 1, data, size);
}

static uint32_t channel_target(Session *s, unsigned channel) {
        return s->spdy ? s->channel_id[channel] : channel;
}

/* Ends the connection; the transport's closed callback frees the session. */
static void session_close(Session *s) {
        if (s->ws)
                websocket_close(s->ws, WS_CLOSE_NORMAL, NULL);
        else if (s->spdy)
                spdy_session_close(s->spdy);
}

/* The kubelet's metav1.Status for the error channel (v4+). exit_code < 0: an error message instead. */
static void session_send_status(Session *s, int exit_code, const char *message) {
        _cleanup_json_ json_t *st = NULL;
        _cleanup_free_ char *text = NULL;

        if (s->status_sent)
                return;
        s->status_sent = true;
        if (s->version < 4) {
                /* v1-v3: plain text, only on failure. */
                char buf[512];
                if (exit_code == 0)
                        return;
                if (exit_code > 0)
                        (void) snprintf(buf, sizeof(buf), "command terminated with non-zero exit code: exit status %d",
                                        exit_code);
                (void) session_send(s, channel_target(s, CH_ERROR), exit_code > 0 ? buf : message,
                                    strlen(exit_code > 0 ? buf : message), false);
                return;
        }
        if (exit_code == 0)
                st = json_pack("{s:{}, s:s}", "metadata", "status", "Success");
        else if (exit_code > 0) {
                char msg[1024], code[16];
                size_t n = 0;
                msg[0] = 0;
                for (char **c = s->command; c && *c && n < sizeof(msg) - 64; c++)
                        n += (size_t) snprintf(msg + n, sizeof(msg) - n, "%s%s", n ? " " : "", *c);
                _cleanup_free_ char *full = NULL;
                if (asprintf(&full,
                             "command terminated with non-zero exit code: error executing command [%s], "
                             "exit code %d",
                             msg, exit_code) < 0)
                        return;
                (void) snprintf(code, sizeof(code), "%d", exit_code);
                st = json_pack("{s:{}, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}}", "metadata", "status", "Failure", "message",
                               full, "reason", "NonZeroExitCode", "details", "causes", "reason", "ExitCode", "message",
                               code);
        } else
                st = json_pack("{s:{}, s:s, s:s, s:s, s:i}", "metadata", "status", "Failure", "message", message,
                               "reason", "InternalError", "code", 500);
        if (!st || !(text = json_dumps(st, JSON_COMPACT)))
                return;
        (void) session_send(s, channel_target(s, CH_ERROR), text, strlen(text), false);
}

static void forward_free(Forward *f) {
        sd_event_source_disable_unref(f->src);
        safe_close(f->fd);
        free(f->request_id);
        free(f->to_pod);
        free(f);
}

static void session_free(Session *s) {
        if (!s)
                return;
        s->freeing = true;
        s->timeout = sd_event_source_disable_unref(s->timeout);
        s->exit_src = sd_event_source_disable_unref(s->exit_src);
        s->stdin_src = sd_event_source_disable_unref(s->stdin_src);
        s->log_timer = sd_event_source_disable_unref(s->log_timer);
        for (size_t i = 0; i < ELEMENTSOF(s->out); i++) {
                sd_event_source_disable_unref(s->out[i].src);
                safe_close(s->out[i].fd);
        }
        if (s->pidfd >= 0) {
                int code;
                /* The client left while the command runs: the kubelet's exec ends with the stream too. */
                if (exec_process_exit_code(s->pidfd, &code) == -EAGAIN)
                        exec_process_abandon(s->m->event, s->pid, TAKE_FD(s->pidfd));
                else
                        s->pidfd = safe_close(s->pidfd);
        }
        safe_close(s->stdin_fd);
        safe_close(s->pty);
        safe_close(s->log_fd);
        while (s->forwards) {
                Forward *f = s->forwards;
                s->forwards = f->next;
                forward_free(f);
        }
        websocket_free(s->ws);
        spdy_session_free(s->spdy);
        http_upgrade_close(s->upgrade);
        free(s->namespace_);
        free(s->pod);
        free(s->uid);
        free(s->container);
        strv_free(s->command);
        free(s->stdin_buf);
        free(s->resize_buf);
        free(s->pod_uid);
        free(s->log_pending);
        free(s);
}

/* ---- exec: output ---- */

static void session_maybe_finish(Session *s);

static void out_read(OutSource *o) {
        Session *s = o->s;
        uint8_t buf[READ_CHUNK];

        while (!o->done) {
                if (session_buffered(s) >= OUT_HIGH) {
                        /* Resumed from drained(). */
                        (void) sd_event_source_set_enabled(o->src, SD_EVENT_OFF);
                        session_want_drained(s);
                        return;
                }
                ssize_t n = read(o->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        if (s->exited)
                                o->done =
                                        true; /* what the process wrote is read; a background child's is not waited for */
                        break;
                }
                if (n <= 0) { /* EOF, or EIO on a pty whose other side is closed */
                        o->done = true;
                        break;
                }
                bool wanted = o->channel == CH_STDOUT ? s->want_stdout : s->want_stderr;
                if (wanted && channel_target(s, o->channel) != 0 &&
                    session_send(s, channel_target(s, o->channel), buf, (size_t) n, false) < 0) {
                        o->done = true;
                        break;
                }
        }
        if (o->done)
                o->src = sd_event_source_disable_unref(o->src);
        if (s->exited)
                session_maybe_finish(s);
}

static int on_out(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        out_read(userdata);
        return 0;
}

static void session_resume_output(Session *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->out); i++)
                if (s->out[i].src) {
                        (void) sd_event_source_set_enabled(s->out[i].src, SD_EVENT_ON);
                        if (s->exited)
                                out_read(&s->out[i]);
                }
}

static void session_maybe_finish(Session *s) {
        if (!s->exited || s->status_sent)
                return;
        for (size_t i = 0; i < ELEMENTSOF(s->out); i++)
                if (s->out[i].fd >= 0 && !s->out[i].done)
                        return;
        session_send_status(s, s->exit_code, NULL);
        if (s->spdy)
                for (unsigned c = 0; c < N_CHANNELS; c++)
                        if (c != CH_STDIN && c != CH_RESIZE && s->channel_id[c])
                                (void) spdy_session_send(s->spdy, s->channel_id[c], NULL, 0, true);
        session_close(s);
}

static int on_exit_event(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Session *s = userdata;
        int code;

        if (exec_process_exit_code(s->pidfd, &code) < 0)
                return 0;
        s->exit_src = sd_event_source_disable_unref(s->exit_src); /* before its fd: see preload.c */
        s->pidfd = safe_close(s->pidfd);
        s->exited = true;
        s->exit_code = code;
        for (size_t i = 0; i < ELEMENTSOF(s->out); i++)
                if (s->out[i].src)
                        out_read(&s->out[i]);
        session_maybe_finish(s);
        return 0;
}

/* ---- exec: input ---- */

static void stdin_flush(Session *s) {
        while (s->stdin_size > 0 && s->stdin_fd >= 0) {
                ssize_t n = write(s->stdin_fd, s->stdin_buf, s->stdin_size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) { /* the process closed its stdin: drop what it will never read */
                        s->stdin_size = 0;
                        s->stdin_fd = safe_close(s->stdin_fd);
                        break;
                }
                memmove(s->stdin_buf, s->stdin_buf + n, s->stdin_size - (size_t) n);
                s->stdin_size -= (size_t) n;
        }
        if (s->stdin_src)
                (void) sd_event_source_set_enabled(s->stdin_src, s->stdin_size > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        session_pause_input(s, s->stdin_size >= IN_HIGH);
        if (s->stdin_size == 0 && s->stdin_eof && s->stdin_fd >= 0 && !s->tty) {
                s->stdin_src = sd_event_source_disable_unref(s->stdin_src);
                s->stdin_fd = safe_close(s->stdin_fd);
        }
}

static int on_stdin_writable(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        stdin_flush(userdata);
        return 0;
}

/* The process's stdin (exec's pipe, attach's copy of the container's): written when the client sends, paused while
 * nothing is queued, and what arrived before the process existed goes first. */
static int session_stdin_start(Session *s) {
        int r = sd_event_add_io(s->m->event, &s->stdin_src, s->stdin_fd, EPOLLOUT, on_stdin_writable, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->stdin_src, SD_EVENT_OFF);
        stdin_flush(s);
        return 0;
}

static void session_stdin(Session *s, const uint8_t *data, size_t size) {
        /* Over SPDY kubectl writes stdin as soon as its stdin stream exists, before the other streams that the
         * start waits for: kept until the process is there (input pauses at IN_HIGH as usual). */
        if (size == 0 || (s->stdin_fd < 0 && (s->started || !s->want_stdin)))
                return;
        uint8_t *p = realloc(s->stdin_buf, s->stdin_size + size);
        if (!p)
                return;
        memcpy(p + s->stdin_size, data, size);
        s->stdin_buf = p;
        s->stdin_size += size;
        stdin_flush(s);
}

static void session_stdin_eof(Session *s) {
        s->stdin_eof = true;
        stdin_flush(s);
}

static void session_resize(Session *s, const uint8_t *data, size_t size) {
        json_error_t err;
        _cleanup_json_ json_t *j = json_loadb((const char *) data, size, 0, &err);
        json_int_t w = 0, h = 0;

        if (!j || s->pty < 0 || json_unpack(j, "{s:I, s:I}", "Width", &w, "Height", &h) < 0 || w < 0 || h < 0)
                return;
        (void) exec_pty_resize(s->pty, (unsigned) w, (unsigned) h);
}

/* SPDY's resize stream carries the objects back to back. */
static void session_resize_stream(Session *s, const uint8_t *data, size_t size) {
        char *p = realloc(s->resize_buf, s->resize_size + size);
        if (!p || s->resize_size + size > 64 * 1024)
                return;
        memcpy(p + s->resize_size, data, size);
        s->resize_buf = p;
        s->resize_size += size;
        for (;;) {
                json_error_t err;
                json_t *j = json_loadb(s->resize_buf, s->resize_size, JSON_DISABLE_EOF_CHECK, &err);
                if (!j)
                        return;
                size_t used = (size_t) err.position;
                json_decref(j);
                session_resize(s, (const uint8_t *) s->resize_buf, used);
                memmove(s->resize_buf, s->resize_buf + used, s->resize_size - used);
                s->resize_size -= used;
                while (s->resize_size > 0 && strchr(" \t\r\n", s->resize_buf[0])) {
                        memmove(s->resize_buf, s->resize_buf + 1, --s->resize_size);
                }
                if (s->resize_size == 0)
                        return;
        }
}

/* ---- exec: start ---- */

static int out_setup(Session *s, size_t i, int fd, unsigned channel) {
        s->out[i] = (OutSource){.s = s, .fd = fd, .channel = channel};
        int r = sd_event_add_io(s->m->event, &s->out[i].src, fd, EPOLLIN, on_out, &s->out[i]);
        if (r >= 0)
                (void) sd_event_source_set_description(s->out[i].src, "exec-output");
        return r;
}

static int exec_start(Session *s) {
        PodWorker *w;
        CState *cs = lookup_container(s->m, s->namespace_, s->pod, s->uid, s->container, &w);
        _cleanup_close_ int child_in = -EBADF, child_out = -EBADF, child_err = -EBADF;
        ErrorBuf e = {};
        int p[2], r;

        if (!cs || !cs->current || cs->phase != CS_RUNNING) {
                char msg[600];
                (void) snprintf(msg, sizeof(msg), "container %s is not running in pod %s/%s", s->container,
                                s->namespace_, s->pod);
                session_send_status(s, -1, msg);
                return -ESRCH;
        }
        if (s->tty) {
                r = exec_pty_open(&s->pty, &child_out);
                if (r < 0)
                        return r;
                child_in = fcntl(child_out, F_DUPFD_CLOEXEC, 3);
                child_err = fcntl(child_out, F_DUPFD_CLOEXEC, 3);
                if (child_in < 0 || child_err < 0)
                        return -errno;
                if (s->want_stdin && (s->stdin_fd = fcntl(s->pty, F_DUPFD_CLOEXEC, 3)) < 0)
                        return -errno;
        } else {
                if (s->want_stdin) {
                        if (pipe2(p, O_CLOEXEC) < 0)
                                return -errno;
                        child_in = p[0];
                        s->stdin_fd = p[1];
                        (void) fcntl(s->stdin_fd, F_SETFL, O_NONBLOCK);
                }
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                child_out = p[1];
                (void) fcntl(p[0], F_SETFL, O_NONBLOCK);
                r = out_setup(s, 0, p[0], CH_STDOUT);
                if (r < 0)
                        return r;
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                child_err = p[1];
                (void) fcntl(p[0], F_SETFL, O_NONBLOCK);
                r = out_setup(s, 1, p[0], CH_STDERR);
                if (r < 0)
                        return r;
        }
        if (s->tty) {
                int master = fcntl(s->pty, F_DUPFD_CLOEXEC, 3);
                if (master < 0)
                        return -errno;
                r = out_setup(s, 0, master, CH_STDOUT);
                if (r < 0)
                        return r;
        }
        ExecSpec spec = {.argv = s->command};
        r = container_exec_spawn(cs->current, &spec, child_in, child_out, child_err, s->tty, &s->pid, &s->pidfd, &e);
        if (r < 0) {
                char msg[1200];
                (void) snprintf(msg, sizeof(msg), "error executing command in container: %s", error_message(&e, r));
                session_send_status(s, -1, msg);
                return r;
        }
        r = sd_event_add_io(s->m->event, &s->exit_src, s->pidfd, EPOLLIN, on_exit_event, s);
        if (r < 0)
                return r;
        /* Output first, then the exit, within one iteration. */
        (void) sd_event_source_set_priority(s->exit_src, SD_EVENT_PRIORITY_NORMAL + 1);
        if (s->stdin_fd >= 0)
                return session_stdin_start(s);
        return 0;
}

/* ---- attach: the container's output, followed in its log from the current end ---- */

static bool attach_container_running(Session *s) {
        PodWorker *w = manager_find_worker(s->m, s->pod_uid);
        for (size_t i = 0; w && i < w->n_init + w->n_app; i++) {
                CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                if (streq(cs->spec->name, s->container))
                        return cs->phase == CS_RUNNING;
        }
        return false;
}

static int on_attach_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;
        bool running = attach_container_running(s);
        char buf[READ_CHUNK];

        while (session_buffered(s) < OUT_HIGH) {
                ssize_t n = read(s->log_fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                char *p = realloc(s->log_pending, s->log_pending_size + (size_t) n);
                if (!p)
                        break;
                memcpy(p + s->log_pending_size, buf, (size_t) n);
                s->log_pending = p;
                s->log_pending_size += (size_t) n;
                size_t off = 0;
                for (;;) {
                        char *nl = memchr(s->log_pending + off, '\n', s->log_pending_size - off);
                        if (!nl)
                                break;
                        size_t len = (size_t) (nl - (s->log_pending + off)) + 1;
                        CriLogLine l;
                        if (cri_log_parse_line(s->log_pending + off, len, &l) >= 0) {
                                unsigned ch = l.stream == LOG_STREAM_STDERR && !s->tty ? CH_STDERR : CH_STDOUT;
                                bool wanted = ch == CH_STDOUT ? s->want_stdout : s->want_stderr;
                                if (wanted && channel_target(s, ch) != 0) {
                                        (void) session_send(s, channel_target(s, ch), l.content, l.content_size, false);
                                        if (!l.partial)
                                                (void) session_send(s, channel_target(s, ch), "\n", 1, false);
                                }
                        }
                        off += len;
                }
                memmove(s->log_pending, s->log_pending + off, s->log_pending_size - off);
                s->log_pending_size -= off;
        }
        if (!running) {
                /* The container is gone: like the kubelet's attach, the stream ends with it. */
                s->log_timer = sd_event_source_disable_unref(s->log_timer);
                session_send_status(s, 0, NULL);
                if (s->spdy)
                        for (unsigned c = CH_STDOUT; c <= CH_ERROR; c++)
                                if (s->channel_id[c])
                                        (void) spdy_session_send(s->spdy, s->channel_id[c], NULL, 0, true);
                session_close(s);
                return 0;
        }
        (void) sd_event_source_set_time_relative(src, ATTACH_POLL_USEC);
        (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

/* stdin (and the pty for resize) of an attach: a copy of the fd the shim keeps (container_attach_stdin()), written
 * with the same backpressure as exec's stdin. Output still comes from the log, which has the pty's output too. */
static int attach_stdin_start(Session *s, CState *cs) {
        char msg[600];
        int fd, r;

        if (s->want_stdin && !cs->spec->stdin_) {
                /* containerd would drop the input silently; a clear refusal tells the user why nothing arrives. */
                (void) snprintf(msg, sizeof(msg),
                                "container %s in pod %s/%s was not created with stdin: true; its stdin cannot be "
                                "attached",
                                s->container, s->namespace_, s->pod);
                session_send_status(s, -1, msg);
                return -ENXIO;
        }
        if (!s->want_stdin && !(s->tty && cs->spec->tty))
                return 0;
        r = container_attach_stdin(cs->current, &fd);
        if (r == -EPIPE || (r == -ENXIO && !s->want_stdin))
                return 0; /* stdinOnce and already used: like containerd, the input goes nowhere */
        if (r < 0) {
                (void) snprintf(msg, sizeof(msg), "attaching to the stdin of container %s in pod %s/%s: %s",
                                s->container, s->namespace_, s->pod, strerror(-r));
                session_send_status(s, -1, msg);
                return r;
        }
        if (container_tty(cs->current)) {
                s->pty = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (s->pty < 0) {
                        safe_close(fd);
                        return -errno;
                }
                /* The tty's input closes with nothing but the container (stdin_flush keeps it at EOF). */
                s->tty = true;
        }
        if (!s->want_stdin) {
                safe_close(fd);
                return 0;
        }
        s->stdin_fd = fd;
        return session_stdin_start(s);
}

static int attach_start(Session *s) {
        PodWorker *w;
        CState *cs = lookup_container(s->m, s->namespace_, s->pod, s->uid, s->container, &w);
        const char *path;
        int r;

        if (!cs || !cs->current || cs->phase != CS_RUNNING) {
                char msg[600];
                (void) snprintf(msg, sizeof(msg), "container %s is not running in pod %s/%s", s->container,
                                s->namespace_, s->pod);
                session_send_status(s, -1, msg);
                return -ESRCH;
        }
        r = attach_stdin_start(s, cs);
        if (r < 0)
                return r;
        path = container_log_path(cs->current);
        if (!path || !(s->pod_uid = strdup(w->pod->uid)))
                return -ENOENT;
        s->log_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->log_fd < 0)
                return -errno;
        (void) lseek(s->log_fd, 0, SEEK_END);
        return sd_event_add_time_relative(s->m->event, &s->log_timer, CLOCK_MONOTONIC, ATTACH_POLL_USEC, 0,
                                          on_attach_timer, s);
}

static void session_start(Session *s) {
        int r;

        if (s->started)
                return;
        s->started = true;
        s->timeout = sd_event_source_disable_unref(s->timeout);
        r = s->kind == SESSION_EXEC ? exec_start(s) : attach_start(s);
        if (r < 0) {
                log_debug_errno(r, "exec/attach in %s/%s %s failed: %m", s->namespace_, s->pod, s->container);
                if (!s->status_sent)
                        session_send_status(s, -1, strerror(-r));
                session_close(s);
        }
}

/* ---- port-forward ---- */

typedef struct NetnsSocket {
        int nsfd;
        int fd;
        int error;
} NetnsSocket;

/* Runs in a CLONE_VM|CLONE_FILES|CLONE_VFORK child: the socket it creates lives in the pod's network namespace and
 * appears in our fd table, and no thread of the daemon ever switches namespace. */
static int netns_socket_child(void *userdata) {
        NetnsSocket *a = userdata;
        if (setns(a->nsfd, CLONE_NEWNET) < 0) {
                a->error = errno;
                _exit(1);
        }
        a->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (a->fd < 0)
                a->error = errno;
        _exit(0);
}

static int socket_in_netns(const char *netns_path, int *ret) {
        if (!netns_path) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                *ret = fd;
                return 0;
        }
        _cleanup_close_ int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0)
                return -errno;
        NetnsSocket a = {.nsfd = nsfd, .fd = -EBADF};
        _Alignas(16) char stack[NETNS_STACK_SIZE];
#if defined(__SANITIZE_ADDRESS__)
        __asan_unpoison_memory_region(stack, sizeof(stack));
#endif
        sigset_t all, saved;
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid_t pid = clone(netns_socket_child, stack + sizeof(stack), CLONE_VM | CLONE_FILES | CLONE_VFORK, &a);
        int clone_errno = errno;
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (pid < 0)
                return -clone_errno;
        siginfo_t si;
        while (waitid(P_PID, (id_t) pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
                ;
        if (a.fd < 0)
                return -(a.error ?: EIO);
        *ret = a.fd;
        return 0;
}

static void forward_update_events(Forward *f);

/* The kubelet's wording: "error forwarding port 80 to pod …: dial 127.0.0.1: connection refused". */
static void forward_error(Forward *f, const char *what, int err) {
        Session *s = f->s;
        char msg[512];
        f->failed = true;
        (void) snprintf(msg, sizeof(msg), "error forwarding port %u to pod %s: %s%s%s", f->port, s->pod, strempty(what),
                        what ? ": " : "", strerror(err));
        if (s->spdy) {
                if (f->error_id) {
                        (void) spdy_session_send(s->spdy, f->error_id, msg, strlen(msg), true);
                        f->error_id = 0;
                }
                if (f->data_id) {
                        (void) spdy_session_send(s->spdy, f->data_id, NULL, 0, true);
                        f->data_id = 0;
                }
        } else
                (void) session_send(s, f->error_id, msg, strlen(msg), false);
        f->src = sd_event_source_disable_unref(f->src);
        f->fd = safe_close(f->fd);
}

static void forward_remove(Forward *f) {
        Session *s = f->s;
        for (Forward **p = &s->forwards; *p; p = &(*p)->next)
                if (*p == f) {
                        *p = f->next;
                        break;
                }
        forward_free(f);
}

/* Both directions ended: the SPDY streams are closed and the socket goes. */
static void forward_maybe_done(Forward *f) {
        Session *s = f->s;
        if (!(f->pod_eof || f->failed) || !(f->client_fin || f->failed))
                return;
        if (s->spdy) {
                if (f->error_id)
                        (void) spdy_session_send(s->spdy, f->error_id, NULL, 0, true);
                forward_remove(f);
                return;
        }
        /* WebSocket: one connection per port for the session's life; closing it ends the session. */
        forward_remove(f);
        if (!s->forwards)
                session_close(s);
}

static void forward_flush(Forward *f) {
        Session *s = f->s;
        while (f->connected && f->to_pod_size > 0) {
                ssize_t n = send(f->fd, f->to_pod, f->to_pod_size, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        f->to_pod_size = 0;
                        f->pod_eof = true;
                        break;
                }
                memmove(f->to_pod, f->to_pod + n, f->to_pod_size - (size_t) n);
                f->to_pod_size -= (size_t) n;
        }
        size_t total = 0;
        for (Forward *g = s->forwards; g; g = g->next)
                total += g->to_pod_size;
        session_pause_input(s, total >= IN_HIGH);
        if (f->connected && f->client_fin && f->to_pod_size == 0 && !f->shut_wr) {
                f->shut_wr = true;
                (void) shutdown(f->fd, SHUT_WR);
        }
}

static void forward_read(Forward *f) {
        Session *s = f->s;
        uint8_t buf[READ_CHUNK];
        while (!f->pod_eof) {
                if (session_buffered(s) >= OUT_HIGH) {
                        session_want_drained(s);
                        break;
                }
                ssize_t n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        f->pod_eof = true;
                        if (s->spdy && f->data_id) {
                                (void) spdy_session_send(s->spdy, f->data_id, NULL, 0, true);
                                f->data_id = 0;
                        }
                        break;
                }
                if (session_send(s, f->data_id, buf, (size_t) n, false) < 0) {
                        f->pod_eof = true;
                        break;
                }
        }
}

static int on_forward_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Forward *f = userdata;
        if (f->connecting) {
                int err = 0;
                socklen_t l = sizeof(err);
                if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err != 0) {
                        /* The kubelet's message for a port nothing listens on. */
                        forward_error(f, "dial 127.0.0.1", err);
                        forward_maybe_done(f);
                        return 0;
                }
                f->connecting = false;
                f->connected = true;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                forward_read(f);
        forward_flush(f);
        if (f->pod_eof || f->failed) {
                forward_maybe_done(f);
                return 0;
        }
        forward_update_events(f);
        return 0;
}

static void forward_update_events(Forward *f) {
        uint32_t ev = 0;
        if (!f->src)
                return;
        if (f->connecting || f->to_pod_size > 0)
                ev |= EPOLLOUT;
        if (!f->connecting && !f->pod_eof && session_buffered(f->s) < OUT_HIGH)
                ev |= EPOLLIN;
        if (ev == 0) {
                (void) sd_event_source_set_enabled(f->src, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(f->src, ev);
        (void) sd_event_source_set_enabled(f->src, SD_EVENT_ON);
}

static void forward_connect(Forward *f) {
        Session *s = f->s;
        PodWorker *w;
        _cleanup_free_ char *netns = NULL;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
        int r;

        (void) lookup_container(s->m, s->namespace_, s->pod, s->uid, NULL, &w);
        if (!w || !w->network_ready) {
                forward_error(f, NULL, w ? EAGAIN : ENOENT);
                return;
        }
        if (!w->pod->host_network && sandbox_ns_path(s->m->runtime, w->pod->uid, NAMESPACE_NET, &netns) < 0) {
                forward_error(f, "network namespace", ENOENT);
                return;
        }
        r = socket_in_netns(netns, &f->fd);
        if (r < 0) {
                forward_error(f, "socket", -r);
                return;
        }
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(f->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                forward_error(f, "dial 127.0.0.1", errno);
                return;
        }
        f->connecting = true;
        r = sd_event_add_io(s->m->event, &f->src, f->fd, EPOLLOUT, on_forward_io, f);
        if (r < 0) {
                forward_error(f, NULL, -r);
                return;
        }
        (void) sd_event_source_set_description(f->src, "port-forward");
}

static Forward *forward_new(Session *s, uint16_t port, const char *request_id) {
        Forward *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        *f = (Forward){.s = s, .port = port, .fd = -EBADF, .next = s->forwards};
        if (request_id && !(f->request_id = strdup(request_id))) {
                free(f);
                return NULL;
        }
        s->forwards = f;
        return f;
}

static void forward_client_data(Forward *f, const uint8_t *data, size_t size, bool fin) {
        if (size > 0 && !f->failed && !f->shut_wr) {
                uint8_t *p = realloc(f->to_pod, f->to_pod_size + size);
                if (!p)
                        return;
                memcpy(p + f->to_pod_size, data, size);
                f->to_pod = p;
                f->to_pod_size += size;
        }
        if (fin)
                f->client_fin = true;
        forward_flush(f);
        if (f->failed || (f->client_fin && f->pod_eof)) {
                forward_maybe_done(f);
                return;
        }
        forward_update_events(f);
}

/* ---- SPDY ---- */

static int spdy_on_stream(SpdySession *sp, uint32_t id, char *const *headers, bool fin, void *userdata) {
        Session *s = userdata;
        const char *type = spdy_headers_get(headers, "streamtype");
        int r;

        if (!type)
                return -EINVAL;
        if (s->kind == SESSION_PORTFORWARD) {
                const char *port = spdy_headers_get(headers, "port"), *rid = spdy_headers_get(headers, "requestid");
                char *end;
                unsigned long p = port ? strtoul(port, &end, 10) : 0;
                if (!port || *end || p == 0 || p > 65535)
                        return -EINVAL;
                r = spdy_session_reply(sp, id, NULL, false);
                if (r < 0)
                        return r;
                Forward *f = NULL;
                for (Forward *g = s->forwards; g; g = g->next)
                        if (streq_ptr(g->request_id, rid ?: "") && g->port == p)
                                f = g;
                if (!f && !(f = forward_new(s, (uint16_t) p, rid ?: "")))
                        return -ENOMEM;
                if (streq(type, "error")) {
                        f->error_id = id;
                        /* The client never writes on it. */
                        return 0;
                }
                if (!streq(type, "data"))
                        return -EINVAL;
                f->data_id = id;
                forward_connect(f);
                forward_maybe_done(f);
                return 0;
        }
        static const char *const names[N_CHANNELS] = {"stdin", "stdout", "stderr", "error", "resize"};
        unsigned c;
        for (c = 0; c < N_CHANNELS; c++)
                if (streq(type, names[c]))
                        break;
        if (c == N_CHANNELS || s->channel_id[c])
                return -EINVAL;
        r = spdy_session_reply(sp, id, NULL, false);
        if (r < 0)
                return r;
        s->channel_id[c] = id;
        /* No FIN of ours on stdin and resize although we never write there: spdystream may then take the stream
         * for closed while kubectl is still writing stdin, which is cut short (kubelet does not close them either). */
        /* Like the kubelet: start once every expected stream is there. */
        bool ready = s->channel_id[CH_ERROR] && (!s->want_stdin || s->channel_id[CH_STDIN]) &&
                     (!s->want_stdout || s->channel_id[CH_STDOUT]) &&
                     (!s->want_stderr || s->tty || s->channel_id[CH_STDERR]) &&
                     (!s->tty || s->version < 3 || s->channel_id[CH_RESIZE]);
        if (s->version < 2) /* channel.k8s.io has no error stream */
                ready = (!s->want_stdin || s->channel_id[CH_STDIN]) && (!s->want_stdout || s->channel_id[CH_STDOUT]);
        if (ready)
                session_start(s);
        return 0;
}

static void spdy_on_data(SpdySession *sp, uint32_t id, const uint8_t *data, size_t size, bool fin, void *userdata) {
        Session *s = userdata;
        if (s->kind == SESSION_PORTFORWARD) {
                for (Forward *f = s->forwards; f; f = f->next)
                        if (f->data_id == id) {
                                forward_client_data(f, data, size, fin);
                                return;
                        }
                return;
        }
        if (id == s->channel_id[CH_STDIN]) {
                session_stdin(s, data, size);
                if (fin)
                        session_stdin_eof(s);
        } else if (id == s->channel_id[CH_RESIZE])
                session_resize_stream(s, data, size);
}

static void spdy_on_reset(SpdySession *sp, uint32_t id, uint32_t status, void *userdata) {
        Session *s = userdata;
        for (Forward *f = s->forwards; f; f = f->next)
                if (f->data_id == id || f->error_id == id) {
                        if (f->data_id == id)
                                f->data_id = 0;
                        if (f->error_id == id)
                                f->error_id = 0;
                        f->client_fin = f->pod_eof = true;
                        forward_maybe_done(f);
                        return;
                }
        if (id == s->channel_id[CH_STDIN])
                session_stdin_eof(s);
}

static void session_drained(Session *s) {
        session_resume_output(s);
        for (Forward *f = s->forwards; f; f = f->next)
                forward_update_events(f);
        if (s->log_timer && s->kind == SESSION_ATTACH)
                (void) sd_event_source_set_enabled(s->log_timer, SD_EVENT_ONESHOT);
}

static void spdy_on_closed(SpdySession *sp, int error, void *userdata) {
        session_free(userdata);
}

static void spdy_on_drained(SpdySession *sp, void *userdata) {
        session_drained(userdata);
}

static const SpdySessionOps spdy_ops = {
        .stream = spdy_on_stream,
        .data = spdy_on_data,
        .reset = spdy_on_reset,
        .closed = spdy_on_closed,
        .drained = spdy_on_drained,
};

/* ---- WebSocket ---- */

static void ws_on_message(WebSocket *ws, uint8_t opcode, const uint8_t *data, size_t size, void *userdata) {
        Session *s = userdata;
        _cleanup_free_ uint8_t *decoded = NULL;
        unsigned ch;

        if (size == 0)
                return;
        if (s->base64) {
                if (data[0] < '0' || data[0] > '9')
                        return;
                ch = (unsigned) (data[0] - '0');
                decoded = malloc(size);
                if (!decoded)
                        return;
                int n = EVP_DecodeBlock(decoded, data + 1, (int) size - 1);
                if (n < 0)
                        return;
                /* EVP_DecodeBlock() counts the padding as zero bytes. */
                for (size_t k = size; k > 1 && data[k - 1] == '='; k--)
                        n--;
                data = decoded;
                size = (size_t) n;
        } else {
                ch = data[0];
                data++;
                size--;
        }
        if (s->kind == SESSION_PORTFORWARD) {
                for (Forward *f = s->forwards; f; f = f->next)
                        if (f->data_id == ch) {
                                forward_client_data(f, data, size, false);
                                return;
                        }
                return;
        }
        if (ch == CH_STDIN)
                session_stdin(s, data, size);
        else if (ch == CH_RESIZE)
                session_resize(s, data, size);
        else if (ch == CH_CLOSE && s->version >= 5 && size >= 1 && data[0] == CH_STDIN)
                session_stdin_eof(s);
}

static void ws_on_closed(WebSocket *ws, int error, unsigned code, void *userdata) {
        session_free(userdata);
}

static void ws_on_drained(WebSocket *ws, void *userdata) {
        session_drained(userdata);
}

static const WebSocketOps ws_ops = {
        .message = ws_on_message,
        .closed = ws_on_closed,
        .drained = ws_on_drained,
};

/* ---- upgrade ---- */

static int on_stream_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;
        /* The kubelet's streamCreationTimeout: the client never opened the streams it asked for. */
        session_send_status(s, -1, "timed out waiting for client to create streams");
        session_close(s);
        return 0;
}

static void on_upgraded(HttpUpgrade *u, int fd, const void *extra, size_t extra_size, void *userdata) {
        Session *s = userdata;
        int r;

        if (s->spdy || s->ws)
                return;
        s->upgrade = u;
        if (s->websocket)
                r = websocket_new(s->m->event, fd, NULL, &ws_ops, s, &s->ws);
        else
                r = spdy_session_new(s->m->event, fd, NULL, &spdy_ops, s, &s->spdy);
        if (r < 0)
                goto fail;
        if (s->ws)
                r = websocket_feed(s->ws, extra, extra_size);
        else
                r = spdy_session_feed(s->spdy, extra, extra_size);
        if (r < 0)
                goto fail;
        if (s->ws) {
                if (s->kind == SESSION_PORTFORWARD) {
                        /* Each port's data and error channels first carry the port number (little endian). */
                        for (Forward *f = s->forwards; f; f = f->next) {
                                uint8_t le[2] = {(uint8_t) f->port, (uint8_t) (f->port >> 8)};
                                (void) session_send(s, f->data_id, le, 2, false);
                                (void) session_send(s, f->error_id, le, 2, false);
                                forward_connect(f);
                        }
                        for (Forward *f = s->forwards, *next; f; f = next) {
                                next = f->next;
                                if (f->failed)
                                        forward_maybe_done(f);
                        }
                } else
                        session_start(s);
        } else if (s->kind != SESSION_PORTFORWARD)
                (void) sd_event_add_time_relative(s->m->event, &s->timeout, CLOCK_MONOTONIC,
                                                  STREAM_CREATION_TIMEOUT_USEC, 0, on_stream_timeout, s);
        return;
fail:
        log_debug_errno(r, "Streaming connection setup failed: %m");
        session_free(s);
}

static void on_upgrade_abort(HttpUpgrade *u, void *userdata) {
        Session *s = userdata;
        s->upgrade = NULL; /* the server closes it */
        session_free(s);
}

/* ---- handlers ---- */

/* Access check of the kubelet API (AUTH HOOK): the authentication/authorization of the secure port runs before
 * these handlers are dispatched (agent/server.c); the kubelet authorizes /exec, /attach and /portForward as
 * verb "create" (POST) or "get" on nodes/proxy. Nothing more to check here. */

static const char *const ws_exec_protocols[] = {
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "v3.channel.k8s.io",
        "v2.channel.k8s.io",
        "channel.k8s.io",
        "base64.channel.k8s.io",
        NULL,
};
static const char *const spdy_exec_protocols[] = {
        "v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", NULL,
};
static const char *const ws_portforward_protocols[] = {"v4.channel.k8s.io", "portforward.k8s.io", NULL};

static unsigned protocol_version(const char *p) {
        if (startswith(p, "v5."))
                return 5;
        if (startswith(p, "v4."))
                return 4;
        if (startswith(p, "v3."))
                return 3;
        if (startswith(p, "v2."))
                return 2;
        return 1;
}

_printf_(3, 4) static int respond_error(HttpRequest *r, unsigned status, const char *fmt, ...) {
        char msg[700];
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return http_respond_text(r, status, msg);
}

static int handle_stream(HttpRequest *r, Manager *m, SessionKind kind) {
        const char *rest = http_request_path_rest(r);
        _cleanup_free_ char **parts = NULL; /* borrowing from copy */
        _cleanup_free_ char *copy = strdup(rest);
        const char *upgrade = http_request_header(r, "Upgrade");
        size_t n = 0;
        int q;

        if (!copy)
                return -ENOMEM;
        parts = calloc(5, sizeof(char *));
        if (!parts)
                return -ENOMEM;
        for (char *t = strtok(copy, "/"); t && n < 4; t = strtok(NULL, "/"))
                parts[n++] = t;
        bool pf = kind == SESSION_PORTFORWARD;
        if ((pf && (n < 2 || n > 3)) || (!pf && (n < 3 || n > 4))) {
                return http_respond_text(r, 400,
                                         pf ? "usage: /portForward/{namespace}/{pod}[/{uid}]\n"
                                            : "usage: /{exec,attach}/{namespace}/{pod}[/{uid}]/{container}\n");
        }
        Session *s = calloc(1, sizeof(*s));
        if (!s) {
                return -ENOMEM;
        }
        *s = (Session){.m = m, .kind = kind, .pidfd = -EBADF, .stdin_fd = -EBADF, .pty = -EBADF, .log_fd = -EBADF};
        for (size_t i = 0; i < ELEMENTSOF(s->out); i++)
                s->out[i].fd = -EBADF;
        s->namespace_ = strdup(parts[0]);
        s->pod = strdup(parts[1]);
        if (!pf) {
                s->container = strdup(parts[n - 1]);
                s->uid = n == 4 ? strdup(parts[2]) : NULL;
        } else
                s->uid = n == 3 ? strdup(parts[2]) : NULL;
        if (!s->namespace_ || !s->pod || (!pf && !s->container)) {
                session_free(s);
                return -ENOMEM;
        }

        PodWorker *w;
        CState *cs = lookup_container(m, s->namespace_, s->pod, s->uid, s->container, &w);
        if (!w) {
                q = respond_error(r, 404, "pod %s/%s not found\n", s->namespace_, s->pod);
                session_free(s);
                return q;
        }
        if (!pf && !cs) {
                q = respond_error(r, 400, "container %s is not valid for pod %s\n", s->container, s->pod);
                session_free(s);
                return q;
        }
        if (!pf) {
                s->want_stdin = query_flag(r, "input", "stdin");
                s->want_stdout = query_flag(r, "output", "stdout");
                s->want_stderr = query_flag(r, "error", "stderr");
                s->tty = query_flag(r, "tty", "tty");
                if (kind == SESSION_EXEC) {
                        q = http_request_query_strv(r, "command", &s->command);
                        if (q < 0) {
                                session_free(s);
                                return q;
                        }
                        if (!s->command[0]) {
                                session_free(s);
                                return http_respond_text(r, 400, "you must specify at least 1 command\n");
                        }
                }
                if (!s->want_stdin && !s->want_stdout && !s->want_stderr) {
                        session_free(s);
                        return http_respond_text(r, 400, "you must specify at least 1 of stdin, stdout, stderr\n");
                }
        }

        if (upgrade && strcasecmp(upgrade, "websocket") == 0) {
                const char *key = http_request_header(r, "Sec-WebSocket-Key");
                _cleanup_strv_free_ char **offered = NULL;
                _cleanup_free_ char *joined = NULL;
                char accept[29];
                size_t len = 0;
                q = http_request_header_strv(r, "Sec-WebSocket-Protocol", &offered);
                if (q < 0) {
                        session_free(s);
                        return q;
                }
                for (char **o = offered; *o; o++)
                        len += strlen(*o) + 1;
                joined = calloc(1, len + 1);
                if (!joined) {
                        session_free(s);
                        return -ENOMEM;
                }
                for (char **o = offered; *o; o++) {
                        strcat(joined, *o);
                        strcat(joined, ",");
                }
                const char *proto = websocket_pick_protocol(joined, pf ? ws_portforward_protocols : ws_exec_protocols);
                if (websocket_accept_key(key, accept) < 0 || (!proto && !isempty(joined))) {
                        /* Also newer kubectl's "SPDY/3.1+portforward.k8s.io" tunnel: an upgrade failure makes it
                         * fall back to SPDY. */
                        session_free(s);
                        return http_respond_text(r, 400, "unable to upgrade: no supported protocol offered\n");
                }
                s->proto = proto ? proto : (pf ? "portforward.k8s.io" : "channel.k8s.io");
                s->base64 = startswith(s->proto, "base64.");
                s->version = pf ? 0 : protocol_version(s->proto);
                if (pf) {
                        /* One data (2i) and error (2i+1) channel per port of ?ports=80,8080 (or repeated). */
                        _cleanup_strv_free_ char **ports = NULL;
                        unsigned i = 0;
                        q = http_request_query_strv(r, "ports", &ports);
                        if (q >= 0 && !ports[0]) { /* the API server's spelling */
                                strv_free(ports);
                                ports = NULL;
                                q = http_request_query_strv(r, "port", &ports);
                        }
                        if (q < 0) {
                                session_free(s);
                                return q;
                        }
                        for (char **p = ports; *p; p++)
                                for (char *t = strtok(*p, ","); t; t = strtok(NULL, ",")) {
                                        char *end;
                                        unsigned long port = strtoul(t, &end, 10);
                                        Forward *f;
                                        if (*end || port == 0 || port > 65535 || i >= 64) {
                                                session_free(s);
                                                return http_respond_text(r, 400, "invalid port\n");
                                        }
                                        if (!(f = forward_new(s, (uint16_t) port, NULL))) {
                                                session_free(s);
                                                return -ENOMEM;
                                        }
                                        f->data_id = 2 * i;
                                        f->error_id = 2 * i + 1;
                                        i++;
                                }
                        if (i == 0) {
                                session_free(s);
                                return http_respond_text(r, 400, "query parameter \"port\" is required\n");
                        }
                }
                if ((q = http_request_add_header(r, "Sec-WebSocket-Accept", accept)) < 0 ||
                    (proto && (q = http_request_add_header(r, "Sec-WebSocket-Protocol", proto)) < 0)) {
                        session_free(s);
                        return q;
                }
                s->websocket = true;
                q = http_respond_upgrade(r, "websocket", on_upgraded, on_upgrade_abort, s);
                if (q < 0)
                        session_free(s);
                return q;
        }
        if (upgrade && strcasecmp(upgrade, "SPDY/3.1") == 0) {
                _cleanup_strv_free_ char **offered = NULL;
                const char *proto = NULL;
                q = http_request_header_strv(r, "X-Stream-Protocol-Version", &offered);
                if (q < 0) {
                        session_free(s);
                        return q;
                }
                /* The client's first protocol we support (httpstream.Handshake). */
                for (char **o = offered; *o && !proto; o++)
                        for (char *t = strtok(*o, ", "); t && !proto; t = strtok(NULL, ", ")) {
                                if (pf && streq(t, "portforward.k8s.io"))
                                        proto = "portforward.k8s.io";
                                for (const char *const *p = spdy_exec_protocols; !pf && *p && !proto; p++)
                                        if (streq(t, *p))
                                                proto = *p;
                        }
                if (!proto && offered[0]) {
                        session_free(s);
                        return http_respond_text(r, 403, "unable to upgrade: unable to negotiate protocol\n");
                }
                s->version = pf ? 0 : proto ? protocol_version(proto) : 1;
                s->proto = proto;
                if (proto && (q = http_request_add_header(r, "X-Stream-Protocol-Version", proto)) < 0) {
                        session_free(s);
                        return q;
                }
                q = http_respond_upgrade(r, "SPDY/3.1", on_upgraded, on_upgrade_abort, s);
                if (q < 0)
                        session_free(s);
                return q;
        }
        session_free(s);
        return http_respond_text(r, 400, "Upgrade request required\n");
}

static int handle_exec(HttpRequest *r, void *userdata) {
        return handle_stream(r, userdata, SESSION_EXEC);
}

static int handle_attach(HttpRequest *r, void *userdata) {
        return handle_stream(r, userdata, SESSION_ATTACH);
}

static int handle_portforward(HttpRequest *r, void *userdata) {
        return handle_stream(r, userdata, SESSION_PORTFORWARD);
}

int streaming_add_routes(Manager *m, HttpServer *s) {
        int r;
        if ((r = http_server_add_route(s, NULL, "/exec/", handle_exec, m)) < 0 ||
            (r = http_server_add_route(s, NULL, "/attach/", handle_attach, m)) < 0 ||
            (r = http_server_add_route(s, NULL, "/portForward/", handle_portforward, m)) < 0)
                return r;
        return 0;
}
