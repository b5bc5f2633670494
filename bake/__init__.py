"""Blender-side helpers that need bpy but are not operators: action API compatibility (4.2 legacy actions,
5.0 layered actions), fast keyframe writing, armature building, baking takes, retargeting and cleanup."""
