"""Temporal 2D-to-3D lifter. keypoints.py and data.py are numpy only; model, train, evaluate and infer import
torch (inside their functions where the numpy-only callers reach them)."""
