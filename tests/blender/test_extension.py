"""The extension zip: built by tools/build_extension.py, valid by the platform's rules (our checks and
Blender's own validator), installed through Blender's Install-from-Disk operator in a fresh Blender
(isolated user folder), registered and unregistered cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import build_extension

INSTALL_SCRIPT = r"""
import json, sys, bpy, addon_utils
addon_utils.enable("bl_pkg", default_set=True)
res = {"install": list(bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True))}
name = "bl_ext.user_default.monocap"
res["enabled"] = name in bpy.context.preferences.addons
res["ops"] = [hasattr(bpy.ops.monocap, op) for op in
              ("capture", "import_take", "smooth", "reduce_keys", "fix_flips", "foot_lock", "export_bvh",
               "export_fbx", "setup_engine")]
res["scene_props"] = hasattr(bpy.context.scene, "monocap")
res["heavy_imports"] = [m for m in ("torch", "cv2", "ai_edge_litert", "onnxruntime", "onnx") if m in sys.modules]
res["menus"] = [f.__name__ for f in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize()
                if f.__module__.startswith(name)]
res["prefs"] = bpy.context.preferences.addons[name].preferences.device if res["enabled"] else None
mod = sys.modules[name]
res["user_dir"] = str(sys.modules[name + ".blender_lib.engine_link.engine_python"].user_dir())
addon_utils.disable(name, default_set=True)
res["ops_after"] = hasattr(bpy.types, "MONOCAP_OT_capture")
res["scene_props_after"] = hasattr(bpy.types.Scene, "monocap")
res["menus_after"] = [f.__name__ for f in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize()
                      if f.__module__.startswith(name)]
print("RESULT " + json.dumps(res))
"""


def _blender_ext() -> Path:
    path = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    assert path.is_file(), f"Blender's extension CLI is missing: {path}"
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_extension.build(tmp_path_factory.mktemp("dist"))


def test_zip_holds_only_the_addon(built: Path) -> None:
    assert built.name == "monocap-0.1.0.zip"
    names = zipfile.ZipFile(built).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert any(n.startswith("operators/") for n in names)
    assert any(n.startswith("engine/filters/") for n in names)
    assert {f"blender_lib/{sub}/__init__.py" for sub in ("engine_link", "actions", "take", "mmd", "cleanup")} \
        <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "tools/", ".venv"))
                or n.endswith((".pyc", ".npz", ".mp4"))]


def test_manifest_passes_blenders_validator(built: Path) -> None:
    proc = subprocess.run([sys.executable, str(_blender_ext()), "validate", str(built)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("field", "value"), [("tagline", "Ends with a period."), ("id", "2monocap"),
                                              ("tags", ["Nonsense"]), ("blender_version_min", "4.1.0"),
                                              ("license", ["GPL"])])
def test_manifest_rules_reject_bad_fields(field: str, value: object) -> None:
    manifest = build_extension.read_manifest()
    build_extension.validate_manifest(manifest)
    manifest[field] = value
    with pytest.raises(build_extension.ManifestError):
        build_extension.validate_manifest(manifest)


def test_install_from_disk_registers_and_unregisters(built: Path, tmp_path: Path) -> None:
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    env = {"BLENDER_USER_RESOURCES": str(tmp_path / "user"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(script), str(built)], capture_output=True, text=True,
                          timeout=300, env=env, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(line[7:])
    assert res["install"] == ["FINISHED"] and res["enabled"]
    assert all(res["ops"]) and res["scene_props"] and res["prefs"] == "auto"
    assert res["user_dir"].startswith(str(tmp_path / "user"))
    assert res["menus"] == ["menu_export"] and res["menus_after"] == []
    assert res["heavy_imports"] == []  # the add-on never pulls in the engine's heavy packages
    assert not res["ops_after"] and not res["scene_props_after"]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
