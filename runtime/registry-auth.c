/* SPDX-License-Identifier: Apache-2.0 */
/* Registry credentials and challenges: docker config.json / .dockercfg lookup (the kubelet's credentialprovider
 * keyring rules, simplified: a key matches by host and path prefix, the longest path wins), WWW-Authenticate parsing
 * (RFC 7235 auth-params, as the distribution token spec uses them), and the --platform syntax. */

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <strings.h>

#include "common/json-util.h"
#include "runtime/registry-internal.h"

int pull_platform_parse(const char *s, char **ret_os, char **ret_arch, char **ret_variant, ErrorBuf *e) {
        _cleanup_free_ char *copy = strdup(s);
        RET_NULL_ENOMEM(copy);
        char *os = copy, *arch = strchr(copy, '/'), *variant = NULL;
        if (arch) {
                *arch++ = 0;
                variant = strchr(arch, '/');
                if (variant)
                        *variant++ = 0;
        }
        if (isempty(os) || isempty(arch) || (variant && (isempty(variant) || strchr(variant, '/'))))
                return error_set(e, -EINVAL, "invalid platform '%s': expected os/arch[/variant], e.g. linux/arm64/v8",
                                 s);
        _cleanup_free_ char *o = strdup(os), *a = strdup(arch), *v = variant ? strdup(variant) : NULL;
        if (!o || !a || (variant && !v))
                return -ENOMEM;
        *ret_os = TAKE_PTR(o);
        *ret_arch = TAKE_PTR(a);
        *ret_variant = TAKE_PTR(v);
        return 0;
}

/* Docker Hub is one registry under several names; config.json files name it by its v1 index URL. */
static const char *canonical_host(const char *host) {
        if (streq(host, "index.docker.io") || streq(host, "registry-1.docker.io") || streq(host, "registry.docker.io"))
                return "docker.io";
        return host;
}

static int base64_decode(const char *in, char **ret, size_t *ret_size) {
        size_t n = strlen(in);
        while (n > 0 && isspace((unsigned char) in[n - 1]))
                n--;
        if (n % 4 != 0 || n > 64 * 1024)
                return -EINVAL;
        _cleanup_free_ char *out = malloc(n / 4 * 3 + 1);
        RET_NULL_ENOMEM(out);
        int k = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) in, (int) n);
        if (k < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts the padding as zero bytes */
        for (size_t i = n; i > 0 && in[i - 1] == '=' && k > 0; i--)
                k--;
        out[k] = 0;
        *ret_size = (size_t) k;
        *ret = TAKE_PTR(out);
        return 0;
}

int pull_base64_encode(const char *in, char **ret) {
        size_t n = strlen(in);
        _cleanup_free_ char *out = malloc((n + 2) / 3 * 4 + 1);
        RET_NULL_ENOMEM(out);
        (void) EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) in, (int) n);
        *ret = TAKE_PTR(out);
        return 0;
}

