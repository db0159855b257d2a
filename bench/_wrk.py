"""Driving `wrk` with signed webhook deliveries.

wrk cannot compute an HMAC, so the bodies are signed here beforehand and written to a file
(one `signature<TAB>body` per line) that its Lua script reads a line per request, each wrk
thread its own lines. Orca queues a signed body once: the same body under another delivery id
is a replay, answered 409. So the file must hold as many bodies as a run sends; past its end
the script starts it again, and the repeats show as non-2xx answers. Every request carries a
delivery id of its own. The script counts answers by status and prints one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r"""
local counter, file, threads = 0, nil, 1
statuses, all_threads, thread_id = {}, {}, 0

function setup(thread)
  table.insert(all_threads, thread)
  thread:set("thread_id", #all_threads)
end

function init(args)
  prefix, threads = args[1], tonumber(args[3])
  file = assert(io.open(args[2], "rb"))
  for _ = 2, thread_id do file:read("*l") end  -- thread n reads lines n, n + threads, ...
end

-- This thread's next line; after the last, the file again from the top.
local function next_line()
  local line = file:read("*l")
  if not line then
    file:seek("set", 0)
    for _ = 2, thread_id do file:read("*l") end
    line = file:read("*l")
  end
  for _ = 2, threads do file:read("*l") end
  return line
end

function request()
  counter = counter + 1
  local line = next_line()
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", "/webhooks", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/044aadd",
    ["X-GitHub-Event"] = "issues",
    ["X-GitHub-Delivery"] = prefix .. "-" .. thread_id .. "-" .. counter,
    ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
  }, line:sub(tab + 1))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(all_threads) do
    for status, n in pairs(thread:get("statuses")) do
      merged[#merged + 1] = string.format('"%d": %d', status, n)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": %d, "timeouts": %d, "statuses": [{%s}]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write, e.timeout,
    table.concat(merged, "}, {")))
end
"""


@dataclass
class Load:
    """What wrk measured."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    timeouts: int
    statuses: dict[int, int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


def available() -> bool:
    return shutil.which("wrk") is not None


def write_bodies(path: Path, signed: Iterable[tuple[str, bytes]]) -> int:
    """Write (signature, body) deliveries where `run` reads them; returns how many."""
    count = 0
    with path.open("wb") as out:
        for sig, body in signed:
            out.write(sig.encode() + b"\t" + body + b"\n")
            count += 1
    return count


def run(url: str, bodies: Path, prefix: str, seconds: float, connections: int,
        threads: int = 1) -> Load:
    """Post the deliveries in `bodies` (see write_bodies), in order, for `seconds`."""
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "deliveries.lua"
        script.write_text(SCRIPT)
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", str(script), f"{url}/webhooks", "--", prefix, str(bodies), str(threads)],
            capture_output=True, text=True, check=True, timeout=seconds + 60)
    return _parse(done.stdout)


def _parse(output: str) -> Load:
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line[len("WRK_JSON "):])
    statuses: dict[int, int] = {}
    for item in raw["statuses"]:
        for status, n in item.items():
            statuses[int(status)] = statuses.get(int(status), 0) + n
    return Load(raw["requests"], raw["duration_us"] / 1e6, raw["p50_us"] / 1e3,
                raw["p90_us"] / 1e3, raw["p99_us"] / 1e3, raw["max_us"] / 1e3,
                raw["errors"], raw["timeouts"], statuses)
