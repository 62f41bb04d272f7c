"""Apache Spark, in local mode: the same result as the command line, a partition at a time.

One Spark session serves every test (starting the JVM takes seconds). Each archive is
translated by the command line in this process and by Spark, and the two are compared:
the summary, every user's operations in order (with the origin of each), the rejects,
the cohort names, the request counts; and no user is named in two lanes. The archives
are the example archive (few users, cohorts, bad lines) and one generated here whose
users change devices and user ids, so that their ids link only through chains that
cross files, with a large plain file that Spark reads in several splits.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import itertools
import json
import os
import random
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import segment_braze as sb
from segment_braze import cli
from segment_braze import spark as ss
from segment_braze.archive import find_sources
from segment_braze.braze.requests import REQUEST_CLASSES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENDPOINTS = {cls.ENDPOINT.path: cls.ENDPOINT for cls in REQUEST_CLASSES}
#: Spark splits uncompressed files into blocks of at most this many bytes in these tests,
#: so the generated archive's plain file is read by several tasks.
SPLIT = 64 * 1024


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("segment-braze-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.files.maxPartitionBytes", str(SPLIT))
               .config("spark.sql.files.openCostInBytes", "0")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# -- the command line and Spark, side by side ------------------------------------------


class Run:
    """One archive translated by the command line and by Spark."""

    def __init__(self, archive: Path, settings_file: Path, spark: SparkSession,
                 out: Path, partitions: int | None) -> None:
        requests, rejects, summary = out / "requests.ndjson", out / "rejects.ndjson", (
            out / "summary.json")
        status = cli.main(["translate", str(archive), "--settings", str(settings_file),
                           "-o", str(requests), "--rejects", str(rejects),
                           "--summary", str(summary)],
                          stdout=io.BytesIO(), stderr=io.StringIO())
        assert status == 0
        self.cli_bytes = requests.read_bytes()
        self.cli_requests = [json.loads(line) for line in self.cli_bytes.splitlines()]
        self.cli_rejects = [json.loads(line) for line in rejects.read_bytes().splitlines()]
        self.cli_summary = json.loads(summary.read_text())
        self.settings = sb.Settings.load(settings_file)
        self.lines = ss.read_archive(spark, str(archive))
        self.result = ss.translate_archive(self.lines, self.settings, partitions=partitions)
        rows = self.result.requests.orderBy("lane", "seq").collect()
        self.lanes = [row["lane"] for row in rows]
        self.requests = [{"endpoint": row["endpoint"], "body": json.loads(row["body"]),
                          "origins": json.loads(row["origins"])} for row in rows]
        self.summary = ss.summary_json(self.result.summary)
        self.rejects = [row.asDict(recursive=True) for row in self.result.rejects.collect()]


def users_of(entry: Any) -> list[str]:
    """The users an entry of a request body names, read from its JSON: an external id in
    a list of them, a cohort change's users, else the identifiers of an object (an
    object with an external id or alias is not named by the email among its values)."""
    if isinstance(entry, str):
        return [entry]
    if "user_ids" in entry:
        return [*entry["user_ids"], *(json.dumps(a, sort_keys=True) for a in entry["aliases"])]
    named = [entry[key] for key in ("external_id", "braze_id") if key in entry]
    if "user_alias" in entry:
        named.append(json.dumps(entry["user_alias"], sort_keys=True))
    if not named and "email" in entry:
        named.append("email:" + entry["email"])
    return named


def operations(requests: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every user's operations in the order Braze applies them (requests in order, parts
    in the body's order): for ``ordered`` endpoints one sequence per user, with each
    entry and its origin; for ``latest`` ones (cohort membership, which batching orders
    per cohort only) one sequence per user and cohort."""
    seen: dict[str, list[Any]] = defaultdict(list)
    for request in requests:
        endpoint = ENDPOINTS[request["endpoint"]]
        body, origins = request["body"], request["origins"]
        for part in endpoint.parts:
            if part.single:
                continue
            for index, entry in enumerate(body.get(part.name, ())):
                if endpoint.batching == "latest":
                    change = {k: v for k, v in entry.items()
                              if k not in ("user_ids", "aliases", "device_ids")}
                    for user in users_of(entry):
                        seen[f"{user} in {body['cohort_id']}"].append(change)
                    continue
                origin = origins[part.name][index]
                for user in users_of(entry):
                    seen[user].append((request["endpoint"], part.name, entry, origin))
    return {user: _without_repeats(ops) for user, ops in seen.items()}


