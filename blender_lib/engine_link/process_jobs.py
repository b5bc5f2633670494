"""Background subprocesses the add-on drives from modal operators: the engine's capture and the engine
set-up (venv + pip). No bpy here: a job is polled, never blocks, and can be cancelled at any time."""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The add-on folder, two up from blender_lib/engine_link/: it holds engine/ and is the cwd of `python -m engine`.
ADDON_DIR = Path(__file__).resolve().parents[2]
REQUIREMENTS = ADDON_DIR / "engine" / "requirements.txt"


@dataclass
class JobState:
    """What a job has reported so far."""

    stage: str = "starting"
    done: int = 0
    total: int = 0
    message: str = ""
    result: str | None = None
    error: str | None = None
    finished: bool = False
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=40))

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


def _no_window() -> dict:
    """Keep a console window from flashing up on Windows."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NO_WINDOW}
    return {}


class ProcessJob:
    """One subprocess; its stdout and stderr are read by threads into a queue, so polling never blocks."""

    def __init__(self, argv: list[str], cwd: str | os.PathLike | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.state = JobState()
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        try:
            self.proc = subprocess.Popen(
                self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1"}, **_no_window())
        except OSError as exc:
            self.proc = None
            self.state.error = f"could not start {Path(self.argv[0]).name}: {exc.strerror or exc}"
            self.state.finished = True
            return
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, "out"), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, name: str) -> None:
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))
        stream.close()

    def handle(self, name: str, line: str) -> None:
        """Interpret one output line (subclasses parse their protocol)."""
        if line.strip():
            self.state.log.append(line)

    def poll(self) -> JobState:
        """Take in all output so far; mark the job finished when the process has exited."""
        if self.proc is None or self.state.finished:
            return self.state
        while True:
            try:
                name, line = self._lines.get_nowait()
            except queue.Empty:
                break
            self.handle(name, line)
        if self.proc.poll() is not None and all(not t.is_alive() for t in self._threads):
            while not self._lines.empty():
                self.handle(*self._lines.get_nowait())
            self.finish(self.proc.returncode)
        return self.state

    def finish(self, returncode: int) -> None:
        self.state.finished = True
        if returncode != 0 and self.state.error is None:
            self.state.error = self.crash_message(returncode)

    def crash_message(self, returncode: int) -> str:
        how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        last = next((ln for ln in reversed(self.state.log) if ln.strip()), "")
        detail = f": {last.strip()}" if last else ""
        return f"{Path(self.argv[0]).name} stopped unexpectedly ({how}){detail}"

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> JobState:
        """Block until the job ends (scripts and tests; the UI polls instead)."""
        t_end = None if timeout is None else time.monotonic() + timeout
        while not self.poll().finished:
            if t_end is not None and time.monotonic() > t_end:
                self.cancel()
                self.state.error = f"timed out after {timeout:g} s"
                break
            time.sleep(interval)
        return self.state

    def cancel(self) -> None:
        """End the process (terminate, then kill) and mark the job finished without a result."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.state.finished = True
        self.state.result = None
        if self.state.error is None:
            self.state.error = "cancelled"


class CaptureJob(ProcessJob):
    """`python -m engine capture ... --progress jsonl`, read line by line (protocol in DESIGN.md)."""

    def handle(self, name: str, line: str) -> None:
        if name == "err" or not line.startswith("{"):
            super().handle(name, line)
            return
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            super().handle(name, line)
            return
        st = self.state
        if "stage" in msg:
            st.stage, st.done, st.total = str(msg["stage"]), int(msg.get("done", 0)), int(msg.get("total", 0))
        elif "result" in msg:
            st.result = str(msg["result"])
        elif "error" in msg:
            st.error = str(msg["error"])
        elif "info" in msg or "warning" in msg:
            st.message = str(msg.get("warning") or msg.get("info"))
            st.log.append(st.message)

    def finish(self, returncode: int) -> None:
        super().finish(returncode)
        if returncode != 0:
            self.state.result = None
        elif self.state.result is None and self.state.error is None:
            self.state.error = "the engine finished without writing a take"


