"""The flow reassembler: 4-tuple → connection, roles, port reuse, TCP events.

Theory of operation
-------------------
:meth:`FlowTable.frame` is *the* per-packet step of the whole program, and every input
hands it frames the same way: the capture readers' record lists through
:meth:`FlowTable.feed`, classic pcap runs walked in place by
:func:`analyzer.capture.pcapwalk.walk_pcap` (no tuple per packet), the backends' canonical
packets and live sniffing through :meth:`~FlowTable.feed` too. For each frame it takes the
TCP fields (:func:`analyzer.core.decode.locate` for the common frame, else
:func:`~analyzer.core.decode.decode`), keeps its partition's connections only
(:mod:`analyzer.core.partition`), finds the connection by its directional flow key (the
table holds both directions' keys, each mapped to ``(flow, direction)``, so one dict
lookup gives both), counts control flags, and hands payload segments to that direction's
:class:`~analyzer.core.streams.Stream`. Pure ACKs touch almost nothing.

Roles (DESIGN.md vocabulary): the sender of a SYN without ACK is the client. Without a
handshake (the capture started mid-way) the first payload decides
(:func:`analyzer.core.protocols.sender`) — the side that sends an HTTP request line is the
client, the side that sends a status line is the server — and failing that the lower port
is the server. ``handshake_seen`` says which.

Readers: a connection's first payload chooses its protocol
(:func:`analyzer.core.protocols.identify`) and :meth:`FlowTable._readers` gives its streams
that protocol's readers: the HTTP/1 :class:`~analyzer.core.exchanges.Conversation`, the
HTTP/2 :class:`~analyzer.core.http2.H2Conversation` (h2c), or the
:class:`~analyzer.core.tls.TlsSession`, which reads the TLS records and, decrypted with
the key log's secrets, hands the plaintext to an Opening of its own whose choice
(:meth:`FlowTable._inner`) gives the same HTTP/1 or HTTP/2 readers (``tls/http1``,
``tls/h2``). The TLS and HTTP/2 modules are imported on the first such connection: a
cleartext HTTP/1 capture never loads them (nor ``cryptography``, nor ``hpack``).
When the first segment does not decide (a few bytes of a longer signature, or a
segment out of order), an :class:`~analyzer.core.protocols.Opening` holds the bytes until
they do. A swap of roles starts the readers, and the choice, afresh.

Port reuse: a SYN whose initial sequence number differs from the connection's starts a
new connection on the same 4-tuple; a retransmitted SYN (same ISN) does not.

Memory follows open connections: a connection closed by RST or by FINs both ways is
finished (turned into a record whose label and closed_by come from
:mod:`analyzer.core.labels`, its state dropped) once it has been quiet for
``close_linger`` seconds of capture time, and an idle one after ``idle_timeout`` (Zeek's
default is 5 minutes); the rest are finished at the end of the capture.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice
from sys import intern
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from analyzer.core import labels
from analyzer.core.decode import ACK, FIN, RST, SYN, decode, endpoint, locate, reverse_key
from analyzer.core.exchanges import CONNECT, Conversation, Talk
from analyzer.core.fragments import Reassembler
from analyzer.core.linktypes import LINKTYPE_RAW
from analyzer.core.partition import partition_at, partition_of
from analyzer.core.protocols import (
    CLIENT,
    H2C,
    HTTP1,
    HTTP1_READER,
    NEITHER,
    PENDING,
    SNIFF_MAX,
    TLS,
    UNKNOWN,
    Opening,
    Readers,
    identify,
    sender,
)
from analyzer.core.records import ConnectionRecord, ExchangeRecord
from analyzer.core.streams import Stream

if TYPE_CHECKING:
    from analyzer.core.keylog import KeyLog

__all__ = [
    "CLOSE_LINGER", "IDLE_TIMEOUT", "SPOOLED", "Flow", "FlowTable", "ServerSoFar",
    "connection_record", "partition_of",
]

IDLE_TIMEOUT: Final = 300.0
CLOSE_LINGER: Final = 10.0
SWEEP_EVERY: Final = 5.0
ROLE_HEAD: Final = 64  # bytes of a payload looked at to settle the roles


class ServerSoFar(NamedTuple):
    """One server endpoint so far, finished and open connections together (live view)."""

    open: int  # connections not yet closed
    connections: int
    handshakes: int
    requests: int
    persistent: int  # connections labelled so (so far)
    per_request: int
    tls_full: int = 0  # TLS handshakes, full and resumed
    tls_resumed: int = 0


RECENT: Final = 64  # finished connections a live view can show

# RSTs (RFC 5961 §3, as Linux applies it; see FlowTable._rst_misfit) and late packets
SEQ_MASK: Final = 0xFFFFFFFF
SEQ_HALF: Final = 0x80000000
# The receiver's window is not read (it needs the window scale of the SYN options): Linux's
# largest window at its default scale 7 (65535 << 7, ~8 MiB) stands for it.
RST_WINDOW: Final = 1 << 23
TIME_WAIT: Final = 60.0  # Linux TCP_TIMEWAIT_LEN: how long late packets of a closed one count
ENDED_MAX: Final = 8192  # finished connections remembered for them (up to twice as many)
RST_CHALLENGED: Final = "rst-challenged"  # in the window, not at RCV.NXT: a challenge ACK
RST_OUT_OF_WINDOW: Final = "rst-out-of-window"  # outside it: ignored
RST_BEFORE_HANDSHAKE: Final = "rst-before-handshake"  # a retransmitted SYN carried on after it
LATE_AFTER_CLOSE: Final = "late-after-close"  # skip reason: a late packet of a finished one


def _signed(delta: int) -> int:
    """A 32-bit sequence-space difference as a signed number (RFC 9293 §3.4)."""
    delta &= SEQ_MASK
    return delta - 0x100000000 if delta >= SEQ_HALF else delta


def _stream_end(st: Stream) -> int:
    """The offset (in ``st``'s count of bytes) just past the last byte or FIN seen in that
    direction, held back or not."""
    hi = st.offset
    for at, held in st.pending.items():
        if at + held[1] > hi:
            hi = at + held[1]
    if st.fin_offset >= 0 and st.fin_offset + 1 > hi:
        hi = st.fin_offset + 1
    return hi


def _final_seq(st: Stream) -> int:
    """The sequence number just past what a flushed stream carried, its FIN included;
    -1 when it never started."""
    if not st.started:
        return -1
    fin = st.fin_offset
    return (st.next_raw + fin + 1 - st.offset if fin >= 0 else st.next_raw) & SEQ_MASK


class Flow:
    """The live state of one connection. Direction 0 is client→server."""

    __slots__ = (
        "num", "ckey", "skey", "start", "last", "handshake_seen", "roles_final",
        "syn", "synack", "fin", "rst", "teardown", "client_isn", "server_isn",
        "syn_ts", "synack_ts", "streams", "conv", "packets", "nbytes0", "nbytes1", "closed_ts",
        "first", "s0", "s1", "protocol", "tls", "rst_held", "rst_held_by", "anomalies",
        "tunnel", "last_at", "fresh", "prior",
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
        # the HTTP side (HTTP/1 Conversation or HTTP/2 H2Conversation), and the TLS
        # session (Any: an interpreted class, which a compiled attribute would refuse)
        self.conv: Talk | None = None
        self.tls: Any = None
        self.tunnel: str | None = None  # after 101 / a 2xx to CONNECT (FlowTable._switch)
        # "" until the first payload, then protocols.PENDING until chosen, then its name
        self.protocol = ""
        self.packets = 0
        self.nbytes0 = 0  # payload bytes from the client (direction 0) …
        self.nbytes1 = 0  # … and from the server (native ints: no boxed list item)
        self.closed_ts: float | None = None
        self.first = 0  # ordinal of its first packet among the records fed to the table
        # the latest RST the receiver would ignore (FlowTable._rst_misfit): its time (-1.0:
        # none) and sender; if nothing at all follows it, it ended the connection after all
        self.rst_held = -1.0
        self.rst_held_by = 0
        self.anomalies: dict[str, int] | None = None  # TCP anomalies (RSTs), None: none
        # for a span of the input (analyzer.spans): the ordinal of its latest packet,
        # whether it began with a SYN without ACK (its state then owes nothing to what came
        # before), and the first packet of the table's previous connection on its 4-tuple
        self.last_at = 0
        self.fresh = False
        self.prior = -1


class FlowTable:
    """Connections of one capture, fed batch by batch; finished ones become records."""

    # Connections finished closed (FINs both ways, or a RST), by client→server key, oldest
    # first: (until when their late packets count, the sequence numbers just past what the
    # client and the server sent, -1 unknown, the connection's first packet, how many the
    # table had remembered before it). Made on the first one (FlowTable._remember).
    ended: dict[bytes, tuple[float, int, int, int, int]] | None = None

    def __init__(
        self,
        capture: str,
        first_id: int = 1,
        idle_timeout: float = IDLE_TIMEOUT,
        close_linger: float = CLOSE_LINGER,
        spool: Callable[[ExchangeRecord], None] | None = None,
        show_secrets: bool = False,
        partition: tuple[int, int] = (0, 1),
        by_hosts: bool = False,
        on_record: Callable[[ConnectionRecord], None] | None = None,
        keylog: KeyLog | None = None,
    ) -> None:
        self.capture = capture
        # TLS secrets (--tls-keylog, a pcapng's Decryption Secrets Blocks); None: none
        # given, TLS is read without decryption
        self.keylog = keylog
        # Finished connections go to on_record when given (analyze(): a store that may
        # put them on disk), else they are kept in ``records``.
        self.on_record = on_record
        # Only the connections with partition_of(key, count) == index (analyze(jobs=N),
        # analyzer.core.partition): every partition still walks every record, so time and
        # sweeps are the same.
        self.part_index, self.part_count = partition
        self.by_hosts = by_hosts  # partitions by host pair (TLS secrets: analyzer.core.partition)
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
        # the latest finished connections, for a live view (records may go to on_record)
        self.latest: deque[tuple[str, str, str, int, str, str]] = deque(maxlen=RECENT)
        # TCP packets of this partition, counted at the end of each batch: the frames fed
        # less those skipped (per reason in ``skipped``) or of another partition
        self.tcp_packets = 0
        self.skipped: dict[str, int] = {}
        # IP fragments held until their datagram is whole; it counts their fates in skipped
        self.fragments = Reassembler(self.skipped)
        self.not_taken = 0
        self.now = 0.0
        self._next_sweep = 0.0
        self._next_idle_sweep = 0.0
        # connections with a teardown, in order of it: (when the linger is over, flow)
        self.closing: deque[tuple[float, Flow]] = deque()
        # per server endpoint, over finished connections: [connections, handshakes,
        # requests, persistent, per-request, TLS full, TLS resumed]
        self.finished_totals: dict[str, list[int]] = {}
        # A span of the input (analyzer.spans): ``ranged`` notes what the parent needs to
        # check this table against the spans before it (``starts``: per client key, the
        # first packet of the latest connection; ``late_events``: each late packet as
        # (the ended connection's client key, ordinal, latest start on its 4-tuple before
        # it, time, that connection's first packet, connections remembered since it));
        # ``finished_flow`` is the flow of the record being handed to on_record. Past the
        # span's end (``tail``) the table only finishes the connections it has: see
        # :meth:`start_tail`.
        self.ranged = False
        self.starts: dict[bytes, int] = {}
        self.late_events: list[tuple[bytes, int, int, float, int, int]] = []
        self.finished_flow: Flow | None = None
        self.tail = False
        self.owned: set[bytes] = set()
        # connections remembered for their late packets, and the ordinal of the batch in
        # which the memory was first cut down to ENDED_MAX (-1: never)
        self.remembers = 0
        self.trimmed_at = -1
        # records whose time is earlier than the one before (walk_pcap counts them)
        self.backwards = 0
        # past the end: per client key, the packet that started another connection (not
        # this table's: it belongs to the span it is in), and SYNs without ACK taken in
        self.released: dict[bytes, tuple[int, int]] = {}
        self.tail_syns = 0

    # ---- the per-packet step
    def feed(self, buf: bytes, records: list[tuple[float, int, int, int, int]]) -> None:
        """A batch of records ``(ts, linktype, offset, caplen, wirelen)`` of ``buf``."""
        ts = self.now
        i = 0
        for ts, lt, off, caplen, _wirelen in records:
            self.frame(buf, ts, lt, off, caplen, i)
            i += 1
        self.end_batch(ts, i)

    def end_batch(self, ts: float, n: int) -> None:
        """``n`` frames were fed, the last at ``ts``: the clock moves on, and what is over
        may be finished."""
        self.now = ts
        self.fed += n
        self.tcp_packets = self.fed - self.not_taken
        if ts >= self._next_sweep:
            self._sweep(ts)

    def frame(self, buf: bytes, ts: float, lt: int, off: int, caplen: int, i: int) -> None:
        """One frame ``buf[off:off+caplen]`` of link type ``lt``, the ``i``-th of its
        batch (see :meth:`end_batch`)."""
        ks, ke, seq, ack, flags, ps, pe, seglen = locate(buf, off, caplen, lt)
        if ks >= 0:
            if self.part_count > 1 and (
                partition_at(buf, ks, ke, self.part_count, self.by_hosts) != self.part_index
            ):
                self.not_taken += 1  # another partition's: decided before any slice
                return
            key = buf[ks:ke]
        else:
            r = decode(buf, off, caplen, lt)
            if isinstance(r, str):
                if r == "ip-fragment":
                    # (analyzer.core.fragments) a datagram it completes goes on as raw IP
                    whole = self.fragments.add(buf, off, caplen, lt, ts)
                    if isinstance(whole, str):
                        r = whole
                    else:
                        buf = whole
                        r = decode(whole, 0, len(whole), LINKTYPE_RAW)
                if isinstance(r, str):
                    self.skipped[r] = self.skipped.get(r, 0) + 1
                    self.not_taken += 1
                    return
            key, seq, ack, flags, ps, pe, seglen = r
            if self.part_count > 1 and (
                partition_of(key, self.part_count, self.by_hosts) != self.part_index
            ):
                self.not_taken += 1
                return
        if self.tail and not self._tail_take(key, seq, flags, seglen, ts, self.fed + i):
            return  # past the span's end, not a packet of this table's connections
        table = self.table
        ent = table.get(key)
        if ent is None:
            if not flags & SYN and self._late(key, seq, flags, seglen, ts, self.fed + i):
                return  # a late packet of a connection finished closed
            flow, d = self._new(key, flags, ts, i)
        else:
            flow, d = ent
            quiet = ts - flow.last
            if quiet > self.quiet_min and self._over(flow, quiet):
                # Silent for longer than the idle timeout (Zeek's inactivity timeout),
                # or closed and quiet past the linger: that connection is over. Checked
                # per packet so the answer never depends on how packets were batched.
                self._finish(flow, flow.closed_ts is None)
                if not flags & SYN and self._late(key, seq, flags, seglen, ts, self.fed + i):
                    return
                flow, d = self._new(key, flags, ts, i)
            elif flags & SYN and not flags & ACK and seq != flow.client_isn:
                # A new SYN with a new ISN on a known 4-tuple: port reuse.
                self._finish(flow, False)
                flow, d = self._new(key, flags, ts, i)
        flow.last = ts
        flow.last_at = self.fed + i
        flow.packets += 1
        if flags & 7:
            self._control(flow, d, flags, seq, ack, ts)
        if seglen or flags & FIN:
            if flags & SYN:
                seq += 1  # (the data starts after it)
            if seglen:
                if not flow.roles_final:
                    d = self._settle_roles(flow, d, buf, ps, pe, seq)
                elif not flow.protocol:
                    self._open(flow, d, buf, ps, pe, seq)
                if d:
                    flow.nbytes1 += seglen
                else:
                    flow.nbytes0 += seglen
            (flow.s1 if d else flow.s0).segment(seq, buf, ps, pe, seglen, ts, bool(flags & FIN))
        if flags & ACK:
            other = flow.s0 if d else flow.s1
            if other.pending:
                other.acked(ack, ts)

    # ---- per-connection events
    def _over(self, flow: Flow, quiet: float) -> bool:
        """Is a connection quiet for ``quiet`` seconds over: silent past the idle timeout
        (Zeek's inactivity timeout), or closed and quiet past the linger?"""
        return quiet > (self.idle_timeout if flow.closed_ts is None else self.close_linger)

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
        ended = self.ended
        if ended is not None and ended:
            # what an earlier connection on the 4-tuple left is over: its late packets
            # would now be this one's
            ended.pop(ckey, None)
            ended.pop(skey, None)
        if self.ranged:
            flow.fresh = flags & (SYN | ACK) == SYN
            starts = self.starts
            flow.prior = max(starts.get(ckey, -1), starts.get(skey, -1))
            starts[ckey] = flow.first
        self.next_num += 1
        self.table[ckey] = (flow, 0)
        self.table[skey] = (flow, 1)
        self.open[flow.num] = flow
        return flow, 0 if sender_is_client else 1

    def _control(
        self, flow: Flow, d: int, flags: int, seq: int, ack: int, ts: float
    ) -> None:
        if flags & SYN:
            if flags & ACK:
                flow.synack += 1
                if flow.server_isn is None:
                    flow.server_isn = seq
                    flow.synack_ts = ts
                    flow.streams[d].start(seq + 1)
                elif seq != flow.server_isn:
                    st = flow.streams[d]
                    if st.offset == 0 and not st.pending and st.fin_offset < 0:
                        # A SYN-ACK with a new ISN before the server sent anything: it began
                        # the handshake anew (it dropped the first on a RST, and the client
                        # retransmitted its SYN); its data follows this one.
                        flow.server_isn = seq
                        st.start(seq + 1)
            else:
                flow.syn += 1
                if flow.client_isn is None:
                    flow.client_isn = seq
                    flow.syn_ts = ts
                    flow.handshake_seen = True
                    flow.streams[d].start(seq + 1)
                elif (
                    flow.teardown is not None and flow.teardown[1] == "rst"
                    and flow.closed_ts is not None and not (flow.nbytes0 or flow.nbytes1)
                ):
                    # The client retransmits its SYN (same ISN: a new one is port reuse,
                    # seen in frame) after a RST in the handshake: the connection goes on,
                    # and that RST did not end it.
                    flow.teardown = None
                    flow.closed_ts = None  # (its entry in ``closing`` is now stale)
                    self._anomaly(flow, RST_BEFORE_HANDSHAKE)
        if flags & FIN:
            flow.fin[d] += 1
            if flow.teardown is None:
                flow.teardown = (d, "fin", ts)
            if flow.fin[1 - d] and flow.closed_ts is None:
                flow.closed_ts = ts
                self.closing.append((ts + self.close_linger, flow))
        if flags & RST:
            flow.rst[d] += 1
            if flow.closed_ts is None:
                misfit = self._rst_misfit(flow, d, flags, seq, ack)
                if misfit:
                    # The receiver ignores it (RFC 5961 §3): the connection goes on, unless
                    # nothing at all follows (see _finish).
                    flow.rst_held = ts
                    flow.rst_held_by = d
                    self._anomaly(flow, misfit)
                    return
                if flow.teardown is None:
                    flow.teardown = (d, "rst", ts)
                flow.closed_ts = ts
                self.closing.append((ts + self.close_linger, flow))

    @staticmethod
    def _anomaly(flow: Flow, name: str) -> None:
        found = flow.anomalies
        if found is None:
            found = flow.anomalies = {}
        found[name] = found.get(name, 0) + 1

    def _rst_misfit(self, flow: Flow, d: int, flags: int, seq: int, ack: int) -> str:
        """Whether the receiver takes a RST from direction ``d`` with sequence number
        ``seq`` (and ``ack``): "" when it does, else the anomaly that says why not.

        RFC 5961 §3 as Linux applies it (tcp_validate_incoming): a RST at the receiver's
        next expected sequence number (RCV.NXT) resets the connection — also at RCV.NXT - 1
        once the receiver has the sender's FIN (tcp_reset_check), and at the end of the
        data held past a hole (the right edge of its SACK blocks); elsewhere in its window
        it answers with a challenge ACK and ignores the RST (``rst-challenged``); outside
        it, ignores it (``rst-out-of-window``). In the handshake: a client in SYN-SENT
        takes only a RST whose ACK acknowledges its SYN (the refusal RST+ACK; RFC 9293
        §3.10.7.3), a server in SYN-RECEIVED any RST in its window (tcp_check_req).
        RCV.NXT is what the capture saw the sender send; where it knows nothing of the
        sender's sequence numbers, the RST is taken."""
        if d == 1 and flow.client_isn is not None and flow.server_isn is None:
            c = flow.s0
            if c.offset == 0 and not c.pending and c.fin_offset < 0:
                # the client is in SYN-SENT: the RST must acknowledge its SYN
                if flags & ACK and (ack - flow.client_isn) & SEQ_MASK == 1:
                    return ""
                return RST_OUT_OF_WINDOW
        st = flow.s1 if d else flow.s0
        if not st.started:
            return ""
        at = st.offset + _signed(seq - st.next_raw)  # the RST's place in the stream
        fin = st.fin_offset
        nxt = st.offset + 1 if 0 <= fin <= st.offset else st.offset  # (a FIN takes one)
        end = _stream_end(st)
        if at == nxt or at == end or (fin >= 0 and at == fin):
            return ""
        if (
            d == 0 and flow.handshake_seen and flow.server_isn is not None
            and st.offset == 0 and end == 0
        ):
            # the server is in SYN-RECEIVED as far as the capture knows
            return "" if nxt < at <= nxt + RST_WINDOW else RST_OUT_OF_WINDOW
        return RST_CHALLENGED if nxt < at <= end + RST_WINDOW else RST_OUT_OF_WINDOW

    def _late(
        self, key: bytes, seq: int, flags: int, seglen: int, ts: float, at: int
    ) -> bool:
        """Is a packet without SYN on a 4-tuple the table does not hold a late packet of a
        connection finished closed (FINs both ways, or a RST)? It is when it comes within
        TIME_WAIT of that connection's last packet and lies in its sequence space: without
        payload (a retransmitted FIN, a RST, an ACK) near where that direction ended, or
        with only bytes it had carried already (a retransmission). Such a packet is counted
        in ``skipped`` as ``late-after-close`` (the connection's record is out already)
        instead of starting a connection of its own, without SYN."""
        ended = self.ended
        if ended is None:
            return False
        d = 0
        ckey = key
        known = ended.get(key)
        if known is None:
            d = 1
            ckey = reverse_key(key)
            known = ended.get(ckey)
            if known is None:
                return False
        if ts > known[0]:
            return False
        end = known[2] if d else known[1]
        if end >= 0:
            past = _signed(seq + seglen + (flags & FIN) - end)  # its end against the end
            if past < -RST_WINDOW or past > (0 if seglen else RST_WINDOW):
                return False
        elif seglen:
            return False
        self.skipped[LATE_AFTER_CLOSE] = self.skipped.get(LATE_AFTER_CLOSE, 0) + 1
        self.not_taken += 1
        if self.ranged:
            starts = self.starts
            prior = max(starts.get(ckey, -1), starts.get(reverse_key(ckey), -1))
            self.late_events.append(
                (ckey, at, prior, ts, known[3], self.remembers - known[4])
            )
        return True

    def _remember(self, flow: Flow) -> None:
        """A connection finished closed (its streams flushed): keep its 4-tuple a while
        for its late packets (:meth:`_late`). Bounded: past ``2 * ENDED_MAX`` connections
        the latest ``ENDED_MAX`` stay (in bulk: each connection pays two dict operations)."""
        ended = self.ended
        if ended is None:
            ended = self.ended = {}
        key = flow.ckey
        ended.pop(key, None)  # (to the end of the order)
        self.remembers += 1
        ended[key] = (
            flow.last + TIME_WAIT, _final_seq(flow.s0), _final_seq(flow.s1), flow.first,
            self.remembers,
        )
        if len(ended) > 2 * ENDED_MAX:
            if self.trimmed_at < 0:
                self.trimmed_at = self.fed
            self.ended = dict(islice(ended.items(), len(ended) - ENDED_MAX, None))

    # ---- a span's tail (analyzer.spans)
    def start_tail(self) -> list[Flow]:
        """The span's own packets are read: from now on the table only finishes the
        connections it holds. A packet of another 4-tuple costs a set lookup; one that
        would start a connection is not this table's (the span it lies in starts it): its
        4-tuple is released (:attr:`released`). Late packets of the connections it
        finished are still its own. Returns the connections still open."""
        self.tail = True
        owned = self.owned
        tailed = list(self.open.values())
        for f in tailed:
            owned.add(f.ckey)
            owned.add(f.skey)
        if self.ended is not None:
            for k in self.ended:
                owned.add(k)
                owned.add(reverse_key(k))
        return tailed

    def _tail_take(
        self, key: bytes, seq: int, flags: int, seglen: int, ts: float, at: int
    ) -> bool:
        """Past the span's end: does the packet go on to a connection of this table (or
        is it a late packet of one, counted here)? Mirrors :meth:`frame`'s choice."""
        if key not in self.owned:
            self.not_taken += 1
            return False
        ent = self.table.get(key)
        if ent is not None:
            flow = ent[0]
            quiet = ts - flow.last
            over = quiet > self.quiet_min and self._over(flow, quiet)
            if not over:
                if not flags & SYN or flags & ACK:
                    return True
                if seq == flow.client_isn:
                    self.tail_syns += 1  # a retransmitted SYN (a span may have started there)
                    return True
            self._finish(flow, over and flow.closed_ts is None)
            if over and not flags & SYN and self._late(key, seq, flags, seglen, ts, at):
                return False
            self._release(key, at, flow.first)
            return False
        if not flags & SYN and self._late(key, seq, flags, seglen, ts, at):
            return False
        self._release(key, at, -1)
        return False

    def _release(self, key: bytes, at: int, first: int) -> None:
        """A packet at ``at`` starts a connection on ``key``'s 4-tuple that is not this
        table's: the 4-tuple is no longer its own."""
        rkey = reverse_key(key)
        ended = self.ended
        if ended is not None:
            known = ended.pop(key, None) or ended.pop(rkey, None)
            if known is not None and first < 0:
                first = known[3]
        self.released[key] = (at, first)
        self.owned.discard(key)
        self.owned.discard(rkey)
        self.not_taken += 1

    def handed(self) -> dict[bytes, tuple[float, int]]:
        """The finished connections whose late packets still count at the table's time:
        per client key, until when, and the connection's first packet."""
        if self.ended is None:
            return {}
        now = self.now
        return {k: (v[0], v[3]) for k, v in self.ended.items() if v[0] >= now}

    def _open(self, flow: Flow, d: int, buf: bytes, ps: int, pe: int, seq: int) -> None:
        """The connection's first payload (or, seen without its handshake, a swap of its
        roles), ``buf[ps:pe]`` at ``seq`` in direction ``d``, is about to reach its
        stream: the protocol is chosen from the first bytes. When these are the next
        bytes that stream delivers and they decide (the common case), at once; else its
        streams go to an :class:`~analyzer.core.protocols.Opening`, which waits for the
        bytes in order and then calls :meth:`_readers` the same way."""
        if (flow.s1 if d else flow.s0).delivers(seq):
            protocol = identify(buf[ps : ps + SNIFF_MAX if ps + SNIFF_MAX < pe else pe], d == 0)
            if protocol:
                self._readers(flow, protocol)
                return
        flow.protocol = PENDING
        opening = Opening(lambda protocol: self._readers(flow, protocol))
        flow.s0.sink, flow.s1.sink = opening.sinks()

    def _readers(self, flow: Flow, protocol: str) -> Readers:
        """The readers of the protocol chosen for the connection, made its streams' sinks
        (client→server, server→client)."""
        flow.protocol = protocol
        if protocol == TLS:
            from analyzer.core.tls import TlsSession

            tls = flow.tls = TlsSession(
                self.keylog, lambda inner: self._inner(flow, inner),
                midstream=not flow.handshake_seen,
            )
            a, b = tls.sinks()
            flow.s0.sink, flow.s1.sink = a, b
            return a, b
        readers = self._talk(flow, protocol)
        flow.s0.sink, flow.s1.sink = readers
        return readers

    def _switch(self, flow: Flow, conv: Conversation, token: str) -> Readers:
        """An HTTP/1 connection switched protocols (101, ``Upgrade: token``) or became a
        tunnel (a 2xx to CONNECT, ``token`` "connect"): the readers of what follows.

        * ``connect``: the tunnel's bytes go through protocol recognition as a new
          connection's do (an Opening; :meth:`_tunneled`): HTTP/1 inside is read by new
          readers of the same conversation, so its exchanges count for the connection
          (as tshark and Zeek count them), TLS by a TLS session (decrypted with the key
          log, its HTTP/1 too).
        * ``h2c`` on the connection's first exchange (RFC 7540 §3.2): the HTTP/2 reader
          takes the connection over, the upgraded request as stream 1.
        * anything else (websocket, …) stays a tunnel whose bytes are not read.

        The connection's ``tunnel`` names it."""
        flow.tunnel = token
        if token == CONNECT:
            opening = Opening(lambda protocol: self._tunneled(flow, conv, protocol))
            return opening.sinks()
        ex = conv.switched
        if token != "h2c" or conv.count != 1 or ex is None or flow.conv is not conv:
            return None, None
        from analyzer.core.http2 import H2Conversation

        h2 = H2Conversation(
            midstream=not flow.handshake_seen, cid=conv.cid, spool=conv.spool,
            show_secrets=self.show_secrets, preface=True,
        )
        h2.upgraded_request(ex)
        h2.user_agent, h2.server_software = conv.user_agent, conv.server_software
        h2.forwarded, h2.via = conv.forwarded, conv.via
        for k, v in conv.anomalies.items():
            h2.anomalies[k] = h2.anomalies.get(k, 0) + v
        flow.conv = h2
        if flow.protocol == HTTP1 or flow.protocol == UNKNOWN:
            flow.protocol = H2C
        conv.release()
        return h2.requests_reader, h2.responses_reader

    def _tunneled(self, flow: Flow, conv: Conversation, protocol: str) -> Readers:
        """The readers of what a CONNECT tunnel carries, chosen by its first bytes (or,
        ``tls/…``, by the first bytes of what its TLS session decrypted)."""
        if protocol == HTTP1:
            if flow.tunnel == CONNECT:
                flow.tunnel = "connect/http1"
            return conv.tunnel_readers()
        if protocol == TLS and flow.tls is None:
            from analyzer.core.tls import TlsSession

            flow.tunnel = "connect/tls"
            tls = flow.tls = TlsSession(
                self.keylog, lambda inner: self._tunneled(flow, conv, inner)
            )
            return tls.sinks()
        if flow.tunnel == CONNECT:
            flow.tunnel = f"connect/{protocol}"
        return None, None  # (HTTP/2 or other bytes in the tunnel: not read)

    def _inner(self, flow: Flow, protocol: str) -> Readers:
        """The readers of the plaintext a TLS session decrypted, by its first bytes
        (``tls/http1``, ``tls/h2``; other plaintext stays ``tls``, unread)."""
        if protocol == H2C:
            flow.protocol = "tls/h2"
        elif protocol == HTTP1:
            flow.protocol = "tls/http1"
        else:
            return None, None
        return self._talk(flow, protocol)

    def _talk(self, flow: Flow, protocol: str) -> Readers:
        """The HTTP readers of ``protocol`` for the connection (None, None: none)."""
        # No spool until the roles are final: a swap drops these readers' exchanges, so
        # none may have gone to the spool (_settle_roles hands it over once they are).
        spool = self.spool if flow.roles_final else None
        if protocol in HTTP1_READER:
            conv = Conversation(
                midstream=not flow.handshake_seen, cid=f"C{flow.num}", spool=spool,
                show_secrets=self.show_secrets,
            )
            conv.switch = lambda token: self._switch(flow, conv, token)
            flow.conv = conv
            return conv.requests_reader, conv.responses_reader
        if protocol == H2C:
            from analyzer.core.http2 import H2Conversation

            h2 = H2Conversation(
                midstream=not flow.handshake_seen, cid=f"C{flow.num}", spool=spool,
                show_secrets=self.show_secrets,
            )
            flow.conv = h2
            return h2.requests_reader, h2.responses_reader
        return None, None

    def _settle_roles(self, flow: Flow, d: int, buf: bytes, ps: int, pe: int, seq: int) -> int:
        """A connection seen without its handshake, and a payload ``buf[ps:pe]`` at
        ``seq`` in direction ``d``: the side that sends a request line is the client, the
        side that sends a status line the server. Until a payload starts with either (the
        capture may begin inside a body), the lower port stays the server and the roles
        stay open; a later swap starts the readers afresh. Returns the payload's
        direction, as the roles now say."""
        side = sender(buf[ps : ps + ROLE_HEAD if ps + ROLE_HEAD < pe else pe])
        if side == NEITHER:
            if not flow.protocol:
                self._open(flow, d, buf, ps, pe, seq)
            return d
        flow.roles_final = True
        if (d if side == CLIENT else 1 - d) == 1:
            # Swap: the side we called server is the client.
            flow.ckey, flow.skey = flow.skey, flow.ckey
            self.table[flow.ckey] = (flow, 0)
            self.table[flow.skey] = (flow, 1)
            flow.fin.reverse()
            flow.rst.reverse()
            flow.streams.reverse()
            flow.s0, flow.s1 = flow.s1, flow.s0
            flow.nbytes0, flow.nbytes1 = flow.nbytes1, flow.nbytes0
            if flow.teardown is not None:
                by, kind, tts = flow.teardown
                flow.teardown = (1 - by, kind, tts)
            d = 1 - d
            if flow.conv is not None:
                flow.conv.release()
                flow.conv = None
            flow.tls = None
            self._open(flow, d, buf, ps, pe, seq)
        elif not flow.protocol:
            self._open(flow, d, buf, ps, pe, seq)
        elif flow.conv is not None:
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
        later: list[tuple[float, Flow]] = []
        while closing:
            due, f = closing[0]
            if due > now:
                break
            closing.popleft()
            if open_.get(f.num) is not f:
                continue  # finished already (port reuse, or a packet after the linger)
            closed = f.closed_ts
            if closed is None or due < closed + linger:
                continue  # open again (a retransmitted SYN after a RST), or closed since
            if f.last + linger < now:
                self._finish(f, False)
            else:
                # retransmissions: look again later — at the next sweep, even when that
                # time is not after now (the linger ends exactly now, or is lost in a
                # timestamp so large that adding it changes nothing: seen fuzzing)
                later.append((f.last + linger, f))
        closing.extend(later)
        if now >= self._next_idle_sweep:
            self._next_idle_sweep = now + max(SWEEP_EVERY, self.idle_timeout / 4)
            idle_before = now - self.idle_timeout
            done = [f for f in open_.values() if f.last < idle_before]
            for f in done:
                self._finish(f, f.closed_ts is None)

    def progress(self) -> dict[str, ServerSoFar]:
        """So far, per server endpoint, finished and open connections together — for a
        live view. An open connection counts as persistent or per-request once its
        exchanges say so (:func:`analyzer.core.labels.label_so_far`)."""
        out = {k: [0, *v] for k, v in self.finished_totals.items()}
        for f in self.open.values():
            server = endpoint(f.ckey, True)
            t = out.get(server)
            if t is None:
                t = out[server] = [0, 0, 0, 0, 0, 0, 0, 0]
            t[0] += f.closed_ts is None
            t[1] += 1
            t[2] += f.handshake_seen
            count = -1
            if f.conv is not None:
                t[3] += f.conv.requests
                count = f.conv.count
            if f.tls is not None:
                handshake = f.tls.handshake
                t[6] += handshake == "full"
                t[7] += handshake == "resumed"
                if f.conv is None:
                    count = f.tls.turns  # not decrypted: the turns so far
                    t[3] += count
            if count >= 0:
                so_far = labels.label_so_far(count)
                t[4] += so_far == labels.PERSISTENT
                t[5] += so_far == labels.PER_REQUEST
        return {k: ServerSoFar(*v) for k, v in out.items()}

    def recent(self, n: int) -> list[tuple[str, str, str, int, str, str]]:
        """The ``n`` latest connections, open or finished, for a live view: (id, client,
        server, requests, label so far, closed_by so far)."""
        flows = sorted(self.open.values(), key=lambda f: f.num)[-n:]
        out = list(self.latest)[-n:]
        for f in flows:
            conv = f.conv
            count = requests = 0
            if conv is not None:
                count, requests = conv.count, conv.requests
            elif f.tls is not None:
                count = requests = f.tls.turns  # not decrypted: the turns so far
            out.append((
                f"C{f.num}", endpoint(f.ckey, False), endpoint(f.ckey, True), requests,
                labels.label_so_far(count), labels.closed_by(f.teardown),
            ))
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
        ``records``) and drop its state. A connection whose last packet was a RST the
        receiver would have ignored (:meth:`_rst_misfit`) ended there after all: nothing
        followed it, not even a challenge ACK (the capture missed the sender's last
        bytes). One finished closed is remembered a while for its late packets
        (:meth:`_late`)."""
        if flow.closed_ts is None and flow.rst_held == flow.last:
            if flow.teardown is None:
                flow.teardown = (flow.rst_held_by, "rst", flow.rst_held)
            flow.closed_ts = flow.rst_held
            expired = False
            held_until = 0.0
        del self.open[flow.num]
        if self.table.get(flow.ckey, (None,))[0] is flow:
            del self.table[flow.ckey]
        if self.table.get(flow.skey, (None,))[0] is flow:
            del self.table[flow.skey]
        for st in flow.streams:
            st.flush(flow.last)
            st.sink = None  # (an Opening that never chose refers back to the flow)
        rec = connection_record(flow, self.capture, expired)
        if flow.anomalies is not None:
            anomalies = dict(rec.anomalies)  # (never the shared empty one)
            for k, v in flow.anomalies.items():
                anomalies[k] = anomalies.get(k, 0) + v
            rec.anomalies = anomalies
        if flow.closed_ts is not None:
            self._remember(flow)
        if self.spool is not None:
            for ex in rec.exchanges:
                self.spool(ex)
            rec.exchanges = SPOOLED
        if held_until:
            rec.held_until = held_until
        self.latest.append(
            (rec.id, rec.client, rec.server, rec.requests, rec.label, rec.closed_by)
        )
        if self.on_record is not None:
            self.finished_flow = flow
            self.on_record(rec)
        else:
            self.records.append(rec)
        t = self.finished_totals.get(rec.server)
        if t is None:
            t = self.finished_totals[rec.server] = [0, 0, 0, 0, 0, 0, 0]
        t[0] += 1
        t[1] += rec.handshake_seen
        t[2] += rec.requests
        if rec.label == labels.PERSISTENT:
            t[3] += 1
        elif rec.label == labels.PER_REQUEST:
            t[4] += 1
        if rec.tls is not None:
            handshake = rec.tls.get("handshake")
            t[5] += handshake == "full"
            t[6] += handshake == "resumed"
        if flow.conv is not None:
            flow.conv.release()


# Records are results, never changed in place: those without anomalies share one empty
# dict, and those whose exchanges went to a spool one empty list (a 300k-connection
# analysis saves ~35 MB).
NO_ANOMALIES: dict[str, int] = {}
SPOOLED: list[ExchangeRecord] = []


def connection_record(flow: Flow, capture: str, expired: bool) -> ConnectionRecord:
    """The record of a finished connection (its streams flushed)."""
    conv = flow.conv
    cid = conv.cid if conv is not None else f"C{flow.num}"  # (its exchanges share it)
    td = flow.teardown
    teardown_ts = td[2] if td is not None else None
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
    protocol: str | None = flow.protocol or None
    if protocol == PENDING:
        protocol = UNKNOWN  # its first bytes never decided (a hole, or too few)
    http2 = conv.facts() if conv is not None else None
    tls_facts: dict[str, object] | None = None
    estimated = False
    response_done: float | None = None
    tls = flow.tls
    if tls is not None:
        tls_facts = tls.facts()
        notified = tls.close_notify_ts
        if notified is not None and teardown_ts is not None and notified > teardown_ts:
            # a close_notify after the first FIN answered it: it began nothing
            tls_facts["close_notify_by"] = None
        if tls.anomalies:
            anomalies = dict(anomalies)
            for k, v in tls.anomalies.items():
                anomalies[k] = anomalies.get(k, 0) + v
        if conv is None:
            # Not decrypted: the requests are the request/response turns seen
            estimated = True
            requests = responses = count = tls.turns
            response_done = tls.last_turn_ts
        elif flow.tunnel == "connect/tls" and not tls.decrypted:
            # TLS inside a CONNECT tunnel, not decrypted: its turns count after CONNECT
            estimated = True
            requests += tls.turns
            responses += tls.turns
            count += tls.turns
        elif tls.anomalies.get("tls-gap") and tls.turns > requests:
            # Decryption stopped at a hole: the turns after it still count (a request
            # estimate, as without keys)
            from analyzer.core.tls import MISSING_BYTES

            estimated = True
            tls_facts["why_not_decrypted"] = MISSING_BYTES
            requests = count = tls.turns
            responses = max(responses, tls.turns)
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
        closed_by=labels.closed_by(td),
        requests=requests,
        responses=responses,
        interim_responses=interim,
        label=labels.label(
            count, bool(flow.nbytes0 or flow.nbytes1), tls is not None or http2 is not None
        ),
        upgraded=upgraded,
        missing_bytes=missing,
        packets=flow.packets,
        client_bytes=flow.nbytes0,
        server_bytes=flow.nbytes1,
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
        protocol=protocol,
        tunnel=flow.tunnel,
        requests_estimated=estimated,
        tls=tls_facts,
        http2=http2,
        response_done_ts=response_done,
    )
