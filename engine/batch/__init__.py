"""`python -m engine batch`: capture a library of videos with `capture.run_capture`, one video at a time per
worker, resumable through an append-only manifest.

inputs.py         INPUTS (files, folders, list files) -> the videos, in a stable order
manifest.py       DIR/manifest.jsonl: one JSON row per finished video, appended and fsynced; the resume keys
job.py            one video: its result folder and outputs, and the function a worker runs on it
runner_local.py   worker processes on this machine (concurrent.futures)
runner_ray.py     one Ray task per video (an optional extra: engine/requirements-ray.txt)
report.py         progress over the library on stderr, one line per finished video, the summary
run.py            the command: the above put together, exit codes
"""
