/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* libcurl's multi interface driven by sd-event: every transfer (API watches, registry pulls) runs on the daemon's
 * loop, no thread per request. Sockets become IO sources, curl's timer a time source.
 *
 * Callers build a CURL easy handle (curl_glue_make() sets the defaults: no signals, keepalive, a connect timeout),
 * install their own WRITEFUNCTION to stream the body as it arrives, and hand it over with curl_glue_add(). When the
 * transfer ends, done() runs on the loop with curl's result; the handle is then owned by the caller again (it is
 * detached from the multi handle before done() runs, so done() may free or re-add it). */

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

typedef struct CurlGlue CurlGlue;
typedef void (*curl_glue_done_t)(CurlGlue *g, CURL *c, CURLcode result, void *userdata);

int curl_glue_new(sd_event *e, CurlGlue **ret);
/* Aborts every transfer still running, without calling done(); their easy handles are cleaned up. */
CurlGlue *curl_glue_free(CurlGlue *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(CurlGlue *, curl_glue_free)

int curl_glue_make(const char *url, CURL **ret);
int curl_glue_add(CurlGlue *g, CURL *c, curl_glue_done_t done, void *userdata);
/* Cancels a transfer: detaches and cleans up the handle; done() is not called. */
void curl_glue_cancel(CurlGlue *g, CURL *c);
size_t curl_glue_n_running(CurlGlue *g);

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)
