"""The training loop of every method. A method computes its losses (:class:`jepa.methods.Method`); the engine owns
everything else: devices, precision, DDP, optimisation and schedules, the EMA call, checkpoints, resumption,
logging, collapse monitors and the progress bar. It never names a method, a modality or a batch key."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint
from torch.utils.data import Dataset
from tqdm import tqdm

from evals.rank import feature_std, rankme
from jepa.common.distributed import DistInfo, all_reduce_mean, barrier, init_distributed
from jepa.common.errors import NonFiniteLossError
from jepa.common.optim import cosine, linear, param_groups, set_hyperparams, warmup_cosine
from jepa.common.runtime import PRECISION_NAMES, autocast, select_device, select_precision
from jepa.data.loader import Collate, build_train_loader, stack
from jepa.methods.protocol import Method
from jepa.models.attention import Block
from jepa.train import checkpoint as ckpt
from jepa.train import sharding
from jepa.train.logging import MetricsLogger
from jepa.train.run_dir import check_run_dir, clear_run_dir, save_run_config

log = logging.getLogger(__name__)


def compile_blocks(model: nn.Module) -> None:
    """torch.compile each transformer block with dynamic shapes: mask sizes change every batch, so
    compiling the whole model recompiles for minutes, while blocks compile once (~40 s on 2 cores)
    and fuse the norm/GELU/residual/cast element-wise work that dominates narrow layers on CPU."""
    for module in model.modules():
        if isinstance(module, Block):
            module.compile(dynamic=True)


def checkpoint_blocks(model: nn.Module) -> None:
    """Activation checkpointing: each transformer block keeps only its input for the backward pass and recomputes
    its activations there, so a step holds one block's activations at a time instead of every block's (about a
    third more compute). The EMA target, run without gradients, is unaffected."""
    for module in model.modules():
        if isinstance(module, Block):
            module.forward = functools.partial(checkpoint, module.forward, use_reentrant=False)


def to_device(batch: Any, device: torch.device) -> Any:
    """Every tensor of a nested batch (dicts, lists, tuples) on ``device``; everything else as it is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


