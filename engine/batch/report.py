"""What the batch tells the user on stderr: a status line over the library (videos, frames, rate, time left),
redrawn in place, one line per finished video, and the summary at the end."""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class LibraryProgress:
    def __init__(self, videos: int, frames: int, enabled: bool = True) -> None:
        self.videos, self.frames = videos, frames  # to capture in this run (frames: estimated from the headers)
        self.enabled = enabled
        # on a terminal the status line is redrawn in place; in a log it follows each finished video's line
        self.live = enabled and sys.stderr.isatty()
        self.done = self.failed = self.frames_done = self.frames_finished = 0
        self.frames_running = 0  # frames done so far by the videos in flight
        self.t0 = time.monotonic()
        self._open = False  # a status line is on screen, waiting for "\r"

    def _write(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(text)
            sys.stderr.flush()

    def line(self, text: str) -> None:
        """A line of its own (the status line, if any, is cleared first and drawn again after)."""
        self._write(("\r\033[K" if self._open else "") + text + "\n")
        self._open = False
        self.tick()

    def finished(self, name: str, folder: str, row: dict, estimate: int) -> None:
        n = self.done + self.failed + 1
        if row["status"] == "done":
            self.done += 1
            self.frames_done += row["frames"]
            text = (f"done   {n}/{self.videos} {name} -> {folder}: {row['frames']} frames, {row['seconds']:.1f} s, "
                    f"{row['fps']:.1f} frames/s, person seen in {100 * row['valid_share']:.0f} %")
        else:
            self.failed += 1
            text = f"FAILED {n}/{self.videos} {name}: {row['error']}"
        self.frames_finished += estimate  # the estimate, so the time left does not jump when a video fails
        self.line(text if self.live else f"{text}  [{self.status()}]")

    def status(self) -> str:
        elapsed = time.monotonic() - self.t0
        seen = self.frames_done + self.frames_running
        rate = seen / elapsed if elapsed > 0 else 0.0
        left = max(0, self.frames - self.frames_finished - self.frames_running)
        eta = _duration(left / rate) if rate > 0 and self.frames else "?"
        return (f"videos {self.done + self.failed}/{self.videos} ({self.failed} failed), frames "
                f"{seen}/~{self.frames or '?'}, {rate:.1f} frames/s, elapsed {_duration(elapsed)}, left ~{eta}")

    def tick(self, frames_running: int | None = None) -> None:
        """Redraw the status line; `frames_running`: frames done so far by the videos in flight."""
        if frames_running is not None:
            self.frames_running = frames_running
        if self.live and self.videos:
            self._write("\r\033[K" + self.status())
            self._open = True

    def close(self) -> None:
        if self._open:
            self._write("\n")
            self._open = False