/* "https://registry.example.com:5000/v1/" → host "registry.example.com:5000", path "" */
static int split_key(const char *key, char **ret_host, char **ret_path) {
        const char *k = startswith(key, "https://") ?: startswith(key, "http://") ?: key;
        _cleanup_free_ char *copy = strdup(k);
        RET_NULL_ENOMEM(copy);
        size_t n = strlen(copy);
        while (n > 0 && copy[n - 1] == '/')
                copy[--n] = 0;
        if (endswith(copy, "/v1") || endswith(copy, "/v2"))
                copy[n - 3] = 0;
        char *slash = strchr(copy, '/');
        _cleanup_free_ char *path = strdup(slash ? slash + 1 : "");
        RET_NULL_ENOMEM(path);
        if (slash)
                *slash = 0;
        *ret_host = TAKE_PTR(copy);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int entry_credentials(const json_t *entry, const char *what, char **ret_user, char **ret_pass, ErrorBuf *e) {
        const char *auth = NULL, *user = NULL, *pass = NULL;
        char path[512];
        snprintf(path, sizeof path, "%s", what);
        if (!json_is_object(entry))
                return error_set(e, -EINVAL, "%s: expected an object, got %s", what, json_type_name(entry));
        int r = jx_get_string(entry, "auth", path, false, &auth, e);
        if (r >= 0)
                r = jx_get_string(entry, "username", path, false, &user, e);
        if (r >= 0)
                r = jx_get_string(entry, "password", path, false, &pass, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *u = NULL, *p = NULL;
        if (!isempty(auth)) {
                _cleanup_free_ char *plain = NULL;
                size_t size;
                if (base64_decode(auth, &plain, &size) < 0 || strlen(plain) != size)
                        return error_set(e, -EINVAL, "%s.auth: not valid base64", what);
                char *colon = strchr(plain, ':');
                if (!colon)
                        return error_set(e, -EINVAL, "%s.auth: expected base64 of \"username:password\"", what);
                *colon = 0;
                u = strdup(plain);
                p = strdup(colon + 1);
        } else if (user) {
                u = strdup(user);
                p = strdup(strempty(pass));
        } else
                return 0;
        if (!u || !p)
                return -ENOMEM;
        *ret_user = TAKE_PTR(u);
        *ret_pass = TAKE_PTR(p);
        return 0;
}

int pull_auth_lookup(const char *auth_json, const char *host, const char *path, char **ret_user, char **ret_pass,
                     ErrorBuf *e) {
        _cleanup_json_ json_t *j = NULL;
        int r = jx_parse(auth_json, strlen(auth_json), "auth file", &j, e);
        if (r < 0)
                return r;
        if (!json_is_object(j))
                return error_set(e, -EINVAL, "auth file: expected an object, got %s", json_type_name(j));
        json_t *auths = json_object_get(j, "auths");
        const char *prefix = "auths";
        if (!auths) {
                auths = j; /* the older .dockercfg: the map itself */
                prefix = "";
        } else if (!json_is_object(auths))
                return error_set(e, -EINVAL, "auth file: auths: expected an object, got %s", json_type_name(auths));
        const char *key, *best = NULL;
        size_t best_len = 0;
        json_t *v, *best_entry = NULL;
        json_object_foreach (auths, key, v) {
                _cleanup_free_ char *khost = NULL, *kpath = NULL;
                r = split_key(key, &khost, &kpath);
                if (r < 0)
                        return r;
                if (!streq(canonical_host(khost), canonical_host(host)))
                        continue;
                size_t l = strlen(kpath);
                if (l > 0 && !(strncmp(path, kpath, l) == 0 && (path[l] == 0 || path[l] == '/')))
                        continue;
                if (!best || l > best_len) {
                        best = key;
                        best_len = l;
                        best_entry = v;
                }
        }
        *ret_user = *ret_pass = NULL;
        if (!best)
                return 0;
        char what[512];
        snprintf(what, sizeof what, "auth file: %s[\"%s\"]", prefix, best);
        return entry_credentials(best_entry, what, ret_user, ret_pass, e);
}

void auth_challenge_done(AuthChallenge *c) {
        free(c->scheme);
        free(c->realm);
        free(c->service);
        *c = (AuthChallenge){};
}

/* challenge = scheme 1*SP auth-param *( "," auth-param ); auth-param = token "=" ( token / quoted-string ) */
int auth_challenge_parse(const char *header, AuthChallenge *ret) {
        _cleanup_(auth_challenge_done) AuthChallenge c = {};
        const char *p = header;
        while (*p == ' ')
                p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
                return -EBADMSG;
        c.scheme = strndup(p, n);
        RET_NULL_ENOMEM(c.scheme);
        p += n;
        for (;;) {
                while (*p == ' ' || *p == ',' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                size_t kl = strcspn(p, "= ,");
                if (kl == 0 || p[kl] != '=')
                        return -EBADMSG;
                _cleanup_free_ char *k = strndup(p, kl), *v = NULL;
                RET_NULL_ENOMEM(k);
                p += kl + 1;
                if (*p == '"') {
                        v = malloc(strlen(p) + 1);
                        RET_NULL_ENOMEM(v);
                        size_t o = 0;
                        for (p++; *p && *p != '"'; p++) {
                                if (*p == '\\' && p[1])
                                        p++;
                                v[o++] = *p;
                        }
                        if (*p != '"')
                                return -EBADMSG;
                        p++;
                        v[o] = 0;
                } else {
                        size_t vl = strcspn(p, " ,");
                        v = strndup(p, vl);
                        RET_NULL_ENOMEM(v);
                        p += vl;
                }
                if (strcasecmp(k, "realm") == 0)
                        free(c.realm), c.realm = TAKE_PTR(v);
                else if (strcasecmp(k, "service") == 0)
                        free(c.service), c.service = TAKE_PTR(v);
        }
        *ret = c;
        c = (AuthChallenge){};
        return 0;
}
