"""Build the Blender extension zip: dist/monocap-<version>.zip with only the add-on's files.

    python tools/build_extension.py [--output-dir dist]

Any Python 3.11 runs it (no bpy needed). The manifest is checked against the extension platform's rules
first; the zip holds blender_manifest.toml at its top with __init__.py, operators/, panels/,
blender_lib/, engine/ (without tests and caches) and the license files. Install it with Blender's
Edit > Preferences > Get Extensions > Install from Disk.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("operators", "panels", "blender_lib", "engine")
TOP_FILES = ("blender_manifest.toml", "__init__.py", "README.md")
SKIP_DIRS = {"__pycache__", "tests", ".pytest_cache", ".ruff_cache", ".hypothesis", "cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".npz", ".mp4", ".tmp"}
# https://docs.blender.org/manual/en/latest/advanced/extensions/tags.html (add-on tags)
ADDON_TAGS = {"3D View", "Add Curve", "Add Mesh", "Animation", "Bake", "Camera", "Compositing",
              "Development", "Game Engine", "Geometry Nodes", "Grease Pencil", "Import-Export", "Lighting",
              "Material", "Modeling", "Mesh", "Node", "Object", "Paint", "Pipeline", "Physics", "Render",
              "Rigging", "Scene", "Sculpt", "Sequencer", "System", "Text Editor", "Tracking",
              "User Interface", "UV"}
PERMISSIONS = {"files", "network", "clipboard", "camera", "microphone"}
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


class ManifestError(ValueError):
    pass


def _short_text(value: object, what: str, limit: int = 64) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise ManifestError(f"{what} is longer than {limit} characters")
    if value[-1] in ".,;:!?" or value != value.strip():
        raise ManifestError(f"{what} must not end with punctuation or spaces: {value!r}")


def validate_manifest(manifest: dict, root: Path = ROOT) -> None:
    """Raise ManifestError unless `manifest` follows the extension rules (schema 1.0.0) for an add-on."""
    required = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license",
                "blender_version_min")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise ManifestError(f"missing fields: {', '.join(missing)}")
    if manifest["schema_version"] != "1.0.0":
        raise ManifestError("schema_version must be 1.0.0")
    ident = manifest["id"]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ident) or ident.endswith("_") or "__" in ident:
        raise ManifestError(f"id {ident!r} must be a Python identifier without leading, trailing "
                            "or double '_'")
    for key in ("version", "blender_version_min"):
        if not _SEMVER.match(str(manifest[key])):
            raise ManifestError(f"{key} {manifest[key]!r} is not a semantic version (X.Y.Z)")
    if tuple(int(x) for x in manifest["blender_version_min"].split("-")[0].split(".")) < (4, 2, 0):
        raise ManifestError("blender_version_min must be 4.2.0 or later for extensions")
    _short_text(manifest["name"], "name")
    _short_text(manifest["tagline"], "tagline")
    if manifest["type"] != "add-on":
        raise ManifestError("type must be 'add-on'")
    lic = manifest["license"]
    spdx = isinstance(lic, list) and lic and all(isinstance(x, str) and x.startswith("SPDX:") for x in lic)
    if not spdx:
        raise ManifestError("license must be a list of 'SPDX:' identifiers")
    bad_tags = [t for t in manifest.get("tags", []) if t not in ADDON_TAGS]
    if bad_tags:
        raise ManifestError(f"unknown tags: {', '.join(bad_tags)}")
    perms = manifest.get("permissions", {})
    if not isinstance(perms, dict):
        raise ManifestError("permissions must be a table of reasons")
    for key, reason in perms.items():
        if key not in PERMISSIONS:
            raise ManifestError(f"unknown permission {key!r}")
        _short_text(reason, f"permission reason for {key}")
    if not (root / "__init__.py").is_file():
        raise ManifestError("an add-on needs __init__.py next to the manifest")


def read_manifest(root: Path = ROOT) -> dict:
    with open(root / "blender_manifest.toml", "rb") as fh:
        return tomllib.load(fh)


def addon_files(root: Path = ROOT) -> list[Path]:
    """The files that go into the zip, relative to `root`."""
    files = [Path(f) for f in TOP_FILES if (root / f).is_file()]
    files += [p.relative_to(root) for p in sorted(root.glob("LICENSE*")) if p.is_file()]
    for pkg in PACKAGES:
        for p in sorted((root / pkg).rglob("*")):
            rel = p.relative_to(root)
            if p.is_file() and not SKIP_DIRS.intersection(rel.parts) and p.suffix not in SKIP_SUFFIXES \
                    and not p.name.startswith("."):
                files.append(rel)
    return files


def build(output_dir: Path | str = ROOT / "dist", root: Path = ROOT) -> Path:
    """Validate the manifest and write the zip atomically; returns its path."""
    manifest = read_manifest(root)
    validate_manifest(manifest, root)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in addon_files(root):
            zf.write(root / rel, rel.as_posix())
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(ROOT / "dist"),
                        help="where the zip goes (default: dist/)")
    args = parser.parse_args(argv)
    try:
        path = build(args.output_dir)
    except ManifestError as exc:
        print(f"error: blender_manifest.toml: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(path) as zf:
        print(f"wrote {path} ({len(zf.namelist())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
