"""Background subprocesses the add-on drives from modal operators: the engine's capture and the engine
set-up (venv + pip). No bpy here: a job is polled, never blocks, and can be cancelled at any time."""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...engine.profiles import DOWNLOAD_MB, PROFILES, REQUIREMENTS, TORCH_CUDA_INDEX

# The add-on folder, two up from blender_lib/engine_link/: it holds engine/ and is the cwd of `python -m engine`.
ADDON_DIR = Path(__file__).resolve().parents[2]
REQUIREMENTS_OF = REQUIREMENTS  # install profile -> its requirements file (engine/profiles.py)


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


def capture_argv(python: str, video: str, take: str, device: str = "auto", person: int | str | None = None,
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


def start_lift(python: str, takes: list[str], output: str) -> CaptureJob:
    """`python -m engine lift TAKES -o OUTPUT --progress jsonl`: the same line protocol as a capture."""
    argv = [python, "-m", "engine", "lift", *takes, "-o", output, "--progress", "jsonl"]
    return CaptureJob(argv, cwd=ADDON_DIR)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def base_python() -> str:
    """A Python to create the engine venv with: a system Python 3 if there is one, else Blender's own."""
    for name in ("python3.11", "python3", "python"):
        found = shutil.which(name)
        if found and Path(found).resolve() != Path(sys.executable).resolve():
            return found
    return sys.executable


def pip_version(venv: Path) -> tuple[int, ...]:
    """The version of the pip installed in `venv` (from its dist-info folder; (0,) when none is found)."""
    found = sorted(venv.glob("lib*/python*/site-packages/pip-*.dist-info"))
    found += sorted(venv.glob("Lib/site-packages/pip-*.dist-info"))  # Windows
    for info in found:
        try:
            return tuple(int(v) for v in info.name[len("pip-"):-len(".dist-info")].split(".")[:3])
        except ValueError:
            continue
    return (0,)


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a file, comments and blank lines dropped, files it includes (`-r`) read in place."""
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        words = line.split()
        if len(words) == 2 and words[0] in ("-r", "--requirement"):
            out += requirement_lines(path.parent / words[1])
        elif line:
            out.append(line)
    return out


# Step 1 of 'Set up engine': the venv, then setuptools out of it. Python <= 3.11's venv installs setuptools
# with pip (11 MB); nothing the engine installs needs it at run time (every pinned package is a wheel, and pip
# builds any sdist in an isolated environment with its own setuptools). pip stays: pressing 'Set up engine'
# again resumes or upgrades with it. On Python >= 3.12 there is no setuptools and pip just says so. Where the
# uninstall fails the set-up goes on (the venv works, 11 MB larger).
MAKE_VENV = (
    "import subprocess, sys, venv\n"
    "venv.create(sys.argv[1], with_pip=True)\n"
    "subprocess.run([sys.argv[2], '-m', 'pip', 'uninstall', '--disable-pip-version-check', '-y', '-q',"
    " 'setuptools'], check=False)\n"
)
_SIZE = re.compile(r"\(([\d.]+) (kB|MB|GB)\)")
_UNITS = {"kB": 1e3, "MB": 1e6, "GB": 1e9}


class SetupJob:
    """Create a venv and pip-install one of the engine's install profiles into it (`engine.profiles`), then ask
    the new environment what it is (`python -m engine.profiles`), as a chain of ProcessJobs.

    Progress is the bytes pip has downloaded against the profile's download size: pip >= 24.1 reports each
    download as it goes (`--progress-bar raw`), an older pip file by file. Cancelling ends pip; running the
    job again on the same folder resumes: the venv is kept, what is installed is skipped and the finished
    downloads come from pip's cache (the file that was downloading starts over).
    """

    def __init__(self, venv: Path, requirements: Path | None = None, python: str | None = None,
                 profile: str = "cpu", platform: str = sys.platform) -> None:
        self.venv = Path(venv)
        self.profile = profile if profile in PROFILES else "cpu"
        self.requirements = Path(requirements) if requirements else REQUIREMENTS_OF[self.profile]
        self.platform = platform
        self.report: dict | None = None
        self.state = JobState(stage="venv", total=1)
        self._step = 0
        self._job: ProcessJob | None = None
        self._bytes_done = 0  # downloads finished (or found in pip's cache)
        self._bytes_now = 0  # the download in progress
        self._raw = False
        self._packages = 1
        if not self.requirements.is_file():
            self._fail(f"requirements file not found: {self.requirements}")
            return
        try:
            self._packages = max(1, len(requirement_lines(self.requirements)))
        except UnicodeDecodeError:
            self._fail(f"requirements file {self.requirements} is not UTF-8 text")
            return
        except OSError as exc:
            self._fail(f"cannot read requirements file {self.requirements}: {exc.strerror or exc}")
            return
        # the profile's own files have a measured download size; another file is counted package by package
        self._own_profile = not requirements
        mb = DOWNLOAD_MB.get(self.profile) if self._own_profile else None
        self._total_bytes = int(mb * 1e6) if mb else 0
        py = python or base_python()
        if venv_python(self.venv).exists():
            self._start_pip()
        else:
            self.state.message = "Creating the environment"
            self._job = ProcessJob([py, "-c", MAKE_VENV, str(self.venv), str(venv_python(self.venv))])

    def _fail(self, msg: str) -> None:
        self.state.error, self.state.finished = msg, True

    def pip_argv(self) -> list[str]:
        """The pip command line for this profile (the CUDA build of torch from PyTorch's index on Windows)."""
        self._raw = pip_version(self.venv) >= (24, 1)
        # --no-compile: pip would byte-compile every module it installs (38 MB of __pycache__ for the cpu
        # profile); Python compiles what the engine imports on first use instead (5 MB after a capture)
        argv = [str(venv_python(self.venv)), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
                "--progress-bar", "raw" if self._raw else "off", "-r", str(self.requirements)]
        if self.profile == "gpu" and self.platform == "win32":
            argv += ["--extra-index-url", TORCH_CUDA_INDEX]
        return argv

    def _start_pip(self) -> None:
        self._step = 1
        self.state.stage = "install"
        self.state.done, self.state.total = 0, self._total_bytes or self._packages
        self._job = ProcessJob(self.pip_argv())

    def _start_check(self) -> None:
        self._step = 2
        self.state.stage, self.state.message = "check", "Checking the engine environment"
        self._job = ProcessJob([venv_python(self.venv), "-m", "engine.profiles"], cwd=ADDON_DIR)

    def _pip_line(self, line: str) -> None:
        """Progress from one line of pip's output."""
        st = self.state
        text = line.strip()
        if text.startswith("Progress ") and self._total_bytes:
            try:
                _, now, _, of = text.split()
                now, of = int(now), int(of)
            except ValueError:
                return
            self._bytes_now = now
            if of and now >= of:
                self._bytes_done, self._bytes_now = self._bytes_done + of, 0
        elif text.startswith(("Downloading ", "Using cached ")):
            size = _SIZE.search(text)
            counted = text.startswith("Using cached ") or not self._raw  # raw: the Progress lines count it
            if size and counted:
                self._bytes_done += int(float(size.group(1)) * _UNITS[size.group(2)])
            st.message = text.split("/")[-1] if "://" in text else text
        elif text.startswith("Collecting "):
            if not self._total_bytes:
                st.done = min(st.done + 1, st.total)
            st.message = text.split(" (from")[0]
        elif text.startswith("Installing collected packages"):
            st.message = "Installing the packages (unpacking: this takes a while)"
            if self._total_bytes:
                self._bytes_done = max(self._bytes_done, int(0.95 * self._total_bytes))
        if self._total_bytes:
            st.done = min(self._bytes_done + self._bytes_now, int(0.99 * self._total_bytes))
            if text.startswith(("Progress ", "Downloading ", "Using cached ")):
                st.message = (f"Downloading: {st.done / 1e6:,.0f} of about {self._total_bytes / 1e6:,.0f} MB")

    def poll(self) -> JobState:
        if self.state.finished or self._job is None:
            return self.state
        st = self._job.poll()
        for line in list(st.log):
            if self._step == 1:
                self._pip_line(line)
            if self._step == 2 and line.startswith("{"):
                try:
                    self.report = json.loads(line)
                except json.JSONDecodeError:
                    pass
            if not line.startswith("Progress "):
                self.state.log.append(line)
        st.log.clear()
        if not st.finished:
            return self.state
        if st.error:
            if st.error == "cancelled":
                self._fail("cancelled")
                return self.state
            what = ("creating the engine environment", "installing the engine packages",
                    "checking the engine environment")[self._step]
            detail = next((ln for ln in reversed(self.state.log) if "error" in ln.lower()), st.error)
            self._fail(f"{what} failed: {detail.strip()}")
        elif self._step == 0:
            self._start_pip()
        elif self._step == 1 and self._own_profile:
            self._start_check()
        else:
            self._finish()
        return self.state

    def _finish(self) -> None:
        if self.report is not None:
            write_profile_marker(self.venv, self.report)
        self.state.done = self.state.total
        self.state.result = str(venv_python(self.venv))
        self.state.finished = True

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


MARKER = ".monocap-profile.json"


def write_profile_marker(venv: Path, report: dict) -> None:
    """What `python -m engine.profiles` said of the venv, kept in it for the preferences to show."""
    try:
        (venv / MARKER).write_text(json.dumps(report), encoding="utf-8")
    except OSError:
        pass  # the preferences then say the profile is unknown; the engine itself is fine


def read_profile_marker(python: str | os.PathLike) -> dict | None:
    """The marker of the venv whose interpreter is `python` (bin/python or Scripts/python.exe), or None."""
    venv = Path(python).parent.parent
    try:
        return json.loads((venv / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
