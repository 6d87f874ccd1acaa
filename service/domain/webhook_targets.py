"""Where the service may send a plugin webhook: the rules for a site's URL and its addresses.

Registration is public, so a site URL is an instruction from a stranger to POST somewhere.
The rules here keep those POSTs on public hosts: a site URL is http(s) with a host and an
optional path (no userinfo, query or fragment), its host is a name or a public address, and
the webhook URL is built by URL joining so nothing in the site URL can swallow the webhook's
path. The same classifier checks every address a name resolves to at delivery time.
Plain functions, no I/O: the resolver lives in `service.outbound.notify`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

WEBHOOK_PATH = "wp-admin/admin-ajax.php?action=rakubun_webhook"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Names that mean this machine whatever DNS says (RFC 6761).
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost",)
#: IPv6 prefixes that carry an IPv4 address a gateway forwards to (NAT64, 6to4).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
#: Special-purpose ranges some Python versions count as global (IETF protocol assignments).
_SPECIAL_PURPOSE = (ipaddress.IPv4Network("192.0.0.0/24"),)
# Used with `fullmatch`: `$` would let a trailing newline through (and `int` reads `1\n`).
_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")


class WebhookTargetError(ValueError):
    """A site URL or address the service refuses to send webhooks to; `code` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SiteUrl:
    """A checked site URL: `url` is what is stored, `host` is a name or a literal address."""

    url: str
    host: str
    address: IPAddress | None


@functools.lru_cache(maxsize=4096)  # every webhook of a site joins the same URL
def webhook_url(site_url: str) -> str:
    """The plugin's webhook endpoint under `site_url`, by URL joining: the site's path stays a
    directory, and a query or fragment (refused at registration; a site stored before that
    rule may hold one) is dropped."""
    parts = urlsplit(site_url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", "", ""))
    return urljoin(base, WEBHOOK_PATH)


def parse_ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spells the way resolvers and browsers read it, or None for a name.

    `inet_aton` and the WHATWG URL parser both accept 1 to 4 dot-separated parts in decimal,
    octal (leading 0) or hex (0x): 2130706433, 0177.0.0.1, 0x7f.0.0.1 and 127.1 are all
    127.0.0.1. A host whose last label is a number is an address or invalid, never a name.
    """
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]  # one trailing dot: the root
    if not labels or not _NUMBER.fullmatch(labels[-1]):
        return None
    numbers: list[int] = []
    for label in labels:
        if not _NUMBER.fullmatch(label):
            raise WebhookTargetError("invalid_site_url", f"{host!r} is not a valid IPv4 address")
        try:
            if label.startswith("0x"):
                numbers.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                numbers.append(int(label, 8))
            else:
                numbers.append(int(label))
        except ValueError as exc:  # an octal part with an 8 or a 9
            raise WebhookTargetError(
                "invalid_site_url", f"{host!r} is not a valid IPv4 address"
            ) from exc
    *leading, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise WebhookTargetError("invalid_site_url", f"{host!r} is not a valid IPv4 address")
    value = last
    for index, part in enumerate(leading):
        value += part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally (IPv6 in brackets, any IPv4 spelling), else None."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError as exc:
            raise WebhookTargetError(
                "invalid_site_url", f"{host!r} is not a valid IPv6 address"
            ) from exc
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4_spelling(host.lower())


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to a translator: mapped, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def non_public_reason(address: IPAddress) -> str | None:
    """What makes `address` non-public ("loopback", "private", ...), or None when it is public.

    `is_global` excludes the IANA special-purpose ranges (private, shared/CGNAT,
    link-local, documentation, benchmarking, reserved, unique-local); multicast and
    unspecified are refused beside it, and an IPv6 address that carries an IPv4 address
    (mapped, NAT64, 6to4) is judged by the IPv4 address it carries.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return non_public_reason(inner)
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return kind
    if any(address in network for network in _SPECIAL_PURPOSE):
        return "special-purpose"
    return None if address.is_global else "non-public"


#: Never a WordPress, even in local development (cloud metadata lives at 169.254.169.254).
ALWAYS_REFUSED = ("unspecified", "link-local", "multicast")


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    """Raise `WebhookTargetError("site_url_not_public")` unless webhooks may go to `address`.

    `allow_private` (local development) lets loopback and private networks through; the
    unspecified, link-local and multicast addresses stay refused.
    """
    reason = non_public_reason(address)
    if reason is None or (allow_private and reason not in ALWAYS_REFUSED):
        return
    raise WebhookTargetError(
        "site_url_not_public", f"Webhooks may not be sent to {address}, a {reason} address"
    )


def check_loopback(address: IPAddress) -> None:
    """Under `WEBHOOK_LOOPBACK_ONLY` (the test suites): refuse every address but loopback, so
    fuzzed site URLs never send traffic off the machine."""
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if (inner or address).is_loopback:
        return
    raise WebhookTargetError(
        "site_url_not_loopback", f"Webhooks go to loopback only here, not to {address}"
    )


def _ascii_host(host: str) -> str:
    """A host name in its ASCII (IDNA) form, lowercased; IDNA also folds full-width digits."""
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise WebhookTargetError("invalid_site_url", f"{host!r} is not a valid host name") from exc


def check_host(host: str, *, allow_private: bool) -> IPAddress | None:
    """Check a URL's host without resolving it; answer its literal address, if it is one."""
    address = literal_address(host)
    name = ""
    if address is None:
        name = _ascii_host(host.rstrip(".")) if host.rstrip(".") else ""
        address = literal_address(name) if name else None
    if address is not None:
        check_address(address, allow_private=allow_private)
        return address
    if not name or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise WebhookTargetError("invalid_site_url", f"{host!r} is not a valid host name")
    if not allow_private and (name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES)):
        raise WebhookTargetError(
            "site_url_not_public", f"Webhooks may not be sent to {name} (this machine)"
        )
    return None


