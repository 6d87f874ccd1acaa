"""Webhook targets: which site URLs and addresses the service may POST webhooks to.

Pure functions, no network: every address here is only parsed and classified.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.webhook_targets import (
    WebhookTargetError,
    check_address,
    check_delivery_url,
    check_host,
    check_loopback,
    non_public_reason,
    parse_ipv4_spelling,
    parse_site_url,
    webhook_url,
)

#: (address, what it is): every one is refused as a webhook target in production.
NON_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.0.1", "private"),
    ("192.168.255.255", "private"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("fc00::1", "private"),
    ("fdff:ffff::1", "private"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:7f00:1::", "loopback"),
    ("100.64.0.1", "non-public"),
    ("100.127.255.254", "non-public"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("192.0.2.1", "private"),
    ("198.51.100.7", "private"),
    ("203.0.113.9", "private"),
    ("198.18.0.1", "private"),
    ("2001:db8::1", "private"),
    ("192.0.0.8", "special-purpose"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.15.255.255",
    "172.32.0.1",
    "100.63.255.255",
    "100.128.0.1",
    "169.253.255.255",
    "2606:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "kind"), NON_PUBLIC)
def test_non_public_addresses_are_classified_and_refused(address, kind):
    ip = ipaddress.ip_address(address)
    assert non_public_reason(ip) == kind
    with pytest.raises(WebhookTargetError) as refused:
        check_address(ip, allow_private=False)
    assert refused.value.code == "site_url_not_public"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    ip = ipaddress.ip_address(address)
    assert non_public_reason(ip) is None
    check_address(ip, allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.20.0.5",
        "192.168.1.10",
        "fd12::5",
        "::ffff:127.0.0.1",
        "100.64.0.1",
    ],
)
def test_local_development_allows_loopback_and_private_networks(address):
    check_address(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "::",
        "169.254.169.254",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "::ffff:169.254.169.254",
    ],
)
def test_even_local_development_refuses_unspecified_link_local_and_multicast(address):
    with pytest.raises(WebhookTargetError):
        check_address(ipaddress.ip_address(address), allow_private=True)


# ---------------------------------------------------------------- site URLs
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0x7f000001",
        "0x7F.1",
        "017700000001",
        "127.0.0.1.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "0.0.0.0",
        "0",
        "10.0.0.1",
        "012.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "0xc0.0xa8.1.1",
        "169.254.169.254",
        "0xa9fea9fe",
        "2852039166",
        "[fc00::1]",
        "[fe80::1]",
        "100.64.0.1",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "wordpress.localhost",
        "１２７.０.０.１",
    ],
)
def test_registration_refuses_hosts_that_are_not_public(host):
    with pytest.raises(WebhookTargetError) as refused:
        parse_site_url(f"http://{host}:8080/blog", allow_private=False)
    assert refused.value.code == "site_url_not_public"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://blog.example.com", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://blog.example.com", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("http://user:pass@blog.example.com", "userinfo"),
        ("http://user@blog.example.com", "userinfo"),
        ("https://blog.example.com@127.0.0.1", "userinfo"),
        ("https://blog.example.com/?", "query"),
        ("https://blog.example.com/?x=1", "query"),
        ("https://blog.example.com/path?x=1/", "query"),
        ("https://blog.example.com/#", "fragment"),
        ("https://blog.example.com/#frag", "fragment"),
        ("http://", "no host"),
        ("http://:80/", "no host"),
        ("http://blog.example.com:0/", "port"),
        ("http://blog.example.com:99999/", "port"),
        ("http://blog.example.com:port/", "port"),
        ("http://bad_host!.example.com/", "host"),
        ("http://%31%32%37.0.0.1/", "host"),
        ("http://1.2.3.4.5/", "address"),
        ("http://1.2.3.256/", "address"),
        ("http://1.2.3.09/", "address"),
        ("http://example.123/", "address"),
        ("http://[::1/", "address"),
        ("http://[zz::1]/", "address"),
    ],
)
def test_registration_refuses_malformed_site_urls(url, why):
    with pytest.raises(WebhookTargetError) as refused:
        parse_site_url(url, allow_private=False)
    assert refused.value.code == "invalid_site_url", why


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://blog.example.com", "https://blog.example.com"),
        ("https://blog.example.com/", "https://blog.example.com"),
        ("HTTPS://Blog.Example.com/wp/", "https://Blog.Example.com/wp"),
        ("http://blog.example.com:8080/sub/dir/", "http://blog.example.com:8080/sub/dir"),
        ("http://8.8.8.8", "http://8.8.8.8"),
        ("https://例え.jp", "https://例え.jp"),
        ("http://a-b.c_d.example", "http://a-b.c_d.example"),
    ],
)
def test_public_site_urls_are_stored_without_a_trailing_slash(url, stored):
    assert parse_site_url(url, allow_private=False).url == stored


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080/wp",
        "http://192.168.1.20",
        "http://wordpress:80",
    ],
)
def test_local_development_accepts_loopback_and_private_site_urls(url):
    assert parse_site_url(url, allow_private=True).url == url


def test_delivery_refuses_stored_urls_that_predate_the_rules():
    allowed = check_delivery_url(
        "https://blog.example.com/wp-admin/admin-ajax.php?action=rakubun_webhook",
        allow_private=False,
    )
    assert allowed == "blog.example.com"
    for url in (
        "http://127.0.0.1:9/wp-admin/admin-ajax.php?action=rakubun_webhook",
        "http://[::1]:9/x",
        "http://u:p@blog.example.com/x",
        "ftp://blog.example.com/x",
        "http://2130706433/x",
        "http://localhost/x",
    ):
        with pytest.raises(WebhookTargetError):
            check_delivery_url(url, allow_private=False)


# ---------------------------------------------------------------- the webhook URL
@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("https://blog.example.com", "https://blog.example.com/wp-admin/admin-ajax.php"),
        ("https://blog.example.com/", "https://blog.example.com/wp-admin/admin-ajax.php"),
        ("https://example.com/blog", "https://example.com/blog/wp-admin/admin-ajax.php"),
        ("https://example.com/blog/", "https://example.com/blog/wp-admin/admin-ajax.php"),
        # A query or fragment (refused at registration; a site stored before that rule may
        # hold one) must not swallow the webhook's path.
        ("https://example.com/x?y=1", "https://example.com/x/wp-admin/admin-ajax.php"),
        ("https://example.com/x?y=1/../../", "https://example.com/x/wp-admin/admin-ajax.php"),
        ("https://example.com/x#y", "https://example.com/x/wp-admin/admin-ajax.php"),
    ],
)
def test_the_webhook_url_is_joined_so_its_path_and_action_survive(site, expected):
    assert webhook_url(site) == expected + "?action=rakubun_webhook"


# ---------------------------------------------------------------- IPv4 spellings
def _spell(address: int, parts: int, radixes: list[str]) -> str:
    """`address` written in `parts` parts (the last one takes the remaining bytes)."""
    octets = address.to_bytes(4, "big")
    numbers = [*octets[: parts - 1], int.from_bytes(octets[parts - 1 :], "big")]
    out = []
    for number, radix in zip(numbers, radixes, strict=False):
        if radix == "hex":
            out.append(hex(number))
        elif radix == "octal" and number:
            out.append("0" + oct(number)[2:])
        else:
            out.append(str(number))
    return ".".join(out)


spellings = st.builds(
    _spell,
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.lists(st.sampled_from(["dec", "octal", "hex"]), min_size=4, max_size=4),
)


@given(spellings)
def test_every_ipv4_spelling_reads_as_inet_aton_reads_it(spelling):
    # inet_aton is the C library's parser, the one getaddrinfo uses for numeric hosts.
    expected = ipaddress.IPv4Address(socket.inet_aton(spelling))
    assert parse_ipv4_spelling(spelling) == expected


@given(
    st.sampled_from(
        [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "0.0.0.0/8",
            "100.64.0.0/10",
        ]
    ),
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.lists(st.sampled_from(["dec", "octal", "hex"]), min_size=4, max_size=4),
    st.sampled_from(["", "."]),
)
def test_no_spelling_of_a_non_public_address_is_accepted(network, offset, parts, radixes, dot):
    net = ipaddress.IPv4Network(network)
    address = int(net.network_address) + offset % net.num_addresses
    host = _spell(address, parts, radixes) + dot
    with pytest.raises(WebhookTargetError) as refused:
        parse_site_url(f"http://{host}/", allow_private=False)
    assert refused.value.code == "site_url_not_public"


@given(st.from_regex(r"\A[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}\Z"))
def test_names_are_not_mistaken_for_addresses(name):
    assert parse_ipv4_spelling(name) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_only_accepts_loopback(address):
    check_loopback(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "10.0.0.1",
        "192.168.1.1",
        "0.0.0.0",
        "169.254.169.254",
        "::ffff:93.184.216.34",
        "2001:4860::1",
        "fe80::1",
        "64:ff9b::7f00:1",
    ],
)
def test_loopback_only_refuses_everything_else(address):
    with pytest.raises(WebhookTargetError) as refused:
        check_loopback(ipaddress.ip_address(address))
    assert refused.value.code == "site_url_not_loopback"


@pytest.mark.parametrize("host", ["example.com\n", "127.0.0.1\n", "127.1\n", "0x7f.1\n", "a.\n"])
def test_a_host_with_a_trailing_newline_is_no_valid_host(host):
    with pytest.raises(WebhookTargetError) as raised:
        check_host(host, allow_private=True)
    assert raised.value.code == "invalid_site_url"
