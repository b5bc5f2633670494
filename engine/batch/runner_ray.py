"""Ray: one task per video on a Ray cluster (`--ray` starts one on this machine, `--ray ADDRESS` joins one).

Nothing has to be shared between the machines but the engine's environment (engine/requirements.txt and
engine/requirements-ray.txt installed on every node, same Python): the engine package travels as the job's
`py_modules`, the driver ships each video's bytes, the rig and the two model files through Ray's object store,
and a task returns its output files' bytes, which the driver writes into DIR (atomically, all of a video's
outputs together, as `capture` does) before appending the manifest row. So DIR and the videos are only needed
on the machine that runs the command, and the results do not depend on a path every node sees.

Ray retries a task whose worker died (`max_retries`); a video's own failure (corrupt, nobody in it) is a
result, not an exception, so it is not retried. Tasks ask for --threads CPUs each and, when the cluster has
GPUs and --device is not cpu, for 1/VIDEOS_PER_GPU of a GPU. At most two tasks per free slot are in flight, so
the object store holds a bounded number of videos.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import BadInput
from ..fileio import atomic_write_bytes, staged_outputs
from .job import Job, capture_job, one_line

MAX_RETRIES = 2  # a video whose worker dies three times fails with the reason
VIDEOS_PER_GPU = 2  # one video's decoding and lifting on the CPU overlap another's networks on the GPU
ENGINE_DIR = Path(__file__).resolve().parents[1]
QUIET_ENV = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8", "TF_CPP_MIN_LOG_LEVEL": "2",
             "ORT_LOGGING_LEVEL": "3", "OMP_WAIT_POLICY": "PASSIVE"}


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BadInput("--ray needs Ray: pip install -r engine/requirements-ray.txt") from None
    return ray


def capture_video_task(name: str, video: bytes, rig: tuple[str, bytes] | None, models: dict[str, bytes],
                       outputs: dict[str, str], kwargs: dict) -> tuple[dict, dict[str, bytes]]:
    """The Ray task: the video (its bytes, under its own file name) captured in a scratch folder of the node
    with `capture_job`; returns (result, {output path relative to DIR: bytes})."""
    from ..models import MODEL_FILES

    scratch = Path(tempfile.mkdtemp(prefix="monocap-batch-"))
    try:
        # the model files are kept per node, by content, for the next tasks (checked against their hashes
        # by run_capture's ensure_models)
        cache = Path(tempfile.gettempdir()) / "monocap-models"
        for key, data in models.items():
            target = cache / Path(MODEL_FILES[key][0]).name
            if not target.is_file() or target.stat().st_size != len(data):
                atomic_write_bytes(target, data)
        local = scratch / "in" / name
        local.parent.mkdir()
        local.write_bytes(video)
        kwargs = dict(kwargs, models_dir=str(cache))
        if rig is not None:
            (scratch / "in" / rig[0]).write_bytes(rig[1])
            kwargs["rig"] = str(scratch / "in" / rig[0])
        out = scratch / "out"
        result = capture_job(str(local), str(out), outputs, kwargs)
        files = ({rel: (out / rel).read_bytes() for rel in result["outputs"].values()}
                 if result["status"] == "done" else {})
        return result, files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayRunner:
    def __init__(self, address: str, threads: int, device: str, models: dict[str, Path], rig: str | None,
                 quiet: bool = True) -> None:
        ray = _import_ray()
        self.ray = ray
        runtime_env = {"py_modules": [str(ENGINE_DIR)], "excludes": ["__pycache__", "*.pyc"],
                       "env_vars": dict(QUIET_ENV, OMP_NUM_THREADS=str(threads))}
        kw = dict(runtime_env=runtime_env, log_to_driver=not quiet, include_dashboard=False,
                  logging_level="ERROR", configure_logging=True)
        try:
            if address == "local":
                ray.init(**kw)
            else:
                ray.init(address=address, **kw)
        except ConnectionError as exc:
            raise BadInput(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())} (a cluster "
                           "with token authentication needs RAY_AUTH_MODE=token and its token here)") from None
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
        if device == "cuda" and not gpus:
            ray.shutdown()
            raise BadInput("--device cuda: the Ray cluster has no GPU")
        self.num_cpus = min(threads, max(1, int(cpus)))
        self.num_gpus = 1 / VIDEOS_PER_GPU if gpus and device != "cpu" else 0
        slots = max(1, int(cpus // self.num_cpus))
        if self.num_gpus:
            slots = min(slots, int(gpus * VIDEOS_PER_GPU))
        self.in_flight = 2 * slots
        self.task = ray.remote(capture_video_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                                           max_retries=MAX_RETRIES)
        self.models = ray.put({k: p.read_bytes() for k, p in models.items()})  # a top-level argument: resolved
        self.rig = (Path(rig).name, Path(rig).read_bytes()) if rig else None
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        self.where = (f"Ray ({'started here' if address == 'local' else address}): {nodes} node(s), {cpus:g} CPU(s), "
                      f"{gpus:g} GPU(s); {self.num_cpus} CPU(s)" + (f" + {self.num_gpus:g} GPU" if self.num_gpus
                                                                      else "") + " per video")

    def _submit(self, job: Job):
        """The task's reference, or the failed result when the driver cannot read the video."""
        try:
            data = Path(job.video).read_bytes()
        except FileNotFoundError:
            return {"status": "failed", "error": f"video not found: {job.video}", "worker": "driver"}
        except IsADirectoryError:
            return {"status": "failed", "error": f"not a file: {job.video}", "worker": "driver"}
        except OSError as exc:
            return {"status": "failed", "error": f"cannot read {job.video}: {exc.strerror}", "worker": "driver"}
        kwargs = {k: v for k, v in job.kwargs.items() if k not in ("models_dir", "rig")}
        return self.task.remote(Path(job.video).name, self.ray.put(data), self.rig, self.models, job.outputs,
                                kwargs)

    def run(self, jobs: list[Job], out_dir: str, on_result: Callable[[Job, dict], None],
            tick: Callable[[int], None]) -> None:
        """As LocalRunner.run; the videos in flight count no frames until they are done (a task's progress
        is not sent back)."""
        ray = self.ray
        pending = list(reversed(jobs))
        running: dict = {}
        try:
            while pending or running:
                while pending and len(running) < self.in_flight:
                    job = pending.pop()
                    ref = self._submit(job)
                    if isinstance(ref, dict):
                        on_result(job, ref)
                    else:
                        running[ref] = job
                if not running:
                    continue
                done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                tick(0)
                for ref in done:
                    job = running.pop(ref)
                    try:
                        result, files = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # an engine bug inside the task, not retried
                        on_result(job, {"status": "failed", "worker": "ray", "error": one_line(exc.cause)})
                        continue
                    except ray.exceptions.RayError as exc:  # the worker died MAX_RETRIES + 1 times, a node was lost
                        why = " ".join(str(exc).split())[:200]
                        on_result(job, {"status": "failed", "worker": "ray",
                                        "error": f"the Ray task died ({type(exc).__name__}, tried "
                                                 f"{MAX_RETRIES + 1} times): {why}"})
                        continue
                    if files:
                        with staged_outputs():
                            for rel, data in files.items():
                                atomic_write_bytes(Path(out_dir) / rel, data)
                    on_result(job, result)
        except BaseException:
            for ref in running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise
        finally:
            with contextlib.suppress(Exception):
                ray.shutdown()

