"""The command line's arguments: the parser, the setting flags, and the settings they
give (:meth:`~segment_braze.Settings.load` with the flags as overrides)."""

from __future__ import annotations

import argparse
from typing import Any, Final, NoReturn

import attrs

from .. import __version__
from ..errors import InvalidSettings, error_reason
from ..settings import Settings
from .usage import PROG, UsageError

__all__ = [
    "DEFAULT_LANES",
    "FLAGS",
    "Flag",
    "add_accounting",
    "add_inputs",
    "add_settings",
    "add_state",
    "build_parser",
    "load_settings",
    "positive",
]

#: Requests sent at once by the delivery commands, each user's in order.
DEFAULT_LANES: Final = 8
#: The environment variable holding the REST API key when the settings file has none.
KEY_VARIABLE: Final = "BRAZE_REST_API_KEY"


@attrs.frozen
class Flag:
    """A setting that has a command-line flag. ``kind``: ``"switch"`` (``--x`` /
    ``--no-x``), ``"text"``, or a tuple of choices."""

    field: str
    kind: str | tuple[str, ...]
    help: str

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


#: The common settings, as flags. The REST API key has none on purpose: a secret on a
#: command line ends up in shell history and process lists; put it in the settings file.
FLAGS: Final = (
    Flag("app_id", "text", "app identifier set on events and purchases"),
    Flag("anonymous_users", ("skip", "alias"),
         "users without userId: skipped, or sent as user aliases of their anonymousId"),
    Flag("alias_label", "text", "label of that user alias"),
    Flag("email_identifier", "switch", "identify users by email when nothing else does"),
    Flag("identify_by_email", "switch",
         "an identify with a userId merges the email-only profiles of its email"),
    Flag("track_all_pages", "switch", "send page and screen calls as custom events"),
    Flag("track_named_pages", "switch", "send only named page and screen calls"),
    Flag("log_purchase_when_revenue_present", "switch",
         "any track with a numeric revenue becomes purchases"),
    Flag("default_currency", "text", "currency when neither product nor order names one"),
    Flag("update_existing_only", "switch", "only update users Braze already knows"),
    Flag("merge_on_alias", "switch", "alias calls between known ids become /users/merge"),
    Flag("context_traits", "switch", "context.traits become attributes (identify: merged "
         "with its traits)"),
    Flag("ecommerce_events", "switch",
         "ecommerce events become Braze's recommended ecommerce events"),
    Flag("ecommerce_purchases", "switch",
         "with --ecommerce-events, orders also log purchases"),
    Flag("strict", "switch", "reject an event instead of dropping or fixing a value"),
)


def load_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--settings FILE``, with the flags given on the command line;
    a :class:`UsageError` naming the file and the setting when they are wrong."""
    path: str | None = args.settings
    overrides = {f.field: value for f in FLAGS
                 if (value := getattr(args, f.field)) is not None}
    where = f"{path}: " if path is not None else ""
    try:
        if path is None:
            return Settings.from_mapping({}, **overrides)
        return Settings.load(path, **overrides)
    except OSError as error:
        raise UsageError(f"{path}: cannot read the settings file: "
                         f"{error_reason(error)}") from None
    except InvalidSettings as error:
        if error.key is None:  # the file as a whole
            raise UsageError(str(error)) from None
        raise UsageError(f"{where}bad setting {error.key}: {error.message}") from None
    except TypeError as error:  # a value of a type no converter expects
        raise UsageError(f"{where}bad settings: {error}") from None


class _Parser(argparse.ArgumentParser):
    """Reports usage errors in one line (with a pointer to ``--help``) and exits 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a number >= {least}, got {value}")
    return value


def positive(text: str) -> int:
    return _whole(text, 1)


def _jobs(text: str) -> int:
    return _whole(text, 0)


def add_settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings", "a settings file (Segment's destination keys or our names); the flags "
                    "below override it")
    group.add_argument("--settings", metavar="FILE", help="settings as a JSON object")
    for flag in FLAGS:
        options: dict[str, Any]
        if flag.kind == "switch":
            options = {"action": argparse.BooleanOptionalAction}
        elif isinstance(flag.kind, tuple):
            options = {"choices": flag.kind}
        else:
            options = {"metavar": flag.field.split("_")[-1].upper()}
        group.add_argument(flag.option, dest=flag.field, default=None, help=flag.help,
                           **options)


