/* SPDX-License-Identifier: Apache-2.0 */
#include "common/frame-conn.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/log.h"

#define DEFAULT_MAX (1024U * 1024)
#define READ_CHUNK (64U * 1024)

struct FrameConn {
        int fd;
        sd_event_source *io, *defer;
        uint8_t *in; /* unparsed input: in[0..in_size) */
        size_t in_size, in_alloc, max_input;
        uint8_t *out; /* unsent output: out[out_start..out_end) */
        size_t out_start, out_end, out_alloc, max_output;
        bool paused, finishing, want_drained, eof, failed;
        bool dispatching, free_requested;
        const FrameConnOps *ops;
        void *userdata;
};

static void conn_destroy(FrameConn *c) {
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->defer);
        free(c->in);
        free(c->out);
        free(c);
}

FrameConn *frame_conn_free(FrameConn *c) {
        if (!c)
                return NULL;
        if (c->dispatching) {
                /* Inside one of our callbacks: the dispatcher frees it when the callback returned. */
                c->free_requested = true;
                c->failed = true;
                return NULL;
        }
        conn_destroy(c);
        return NULL;
}

static void conn_update_events(FrameConn *c) {
        uint32_t ev = 0;
        if (c->failed)
                return;
        if (!c->paused && !c->eof && !c->finishing)
                ev |= EPOLLIN;
        if (c->out_end > c->out_start)
                ev |= EPOLLOUT;
        if (ev == 0) {
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(c->io, ev);
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_ON);
}

/* Reports the end once; the owner may free the connection in the callback. */
static void conn_fail(FrameConn *c, int error) {
        if (c->failed)
                return;
        c->failed = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        c->ops->closed(c, error, c->userdata);
}

static int conn_flush(FrameConn *c) {
        while (c->out_end > c->out_start) {
                ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return -errno;
                c->out_start += (size_t) n;
        }
        c->out_start = c->out_end = 0;
        return 1; /* all written */
}

static void conn_parse(FrameConn *c) {
        size_t used = 0;
        while (!c->failed && !c->paused && used < c->in_size) {
                ssize_t n = c->ops->parse(c, c->in + used, c->in_size - used, c->userdata);
                if (c->failed)
                        return;
                if (n < 0) {
                        conn_fail(c, (int) n);
                        return;
                }
                if (n == 0)
                        break;
                used += (size_t) n;
        }
        if (used > 0) {
                memmove(c->in, c->in + used, c->in_size - used);
                c->in_size -= used;
        }
        if (c->in_size >= c->max_input && !c->paused)
                conn_fail(c, -EMSGSIZE); /* one frame larger than we accept */
}

static void conn_step(FrameConn *c, uint32_t revents) {
        int r;

        if (revents & EPOLLOUT || c->out_end > c->out_start || c->finishing) {
                r = conn_flush(c);
                if (r < 0) {
                        conn_fail(c, r);
                        return;
                }
                if (r > 0 && c->want_drained) {
                        c->want_drained = false;
                        if (c->ops->drained)
                                c->ops->drained(c, c->userdata);
                        if (c->failed)
                                return;
                }
                if (r > 0 && c->finishing) {
                        (void) shutdown(c->fd, SHUT_WR);
                        conn_fail(c, 0);
                        return;
                }
        }
        if (c->want_drained && c->out_end == c->out_start) {
                c->want_drained = false;
                if (c->ops->drained)
                        c->ops->drained(c, c->userdata);
                if (c->failed)
                        return;
        }
        if (c->in_size > 0)
                conn_parse(c);
        while (!c->failed && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->paused && !c->eof && !c->finishing) {
                if (c->in_alloc - c->in_size < READ_CHUNK) {
                        size_t a = MIN(c->in_size + READ_CHUNK, c->max_input);
                        if (a > c->in_alloc) {
                                uint8_t *p = realloc(c->in, a);
                                if (!p) {
                                        conn_fail(c, -ENOMEM);
                                        return;
                                }
                                c->in = p;
                                c->in_alloc = a;
                        }
                }
                if (c->in_alloc == c->in_size)
                        break;
                ssize_t n = recv(c->fd, c->in + c->in_size, c->in_alloc - c->in_size, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0) {
                        conn_fail(c, -errno);
                        return;
                }
                if (n == 0) {
                        c->eof = true;
                        break;
                }
                c->in_size += (size_t) n;
                conn_parse(c);
                if ((size_t) n < READ_CHUNK)
                        break;
        }
        if (c->failed)
                return;
        if (c->eof) {
                conn_fail(c, 0);
                return;
        }
        conn_update_events(c);
}

