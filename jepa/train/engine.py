"""The training loop. Methods compute losses; the engine owns everything else: devices, precision,
DDP, optimisation and schedules, EMA, checkpoints, resumption, logging and collapse monitors."""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm import tqdm

from evals.rank import feature_std, rankme
from jepa.common.distributed import DistInfo, all_reduce_mean, barrier, init_distributed
from jepa.common.optim import cosine, linear, param_groups, set_hyperparams, warmup_cosine
from jepa.common.runtime import autocast, select_device, select_precision
from jepa.data.loader import build_train_loader
from jepa.models.attention import Block
from jepa.train import checkpoint as ckpt
from jepa.train.build import build_dataset, build_masks, build_method
from jepa.train.config import Config
from jepa.train.logging import MetricsLogger

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    pass


def compile_blocks(model: nn.Module) -> None:
    """torch.compile each transformer block with dynamic shapes: mask sizes change every batch, so
    compiling the whole model recompiles for minutes, while blocks compile once (~40 s on 2 cores)
    and fuse the norm/GELU/residual/cast element-wise work that dominates narrow layers on CPU."""
    for module in model.modules():
        if isinstance(module, Block):
            module.compile(dynamic=True)


def to_device(batch: dict, device: torch.device) -> dict:
    move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
    return {
        **batch,
        "x": move(batch["x"]),
        "masks_ctx": [move(m) for m in batch["masks_ctx"]],
        "masks_tgt": [move(m) for m in batch["masks_tgt"]],
    }


