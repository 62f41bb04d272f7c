"""The command line: Segment archives in, Braze requests out, every line accounted for.

``segment-braze translate INPUT...`` reads Segment events (NDJSON, ``.json`` documents,
gzipped or not, whole directory trees laid out like Segment's S3 archive, or standard
input), translates them with one :class:`~segment_braze.Translator`, batches the requests
into Braze-sized ones and writes one request per line::

    {"endpoint": "/users/track", "body": {...}, "origins": {"events": ["msg-1", ...]}}

``validate`` does the same reading and accounting without writing requests; ``explain``
shows, for one event, which rules matched and what each emitted. ``currents`` goes the
other way: it reads Braze Currents records in the same input forms and writes, one per
line, the Segment track messages Braze's Segment connector would send
(:mod:`segment_braze.currents`), counting converted lines where ``translate`` counts
translated ones.

Every line read ends up as exactly one of translated, skipped (counted by reason) or
rejected (counted by reason, and written with its problems to ``--rejects``), so the
summary always adds up: ``read == translated + skipped + rejected``. Blank lines carry no
event and are not counted.

The whole run is one chain of generators (read, parse, translate, batch, write): memory
stays flat however large the input. The exception is a ``.json`` document (one event or
an array), which is parsed whole; archives are NDJSON and stream.

With ``--state FILE`` the attribute values each user was last sent are kept in an SQLite
file (:class:`~segment_braze.tracking.SQLiteStore`), and values that did not change since
are left out; the summary says how many, and the data points saved. ``translate`` saves
the file at the end of a run without errors (an interrupted or failed run leaves it as it
was); ``validate`` and ``explain`` only read it.

Exit status: 0 when every line was accounted for; 1 with ``--fail-on-reject`` when a line
was rejected; 2 for a usage or I/O error (one line on standard error, no traceback). An
input file that cannot be read to its end (a truncated gzip, a disk error) is an I/O
error for that file only: the lines read before the fault are translated and counted as
usual, a line cut in half is rejected as not JSON, the other inputs are still read, and
the run ends with status 2.

The package, one job per module: :mod:`.arguments` (the parser, the setting flags, the
settings they give), :mod:`.inputs` (the inputs, read with :mod:`segment_braze.archive`
and counted), :mod:`.accounting` (the tallies, the rejects file, Braze's data-point
rule), :mod:`.progress`, :mod:`.usage` (exit statuses, usage errors),
:mod:`.jobs` (``--jobs``: the worker processes) with :mod:`.transfer` (what they send
back) and :mod:`.commands` (the commands and :func:`main`).
"""

from __future__ import annotations

from .accounting import FREE_ATTRIBUTES, data_points
from .commands import main

__all__ = ["FREE_ATTRIBUTES", "data_points", "main"]