def add_inputs(parser: argparse.ArgumentParser, *, what: str | None) -> None:
    """The inputs, and ``--output`` when the command writes ``what`` (else none)."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="an .ndjson or .json file (or either gzipped), a directory "
                             "(walked recursively), or - for standard input")
    if what is not None:
        parser.add_argument("-o", "--output", metavar="FILE",
                            help=f"where {what} go, one JSON object per line "
                                 "(default: standard output)")
    else:
        parser.set_defaults(output=None)


def add_accounting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rejects", metavar="FILE",
                        help="write each rejected line, with its source, line number and "
                             "problems, as NDJSON")
    parser.add_argument("--summary", metavar="FILE",
                        help="also write the summary as JSON")
    parser.add_argument("--fail-on-reject", action="store_true",
                        help="exit with status 1 when any line was rejected")


def _add_run(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    add_inputs(parser, what="requests" if writes else None)
    add_accounting(parser)
    parser.add_argument("--no-batch", dest="batch", action="store_false",
                        help="one request per event instead of Braze-sized batches")
    parser.add_argument("--max-total", type=positive, metavar="N",
                        help="at most N objects per /users/track request across "
                             "attributes, events and purchases (accounts on a combined "
                             "limit: 50 or 75)")
    parser.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N",
                        help="translate in N worker processes (0: one per core; at most "
                             "one per core); the output is the same (default: 1, in "
                             "this process)")
    add_state(parser, writes=writes)
    add_settings(parser)


def _add_currents(parser: argparse.ArgumentParser) -> None:
    add_inputs(parser, what="Segment messages")
    parser.add_argument("--event-type", metavar="NAME",
                        help="the Currents event type of records that do not name one "
                             "(a Currents folder holds one type), e.g. "
                             "users.messages.email.Open; a record naming another type is "
                             "rejected")
    add_accounting(parser)


def add_state(parser: argparse.ArgumentParser, *, writes: bool | None) -> None:
    what = {True: "and saved at the end of a run without errors",
            False: "(read only: validate saves nothing)",
            None: "(read only)"}[writes]
    parser.add_argument("--state", metavar="FILE",
                        help="leave out attribute values that did not change since they "
                             "were last written: the values are kept in this SQLite file, "
                             f"created if missing, {what}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segment-braze``."""
    parser = _Parser(prog=PROG, description="Turn Segment events into Braze REST API "
                     "requests, accounting for every line.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    translate = commands.add_parser(
        "translate", help="write Braze requests for Segment events",
        description="Translate Segment events into Braze requests (NDJSON, one request "
                    "per line) with a summary on standard error.")
    _add_run(translate, writes=True)
    validate = commands.add_parser(
        "validate", help="read and account for every line, write no requests",
        description="Read, translate and account for every line like translate, without "
                    "writing requests.")
    _add_run(validate, writes=False)
    explain = commands.add_parser(
        "explain", help="show which rules matched one event and what each emitted",
        description="Show which rules matched one event and what each emitted.")
    explain.add_argument("event", metavar="EVENT",
                         help="the event as JSON text, a .json file, or - for standard input")
    add_state(explain, writes=None)
    add_settings(explain)
    currents = commands.add_parser(
        "currents", help="turn Braze Currents events into Segment track messages",
        description="Convert Braze Currents events (NDJSON) into the Segment track "
                    "messages Braze's Segment connector sends (NDJSON, one message per "
                    "line) with a summary on standard error.")
    _add_currents(currents)
    add_delivery_commands(commands)
    return parser


def _add_delivery(parser: argparse.ArgumentParser, *, resumable: bool = True) -> None:
    parser.add_argument("--lanes", type=positive, default=DEFAULT_LANES, metavar="N",
                        help=f"requests sent at once, each user's in order (default "
                             f"{DEFAULT_LANES})")
    if resumable:
        parser.add_argument("--journal", metavar="FILE",
                            help="an SQLite file of the entries Braze settled: a run "
                                 "after a crash or a kill sends only the others")
        parser.add_argument("--dead-letter", metavar="FILE",
                            help="append each entry Braze refused or that was given up "
                                 "on, with its origin and Braze's message, as NDJSON")


def add_delivery_commands(commands: Any) -> None:
    """``send``, ``replay`` and ``seed-state``: the commands that send to Braze."""
    send = commands.add_parser(
        "send", help="send the requests translate wrote to Braze",
        description="Send Braze requests (what translate writes, NDJSON) to Braze, each "
                    "user's in order, at Braze's rate, with a summary on standard error. "
                    f"The REST API key comes from the settings file or {KEY_VARIABLE}.")
    send.add_argument("inputs", nargs="+", metavar="REQUESTS",
                      help="an NDJSON file of requests (gzipped or not), a directory, or "
                           "- for standard input")
    add_accounting(send)
    _add_delivery(send)
    send.add_argument("--state", metavar="FILE",
                      help="leave out attribute values Braze already has by this state "
                           "file, and record those delivered")
    add_settings(send)
    send.set_defaults(output=None)

    replay = commands.add_parser(
        "replay", help="translate Segment events and send them to Braze, streamed",
        description="Translate Segment events, batch them and send them to Braze in one "
                    "streamed pipeline, with translate's accounting and the delivery's "
                    "report on standard error.")
    add_inputs(replay, what=None)
    add_accounting(replay)
    _add_delivery(replay)
    replay.add_argument("--max-total", type=positive, metavar="N",
                        help="at most N objects per /users/track request across arrays")
    add_state(replay, writes=True)
    add_settings(replay)

    seed = commands.add_parser(
        "seed-state", help="read the profiles of the events' users from Braze into a "
                           "state file",
        description="Ask Braze (/users/export/ids) for the profiles of every user whose "
                    "attributes the events write, and store them in the state file, so a "
                    "first replay with --state sends only values that differ.")
    add_inputs(seed, what=None)
    add_accounting(seed)
    _add_delivery(seed, resumable=False)
    seed.add_argument("--state", metavar="FILE", required=True,
                      help="the state file to seed (created if missing)")
    add_settings(seed)
    seed.set_defaults(max_total=None)
