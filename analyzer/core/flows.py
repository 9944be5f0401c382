"""The flow reassembler: 4-tuple → connection, roles, port reuse, TCP events.

Theory of operation
-------------------
:meth:`FlowTable.feed` is *the* per-packet loop of the whole program. For each record
it decodes the frame (:func:`analyzer.core.decode.decode`), finds the connection by its
directional flow key (the table holds both directions' keys, each mapped to
``(flow, direction)``, so one dict lookup gives both), counts control flags, and hands
payload segments to that direction's :class:`~analyzer.core.streams.Stream`. Pure ACKs
touch almost nothing.

Roles (DESIGN.md vocabulary): the sender of a SYN without ACK is the client. Without a
handshake (the capture started mid-way) the first payload decides — the side that sends
an HTTP request line is the client, the side that sends a status line is the server —
and failing that the lower port is the server. ``handshake_seen`` says which.

Port reuse: a SYN whose initial sequence number differs from the connection's starts a
new connection on the same 4-tuple; a retransmitted SYN (same ISN) does not.

Memory follows open connections: a connection closed by RST or by FINs both ways is
finished (turned into a record, its state dropped) once it has been quiet for
``close_linger`` seconds of capture time, and an idle one after ``idle_timeout`` (Zeek's
default is 5 minutes); the rest are finished at the end of the capture.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from sys import intern
from typing import Final

from analyzer.core.decode import ACK, FIN, RST, SYN, decode, endpoint, reverse_key
from analyzer.core.exchanges import Conversation
from analyzer.core.http1 import looks_like_request, looks_like_response
from analyzer.core.records import ConnectionRecord, ExchangeRecord
from analyzer.core.streams import Stream

IDLE_TIMEOUT: Final = 300.0
CLOSE_LINGER: Final = 10.0
SWEEP_EVERY: Final = 5.0


def partition_of(key: bytes, count: int) -> int:
    """The partition (of ``count``) a flow key belongs to: the same for both directions
    (:func:`~analyzer.core.decode.reverse_key`) and in every process — the bytes of both
    ports and the last byte of each address, summed (never ``hash()``, salted per
    process). :meth:`FlowTable._packet` reads the same bytes straight from an Ethernet frame."""
    return (key[-1] + key[-2] + key[-3] + key[-4] + key[-5] + key[(len(key) >> 1) - 3]) % count


class Flow:
    """The live state of one connection. Direction 0 is client→server."""

    __slots__ = (
        "num", "ckey", "skey", "start", "last", "handshake_seen", "roles_final",
        "syn", "synack", "fin", "rst", "teardown", "client_isn", "server_isn",
        "syn_ts", "synack_ts", "streams", "conv", "packets", "nbytes", "closed_ts",
        "first", "s0", "s1",
    )

    def __init__(self, num: int, ckey: bytes, skey: bytes, ts: float) -> None:
        self.num = num
        self.ckey = ckey
        self.skey = skey
        self.start = ts
        self.last = ts
        self.handshake_seen = False
        self.roles_final = False
        self.syn = 0
        self.synack = 0
        self.fin = [0, 0]
        self.rst = [0, 0]
        self.teardown: tuple[int, str, float] | None = None
        self.client_isn: int | None = None
        self.server_isn: int | None = None
        self.syn_ts: float | None = None
        self.synack_ts: float | None = None
        # streams[0], streams[1] also as attributes: read per packet, cheaper than the list
        self.s0 = Stream()
        self.s1 = Stream()
        self.streams = [self.s0, self.s1]
        self.conv: Conversation | None = None
        self.packets = 0
        self.nbytes = [0, 0]
        self.closed_ts: float | None = None
        self.first = 0  # ordinal of its first packet among the records fed to the table


class FlowTable:
    """Connections of one capture, fed batch by batch; finished ones become records."""

    def __init__(
        self,
        capture: str,
        first_id: int = 1,
        idle_timeout: float = IDLE_TIMEOUT,
        close_linger: float = CLOSE_LINGER,
        spool: Callable[[ExchangeRecord], None] | None = None,
        show_secrets: bool = False,
        partition: tuple[int, int] = (0, 1),
        on_record: Callable[[ConnectionRecord], None] | None = None,
    ) -> None:
        self.capture = capture
        # Finished connections go to on_record when given (analyze(): a store that may
        # put them on disk), else they are kept in ``records``.
        self.on_record = on_record
        # Only the connections with partition_of(key, count) == index (analyze(jobs=N)):
        # every partition still walks every record, so time and sweeps are the same.
        self.part_index, self.part_count = partition
        self.fed = 0  # records fed before the current batch (Flow.first counts from here)
        self.spool = spool
        self.show_secrets = show_secrets
        self.next_num = first_id
        self.idle_timeout = idle_timeout
        self.close_linger = close_linger
        self.quiet_min = min(idle_timeout, close_linger)  # one compare for most packets
        self.table: dict[bytes, tuple[Flow, int]] = {}
        self.open: dict[int, Flow] = {}
        self.records: list[ConnectionRecord] = []
        self.tcp_packets = 0
        self.skipped: dict[str, int] = {}
        self.now = 0.0
        self._next_sweep = 0.0
        self._next_idle_sweep = 0.0
        # connections with a teardown, in order of it: (when the linger is over, flow)
        self.closing: deque[tuple[float, Flow]] = deque()
        # per server endpoint, over finished connections: [connections, handshakes, requests]
        self.finished_totals: dict[str, list[int]] = {}

    # ---- the per-packet loop
    def feed(self, buf: bytes, records: list[tuple[float, int, int, int, int]]) -> None:
        """A batch of records ``(ts, linktype, offset, caplen, wirelen)`` of ``buf``."""
        ts = self.now
        i = 0
        for ts, lt, off, caplen, _wirelen in records:
            self._packet(buf, ts, lt, off, caplen, i)
            i += 1
        self._batch_done(ts, i)

    def feed_pcap(
        self, buf: bytes, start: int, end: int, little: bool, scale: float, lt: int
    ) -> int:
        """Classic pcap records ``buf[start:end]`` (whole ones, checked by the reader:
        :meth:`analyzer.capture.files.CaptureFile.runs`), walked here, so no tuple is
        made per packet. Returns how many there were."""
        ts = self.now
        pos = start
        i = 0
        while pos < end:
            if little:
                sec = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24
                frac = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24
                incl = (buf[pos + 8] | buf[pos + 9] << 8 | buf[pos + 10] << 16
                        | buf[pos + 11] << 24)
            else:
                sec = buf[pos] << 24 | buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]
                frac = buf[pos + 4] << 24 | buf[pos + 5] << 16 | buf[pos + 6] << 8 | buf[pos + 7]
                incl = (buf[pos + 8] << 24 | buf[pos + 9] << 16 | buf[pos + 10] << 8
                        | buf[pos + 11])
            ts = sec + frac * scale
            self._packet(buf, ts, lt, pos + 16, incl, i)
            pos += 16 + incl
            i += 1
        self._batch_done(ts, i)
        return i

    def _batch_done(self, ts: float, n: int) -> None:
        self.now = ts
        self.fed += n
        if ts >= self._next_sweep:
            self._sweep(ts)

    def _packet(self, buf: bytes, ts: float, lt: int, off: int, caplen: int, i: int) -> None:
        """One frame ``buf[off:off+caplen]``, the ``i``-th of its batch. Fast path:
        Ethernet + IPv4 without options (or IPv6) + TCP, whose flow key (addresses and
        ports) is one contiguous slice; anything else, or anything odd, goes through
        decode()."""
        key = b""
        fast = False  # (a flag: cheaper than the truth of the key)
        if lt == 1 and caplen >= 54:
            # Byte indexing rather than struct: compiled (mypyc), each is a C read.
            etype = buf[off + 12] << 8 | buf[off + 13]
            if etype == 0x0800:
                doff = buf[off + 46]
                ps = off + 34 + ((doff >> 4) << 2)
                seglen = off + 14 + (buf[off + 16] << 8 | buf[off + 17]) - ps
                if (
                    buf[off + 14] == 0x45 and buf[off + 23] == 6
                    and not (buf[off + 20] & 0x3F or buf[off + 21])
                    and doff >= 0x50 and seglen >= 0
                ):
                    if self.part_count > 1 and (  # another partition's: before any slice
                        buf[off + 37] + buf[off + 36] + buf[off + 35] + buf[off + 34]
                        + buf[off + 33] + buf[off + 29]
                    ) % self.part_count != self.part_index:
                        return
                    key = buf[off + 26 : off + 38]
                    p = off + 38
                    fast = True
            elif etype == 0x86DD and caplen >= 74 and buf[off + 20] == 6:
                # Ethernet + IPv6 with TCP as the first next header (RFC 8200).
                plen = buf[off + 18] << 8 | buf[off + 19]
                doff = buf[off + 66]
                ps = off + 54 + ((doff >> 4) << 2)
                seglen = off + 54 + plen - ps
                if doff >= 0x50 and seglen >= 0 and plen:
                    if self.part_count > 1 and (
                        buf[off + 57] + buf[off + 56] + buf[off + 55] + buf[off + 54]
                        + buf[off + 53] + buf[off + 37]
                    ) % self.part_count != self.part_index:
                        return
                    key = buf[off + 22 : off + 58]
                    p = off + 58
                    fast = True
            if fast:
                seq = buf[p] << 24 | buf[p + 1] << 16 | buf[p + 2] << 8 | buf[p + 3]
                ack = buf[p + 4] << 24 | buf[p + 5] << 16 | buf[p + 6] << 8 | buf[p + 7]
                flags = buf[p + 9]
                pe = ps + seglen
                if pe > off + caplen:
                    pe = off + caplen
                if pe < ps:
                    pe = ps
        if not fast:
            r = decode(buf, off, caplen, lt)
            if isinstance(r, str):
                self.skipped[r] = self.skipped.get(r, 0) + 1
                return
            key, seq, ack, flags, ps, pe, seglen = r
            # (the fast paths above decided the partition from the frame already)
            if self.part_count > 1 and partition_of(key, self.part_count) != self.part_index:
                return
        self.tcp_packets += 1
        table = self.table
        ent = table.get(key)
        if ent is None:
            flow, d = self._new(key, flags, ts, i)
        else:
            flow, d = ent
            quiet = ts - flow.last
            if quiet > self.quiet_min and quiet > (
                self.idle_timeout if flow.closed_ts is None else self.close_linger
            ):
                # Silent for longer than the idle timeout (Zeek's inactivity timeout),
                # or closed and quiet past the linger: that connection is over. Checked
                # per packet so the answer never depends on how packets were batched.
                self._finish(flow, flow.closed_ts is None)
                flow, d = self._new(key, flags, ts, i)
            elif flags & SYN and not flags & ACK and seq != flow.client_isn:
                # A new SYN with a new ISN on a known 4-tuple: port reuse.
                self._finish(flow, False)
                flow, d = self._new(key, flags, ts, i)
        flow.last = ts
        flow.packets += 1
        if flags & 7:
            self._control(flow, d, flags, seq, ts)
        if seglen or flags & FIN:
            if seglen:
                if not flow.roles_final:
                    d = self._settle_roles(flow, d, buf[ps : ps + 64 if ps + 64 < pe else pe])
                elif flow.conv is None:
                    self._attach_http(flow)
                flow.nbytes[d] += seglen
            if flags & SYN:
                seq += 1
            (flow.s1 if d else flow.s0).segment(seq, buf, ps, pe, seglen, ts, bool(flags & FIN))
        if flags & ACK:
            other = flow.s0 if d else flow.s1
            if other.pending:
                other.acked(ack, ts)

    # ---- per-connection events
    def _new(self, key: bytes, flags: int, ts: float, i: int) -> tuple[Flow, int]:
        rkey = reverse_key(key)
        if flags & SYN:
            sender_is_client = not flags & ACK
            final = True
        else:
            # Mid-way start: the lower port is the server until the payload says more.
            sport = key[-4] << 8 | key[-3]
            dport = key[-2] << 8 | key[-1]
            sender_is_client = dport <= sport
            final = False
        ckey, skey = (key, rkey) if sender_is_client else (rkey, key)
        flow = Flow(self.next_num, ckey, skey, ts)
        flow.roles_final = final
        flow.first = self.fed + i  # its first packet's index among all records fed
        self.next_num += 1
        self.table[ckey] = (flow, 0)
        self.table[skey] = (flow, 1)
        self.open[flow.num] = flow
        return flow, 0 if sender_is_client else 1

    def _control(self, flow: Flow, d: int, flags: int, seq: int, ts: float) -> None:
        if flags & SYN:
            if flags & ACK:
                flow.synack += 1
                if flow.server_isn is None:
                    flow.server_isn = seq
                    flow.synack_ts = ts
                    flow.streams[d].start(seq + 1)
            else:
                flow.syn += 1
                if flow.client_isn is None:
                    flow.client_isn = seq
                    flow.syn_ts = ts
                    flow.handshake_seen = True
                    flow.streams[d].start(seq + 1)
        if flags & FIN:
            flow.fin[d] += 1
            if flow.teardown is None:
                flow.teardown = (d, "fin", ts)
            if flow.fin[1 - d] and flow.closed_ts is None:
                flow.closed_ts = ts
                self.closing.append((ts + self.close_linger, flow))
        if flags & RST:
            flow.rst[d] += 1
            if flow.teardown is None:
                flow.teardown = (d, "rst", ts)
            if flow.closed_ts is None:
                flow.closed_ts = ts
                self.closing.append((ts + self.close_linger, flow))

    def _attach_http(self, flow: Flow) -> None:
        """Give the connection its HTTP readers (at its first payload)."""
        # No spool until the roles are final: a swap drops these readers' exchanges, so
        # none may have gone to the spool (_settle_roles hands it over once they are).
        conv = flow.conv = Conversation(
            midstream=not flow.handshake_seen, cid=f"C{flow.num}",
            spool=self.spool if flow.roles_final else None, show_secrets=self.show_secrets,
        )
        flow.streams[0].sink = conv.requests_reader
        flow.streams[1].sink = conv.responses_reader

    def _settle_roles(self, flow: Flow, d: int, head: bytes) -> int:
        """A connection seen without its handshake: the side that sends a request line is
        the client, the side that sends a status line the server. Until a payload starts
        with either (the capture may begin inside a body), the lower port stays the
        server and the roles stay open; a later swap starts the HTTP readers afresh."""
        if looks_like_request(head):
            client_side = d
        elif looks_like_response(head):
            client_side = 1 - d
        else:
            if flow.conv is None:
                self._attach_http(flow)
            return d
        flow.roles_final = True
        if client_side == 1:
            # Swap: the side we called server is the client.
            flow.ckey, flow.skey = flow.skey, flow.ckey
            self.table[flow.ckey] = (flow, 0)
            self.table[flow.skey] = (flow, 1)
            flow.fin.reverse()
            flow.rst.reverse()
            flow.streams.reverse()
            flow.s0, flow.s1 = flow.s1, flow.s0
            flow.nbytes.reverse()
            if flow.teardown is not None:
                side, kind, tts = flow.teardown
                flow.teardown = (1 - side, kind, tts)
            d = 1 - d
            if flow.conv is not None:
                flow.conv.release()
                flow.conv = None
        if flow.conv is None:
            self._attach_http(flow)
        else:
            flow.conv.spool = self.spool  # kept: from now on it may spill
        return d

    def _sweep(self, now: float) -> None:
        """Finish what is over, to keep memory to the open connections. Closed ones come
        off the ``closing`` queue (in order of closing, so the walk stops at the first
        not yet due); idle ones need a walk over all open connections, done only every
        quarter of the idle timeout. (Only memory depends on when this runs: a later
        packet, or the end, would finish them the same way.)"""
        self._next_sweep = now + SWEEP_EVERY
        closing = self.closing
        open_ = self.open
        linger = self.close_linger
        while closing:
            due, f = closing[0]
            if due > now:
                break
            closing.popleft()
            if open_.get(f.num) is not f:
                continue  # finished already (port reuse, or a packet after the linger)
            if f.last + linger < now:
                self._finish(f, False)
            else:
                closing.append((f.last + linger, f))  # retransmissions: look again later
        if now >= self._next_idle_sweep:
            self._next_idle_sweep = now + max(SWEEP_EVERY, self.idle_timeout / 4)
            idle_before = now - self.idle_timeout
            done = [f for f in open_.values() if f.last < idle_before]
            for f in done:
                self._finish(f, f.closed_ts is None)

    def progress(self) -> dict[str, tuple[int, int, int, int]]:
        """So far, per server endpoint: (open connections, connections, handshakes,
        requests) — for a live view; finished and open connections together."""
        out = {k: [0, v[0], v[1], v[2]] for k, v in self.finished_totals.items()}
        for f in self.open.values():
            server = endpoint(f.ckey, True)
            t = out.get(server)
            if t is None:
                t = out[server] = [0, 0, 0, 0]
            t[0] += f.closed_ts is None
            t[1] += 1
            t[2] += f.handshake_seen
            t[3] += f.conv.requests if f.conv is not None else 0
        return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}

    def recent(self, n: int) -> list[tuple[str, str, str, int, str, str]]:
        """The ``n`` latest connections, open or finished, for a live view: (id, client,
        server, requests, label so far, closed_by so far)."""
        flows = sorted(self.open.values(), key=lambda f: f.num)[-n:]
        out = [
            (c.id, c.client, c.server, c.requests, c.label, c.closed_by)
            for c in self.records[-n:]
        ]
        for f in flows:
            count = f.conv.count if f.conv is not None else 0
            label = "persistent" if count >= 2 else "per-request" if count else "…"
            td = f.teardown
            closed = "open" if td is None else (
                ("client" if td[0] == 0 else "server") + ("" if td[1] == "fin" else "-rst")
            )
            requests = f.conv.requests if f.conv is not None else 0
            out.append((f"C{f.num}", endpoint(f.ckey, False), endpoint(f.ckey, True),
                        requests, label, closed))
        out.sort(key=lambda r: int(r[0][1:]))
        return out[-n:]

    def finish(self) -> list[ConnectionRecord]:
        """The capture ended: finish every connection. Returns the records kept (in
        order of first packet): all of them, or none when they went to ``on_record``."""
        # Idle past the timeout at the end: expired, as a sweep at the end would say, so
        # the answer never depends on when the last sweep ran (where batches ended).
        idle_before = self.now - self.idle_timeout
        for f in list(self.open.values()):
            expired = f.last < idle_before and f.closed_ts is None
            # one still open when the capture ended is held until then
            held = max(self.now, f.last) if f.teardown is None and not expired else 0.0
            self._finish(f, expired, held)
        self.records.sort(key=lambda r: int(r.id[1:]))
        return self.records

    def _finish(self, flow: Flow, expired: bool, held_until: float = 0.0) -> None:
        """Turn a connection into its record (to ``on_record``, else kept in
        ``records``) and drop its state."""
        del self.open[flow.num]
        if self.table.get(flow.ckey, (None,))[0] is flow:
            del self.table[flow.ckey]
        if self.table.get(flow.skey, (None,))[0] is flow:
            del self.table[flow.skey]
        for st in flow.streams:
            st.flush(flow.last)
        rec = connection_record(flow, self.capture, expired)
        if self.spool is not None:
            for ex in rec.exchanges:
                self.spool(ex)
            rec.exchanges = SPOOLED
        if held_until:
            rec.held_until = held_until
        if self.on_record is not None:
            self.on_record(rec)
        else:
            self.records.append(rec)
        t = self.finished_totals.get(rec.server)
        if t is None:
            t = self.finished_totals[rec.server] = [0, 0, 0]
        t[0] += 1
        t[1] += rec.handshake_seen
        t[2] += rec.requests
        if flow.conv is not None:
            flow.conv.release()


# Records are results, never changed in place: those without anomalies share one empty
# dict, and those whose exchanges went to a spool one empty list (a 300k-connection
# analysis saves ~35 MB).
NO_ANOMALIES: dict[str, int] = {}
SPOOLED: list[ExchangeRecord] = []


def connection_record(flow: Flow, capture: str, expired: bool) -> ConnectionRecord:
    conv = flow.conv
    cid = conv.cid if conv is not None else f"C{flow.num}"  # (its exchanges share it)
    td = flow.teardown
    if td is None:
        closed_by = "open"
        teardown_ts = None
    else:
        if td[1] == "fin":
            closed_by = "client" if td[0] == 0 else "server"
        else:
            closed_by = "client-rst" if td[0] == 0 else "server-rst"
        teardown_ts = td[2]
    exchanges: list[ExchangeRecord] = []
    requests = responses = interim = count = 0
    upgraded = close_delimited = forwarded = False
    user_agent = server_software = via = None
    anomalies = NO_ANOMALIES
    if conv is not None:
        user_agent, server_software = conv.user_agent, conv.server_software
        forwarded, via = conv.forwarded, conv.via
        requests, responses, interim = conv.requests, conv.responses, conv.interim
        upgraded = conv.upgraded
        if conv.anomalies:
            anomalies = dict(conv.anomalies)
        exchanges = list(conv.exchanges)
        count = conv.count
        close_delimited = conv.close_delimited
        if exchanges:
            exchanges[-1].closed_connection = td is not None
    if not count:
        label = "unused" if not (flow.nbytes[0] or flow.nbytes[1]) else "not-http"
    else:
        label = "persistent" if count >= 2 else "per-request"
    missing = flow.streams[0].missing + flow.streams[1].missing
    if missing:
        anomalies = dict(anomalies)  # (never the shared one)
        anomalies["missing-bytes"] = anomalies.get("missing-bytes", 0) + 1
    rtt = None
    if flow.syn_ts is not None and flow.synack_ts is not None:
        rtt = flow.synack_ts - flow.syn_ts
    return ConnectionRecord(
        id=cid,
        capture=capture,
        client=endpoint(flow.ckey, False),
        server=intern(endpoint(flow.ckey, True)),  # one string per server
        start=flow.start,
        end=flow.last,
        handshake_seen=flow.handshake_seen,
        syn=flow.syn,
        synack=flow.synack,
        fin_client=flow.fin[0],
        fin_server=flow.fin[1],
        rst_client=flow.rst[0],
        rst_server=flow.rst[1],
        closed_by=closed_by,
        requests=requests,
        responses=responses,
        interim_responses=interim,
        label=label,
        upgraded=upgraded,
        missing_bytes=missing,
        packets=flow.packets,
        client_bytes=flow.nbytes[0],
        server_bytes=flow.nbytes[1],
        teardown_ts=teardown_ts,
        held_until=flow.last,
        handshake_rtt=rtt,
        expired=expired,
        first=flow.first,
        anomalies=anomalies,
        exchanges=exchanges,
        exchange_count=count,
        last_exchange=exchanges[-1] if exchanges else None,
        close_delimited=close_delimited,
        user_agent=user_agent,
        server_software=server_software,
        forwarded=forwarded,
        via=via,
    )
