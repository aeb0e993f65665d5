"""`h11dbg convert X out.har` opens in Chromium's DevTools: the frontend the browser ships (served on its
remote-debugging port) imports each HAR with its own code, ``HARFormat`` (which throws on a missing or
ill-typed field) and ``Importer.requestsFromHARLog`` (what the Network panel's "Import HAR file" runs),
and every request it makes shows what ``h11dbg replay --json`` of the source says."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
import zlib
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support.browser import devtools_page

from h11dbg.transcript import Chunk, open_transcript
from h11dbg.transcript.escaping import unescape

ROOT = Path(__file__).resolve().parents[2]
# bodies (chunked both ways, non-UTF-8 both ways, gzip-coded, 1 MiB in 20 reads), several exchanges on
# kept-alive connections, pipelining, HTTP/1.0, HEAD, 204/304, a 101, trailers, and a capture from tcpdump
SOURCES = [ROOT / "transcripts" / name for name in (
    "binary-gzip-curl-node.h11t", "chunked-request-httpclient-node.h11t", "chunked-trailers-curl-node.h11t",
    "keepalive-curl-uvicorn.h11t", "pipelining-raw-node.h11t", "expect-100-continue-64k-curl-uvicorn.h11t",
    "http10-close-curl-http-server.h11t", "head-curl-uvicorn.h11t", "204-304-curl-node.h11t",
    "websocket-upgrade-raw-node.h11t", "large-body-httpx-http-server.h11t",
    # protocol errors: a response the client machine refuses (no response in HAR), pipelined requests
    # the server never answered (left out)
    "broken-response-then-body-raw-raw.h11t", "pipelining-raw-http-server.h11t",
)] + [ROOT / "tests" / "data" / "captures" / name for name in ("http-lo.pcap", "http-ipv6.pcap")]

# Runs in the page: the frontend's own HAR model and importer, then what the Network panel reads of
# each request it made (the getters its columns and its Headers, Payload, Response, Cookies and Timing
# tabs use).
IMPORT_HAR = """async (har) => {
  const {HARFormat, Importer} = await import('/devtools/models/har/har.js');
  const requests = Importer.Importer.requestsFromHARLog(new HARFormat.HARLog(har.log));
  const shown = [];
  for (const request of requests) {
    const content = await request.requestContentData();
    shown.push({
      url: request.url(), method: request.requestMethod, status: request.statusCode,
      statusText: request.statusText, protocol: request.protocol,
      requestHeaders: request.requestHeaders().map(h => [h.name, h.value]),
      responseHeaders: request.responseHeaders.map(h => [h.name, h.value]),
      requestBody: await request.requestFormData(), requestContentType: request.requestContentType() ?? null,
      mimeType: request.mimeType,
      content: content.createdFromBase64 ? {base64: content.base64} : {text: content.text},
      queryParameters: (request.queryParameters || []).map(p => [p.name, p.value]),
      requestCookies: request.includedRequestCookies().map(c => [c.cookie.name(), c.cookie.value()]),
      responseCookies: request.responseCookies.map(c => [c.name(), c.value(), c.path(), c.httpOnly()]),
      issueTime: request.issueTime(), endTime: request.endTime, timing: request.timing,
      resourceSize: request.resourceSize, transferSize: request.transferSize,
      remoteAddress: request.remoteAddress(), connectionId: request.connectionId, finished: request.finished,
    });
  }
  return shown;
}"""


def h11dbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def exchanges_replayed(source: Path) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """What ``replay --json`` says of each request and its final response, in the order requests arrived,
    and how many bytes each connection's server sent after a protocol switch (tunnelled, not HTTP; -1
    when its bytes stopped at an error)."""
    replay = h11dbg("replay", "--json", str(source))
    assert replay.returncode in (0, 1) and replay.stdout, replay.stderr
    servers: dict[int, str] = {}
    sending: dict[tuple[int, str], dict[str, Any]] = {}  # the message whose body is under way
    unanswered: dict[int, deque[dict[str, Any]]] = {}
    exchanges: list[dict[str, Any]] = []
    tunnelled: dict[int, int] = {}
    for line in replay.stdout.splitlines():
        step = json.loads(line)
        conn, event = step["conn"], step["event"]
        if event == "open":
            servers[conn] = step["server"]
        elif event == "Request":
            exchange = {"conn": conn, "server": servers[conn], "request": step, "request_body": b"",
                        "response": None, "response_body": b""}
            exchanges.append(exchange)
            unanswered.setdefault(conn, deque()).append(exchange)
            sending[conn, "c2s"] = exchange
        elif event == "Response" or (event == "InformationalResponse" and step["status_code"] == 101):
            exchange = unanswered[conn].popleft()
            exchange["response"] = step
            sending[conn, "s2c"] = exchange
        elif event == "Data":
            key = "request_body" if step["direction"] == "c2s" else "response_body"
            sending[conn, step["direction"]][key] += unescape(step["data"])
        elif event == "EndOfMessage":
            key = "request_ended" if step["direction"] == "c2s" else "response_ended"
            sending[conn, step["direction"]][key] = step["time"]
        elif event == "timing":
            exchange = next(e for e in exchanges if e["conn"] == conn and e.get("response_ended") == step["time"]
                            and "timing" not in e)
            exchange["timing"] = step["timing"]
        elif event == "end" and step.get("tunnelled"):
            tunnelled[conn] = step["tunnelled"]["s2c"]
        elif event == "error" and step["direction"] == "s2c":  # its bytes from there on make no response
            tunnelled[conn] = -1
    return exchanges, tunnelled


def header(headers: list[list[str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def test_chromium_devtools_imports_every_har_convert_writes(tmp_path: Path) -> None:
    hars = {}
    for source in SOURCES:
        target = tmp_path / f"{source.name}.har"
        converted = h11dbg("convert", str(source), str(target))
        assert converted.returncode == 0, converted.stderr
        hars[source] = json.loads(target.read_text(encoding="utf-8"))

    with devtools_page() as (tab, errors):
        shown_by_source = {source: tab.evaluate(IMPORT_HAR, har) for source, har in hars.items()}
        assert errors == []

    for source, shown in shown_by_source.items():
        expected, tunnelled = exchanges_replayed(source)
        transcript = open_transcript(source)
        sent_by_servers: dict[int, int] = {}  # (a capture is dated by its first packet: read it first)
        for record in transcript:
            if isinstance(record, Chunk) and record.direction == "s2c":
                sent_by_servers[record.conn] = sent_by_servers.get(record.conn, 0) + len(record.data)
        # the Size column: every byte each server sent, each in the response it belongs to
        transferred: dict[int, int] = {}
        for request in shown:
            conn = int(request["connectionId"])
            transferred[conn] = transferred.get(conn, 0) + request["transferSize"]
        for conn, sent in sent_by_servers.items():
            if tunnelled.get(conn) == -1:
                assert transferred.get(conn, 0) < sent, source.name
            else:
                assert transferred.get(conn, 0) == sent - tunnelled.get(conn, 0), source.name
        recorded_at = datetime.datetime.fromisoformat(transcript.meta.recorded_at or "")
        assert [request["method"] for request in shown] == [e["request"]["method"] for e in expected], source.name
        for request, exchange in zip(shown, expected, strict=True):
            where = f"{source.name}: {request['method']} {request['url']}"
            head, response = exchange["request"], exchange["response"]
            assert request["url"] == f"http://{header(head['headers'], 'host')}{head['target']}", where
            assert request["requestHeaders"] == head["headers"], where
            assert request["finished"] and request["connectionId"] == str(exchange["conn"]), where
            address, _, port = exchange["server"].rpartition(":")
            assert request["remoteAddress"] == f"{address.strip('[]')}:{port}", where  # (DevTools' way, IPv6 too)
            assert request["queryParameters"] == [list(pair) for pair in parse_qsl(urlsplit(head["target"]).query)], \
                where
            cookie = header(head["headers"], "cookie")
            assert request["requestCookies"] == (
                [pair.strip().split("=", 1) for pair in cookie.split(";")] if cookie else []), where
            body = exchange["request_body"]
            if body:
                assert request["requestContentType"] == header(head["headers"], "content-type"), where
                try:
                    assert request["requestBody"] == body.decode("utf-8"), where
                except UnicodeDecodeError:  # HAR 1.2 has no encoding for a request body: it shows the base64
                    assert base64.b64decode(request["requestBody"]) == body, where
            else:
                assert request["requestBody"] is None, where

            if response is None:  # no response head was read: HAR's status 0, as DevTools shows a failed one
                assert (request["status"], request["statusText"], request["responseHeaders"]) == (0, "", []), where
                continue
            # the response: status line, headers, body as the Response tab shows it (without content coding)
            assert request["status"] == response["status_code"], where
            assert request["statusText"] == response["reason"], where
            assert request["protocol"] == f"http/{response['http_version']}", where
            assert request["responseHeaders"] == response["headers"], where
            set_cookies = [value for name, value in response["headers"] if name.lower() == "set-cookie"]
            assert [cookie[:2] for cookie in request["responseCookies"]] == \
                [value.split(";")[0].split("=", 1) for value in set_cookies], where
            for cookie, value in zip(request["responseCookies"], set_cookies, strict=True):
                assert cookie[3] == ("httponly" in value.lower()), where
            content_type = header(response["headers"], "content-type")
            if content_type:
                assert request["mimeType"] == content_type, where
            body = exchange["response_body"]
            if header(response["headers"], "content-encoding") == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            content = request["content"]
            if "base64" in content:
                assert base64.b64decode(content["base64"]) == body, where
            else:
                assert content["text"].encode("utf-8") == body, where
            if body:  # (for an empty one DevTools shows the head's size: headersSize + bodySize)
                assert request["resourceSize"] == len(body), where

            # when: the request's time, its first and last response bytes, as replay's timing line says
            arrived = recorded_at + datetime.timedelta(seconds=head["time"])
            assert abs(request["issueTime"] - arrived.timestamp()) < 0.001, where
            timing = exchange.get("timing")
            if timing is not None:
                # HAR's phases follow each other: a response head that came before the request's last
                # byte (after a 100 Continue, or an early answer) is shown as received once it was sent
                sent = exchange["request_ended"] - head["time"]
                headers_at = max(timing["first_byte"], sent) * 1000
                assert abs(request["timing"]["receiveHeadersEnd"] - headers_at) < 0.01, where
                assert abs(request["endTime"] - request["issueTime"] - timing["total"]) < 0.00001, where
