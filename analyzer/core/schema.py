"""Every record's fields, once: the single source the records, JSON, CSV, DataFrames and
stores derive from.

Each record type (:data:`CAPTURE`, :data:`CONNECTION`, :data:`EXCHANGE`, :data:`SERVER`)
is a :class:`Record`: its fields in declaration order, each a :class:`Field` with its
name, Python type (the annotation as :mod:`analyzer.core.records` writes it), default,
role and pandas dtype.

Roles
    ``contract``: DESIGN.md's JSON contract (schema ``keepalive-analyzer/1``), never
    renamed; ``addition``: output too, past the contract; ``internal``: never output (the
    analysis' own bookkeeping: ``first``, ``exchanges``, ``held_until``, …). A record lists
    its contract fields before its additions, so the JSON objects — every output field in
    declaration order — put the contract first.

What derives from it
    * :mod:`analyzer.core.records`: the field declarations, the written-out ``__init__``
      of the records built by the million (compiled with mypyc, a dataclass-generated one
      would run as interpreted code), the dict literals that build the JSON objects
      (``exchange_row`` …) and the plain values a connection travels as
      (``connection_values``) are generated from here by :mod:`analyzer.core._schema_gen`;
      ``tests/test_schema.py`` fails when they are stale.
    * :mod:`analyzer.output.jsonout`: the key order of every JSON object (:attr:`Record.json`).
    * :mod:`analyzer.tables`: DataFrame columns and dtypes (:attr:`Record.dtypes`).
    * :mod:`analyzer.output.csvout`: the connections table's columns.
    * :mod:`analyzer.store`: positions in a packed connection, looked up by name
      in :attr:`Record.values`.

Adding a field: declare it here (contract fields are DESIGN.md's and do not change),
run ``python -m analyzer.core._schema_gen``, describe it in ``docs/json.md`` if it is
output, and set it where the record is built.

Standard library only, nothing from the package: the generator and any layer can read
it without importing the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from analyzer.core import labels

SCHEMA: Final = "keepalive-analyzer/1"  # the JSON document's "schema"

CONTRACT: Final = "contract"
ADDITION: Final = "addition"
INTERNAL: Final = "internal"
ROLES: Final = (CONTRACT, ADDITION, INTERNAL)


class _Required:
    """The default of a field that has none: every record must be given it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

# The categories of the categorical DataFrame columns, in their order.
CLOSED_BY: Final = labels.CLOSED_BY
LABELS: Final = labels.LABELS
VERDICTS: Final = ("reused", "partly-reused", "not-reused", "nothing-to-reuse", "no-http")


class Field:
    """One field of a record.

    ``type``: the annotation, as written in records.py. ``default``: its default value,
    or :data:`REQUIRED`; with ``factory`` (``dict``, ``list``) a fresh object of that
    type is each record's default instead (the dataclass' ``default_factory``; the
    written-out ``__init__`` takes None for it). ``dtype``: the pandas dtype of its
    DataFrame column, None when it has no column (internal fields, and ``{name: n}``
    mappings, which a table cell holds badly); ``"category"`` with its ``categories``.
    ``packed``: part of the record's plain values (:attr:`Record.values`).
    """

    __slots__ = ("name", "type", "default", "factory", "role", "dtype", "categories",
                 "packed", "doc")

    def __init__(
        self, name: str, type: str, default: object, role: str, dtype: str | None = None,
        *, factory: Callable[[], object] | None = None, categories: tuple[str, ...] = (),
        packed: bool = True, doc: str = "",
    ) -> None:
        self.name = name
        self.type = type
        self.default = default
        self.factory = factory
        self.role = role
        self.dtype = dtype
        self.categories = categories
        self.packed = packed
        self.doc = doc

    @property
    def output(self) -> bool:
        """In the JSON objects (and so, as far as it has a dtype, in the DataFrames)."""
        return self.role != INTERNAL

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, {self.role})"


def contract(
    name: str, type: str, default: object = REQUIRED, dtype: str | None = None, *,
    factory: Callable[[], object] | None = None, categories: tuple[str, ...] = (),
    doc: str = "",
) -> Field:
    """A field of DESIGN.md's JSON contract."""
    return Field(name, type, default, CONTRACT, dtype, factory=factory,
                 categories=categories, doc=doc)


