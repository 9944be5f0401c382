#!/usr/bin/env python3
"""Independent ground truth for the golden captures, computed with tshark only.

This does NOT use the analyzer: it asks Wireshark's dissectors (tshark) for every TCP
packet and HTTP message, and derives per-connection facts from them.

    python3 captures/tshark_facts.py captures/go-drain.pcap            # print facts as JSON
    python3 captures/tshark_facts.py --check captures/expected/*.json  # compare with expected
    python3 captures/tshark_facts.py --keylog K.keys --h2-port 18250 F.pcap  # TLS, h2c

TLS captures are decrypted with their key log (``-o tls.keylog_file:``; ``--check`` takes
the expected file's ``keylog``); HTTP/2 requests are the HEADERS frames that carry a
``:method`` (h2c on a port of its own needs ``-d tcp.port==PORT,http2``: ``--check`` takes
the expected server's port when its protocol is h2c).

Facts per connection (tcp.stream, ordered by first packet):
  client, server, requests, final responses, interim (1xx) responses, closed_by (side of the
  first FIN or RST: client | server | client-rst | server-rst | open), request/response
  versions, Connection headers, timestamps.
"""
import json
import os
import subprocess
import sys

FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream",
    "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
    "http.request.method", "http.request.uri", "http.request.version",
    "http.response.code", "http.response.version", "http.connection",
    "http2.headers.method", "http2.headers.status",
]

TSHARK_CMD = ["tshark", "-n", "-r", "FILE", "-Y", "tcp", "-T", "fields",
              "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"] + \
    [x for f in FIELDS for x in ("-e", f)]


