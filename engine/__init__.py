"""Monocap engine: video to 3D animation, runnable without Blender.

Importing this package (or `engine.formats`, `engine.skeleton`, ...) must stay light: numpy only.
torch and cv2 are imported inside the modules that need them, so the Blender add-on can use the
format and math modules with Blender's own Python.
"""

__version__ = "0.1.0"
