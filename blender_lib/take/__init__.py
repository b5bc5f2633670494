"""A take (.npz from the engine) onto a Blender armature: the canonical Monocap armature, baking onto it,
retargeting onto an existing armature, and applying a take the way the sidebar's options say."""
