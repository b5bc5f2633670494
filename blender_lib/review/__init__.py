"""Review mode: the video with every person's 2D drawn over it, edits to that 2D, and Lift Again."""
