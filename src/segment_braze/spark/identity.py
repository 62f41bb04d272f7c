"""The identity graph: one key per Braze user and every id ever linked to them."""

from __future__ import annotations

from typing import Final

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

#: Rounds of the identity graph's label propagation before :func:`identity_keys` gives up
#: (each round at least squares how far a label reaches along a chain of linked ids, so
#: this bound is only ever met by a graph built to defeat it; see docs/scaling.md).
MAX_ITERATIONS: Final = 30

# A JSON number with a fraction or an exponent: the translator turns an integral one into
# its digits.
_FLOAT: Final = r"^-?[0-9]+(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$"


# -- identity --------------------------------------------------------------------------


class IdentityGraphNotConverged(RuntimeError):
    """The identity graph's label propagation did not settle within its bound: some
    linked ids may still carry different keys, so their users' events could be split
    across partitions. Nothing is returned rather than that."""

    def __init__(self, iterations: int, unsettled: int) -> None:
        super().__init__(
            f"the identity graph did not settle in {iterations} rounds ({unsettled:,} ids "
            "still linked to more than one key); pass a larger max_iterations")
        self.iterations = iterations
        self.unsettled = unsettled


def _vertex(text: Column) -> Column:
    """An id as the translator compares it: a number with a fraction or an exponent
    (``1.0``, ``1e3``) becomes the digits of its integer value and ``-0`` becomes ``0``,
    as the translator writes integral numbers; a blank id is none. Ids that end up equal
    here merely share a key, which is harmless."""
    number = text.cast("double")
    digits = F.when(F.abs(number) < 1e37, number.cast("decimal(38,0)").cast("string"))
    rendered = (F.when(text.rlike(_FLOAT), F.coalesce(digits, text))
                .when(text == "-0", F.lit("0")).otherwise(text))
    return F.when(~text.rlike(r"(?U)^\s*$"), rendered)


#: The top-level fields that hold an event's ids (read once per line, as JSON text), and
#: those that hold its email.
_ID_FIELDS: Final = ("userId", "anonymousId", "previousId", "integrations", "context")
_EMAIL_FIELDS: Final = ("type", "traits")


def _with_ids(lines: DataFrame, *, emails: bool) -> DataFrame:
    """``lines`` with ``_ids``: the ids of each line that name a Braze user, as 64-bit
    hashes: ``userId``, ``anonymousId``, ``previousId`` (an alias call links it to
    ``userId``), the ``braze_id`` of ``integrations.Braze`` and of
    ``context.integrations.Braze``, and with ``emails`` the email the translator would
    identify the user by. A line that is not a JSON object has none."""
    names = [*_ID_FIELDS, *(_EMAIL_FIELDS if emails else ())]
    hidden = [f"_{name}" for name in names]
    top = lines.select("*", F.json_tuple("value", *names).alias(*hidden))
    fields = {name: F.col(column) for name, column in zip(names, hidden, strict=True)}
    return top.withColumn("_ids", _vertices(fields, emails=emails)).drop(*hidden)


def _strip(text: Column) -> Column:
    """Whitespace removed at both ends, as Python's ``str.strip`` does."""
    return F.regexp_replace(text, r"(?U)^\s+|\s+$", "")


def _vertices(fields: dict[str, Column], *, emails: bool) -> Column:
    """The hashed ids of one event, from its top-level fields (JSON text)."""
    found = [fields["userId"], fields["anonymousId"], fields["previousId"],
             F.get_json_object(fields["integrations"], "$.Braze.braze_id"),
             F.get_json_object(fields["context"], "$.integrations.Braze.braze_id")]
    if emails:
        email = F.get_json_object(fields["traits"], "$.email")
        found += [F.when(fields["type"] == "identify", _strip(email)),
                  _strip(F.get_json_object(fields["context"], "$.traits.email"))]
    vertices = F.filter(F.array(*[_vertex(text) for text in found]), lambda v: v.isNotNull())
    return F.array_distinct(F.transform(vertices, lambda v: F.xxhash64(v)))


