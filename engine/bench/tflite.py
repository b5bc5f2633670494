"""BlazePose graphs: frames per second of the torch port (CPU, batch 1 and 8), of LiteRT (2 threads) and of
ONNX Runtime running the pruned landmark graph (1 thread, batch 1 and 2, as the capture calls it).

Also batch 1 with one thread for both runtimes (the comparison that survives a busy machine).

Inputs are real frames of pose2sim-single/cam01.mp4: letterboxed to 224x224 for the detector, a square
crop around the person resized to 256x256 for the landmark model. Each figure is the best of 3 passes
over the same 48 frames (the machine may be shared; the best pass is the least disturbed one).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

THREADS = 2
N_FRAMES = 48
PASSES = 3
VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video" / "pose2sim-single" / "cam01.mp4"


def _frames(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Detector input (n, 224, 224, 3) in [-1, 1] and landmark input (n, 256, 256, 3) in [0, 1]."""
    import cv2

    cap = cv2.VideoCapture(str(VIDEO))
    det, lm = [], []
    try:
        while len(det) < n:
            ok, bgr = cap.read()
            if not ok:
                if not det:
                    raise RuntimeError(f"cannot read frames from {VIDEO}")
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            s = 224 / max(h, w)
            nh, nw = round(h * s), round(w * s)
            box = np.zeros((224, 224, 3), np.uint8)
            y0, x0 = (224 - nh) // 2, (224 - nw) // 2
            box[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
            det.append(box)
            # The person stands in the upper middle of this portrait video: a 1000-px square around them.
            side, cx, cy = min(1000, w), 400, 740
            x0, y0 = max(0, min(w - side, cx - side // 2)), max(0, min(h - side, cy - side // 2))
            lm.append(cv2.resize(rgb[y0:y0 + side, x0:x0 + side], (256, 256), interpolation=cv2.INTER_AREA))
    finally:
        cap.release()
    return (np.stack(det).astype(np.float32) / 127.5 - 1.0, np.stack(lm).astype(np.float32) / 255.0)


def _fps(call, x: np.ndarray, batch: int) -> float:
    """Best frames/s over PASSES passes of `call` on x in chunks of `batch` (after one warm-up chunk)."""
    call(x[:batch])
    best = float("inf")
    for _ in range(PASSES):
        t = time.perf_counter()
        for i in range(0, len(x), batch):
            call(x[i:i + batch])
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def run() -> list[dict]:
    from ..profiles import torch_installed

    if not torch_installed():
        return _run_without_torch()
    import torch

    from ..models import ensure_models
    from ..tflite_torch import build_module
    from ..tflite_torch.litert_runner import LiteRTModel
    from ..tflite_torch.onnx_runner import OnnxModel

    paths = ensure_models()
    det_x, lm_x = _frames(N_FRAMES)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    results = []
    try:
        cases = [
            ("detector", paths["pose_detection"], det_x, None),
            ("landmarks", paths["pose_landmark_full"], lm_x, None),
            ("landmarks_pose_only", paths["pose_landmark_full"], lm_x, (0, 1, 4)),
        ]
        for label, path, x, outputs in cases:
            module = build_module(path, outputs=outputs)
            what = "all outputs" if outputs is None else f"outputs {list(outputs)} (no segmentation/heatmap)"
            with torch.inference_mode():
                xt = torch.from_numpy(x)
                for batch in (1, 8):
                    fps = _fps(module, xt, batch)
                    results.append({
                        "name": f"tflite.{label}.torch_cpu_b{batch}", "value": round(fps, 1), "unit": "frames/s",
                        "note": f"torch {torch.__version__} CPU, {THREADS} threads, batch {batch}, {what}, "
                                f"fused oneDNN={module.fused}",
                    })
                # One thread as well: on a busy machine two OpenMP threads lose most of their time waiting
                # for each other, one thread is the steadier comparison.
                torch.set_num_threads(1)
                fps = _fps(module, xt, 1)
                torch.set_num_threads(THREADS)
                results.append({
                    "name": f"tflite.{label}.torch_cpu_b1_1thread", "value": round(fps, 1), "unit": "frames/s",
                    "note": f"torch {torch.__version__} CPU, 1 thread, batch 1, {what}",
                })
            if outputs is not None:
                ort_model = OnnxModel(path, outputs=outputs, num_threads=1)
                for batch in (1, 2):
                    results.append({
                        "name": f"tflite.{label}.onnxruntime_cpu_b{batch}_1thread",
                        "value": round(_fps(ort_model, x, batch), 1), "unit": "frames/s",
                        "note": f"ONNX written from the .tflite, ONNX Runtime, 1 thread, batch {batch}, {what}",
                    })
            if outputs is None:
                for threads in (THREADS, 1):
                    ref = LiteRTModel(path, num_threads=threads)
                    fps = _fps(ref, x, 1)
                    suffix = "" if threads == THREADS else "_1thread"
                    results.append({
                        "name": f"tflite.{label}.litert_cpu{suffix}", "value": round(fps, 1), "unit": "frames/s",
                        "note": f"ai-edge-litert (XNNPACK), {threads} thread(s), one frame per call",
                    })
    finally:
        torch.set_num_threads(saved_threads)
    return results


def _run_without_torch() -> list[dict]:
    """The cpu profile: the graphs on ONNX Runtime (written from the .tflite) and on LiteRT."""
    from ..models import ensure_models
    from ..tflite_torch.litert_runner import LiteRTModel
    from ..tflite_torch.onnx_runner import OnnxModel

    paths = ensure_models()
    det_x, lm_x = _frames(N_FRAMES)
    results = []
    for label, path, x, outputs in (("detector", paths["pose_detection"], det_x, None),
                                    ("landmarks_pose_only", paths["pose_landmark_full"], lm_x, (0, 1, 4))):
        ort_model = OnnxModel(path, outputs=outputs, num_threads=1)
        for batch in (1, 2):
            results.append({"name": f"tflite.{label}.onnxruntime_cpu_b{batch}_1thread",
                            "value": round(_fps(ort_model, x, batch), 1), "unit": "frames/s",
                            "note": f"ONNX written from the .tflite, ONNX Runtime, 1 thread, batch {batch}"})
        ref = LiteRTModel(path, num_threads=1)
        results.append({"name": f"tflite.{label}.litert_cpu_1thread", "value": round(_fps(ref, x, 1), 1),
                        "unit": "frames/s", "note": "ai-edge-litert (XNNPACK), 1 thread, one frame per call"})
    return results


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:40s} {row['value']:8.1f} {row['unit']}  {row['note']}")