def addition(
    name: str, type: str, default: object = REQUIRED, dtype: str | None = None, *,
    factory: Callable[[], object] | None = None, categories: tuple[str, ...] = (),
    doc: str = "",
) -> Field:
    """An output field past the contract."""
    return Field(name, type, default, ADDITION, dtype, factory=factory,
                 categories=categories, doc=doc)


def internal(
    name: str, type: str, default: object = REQUIRED, *,
    factory: Callable[[], object] | None = None, packed: bool = True, doc: str = "",
) -> Field:
    """A field never output."""
    return Field(name, type, default, INTERNAL, factory=factory, packed=packed, doc=doc)


class Record:
    """One record type: its class in records.py and its fields, in declaration order.

    ``written_init``: records.py writes its ``__init__`` out (records built per exchange
    or connection; then every field needs a default, as a compiled record is unpickled by
    building it empty). ``lead``: the field its plain values start with (the key a merge
    of packed records sorts by).
    """

    def __init__(
        self, name: str, *fields: Field, written_init: bool = False, lead: str | None = None
    ) -> None:
        self.name = name
        self.fields = fields
        self.names: tuple[str, ...] = tuple(f.name for f in fields)
        self.by_name: dict[str, Field] = {f.name: f for f in fields}
        self.written_init = written_init
        self.lead = lead
        #: the JSON object's keys, in order: every output field, contract first
        self.json: tuple[str, ...] = tuple(f.name for f in fields if f.output)
        #: the contract's part of them
        self.contract: tuple[str, ...] = tuple(f.name for f in fields if f.role == CONTRACT)
        #: DataFrame columns (in order) and their dtypes; "category" stands for the
        #: field's categories (analyzer.tables builds the pandas dtype)
        self.dtypes: dict[str, str] = {f.name: f.dtype for f in fields if f.dtype}
        #: the record as plain values (records.<name>_values; marshal and pickle write
        #: them fast): ``lead`` first, then every packed field in declaration order
        rest = tuple(f.name for f in fields if f.packed and f.name != lead)
        self.values: tuple[str, ...] = rest if lead is None else (lead, *rest)
        self._check()

    def _check(self) -> None:
        """A malformed schema fails at import, naming the field."""
        if len(self.by_name) != len(self.fields):
            raise ValueError(f"{self.name}: a field is declared twice")
        if self.lead is not None and self.lead not in self.by_name:
            raise ValueError(f"{self.name}: lead {self.lead!r} is not a field")
        seen_addition = False
        seen_default = False
        for f in self.fields:
            where = f"{self.name}.{f.name}"
            if f.role not in ROLES:
                raise ValueError(f"{where}: role {f.role!r}")
            if f.role == ADDITION:
                seen_addition = True
            elif f.role == CONTRACT and seen_addition:
                raise ValueError(f"{where}: a contract field after an addition")
            if f.dtype is not None and not f.output:
                raise ValueError(f"{where}: internal, never output, but has a dtype")
            if (f.dtype == "category") != bool(f.categories):
                raise ValueError(f"{where}: categories go with dtype 'category'")
            if f.factory is not None and f.default is not None:
                raise ValueError(f"{where}: a factory's default is None (a fresh one)")
            if f.default is REQUIRED:
                if self.written_init:
                    raise ValueError(f"{where}: no default (a compiled record unpickles empty)")
                if seen_default:
                    raise ValueError(f"{where}: no default after fields with one")
            else:
                seen_default = True

    def index(self, name: str) -> int:
        """Where the field ``name`` is in :attr:`values` (a ValueError when not packed)."""
        return self.values.index(name)

    def __repr__(self) -> str:
        return f"Record({self.name!r}, {len(self.fields)} fields)"


CAPTURE: Final = Record(
    "CaptureRecord",
    contract("path", "str"),
    contract("format", "str"),
    contract("packets", "int", 0),
    contract("tcp_packets", "int", 0),
    contract("skipped", "dict[str, int]", None, factory=dict),
    contract("truncated", "bool", False),
    contract("warnings", "list[str]", None, factory=list),
    addition("anomalies", "dict[str, int]", None, factory=dict),
    addition("missing_bytes", "int", 0),
    addition("dropped", "int", 0, doc="live capture: packets the kernel dropped"),
    addition("group", "int", 0,
             doc="files of one group are one capture (stitched); groups are apart"),
)

