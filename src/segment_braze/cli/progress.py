"""Progress on standard error while a run reads its inputs."""

from __future__ import annotations

import importlib
import time
from typing import IO, Any, Protocol

__all__ = ["Progress", "is_terminal"]


class _Counted(Protocol):
    """What progress shows besides bytes: the lines read so far."""

    read: int


class Progress:
    """Progress on standard error while reading: a tqdm bar when tqdm is installed, else a
    status line redrawn at most twice a second. Silent unless standard error is a
    terminal, so logs and pipes stay clean."""

    def __init__(self, stream: IO[str], total: int | None, tally: _Counted, *,
                 enabled: bool) -> None:
        self.stream = stream
        self.tally = tally
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self.shown = 0.0
        self.bar: Any = None
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm  # the optional "cli" extra
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                file=stream, desc="reading", leave=False)

    def advance(self, amount: int) -> None:
        """``amount`` more bytes of input were read."""
        self.done += amount
        if not self.enabled:
            return
        now = time.perf_counter()
        lines = self.tally.read
        rate = lines / (now - self.start) if now > self.start else 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(f"{lines:,} lines, {rate:,.0f} events/s", refresh=False)
            self.bar.update(amount)
        elif now - self.shown >= 0.5:
            self.shown = now
            of = f" of {self.total / 1e6:,.1f}" if self.total else ""
            self.stream.write(f"\r{lines:,} lines, {self.done / 1e6:,.1f}{of} MB read, "
                              f"{rate:,.0f} events/s ")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own above the progress (an I/O error as it happens)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            if self.enabled and self.shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal (a stream that cannot say is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
