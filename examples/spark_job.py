"""Translate a Segment archive with Apache Spark: the command line's ``translate``, scaled out.

Reads a Segment S3-layout archive (or any tree of NDJSON files, gzipped or not), gives
every event its identity key, translates and batches each partition with the library,
and writes what ``segment-braze translate`` writes::

    OUTPUT/requests/part-NNNNN-....ndjson   one file per lane; in name order, one stream
    OUTPUT/rejects/part-NNNNN-....ndjson    every rejected line with its file and number
    OUTPUT/summary.json                     read == translated + skipped + rejected

Run it on this machine (Java 17 and ``pip install 'segment-braze[spark]'``)::

    spark-submit --master 'local[2]' examples/spark_job.py examples/segment-logs \\
        --settings examples/settings.json --output out/spark

or on a cluster (see docs/scaling.md: every node needs segment-braze installed)::

    spark-submit --deploy-mode cluster examples/spark_job.py \\
        s3a://my-bucket/segment-logs/<source-id>/ --settings settings.json \\
        --output s3a://my-bucket/braze/2024-05 --partitions 200

The settings file is the command line's (Segment's destination keys or our names); its
secrets stay on the driver. The summary is printed on standard output as well.
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.sql import SparkSession

from segment_braze import Settings
from segment_braze import spark as sb_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("archive", nargs="+", help="archive folders or files (any "
                        "Hadoop path: s3a://, gs://, abfss://, dbfs:/, file:)")
    parser.add_argument("--settings", required=True, help="the settings, a JSON file")
    parser.add_argument("--output", required=True, help="a folder for requests/, "
                        "rejects/ and summary.json")
    parser.add_argument("--partitions", type=int, default=None,
                        help="lanes (default: one per 100,000 events, at most the "
                             "cluster's cores)")
    parser.add_argument("--max-total", type=int, default=None,
                        help="at most N objects per /users/track request (as on the "
                             "command line)")
    parser.add_argument("--single-file", action="store_true",
                        help="write the requests as one file (one stream)")
    args = parser.parse_args(argv)

    with open(args.settings, encoding="utf-8") as file:
        settings = Settings.from_mapping(json.load(file))
    spark = SparkSession.builder.appName("segment-braze").getOrCreate()
    lines = sb_spark.read_archive(spark, args.archive)
    result = sb_spark.translate_archive(lines, settings, partitions=args.partitions,
                                        max_total=args.max_total)
    output = args.output.rstrip("/")
    sb_spark.write_requests(result.requests, f"{output}/requests",
                            single_file=args.single_file)
    sb_spark.write_rejects(result.rejects, f"{output}/rejects")
    summary = sb_spark.write_summary(result.summary, f"{output}/summary.json")
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    result.unpersist()
    return 0


if __name__ == "__main__":
    sys.exit(main())