def _without_repeats(operations: list[Any]) -> list[Any]:
    """A user's operations without the repeats of an idempotent entry (a deletion, an
    identify merge) right after an equal one: batching may merge such a repeat into the
    earlier entry (its origin kept as superseded) or not, as its window allows, so lanes
    and one stream may differ there and nowhere else."""
    kept: list[Any] = []
    for op in operations:
        if (isinstance(op, tuple) and kept and isinstance(kept[-1], tuple)
                and kept[-1][:3] == op[:3] and ENDPOINTS[op[0]].part(op[1]).idempotent):
            continue
        kept.append(op)
    return kept


#: Parts whose repeats batching may merge (their counts depend on its window; every
#: user's entries of them are compared by :func:`operations`, repeats aside).
IDEMPOTENT = frozenset(part.name for endpoint in ENDPOINTS.values() for part in endpoint.parts
                       if part.idempotent)


def accounting(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what lanes change: the request counts, the number of cohort
    changes (one change lists many users, and lanes list them in more changes; every
    user's changes are compared by :func:`operations`), and the entries of idempotent
    parts (see :func:`_without_repeats`)."""
    objects = {endpoint: {part: count for part, count in counts["objects"].items()
                          if part not in IDEMPOTENT}
               for endpoint, counts in summary["requests"].items()
               if ENDPOINTS[endpoint].batching != "latest"}
    return {**{k: v for k, v in summary.items() if k != "requests"}, "objects": objects}


def as_path(source: str) -> str:
    return urlparse(source).path


# -- a generated archive ---------------------------------------------------------------

USERS = 1000
VERSIONS = 3


def _timeline(rng: random.Random, user: int) -> list[dict[str, Any]]:
    """One user's events: each version of the user has its own user id and device
    (anonymous id); anonymous visits come first, then an identify and tracks that link
    the device to the user id, and an alias call links each user id to the next."""
    events: list[dict[str, Any]] = []
    for version in range(VERSIONS):
        user_id, device = f"u{user:04d}-v{version}", f"a{user:04d}-{version}"
        events += [{"type": "page", "anonymousId": device, "name": "Pricing"}
                   for _ in range(rng.randrange(1, 4))]
        events.append({"type": "identify", "userId": user_id, "anonymousId": device,
                       "traits": {"plan": rng.choice(("free", "pro")),
                                  "logins": rng.randrange(100)}})
        events += [{"type": "track", "userId": user_id, "anonymousId": device,
                    "event": rng.choice(("Viewed", "Added", "Searched")),
                    "properties": {"n": rng.randrange(10)}}
                   for _ in range(rng.randrange(2, 7))]
        if version:
            events.append({"type": "alias", "previousId": f"u{user:04d}-v{version - 1}",
                           "userId": user_id})
    return events


def _stream(seed: int = 11) -> list[bytes]:
    """Every user's timeline, interleaved at random (each user's order kept), with lines
    the command line must account for: blank lines, a line that is not JSON, events
    without any id or without a messageId, numeric user ids and a braze_id only."""
    rng = random.Random(seed)
    timelines = [_timeline(rng, user) for user in range(USERS)]
    order = [user for user, events in enumerate(timelines) for _ in events]
    rng.shuffle(order)
    cursors = [0] * USERS
    lines: list[bytes] = []
    for number, user in enumerate(order):
        event = dict(timelines[user][cursors[user]])
        cursors[user] += 1
        event["timestamp"] = f"2024-05-01T{number // 3600 % 24:02d}:{number // 60 % 60:02d}:" \
                             f"{number % 60:02d}Z"
        if number % 7:
            event["messageId"] = f"m-{number}"
        lines.append(json.dumps(event, separators=(",", ":")).encode())
        if number % 500 == 250:
            lines += [b"", b"   ", b"{not json",
                      b'{"type":"track","event":"Nobody","timestamp":"2024-05-01T00:00:00Z"}',
                      b'{"type":"track","userId":123,"event":"Numbered","timestamp":'
                      b'"2024-05-01T00:00:00Z"}',
                      b'{"type":"identify","userId":"123","anonymousId":"n-123",'
                      b'"traits":{"plan":"pro"},"timestamp":"2024-05-01T00:00:00Z"}',
                      b'{"type":"track","userId":123.0,"event":"Again","timestamp":'
                      b'"2024-05-01T00:00:00Z"}',
                      b'{"type":"track","event":"By braze id","integrations":{"Braze":'
                      b'{"braze_id":"bz-1"}},"timestamp":"2024-05-01T00:00:00Z"}',
                      b'{"type":"track","userId":"bad-\xff","event":"Not UTF-8"}']
    return lines


def write_archive(root: Path) -> Path:
    """The stream in four files over two days, in stream order: gzipped, plain (large
    enough to be split), gzipped, plain."""
    lines = _stream()
    archive = root / "segment-logs" / "src"
    cuts = [0, len(lines) // 6, len(lines) * 4 // 6, len(lines) * 5 // 6, len(lines)]
    names = ["1714521600/1.gz", "1714521600/2.ndjson", "1714608000/3.gz",
             "1714608000/4.jsonl"]
    for name, start, end in zip(names, cuts, cuts[1:], strict=False):
        path = archive / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b"\n".join(lines[start:end]) + b"\n"
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return archive


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("generated")
    settings = root / "settings.json"
    settings.write_text(json.dumps({"anonymous_users": "alias", "track_all_pages": True}))
    return write_archive(root), settings


@pytest.fixture(scope="module")
def example_default(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(EXAMPLES / "segment-logs", EXAMPLES / "settings.json", spark,
               tmp_path_factory.mktemp("example-default"), None)


@pytest.fixture(scope="module")
def example_lanes(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(EXAMPLES / "segment-logs", EXAMPLES / "settings.json", spark,
               tmp_path_factory.mktemp("example-lanes"), 4)


@pytest.fixture(scope="module")
def generated_lanes(spark: SparkSession, generated: tuple[Path, Path],
                    tmp_path_factory: pytest.TempPathFactory) -> Run:
    archive, settings = generated
    return Run(archive, settings, spark, tmp_path_factory.mktemp("generated-lanes"), 4)


@pytest.fixture(params=["example_default", "example_lanes", "generated_lanes"])
def run(request: pytest.FixtureRequest) -> Run:
    value: Run = request.getfixturevalue(request.param)
    return value


# -- reading ---------------------------------------------------------------------------


def _cli_lines(archive: Path) -> list[tuple[str, int, int, str]]:
    """(file, line number, position, line) of every non-blank line, as the command line
    reads the archive."""
    out = []
    position = 0
    for source in find_sources([str(archive)]):
        data = Path(source.name).read_bytes()
        if source.name.endswith(".gz"):
            data = gzip.decompress(data)
        for number, line in enumerate(data.split(b"\n"), 1):
            if line.strip():
                out.append((source.name, number, position, line.decode(errors="replace")))
                position += 1
    return out


class TestReadArchive:
    def test_lines_are_numbered_as_the_command_line_numbers_them(
            self, spark: SparkSession, generated: tuple[Path, Path]) -> None:
        """File, line (blank lines counted) and stream position of every non-blank line
        equal the command line's, across gzipped files and a split plain file."""
        archive, _ = generated
        rows = ss.read_archive(spark, str(archive)).collect()
        got = sorted((as_path(r["source"]), r["line"], r["position"], r["value"])
                     for r in rows)
        assert got == sorted(_cli_lines(archive))

    def test_a_large_plain_file_is_read_by_several_tasks(
            self, spark: SparkSession, generated: tuple[Path, Path]) -> None:
        """The plain file is larger than a split and is not read as one task; a gzipped
        file, which cannot be split, is."""
        archive, _ = generated
        plain = archive / "1714521600" / "2.ndjson"
        assert plain.stat().st_size > 3 * SPLIT
        assert spark.read.text(str(plain)).rdd.getNumPartitions() >= 3
        blocks = (ss.read_archive(spark, str(plain)).select(F.spark_partition_id())
                  .distinct().count())
        assert blocks >= 2

    def test_numbering_does_not_depend_on_the_split_size(
            self, spark: SparkSession, generated: tuple[Path, Path]) -> None:
        """The same lines, numbers and positions whatever the split size."""
        archive, _ = generated
        small = sorted(map(tuple, ss.read_archive(spark, str(archive)).collect()))
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(16 * 1024 * 1024))
        try:
            large = sorted(map(tuple, ss.read_archive(spark, str(archive)).collect()))
        finally:
            spark.conf.set("spark.sql.files.maxPartitionBytes", str(SPLIT))
        assert small == large


