"""File formats (numpy only): BVH, VMD, PMX, take."""
