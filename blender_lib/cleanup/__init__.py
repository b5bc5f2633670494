"""Graph Editor cleanup of baked animation: smoothing, key reduction and flip repair on F-curves, and foot
lock on an animated armature."""
