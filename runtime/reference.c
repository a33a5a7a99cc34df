/* SPDX-License-Identifier: Apache-2.0 */
/* Reference normalization as in github.com/distribution/reference (ParseNormalizedNamed + TagNameOnly), which is
 * what the kubelet and containerd use: Docker Hub is the default registry, single-component Hub names live under
 * library/, and a name without tag or digest means :latest. */

#include <ctype.h>
#include <stdio.h>

#include "runtime/image-store.h"
#include "runtime/reference.h"

#define NAME_TOTAL_MAX 255 /* distribution/reference: NameTotalLengthMax */
#define TAG_MAX 128

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]+ */
static bool path_component_valid(const char *s, size_t n) {
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                if (s[i] == '.')
                        j = i + 1;
                else if (s[i] == '_')
                        j = (i + 1 < n && s[i + 1] == '_') ? i + 2 : i + 1;
                else if (s[i] == '-')
                        while (j < n && s[j] == '-')
                                j++;
                else
                        return false;
                if (j >= n || !is_lower_alnum(s[j]))
                        return false;
                i = j;
        }
        return true;
}

/* domain := host[:port]; host := domain-component('.'domain-component)* | '[' IPv6 ']' */
static bool domain_valid(const char *s, size_t n) {
        const char *colon = NULL;
        size_t hn = n;
        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!isxdigit((unsigned char) *p) && *p != ':')
                                return false;
                hn = (size_t) (close - s) + 1;
                if (hn < n && s[hn] != ':')
                        return false;
        } else {
                colon = memchr(s, ':', n);
                if (colon)
                        hn = (size_t) (colon - s);
                if (hn == 0)
                        return false;
                size_t start = 0;
                for (size_t i = 0; i <= hn; i++) {
                        if (i < hn && s[i] != '.') {
                                if (!isalnum((unsigned char) s[i]) && s[i] != '-')
                                        return false;
                                continue;
                        }
                        /* one domain-component: alnum at both ends, '-' allowed inside */
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        start = i + 1;
                }
        }
        if (hn < n) {
                /* ":port" */
                if (hn + 1 >= n)
                        return false;
                for (size_t i = hn + 1; i < n; i++)
                        if (!isdigit((unsigned char) s[i]))
                                return false;
        }
        return true;
}

