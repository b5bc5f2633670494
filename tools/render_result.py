"""Render a picture of a capture for the README: the video frame beside the baked Monocap skeleton.

    .venv-blender50/bin/python tools/render_result.py TAKE.npz VIDEO OUT.png [--frame N] [--width PX]

Runs under a Blender venv; Cycles renders headless on the CPU. The skeleton is drawn as a skinned stick
figure built from the baked armature's bone positions at the chosen frame; the video frame is shown
unlit (emission) on a plane beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy
from addon_loader import load_addon  # sibling module: tools/ is on sys.path for scripts
from mathutils import Vector

ROOT = Path(__file__).resolve().parents[1]


def stick_figure(obj: bpy.types.Object, name: str) -> bpy.types.Object:
    """A mesh of the posed skeleton (current frame) with a Skin modifier, so it renders.

    One vertex per bone head plus the tips of leaf bones, edges from parent to child: a single connected
    tree, which is what the Skin modifier wants.
    """
    skip = ("ToeTip", "Heel", "Nose", "Root")
    bones = [pb for pb in obj.pose.bones if not pb.name.startswith(skip)]
    index = {pb.name: i for i, pb in enumerate(bones)}
    verts = [obj.matrix_world @ pb.head for pb in bones]
    edges = []
    for pb in bones:
        if pb.parent is not None and pb.parent.name in index:
            edges.append((index[pb.parent.name], index[pb.name]))
        if not [c for c in pb.children if c.name in index]:
            verts.append(obj.matrix_world @ pb.tail)
            edges.append((index[pb.name], len(verts) - 1))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], edges, [])
    fig = bpy.data.objects.new(name, mesh)
    bpy.context.collection.objects.link(fig)
    skin = fig.modifiers.new("skin", "SKIN")
    skin.use_smooth_shade = True
    for i, sv in enumerate(mesh.skin_vertices[0].data):
        sv.radius = (0.03, 0.03)
        sv.use_root = i == 0
    fig.modifiers.new("subsurf", "SUBSURF").levels = 1
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("take")
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--frame", type=int, default=None, help="take frame to show (default: middle)")
    parser.add_argument("--width", type=int, default=800, help="image width in pixels (default 800)")
    args = parser.parse_args(argv)

    load_addon()
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.bake import bake_take
    from monocap.engine.take import read_take

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    take = read_take(args.take)
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    bake_take(bpy.context, obj, take, frame_start=1)
    t = len(take["rotations"]) // 2 if args.frame is None else args.frame
    scene.frame_set(1 + t)
    fig = stick_figure(obj, "Figure")
    obj.hide_render = True

    # The video frame on a plane to the left, scaled to the figure's height.
    lo = Vector([min(v.co[i] for v in fig.data.vertices) for i in range(3)])
    hi = Vector([max(v.co[i] for v in fig.data.vertices) for i in range(3)])
    height = hi.z - lo.z
    img = bpy.data.images.load(args.video)
    img.source = "MOVIE"
    w, h = img.size
    bpy.ops.mesh.primitive_plane_add(size=1.0)
    plane = bpy.context.active_object
    plane.scale = (height * 1.15 * w / h, height * 1.15, 1.0)
    plane.rotation_euler = (1.5708, 0.0, 0.0)
    plane.location = (lo.x - plane.scale.x / 2 - 0.15, (lo.y + hi.y) / 2, (lo.z + hi.z) / 2)
    mat = bpy.data.materials.new("video")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.image_user.frame_offset = int(take.get("first_frame", 0)) + t
    tex.image_user.frame_duration = 1
    emit = nodes.new("ShaderNodeEmission")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    plane.data.materials.append(mat)
    bones = bpy.data.materials.new("bones")
    bones.use_nodes = True
    bsdf = bones.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (0.95, 0.55, 0.15, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.4
    fig.data.materials.append(bones)
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 4.0
    sun.rotation_euler = (0.9, 0.2, -0.6)
    scene.collection.objects.link(sun)
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.use_nodes = True
    scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.05, 0.06, 1.0)

    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.data.type = "ORTHO"
    left, right = plane.location.x - plane.scale.x / 2, hi.x + 0.1
    cam.data.ortho_scale = max(right - left, height * 1.2) * 1.05
    cam.location = ((left + right) / 2, plane.location.y - 10.0, (lo.z + hi.z) / 2)
    cam.rotation_euler = (1.5708, 0.0, 0.0)

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_denoising = False
    scene.render.resolution_x = args.width
    aspect = height * 1.2 / (right - left) if right > left else 1.0
    scene.render.resolution_y = max(args.width // 3, min(int(args.width * aspect), args.width))
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 100
    scene.render.film_transparent = False
    scene.render.filepath = str(Path(args.out).resolve())
    bpy.ops.render.render(write_still=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
