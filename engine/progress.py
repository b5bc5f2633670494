"""Progress reporting for the CLI: human text on stderr, or the JSON-lines protocol of DESIGN.md on stdout.

Protocol (`--progress jsonl`): one JSON object per line on stdout,
`{"stage": "detect", "done": 120, "total": 900}`, then `{"result": "TAKE.npz"}` or
`{"error": "message", "kind": "bad_input"}`; warnings as `{"warning": "message"}`.
"""

from __future__ import annotations

import json
import sys
import threading
import time


class Progress:
    """Reports stage progress. `mode` is "jsonl", "text" or "none"."""

    def __init__(self, mode: str = "text", min_interval: float = 0.1) -> None:
        self.mode = mode
        self.min_interval = min_interval
        self._last: dict[str, float] = {}
        self._line: dict[str, tuple[int, int]] = {}  # text mode: stages on the current line (two may run at once)
        self._lock = threading.RLock()  # the capture's scan and landmark pass report from two threads

    def _emit(self, obj: dict) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report `done` of `total` units in `stage`; rate-limited except for the last unit."""
        with self._lock:
            self._report(stage, done, total)

    def _report(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last.get(stage, -1e9) < self.min_interval:
            return
        self._last[stage] = now
        if self.mode == "jsonl":
            self._emit({"stage": stage, "done": int(done), "total": int(total)})
        elif self.mode == "text":
            # Stages that run at the same time (the capture's scan and landmark pass) share one line; it
            # ends when all of them have.
            self._line[stage] = (int(done), int(total))
            finished = all(d >= t for d, t in self._line.values())
            text = "  ".join(f"{name}: {d}/{t}" for name, (d, t) in self._line.items())
            sys.stderr.write("\r" + text + ("\n" if finished else ""))
            sys.stderr.flush()
            if finished:
                self._line.clear()

    def _text_line(self, text: str) -> None:
        """A whole line on stderr; a progress line still open ("\r"-updated) is ended first."""
        with self._lock:
            if self._line:
                self._line.clear()
                text = "\n" + text
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def warning(self, message: str) -> None:
        if self.mode == "jsonl":
            self._emit({"warning": message})
        elif self.mode == "text":
            self._text_line(f"warning: {message}")

    def info(self, message: str) -> None:
        if self.mode == "jsonl":
            self._emit({"info": message})
        elif self.mode == "text":
            self._text_line(message)

    def result(self, path: str) -> None:
        if self.mode == "jsonl":
            self._emit({"result": path})
        elif self.mode == "text":
            sys.stderr.write(f"wrote {path}\n")

    def error(self, message: str, kind: str) -> None:
        if self.mode == "jsonl":
            self._emit({"error": message, "kind": kind})
        else:
            self._text_line(f"error: {message}")