def identity_keys(lines: DataFrame, *, emails: bool = False,
                  max_iterations: int = MAX_ITERATIONS) -> DataFrame:
    """``lines`` (from :func:`read_archive`) with a column ``identity``: a key that every
    event of one Braze user shares with the events of every id ever linked to that user.

    The ids of an event (``userId``, ``anonymousId``, ``previousId``, the ``braze_id``s,
    and with ``emails`` the email; see :func:`_with_ids`) are vertices; an event that carries
    several links them. The key is the smallest vertex of the connected component, found
    by alternating large-star and small-star rounds (Kiveris et al., "Connected
    Components in MapReduce and Beyond", 2014): a few rounds settle even long chains of
    anonymous ids. An event without any id gets a key of its own, from its file and line.

    The graph is computed now (each round checkpointed: a checkpoint directory if the
    context has one, else a local checkpoint); the keys are joined to ``lines`` lazily.
    Raises :class:`IdentityGraphNotConverged` when ``max_iterations`` rounds do not
    settle it, rather than return keys that could split a user.
    """
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    ids = _with_ids(lines, emails=emails)
    first = F.when(F.size("_ids") > 0, F.col("_ids")[0])
    edges = (ids.where(F.size("_ids") > 1)
             .select(first.alias("a"), F.explode(F.slice("_ids", 2, 1 << 20)).alias("b"))
             .select(F.greatest("a", "b").alias("src"), F.least("a", "b").alias("dst"))
             .distinct())
    labels = _components(_materialise(edges), max_iterations)
    keyed = ids.withColumn("_first", first).join(
        labels.withColumnRenamed("src", "_first").withColumnRenamed("dst", "_label"),
        "_first", "left")
    own = F.xxhash64(F.col("source"), F.col("line"))
    return keyed.withColumn("identity", F.coalesce("_label", "_first", own)).drop(
        "_first", "_label", "_ids")


def _components(edges: DataFrame, max_iterations: int) -> DataFrame:
    """Large-star and small-star rounds until the edges (``src`` > ``dst``) form stars,
    each leaf pointing at its component's smallest vertex: then ``src -> dst`` labels
    every vertex that is not itself a component's smallest."""
    unsettled = 0
    for _ in range(max_iterations):
        edges = _materialise(_small_star(_large_star(edges)))
        unsettled = _unsettled(edges)
        if unsettled == 0:
            return edges
    raise IdentityGraphNotConverged(max_iterations, unsettled)


def _large_star(edges: DataFrame) -> DataFrame:
    """Each vertex's larger neighbours are linked to the smallest of its neighbourhood
    (itself included). May repeat an edge."""
    both = edges.select(F.col("src").alias("u"), F.col("dst").alias("v")).union(
        edges.select(F.col("dst").alias("u"), F.col("src").alias("v")))
    smallest = F.least(F.min("v").over(Window.partitionBy("u")), F.col("u"))
    return both.select("u", "v", smallest.alias("m")).where(F.col("v") > F.col("u")).select(
        F.col("v").alias("src"), F.col("m").alias("dst"))


def _small_star(edges: DataFrame) -> DataFrame:
    """Each vertex and its smaller neighbours are linked to the smallest of them."""
    smallest = F.min("dst").over(Window.partitionBy("src")).alias("m")
    pairs = F.array(F.struct(F.col("dst").alias("src"), F.col("m").alias("dst")),
                    F.struct(F.col("src").alias("src"), F.col("m").alias("dst")))
    linked = edges.select("src", "dst", smallest).select(F.explode(pairs).alias("e")).select(
        "e.src", "e.dst")
    return linked.where(F.col("src") != F.col("dst")).distinct()


def _unsettled(edges: DataFrame) -> int:
    """Vertices that keep the edges from being stars: one linked to two smaller vertices,
    or one that is both a leaf and a centre."""
    ends = edges.select(F.col("src").alias("v"), F.lit(1).alias("out"), F.lit(0).alias("in")
                        ).union(
        edges.select(F.col("dst").alias("v"), F.lit(0).alias("out"), F.lit(1).alias("in")))
    per = ends.groupBy("v").agg(F.sum("out").alias("out"), F.sum("in").alias("in"))
    return per.where((F.col("out") > 1) | ((F.col("out") > 0) & (F.col("in") > 0))).count()


def _materialise(frame: DataFrame) -> DataFrame:
    """Compute ``frame`` now and cut its lineage, so that rounds do not pile up plans: a
    reliable checkpoint when the context has a directory for them, else a local one."""
    context = frame.sparkSession.sparkContext
    if context.getCheckpointDir() is not None:
        return frame.checkpoint(eager=True)
    return frame.localCheckpoint(eager=True)
