"""Motion filters, numpy only: used by the engine and by the Blender add-on's cleanup operators.

- `butterworth`: zero-phase low-pass (filtfilt) with the cutoff in Hz.
- `one_euro`: the One-Euro adaptive low-pass (Casiez et al. 2012).
- `quaternion`: sign continuity, renormalisation, quaternion-safe smoothing, flip and twist repair.
- `reduce`: key reduction within a tolerance.
- `footlock`: contact detection from foot height/speed and lock targets with soft edges.
- `resample`: change a motion's frame rate (slerp for rotations).
"""

from .butterworth import butter_lowpass, filtfilt, lowpass_zero_phase
from .footlock import contact_segments, detect_contacts, lock_weights, locked_targets, two_bone_ik
from .one_euro import one_euro
from .quaternion import (
    fix_quaternion_flips,
    matrix_to_quat,
    quat_angle,
    quat_continuity,
    quat_mul,
    quat_normalize,
    quat_to_matrix,
    smooth_quaternions,
    unwrap_euler,
)
from .reduce import reduce_keys
from .resample import resample_positions, resample_quaternions

__all__ = [
    "butter_lowpass",
    "contact_segments",
    "detect_contacts",
    "filtfilt",
    "fix_quaternion_flips",
    "lock_weights",
    "locked_targets",
    "lowpass_zero_phase",
    "matrix_to_quat",
    "one_euro",
    "quat_angle",
    "quat_continuity",
    "quat_mul",
    "quat_normalize",
    "quat_to_matrix",
    "reduce_keys",
    "resample_positions",
    "resample_quaternions",
    "smooth_quaternions",
    "two_bone_ik",
    "unwrap_euler",
]
