"""The bad-video suite of issue 21, second part: videos made here with FFmpeg (the static binary of the
`imageio-ffmpeg` wheel) and given to `python -m engine capture`.

Each case: the exit code, exactly one line on stderr (`--progress none`: no progress or information lines
beside it), no file left behind, and the user's files (a take already at the output path, a file beside it)
exactly as they were. The videos are tiny: the sample cut to 12 frames at 270x480, or 64x64 grey frames.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
USER_TAKE = b"the user's old take"
USER_NOTE = b"notes the user keeps beside the takes"


def _ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


FFMPEG = _ffmpeg_exe()
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="making the bad videos needs FFmpeg: pip install "
                                                       "imageio-ffmpeg (tests/requirements.txt)")


def _ff(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True,
                   capture_output=True, timeout=120)


def _boxes(data: bytes) -> list[bytes]:
    """Top-level MP4 box types, in file order."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        out.append(kind)
        pos += max(size, 8)
    return out


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _without_samples(data: bytes) -> bytes:
    """The MP4 with its video track kept but every sample table emptied and the media data dropped: a video
    stream of zero frames."""
    def walk(start: int, end: int) -> bytes:
        out, pos = b"", start
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + size]
            if kind in (b"stts", b"stss", b"stsc", b"stco", b"ctts"):
                body = body[:4] + struct.pack(">I", 0)  # version/flags, entry count 0
            elif kind == b"stsz":
                body = body[:8] + struct.pack(">I", 0)  # version/flags, sample size, sample count 0
            elif kind in _CONTAINERS:
                body = walk(pos + 8, pos + size)
            if kind != b"mdat":
                out += struct.pack(">I4s", len(body) + 8, kind) + body
            pos += size
        return out
    return walk(0, len(data))


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Every bad video of the suite, made once."""
    d = tmp_path_factory.mktemp("bad videos")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an"]
    small = ["-vf", "scale=270:480"]
    v = {name: d / f"{name}.mp4" for name in ("person", "person_faststart", "one_frame", "nobody",
                                               "audio_only", "rotated", "zero_frames", "truncated_index_at_end",
                                               "truncated_index_at_front")}
    _ff("-i", SAMPLE, "-frames:v", "12", *small, *x264, v["person"])
    _ff("-i", SAMPLE, "-frames:v", "12", *small, *x264, "-movflags", "+faststart", v["person_faststart"])
    _ff("-i", SAMPLE, "-frames:v", "1", *small, *x264, v["one_frame"])
    _ff("-f", "lavfi", "-i", "color=c=gray:size=64x64:rate=30", "-frames:v", "10", *x264, v["nobody"])
    _ff("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", v["audio_only"])
    # Stored as shot (270x480) with a display matrix saying: turn 90 degrees to show it.
    _ff("-display_rotation:v:0", "90", "-i", v["person"], "-c", "copy", v["rotated"])
    v["zero_frames"].write_bytes(_without_samples(v["nobody"].read_bytes()))

    end, front = v["person"].read_bytes(), v["person_faststart"].read_bytes()
    assert _boxes(end)[-1] == b"moov" and _boxes(front).index(b"moov") < _boxes(front).index(b"mdat")
    v["truncated_index_at_end"].write_bytes(end[:len(end) * 2 // 3])
    v["truncated_index_at_front"].write_bytes(front[:len(front) * 2 // 3])
    return v


def _user_folder(tmp_path: Path, video: Path) -> tuple[Path, Path]:
    """A folder as a user has it: the video, a take already there, a note. Returns (video copy, folder)."""
    folder = tmp_path / "my takes"
    folder.mkdir()
    copy = folder / video.name
    shutil.copyfile(video, copy)
    (folder / "take.npz").write_bytes(USER_TAKE)
    (folder / "notes.txt").write_bytes(USER_NOTE)
    return copy, folder


def _engine(*args, progress: str = "none") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "capture", *map(str, args), "--progress", progress],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]


def _user_files_as_they_were(folder: Path, video: Path, *new: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted([video.name, "take.npz", "notes.txt", *new])
    assert (folder / "take.npz").read_bytes() == USER_TAKE
    assert (folder / "notes.txt").read_bytes() == USER_NOTE


@pytest.mark.parametrize(("case", "extra", "message"), [
    ("zero_frames", [], r"zero_frames\.mp4 has no decodable video frames"),
    ("truncated_index_at_end", [], r"truncated_index_at_end\.mp4 is not a video that can be decoded"),
    ("audio_only", [], r"audio_only\.mp4 is not a video that can be decoded"),
    ("nobody", [], r"no person found in the video"),
    ("person", ["--person", "3"], r"--person 3: only 1 person track\(s\) found \(0\.\.0\)"),
])
def test_a_bad_video_fails_in_one_line_and_leaves_the_users_files(videos, tmp_path, model_paths, case, extra,
                                                                   message):
    video, folder = _user_folder(tmp_path, videos[case])
    r = _engine(video, "-o", folder / "take.npz", *extra)
    assert r.returncode == 2, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1 and re.fullmatch(f"error: {message}.*", lines[0]), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    _user_files_as_they_were(folder, video)


def test_one_frame_is_a_one_frame_take(videos, tmp_path, model_paths):
    from engine.take import read_take

    video, folder = _user_folder(tmp_path, videos["one_frame"])
    r = _engine(video, "-o", folder / "one.npz")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    take = read_take(folder / "one.npz")
    assert take["joints3d"].shape[0] == 1 and take["valid"].tolist() == [True]
    _user_files_as_they_were(folder, video, "one.npz")


def test_rotation_metadata_is_applied(videos, tmp_path, model_paths):
    """The person is captured upright: the take's image is 480 wide and 270 high, as the player shows it."""
    from engine.take import read_take

    video, folder = _user_folder(tmp_path, videos["rotated"])
    r = _engine(video, "-o", folder / "rot.npz")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    take = read_take(folder / "rot.npz")
    assert take["image_size"].tolist() == [480, 270]
    assert take["valid"].all()
    xy = take["joints2d"][..., :2]
    assert (xy[..., 0] < 480 + 50).all() and (xy[..., 1] < 270 + 50).all()
    _user_files_as_they_were(folder, video, "rot.npz")


