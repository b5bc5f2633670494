"""Local workers: a `concurrent.futures.ProcessPoolExecutor` of spawned processes, each capturing one video
at a time with `job.capture_job` and writing its outputs straight into DIR (atomically, as `capture` does).

Only as many videos are handed out as there are workers, so every video handed out is running: when a worker
dies (killed, out of memory, a crash in a native library) the pool breaks, the videos it held are known, and
they are tried again, alone, in a fresh pool; a video held by a dying worker twice fails with that reason.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..progress import Progress
from .job import Job, capture_job

MAX_DEATHS = 2
_busy = False  # in a worker: a capture is running (SIGTERM then unwinds it so its temporaries are removed)
_frames = None  # in a worker: the batch's shared array of frames done per video (see LocalRunner.run)


class _FramesDone(Progress):
    """A capture's landmark progress written into its video's slot of a shared array: one machine word per
    video, written by one process and read by the batch, so no lock (a worker killed mid-write cannot leave
    one held)."""

    def __init__(self, index: int) -> None:
        super().__init__("none")
        self.index = index

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "landmarks" and _frames is not None:
            _frames[self.index] = done


def _on_term(signum, frame):
    if _busy:
        raise KeyboardInterrupt(signum)
    os._exit(128 + signum)


def _watch_parent(parent: int) -> None:
    """A worker whose batch died (killed, crashed) stops too, cleaning up like on SIGTERM."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _init_worker(threads: int, quiet: bool, frames) -> None:
    global _frames
    _frames = frames
    # before torch or the runtimes load: their thread pools take these sizes
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the batch decides
    signal.signal(signal.SIGTERM, _on_term)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    if quiet:  # FFmpeg's and the runtimes' own lines would interleave with the batch's progress
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)


def _work(index: int, video: str, out_dir: str, outputs: dict, kwargs: dict) -> dict:
    global _busy
    _busy = True
    try:
        return capture_job(video, out_dir, outputs, kwargs, progress=_FramesDone(index))
    except KeyboardInterrupt:  # SIGTERM: the capture has unwound and removed its temporaries; nobody waits
        os._exit(128 + signal.SIGTERM)  # for a result, and the pool's queue would block this process forever
    finally:
        _busy = False


class LocalRunner:
    def __init__(self, workers: int, threads: int, quiet: bool = True) -> None:
        self.workers, self.threads, self.quiet = workers, threads, quiet
        self.where = f"{workers} local worker(s) x {threads} thread(s)"

    def _pool(self, frames) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_init_worker,
                                   initargs=(self.threads, self.quiet, frames))

    def run(self, jobs: list[Job], out_dir: str, on_result: Callable[[Job, dict], None],
            tick: Callable[[int], None]) -> None:
        """Capture every job; `on_result(job, result)` in this thread as each finishes, `tick(frames)` about
        once a second with the frames done so far by the videos in flight. On an exception here (Ctrl-C,
        SIGTERM) the workers are stopped and remove their temporaries."""
        self.context = multiprocessing.get_context("spawn")
        frames = self.context.RawArray("q", len(jobs))  # frames done per video, written by its worker
        index = {id(job): k for k, job in enumerate(jobs)}
        pending = deque(jobs)
        running: dict = {}
        pool = self._pool(frames)
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    if pending[0].deaths and running:
                        break  # a video that was in a dying worker runs alone, to know whether it is the cause
                    job = pending.popleft()
                    frames[index[id(job)]] = 0
                    running[pool.submit(_work, index[id(job)], job.video, out_dir, job.outputs, job.kwargs)] = job
                    if job.deaths:
                        break
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                tick(sum(frames[index[id(job)]] for f, job in running.items() if f not in done))
                broken = False
                for future in done:
                    job = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        running[future] = job  # handled with the others below
                        continue
                    on_result(job, result)
                if broken:
                    # every video in flight was in the pool that broke: the dead worker's, and the others that
                    # the executor gives up with it
                    for job in running.values():
                        job.deaths += 1
                        if job.deaths >= MAX_DEATHS:
                            on_result(job, {"status": "failed", "error": "the worker process died while "
                                            f"capturing it ({job.deaths} times): killed, out of memory or a crash"})
                        else:
                            pending.appendleft(job)
                    running.clear()
                    pool.shutdown(wait=True)
                    pool = self._pool(frames)
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker (each removes its temporaries and exits), SIGKILL one that lingers."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public way to stop workers on 3.11
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=True, cancel_futures=True)  # the queues released: no "leaked semaphore" warning