static void conn_dispatch(FrameConn *c, uint32_t revents) {
        c->dispatching = true;
        conn_step(c, revents);
        c->dispatching = false;
        if (c->free_requested)
                conn_destroy(c);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        conn_dispatch(userdata, revents);
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        conn_dispatch(userdata, 0);
        return 0;
}

int frame_conn_new(sd_event *e, int fd, size_t max_input, size_t max_output, const FrameConnOps *ops, void *userdata,
                   FrameConn **ret) {
        _cleanup_(frame_conn_freep) FrameConn *c = calloc(1, sizeof(*c));
        int r;

        RET_NULL_ENOMEM(c);
        c->fd = fd;
        c->max_input = max_input ?: DEFAULT_MAX;
        c->max_output = max_output ?: DEFAULT_MAX;
        c->ops = ops;
        c->userdata = userdata;
        r = sd_event_add_io(e, &c->io, fd, EPOLLIN, on_io, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->io, "frame-conn");
        r = sd_event_add_defer(e, &c->defer, on_defer, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        *ret = TAKE_PTR(c);
        return 0;
}

int frame_conn_feed(FrameConn *c, const void *data, size_t size) {
        if (size == 0)
                return 0;
        if (c->in_size + size > c->max_input)
                return -EMSGSIZE;
        if (c->in_size + size > c->in_alloc) {
                uint8_t *p = realloc(c->in, c->in_size + size);
                RET_NULL_ENOMEM(p);
                c->in = p;
                c->in_alloc = c->in_size + size;
        }
        memcpy(c->in + c->in_size, data, size);
        c->in_size += size;
        /* Parsed from the loop, never from inside the caller's call. */
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        return 0;
}

int frame_conn_write(FrameConn *c, const void *data, size_t size, bool force) {
        size_t n = c->out_end - c->out_start;

        if (c->failed || c->finishing)
                return -EPIPE;
        if (size == 0)
                return 0;
        if (!force && n > 0 && n + size > c->max_output) {
                c->want_drained = true;
                return -ENOBUFS;
        }
        if (c->out_start > 0) {
                memmove(c->out, c->out + c->out_start, n);
                c->out_start = 0;
                c->out_end = n;
        }
        if (n + size > c->out_alloc) {
                size_t a = MAX(n + size, MAX(c->out_alloc * 2, (size_t) 4096));
                uint8_t *p = realloc(c->out, a);
                RET_NULL_ENOMEM(p);
                c->out = p;
                c->out_alloc = a;
        }
        memcpy(c->out + c->out_end, data, size);
        c->out_end += size;
        if (!c->dispatching)
                conn_update_events(c);
        return 0;
}

size_t frame_conn_buffered(const FrameConn *c) {
        return c->out_end - c->out_start;
}

void frame_conn_pause(FrameConn *c, bool paused) {
        if (c->paused == paused || c->failed)
                return;
        c->paused = paused;
        if (!paused && c->in_size > 0)
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        if (!c->dispatching)
                conn_update_events(c);
}

void frame_conn_want_drained(FrameConn *c) {
        if (c->failed)
                return;
        c->want_drained = true;
        if (c->out_end == c->out_start)
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

void frame_conn_finish(FrameConn *c) {
        if (c->failed || c->finishing)
                return;
        c->finishing = true;
        /* The flush (and the closed(0) report) happen on the loop. */
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}