EXCHANGE: Final = Record(
    "ExchangeRecord",
    # the connection's id is its first key: the exchange store swaps it for the final id
    # at the head of each stored line (analyzer.store)
    contract("connection", "str", "", "string"),
    contract("index", "int", 0, "int64"),
    contract("method", "str | None", None, "string"),
    contract("target", "str | None", None, "string"),
    contract("version", "str | None", None, "string"),
    contract("status", "int | None", None, "Int64"),
    contract("request_ts", "float | None", None, "float64"),
    contract("response_ts", "float | None", None, "float64"),
    contract("opened_connection", "bool", False, "bool"),
    contract("closed_connection", "bool", False, "bool"),
    addition("response_end_ts", "float | None", None, "float64"),
    addition("response_version", "str | None", None, "string"),
    addition("request_connection", "str", "", "string",
             doc="Connection header tokens, lower-case"),
    addition("response_connection", "str", "", "string"),
    addition("framing", "str | None", None, "string",
             doc="length | chunked | close | none | tunnel"),
    addition("interim_responses", "int", 0, "int64"),
    addition("request_end_ts", "float | None", None, "float64"),
    addition("reason", "str", "", "string"),
    addition("stream", "int | None", None, "Int64",
             doc="HTTP/2: the stream id the exchange was carried on"),
    written_init=True,
)

CONNECTION: Final = Record(
    "ConnectionRecord",
    contract("id", "str", "", "string"),
    contract("capture", "str", "", "string"),
    contract("client", "str", "", "string"),
    contract("server", "str", "", "string"),
    contract("start", "float", 0.0, "float64"),
    contract("end", "float", 0.0, "float64"),
    contract("handshake_seen", "bool", False, "bool"),
    contract("syn", "int", 0, "int64"),
    contract("synack", "int", 0, "int64"),
    contract("fin_client", "int", 0, "int64"),
    contract("fin_server", "int", 0, "int64"),
    contract("rst_client", "int", 0, "int64"),
    contract("rst_server", "int", 0, "int64"),
    contract("closed_by", "str", "", "category", categories=CLOSED_BY),
    contract("requests", "int", 0, "int64"),
    contract("responses", "int", 0, "int64"),
    contract("interim_responses", "int", 0, "int64"),
    contract("label", "str", "", "category", categories=LABELS),
    contract("upgraded", "bool", False, "bool"),
    contract("missing_bytes", "int", 0, "int64"),
    contract("diagnosis", "str | None", None, "string"),
    addition("packets", "int", 0, "int64"),
    addition("client_bytes", "int", 0, "int64"),
    addition("server_bytes", "int", 0, "int64"),
    addition("teardown_ts", "float | None", None, "float64"),
    addition("handshake_rtt", "float | None", None, "float64"),
    addition("expired", "bool", False, "bool"),
    internal("held_until", "float", 0.0,
             doc="end, or the capture's end for a connection still open then"),
    addition("anomalies", "dict[str, int]", None, factory=dict),
    internal("exchanges", "list[ExchangeRecord]", None, factory=list, packed=False,
             doc="the exchanges: all of them, unless they went to an exchange store (a "
                 "large analysis, long live captures), in which case only the count, the "
                 "last one and what the rules need stay here"),
    internal("exchange_count", "int", 0),
    internal("close_delimited", "bool", False,
             doc="a response (not HTTP/0.9) ended with the connection"),
    internal("first", "int", 0,
             doc="the ordinal of the connection's first packet among all the records read "
                 "(analyze() numbers the connections C1, C2, … by it)"),
    internal("exchange_runs", "list[int] | None", None,
             doc="where its exchanges are in the analysis' exchange store (start, end "
                 "offsets of each run of lines; analyzer.store)"),
    internal("last_exchange", "ExchangeRecord | None", None),
    addition("user_agent", "str | None", None, "string",
             doc="the software on each side as the first request and response name it "
                 "(User-Agent, Server)"),
    addition("server_software", "str | None", None, "string"),
    addition("forwarded", "bool", False, "bool",
             doc="requests carried forwarding fields (Via, X-Forwarded-For, X-Real-IP, "
                 "Forwarded): the client is a proxy"),
    addition("via", "str | None", None, "string", doc="the response's Via"),
    addition("protocol", "str | None", None, "string",
             doc="chosen from the first payload bytes: http/1.x, h2c, tls, tls/http1, "
                 "tls/h2, unknown; None without payload"),
    addition("requests_estimated", "bool", False, "bool",
             doc="TLS not decrypted: requests is an estimate from request/response turns"),
    addition("tls", "dict[str, object] | None", None,
             doc="TLS facts (version, sni, alpn_offered, alpn, handshake, client_hellos, "
                 "records_client, records_server, decrypted, why_not_decrypted, …)"),
    addition("tunnel", "str | None", None, "string",
             doc="what the connection carried after 101 Switching Protocols or a 2xx to "
                 "CONNECT: h2c, websocket, …, or connect/tls, connect/http1 (the tunnel's "
                 "own protocol, whose requests count for the connection)"),
    addition("http2", "dict[str, object] | None", None,
             doc="HTTP/2 facts (streams, max_concurrent_streams, rst_streams, goaway_by, "
                 "goaway_last_stream, goaway_error, …)"),
    internal("response_done_ts", "float | None", None,
             doc="TLS not decrypted: the end of the last request/response turn (what the "
                 "last response's end is to the rules)"),
    written_init=True,
    lead="first",
)

