"""Host side of the tests in a real Blender window: the chroot, the extension zip installed into a fresh
Blender user folder, and one Blender session per script under Xvfb inside the chroot.

Each run gets its own folder, out/ui-run-<UTC time>/ (or $MONOCAP_UI_RUN_DIR): Blender's user folder
(user/), the screenshots (<session>-<what>.png), each session's results (<session>.json) and its output
(<session>.log).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools"))

import build_extension  # noqa: E402
import chroot  # noqa: E402

ENGINE_PY = ROOT / ".venv" / "bin" / "python"
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
GENE = ROOT / "assets" / "gene" / "Gene.pmx"
SESSION_TIMEOUT = 420


def models_dir() -> Path:
    out = subprocess.run([str(ENGINE_PY), "-c", "from engine.models import models_dir; print(models_dir())"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


@dataclass
class Session:
    name: str
    rc: int
    result: dict
    log: str

    def __str__(self) -> str:
        tail = "\n".join(self.log.splitlines()[-40:])
        return (f"session {self.name}: exit code {self.rc}, error:\n{self.result.get('error', '-')}\n"
                f"--- last lines of {self.name}.log ---\n{tail}")


class UIRun:
    """One run of the suite: builds (or finds) the chroot, builds and installs the extension."""

    def __init__(self, run_dir: Path | None = None) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.dir = Path(run_dir or os.environ.get("MONOCAP_UI_RUN_DIR") or ROOT / "out" / f"ui-run-{stamp}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root = chroot.ensure_chroot()
        if not ENGINE_PY.is_file():
            raise chroot.ChrootError(f"the engine environment is missing: {ENGINE_PY} (python3 tools/dev.py test)")
        self.models = models_dir()
        subprocess.run([str(ENGINE_PY), "-m", "engine", "models", "fetch"], cwd=ROOT, check=True)
        self.binds = [ROOT, *chroot.bind_paths_for_python(ENGINE_PY), self.models]
        self.user = self.dir / "user"
        self.zip = build_extension.build(self.dir / "dist")
        self.install(self.user)

    def install(self, user: Path, hide: list[str] = ()) -> str:
        """`blender --command extension install-file -e` of the zip into the Blender user folder `user`;
        returns its output (ChrootError if it fails)."""
        proc = self.inside(["blender", "--command", "extension", "install-file", "-r", "user_default", "-e",
                            str(self.zip)], extra_env={"BLENDER_USER_RESOURCES": str(user)}, hide=hide,
                           capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        (self.dir / f"install-{user.name}.log").write_text(out)
        if proc.returncode != 0 or 'nstalled "monocap"' not in proc.stdout:
            raise chroot.ChrootError(f"installing {self.zip.name} into Blender failed:\n{out}")
        return out

    def env(self, session: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"HOME": "/root", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                "BLENDER_USER_RESOURCES": str(self.user), "MONOCAP_MODELS_DIR": str(self.models),
                "MONOCAP_UI_RUN": str(self.dir), "MONOCAP_UI_STEP": session, "MONOCAP_UI_TESTS": str(HERE),
                "MONOCAP_UI_ROOT": str(ROOT), "MONOCAP_UI_ENGINE_PY": str(ENGINE_PY), **(extra or {})}

    def inside(self, argv: list[str], session: str = "setup", extra_env: dict | None = None,
               hide: list[str] = (), **kw) -> subprocess.CompletedProcess:
        return chroot.run_inside(self.root, argv, self.binds, self.env(session, extra_env), hide=hide, **kw)

    def session(self, name: str, script: str, extra_env: dict | None = None, hide: list[str] = ()) -> Session:
        """Blender in a fresh X server runs tests/ui/<script>; returns its results."""
        result_file = self.dir / f"{name}.json"
        result_file.unlink(missing_ok=True)
        log = self.dir / f"{name}.log"
        cmd = chroot.inside_command(self.root, [str(HERE / "in_chroot.sh"), str(HERE / script)], self.binds,
                                    self.env(name, extra_env), hide)
        with open(log, "w") as fh:
            # Its own process group: on a timeout Xvfb and Blender go too, not only the shell.
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=SESSION_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
                fh.write(f"\n!! session {name} timed out after {SESSION_TIMEOUT} s\n")
        result = json.loads(result_file.read_text()) if result_file.is_file() else {"error": "no result file"}
        return Session(name, rc, result, log.read_text(errors="replace"))