/* tag := [\w][\w.-]{0,127} */
static bool tag_valid(const char *t) {
        size_t n = strlen(t);
        if (n == 0 || n > TAG_MAX || !(isalnum((unsigned char) t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

/* digest := algorithm ':' encoded; sha256 must be 64 lowercase hex (image-spec descriptor.md). */
static bool digest_valid(const char *d) {
        const char *colon = strchr(d, ':');
        if (!colon || colon == d)
                return false;
        for (const char *p = d; p < colon; p++)
                if (!isalnum((unsigned char) *p) && !strchr("+._-", *p))
                        return false;
        if (!isalpha((unsigned char) d[0]))
                return false;
        const char *enc = colon + 1;
        if (strncmp(d, "sha256:", 7) == 0)
                return strlen(enc) == 64 && strspn(enc, "0123456789abcdef") == 64;
        return strlen(enc) >= 32 && strspn(enc, "0123456789abcdefABCDEF") == strlen(enc);
}

static bool is_hex64(const char *s) {
        return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int validate_path(const char *ref, const char *path, ErrorBuf *e) {
        for (const char *p = path; *p; p++)
                if (isupper((unsigned char) *p))
                        return error_set(e, -EINVAL, "invalid reference '%s': repository name must be lowercase", ref);
        const char *c = path;
        for (;;) {
                const char *slash = strchr(c, '/');
                size_t n = slash ? (size_t) (slash - c) : strlen(c);
                if (!path_component_valid(c, n))
                        return error_set(e, -EINVAL,
                                         "invalid reference '%s': invalid repository path component '%.*s' "
                                         "(lowercase letters, digits and single separators . _ __ - only)",
                                         ref, (int) n, c);
                if (!slash)
                        return 0;
                c = slash + 1;
        }
}

int reference_normalize(const char *ref, char **ret, ErrorBuf *e) {
        if (isempty(ref))
                return error_set(e, -EINVAL, "invalid reference: empty");
        /* Like ParseNormalizedNamed: a bare 64-hex string is an image id, never a repository name. */
        if (is_hex64(ref))
                return error_set(e, -EINVAL,
                                 "invalid reference '%s': cannot specify 64-byte hexadecimal strings as a name", ref);
        _cleanup_free_ char *name = strdup(ref);
        RET_NULL_ENOMEM(name);
        char *digest = strchr(name, '@');
        if (digest) {
                *digest++ = 0;
                if (!digest_valid(digest))
                        return error_set(e, -EINVAL, "invalid reference '%s': invalid digest '%s'", ref, digest);
        }
        char *tag = NULL, *last_slash = strrchr(name, '/');
        tag = strrchr(last_slash ? last_slash : name, ':');
        if (tag) {
                *tag++ = 0;
                if (!tag_valid(tag))
                        return error_set(e, -EINVAL, "invalid reference '%s': invalid tag '%s'", ref, tag);
        }
        if (isempty(name))
                return error_set(e, -EINVAL, "invalid reference '%s': missing repository name", ref);

        /* splitDockerDomain: the first component is a registry when it has a '.' or ':', is "localhost", or has
         * uppercase letters (which a repository path cannot have). */
        const char *domain = "docker.io", *path = name;
        _cleanup_free_ char *domain_buf = NULL, *path_buf = NULL;
        char *slash = strchr(name, '/');
        if (slash) {
                size_t dn = (size_t) (slash - name);
                bool is_domain = memchr(name, '.', dn) || memchr(name, ':', dn) ||
                                 (dn == STRLEN("localhost") && strncmp(name, "localhost", dn) == 0);
                for (size_t i = 0; !is_domain && i < dn; i++)
                        is_domain = isupper((unsigned char) name[i]);
                if (is_domain) {
                        if (!domain_valid(name, dn))
                                return error_set(e, -EINVAL, "invalid reference '%s': invalid registry '%.*s'", ref,
                                                 (int) dn, name);
                        domain_buf = strndup(name, dn);
                        RET_NULL_ENOMEM(domain_buf);
                        domain = streq(domain_buf, "index.docker.io") ? "docker.io" : domain_buf;
                        path = slash + 1;
                }
        }
        if (streq(domain, "docker.io") && !strchr(path, '/')) {
                if (asprintf(&path_buf, "library/%s", path) < 0)
                        return -ENOMEM;
                path = path_buf;
        }
        int r = validate_path(ref, path, e);
        if (r < 0)
                return r;
        if (strlen(domain) + 1 + strlen(path) > NAME_TOTAL_MAX)
                return error_set(e, -EINVAL, "invalid reference '%s': repository name longer than %d characters", ref,
                                 NAME_TOTAL_MAX);
        char *out;
        if (asprintf(&out, "%s/%s%s%s%s%s", domain, path, tag || !digest ? ":" : "", tag ?: (digest ? "" : "latest"),
                     digest ? "@" : "", strempty(digest)) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

int reference_split(const char *ref, char **ret_repo, char **ret_tag, char **ret_digest) {
        _cleanup_free_ char *repo = strdup(ref), *tag = NULL, *digest = NULL;
        RET_NULL_ENOMEM(repo);
        char *at = strchr(repo, '@');
        if (at) {
                *at = 0;
                digest = strdup(at + 1);
                RET_NULL_ENOMEM(digest);
        }
        char *slash = strrchr(repo, '/');
        char *colon = strrchr(slash ? slash : repo, ':');
        if (colon) {
                *colon = 0;
                tag = strdup(colon + 1);
                RET_NULL_ENOMEM(tag);
        }
        if (ret_repo)
                *ret_repo = TAKE_PTR(repo);
        if (ret_tag)
                *ret_tag = TAKE_PTR(tag);
        if (ret_digest)
                *ret_digest = TAKE_PTR(digest);
        return 0;
}