def endpoint(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def facts(path, keylog=None, h2_port=None):
    cmd = [path if x == "FILE" else x for x in TSHARK_CMD]
    if keylog:
        cmd[1:1] = ["-o", f"tls.keylog_file:{keylog}"]
    if h2_port:
        cmd[1:1] = ["-d", f"tcp.port=={h2_port},http2"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    streams = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        sid = int(v["tcp.stream"])
        src = v["ip.src"] or v["ipv6.src"]
        dst = v["ip.dst"] or v["ipv6.dst"]
        s_ep, d_ep = endpoint(src, v["tcp.srcport"]), endpoint(dst, v["tcp.dstport"])
        t = float(v["frame.time_epoch"])
        st = streams.get(sid)
        if st is None:
            st = streams[sid] = dict(stream=sid, first_frame=int(v["frame.number"]), start=t,
                                     a=s_ep, b=d_ep, client=None, server=None, events=[],
                                     requests=[], responses=[], conn_hdr=[])
        st["end"] = t
        syn, ack = v["tcp.flags.syn"] in ("1", "True"), v["tcp.flags.ack"] in ("1", "True")
        fin, rst = v["tcp.flags.fin"] in ("1", "True"), v["tcp.flags.reset"] in ("1", "True")
        if syn and not ack and st["client"] is None:
            st["client"], st["server"] = s_ep, d_ep
        if fin or rst:
            st["events"].append((t, s_ep, "rst" if rst else "fin", int(v["frame.number"])))
        for m, ver, uri in zip(*(x.split("|") if x else [] for x in (
                v["http.request.method"], v["http.request.version"], v["http.request.uri"]))):
            st["requests"].append(dict(t=t, frame=int(v["frame.number"]), src=s_ep,
                                       method=m, version=ver, uri=uri))
        for code, ver in zip(*(x.split("|") if x else [] for x in (
                v["http.response.code"], v["http.response.version"]))):
            st["responses"].append(dict(t=t, frame=int(v["frame.number"]), src=s_ep,
                                        code=int(code), version=ver))
        for m in v["http2.headers.method"].split("|") if v["http2.headers.method"] else []:
            st["requests"].append(dict(t=t, frame=int(v["frame.number"]), src=s_ep,
                                       method=m, version="HTTP/2", uri=""))
        for code in v["http2.headers.status"].split("|") if v["http2.headers.status"] else []:
            st["responses"].append(dict(t=t, frame=int(v["frame.number"]), src=s_ep,
                                        code=int(code), version="HTTP/2"))
        if v["http.connection"]:
            st["conn_hdr"].extend(f"{s_ep}: {h}" for h in v["http.connection"].split("|"))
    conns = sorted(streams.values(), key=lambda s: (s["start"], s["first_frame"]))
    result = []
    for st in conns:
        if st["client"] is None:  # no SYN: the side sending requests is the client
            reqsrc = {r["src"] for r in st["requests"]}
            st["client"] = reqsrc.pop() if len(reqsrc) == 1 else st["a"]
            st["server"] = st["b"] if st["client"] == st["a"] else st["a"]
        closed_by, teardown_t = "open", None
        if st["events"]:
            t, src, kind, _ = st["events"][0]
            side = "client" if src == st["client"] else "server"
            closed_by = side if kind == "fin" else side + "-rst"
            teardown_t = t
        final = [r for r in st["responses"] if r["code"] >= 200]
        interim = [r for r in st["responses"] if r["code"] < 200]
        result.append(dict(
            stream=st["stream"], client=st["client"], server=st["server"],
            start=st["start"], end=st["end"],
            requests=len(st["requests"]), responses=len(final), interim_responses=len(interim),
            request_lines=[f'{r["method"]} {r["uri"]} {r["version"]}' for r in st["requests"]],
            response_codes=[f'{r["version"]} {r["code"]}' for r in st["responses"]],
            connection_headers=st["conn_hdr"],
            closed_by=closed_by, teardown_ts=teardown_t,
            teardowns=[f"{'client' if s == st['client'] else 'server'} {k} @frame {f}"
                       for (_, s, k, f) in st["events"]],
            last_response_ts=final[-1]["t"] if final else None,
        ))
    # was each connection still open (no FIN/RST yet) when the next one started?
    for i, c in enumerate(result[:-1]):
        nxt = result[i + 1]["start"]
        c["open_when_next_started"] = c["teardown_ts"] is None or c["teardown_ts"] > nxt
    max_conc = 0
    for c in result:
        conc = sum(1 for o in result if o["start"] <= c["start"] and
                   (o["teardown_ts"] is None or o["teardown_ts"] >= c["start"]))
        max_conc = max(max_conc, conc)
    return dict(capture=os.path.basename(path), connections=len(result),
                requests=sum(c["requests"] for c in result),
                requests_per_connection=[c["requests"] for c in result],
                closed_by=[c["closed_by"] for c in result],
                servers=sorted({c["server"] for c in result}),
                max_concurrent=max_conc, connection_facts=result,
                tshark_command=" ".join(TSHARK_CMD))


def label(n):
    return "persistent" if n >= 2 else "per-request" if n == 1 else "unused"


def check(expected_path):
    exp = json.load(open(expected_path))
    cap = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(expected_path))),
                       exp["capture"])
    keylog = os.path.join(os.path.dirname(cap), exp["keylog"]) if "keylog" in exp else None
    # h2c by prior knowledge needs tshark told the port; an Upgrade: h2c it follows itself
    h2c = "h2c" in exp.get("protocol_per_connection", ()) and "upgrade" not in exp.get(
        "extra", {})
    f = facts(cap, keylog, exp["server"].rsplit(":", 1)[1] if h2c else None)
    mine = [c for c in f["connection_facts"] if c["server"] == exp["server"]]
    if len(mine) != len(f["connection_facts"]):
        # a capture with several servers (a proxy and its upstream): the expected one's
        f = dict(f, connections=len(mine), requests=sum(c["requests"] for c in mine),
                 requests_per_connection=[c["requests"] for c in mine],
                 closed_by=[c["closed_by"] for c in mine], servers=[exp["server"]])
    errs = []
    for k in ("connections", "requests", "requests_per_connection", "closed_by"):
        if f[k] != exp[k]:
            if k == "closed_by" and exp.get("extra", {}).get("closed_by_is_racy") and \
                    len(f[k]) == len(exp[k]) and all(x in ("client", "server") for x in f[k]):
                # both sides FIN within microseconds of the response: which one is
                # first differs between recordings, the scenario does not depend on it
                print(f"     note: closed_by {f[k]} (racy; recorded {exp[k]})")
                continue
            errs.append(f"{k}: tshark {f[k]} != expected {exp[k]}")
    if f["servers"] != [exp["server"]]:
        errs.append(f"server: tshark {f['servers']} != expected {exp['server']}")
    labels = [label(n) for n in f["requests_per_connection"]]
    if labels != exp["expected_label_per_connection"]:
        errs.append(f"labels: {labels} != {exp['expected_label_per_connection']}")
    return errs


if __name__ == "__main__":
    args = sys.argv[1:]
    opts = {}
    while args and args[0] in ("--keylog", "--h2-port"):
        opts[args[0][2:].replace("-", "_")] = args[1]
        args = args[2:]
    if args and args[0] == "--check":
        bad = 0
        for p in args[1:]:
            errs = check(p)
            print(("FAIL " if errs else "ok   ") + p)
            for e in errs:
                print("     " + e)
            bad += bool(errs)
        sys.exit(1 if bad else 0)
    for p in args:
        print(json.dumps(facts(p, **opts), indent=1))