SERVER: Final = Record(
    "ServerRecord",
    contract("server", "str", REQUIRED, "string"),
    contract("clients", "int", REQUIRED, "int64"),
    contract("connections", "int", REQUIRED, "int64"),
    contract("requests", "int", REQUIRED, "int64"),
    contract("handshakes", "int", REQUIRED, "int64"),
    contract("handshakes_per_request", "float", REQUIRED, "float64"),
    contract("max_concurrent", "int", REQUIRED, "int64"),
    contract("verdict", "str", REQUIRED, "category", categories=VERDICTS),
    contract("diagnosis", "str | None", REQUIRED, "string",
             doc="None for no-http, and for nothing-to-reuse when the connections have none"),
    contract("evidence", "str", REQUIRED, "string"),
    contract("hint", "str", REQUIRED, "string"),
    addition("persistent", "int", 0, "int64"),
    addition("per_request", "int", 0, "int64"),
    addition("request_limit", "int | None", None, "Int64"),
    addition("idle_timeout", "float | None", None, "float64"),
    addition("diagnoses", "dict[str, int]", None, factory=dict),
    addition("client_software", "str | None", None, "string",
             doc="the software on each side (hints.identify's names: \"Go net/http\", "
                 "\"nginx\", …; the most frequent)"),
    addition("server_software", "str | None", None, "string"),
    addition("proxy", "str | None", None, "string",
             doc="the reverse proxy the requests came through, if one was recognised"),
    addition("extra_handshakes", "float", 0.0, "float64",
             doc="the share of extra handshakes the diagnosis costs (handshakes a client "
                 "paid again after a connection had done its work, per request)"),
    addition("uncertain", "bool", False, "bool",
             doc="holes in the capture (lost packets) could have changed the diagnosis: "
                 "the hint is then a lead to check, not a fact"),
    addition("capture", "str | None", None, "string",
             doc="with several captures analysed apart (separate experiments): the first "
                 "file of the group this record sums up; None with one group"),
    addition("tls_handshakes_full", "int | None", None, "Int64",
             doc="TLS connections: handshakes that were full (None without TLS)"),
    addition("tls_handshakes_resumed", "int | None", None, "Int64"),
)

RECORDS: Final = (CAPTURE, CONNECTION, EXCHANGE, SERVER)

# The connection's nested objects as typed DataFrame columns ``<object>_<key>``
# (tls_version, http2_streams, …): JSON keeps the objects, a table flattens them.
NESTED_COLUMNS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "tls": (
        ("version", "string"), ("sni", "string"), ("alpn", "string"),
        ("handshake", "string"), ("client_hellos", "Int64"), ("records_client", "Int64"),
        ("records_server", "Int64"), ("decrypted", "boolean"),
        ("why_not_decrypted", "string"),
    ),
    "http2": (
        ("streams", "Int64"), ("max_concurrent_streams", "Int64"), ("rst_streams", "Int64"),
        ("pushes", "Int64"), ("goaway_by", "string"), ("goaway_last_stream", "Int64"),
        ("goaway_error", "string"),
    ),
}
