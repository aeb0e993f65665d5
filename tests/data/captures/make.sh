#!/usr/bin/env bash
# Re-make the capture files in this directory from real loopback traffic.
#
# Needs root, tcpdump, dumpcap (from tshark / wireshark-common), curl and python3:
#     apt-get install -y tcpdump tshark curl
#     sudo bash tests/data/captures/make.sh
# The tests only read the files this writes; CI never runs it.
#
# Traffic (the same in every capture): one curl run that asks our HTTP/1.1 server (server.py) for
# GET /hello twice on one kept-alive connection, POSTs binary bytes (CR, LF, NUL) to /echo and
# GETs /chunked (chunks written one by one), then GETs a file from `python -m http.server`
# (HTTP/1.0: a second connection, closed by the server).
#
# Files: http-lo.pcap (tcpdump -i lo, Ethernet) and http-trace.txt (curl --trace) record the same
# run; http-lo.pcapng (dumpcap) and http-trace-ascii.txt (curl --trace-ascii --trace-time) another;
# http-any-sll2-nano.pcap and http-any-sll.pcap (-i any: Linux cooked v2 with nanosecond stamps,
# and v1); two-interfaces.pcapng (lo + any: two link types, which the importer refuses);
# http-ipv6.pcap (the same traffic on ::1).  http.har is not made here: it was written by hand
# after the HAR 1.2 spec, with the exchange of these captures.
#
# expect-100-curl-trace.txt and expect-100-curl-trace-ascii.txt are not made here: they are curl's
# --trace / --trace-ascii of transcripts/expect-100-continue-64k-curl-uvicorn.h11t's two connections,
# written by `transcripts/record_all.py expect-100-continue-64k-curl-uvicorn` beside that transcript.
#
# `bash make.sh pipelining` makes only pipelining-http-server.pcap (tcpdump -i lo): a raw client
# pipelines three GETs in one write to `python -m http.server`, which answers the first in HTTP/1.0
# and closes (the capture of transcripts/pipelining-raw-http-server.h11t's exchange).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY=${PYTHON:-python3}
P11=8765   # server.py
P10=8766   # python -m http.server
FILTER="tcp port $P11 or tcp port $P10"
WORK="$(mktemp -d)"
chmod 755 "$WORK"  # capture tools may drop root before opening the output file
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

printf 'line one\r\nline two\nNUL:\0:end' > "$WORK/post.bin"
mkdir "$WORK/www"
printf 'a static file\n' > "$WORK/www/file.txt"

SERVERS=()
start_servers() {  # $1 = host; both stop by themselves after a minute
    stop_servers
    "$PY" "$HERE/server.py" --host "$1" --port $P11 --seconds 60 &
    SERVERS+=($!)
    (cd "$WORK/www" && exec timeout 60 "$PY" -m http.server --bind "$1" $P10 >/dev/null 2>&1) &
    SERVERS+=($!)
    sleep 1
}
stop_servers() {
    for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    SERVERS=()
}

traffic() {  # $1 = host as in a URL, rest = extra curl options (--trace FILE ...)
    local h=$1; shift
    curl -sS "$@" -o /dev/null -o /dev/null \
        "http://$h:$P11/hello" "http://$h:$P11/hello" \
        --next -o /dev/null --data-binary @"$WORK/post.bin" -H 'Content-Type: application/octet-stream' \
        "http://$h:$P11/echo" \
        --next -o /dev/null "http://$h:$P11/chunked" \
        --next -o /dev/null "http://$h:$P10/file.txt"
}

capture() {  # $1 = output file, $2 = host, $3... = capture command (without -w), then -- curl options
    local out=$1 host=$2; shift 2
    local cmd=()
    while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
    shift
    touch "$WORK/cap" && chmod 666 "$WORK/cap"
    # tcpdump takes the filter as its last argument; dumpcap wants -f after each -i (in cmd)
    if [ "${cmd[0]}" = tcpdump ]; then cmd+=("$FILTER"); fi
    "${cmd[@]}" -w "$WORK/cap" >"$WORK/capture.log" 2>&1 &
    local pid=$!
    sleep 1.5
    traffic "$host" "$@"
    sleep 1
    kill -INT $pid || { cat "$WORK/capture.log"; exit 1; }
    wait $pid || true
    cp "$WORK/cap" "$HERE/$out"
}

pipelining() {  # three GETs in one write, then read until the server closes
    "$PY" - "$1" <<'CLIENT'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as sock:
    sock.sendall(b"".join(b"GET /file.txt?%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % n for n in (1, 2, 3)))
    while sock.recv(65536):
        pass
CLIENT
}
if [ "${1:-}" = pipelining ]; then
    start_servers 127.0.0.1
    touch "$WORK/cap" && chmod 666 "$WORK/cap"
    tcpdump -i lo -U -w "$WORK/cap" "tcp port $P10" >"$WORK/capture.log" 2>&1 &
    pid=$!
    sleep 1.5
    pipelining $P10
    sleep 1
    kill -INT $pid && wait $pid || true
    cp "$WORK/cap" "$HERE/pipelining-http-server.pcap"
    stop_servers
    exit
fi

start_servers 127.0.0.1
capture http-lo.pcap 127.0.0.1 tcpdump -i lo -U -- --trace "$HERE/http-trace.txt"
start_servers 127.0.0.1
capture http-lo.pcapng 127.0.0.1 dumpcap -q -i lo -f "$FILTER" -- --trace-ascii "$HERE/http-trace-ascii.txt" --trace-time
capture http-any-sll2-nano.pcap 127.0.0.1 tcpdump -i any -y LINUX_SLL2 --time-stamp-precision nano -U --
capture http-any-sll.pcap 127.0.0.1 tcpdump -i any -y LINUX_SLL -U --
# two interfaces with different link types (Ethernet and Linux cooked): the importer must refuse it
capture two-interfaces.pcapng 127.0.0.1 dumpcap -q -i lo -f "$FILTER" -i any -f "$FILTER" --
start_servers ::1
capture http-ipv6.pcap '[::1]' tcpdump -i lo -U -- -g
stop_servers
ls -l "$HERE"
