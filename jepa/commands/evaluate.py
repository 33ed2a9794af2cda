"""``jepa eval run=DIR``: evaluate a finished run again, from its own saved config and latest checkpoint."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from jepa.commands.checks import check_eval
from jepa.recipes import get_recipe, load_run


def evaluate(cfg: DictConfig) -> dict:
    check_eval(cfg)
    if cfg.threads:  # as training does: more threads than free cores make every probe crawl
        torch.set_num_threads(cfg.threads)
    run_cfg, method, facts = load_run(cfg.run)
    run_cfg.eval = cfg.eval
    run_cfg.train.device = cfg.device
    if cfg.data_root:
        run_cfg.data.root = cfg.data_root
    return get_recipe(run_cfg.method.name).evaluate(run_cfg, method, facts)
