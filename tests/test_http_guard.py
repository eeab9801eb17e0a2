"""The private-network guard as pure functions, with a stubbed resolver (no real lookups)."""
import pytest

from transforms.http_guard import (GuardError, host_is_allowed, is_public_address, split_url, vet_host,
                                   vet_url)


def resolver_for(table):
    def resolve(host, port):
        if host not in table:
            raise OSError(f"stub resolver: unknown host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize("address", [
    "169.254.169.254",      # link-local: cloud metadata
    "169.254.0.1",
    "127.0.0.1", "127.0.0.2", "127.255.255.254",
    "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1",
    "100.64.0.1",           # carrier-grade NAT
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.2.3",
    "2002:a9fe:a9fe::1",    # 6to4 wrapping 169.254.169.254
    "not-an-ip",
])
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "151.101.1.69",
                                     "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address):
    assert is_public_address(address)


def test_link_local_name_is_blocked_with_stub_resolver():
    resolve = resolver_for({"metadata.test": ["169.254.169.254"]})
    with pytest.raises(GuardError) as err:
        vet_url("http://metadata.test/latest/meta-data/", resolver=resolve)
    assert err.value.reason == "blocked_address"
    assert "169.254.169.254" in str(err.value)


def test_private_name_is_blocked_and_public_name_passes():
    resolve = resolver_for({"intranet.test": ["10.1.2.3"], "news.test": ["93.184.216.34"],
                            "v6.test": ["2606:2800:220:1:248:1893:25c8:1946"]})
    with pytest.raises(GuardError) as err:
        vet_url("https://intranet.test/", resolver=resolve)
    assert err.value.reason == "blocked_address"
    assert vet_url("https://news.test/a?b=1", resolver=resolve) == ("https", "news.test", 443, ["93.184.216.34"])
    assert vet_url("http://v6.test:8080/", resolver=resolve)[2:] == (8080, ["2606:2800:220:1:248:1893:25c8:1946"])


def test_one_private_address_among_public_ones_blocks_the_host():
    resolve = resolver_for({"mixed.test": ["93.184.216.34", "192.168.0.10"]})
    with pytest.raises(GuardError) as err:
        vet_host("mixed.test", 80, resolver=resolve)
    assert err.value.reason == "blocked_address"


def test_unresolvable_and_empty_answers_are_dns_errors():
    resolve = resolver_for({"empty.test": []})
    for host in ("empty.test", "nowhere.test"):
        with pytest.raises(GuardError) as err:
            vet_host(host, 80, resolver=resolve)
        assert err.value.reason == "dns_error"


@pytest.mark.parametrize("url", ["ftp://example.test/x", "file:///etc/passwd", "javascript:alert(1)",
                                 "gopher://example.test/", "data:text/html,hi", "//example.test/x"])
def test_only_http_and_https(url):
    with pytest.raises(GuardError) as err:
        vet_url(url, resolver=resolver_for({"example.test": ["93.184.216.34"]}))
    assert err.value.reason == "bad_scheme"


def test_bad_urls():
    for url in ("http:///nohost", "http://exa mple.test:99999/"):
        with pytest.raises(GuardError) as err:
            split_url(url)
        assert err.value.reason in ("bad_url",)


def test_allow_private_network_opens_everything():
    resolve = resolver_for({"intranet.test": ["10.1.2.3"], "localhost": ["127.0.0.1", "::1"]})
    assert vet_host("intranet.test", 80, allow_private_network=True, resolver=resolve) == ["10.1.2.3"]
    assert vet_host("localhost", 8000, allow_private_network=True, resolver=resolve) == ["127.0.0.1", "::1"]


def test_allow_host_opens_only_the_named_host_and_port():
    resolve = resolver_for({"127.0.0.1": ["127.0.0.1"], "127.0.0.2": ["127.0.0.2"],
                            "localhost": ["127.0.0.1"], "intranet.test": ["10.1.2.3"]})
    allow = ("127.0.0.1:8001", "intranet.test")
    assert vet_host("127.0.0.1", 8001, allow_hosts=allow, resolver=resolve) == ["127.0.0.1"]
    assert vet_host("intranet.test", 1234, allow_hosts=allow, resolver=resolve) == ["10.1.2.3"]
    for host, port in (("127.0.0.1", 8002), ("127.0.0.2", 8001), ("localhost", 8001)):
        with pytest.raises(GuardError) as err:
            vet_host(host, port, allow_hosts=allow, resolver=resolve)
        assert err.value.reason == "blocked_address", (host, port)


def test_host_is_allowed_forms():
    assert host_is_allowed("news.test", 80, ["NEWS.test"])
    assert host_is_allowed("news.test", 8080, ["news.test:8080"])
    assert not host_is_allowed("news.test", 8081, ["news.test:8080"])
    assert not host_is_allowed("sub.news.test", 80, ["news.test"])
    assert host_is_allowed("::1", 9000, ["[::1]:9000"])
    assert not host_is_allowed("::1", 9001, ["[::1]:9000"])


def test_split_url_normalises_host():
    assert split_url("HTTP://News.Test./a") == ("http", "news.test", 80)
    assert split_url("https://bücher.test/") == ("https", "xn--bcher-kva.test", 443)
