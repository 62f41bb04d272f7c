"""``--jobs N``: worker processes translate, and the output is that of ``--jobs 1``, byte
for byte: requests, rejects, the summary (text but for the timing figures, and JSON),
the exit status and the ``--state`` file.

Each comparison runs the same command with ``--jobs 1`` and with workers, on the example
archive and on a stream made to hold every kind of line: events of every rule, bad
lines, blank lines, events without ``messageId`` (named by position), aliases, cohorts.
The units of work are made small there, so that the stream is cut into many units read
in many blocks. ``usable_cores`` is raised, so that workers run on a one-core machine
too. The worker that dies and Ctrl-C run in a child process, with a time limit: a hang
fails the test rather than stalling it.
"""

from __future__ import annotations

import gc
import gzip
import importlib.util
import io
import json
import multiprocessing
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import segment_braze as sb
from segment_braze import archive, cli
from segment_braze.archive import Block, parse_block
from segment_braze.braze import Identifier, UserAlias, UserAttributes, UsersTrack
from segment_braze.cli import jobs, transfer
from segment_braze.cli.accounting import Rejection

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SETTINGS = EXAMPLES / "settings.json"
TIMING = re.compile(r" in [\d.]+ s(, [\d,]+ lines/s)?$", re.MULTILINE)


USABLE_CORES = jobs.usable_cores


