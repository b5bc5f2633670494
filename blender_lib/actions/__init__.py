"""Animation data on any Blender object: the action API of Blender 4.2 and 5.0 behind one interface, bulk
keyframe reads and writes, and forward kinematics of an armature's pose curves."""
