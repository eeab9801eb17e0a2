"""HttpClient and its helpers, against real local servers on 127.0.0.1 only."""
from __future__ import annotations

import collections
import datetime as dt
import email.utils
import gzip
import threading
import time
import zlib

import pytest

from tests.fault_server import FaultServer, TrapServer
from transforms import robots
from transforms.fetch import HostScheduler
from transforms.http import (DEFAULT_USER_AGENT, FetchError, HostGate, HttpClient, HttpConfig,
                             _inflaters, _TooLarge, backoff_delay, decode_html, parse_retry_after,
                             release_client, shared_client)


@pytest.fixture
def server():
    with TrapServer("127.0.0.2") as trap_ip, TrapServer() as trap_local, \
            FaultServer(trap_ip=trap_ip, trap_local=trap_local) as srv:
        yield srv


def config_for(srv, **overrides) -> HttpConfig:
    settings = dict(allow_hosts=(srv.netloc,), connect_timeout=2.0, read_timeout=2.0, max_retries=2,
                    backoff_base=0.01, backoff_max=2.0)
    settings.update(overrides)
    return HttpConfig(**settings)


# --- pure helpers ------------------------------------------------------------------

def test_decode_html_charset_sources():
    text = "Un café crème à la terrasse, déjà servi."
    page = f"<html><body><p>{text}</p></body></html>"
    assert text in decode_html(page.encode("utf-8"), "text/html; charset=UTF-8")
    assert text in decode_html(page.encode("cp1252"), "text/html; charset=iso-8859-1")
    meta = f'<html><head><meta charset="windows-1252"></head><body>{text}</body></html>'
    assert text in decode_html(meta.encode("cp1252"), "text/html")
    equiv = f'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>Привет, мир</p>'
    assert "Привет, мир" in decode_html(equiv.encode("koi8-r"), None)
    assert text in decode_html(b"\xef\xbb\xbf" + page.encode("utf-8"), "text/html; charset=latin-1")  # BOM wins
    assert text in decode_html(page.encode("utf-8"), None)  # UTF-8 without any declaration


def test_decode_html_detects_undeclared_legacy_charsets():
    french = ("<html><body><p>" + "Un café crème à la terrasse, déjà servi, où l'été dure. " * 5
              + "</p></body></html>")
    assert "café crème à la terrasse" in decode_html(french.encode("latin-1"), "text/html")
    russian = "<html><body><p>" + "Президент заявил журналистам, что переговоры продолжатся. " * 5 + "</p></body></html>"
    assert "Президент заявил" in decode_html(russian.encode("cp1251"), "text/html")


def test_decode_html_wrong_header_charset_falls_back():
    page = "<p>déjà vu</p>".encode("utf-8")
    assert "déjà vu" in decode_html(page, "text/html; charset=no-such-charset")
    assert "déjà vu" in decode_html(page, "text/html; charset=us-ascii")


def test_decode_html_binary_is_a_decode_error():
    with pytest.raises(FetchError) as err:
        decode_html(bytes(range(256)) * 64, "text/html")
    assert err.value.reason == "decode_error"


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    later = email.utils.format_datetime(dt.datetime.fromtimestamp(now + 90, dt.timezone.utc), usegmt=True)
    assert 88 <= parse_retry_after(later, now=now) <= 91
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0


def test_backoff_is_exponential_capped_and_jittered():
    assert backoff_delay(1, 0.5, 30, rng=lambda: 0.0) == 0.25
    assert backoff_delay(1, 0.5, 30, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 30, rng=lambda: 1.0) == 2.0
    assert backoff_delay(20, 0.5, 30, rng=lambda: 1.0) == 30.0
    draws = {round(backoff_delay(2, 1.0, 30), 6) for _ in range(50)}
    assert len(draws) > 10 and all(1.0 <= d <= 2.0 for d in draws)


def test_user_agent_names_the_project_and_the_contact():
    assert DEFAULT_USER_AGENT.startswith("newsbeam/")
    assert HttpConfig().full_user_agent == DEFAULT_USER_AGENT
    ua = HttpConfig(contact_url="https://example.org/crawler").full_user_agent
    assert ua.startswith("newsbeam/") and "https://example.org/crawler" in ua
    assert HttpConfig().agent_token == "newsbeam"


