"""robots.txt: fetched once per host per client, cached, obeyed.

The outcome of fetching robots.txt follows RFC 9309: a 2xx body is parsed;
a 4xx means no rules (everything allowed); a 5xx or a network failure means
the site is unreachable, so everything is disallowed for this run. Only the
first 512 KiB are parsed. Crawl-delay for our user-agent token becomes the
host's minimum delay between requests (capped by the caller).
"""
from __future__ import annotations

import threading
import urllib.robotparser
from collections import OrderedDict
from typing import Callable, Optional
from urllib.parse import urlsplit

__all__ = ["ROBOTS_MAX_BYTES", "RobotsRules", "crawl_delay_for", "rules_from_response", "RobotsCache", "robots_url"]

ROBOTS_MAX_BYTES = 512 * 1024


class RobotsRules:
    """The rules of one host: `allowed(url)` and `crawl_delay`."""

    def __init__(self, parser: urllib.robotparser.RobotFileParser, agent: str, outcome: str,
                 crawl_delay: Optional[float] = None):
        self._parser = parser
        self._agent = agent
        self.outcome = outcome  # "parsed", "missing" or "unreachable"
        if crawl_delay is None:
            rate = parser.request_rate(agent)
            crawl_delay = rate.seconds / rate.requests if rate and rate.requests else None
        self.crawl_delay: Optional[float] = crawl_delay

    def allowed(self, url: str) -> bool:
        return self._parser.can_fetch(self._agent, url)


def crawl_delay_for(lines: list[str], agent: str) -> Optional[float]:
    """The Crawl-delay of the group for `agent` (else the `*` group), decimals allowed.

    urllib.robotparser only reads whole seconds, so the value is read here.
    """
    agent = agent.lower()
    delays: dict[str, float] = {}
    group: list[str] = []
    in_header = False
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        field, value = (part.strip() for part in line.split(":", 1))
        field = field.lower()
        if field == "user-agent":
            if not in_header:
                group = []
            group.append(value.lower())
            in_header = True
            continue
        in_header = False
        if field == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                continue
            if delay >= 0 and delay == delay and delay != float("inf"):
                for name in group:
                    delays.setdefault(name, delay)
    for name, delay in delays.items():
        if name != "*" and name in agent:
            return delay
    return delays.get("*")


def rules_from_response(status: Optional[int], body: bytes, agent: str) -> RobotsRules:
    """The rules for a robots.txt response (status None: network failure).

    Args:
        status: HTTP status of the robots.txt response, None when none came.
        body: the response body (only the first ROBOTS_MAX_BYTES are read).
        agent: our user-agent product token, e.g. "newsbeam".
    """
    parser = urllib.robotparser.RobotFileParser()
    if status is not None and 200 <= status < 300:
        text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = text.splitlines()
        parser.parse(lines)
        return RobotsRules(parser, agent, "parsed", crawl_delay_for(lines, agent))
    elif status is not None and 400 <= status < 500:
        parser.allow_all = True
        parser.modified()
        outcome = "missing"
    else:
        parser.disallow_all = True
        parser.modified()
        outcome = "unreachable"
    return RobotsRules(parser, agent, outcome)


def robots_url(url: str) -> str:
    """The robots.txt URL governing `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}/robots.txt"


class RobotsCache:
    """Fetches robots.txt once per host (scheme and authority) and keeps the rules.

    Args:
        fetch: fetch(robots_url) -> (status or None, body). Must not raise.
        agent: the user-agent product token to match rules against.
        max_hosts: hosts kept; the least recently used are forgotten beyond it.
    """

    def __init__(self, fetch: Callable[[str], tuple[Optional[int], bytes]], agent: str,
                 max_hosts: int = 10_000):
        self._fetch = fetch
        self._agent = agent
        self._max_hosts = max_hosts
        self._rules: OrderedDict[str, RobotsRules] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def rules_for(self, url: str) -> RobotsRules:
        """The rules of the host of `url`, fetching robots.txt on first use."""
        key = robots_url(url)
        with self._lock:
            rules = self._rules.get(key)
            if rules is not None:
                self._rules.move_to_end(key)
                return rules
            host_lock = self._locks.setdefault(key, threading.Lock())
        with host_lock:  # one fetch per host, even with many threads asking at once
            with self._lock:
                rules = self._rules.get(key)
            if rules is None:
                status, body = self._fetch(key)
                rules = rules_from_response(status, body, self._agent)
                with self._lock:
                    self.fetches += 1
                    self._rules[key] = rules
                    while len(self._rules) > self._max_hosts:
                        old, _ = self._rules.popitem(last=False)
                        self._locks.pop(old, None)
        return rules
