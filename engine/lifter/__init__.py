"""Temporal 2D-to-3D lifter. Only keypoints.py is numpy-only; the rest imports torch."""
