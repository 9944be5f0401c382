"""Secrets stay out of every output unless the user asks (``--show-secrets``).

The parser never keeps header values other than ``Connection`` (so Authorization,
Proxy-Authorization, Cookie and Set-Cookie values are never stored at all); what it keeps
of a request line is the target, where a secret may sit in the userinfo of an
absolute-form URL (RFC 9110 §4.2.4 deprecates it, proxies still see it) or in a query
parameter with a telling name. :func:`redact_target` replaces those values with
``REDACTED`` before the target reaches any record.
"""

from __future__ import annotations

import re

MASK = "REDACTED"
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")

# userinfo runs to the LAST "@" of the authority (a password may hold "@"): in an absolute
# URL, a scheme-relative "//…" target, or the authority form of CONNECT (RFC 9112 §3.2.3).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://|//)([^/?#]*)@")
_AUTHORITY_USERINFO = re.compile(r"^([^/?#]*)@(?=[^/?#@]*$|[^/?#@]*[/?#])")
_QUERY = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|token|access_token|refresh_token|id_token|"
    r"api_key|apikey|api-key|key|secret|client_secret|sig|signature|auth|session|"
    r"sessionid|session_id|jsessionid|phpsessid|sid|code|credentials?)=)[^&;#]*",
    re.IGNORECASE,
)


def redact_target(target: str) -> str:
    """The request target with userinfo and secret-looking query values masked."""
    if "@" in target:
        if target.startswith("/") and not target.startswith("//"):
            pass  # origin form: an "@" in a path is not userinfo
        elif _USERINFO.match(target):
            target = _USERINFO.sub(r"\1" + MASK + "@", target)
        else:
            target = _AUTHORITY_USERINFO.sub(MASK + "@", target)
    if "=" in target:
        target = _QUERY.sub(r"\1" + MASK, target)
    return target
