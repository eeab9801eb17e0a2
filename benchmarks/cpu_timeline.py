"""Where a row's cores sit idle: its processes' CPU use, second by second.

`bench_pipeline.py --cpu-timeline` samples the CPU time of every process of
each row (the command, Beam's worker processes, the CLI's pool) and prints,
under the table, one line a second and three phases:

- start: until the row first runs at its full rate (imports, building the
  Beam graph, starting worker processes, reading feeds);
- steady: from then to the last second it does (fetch and extraction);
- tail: after that (dedup's groupings, the Parquet write, the exit).

A second counts as busy when the row's processes together use at least
`BUSY_SHARE` of the row's own full rate: the 90th percentile of its seconds
(about 2 cores for a row that uses both, 1 for a one-process row). Idle
core-seconds are the cores times the wall time, less the CPU time used.
The per-second table shows the first and last `EDGE_SECONDS` seconds.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

__all__ = ["BUSY_SHARE", "Phases", "per_second", "phases", "format_timeline"]

BUSY_SHARE = 0.8
EDGE_SECONDS = 10

Sample = tuple[float, dict[int, float]]     # (seconds since start, {pid: CPU seconds so far})


def per_second(samples: Sequence[Sample], wall: float) -> tuple[list[int], list[list[float]]]:
    """CPU seconds used in each whole second, per process.

    Returns:
        (pids in order of first appearance, rows of one value per pid and second).
    """
    pids: list[int] = []
    for _, cpu in samples:
        pids.extend(pid for pid in cpu if pid not in pids)
    seconds = max(1, int(wall + 0.999))
    last = {pid: 0.0 for pid in pids}
    rows = [[0.0] * len(pids) for _ in range(seconds)]
    for t, cpu in samples:
        second = min(seconds - 1, int(t))
        for k, pid in enumerate(pids):
            if pid in cpu:
                rows[second][k] += max(0.0, cpu[pid] - last[pid])
                last[pid] = cpu[pid]
    return pids, rows


@dataclasses.dataclass
class Phases:
    """Start, steady and tail seconds, and what the cores did in each."""

    start: float
    steady: float
    tail: float
    steady_cores: float
    idle_core_seconds: float


def phases(rows: Sequence[Sequence[float]], wall: float, cpus: int) -> Phases:
    """The start, steady and tail phases of a per-second CPU table (see above)."""
    used = [sum(row) for row in rows]
    full = sorted(used)[int(0.9 * (len(used) - 1))] if used else 0.0
    busy = [k for k, u in enumerate(used) if u > 0 and u >= BUSY_SHARE * full]
    idle = cpus * wall - sum(used)
    if not busy:
        return Phases(wall, 0.0, 0.0, 0.0, idle)
    first, last = busy[0], busy[-1] + 1
    steady = last - first
    return Phases(float(first), float(steady), max(0.0, wall - last),
                  sum(used[first:last]) / steady, idle)


def format_timeline(label: str, samples: Sequence[Sample], wall: float, cpus: int) -> str:
    """The phases of one row, then its per-second table (command first, then the other processes)."""
    pids, rows = per_second(samples, wall)
    shown = [k for k, pid in enumerate(pids) if sum(r[k] for r in rows) >= 0.5]
    p = phases(rows, wall, cpus)
    lines = [f"{label}: {wall:.1f} s on {cpus} cores; start {p.start:.0f} s, steady {p.steady:.0f} s "
             f"at {p.steady_cores:.2f} cores, tail {p.tail:.0f} s; idle {p.idle_core_seconds:.1f} "
             f"core-seconds of {cpus * wall:.1f}"]
    names = ["command" if k == 0 else f"proc {k}" for k in shown]
    lines.append("      s " + " ".join(f"{name:>8}" for name in names) + "    other    total")
    for second, row in enumerate(rows):
        if EDGE_SECONDS <= second < len(rows) - EDGE_SECONDS:
            if second == EDGE_SECONDS:
                lines.append("    ...")
            continue
        other = sum(v for k, v in enumerate(row) if k not in shown)
        lines.append(f"  {second:5d} " + " ".join(f"{row[k]:8.2f}" for k in shown)
                     + f" {other:8.2f} {sum(row):8.2f}")
    return "\n".join(lines)