def capture_argv(python: str, video: str, take: str, device: str = "auto", person: int | None = None,
                 start: float | None = None, end: float | None = None) -> list[str]:
    """The engine command line for one capture (times in seconds, as the CLI takes them)."""
    argv = [python, "-m", "engine", "capture", video, "-o", take, "--progress", "jsonl", "--device", device]
    if person is not None:
        argv += ["--person", str(person)]
    if start is not None:
        argv += ["--start", repr(float(start))]
    if end is not None:
        argv += ["--end", repr(float(end))]
    return argv


def start_capture(python: str, video: str, take: str, **options) -> CaptureJob:
    return CaptureJob(capture_argv(python, video, take, **options), cwd=ADDON_DIR)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def base_python() -> str:
    """A Python to create the engine venv with: a system Python 3 if there is one, else Blender's own."""
    for name in ("python3.11", "python3", "python"):
        found = shutil.which(name)
        if found and Path(found).resolve() != Path(sys.executable).resolve():
            return found
    return sys.executable


class SetupJob:
    """Create a venv and pip-install the engine requirements into it, as a chain of ProcessJobs."""

    def __init__(self, venv: Path, requirements: Path = REQUIREMENTS, python: str | None = None) -> None:
        self.venv = Path(venv)
        self.requirements = Path(requirements)
        self.state = JobState(stage="venv", total=1)
        self._packages = 1
        self._step = 0
        self._job: ProcessJob | None = None
        if not self.requirements.is_file():
            self._fail(f"requirements file not found: {self.requirements}")
            return
        try:
            self._packages = max(1, sum(1 for ln in self._lines_of(self.requirements) if ln))
        except UnicodeDecodeError:
            self._fail(f"requirements file {self.requirements} is not UTF-8 text")
            return
        except OSError as exc:
            self._fail(f"cannot read requirements file {self.requirements}: {exc.strerror or exc}")
            return
        py = python or base_python()
        if venv_python(self.venv).exists():
            self._start_pip()
        else:
            self._job = ProcessJob([py, "-m", "venv", str(self.venv)])

    @staticmethod
    def _lines_of(path: Path) -> list[str]:
        if not path.is_file():
            return []
        return [ln.split("#")[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]

    def _fail(self, msg: str) -> None:
        self.state.error, self.state.finished = msg, True

    def _start_pip(self) -> None:
        self._step = 1
        self.state.stage, self.state.done, self.state.total = "install", 0, self._packages
        self._job = ProcessJob([venv_python(self.venv), "-m", "pip", "install", "--disable-pip-version-check",
                                "--progress-bar", "off", "-r", str(self.requirements)])

    def poll(self) -> JobState:
        if self.state.finished or self._job is None:
            return self.state
        st = self._job.poll()
        for line in list(st.log):
            if self._step == 1 and line.startswith("Collecting "):
                self.state.done = min(self.state.done + 1, self.state.total)
                self.state.message = line
            self.state.log.append(line)
        st.log.clear()
        if not st.finished:
            return self.state
        if st.error:
            what = "creating the engine environment" if self._step == 0 else "installing the engine packages"
            detail = next((ln for ln in reversed(self.state.log) if "error" in ln.lower()), st.error)
            self._fail(f"{what} failed: {detail.strip()}")
        elif self._step == 0:
            self._start_pip()
        else:
            self.state.done = self.state.total
            self.state.result = str(venv_python(self.venv))
            self.state.finished = True
        return self.state

    def wait(self, timeout: float | None = None) -> JobState:
        t_end = None if timeout is None else time.monotonic() + timeout
        while not self.poll().finished:
            if t_end is not None and time.monotonic() > t_end:
                self.cancel()
                break
            time.sleep(0.1)
        return self.state

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
        if not self.state.finished:
            self._fail("cancelled")
