"""Damaged VMD and PMX files: the readers either succeed or raise FormatError naming a byte offset.

Property-based: hypothesis truncates, flips, inflates counts in, splices and fabricates versions of the
shared files. Any other exception (IndexError, struct.error, MemoryError, UnicodeError...) fails the test.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import FormatError
from engine.formats.pmx import read_pmx
from engine.formats.vmd import read_vmd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmd"
VMDS = [p.read_bytes() for p in sorted((DATA / "babylon-mmd").glob("*.vmd"))] + [
    (DATA / "gene" / "motion" / name).read_bytes() for name in ("00_normal.vmd", "stand.vmd", "01_happy.vmd")]
PMXS = [p.read_bytes() for p in sorted((DATA / "babylon-mmd").glob("*.pmx"))]
GENE_PMX = (DATA / "gene" / "Gene.pmx").read_bytes()

SETTINGS = settings(max_examples=int(os.environ.get("MONOCAP_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _vmd_count_offsets(data: bytes) -> list[int]:
    """Where the six section counts (and the per-key IK counts) of an intact v2 file sit."""
    pos, out = 50, []
    for size in (111, 23, 61, 28, 9):
        out.append(pos)
        pos += 4 + int.from_bytes(data[pos:pos + 4], "little") * size
    out.append(pos)
    count = int.from_bytes(data[pos:pos + 4], "little")
    pos += 4
    for _ in range(count):
        out.append(pos + 5)
        pos += 9 + 21 * int.from_bytes(data[pos + 5:pos + 9], "little")
    return out


def _pmx_count_offsets(data: bytes) -> list[int]:
    model = read_pmx(data)
    return list(model.offsets.values()) + [8]  # the section counts, and the globals size


@st.composite
def damaged(draw, files: list[bytes], count_offsets) -> bytes:
    data = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["truncate", "flip", "count", "splice", "garbage"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "count":
        out = bytearray(data)
        offsets = count_offsets(data)
        at = draw(st.one_of(st.sampled_from(offsets), st.integers(0, len(out) - 4)))
        huge = st.sampled_from([0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x10000, 1 << 24])
        value = draw(huge | st.integers(0, 2 ** 32 - 1))
        out[at:at + 4] = struct.pack("<I", value)
        if draw(st.booleans()):
            out = out[:draw(st.integers(at, len(out)))]
        return bytes(out)
    if kind == "splice":
        a = draw(st.integers(0, len(data)))
        b = draw(st.integers(a, min(len(data), a + 64)))
        return data[:a] + draw(st.binary(max_size=64)) + data[b:]
    return data[:draw(st.integers(0, 60))] + draw(st.binary(max_size=400))


def _read_or_format_error(reader, data: bytes) -> None:
    try:
        reader(data)
    except FormatError as exc:
        assert "byte" in str(exc), str(exc)


@SETTINGS
@given(damaged(VMDS, _vmd_count_offsets))
def test_vmd_reader_only_raises_format_error(data: bytes):
    _read_or_format_error(read_vmd, data)


@SETTINGS
@given(damaged(PMXS, _pmx_count_offsets))
def test_pmx_reader_only_raises_format_error(data: bytes):
    _read_or_format_error(read_pmx, data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged([GENE_PMX], _pmx_count_offsets))
def test_gene_pmx_damaged(data: bytes):
    _read_or_format_error(read_pmx, data)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([b"Vocaloid Motion Data 0002\0\0\0\0\0",
                                                  b"Vocaloid Motion Data file\0\0\0\0\0", b"PMX \0\0\0@", b""]))
def test_random_bytes_after_a_magic(body: bytes, magic: bytes):
    _read_or_format_error(read_vmd, magic + body)
    _read_or_format_error(read_pmx, magic + body)


def test_every_truncation_of_a_small_vmd_and_pmx():
    """Exhaustive over offsets for the small files: truncation inside a section is an error, at a section
    boundary a success."""
    vmd = VMDS[0]
    ok = 0
    for n in range(len(vmd) + 1):
        try:
            read_vmd(vmd[:n])
            ok += 1
        except FormatError as exc:
            assert "byte" in str(exc)
    assert ok == 7  # after the header and after each of the six sections
    for pmx in PMXS:
        for n in range(len(pmx)):
            try:
                read_pmx(pmx[:n])
            except FormatError as exc:
                assert "byte" in str(exc)
