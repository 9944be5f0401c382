"""The JSON contract of DESIGN.md (schema ``keepalive-analyzer/1``).

Required fields come first, in the contract's order; additions follow. Never rename.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.api import Analysis
    from analyzer.core.records import (
        CaptureRecord,
        ConnectionRecord,
        ExchangeRecord,
        ServerRecord,
    )


def capture_dict(c: CaptureRecord) -> dict[str, Any]:
    return {
        "path": c.path, "format": c.format, "packets": c.packets,
        "tcp_packets": c.tcp_packets, "skipped": c.skipped, "truncated": c.truncated,
        "warnings": c.warnings, "anomalies": c.anomalies, "missing_bytes": c.missing_bytes,
    }


def connection_dict(c: ConnectionRecord) -> dict[str, Any]:
    return {
        "id": c.id, "capture": c.capture, "client": c.client, "server": c.server,
        "start": c.start, "end": c.end, "handshake_seen": c.handshake_seen,
        "syn": c.syn, "synack": c.synack, "fin_client": c.fin_client,
        "fin_server": c.fin_server, "rst_client": c.rst_client, "rst_server": c.rst_server,
        "closed_by": c.closed_by, "requests": c.requests, "responses": c.responses,
        "interim_responses": c.interim_responses, "label": c.label, "upgraded": c.upgraded,
        "missing_bytes": c.missing_bytes, "diagnosis": c.diagnosis,
        # additions
        "packets": c.packets, "client_bytes": c.client_bytes, "server_bytes": c.server_bytes,
        "teardown_ts": c.teardown_ts, "handshake_rtt": c.handshake_rtt,
        "expired": c.expired, "anomalies": c.anomalies,
    }


def exchange_dict(e: ExchangeRecord) -> dict[str, Any]:
    return {
        "connection": e.connection, "index": e.index, "method": e.method,
        "target": e.target, "version": e.version, "status": e.status,
        "request_ts": e.request_ts, "response_ts": e.response_ts,
        "opened_connection": e.opened_connection, "closed_connection": e.closed_connection,
        # additions
        "response_end_ts": e.response_end_ts, "response_version": e.response_version,
        "request_connection": e.request_connection,
        "response_connection": e.response_connection, "framing": e.framing,
        "interim_responses": e.interim_responses,
    }


def server_dict(s: ServerRecord) -> dict[str, Any]:
    return {
        "server": s.server, "clients": s.clients, "connections": s.connections,
        "requests": s.requests, "handshakes": s.handshakes,
        "handshakes_per_request": s.handshakes_per_request,
        "max_concurrent": s.max_concurrent, "verdict": s.verdict,
        "diagnosis": s.diagnosis, "evidence": s.evidence, "hint": s.hint,
        # additions
        "persistent": s.persistent, "per_request": s.per_request,
        "request_limit": s.request_limit, "idle_timeout": s.idle_timeout,
        "diagnoses": s.diagnoses,
    }


def analysis_dict(a: Analysis) -> dict[str, Any]:
    from analyzer.api import SCHEMA

    return {
        "schema": SCHEMA,
        "captures": [capture_dict(c) for c in a.capture_records],
        "connections": [connection_dict(c) for c in a.connection_records],
        "exchanges": [exchange_dict(e) for e in a.exchange_records],
        "servers": [server_dict(s) for s in a.server_records],
    }
