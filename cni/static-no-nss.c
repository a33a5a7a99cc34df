/* SPDX-License-Identifier: Apache-2.0 */
/* Linked into the static nodelet-bridge with -Wl,--wrap for the NSS functions libnl-3.a references:
 * nl_addr_info() and nl_addr_resolve() (getaddrinfo, getnameinfo) and nl_ip_proto2str()/nl_str2ip_proto() (getprotobynumber/getprotobyname) sit in
 * object files the plugin needs for other functions (libnl is not built with -ffunction-sections), but nothing the
 * plugin calls reaches them: they are for name lookups and object dumps. A static binary that did reach glibc's NSS
 * would dlopen() the libnss_*.so of the running system, whatever glibc version that is; these stubs make sure it
 * cannot, and keep glibc's NSS code (and its link-time warnings) out of the binary. */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
struct protoent *__wrap_getprotobyname(const char *name);
int __wrap_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
                       socklen_t servlen, int flags);
struct protoent *__wrap_getprotobynumber(int proto);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
        (void) node;
        (void) service;
        (void) hints;
        *res = NULL;
        return EAI_FAIL;
}

int __wrap_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
                       socklen_t servlen, int flags) {
        (void) sa;
        (void) salen;
        (void) host;
        (void) hostlen;
        (void) serv;
        (void) servlen;
        (void) flags;
        return EAI_FAIL;
}

struct protoent *__wrap_getprotobyname(const char *name) {
        (void) name;
        errno = ENOENT;
        return NULL;
}

struct protoent *__wrap_getprotobynumber(int proto) {
        (void) proto;
        errno = ENOENT;
        return NULL;
}