def test_config_validation():
    with pytest.raises(ValueError):
        HttpConfig(read_timeout=0)
    with pytest.raises(ValueError):
        HttpConfig(per_host_concurrency=0)
    assert HttpConfig(allow_hosts=["a:1"]).allow_hosts == ("a:1",)
    assert hash(HttpConfig(allow_hosts=["a:1"])) == hash(HttpConfig(allow_hosts=("a:1",)))


def test_inflater_cuts_a_bomb_without_inflating_it():
    bomb = gzip.compress(bytes(50 * 1024 * 1024))
    (inflater,) = _inflaters("gzip")
    out = 0
    with pytest.raises(_TooLarge):
        for i in range(0, len(bomb), 16384):
            out += len(inflater.feed(bomb[i:i + 16384], 1_000_000 - out))
    assert out <= 1_000_000
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = raw.compress(b"hello deflate") + raw.flush()
    (inflater,) = _inflaters("deflate")
    assert inflater.feed(deflated, 100) + inflater.flush(100) == b"hello deflate"
    with pytest.raises(FetchError):
        _inflaters("br")


def test_robots_rules_follow_rfc_9309():
    parsed = robots.rules_from_response(200, b"User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n", "newsbeam")
    assert parsed.allowed("http://x.test/news/1") and not parsed.allowed("http://x.test/private/a")
    assert parsed.crawl_delay == 2.0
    ours = robots.rules_from_response(200, b"User-agent: newsbeam\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
                                      "newsbeam")
    assert not ours.allowed("http://x.test/a")
    assert robots.rules_from_response(404, b"", "newsbeam").allowed("http://x.test/a")
    assert robots.crawl_delay_for(["User-agent: *", "Crawl-delay: 0.5"], "newsbeam") == 0.5
    assert robots.crawl_delay_for(["User-agent: other", "User-agent: newsbeam", "Crawl-delay: 3", "",
                                   "User-agent: *", "Crawl-delay: 9"], "newsbeam") == 3.0
    assert robots.crawl_delay_for(["User-agent: other", "Crawl-delay: 3"], "newsbeam") is None
    assert not robots.rules_from_response(503, b"", "newsbeam").allowed("http://x.test/a")
    assert not robots.rules_from_response(None, b"", "newsbeam").allowed("http://x.test/a")


# --- the client on the wire ---------------------------------------------------------------

def test_get_sends_user_agent_and_reuses_connections(server):
    client = HttpClient(config_for(server, contact_url="https://example.org/bot"))
    for n in range(4):
        response = client.get(server.url(f"/article/{n}"))
        assert response.status == 200 and b"Article" in response.body
        assert response.headers["content-type"].startswith("text/html")
        assert response.attempts == 1
    pages = [r for r in server.requests if r.path.startswith("/article/")]
    assert all(r.user_agent.startswith("newsbeam/") and "https://example.org/bot" in r.user_agent for r in pages)
    assert len({r.client_port for r in pages}) == 1  # one pooled connection
    client.close()


def test_connects_to_the_vetted_address_with_the_original_host_header(server):
    resolve = lambda host, port: ["127.0.0.1"]  # noqa: E731 - a stub resolver: no real lookup
    client = HttpClient(config_for(server, allow_hosts=(f"news.test:{server.port}",)), resolver=resolve)
    response = client.get(f"http://news.test:{server.port}/article/v")
    assert response.status == 200
    assert server.requests[-1].host == f"news.test:{server.port}"
    # The same resolver, but the name is not allowed: refused before any connection.
    before = len(server.requests)
    blocked = HttpClient(config_for(server, allow_hosts=()), resolver=resolve)
    with pytest.raises(FetchError) as err:
        blocked.get(f"http://news.test:{server.port}/article/w")
    assert err.value.reason == "blocked_address" and err.value.attempts == 0
    assert len(server.requests) == before


def test_conditional_get_and_gzip_feed(server):
    client = HttpClient(config_for(server))
    first = client.get(server.url("/etag"), kind="feed")
    assert first.status == 200 and first.headers["etag"] == '"v1"'
    again = client.get(server.url("/etag"), kind="feed", etag='"v1"')
    assert again.status == 304 and again.body == b""
    assert server.requests[-1].headers.get("if-none-match") == '"v1"'
    gz = client.get(server.url("/feeds/gz"), kind="feed")
    assert gz.body.startswith(b"<?xml") and b"/article/9" in gz.body
    assert "gzip" in server.requests[-1].headers.get("accept-encoding", "")