# -- the same result as the command line -----------------------------------------------


def test_the_summary_is_the_command_lines(run: Run) -> None:
    """Read, translated, skipped and rejected (by reason), notices, data points, objects
    per endpoint and files are the command line's; every line is accounted for."""
    assert accounting(run.summary) == accounting(run.cli_summary)
    summary = run.summary
    assert summary["read"] == (summary["translated"] + summary["skipped"]["total"]
                               + summary["rejected"]["total"])


def test_every_user_sees_the_same_operations_in_the_same_order(run: Run) -> None:
    """Per user: the same entries, in the order Braze applies them, with the same
    origins (messageId, else the stream position) as the command line's output."""
    assert operations(run.requests) == operations(run.cli_requests)


def test_no_user_is_named_in_two_lanes(run: Run) -> None:
    """A user's requests all come from one lane (lane -1 holds the cohort names)."""
    lanes: dict[str, set[int]] = defaultdict(set)
    for lane, request in zip(run.lanes, run.requests, strict=True):
        for user, _ in operations([request]).items():
            lanes[user.split(" in ")[0]].add(lane)
    assert lanes
    assert all(len(found) == 1 for found in lanes.values())
    if run.result.requests.select("lane").distinct().count() > 2:
        assert len({next(iter(found)) for found in lanes.values()}) > 1