def check_delivery_url(url: str, *, allow_private: bool) -> str:
    """Check a stored webhook URL before sending to it (it may predate these rules); answer
    its host. Names are checked again when they resolve, see `service.outbound.notify`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise WebhookTargetError(
            "invalid_site_url", f"The webhook URL is not valid: {exc}"
        ) from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise WebhookTargetError("invalid_site_url", "The webhook URL must be http(s) with a host")
    if "@" in parts.netloc:
        raise WebhookTargetError(
            "invalid_site_url", "The webhook URL may not carry a user name or password"
        )
    check_host(f"[{host}]" if ":" in host else host, allow_private=allow_private)
    return host


def parse_site_url(raw: str, *, allow_private: bool) -> SiteUrl:
    """Check a site URL given at registration or in an update; answer it as it is stored.

    Refused, with `WebhookTargetError.code`: `invalid_site_url` (not http(s), no host, a bad
    port, userinfo, a query or a fragment) and `site_url_not_public` (a host that is a
    loopback, private, link-local or otherwise non-public address, or localhost).
    """
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise WebhookTargetError("invalid_site_url", f"The site URL is not valid: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookTargetError("invalid_site_url", "The site URL must be http or https")
    netloc = parts.netloc
    if "@" in netloc:
        raise WebhookTargetError(
            "invalid_site_url", "The site URL may not carry a user name or password"
        )
    if "?" in text or "#" in text:
        raise WebhookTargetError(
            "invalid_site_url", "The site URL may not carry a query or a fragment"
        )
    host = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    if not host:
        raise WebhookTargetError("invalid_site_url", "The site URL has no host")
    if port == 0:
        raise WebhookTargetError("invalid_site_url", "The site URL's port must be 1 to 65535")
    address = check_host(host, allow_private=allow_private)
    url = urlunsplit((parts.scheme.lower(), netloc, parts.path, "", "")).rstrip("/")
    return SiteUrl(url, host, address)