def test_max_bytes_with_and_without_content_length(server):
    client = HttpClient(config_for(server, max_bytes=1024 * 1024))
    for path in ("/big", "/big-chunked"):
        with pytest.raises(FetchError) as err:
            client.get(server.url(path))
        assert err.value.reason == "too_large", path
        assert err.value.http_status == 200
    assert len(HttpClient(config_for(server)).get(server.url("/big-chunked")).body) == 2 * 1024 * 1024


def test_robots_fetched_once_per_host_even_under_concurrency(server):
    client = HttpClient(config_for(server, per_host_concurrency=4))
    threads = [threading.Thread(target=client.get, args=(server.url(f"/article/{n}"),)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.hits("/robots.txt") == 1
    assert client.robots_fetches == 1
    with pytest.raises(FetchError) as err:
        client.get(server.url("/private/secret"))
    assert err.value.reason == "robots_disallowed"
    assert server.hits("/private/secret") == 0 and server.hits("/robots.txt") == 1


def test_robots_can_be_disabled(server):
    client = HttpClient(config_for(server, respect_robots=False))
    with pytest.raises(FetchError) as err:
        client.get(server.url("/private/secret"))
    assert err.value.reason == "http_404" and err.value.http_status == 404 and err.value.attempts == 1
    assert server.hits("/private/secret") == 1 and server.hits("/robots.txt") == 0


def test_robots_unreachable_disallows_the_host():
    with FaultServer(robots="") as srv:
        srv.handle_route = _robots_503(srv.handle_route)
        client = HttpClient(config_for(srv))
        with pytest.raises(FetchError) as err:
            client.get(srv.url("/article/1"))
        assert err.value.reason == "robots_unreachable"
        assert srv.hits("/article/1") == 0


def _robots_503(handle):
    def route(h):
        if h.path == "/robots.txt":
            return h.send_body(503, b"down")
        return handle(h)
    return route


def test_crawl_delay_spaces_requests():
    with FaultServer(robots="User-agent: *\nCrawl-delay: 0.3\n") as srv:
        client = HttpClient(config_for(srv, per_host_concurrency=3))
        threads = [threading.Thread(target=client.get, args=(srv.url(f"/article/{n}"),)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        starts = sorted(srv.times("/article/"))
        assert len(starts) == 3
        assert all(b - a >= 0.28 for a, b in zip(starts, starts[1:])), starts


def test_per_host_concurrency_and_delay(server):
    client = HttpClient(config_for(server, per_host_concurrency=2))
    threads = [threading.Thread(target=client.get, args=(server.url(f"/slow/{n}"),)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.max_in_flight["/slow"] == 2
    spaced = HttpClient(config_for(server, per_host_delay=0.2, per_host_concurrency=4))
    threads = [threading.Thread(target=spaced.get, args=(server.url(f"/article/d{n}"),)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts = sorted(server.times("/article/d"))
    assert len(starts) == 4 and all(b - a >= 0.19 for a, b in zip(starts, starts[1:])), starts


def test_retry_after_is_honoured(server):
    response = HttpClient(config_for(server)).get(server.url("/ratelimited"))
    assert response.status == 200 and response.attempts == 2
    first, second = server.times("/ratelimited")
    assert second - first >= 0.99


def test_host_gate_defers_all_requests_of_a_host():
    slept = []
    gate = HostGate(2, 0.0, sleep=slept.append)
    gate.defer("a:80", 5.0)
    with gate.slot("a:80"):
        pass
    with gate.slot("b:80"):
        pass
    assert len(slept) == 1 and 4.5 < slept[0] <= 5.0


def test_scheduler_keeps_other_hosts_moving_while_one_host_hangs():
    release_slow = threading.Event()
    running = collections.Counter()
    peak = collections.Counter()
    lock = threading.Lock()

    def job(host, n):
        with lock:
            running[host] += 1
            peak[host] = max(peak[host], running[host])
        if host == "slow.test":
            release_slow.wait(30)
        with lock:
            running[host] -= 1
        return host, n

    scheduler = HostScheduler(workers=4, per_host=2)
    for n in range(6):
        scheduler.submit("slow.test", ("slow", n), job, "slow.test", n)
    for n in range(20):
        scheduler.submit(f"fast{n % 5}.test", ("fast", n), job, f"fast{n % 5}.test", n)
    fast_done = set()
    deadline = time.monotonic() + 20  # a guard against hanging, not a speed assertion
    while len(fast_done) < 20 and time.monotonic() < deadline:
        for tag, result, error in scheduler.ready():
            assert error is None and tag[0] == "fast"
            fast_done.add(tag[1])
        time.sleep(0.01)
    assert len(fast_done) == 20, "fast hosts waited behind the slow one"
    assert not release_slow.is_set() and peak["slow.test"] == 2
    release_slow.set()
    slow_done = {tag[1] for tag, _, _ in scheduler.drain()}
    assert slow_done == set(range(6)) and peak["slow.test"] == 2
    scheduler.close()


def test_scheduler_returns_exceptions_with_their_tag():
    scheduler = HostScheduler(workers=2, per_host=1)
    scheduler.submit("h", "boom", lambda: 1 / 0)
    scheduler.submit("h", "fine", lambda: 42)
    outcomes = {tag: (result, error) for tag, result, error in scheduler.drain()}
    assert isinstance(outcomes["boom"][1], ZeroDivisionError) and outcomes["fine"] == (42, None)
    scheduler.close()


def test_shared_client_is_one_per_config_and_key():
    config = HttpConfig()
    a, b = shared_client(config, "run-1"), shared_client(config, "run-1")
    c = shared_client(config, "run-2")
    assert a is b and a is not c
    for key in ("run-1", "run-1", "run-2"):
        release_client(config, key)
    assert shared_client(config, "run-1") is not a
    release_client(config, "run-1")


def _self_signed(tmp_path, names=("news.test",)):
    """A self-signed certificate (its own CA) for `names` and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_https_verifies_the_certificate_against_the_url_host(tmp_path):
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    resolve = lambda host, port: ["127.0.0.1"]  # noqa: E731 - stub resolver: no real lookup
    srv = FaultServer(robots="")
    srv._httpd.socket = context.wrap_socket(srv._httpd.socket, server_side=True)  # before its thread starts
    with srv:
        allow = (f"news.test:{srv.port}", f"other.test:{srv.port}")
        trusted = HttpClient(HttpConfig(allow_hosts=allow, ca_certs=cert, read_timeout=2.0), resolver=resolve)
        response = trusted.get(f"https://news.test:{srv.port}/article/tls")
        assert response.status == 200 and b"Article tls" in response.body
        assert srv.requests[-1].host == f"news.test:{srv.port}"  # connected to the vetted IP, SNI for the name
        with pytest.raises(FetchError) as wrong_name:
            trusted.get(f"https://other.test:{srv.port}/article/x")
        assert wrong_name.value.reason == "tls_error"
        default_ca = HttpClient(HttpConfig(allow_hosts=allow, read_timeout=2.0), resolver=resolve)
        with pytest.raises(FetchError) as untrusted:
            default_ca.get(f"https://news.test:{srv.port}/article/y")
        assert untrusted.value.reason == "tls_error" and untrusted.value.attempts == 1  # not retried
        assert srv.hits("/article/x") == 0 and srv.hits("/article/y") == 0


def test_raw_utf8_location_header_is_followed(server):
    response = HttpClient(config_for(server)).get(server.url("/utf8-redirect"))
    assert response.status == 200 and b"Arrived at the caf" in response.body
    assert response.final_url == server.url("/café/menu")
    assert server.requests[-1].path == "/caf%C3%A9/menu"


@pytest.mark.parametrize("status, attempts", [(408, 3), (429, 3), (500, 3), (502, 3), (503, 3), (504, 3),
                                              (400, 1), (401, 1), (403, 1), (404, 1), (410, 1), (451, 1),
                                              (501, 1)])
def test_which_statuses_are_retried(server, status, attempts):
    with pytest.raises(FetchError) as err:
        HttpClient(config_for(server, max_retries=2)).get(server.url(f"/status/{status}"))
    assert (err.value.reason, err.value.http_status, err.value.attempts) == (f"http_{status}", status, attempts)
    assert server.hits(f"/status/{status}") == attempts