def test_truncated_with_the_index_at_the_front_keeps_what_decodes_with_one_warning(videos, tmp_path,
                                                                                    model_paths):
    """The index survives, the frames after the cut do not: they are marked invalid, in one warning line."""
    from engine.take import read_take

    video, folder = _user_folder(tmp_path, videos["truncated_index_at_front"])
    r = _engine(video, "-o", folder / "cut.npz", progress="text")
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in _lines(r.stderr) if ln.startswith(("warning:", "error:"))]
    assert len(notes) == 1, r.stderr
    first, last = map(int, re.fullmatch(r"warning: frames (\d+)-(\d+) could not be decoded; marked invalid",
                                        notes[0]).groups())
    valid = read_take(folder / "cut.npz")["valid"]
    assert len(valid) == 12 and last == 11 and 0 < first
    assert valid[:first].all() and not valid[first:].any()
    _user_files_as_they_were(folder, video, "cut.npz")


def _peak_rss_mb(args: list[str], err: Path) -> tuple[int, float]:
    """(exit code, peak resident memory in MB) of one engine capture."""
    with open(err, "wb") as fh:
        p = subprocess.Popen([sys.executable, "-m", "engine", "capture", *args, "--progress", "none"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=fh)
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, usage.ru_maxrss / 1024.0


def test_8k_video_memory_stays_flat(tmp_path, model_paths):
    """7680x4320 (nobody in it, so it ends in one line): the peak does not grow with the number of frames
    (measured here: about 0.8 GB for 4 frames and 0.9 GB for 40; one frame is 100 MB)."""
    peaks = {}
    for n in (4, 40):
        video = tmp_path / f"8k {n}.mp4"
        _ff("-f", "lavfi", "-i", "color=c=gray:size=7680x4320:rate=30", "-frames:v", str(n), "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", video)
        err = tmp_path / f"err{n}.txt"
        rc, peaks[n] = _peak_rss_mb([str(video), "-o", str(tmp_path / "t.npz")], err)
        assert rc == 2 and _lines(err.read_text()) == ["error: no person found in the video"], err.read_text()
    print(f"8K peak RSS: {peaks[4]:.0f} MB (4 frames), {peaks[40]:.0f} MB (40 frames)")
    assert peaks[40] - peaks[4] < 400, peaks  # 36 more frames held would be 3.6 GB
    assert not (tmp_path / "t.npz").exists()