@pytest.fixture(autouse=True)
def cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four cores, wherever the tests run: ``--jobs 2`` and ``--jobs 0`` start workers."""
    monkeypatch.setattr(jobs, "usable_cores", lambda: 4)


@attrs.frozen
class Run:
    """What one run wrote: its exit status, standard output and error (the timing
    figures blanked), the requests, rejects and summary files."""

    status: int
    stdout: bytes
    stderr: str
    requests: bytes
    rejects: bytes
    summary: bytes


def translate(folder: Path, *argv: object, jobs: int, stdin: bytes = b"",
              command: str = "translate") -> Run:
    """``segment-braze COMMAND ARGV --jobs N``, in this process, writing to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out, err = io.BytesIO(), io.StringIO()
    files = {name: folder / f"{name}.{jobs}" for name in ("requests", "rejects", "summary")}
    writes = ["--output", files["requests"]] if command == "translate" else []
    status = cli.main([command, *map(str, argv), *map(str, writes), "--rejects",
                       str(files["rejects"]), "--summary", str(files["summary"]),
                       "--jobs", str(jobs)],
                      stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    read = {name: path.read_bytes() if path.exists() else b"" for name, path in files.items()}
    return Run(status, out.getvalue(), TIMING.sub(" in (time)", err.getvalue()), **read)


def same_as_one_job(folder: Path, *argv: object, stdin: bytes = b"",
                    command: str = "translate", workers: tuple[int, ...] = (2,)) -> Run:
    """Run with ``--jobs 1`` and with each of ``workers``; every run's output must be the
    first's. The first run is returned for further checks."""
    one = translate(folder / "1", *argv, jobs=1, stdin=stdin, command=command)
    for count in workers:
        assert translate(folder / str(count), *argv, jobs=count, stdin=stdin,
                         command=command) == one, f"--jobs {count}"
    return one


# -- a stream with every kind of line ------------------------------------------------------


def example_events() -> list[dict[str, Any]]:
    """The events of the example archive: every row of the rule table matches some."""
    return [item.event for item in sb.read_events(EXAMPLES / "segment-logs")
            if item.ok and isinstance(item.event, dict)]


def stream(events: list[dict[str, Any]]) -> bytes:
    """``events`` as NDJSON, with now and then an event without its ``messageId``, a bad
    line (not JSON, not an object, bytes that are not UTF-8, an event the translator
    rejects, one nested too deeply, one larger than 1 MB), a blank line, a line of
    spaces, a Windows line ending; and a last line without a newline."""
    bad = [b"not JSON {", b"[1, 2, 3]", b'{"type": "track", "userId": "\xff\xfe"}',
           b'{"type": "track", "userId": "u1", "event": ""}', b"[" * 5000 + b"]" * 5000,
           b'{"type": "track", "userId": "u", "event": "x", "p": "' + b"a" * 1_100_000 + b'"}',
           b'{"type": "screenview", "userId": "u"}']
    lines: list[bytes] = []
    for n, event in enumerate(events):
        if n % 9 == 4:
            event = {k: v for k, v in event.items() if k != "messageId"}
        lines.append(json.dumps(event).encode() + (b"\r" if n % 13 == 6 else b""))
        if n % 17 == 3:
            lines.append(bad[(n // 17) % len(bad)])
        if n % 23 == 5:
            lines += [b"", b"   \t"]
    return b"\n".join(lines)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return example_events()


@pytest.fixture
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of 8 KiB and units of 20 KB: a stream of a few MB is many units."""
    monkeypatch.setattr(archive, "CHUNK", 8192)
    monkeypatch.setattr(jobs, "UNIT_BYTES", 20_000)


# -- the same output -----------------------------------------------------------------------


def test_example_archive(tmp_path: Path) -> None:
    """The example archive, with its settings, by 1, 2 and every core."""
    one = same_as_one_job(tmp_path, EXAMPLES / "segment-logs", "--settings", SETTINGS,
                          workers=(2, 0))
    assert one.status == 0
    assert one.requests.count(b"\n") > 100
    assert one.rejects.count(b"\n") > 3
    assert "2,298 lines read from 9 files in (time)" in one.stderr
    assert gc.isenabled()  # paused while the outcomes come back, and resumed


@pytest.mark.usefixtures("small_units")
def test_every_kind_of_line_in_many_units(tmp_path: Path, events: list[dict[str, Any]]
                                          ) -> None:
    """Bad lines, skipped events, aliases, cohorts and events named by position, cut
    into many units (two files, one gzipped): the same output, batched (with
    --fail-on-reject) or not, and with a combined limit."""
    data = stream(events)
    (tmp_path / "a.ndjson").write_bytes(data)
    (tmp_path / "b.ndjson.gz").write_bytes(gzip.compress(data[: len(data) // 3]))
    inputs = (tmp_path / "a.ndjson", tmp_path / "b.ndjson.gz")
    one = same_as_one_job(tmp_path / "batched", *inputs, "--settings", SETTINGS,
                          "--fail-on-reject")
    assert one.status == 1
    summary = json.loads(one.summary)
    assert summary["read"] > len(events) * 4 // 3
    assert summary["skipped"]["total"] > 100
    assert set(summary["rejected"]["by_reason"]) >= {"not JSON", "larger than 1 MB", "at $"}
    assert set(summary["requests"]) >= {"/users/identify", "/partners/segment/cohorts/users"}
    positions = [o for line in one.requests.splitlines()
                 for origins in json.loads(line)["origins"].values() for o in origins
                 if isinstance(o, int)]
    assert len(positions) > 100  # events without a messageId, named by position
    same_as_one_job(tmp_path / "no-batch", *inputs, "--settings", SETTINGS, "--no-batch")
    same_as_one_job(tmp_path / "max-total", *inputs, "--settings", SETTINGS,
                    "--max-total", "50")


def test_validate(tmp_path: Path) -> None:
    one = same_as_one_job(tmp_path, EXAMPLES / "segment-logs", "--settings", SETTINGS,
                          command="validate")
    assert one.status == 0
    assert one.requests == b""
    assert "requests (not written)" in one.stderr


def test_standard_input(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    """Standard input, plain and gzipped, read by the parent while workers translate."""
    data = stream(events[:600])
    for name, piped in (("plain", data), ("gzip", gzip.compress(data))):
        one = same_as_one_job(tmp_path / name, "-", "--settings", SETTINGS, stdin=piped)
        assert b'"source":"<stdin>"' in one.rejects


def test_json_documents_and_read_faults(tmp_path: Path, events: list[dict[str, Any]]
                                        ) -> None:
    """A .json array (items in units of their own), NDJSON under a .json name, and a gzip
    cut short between two good files: the lines before the cut are translated, the
    fault is reported when its file ends, and the run ends with status 2."""
    (tmp_path / "a.json").write_text(json.dumps(events[:1500]))
    (tmp_path / "b.json").write_bytes(stream(events[:50]))
    whole = gzip.compress(stream(events))
    (tmp_path / "c.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "d.ndjson").write_bytes(stream(events[:30]))
    one = same_as_one_job(tmp_path / "out", *(tmp_path / n for n in
                                              ("a.json", "b.json", "c.gz", "d.ndjson")))
    assert one.status == 2
    assert "c.gz: the gzip data ends early" in one.stderr
    assert one.stderr.index("c.gz") < one.stderr.index("lines read")


class TestState:
    """``--state``: the tracker stays in the parent and sees translations in input
    order, so the requests and the state file are those of ``--jobs 1``."""

    @staticmethod
    def rows(path: Path) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT * FROM users ORDER BY key").fetchall()

    def test_two_runs_and_the_state_file(self, tmp_path: Path, events: list[dict[str, Any]]
                                         ) -> None:
        data = stream(events)
        (tmp_path / "in.ndjson").write_bytes(data)
        states = {n: tmp_path / f"state.{n}.db" for n in (1, 2)}
        for run in ("first", "second"):
            results = {n: translate(tmp_path / run, tmp_path / "in.ndjson", "--settings",
                                    SETTINGS, "--state", state, jobs=n)
                       for n, state in states.items()}
            assert results[1] == results[2]
            assert self.rows(states[1]) == self.rows(states[2])
        assert json.loads(results[1].summary)["unchanged"] > 100
        preview = same_as_one_job(tmp_path / "validate", tmp_path / "in.ndjson",
                                  "--settings", SETTINGS, "--state", states[1],
                                  command="validate")
        assert json.loads(preview.summary)["unchanged"] > 100

    def test_a_tracker_failure_rejects_its_line(self, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                events: list[dict[str, Any]]) -> None:
        """A bug in the tracker (in the parent) rejects that line as an internal error,
        naming its source and line, as --jobs 1 does."""
        real = sb.tracking.Tracker.apply

        def apply(self: Any, translation: sb.Translation) -> sb.Translation:
            if isinstance(translation.origin, int) and translation.origin % 10 == 3:
                raise RuntimeError("tracker failure")
            return real(self, translation)

        monkeypatch.setattr(sb.tracking.Tracker, "apply", apply)
        (tmp_path / "in.ndjson").write_bytes(stream(events[:300]))
        one, two = (translate(tmp_path, tmp_path / "in.ndjson", "--state",
                              tmp_path / f"s{n}.db", jobs=n) for n in (1, 2))
        assert one == two
        assert b"RuntimeError: tracker failure" in one.rejects


# -- workers -------------------------------------------------------------------------------


def test_jobs_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 is every core; never more workers than cores; on one core the work stays in
    this process (no pool at all); a negative count is a usage error."""
    assert jobs.workers_for(0) == 4
    assert jobs.workers_for(9) == 4
    monkeypatch.setattr(jobs, "usable_cores", lambda: 1)
    assert jobs.workers_for(0) == jobs.workers_for(8) == 1

    def no_pool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pool on one core")

    monkeypatch.setattr(jobs, "Pool", no_pool)
    assert translate(tmp_path, EXAMPLES / "segment-logs", jobs=8).status == 0
    err = io.StringIO()
    assert cli.main(["translate", "x", "--jobs", "-1"], stderr=err) == 2
    assert "--jobs" in err.getvalue()
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize(("files", "cores"), [
    ({"cpu.max": "150000 100000\n"}, 1),  # cgroup v2: one and a half cores
    ({"cpu.max": "max 100000\n"}, None),  # no limit
    ({"quota": "200000\n", "period": "100000\n"}, 2),  # cgroup v1
    ({"quota": "-1\n", "period": "100000\n"}, None),
    ({}, None),  # no cgroup files at all
])
def test_a_containers_cpu_limit_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       files: dict[str, str], cores: int | None) -> None:
    """A CPU quota caps the workers as an affinity does (in whole cores, at least one)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(jobs, "CPU_LIMITS", ((str(tmp_path / "cpu.max"), ""),
                                             (str(tmp_path / "quota"),
                                              str(tmp_path / "period"))))
    monkeypatch.setattr(jobs, "usable_cores", USABLE_CORES)
    affinity = len(os.sched_getaffinity(0))
    assert jobs.usable_cores() == (affinity if cores is None else min(affinity, cores))


def test_workers_start_from_the_settings_alone(events: list[dict[str, Any]]) -> None:
    """With the spawn start method nothing is inherited: each worker builds its
    translator from the settings it is sent (a Translator itself is never sent). The
    outcomes are those of translating here."""
    settings = sb.Settings.load(SETTINGS)
    data = stream(events[:200])
    unit = jobs.Unit(0, Block("in", 0, data))
    with jobs.Pool(settings, 1, context=multiprocessing.get_context("spawn")) as pool:
        [(_, outcomes)] = list(pool.outcomes([unit]))
    translator = sb.Translator(settings)
    lines = parse_block(unit.lines)
    for position, (item, encoded) in enumerate(zip(lines, outcomes, strict=True)):
        outcome = transfer.decode(encoded)
        if item.ok and not isinstance(outcome, Rejection):
            assert same(outcome, translator.translate(item.event, position=position))


#: The command in a child process, with workers forked (so that they inherit ``patch``)
#: on four cores.
SCRIPT = """
import multiprocessing, os, signal, sys
from segment_braze.cli import jobs, main
multiprocessing.set_start_method("fork")
jobs.usable_cores = lambda: 4
{patch}
sys.exit(main())
"""

#: A worker that kills itself on its second unit.
DIES = """
real = jobs._work
def dying(unit):
    if unit.position > 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(unit)
jobs._work = dying
jobs.UNIT_BYTES = 50_000
"""

#: Workers that say when they are ready.
READY = """
real = jobs._start
def start(*args):
    real(*args)
    os.write(2, b"worker ready\\n")
jobs._start = start
"""


def child(patch: str, *argv: object, **options: Any) -> subprocess.Popen[bytes]:
    """``segment-braze ARGV`` in a child process, with ``patch`` applied first."""
    code = SCRIPT.format(patch=textwrap.dedent(patch))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def test_a_worker_that_dies_stops_the_run(tmp_path: Path, events: list[dict[str, Any]]
                                          ) -> None:
    """An error in one line, exit status 2, no hang, and the state file as it was."""
    (tmp_path / "in.ndjson").write_bytes(stream(events))
    state = tmp_path / "s.db"
    process = child(DIES, "translate", tmp_path / "in.ndjson", "--jobs", "2",
                    "--state", state)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2, err.decode()
    [line] = err.decode().splitlines()
    assert re.fullmatch(rf"segment-braze: error: a worker process ended unexpectedly "
                        rf"\(translating {re.escape(str(tmp_path))}/in.ndjson from line \d+\); "
                        rf"the run was stopped", line), line
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM users").fetchone() == (0,)


def test_a_bug_in_a_worker_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    """An exception in a worker's own code (not a line's) ends the run in one line."""
    monkeypatch.setattr(transfer, "encode", _broken)
    run = translate(tmp_path, EXAMPLES / "segment-logs", jobs=2)
    assert run.status == 2
    assert run.stderr.startswith("segment-braze: error: a worker process failed")
    assert "ZeroDivisionError" in run.stderr
    assert "Traceback" not in run.stderr


def _broken(outcome: Any) -> bytes:
    raise ZeroDivisionError("broken")


def test_ctrl_c_stops_parent_and_workers(events: list[dict[str, Any]]) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the
    parent waits for standard input: status 130, one line, workers gone."""
    process = child(READY, "translate", "-", "--jobs", "2", "--output", os.devnull,
                    stdin=subprocess.PIPE, start_new_session=True)
    assert process.stdin is not None
    assert process.stderr is not None
    process.stdin.write(stream(events))  # a few units: the workers start
    process.stdin.flush()
    ready = [process.stderr.readline() for _ in range(2)]
    assert ready == [b"worker ready\n"] * 2
    os.killpg(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == b"segment-braze: interrupted\n"


# -- the compact form ----------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, field for field, fields that attrs leaves out of
    ``==`` (origins, times) included."""
    if type(a) is not type(b):
        return False
    if attrs.has(type(a)):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a)))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def translations(events: list[dict[str, Any]]) -> Iterator[sb.Translation]:
    """Translations of ``events`` with the example settings and the defaults, and with
    strict mode's notices turned into rejections left out."""
    for chosen in (sb.Settings.load(SETTINGS), sb.Settings(),
                      sb.Settings(anonymous_users="alias", context_traits=True),
                      sb.Settings(merge_on_alias=True)):
        translator = sb.Translator(chosen)
        for position, event in enumerate(events):
            try:
                yield translator.translate(event, position=position)
            except sb.InvalidEvent:
                continue


def test_compact_form_rebuilds_every_translation(events: list[dict[str, Any]]) -> None:
    """Every translation of the example archive (every rule, every request class) comes
    back equal field for field, through marshal, not pickle."""
    kinds = set()
    for translation in translations(events):
        data = transfer.encode(translation)
        assert same(transfer.decode(data), translation)
        assert not isinstance(_marshalled(data), bytes)  # no pickle fallback
        kinds |= {type(r) for r in translation.requests}
    assert len(kinds) >= 5


def _marshalled(data: bytes) -> Any:
    import marshal

    return marshal.loads(data)  # noqa: S302 - our own test data


@attrs.frozen
class Odd:
    """A class the compact form does not know."""

    x: int


class Values(dict[str, Any]):
    """A subclass of dict: marshal takes only dicts themselves."""


class Named(Identifier):
    """A subclass of a class the compact form knows."""


@pytest.mark.parametrize("odd", [
    {"values": {"k": Odd(1)}},  # an unknown object inside a JSON value
    {"values": Values(k=1)},
    {"identifier": Named("external_id", "u1")},
    {"values": {"k": (1, [2, (3,)])}},  # tuples and lists inside a value (no fallback)
])
def test_what_marshal_cannot_carry_goes_as_a_pickle(odd: dict[str, Any]) -> None:
    """A value of an unexpected type: the outcome still comes back equal (as a pickle)."""
    attributes = UserAttributes(identifier=Identifier("external_id", "u1"),
                                   values={"plan": "pro"})
    attributes = attrs.evolve(attributes, **odd)
    request = UsersTrack(attributes=(attributes,), origins={"attributes": ("m1",)})
    translation = sb.Translation(requests=(request,), origin="m1")
    assert same(transfer.decode(transfer.encode(translation)), translation)


def test_rejections_and_aliases_round_trip() -> None:
    rejected = Rejection("at $.event", "an event name must not be empty",
                         {"source": "in", "line": 3, "original": "x", "problems": []})
    assert transfer.decode(transfer.encode(rejected)) == rejected
    alias = Identifier("user_alias", UserAlias("anon-1", "anonymous_id"))
    track = UsersTrack(attributes=(UserAttributes(identifier=alias),),
                       origins={"attributes": (7,)})
    translation = sb.Translation(requests=(track,), origin=7)
    assert same(transfer.decode(transfer.encode(translation)), translation)
    assert len(transfer.encode(translation)) < len(pickle.dumps(translation))


def test_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The --jobs benchmark runs end to end on a tiny corpus and prints both settings."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_jobs",
                                                  ROOT / "benchmarks" / "bench_jobs.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--events", "300", "--repeat", "1"]) == 0
    report = capsys.readouterr().out
    assert "--jobs 1 " in report
    assert "--jobs 2 " in report
    assert "speed-up" in report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    """On a terminal the progress bar (tqdm: a thread of its own) runs beside the
    workers, which were started before it; the output is the same."""
    (tmp_path / "in.ndjson").write_bytes(stream(events))
    outputs = []
    for count in (1, 2):
        terminal = Terminal()
        assert cli.main(["translate", str(tmp_path / "in.ndjson"), "-o",
                         str(tmp_path / f"out.{count}"), "--jobs", str(count)],
                        stderr=terminal) == 0
        assert "reading" in terminal.getvalue()
        outputs.append((tmp_path / f"out.{count}").read_bytes())
    assert outputs[0] == outputs[1]


def one_of_each() -> list[Any]:
    """A request of every class the library has, each with entries of every kind."""
    from segment_braze.braze import (
        REQUEST_CLASSES,
        AliasToIdentify,
        CohortChange,
        CohortName,
        CohortUsers,
        Event,
        MergeUpdate,
        NewAlias,
        Purchase,
        SubscriptionStatusSet,
        UsersAliasNew,
        UsersDelete,
        UsersExportIds,
        UsersIdentify,
        UsersMerge,
    )

    alias = UserAlias("anon-1", "anonymous_id")
    user = Identifier("external_id", "u1")
    made = [
        UsersTrack(attributes=(UserAttributes(identifier=Identifier("user_alias", alias),
                                              values={"a": [1, {"b": None}]},
                                              update_existing_only=True),),
                   events=(Event(identifier=user, name="E", time="t", properties={"p": 1.5},
                                 app_id="app"),),
                   purchases=(Purchase(identifier=user, product_id="p", currency="EUR",
                                       price=2.0, time="t", quantity=3),),
                   origins={"attributes": ("m1",), "events": (2,), "purchases": (None,)}),
        UsersDelete(external_ids=("u1", "u2"), origins={"external_ids": ("m", 3)}),
        UsersIdentify(aliases_to_identify=(AliasToIdentify(external_id="u1",
                                                           user_alias=alias),),
                      merge_behavior="none", origins={"aliases_to_identify": ("m",)}),
        UsersMerge(merge_updates=(MergeUpdate(merge=Identifier("user_alias", alias),
                                              keep=user),),
                   origins={"merge_updates": ("m",)}),
        UsersAliasNew(user_aliases=(NewAlias(user_alias=alias, external_id="u1"),),
                      origins={"user_aliases": ("m",)}),
        SubscriptionStatusSet(subscription_group_id="g", subscription_state="subscribed",
                              external_ids=("u1",), emails=("a@example.com",),
                              origins={"subscription_groups": ("m", "m")}),
        CohortName(cohort_id="c", name="N", created_at="t", origins={"cohort_id": ("m",)}),
        CohortUsers(cohort_id="c", cohort_changes=(
            CohortChange(user_ids=("u1",), aliases=(alias,), device_ids=("d",)),),
            times=("t1", None, "t3"), origins={"cohort_changes": ("m", 1, 2)}),
        UsersExportIds(external_ids=("u1",), user_aliases=(alias,), fields_to_export=("f",),
                       origins={"external_ids": ("m",), "user_aliases": ("m",)}),
    ]
    assert {type(request) for request in made} == set(REQUEST_CLASSES)
    return made


def test_every_request_class_crosses_in_the_compact_form() -> None:
    """One request of each class, alone and together, with notices: equal field for
    field (origins and times too), and never as a pickle."""
    from segment_braze.errors import Notice

    requests = one_of_each()
    for translation in (*(sb.Translation(requests=(r,), origin="m") for r in requests),
                        sb.Translation(requests=tuple(requests), origin=7,
                                       notices=(Notice("$.x", "dropped", "track"),)),
                        sb.Translation(skipped="no Braze identifier", origin=None)):
        data = transfer.encode(translation)
        assert not isinstance(_marshalled(data), bytes)
        assert same(transfer.decode(data), translation)
