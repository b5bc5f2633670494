"""Skeleton math: forward kinematics of PMX rigs (numpy only)."""