class Trainer:
    """``Trainer(cfg).fit()``; ``dataset`` replaces the configured one (benchmarks, tests)."""

    def __init__(self, cfg: Config, dataset: Dataset | None = None):
        self.cfg = cfg
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        wants_cuda = cfg.train.device.startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available())
        self.dist: DistInfo = init_distributed("cuda" if wants_cuda else "cpu")
        self.device = select_device(cfg.train.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.dtype = select_precision(cfg.train.precision, self.device)
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"

        self.dataset = dataset if dataset is not None else build_dataset(cfg.data, "train", cfg.run_dir)
        torch.manual_seed(cfg.train.seed)  # same initial weights on every rank and every attempt
        self.method = build_method(cfg).to(self.device)
        self.masks = build_masks(cfg.mask, self.method.encoder.grid, cfg.train.steps)
        self.optimizer = torch.optim.AdamW(
            param_groups(self.method, cfg.optim.weight_decay),
            lr=cfg.optim.lr,
            betas=tuple(cfg.optim.betas),
            fused=self.device.type in ("cpu", "cuda"),  # one kernel for all parameters instead of ~10 per tensor
        )
        self.step = self._maybe_resume()
        self.model: nn.Module = self.method
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.method, device_ids=device_ids, broadcast_buffers=False)
        if cfg.train.compile:
            compile_blocks(self.method)

    # ---- checkpoints -------------------------------------------------------------------------
    def _maybe_resume(self) -> int:
        resume = self.cfg.train.resume
        if resume == "never":
            if self.dist.is_main and self.ckpt_dir.exists():
                log.warning("train.resume=never: discarding the checkpoints in %s", self.ckpt_dir)
                shutil.rmtree(self.ckpt_dir)
            barrier()
            return 0
        path = ckpt.latest_checkpoint(self.ckpt_dir) if resume == "auto" else Path(resume)
        if path is None:
            return 0
        step, model_state, state = ckpt.load_checkpoint(path)
        self.method.load_state_dict(model_state, strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        ckpt.set_rng_state(state["rng"])
        if self.dist.is_main:
            log.info("resumed from %s at step %d", path, step)
        return step

    def save(self) -> Path | None:
        path = None
        if self.dist.is_main:
            state = {
                "optimizer": self.optimizer.state_dict(),
                "rng": ckpt.rng_state(),
                "config": OmegaConf.to_container(self.cfg, resolve=True),
            }
            path = ckpt.save_checkpoint(
                self.ckpt_dir, self.step, self.method.state_dict(), state, keep=self.cfg.train.keep_checkpoints
            )
        barrier()
        return path

    # ---- schedules ---------------------------------------------------------------------------
    def hyperparams(self, step: int) -> tuple[float, float, float]:
        o, total = self.cfg.optim, self.cfg.train.steps
        lr = warmup_cosine(step, total, o.warmup_steps, o.start_lr, o.lr, o.final_lr)
        wd = cosine(step, total, o.weight_decay, o.final_weight_decay)
        momentum = linear(step, total, o.ema_momentum[0], o.ema_momentum[1])
        return lr, wd, momentum

    # ---- one step ----------------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict[str, float]:
        lr, wd, momentum = self.hyperparams(batch["step"])
        set_hyperparams(self.optimizer, lr, wd)
        with autocast(self.device, self.dtype):
            out = self.model(batch)
        loss = out["loss"]
        self._check_finite(loss.detach(), batch["step"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = math.nan
        if self.cfg.optim.clip_grad:
            grad_norm = float(nn.utils.clip_grad_norm_(self.method.parameters(), self.cfg.optim.clip_grad))
        self.optimizer.step()
        self.method.update_target(momentum)
        return {"loss": loss.detach(), "lr": lr, "wd": wd, "ema": momentum, "grad_norm": grad_norm}

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        bad = (~torch.isfinite(loss)).float()
        if float(all_reduce_mean(bad)) > 0:
            latest = ckpt.latest_checkpoint(self.ckpt_dir) if self.ckpt_dir.exists() else None
            raise NonFiniteLossError(
                f"loss is {float(loss)} at step {step}; stopping without saving. Last good checkpoint: "
                f"{latest or 'none'}. Try a lower optim.lr, optim.clip_grad, or train.precision=fp32."
            )

    @torch.no_grad()
    def monitors(self, x: torch.Tensor) -> dict[str, float]:
        """Collapse monitors on the target encoder's pooled features of the current batch."""
        with autocast(self.device, self.dtype):
            z = self.method.eval_encoder()(x).mean(1).float()
        return {"rankme": rankme(z), "feature_std": feature_std(z)}

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> list[float]:
        """Train to ``train.steps``; returns the per-step (rank-averaged) losses of this session."""
        cfg = self.cfg.train
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg, resolve=True))
        logger = MetricsLogger(self.run_dir, resume_step=self.step) if self.dist.is_main else None
        loader = build_train_loader(
            self.dataset,
            self.masks,
            global_batch=self.cfg.data.batch_size,
            seed=cfg.seed,
            total_steps=cfg.steps,
            start_step=self.step,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=self.cfg.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=not (cfg.progress and self.dist.is_main),
            unit="step",
            dynamic_ncols=True,
        )
        losses: list[float] = []
        tick, tick_step = time.perf_counter(), self.step
        self.method.train()
        try:
            for batch in loader:
                batch = to_device(batch, self.device)
                stats = self.train_step(batch)
                self.step = batch["step"] + 1
                loss = float(all_reduce_mean(stats["loss"]))
                losses.append(loss)
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.perf_counter()
                    rate = (self.step - tick_step) * self.cfg.data.batch_size / (now - tick)
                    tick, tick_step = now, self.step
                    metrics = {**stats, "loss": loss, "samples_per_s": rate}
                    if hasattr(self.dataset, "num_skipped"):  # unreadable files this rank has skipped so far
                        metrics["skipped_files"] = self.dataset.num_skipped
                    if self.step % cfg.monitor_every == 0 or self.step == cfg.steps:
                        metrics.update(self.monitors(batch["x"]))
                    if logger:
                        logger.log(self.step, metrics)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{stats['lr']:.2e}", img_s=f"{rate:.0f}")
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()
        finally:
            bar.close()
            if logger:
                logger.close()
        return losses
