#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Sends one UDP datagram from a fixed source port and prints the reply (exit 1 on timeout).
# Usage: np-udp-client.py HOST PORT SRC_PORT
import socket
import sys

host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(2)
s.sendto(b"ping", (host, port))
try:
    print(s.recvfrom(2048)[0].decode().strip())
except socket.timeout:
    sys.exit(1)
