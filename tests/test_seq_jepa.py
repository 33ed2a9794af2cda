"""seq-JEPA: the objective (shapes, the 1 - cosine loss, the action embedding, the ablation without actions, the EMA
target), its two data settings trained end to end through ``jepa train`` with their probes, and its config checks."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.errors import HydraException
from torch import nn

from jepa.common.errors import ConfigError
from jepa.config import load_config
from jepa.data.loader import BatchContext
from jepa.data.views import VIEW_PARAMS, MultiViewCollator, ViewMaker, ViewSpec, relative_actions, varying_params
from jepa.methods import SeqJEPA
from jepa.models import create_model

B, M, A, D, E = 6, 3, 5, 16, 8  # batch, observed views, action width, encoder width, action embedding width


class FlatEncoder(nn.Module):
    """A vector encoder (B, 3, 8, 8) -> (B, D): seq-JEPA takes any encoder with an ``embed_dim``."""

    embed_dim = D

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3 * 8 * 8, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(1))


def tiny(action_conditioning: bool = True, encoder: nn.Module | None = None, **kwargs) -> SeqJEPA:
    torch.manual_seed(0)
    encoder = encoder or FlatEncoder()
    settings = {"action_embed_dim": E, "depth": 1, "num_heads": 4, "predictor_hidden": 32} | kwargs
    return SeqJEPA(encoder, A, action_conditioning=action_conditioning, **settings)


def batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"views": torch.randn(B, M + 1, 3, 8, 8, generator=g), "actions": torch.randn(B, M, A, generator=g)}


# ---- the objective ---------------------------------------------------------------------------------------------------
def test_aggregate_and_forward_shapes_with_a_vit_and_with_a_vector_encoder():
    vit = create_model("vit_tiny", input_size=8, patch_size=4, embed_dim=D, depth=1, num_heads=2)
    for model in (tiny(encoder=vit), tiny()):
        data = batch()
        assert model.aggregate(data["views"][:, :M], data["actions"]).shape == (B, D + E) == (B, model.embed_dim)
        assert model.pooled_embeddings(data).shape == (B, D)
        out = model(data)
        assert out["loss"].shape == () and set(out) == {"loss", "cosine"}
    assert tiny(action_conditioning=False).aggregate(data["views"][:, :M], data["actions"]).shape == (B, D)


@pytest.mark.parametrize("standardise", [True, False])
def test_the_loss_is_one_minus_the_cosine_to_the_target_encoders_embedding_of_the_held_out_view(standardise):
    model = tiny(standardise_target=standardise)
    prediction = torch.randn(B, D)

    class Fixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return prediction

    model.predictor = Fixed()
    with torch.no_grad():
        model.target_encoder.proj.weight.mul_(-3.0)  # a target unlike the online encoder, to tell them apart
    data = batch()
    target = model.target_encoder.proj(data["views"][:, -1].flatten(1)).detach()
    if standardise:  # each feature over the batch, with BatchNorm's biased variance and eps
        target = (target - target.mean(0)) / (target.var(0, unbiased=False) + 1e-5).sqrt()
    cosines = [(p @ t) / (p.norm() * t.norm()) for p, t in zip(prediction, target, strict=True)]
    expected = 1 - sum(cosines) / B
    out = model(data)
    torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(out["cosine"], 1 - expected)


def test_the_action_embedding_is_a_linear_map_without_bias_then_batch_norm_without_affine():
    model = tiny()
    linear, norm = model.action_embed
    assert isinstance(linear, nn.Linear) and linear.bias is None
    assert isinstance(norm, nn.BatchNorm1d) and not norm.affine and norm.weight is None and norm.bias is None
    actions = batch()["actions"]
    embedded = model.embed_actions(actions)  # training mode: standardised over the batch's B * M actions
    assert embedded.shape == (B, M, E)
    torch.testing.assert_close(embedded.flatten(0, 1).mean(0), torch.zeros(E), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.embed_actions(100 * actions), embedded, atol=1e-4, rtol=1e-4)  # scale-free


def test_without_action_conditioning_no_action_reaches_the_aggregate_or_the_loss():
    data, changed = batch(), batch()
    changed["actions"] = data["actions"] + torch.randn(B, M, A)
    conditioned, ablated = tiny(), tiny(action_conditioning=False)
    assert ablated.action_embed is None and ablated.predictor[0].in_features == D
    for model in (conditioned.eval(), ablated.eval()):
        aggregates = [model.aggregate(b["views"][:, :M], b["actions"]) for b in (data, changed)]
        assert torch.equal(*aggregates) is (model is ablated)
    for model in (conditioned.train(), ablated.train()):
        assert torch.equal(model(data)["loss"], model(changed)["loss"]) is (model is ablated)


def test_the_action_to_the_held_out_view_reaches_the_predictor_but_not_the_aggregate():
    model, data, last_changed = tiny().eval(), batch(), batch()
    last_changed["actions"][:, -1] += 1.0
    views = data["views"][:, :M]
    assert torch.equal(model.aggregate(views, data["actions"]), model.aggregate(views, last_changed["actions"]))
    assert not torch.equal(model(data)["loss"], model(last_changed)["loss"])
    earlier_changed = batch()
    earlier_changed["actions"][:, 0] += 1.0
    assert not torch.equal(model.aggregate(views, data["actions"]), model.aggregate(views, earlier_changed["actions"]))


def test_update_target_moves_only_the_target_encoder_by_its_momentum():
    model = tiny()
    model(batch())["loss"].backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())  # stop-gradient
    assert model.encoder.proj.weight.grad.abs().sum() > 0 and model.agg_token.grad.abs().sum() > 0
    with torch.no_grad():
        model.encoder.proj.weight.add_(1.0)  # as an optimiser step would
    online = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("target_encoder.")}
    target_before = model.target_encoder.proj.weight.clone()
    model.update_target(0.75)
    torch.testing.assert_close(
        model.target_encoder.proj.weight, 0.75 * target_before + 0.25 * model.encoder.proj.weight
    )
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in online.items())
    assert model.eval_encoder() is model.encoder


# ---- the sequences ---------------------------------------------------------------------------------------------------
def test_only_parameters_a_spec_varies_are_actions():
    names = [VIEW_PARAMS[i] for i in varying_params(ViewSpec(32))]
    assert "rotation" not in names and "mask_centre" not in names and "time_start" not in names
    assert {"centre_y", "flip", "brightness", "blur"} <= set(names)
    rotated = [VIEW_PARAMS[i] for i in varying_params(ViewSpec(32, rotation=30.0, jitter_p=0.0, mask_p=0.5))]
    assert "rotation" in rotated and "mask_centre" in rotated and "brightness" not in rotated


def test_view_sequences_pair_each_view_with_the_change_of_parameters_to_the_next():
    from jepa.recipes.seq_jepa import ViewSequences

    spec, maker = ViewSpec(16), ViewMaker()
    samples = [(torch.rand(3, 16, 16), i % 2) for i in range(4)]
    context = BatchContext(step=3, seed=0, global_batch=4, rows=slice(0, 4))
    made = ViewSequences(spec, M + 1, maker)(samples, context)
    reference = MultiViewCollator([(spec, M + 1)], maker)(samples, context)
    columns = list(varying_params(spec))
    assert made["views"].shape == (4, M + 1, 3, 16, 16) and torch.equal(made["views"], reference["views"][0])
    assert torch.equal(made["actions"], relative_actions(reference["params"][0])[..., columns])
    assert made["actions"].shape == (4, M, len(columns)) and made["y"].tolist() == [0, 1, 0, 1]


# ---- end to end through `jepa train` ---------------------------------------------------------------------------------
TINY_SEQ = [
    "model.embed_dim=32",
    "model.depth=1",
    "model.num_heads=2",
    "method.views_per_sequence=2",
    "method.action_embed_dim=8",
    "method.aggregator_depth=1",
    "method.predictor_hidden=16",
    "method.probe_sequences=64",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.warmup_steps=1",
    "train.steps=3",
    "train.log_every=1",
    "train.progress=false",
    "train.threads=1",
    "eval.batch_size=32",
    "eval.seeds=2",
]


def _train(*args: str) -> None:
    from jepa.cli import main

    assert main(["train", *TINY_SEQ, *args]) == 0


def _rows(run_dir) -> tuple[dict, dict]:
    results = json.loads((run_dir / "eval.json").read_text())
    return results, {row["encoder"]: row for row in results["rows"]}


def test_views_of_shapes_train_and_probe_invariance_and_equivariance(data_root, tmp_path):
    from jepa.recipes import load_run

    shapes = ["experiment=seq_jepa_shapes", "model.patch_size=4", "data.image_size=32", "data.num_train=128"]
    shapes += ["data.num_val=64", f"data.root={data_root}"]
    _train(*shapes, f"run_dir={tmp_path / 'on'}")
    _train(*shapes, f"run_dir={tmp_path / 'off'}", "method.action_conditioning=false")
    on, on_rows = _rows(tmp_path / "on")
    off, off_rows = _rows(tmp_path / "off")
    assert on["action_conditioning"] and not off["action_conditioning"] and on["seeds"] == 2
    assert set(on_rows) == {"seq_jepa", "random_init", "raw_input"} and "seq_jepa_no_actions" in off_rows
    for row in [*on_rows.values(), *off_rows.values()]:
        assert 0 <= row["invariant_acc"] <= 1 and row["equivariant_r2"] <= 1 and row["invariant_acc_ci"] is not None
    assert (on["num_train"], on["num_val"]) == (64, 64)  # method.probe_sequences caps the 128 training images
    cfg, method, facts = load_run(tmp_path / "on")
    assert isinstance(method, SeqJEPA) and facts["action_dim"] == len(varying_params(ViewSpec(32)))
    assert (tmp_path / "on" / "summary.png").stat().st_size > 0


def test_two_rooms_windows_train_and_probe_path_integration_per_number_of_views(collected, tmp_path):
    from jepa.recipes import load_run

    run = tmp_path / "run"
    two_rooms = ["experiment=seq_jepa_two_rooms", "method.frameskip=2", "method.views_per_sequence=3"]
    _train(*two_rooms, f"data.root={collected}", f"run_dir={run}")
    results, rows = _rows(run)
    assert set(rows) == {"seq_jepa", "random_init", "raw_input"} and results["dataset"] == "trajectories"
    paths = {column for column in rows["seq_jepa"] if column.startswith("path_") and column.endswith("_r2")}
    assert paths == {"path_2_r2", "path_3_r2"}  # the displacement across 2 and 3 views (one view has none)
    assert all(row["path_3_r2"] <= 1 and row["path_3_r2_ci"] is not None for row in rows.values())
    assert (run / "path_integration.png").stat().st_size > 0
    _, method, facts = load_run(run)
    assert facts["action_dim"] == 2 * 2  # Two-Rooms' 2-D action, two env steps per view
    assert method.action_embed[0].in_features == 4


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.name=sounds", "data.name"),
        ("method.aggregator_heads=5", "method.aggregator_heads"),
        ("method.crop_scale=[0.5,0.2]", "method.crop_scale"),
        ("method.views_per_sequence=0", "method.views_per_sequence"),
        ("views.blur_p=2", "views.blur_p"),
        ("data.image_size=60", "data.image_size"),
    ],
)
def test_bad_seq_jepa_configs_name_their_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(["experiment=seq_jepa_shapes", override])


def test_a_misspelt_seq_jepa_key_is_refused_naming_it():
    with pytest.raises(HydraException, match=r"method\.frame_skip"):
        load_config(["experiment=seq_jepa_shapes", "method.frame_skip=2"])
