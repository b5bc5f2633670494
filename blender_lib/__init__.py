"""The add-on's Blender-side library: code that needs `bpy` but is neither an operator nor a panel.

Why this name: `engine/` is everything that runs without bpy; `blender_lib/` is its counterpart, the library
the thin classes in `operators/` call to do the work inside Blender. It is named for that side of the
split rather than for one task, because it does several: its old name, `bake`, was one of them, and
`scene` would not fit the engine link, which never touches the scene. Each sub-package is one job:

    engine_link/   running the capture engine from Blender: its Python, subprocess jobs, a capture session
    actions/       animation data on any object: the 4.2/5.0 action API, bulk keyframe I/O, pose FK
    take/          a take (.npz) onto an armature: the canonical armature, baking, retargeting, applying
    mmd/           MMD in Blender: armatures from PMX bones, VMD motions to and from actions
    cleanup/       Graph Editor cleanup: smoothing, key reduction, flip repair, foot lock

actions/ needs nothing else here; take/, mmd/ and cleanup/ build on it (mmd/ and cleanup/ also on take/'s
armature and contacts). `take/apply.py` is where the parts meet: it bakes or retargets a take, then runs
the sidebar's cleanup; engine_link/ hands a finished capture to it.
"""
