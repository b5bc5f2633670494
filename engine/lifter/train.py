"""`python -m engine lifter train`: train the temporal lifter (or the single-frame baseline) on mocap.

Time-budgeted: the learning rate follows a cosine over `--minutes`; a checkpoint (model, optimiser, step,
elapsed time) and the exported safetensors weights are written every `--save-every` minutes and at the end,
so a stopped run loses at most that much and `--resume` continues where it was.

Before every export the batch-norm statistics are recomputed as a plain average over `--calib-batches`
fresh batches (dropout off): the running averages kept during training follow small, very different
batches (each window has its own camera) and the weights that move under them, and were measured to cost
about 30 mm of MPJPE in evaluation mode.

`--device cuda` trains on a GPU, `--workers N` makes the batches in N processes beside the loop. Not yet
fast: on an H100 with 16 cores, two runs side by side with 7 workers each made 17 and 5 steps/s (the GPU
4 % busy, the load average 38); the numpy synthesis is what limits, and it is not tuned for many cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MOCAP = REPO.parent / "shared" / "data" / "mocap"
DEFAULT_CACHE = REPO / "out" / "cache" / "lifter_clips.npz"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ARCHS = {"tcn": (3, 3, 3, 3), "single": (1, 1, 1, 1)}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m engine lifter train", description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), default="tcn",
                    help="tcn: receptive field 81 frames; single: receptive field 1 (the baseline)")
    ap.add_argument("--mocap", default=str(DEFAULT_MOCAP), help="folder of BVH clips (default: %(default)s)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache of the clips' 3D points (.npz)")
    ap.add_argument("--out", default=None,
                    help="weights to write (.safetensors); default engine/lifter/weights/lifter.safetensors "
                         "for tcn, baseline.safetensors for single")
    ap.add_argument("--checkpoint", default=None, help="checkpoint file (default: out/lifter/ARCH.ckpt)")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint if it exists")
    ap.add_argument("--minutes", type=float, default=86.0, help="training time budget (default %(default)s)")
    ap.add_argument("--save-every", type=float, default=3.0, help="minutes between checkpoints")
    ap.add_argument("--channels", type=int, default=None,
                    help="hidden width (default: 128 for tcn, 256 for single; the committed weights: 384 and 256)")
    ap.add_argument("--batch", type=int, default=16, help="windows per step (default %(default)s)")
    ap.add_argument("--chunk", type=int, default=128,
                    help="supervised frames per window (default %(default)s)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.1, help="dropout after every layer (default %(default)s)")
    ap.add_argument("--clean-fraction", type=float, default=0.2,
                    help="share of windows with exact 2D, no detector noise (default %(default)s)")
    ap.add_argument("--bend", type=float, default=0.0,
                    help="share of the windows whose pose is bent: torso, arms and legs turned about their "
                         "joints (data.bend_pose; default %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default %(default)s: two threads slowed training about "
                         "six times when other jobs shared the two cores)")
    ap.add_argument("--bf16", action="store_true",
                    help="compute in bfloat16 (weights stay float32) for the first 90%% of the budget, then "
                         "float32: 1.5x the steps on a CPU with AVX-512 BF16 (measured 102 -> 69 ms a step at "
                         "256 channels)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where the network trains (default %(default)s; the committed weights trained on the CPU)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes that synthesise batches beside the training loop (default 0: the loop "
                         "makes its own; batches then come in whatever order the workers finish them)")
    ap.add_argument("--init", default=None, metavar="WEIGHTS[:N]",
                    help="start from network N (default 0) of a weights file instead of random weights (a fresh "
                         "run only; --resume takes the checkpoint)")
    ap.add_argument("--augment", choices=["real", "classic"], default="real",
                    help="cameras and 2D errors: real (default; data.Synth) or classic (before 2026-12-06)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", default=None, help="log file (default: out/lifter/ARCH.log); also printed")
    ap.add_argument("--calib-batches", type=int, default=60,
                    help="batches for the batch-norm statistics before each export (default %(default)s)")
    ap.add_argument("--export-only", action="store_true",
                    help="load the checkpoint, recompute the batch-norm statistics, export the weights, stop")
    return ap


def network_meta(arch: str, channels: int) -> dict:
    """What the weights file says about the network and its inputs (`members.SHARED_KEYS` and more)."""
    from . import data as D

    widths = ARCHS[arch]
    return {"arch": arch, "widths": list(widths), "channels": channels, "receptive_field": math.prod(widths),
            "joints": [D.sk.JOINT_NAMES[j] for j in D.LIFTER_JOINTS], "keypoints": "blazepose33",
            "nominal_hfov_deg": D.NOMINAL_HFOV_DEG, "features": D.FEATURES, "up_head": True}


def _synth_worker(clips, seed, batch: int, length: int, clean_fraction: float, bend: float, augment: str,
                  out) -> None:
    """Child process: training batches from its own random stream into the queue `out`, forever."""
    from . import data as D

    synth = D.Synth(clips, np.random.default_rng(seed), bend=bend, augment=augment)
    while True:
        out.put(synth.batch(batch, length, clean_fraction=clean_fraction))


def _device_of(model):
    return next(model.parameters()).device


def recalibrate_batchnorm(model, synth, batches: int, length: int, batch: int) -> None:
    """Batch-norm running statistics := the average over `batches` fresh batches, dropout off."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    saved = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
        bn.train()
    with torch.no_grad():
        for _ in range(batches):
            b = synth.batch(batch, length)
            model(torch.from_numpy(b.x).permute(0, 2, 1).to(_device_of(model)))
    for bn, mom in zip(bns, saved):
        bn.momentum = mom
    model.train()


