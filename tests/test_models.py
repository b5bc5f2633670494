"""Fetching the BlazePose files: a real pip download, idempotency, damaged files, and pip failing."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from engine import models
from engine.errors import ModelError
from engine.models import MODEL_FILES, RETRY_COMMAND, ensure_models, fetch_models, models_dir


def _break_pip(monkeypatch) -> None:
    """Point pip at an index nothing listens on, with no config, links, cache or retries."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "5")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Recorder:
    def __init__(self):
        self.stages: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.stages.append((stage, done, total))

    def names(self) -> set[str]:
        return {s for s, _, _ in self.stages}


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> Path:
    """One real fetch (pip download of the mediapipe wheel) into a fresh folder."""
    folder = tmp_path_factory.mktemp("models")
    rec = Recorder()
    paths = fetch_models(str(folder), progress=rec)
    assert {"check", "download", "extract"} <= rec.names()
    assert ("extract", len(MODEL_FILES), len(MODEL_FILES)) in rec.stages
    assert set(paths) == set(MODEL_FILES)
    return folder


def test_fetch_writes_verified_files(fetched):
    for member, digest in MODEL_FILES.values():
        path = fetched / Path(member).name
        assert path.is_file()
        assert _sha(path) == digest
    # Sizes documented in notes/blazepose.md.
    assert (fetched / "pose_detection.tflite").stat().st_size == 2_959_046
    assert (fetched / "pose_landmark_full.tflite").stat().st_size == 6_440_512
    # Nothing but the two files is left behind (no wheel, no temporary files).
    assert sorted(p.name for p in fetched.iterdir()) == [
        "hand_landmark_full.tflite", "hand_recrop.tflite", "palm_detection_full.tflite", "pose_detection.tflite",
        "pose_landmark_full.tflite"]  # and no temporary file left


def test_second_fetch_downloads_nothing(fetched, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in fetched.iterdir()}
    _break_pip(monkeypatch)  # any pip call would now fail
    rec = Recorder()
    paths = fetch_models(str(fetched), progress=rec)
    assert "download" not in rec.names()
    assert {p.name: p.stat().st_mtime_ns for p in fetched.iterdir()} == before
    assert paths == ensure_models(str(fetched))


def test_damaged_file_is_fetched_again(fetched, tmp_path):
    folder = tmp_path / "cache"
    shutil.copytree(fetched, folder)
    damaged = folder / "pose_landmark_full.tflite"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # a truncated download
    untouched = folder / "pose_detection.tflite"
    mtime = untouched.stat().st_mtime_ns
    paths = ensure_models(str(folder))
    assert _sha(paths["pose_landmark_full"]) == MODEL_FILES["pose_landmark_full"][1]
    assert untouched.stat().st_mtime_ns == mtime  # only the bad file was rewritten


def test_hash_mismatch_in_wheel_is_model_error(tmp_path, monkeypatch):
    member, _ = MODEL_FILES["pose_detection"]
    monkeypatch.setitem(MODEL_FILES, "pose_detection", (member, "0" * 64))
    with pytest.raises(ModelError) as err:
        fetch_models(str(tmp_path))
    msg = str(err.value)
    assert "SHA-256" in msg and RETRY_COMMAND in msg and "\n" not in msg
    assert not (tmp_path / "pose_detection.tflite").exists()


def test_pip_failure_is_model_error_naming_the_command(tmp_path, monkeypatch):
    _break_pip(monkeypatch)
    with pytest.raises(ModelError) as err:
        ensure_models(str(tmp_path / "empty"))
    msg = str(err.value)
    assert RETRY_COMMAND in msg and "mediapipe==0.10.21" in msg and "\n" not in msg
    assert not any((tmp_path / "empty").glob("*.tflite"))


def test_models_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MONOCAP_MODELS_DIR", raising=False)
    assert models_dir() == tmp_path / "xdg" / "monocap" / "models"
    monkeypatch.setenv("MONOCAP_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env"
    assert models_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("MONOCAP_MODELS_DIR")
    assert models_dir() == Path.home() / ".cache" / "monocap" / "models"
    assert models.model_path("pose_detection", str(tmp_path)) == tmp_path / "pose_detection.tflite"
