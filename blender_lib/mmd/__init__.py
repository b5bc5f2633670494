"""MMD in Blender: armatures from PMX bones (and their PMX-like bone table back), VMD motions imported as
actions and exported from them."""
