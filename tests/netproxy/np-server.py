#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Test backend for the netproxy data-plane test: answers every TCP connection (HTTP) and every UDP datagram with
# "<name> <client address>", so the test sees which endpoint served it and which source address arrived.
# Usage: np-server.py NAME TCP_PORT UDP_PORT   (listens on all IPv4 and IPv6 addresses of its network namespace)
import socket
import sys
import threading

name, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def peer(addr):
    host = addr[0]
    return host[7:] if host.startswith("::ffff:") else host


def sock(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    return s


def serve_tcp():
    s = sock(socket.SOCK_STREAM, tcp_port)
    s.listen(128)
    while True:
        c, addr = s.accept()
        try:
            c.settimeout(2)
            c.recv(4096)
            body = ("%s %s\n" % (name, peer(addr))).encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        finally:
            c.close()


def serve_udp():
    s = sock(socket.SOCK_DGRAM, udp_port)
    while True:
        _, addr = s.recvfrom(2048)
        s.sendto(("%s %s\n" % (name, peer(addr))).encode(), addr)


threading.Thread(target=serve_udp, daemon=True).start()
serve_tcp()