def test_the_rejects_are_the_command_lines(run: Run) -> None:
    """Each rejected line with its file, line number, text and problems."""
    def key(record: dict[str, Any]) -> tuple[str, int, str, str]:
        return (as_path(record["source"]), record["line"], record["original"],
                json.dumps(record["problems"]))
    assert sorted(map(key, run.rejects)) == sorted(map(key, run.cli_rejects))
    assert run.rejects


def test_cohort_names_go_out_once_first(example_lanes: Run) -> None:
    """The cohort names are sent once, from the driver, in lane -1, as the command line
    sends them, though several lanes translated audience events."""
    names = [r for r in example_lanes.requests
             if ENDPOINTS[r["endpoint"]].batching == "once"]
    assert names == [r for r in example_lanes.cli_requests
                     if ENDPOINTS[r["endpoint"]].batching == "once"]
    assert len(names) == 2
    assert example_lanes.lanes[:2] == [ss.NAMES_LANE] * 2
    assert ss.NAMES_LANE not in example_lanes.lanes[2:]


def test_request_counts_are_within_ten_percent(example_default: Run,
                                               generated_lanes: Run) -> None:
    """Lanes of many interleaved users batch as one stream does: the generated archive in
    four lanes sends at most 10% more requests than one process; the example archive,
    with the default number of lanes, sends exactly as many."""
    assert len(example_default.requests) == len(example_default.cli_requests)
    ratio = len(generated_lanes.requests) / len(generated_lanes.cli_requests)
    assert 0.9 <= ratio <= 1.1, ratio
    assert generated_lanes.result.requests.select("lane").distinct().count() == 4


def test_one_lane_writes_the_command_lines_bytes(example_default: Run, tmp_path: Path) -> None:
    """With one lane (the default for a small archive), the requests written as one
    file are the command line's output byte for byte."""
    assert set(example_default.lanes) == {ss.NAMES_LANE, 0}
    ss.write_requests(example_default.result.requests, str(tmp_path / "out"),
                      single_file=True)
    (written,) = sorted((tmp_path / "out").glob("part-*.ndjson"))
    assert written.read_bytes() == example_default.cli_bytes


