"""Motion math on the canonical skeleton (numpy only): rotations, contacts, take completion."""
