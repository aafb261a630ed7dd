"""The door's rules: which Host and Origin a browser session may come with, and who is the
host's owner. The same rules run in a real server in tests/test_e2e_door.py."""

from __future__ import annotations

import pytest

from assistant.config import load_settings
from assistant.door import Door, Visit, parse_allowed_hosts, split_host
from assistant.errors import ConfigError

LOCAL = Door()
LAN = Door(parse_allowed_hosts("chat.lan, 10.0.0.7 .team.example"))


def visit(host, origin=None, peer="127.0.0.1", proxied=False) -> Visit:
    return Visit(host=host, origin=origin, peer=peer, proxied=proxied)


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8501",
        "LOCALHOST:8501",
        "localhost.:8501",
        "127.0.0.1:8501",
        "127.8.9.10:80",
        "[::1]:8501",
        "localhost",
        "app.localhost:8501",
    ],
)
def test_this_machines_own_names_are_served(host):
    assert LOCAL.refusal(visit(host, f"http://{host}")) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8501",  # DNS rebinding: a foreign name resolved to 127.0.0.1
        "localhost.evil.example:8501",
        "127.0.0.1.evil.example",
        "10.0.0.7:8501",  # a LAN address the owner did not allow
        "",
        None,
        "localhost:notaport",
        "user@localhost:8501",
        "localhost/path",
    ],
)
def test_foreign_or_malformed_hosts_get_one_sentence(host):
    refusal = LOCAL.refusal(visit(host))
    assert refusal is not None and "ASSISTANT_ALLOWED_HOSTS" in refusal
    assert "\n" not in refusal


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:9999",  # another local port
        "http://127.0.0.1:8501",  # same machine, another name: another origin
        "https://localhost",  # another port by its scheme
        "http://evil.example",
        "null",  # a sandboxed frame or a file
        "file://",
        "chrome-extension://abcdef",
        "http://localhost:99999",
    ],
)
def test_pages_of_other_origins_are_refused(origin):
    refusal = LOCAL.refusal(visit("localhost:8501", origin))
    assert refusal is not None and "not a page from" in refusal


def test_no_origin_is_a_program_not_a_page():
    assert LOCAL.refusal(visit("localhost:8501", None)) is None


def test_default_ports_match_a_host_without_a_port():
    assert LOCAL.refusal(visit("localhost", "http://localhost")) is None
    assert LOCAL.refusal(visit("localhost", "http://localhost:80")) is None
    assert LOCAL.refusal(visit("localhost", "http://localhost:8080")) is not None


def test_names_the_owner_allowed_are_served_and_their_subdomains_with_a_dot():
    assert LAN.refusal(visit("chat.lan:8501", "http://chat.lan:8501")) is None
    assert LAN.refusal(visit("10.0.0.7:8501", "http://10.0.0.7:8501")) is None
    assert LAN.refusal(visit("a.team.example", "https://a.team.example")) is None
    assert LAN.refusal(visit("team.example", "https://team.example")) is None
    assert LAN.refusal(visit("chat.lan.evil:8501")) is not None
    assert LAN.refusal(visit("xteam.example")) is not None


def test_a_proxy_that_rewrites_host_is_served_for_the_owners_public_name():
    # nginx's default sends the upstream's address as Host; the page's origin is public.
    assert LAN.refusal(visit("127.0.0.1:8501", "https://chat.lan", proxied=True)) is None
    assert LAN.refusal(visit("127.0.0.1:8501", "https://evil.example", proxied=True))


def test_a_star_serves_any_host_but_pages_still_need_their_own_origin():
    door = Door(parse_allowed_hosts("*"))
    assert door.refusal(visit("anything.example:8501", "http://anything.example:8501")) is None
    assert door.refusal(visit("anything.example:8501", "http://evil.example")) is not None


def test_the_configured_server_address_is_one_of_the_machines_names():
    door = Door(server_address="192.168.5.5")
    assert door.refusal(visit("192.168.5.5:8501", "http://192.168.5.5:8501")) is None
    assert Door(server_address="0.0.0.0").refusal(visit("0.0.0.0:8501")) is not None


@pytest.mark.parametrize(
    ("peer", "host", "proxied", "owner"),
    [
        ("127.0.0.1", "localhost:8501", False, True),
        ("::1", "[::1]:8501", False, True),
        ("::ffff:127.0.0.1", "localhost:8501", False, True),
        ("127.0.0.1", "localhost:8501", True, False),  # came through a proxy on this machine
        ("10.0.0.9", "localhost:8501", False, False),  # a LAN peer naming localhost
        ("10.0.0.9", "chat.lan:8501", False, False),
        ("127.0.0.1", "chat.lan:8501", False, False),  # a local tunnel serving a LAN name
        (None, "localhost:8501", False, False),
        ("127.0.0.1", "evil.example:8501", False, False),
    ],
)
def test_the_owner_is_a_browser_on_this_machine_that_came_straight_in(peer, host, proxied, owner):
    assert LAN.is_owner(visit(host, None, peer, proxied)) is owner


def test_a_visit_reads_the_handshake_headers_in_any_case():
    seen = Visit.from_handshake(
        [("Host", "localhost:8501"), ("ORIGIN", "http://localhost:8501"), ("X-Real-IP", "1.2.3.4")],
        "127.0.0.1",
    )
    assert seen == Visit("localhost:8501", "http://localhost:8501", "127.0.0.1", proxied=True)


def test_split_host_normalizes_names():
    assert split_host("LocalHost.:8501") == ("localhost", 8501)
    assert split_host("[::1]") == ("::1", None)
    assert split_host("[::1") is None


def test_allowed_hosts_setting_is_read_and_a_bad_entry_is_one_sentence():
    settings = load_settings({"ASSISTANT_ALLOWED_HOSTS": "Chat.LAN:8501, .team.example"}, {})
    assert settings.allowed_hosts == ("chat.lan", ".team.example")
    assert load_settings({}, {}).allowed_hosts == ()
    with pytest.raises(ConfigError, match="ASSISTANT_ALLOWED_HOSTS"):
        load_settings({"ASSISTANT_ALLOWED_HOSTS": "chat.lan http://x/y"}, {})