# -- identity --------------------------------------------------------------------------


def _components(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Connected components by union-find, independently of Spark."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    return {x: find(x) for x in parent}


def _keys(spark: SparkSession, events: list[dict[str, Any]], tmp: Path,
          **options: Any) -> DataFrame:
    path = tmp / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return ss.identity_keys(ss.read_archive(spark, str(path)), **options)


class TestIdentityKeys:
    def test_chains_of_ids_share_one_key(self, spark: SparkSession, tmp_path: Path) -> None:
        """Ids linked only through long chains (alias calls, shared devices, braze ids)
        share a key exactly when union-find puts them in one component."""
        rng = random.Random(5)
        events: list[dict[str, Any]] = []
        pairs: list[tuple[str, str]] = []
        for chain in range(6):
            ids = [f"c{chain}-{i}" for i in range(40)]
            links = list(itertools.pairwise(ids))
            rng.shuffle(links)
            for a, b in links:
                kind = rng.choice(("alias", "device", "braze"))
                if kind == "alias":
                    events.append({"type": "alias", "previousId": a, "userId": b})
                elif kind == "device":
                    events.append({"type": "track", "userId": b, "anonymousId": a})
                else:
                    events.append({"type": "track", "anonymousId": a,
                                   "context": {"integrations": {"Braze": {"braze_id": b}}}})
                pairs.append((a, b))
        events.append({"type": "track", "event": "nobody"})
        keyed = _keys(spark, events, tmp_path).collect()
        expected = _components(pairs)
        key_of: dict[str, int] = {}
        for row in keyed:
            event = json.loads(row["value"])
            braze = event.get("context", {}).get("integrations", {}).get("Braze", {})
            for found in (event.get("previousId"), event.get("userId"),
                          event.get("anonymousId"), braze.get("braze_id")):
                if found is not None:
                    key_of.setdefault(found, row["identity"])
                    assert key_of[found] == row["identity"]
        same = {(expected[a] == expected[b]) == (key_of[a] == key_of[b])
                for a in expected for b in expected}
        assert same == {True}
        assert len(set(key_of.values())) == 6
        assert sum(1 for row in keyed if row["identity"] is not None) == len(events)

    def test_the_bound_raises_rather_than_split_a_user(self, spark: SparkSession,
                                                       tmp_path: Path) -> None:
        """A chain that one round cannot settle raises IdentityGraphNotConverged with the
        bound; a larger bound settles it."""
        events = [{"type": "alias", "previousId": f"p{i}", "userId": f"p{i + 1}"}
                  for i in range(64)]
        with pytest.raises(ss.IdentityGraphNotConverged) as raised:
            _keys(spark, events, tmp_path, max_iterations=1)
        assert raised.value.iterations == 1
        assert raised.value.unsettled > 0
        assert "max_iterations" in str(raised.value)
        keys = {row["identity"] for row in _keys(spark, events, tmp_path).collect()}
        assert len(keys) == 1

    def test_numbers_and_blank_ids_as_the_translator_reads_them(
            self, spark: SparkSession, tmp_path: Path) -> None:
        """123, 123.0 and "123" are one user; a blank id links nothing; an event without
        any id gets a key of its own."""
        events: list[dict[str, Any]] = [
            {"type": "track", "userId": 123, "anonymousId": "x"},
            {"type": "track", "userId": 123.0},
            {"type": "track", "userId": "123", "anonymousId": "y"},
            {"type": "track", "userId": " ", "anonymousId": "z"},
            {"type": "track", "userId": " ", "anonymousId": "w"},
            {"type": "track"}, {"type": "track"},
        ]
        keys = [row["identity"] for row in
                _keys(spark, events, tmp_path).orderBy("position").collect()]
        assert keys[0] == keys[1] == keys[2]
        assert len(set(keys[2:])) == 5


# -- options ---------------------------------------------------------------------------


def test_rules_by_name_and_secrets_kept_on_the_driver(spark: SparkSession,
                                                      generated: tuple[Path, Path]) -> None:
    """Rules named ``module:NAME`` are imported on the executors, and a table given as a
    tuple travels with the job (its matchers need not pickle with the standard pickle);
    the settings shipped there carry no secret."""
    archive, _ = generated
    settings = sb.Settings(rest_api_key="sk-secret-0123", anonymous_users="alias")
    shipped = ss._without_secrets(settings)
    assert shipped.rest_api_key is None
    lines = ss.read_archive(spark, str(archive / "1714608000" / "3.gz"))
    by_name = ss.translate_archive(lines, settings, rules="segment_braze:DEFAULT_RULES",
                                   partitions=2)
    by_value = ss.translate_archive(lines, settings, rules=sb.DEFAULT_RULES, partitions=2)
    assert ss.summary_json(by_name.summary) == ss.summary_json(by_value.summary)
    requests, rejects, summary = by_value
    assert (requests, rejects, summary) == (by_value.requests, by_value.rejects,
                                            by_value.summary)
    by_name.unpersist()
    with pytest.raises(ValueError, match="module:NAME"):
        ss.translate_archive(lines, settings, rules="segment_braze")


def test_lanes_are_written_as_files_the_command_line_walks(generated_lanes: Run,
                                                           tmp_path: Path) -> None:
    """One NDJSON file per lane, in lane order by name; together they hold every request
    in its lane's order; the rejects file is the command line's, line for line."""
    ss.write_requests(generated_lanes.result.requests, str(tmp_path / "requests"))
    files = [s.name for s in find_sources([str(tmp_path / "requests")])]
    assert len(files) == 4
    assert all(name.endswith(".ndjson") for name in files)
    written = [json.loads(line) for name in files for line in Path(name).read_bytes().splitlines()]
    assert written == generated_lanes.requests
    ss.write_rejects(generated_lanes.result.rejects, str(tmp_path / "rejects"))
    (rejects,) = [s.name for s in find_sources([str(tmp_path / "rejects")])]
    records = [json.loads(line) for line in Path(rejects).read_bytes().splitlines()]
    for record in records:
        record["source"] = as_path(record["source"])
    assert records == generated_lanes.cli_rejects


def test_the_example_job_writes_what_the_command_line_writes(
        spark: SparkSession, example_default: Run, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """examples/spark_job.py (what spark-submit runs) writes the requests, the rejects
    and the summary; read in name order, the requests are the command line's."""
    spec = importlib.util.spec_from_file_location("spark_job", EXAMPLES / "spark_job.py")
    assert spec is not None
    assert spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    out = tmp_path / "out"
    assert job.main([str(EXAMPLES / "segment-logs"), "--settings",
                     str(EXAMPLES / "settings.json"), "--output", str(out)]) == 0
    requests = b"".join(Path(s.name).read_bytes()
                        for s in find_sources([str(out / "requests")]))
    assert requests == example_default.cli_bytes
    summary = json.loads((out / "summary.json").read_text())
    assert accounting(summary) == accounting(example_default.cli_summary)
    assert json.loads(capsys.readouterr().out) == summary
    rejects = [line for s in find_sources([str(out / "rejects")])
               for line in Path(s.name).read_bytes().splitlines()]
    assert len(rejects) == len(example_default.cli_rejects)


def test_cohort_renames_across_lanes_go_out_in_stream_order() -> None:
    """Runs of a cohort's name from several lanes merge by stream position (then the
    order a lane saw them): a name goes out again when it changes, so the last wins;
    another cohort's name is kept apart."""
    def run(position: int, seq: int, name: str, cohort: str = "c1") -> dict[str, Any]:
        return {"position": position, "seq": seq, "endpoint": "/partners/segment/cohorts",
                "key": cohort, "part": name}

    rows = [run(10, 1, "A"), run(70, 9, "A"), run(50, 1, "B"), run(50, 2, "X", "c2"),
            run(10, 2, "Y", "c2")]
    names = [(row["key"], row["part"]) for row in ss._once(rows)]
    assert names == [("c1", "A"), ("c2", "Y"), ("c1", "B"), ("c2", "X"), ("c1", "A")]
