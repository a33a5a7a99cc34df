/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by registry.c and registry-auth.c only. */

#include "runtime/registry.h"

typedef struct AuthChallenge {
        char *scheme; /* "Bearer", "Basic" (compare case-insensitively) */
        char *realm;
        char *service;
} AuthChallenge;

void auth_challenge_done(AuthChallenge *c);
/* Parses one WWW-Authenticate challenge; -EBADMSG when it is not one. */
int auth_challenge_parse(const char *header, AuthChallenge *ret);
int pull_base64_encode(const char *in, char **ret);