def export_weights(model, path: Path, meta: dict) -> None:
    """Model weights (eval-time tensors, incl. batch-norm statistics) as safetensors with metadata."""
    from safetensors.torch import save

    from ..fileio import atomic_write_bytes
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    atomic_write_bytes(path, save(tensors, metadata={k: json.dumps(v) for k, v in meta.items()}))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from . import data as D
    from .model import TemporalLifter, decode_root

    torch.set_num_threads(max(1, args.threads))
    arch = args.arch
    out = Path(args.out) if args.out else WEIGHTS_DIR / ("lifter.safetensors" if arch == "tcn"
                                                         else "baseline.safetensors")
    ckpt_path = Path(args.checkpoint) if args.checkpoint else REPO / "out" / "lifter" / f"{arch}.ckpt"
    log_path = Path(args.log) if args.log else REPO / "out" / "lifter" / f"{arch}.log"
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logf = open(log_path, "a", buffering=1)  # noqa: SIM115 (open for the whole run, closed at the end)

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")

    clips = D.load_clips(args.mocap, args.cache)
    train_clips, held = D.split(clips)
    log(f"{arch}: {len(train_clips)} training clips ({sum(c.points.shape[0] for c in train_clips)} frames), "
        f"{len(held)} held out")
    torch.manual_seed(args.seed)
    if args.channels is None:
        args.channels = 128 if arch == "tcn" else 256
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    device = torch.device(args.device)
    model = TemporalLifter(ARCHS[arch], channels=args.channels, dropout=args.dropout).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rf = model.receptive_field
    step, elapsed_before = 0, 0.0
    rng = np.random.default_rng(args.seed)
    if args.resume and ckpt_path.exists():
        # tensors, numbers and the args dict: no pickle
        ck = torch.load(ckpt_path, weights_only=True, map_location=device)
        missing, unexpected = model.load_state_dict(ck["model"], strict=False)
        if unexpected or any(not k.startswith("up_head.") for k in missing):
            raise SystemExit(f"checkpoint {ckpt_path} does not fit the model: {missing or unexpected}")
        opt_state = ck["opt"]
        if missing:  # a checkpoint from before the up head (the last parameters): it starts fresh
            opt_state["param_groups"][0]["params"] = list(range(len(list(model.parameters()))))
            log("checkpoint has no up head: added")
        opt.load_state_dict(opt_state)
        step, elapsed_before = ck["step"], ck["elapsed"]
        rng = np.random.default_rng([args.seed, step])
        log(f"resumed at step {step}, {elapsed_before / 60:.1f} min done")
    if args.init and not (args.resume and ckpt_path.exists()):
        from .members import read_members

        path, _, n = args.init.partition(":")
        _, members = read_members(path, framework="pt")
        state = members[int(n or 0)][1]
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise SystemExit(f"--init {args.init} does not fit the model: {missing or unexpected}")
        log(f"started from {args.init}")
    synth = D.Synth(train_clips, rng, bend=args.bend, augment=args.augment)
    val = D.Synth(held, np.random.default_rng(1234), augment=args.augment).batch(128, rf - 1 + args.chunk,
                                                                               clean_fraction=0.5)
    meta = dict(network_meta(arch, args.channels), seed=args.seed, bend=args.bend, dropout=args.dropout,
                height_sd=D.HEIGHT_SD, proportion_sd=D.PROPORTION_SD, augment=args.augment, init=args.init,
                dance_weight=D.DANCE_WEIGHT, data=sorted({c.source for c in train_clips}))

    def evaluate_val() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            x = torch.from_numpy(val.x).permute(0, 2, 1).to(device)
            pose, traj, _ = model(x)
            pose, traj = pose.cpu(), traj.cpu()
            c = rf // 2
            hip2d = torch.from_numpy(val.x[:, c:c + args.chunk, -2:])
            root = decode_root(traj, hip2d)
            mp = (pose - torch.from_numpy(val.pose[:, c:c + args.chunk])).norm(dim=-1).mean().item()
            re = (root - torch.from_numpy(val.root[:, c:c + args.chunk])).norm(dim=-1).mean().item()
        model.train()
        return mp * 1000, re * 1000

    calib = D.Synth(train_clips, np.random.default_rng([args.seed, 777]), bend=args.bend, augment=args.augment)

    def save(final: bool = False) -> None:
        elapsed = elapsed_before + time.time() - t_start
        from ..fileio import atomic_write
        recalibrate_batchnorm(model, calib, args.calib_batches, rf - 1 + args.chunk, args.batch)
        with atomic_write(ckpt_path, "wb") as fh:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed, "args": vars(args)}, fh)
        mp, re = evaluate_val()
        export_weights(model, out, dict(meta, steps=step, minutes=round(elapsed / 60, 1)))
        log(f"{'final' if final else 'checkpoint'} step {step}: held-out window MPJPE {mp:.1f} mm, "
            f"root {re:.1f} mm -> {out}")

    budget = args.minutes * 60.0
    t_start = time.time()
    if args.export_only:
        if not (args.resume and ckpt_path.exists()):
            log("--export-only needs --resume and an existing checkpoint")
            return 2
        save(final=True)
        logf.close()
        return 0
    last_save = t_start
    run_loss, run_n = 0.0, 0
    length = rf - 1 + args.chunk
    batches = None
    if args.workers > 0:
        import multiprocessing as mp

        ctx = mp.get_context("fork")  # the children share the clips' arrays copy-on-write
        batches = ctx.Queue(maxsize=4 * args.workers)
        for w in range(args.workers):
            ctx.Process(target=_synth_worker, daemon=True,
                        args=(train_clips, [args.seed, step, w + 1], args.batch, length, args.clean_fraction,
                              args.bend, args.augment, batches)).start()
    model.train()
    while True:
        elapsed = elapsed_before + time.time() - t_start
        if elapsed >= budget:
            break
        frac = elapsed / budget
        lr = args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        b = batches.get() if batches is not None else synth.batch(args.batch, length, args.clean_fraction)
        x = torch.from_numpy(b.x).permute(0, 2, 1).to(device)
        c = rf // 2
        pose_gt = torch.from_numpy(b.pose[:, c:c + args.chunk]).to(device)
        root_gt = torch.from_numpy(b.root[:, c:c + args.chunk]).to(device)
        hip2d = torch.from_numpy(b.x[:, c:c + args.chunk, -2:]).to(device)
        # bfloat16 leaves ~0.4 % relative noise on activations: the last 10 % of the budget runs in float32
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16 and frac < 0.9):
            pose, traj, up = model(x)
        pose, traj, up = pose.float(), traj.float(), up.float()
        root = decode_root(traj, hip2d)
        loss_pose = (pose - pose_gt).norm(dim=-1).mean()
        # trajectory error weighted by 1/depth (VideoPose3D): far people are not allowed to dominate
        loss_root = ((root - root_gt).norm(dim=-1) / root_gt[..., 2].clamp(min=0.5)).mean()
        # up direction: 1 - cosine of the angle to the camera's true up
        up_gt = torch.from_numpy(b.up)[:, None].to(device)
        loss_up = (1 - torch.nn.functional.cosine_similarity(up, up_gt.expand_as(up), dim=-1)).mean()
        loss = loss_pose + 0.5 * loss_root + 0.2 * loss_up
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        run_loss += loss_pose.detach()  # no .item() a step: on a GPU it would wait for every step
        run_n += 1
        if step % 50 == 0:
            log(f"step {step} lr {lr:.2e} pose {float(run_loss) / run_n * 1000:.1f} mm "
                f"root/z {loss_root.item():.3f} up {loss_up.item():.4f} elapsed {elapsed / 60:.1f} min")
            run_loss, run_n = 0.0, 0
        if time.time() - last_save >= args.save_every * 60:
            save()
            last_save = time.time()
    save(final=True)
    logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
