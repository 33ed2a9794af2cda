"""Activation checkpointing (``train.activation_checkpointing=true``) recomputes each transformer block in the
backward pass: the loss and every gradient equal the plain step's, for the encoder, the predictor and the EMA
target's path alike."""

import copy
import functools

import pytest
import torch

from jepa.config import load_config
from jepa.data.loader import BatchContext
from jepa.recipes import get_recipe
from jepa.train.engine import checkpoint_blocks

TINY = ["model.embed_dim=32", "model.depth=2", "model.num_heads=2", "model.predictor_dim=16"]
TINY += ["model.predictor_depth=2", "model.predictor_heads=2", "data.image_size=32", "model.patch_size=8"]


def _loss_and_grads(method, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    method.zero_grad(set_to_none=True)
    loss = method(batch | {"step": 0})["loss"]
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("preset", ["ijepa_shapes", "lejepa_shapes"])
def test_checkpointed_blocks_give_the_plain_loss_and_gradients(preset, tmp_path):
    cfg = load_config([f"experiment={preset}", *TINY, f"data.root={tmp_path}", "data.num_train=8", "data.num_val=4"])
    torch.manual_seed(0)
    setup = get_recipe(cfg.method.name).build(cfg, tmp_path)
    batch = setup.collate([setup.train_set[i] for i in range(4)], BatchContext(0, 0, 4, slice(0, 4)))
    plain = setup.method.train()
    checkpointed = copy.deepcopy(plain)
    checkpoint_blocks(checkpointed)

    loss, grads = _loss_and_grads(plain, batch)
    loss_ckpt, grads_ckpt = _loss_and_grads(checkpointed, batch)
    assert torch.equal(loss, loss_ckpt)
    assert grads.keys() == grads_ckpt.keys() and len(grads) > 10
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_the_engine_checkpoints_when_asked(tmp_path):
    from jepa.recipes import make_trainer

    overrides = ["experiment=ijepa_shapes", *TINY, f"data.root={tmp_path / 'data'}", "data.num_train=8"]
    overrides += ["data.num_val=4", "data.batch_size=4", "train.steps=1", "train.progress=false", "eval.enabled=false"]
    cfg = load_config([*overrides, f"run_dir={tmp_path / 'run'}", "train.activation_checkpointing=true"])
    trainer = make_trainer(cfg)
    blocks = [m for m in trainer.method.modules() if type(m).__name__ == "Block"]
    assert blocks and all(isinstance(b.forward, functools.partial) for b in blocks)
    trainer.fit()