@dataclass
class TrainingSetup:
    """What a method's builder hands the engine: the method (an ``nn.Module`` following
    :class:`jepa.methods.Method`), its training set, the collate function that makes its batches, and the
    JSON-able ``facts`` a checkpoint needs to rebuild the method (e.g. sizes read from the data)."""

    method: Method
    train_set: Dataset
    collate: Collate = stack
    facts: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """``Trainer(cfg, build).fit()``: ``build()`` returns the :class:`TrainingSetup`; it is called after seeding, so
    every rank and every resumed attempt starts from the same initial weights."""

    def __init__(self, cfg, build: Callable[[], TrainingSetup]):
        self.cfg = cfg
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        wants_cuda = cfg.train.device.startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available())
        self.dist: DistInfo = init_distributed("cuda" if wants_cuda else "cpu")
        self.device = select_device(cfg.train.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        check_run_dir(cfg)
        self.dtype = self._precision()
        if cfg.train.resume == "never":
            clear_run_dir(cfg, self.dist.is_main)  # before building: nothing of the old run may leak in

        torch.manual_seed(cfg.train.seed)  # same initial weights on every rank and every attempt
        setup = build()
        self.method, self.dataset, self.collate, self.facts = setup.method, setup.train_set, setup.collate, setup.facts
        self.method.to(self.device)
        if cfg.train.activation_checkpointing:
            checkpoint_blocks(self.method)
        self.sharded = cfg.train.strategy == "fsdp" and self.dist.enabled  # one process has nothing to shard
        if self.sharded:
            sharding.shard(self.method)  # before the optimizer, which then holds the shards
        self.optimizer = torch.optim.AdamW(
            param_groups(self.method, cfg.optim.weight_decay),
            lr=cfg.optim.lr,
            betas=tuple(cfg.optim.betas),
            fused=self.device.type in ("cpu", "cuda"),  # one kernel for all parameters instead of ~10 per tensor
        )
        self.step = self._maybe_resume()
        save_run_config(cfg, self.dist.is_main)  # once the checkpoint it continues (if any) has loaded
        self.model: nn.Module = self.method
        if self.dist.enabled and not self.sharded:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.method, device_ids=device_ids, broadcast_buffers=False)
        if cfg.train.compile:
            compile_blocks(self.method)

    def _resume_from(self) -> Path | None:
        """The checkpoint ``train.resume`` names (``auto``/``force``: the run's latest; a path: that checkpoint, a
        ``checkpoints`` directory's latest or a run directory's latest), or None to start from step 0."""
        resume = self.cfg.train.resume
        if resume == "never":
            return None
        return ckpt.latest_checkpoint(self.ckpt_dir) if resume in ("auto", "force") else ckpt.find_checkpoint(resume)

    def _precision(self) -> torch.dtype:
        """``train.precision``, with ``auto`` decided once per run: a resumed run takes the precision its
        checkpoint records (a busy machine must not turn a bf16 run into an fp32 one half-way) unless it resumes
        on another kind of device; a new one measures, and every rank takes rank 0's choice."""
        requested = self.cfg.train.precision
        if requested != "auto":
            return select_precision(requested, self.device)
        path = self._resume_from()
        recorded, device_type = ckpt.read_train_values(path, "precision", "device_type") if path else (None, None)
        if recorded is not None and device_type == self.device.type:
            log.info("train.precision=auto: %s, as recorded by %s", recorded, path)
            return select_precision(recorded, self.device)
        dtype = select_precision(requested, self.device)
        if self.dist.enabled:
            bf16 = torch.tensor([dtype == torch.bfloat16], dtype=torch.int32, device=self.device)
            torch.distributed.broadcast(bf16, src=0)
            dtype = torch.bfloat16 if bf16.item() else torch.float32
        log.info("train.precision=auto: %s on %s", PRECISION_NAMES[dtype], self.device)
        return dtype

    # ---- checkpoints -------------------------------------------------------------------------
    def _maybe_resume(self) -> int:
        """The step to start from: 0, or that of the checkpoint :meth:`_resume_from` finds."""
        path = self._resume_from()
        if path is None:
            return 0
        step, model_state, state = ckpt.load_checkpoint(path)
        if self.sharded:  # the same consolidated checkpoint, cut into this rank's shards
            sharding.load_full_model_state(self.method, model_state)
            sharding.load_full_optimizer_state(self.method, self.optimizer, state["optimizer"])
        else:
            self.method.load_state_dict(model_state, strict=True)
            self.optimizer.load_state_dict(state["optimizer"])
        ckpt.set_rng_state(state["rng"])
        if self.dist.is_main:
            log.info("resumed from %s at step %d", path, step)
        return step

    def save(self) -> Path | None:
        """Checkpoint the current step (main rank), only from finite weights: "last good" must resume. Every rank
        checks its weights (under FSDP its shards, and the ranks share the verdict), so all stop together. Under
        FSDP the main rank writes the consolidated weights and optimizer state, as DDP does."""
        local = self.method.state_dict()
        bad = any(not torch.isfinite(sharding.local(t)).all() for t in local.values() if t.is_floating_point())
        if self.sharded:  # shards differ between ranks (DDP's weights do not): every rank learns of any bad one
            bad = float(all_reduce_mean(torch.tensor(float(bad), device=self.device))) > 0
        if bad:
            raise NonFiniteLossError(
                f"weights are not finite after step {self.step}; not saving them. Last good checkpoint: "
                f"{self._last_good()}. Try a lower optim.lr, optim.clip_grad, or train.precision=fp32."
            )
        weights, optimizer = local, self.optimizer.state_dict()
        if self.sharded:  # collectives: every rank takes part, the main rank receives the whole
            weights = sharding.full_model_state(self.method)
            optimizer = sharding.full_optimizer_state(self.method, self.optimizer)
        path = None
        if self.dist.is_main:
            state = {
                "optimizer": optimizer,
                "rng": ckpt.rng_state(),
                "precision": PRECISION_NAMES[self.dtype],
                "device_type": self.device.type,
                "config": OmegaConf.to_container(self.cfg, resolve=True),
                "facts": self.facts,
            }
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, weights, state, keep=self.cfg.train.keep_checkpoints)
        barrier()
        return path

    # ---- schedules ---------------------------------------------------------------------------
    def hyperparams(self, step: int) -> tuple[float, float, float]:
        """(learning rate, weight decay, EMA momentum) at ``step``: pure functions of the step, so resumable."""
        o, total = self.cfg.optim, self.cfg.train.steps
        lr = warmup_cosine(step, total, o.warmup_steps, o.start_lr, o.lr, o.final_lr)
        wd = cosine(step, total, o.weight_decay, o.final_weight_decay)
        ramp = cosine if o.ema_schedule == "cosine" else linear
        momentum = ramp(step, total, o.ema_momentum[0], o.ema_momentum[1])
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
            norm = nn.utils.clip_grad_norm_(self.method.parameters(), self.cfg.optim.clip_grad)
            grad_norm = float(sharding.full_tensor(norm))
        self.optimizer.step()
        logged = {key: value.detach() for key, value in out.items() if key != "loss"}
        stats = {"loss": loss.detach(), **logged, "lr": lr, "wd": wd, "grad_norm": grad_norm}
        update_target = getattr(self.method, "update_target", None)  # EMA methods only
        if update_target is not None:
            update_target(momentum)
            stats["ema"] = momentum
        return stats

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        bad = (~torch.isfinite(loss)).float()
        if float(all_reduce_mean(bad)) > 0:
            raise NonFiniteLossError(
                f"loss is {float(loss)} at step {step}; stopping without saving. Last good checkpoint: "
                f"{self._last_good()}. Try a lower optim.lr, optim.clip_grad, or train.precision=fp32."
            )

    def _last_good(self) -> str:
        latest = ckpt.latest_checkpoint(self.ckpt_dir) if self.ckpt_dir.exists() else None
        return str(latest or "none")

    @torch.no_grad()
    def monitors(self, batch: dict) -> dict[str, float]:
        """Collapse monitors (RankMe, feature std) on the method's ``pooled_embeddings(batch)`` (B, D), if it has
        them."""
        pooled = getattr(self.method, "pooled_embeddings", None)
        if pooled is None:
            return {}
        with autocast(self.device, self.dtype):
            z = pooled(batch).float()
        return {"rankme": rankme(z), "feature_std": feature_std(z)}

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> list[float]:
        """Train to ``train.steps``; returns the per-step (rank-averaged) losses of this session."""
        cfg = self.cfg.train
        logger = MetricsLogger(self.run_dir, resume_step=self.step) if self.dist.is_main else None
        loader = build_train_loader(
            self.dataset,
            self.collate,
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
                    metrics = {key: float(value) for key, value in metrics.items()}
                    if hasattr(self.dataset, "num_skipped"):  # unreadable files this rank has skipped so far
                        metrics["skipped_files"] = self.dataset.num_skipped
                    if self.step % cfg.monitor_every == 0 or self.step == cfg.steps:
                        metrics.update(self.monitors(batch))
                    if logger:
                        logger.log(self.step, metrics)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{stats['lr']:.2e}", samples_s=f"{rate:.0f}")
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()
        finally:
            bar.close()
            if logger:
                logger.close()
        return losses
