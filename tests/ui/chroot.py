"""A Debian trixie chroot with Debian's own Blender, Xvfb and ImageMagick, for the tests in a real window.

    python3 tests/ui/chroot.py [--dir DIR]      # build it (once) and print where it is

Built with `debootstrap --variant=minbase trixie` from Debian's registry, then `apt-get install
--no-install-recommends` of PACKAGES inside it (about 1.8 GB, a few minutes). It is cached in
~/.cache/monocap/ui-chroot-trixie (or $MONOCAP_UI_CHROOT) and built again when its stamp file, written last,
is missing or names other packages. Needs root and `debootstrap`; every failure raises ChrootError (a test
that cannot build its chroot fails, it never skips).

Commands run inside with `run_inside`: each gets its own mount namespace (`unshare --mount`), so /proc,
/dev, /sys and the bind mounts (the worktree, the engine's environment and the Python it was made from, at
the same paths as outside) vanish with the command even if it is killed; nothing leaks onto the host.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("blender", "python3-numpy", "xvfb", "xauth", "xdotool", "imagemagick")
STAMP = ".monocap-ui-chroot"


class ChrootError(RuntimeError):
    pass


def default_dir() -> Path:
    env = os.environ.get("MONOCAP_UI_CHROOT")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "monocap" / f"ui-chroot-{SUITE}"


def _stamp_text() -> str:
    return f"{SUITE}\n" + "\n".join(PACKAGES) + "\n"


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1].replace("\\040", " ") for line in fh]
    return [p for p in points if (p + "/").startswith(prefix)]


def _check(cmd: list[str], what: str, **kw) -> None:
    print("+", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    proc = subprocess.run([str(c) for c in cmd], **kw)
    if proc.returncode != 0:
        raise ChrootError(f"{what} failed (exit code {proc.returncode}; see its output above)")


def is_ready(root: Path) -> bool:
    stamp = root / STAMP
    return stamp.is_file() and stamp.read_text() == _stamp_text()


def ensure_chroot(root: Path | None = None) -> Path:
    """Return the chroot's folder, building it first when it is missing or incomplete."""
    root = Path(root or default_dir())
    if is_ready(root):
        _mtab(root)
        return root
    if os.geteuid() != 0:
        raise ChrootError("building the UI test chroot needs root (debootstrap, chroot, mount)")
    if not shutil.which("debootstrap"):
        raise ChrootError("debootstrap is not installed (apt-get install debootstrap)")
    if _mounts_under(root):
        raise ChrootError(f"{root} still has mounts under it ({', '.join(_mounts_under(root))}); "
                          "unmount them before it is rebuilt")
    if root.exists():
        print(f"removing the incomplete chroot {root}", flush=True)
        # --one-file-system: never walk into anything mounted inside (there is nothing, checked above).
        _check(["rm", "-rf", "--one-file-system", root], "removing the old chroot")
    root.parent.mkdir(parents=True, exist_ok=True)
    _check(["debootstrap", "--variant=minbase", SUITE, root, MIRROR], f"debootstrap {SUITE}")
    _mtab(root)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    _inside_raw(root, ["apt-get", "update"], env, "apt-get update in the chroot")
    _inside_raw(root, ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env,
                "apt-get install in the chroot")
    _inside_raw(root, ["apt-get", "clean"], env, "apt-get clean in the chroot")
    (root / STAMP).write_text(_stamp_text())  # last: its presence means the build finished
    return root


def _mtab(root: Path) -> None:
    """/etc/mtab -> /proc/self/mounts: Blender's file browser lists mounted volumes through it."""
    mtab = root / "etc" / "mtab"
    if not mtab.is_symlink():
        mtab.unlink(missing_ok=True)
        mtab.symlink_to("/proc/self/mounts")


def _inside_raw(root: Path, cmd: list[str], env: dict, what: str) -> None:
    script = f"mount -t proc proc {shlex.quote(str(root))}/proc && exec chroot " + \
             " ".join(shlex.quote(str(c)) for c in [root, *cmd])
    _check(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], what, env=env)


def bind_paths_for_python(python: Path) -> list[Path]:
    """What a venv's Python needs from the host to run inside the chroot: the venv itself, and the Python
    installation it was made from (a whole pyenv-style prefix, or a system Python's stdlib and binary)."""
    venv = Path(python).parent.parent
    out = subprocess.run([str(python), "-c", "import sys, sysconfig, os; print(sys.base_prefix); "
                          "print(sysconfig.get_paths()['stdlib']); print(os.path.realpath(sys.executable))"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise ChrootError(f"cannot run {python}: {out.stderr.strip()[-300:]}")
    base, stdlib, exe = (Path(x) for x in out.stdout.split())
    paths = [venv.resolve()]
    if str(base) in ("/usr", "/usr/local", "/"):
        paths += [stdlib.resolve(), exe]
    else:
        paths.append(base.resolve())
    # Every link from the venv's python to the interpreter must land in what is mounted: a link through
    # /usr/bin/python3 would reach the chroot's own Python (3.13) instead.
    hop = Path(python)
    while hop.is_symlink():
        hop = Path(os.path.normpath(hop.parent / os.readlink(hop)))
        if not any(hop == p or p in hop.parents for p in paths):
            raise ChrootError(f"{python} links to {hop}, which inside the chroot is another program: make the "
                              "environment with `python3 -m venv --copies` (tools/dev.py does)")
    return paths


def inside_command(root: Path, argv: list[str], binds: list[Path], env: dict[str, str] | None = None,
                   hide: list[str] = ()) -> list[str]:
    """The host command that runs `argv` inside the chroot with /proc, /sys, /dev and each of `binds` (host
    paths, mounted at the same path inside) in a private mount namespace that ends with the command. Each
    folder of `hide` (a path inside the chroot) is covered by an empty one for this command only."""
    r = shlex.quote(str(root))
    lines = ["set -e",
             f"mount -t proc proc {r}/proc",
             f"mount -t sysfs sys {r}/sys",
             f"mount --bind /dev {r}/dev",
             f"mount -t devpts -o newinstance,ptmxmode=0666 devpts {r}/dev/pts",
             f"mount -t tmpfs tmpfs {r}/dev/shm",
             f"mount -t tmpfs tmpfs {r}/tmp"]
    for b in binds:
        b = Path(b)
        target = shlex.quote(str(root) + str(b))
        if b.is_dir():
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"mkdir -p $(dirname {target}) && touch {target}")
        lines.append(f"mount --bind {shlex.quote(str(b))} {target}")
    for h in hide:
        lines.append(f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(root) + h)}")
    envs = " ".join(shlex.quote(f"{k}={v}") for k, v in (env or {}).items())
    lines.append(f"exec chroot {r} /usr/bin/env -i {envs} " + " ".join(shlex.quote(str(a)) for a in argv))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]


def run_inside(root: Path, argv: list[str], binds: list[Path], env: dict[str, str] | None = None,
               hide: list[str] = (), timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    """subprocess.run of `inside_command`."""
    return subprocess.run(inside_command(root, argv, binds, env, hide), timeout=timeout, **kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help=f"chroot folder (default {default_dir()})")
    args = ap.parse_args(argv)
    try:
        root = ensure_chroot(args.dir)
    except ChrootError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
