"""seq-JEPA: the objective (shapes, the 1 - cosine loss, the action embedding, the standardised encodings, the
ablation without actions, the EMA target), the rotation actions, the MLP probe and the shortcut check, its three
presets trained end to end through ``jepa train`` with their probes, and its config checks."""

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


def aggregator_inputs(model: SeqJEPA, data: dict) -> torch.Tensor:
    """The view encodings as the aggregator's first block reads them, (B, M, D), in a training forward pass."""
    seen = []
    hook = model.aggregator[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model.train()(data)
    hook.remove()
    return seen[0][:, 1:, :D].detach()  # after the [AGG] token, before the action embedding


def test_normalised_encodings_enter_the_aggregator_standardised_per_feature_over_the_batch():
    model, data = tiny(), batch()
    with torch.no_grad():
        model.encoder.proj.bias.fill_(50.0)  # encodings of all views nearly one vector, as a ViT's mean-pooled tokens
    z = aggregator_inputs(model, data).flatten(0, 1)  # every view of the batch
    torch.testing.assert_close(z.mean(0), torch.zeros(D), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0, correction=0), torch.ones(D), atol=1e-3, rtol=0)
    assert isinstance(model.encoding_norm, nn.BatchNorm1d) and not model.encoding_norm.affine


def test_without_normalised_encodings_the_aggregator_reads_the_raw_encodings():
    model, data = tiny(normalise_encodings=False), batch()
    torch.testing.assert_close(aggregator_inputs(model, data), model.encode(data["views"][:, :M]), atol=0, rtol=0)
    assert not any(key.startswith("encoding_norm") for key in model.state_dict())  # runs from before it load


def test_at_evaluation_the_aggregate_of_one_sequence_does_not_depend_on_its_batch():
    model, data = tiny(), batch()
    model(data)  # a training step's batch statistics move the running ones
    model.eval()
    views, actions = data["views"][:, :M], data["actions"]
    alone = model.aggregate(views[:1], actions[:1])
    torch.testing.assert_close(alone, model.aggregate(views, actions)[:1])
    raw = model.encoder(views.flatten(0, 1)).view(B, M, D)
    assert torch.equal(model.encode(views), raw)  # what the equivariance probe reads is not standardised


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


# ---- the shortcut check ----------------------------------------------------------------------------------------------
class ConstantEncoder(nn.Module):
    """An encoder that ignores its input: (B, 3, 8, 8) -> the same (B, D) vector for every image."""

    embed_dim = D

    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.randn(D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(x), -1)


def test_shuffling_the_views_across_sequences_changes_the_loss_only_of_a_model_that_reads_them():
    from jepa.recipes.seq_jepa import sequence_losses

    data = batch()
    for encoder, reads_views in ((ConstantEncoder(), False), (FlatEncoder(), True)):
        model = tiny(encoder=encoder).eval()
        model.target_encoder = FlatEncoder()  # a target that differs between sequences
        z = model.encode(data["views"][:, :M])
        losses = sequence_losses(model, data, z)
        assert losses["loss"].shape == losses["shuffled_views_loss"].shape == (B,)
        assert torch.equal(losses["loss"], losses["shuffled_views_loss"]) is not reads_views
        torch.testing.assert_close(losses["loss"].mean(), model(data)["loss"])  # the loss, per sequence


# ---- the sequences ---------------------------------------------------------------------------------------------------
def test_only_parameters_a_spec_varies_are_actions():
    names = [VIEW_PARAMS[i] for i in varying_params(ViewSpec(32))]
    assert "rotation" not in names and "mask_centre" not in names and "time_start" not in names
    assert {"centre_y", "flip", "brightness", "blur"} <= set(names)
    rotated = [VIEW_PARAMS[i] for i in varying_params(ViewSpec(32, rotation=30.0, jitter_p=0.0, mask_p=0.5))]
    assert "rotation" in rotated and "mask_centre" in rotated and "brightness" not in rotated


def test_view_sequences_pair_each_view_with_the_change_of_parameters_to_the_next():
    from jepa.recipes.seq_jepa_sequences import ViewSequences

    spec, maker = ViewSpec(16), ViewMaker()
    samples = [(torch.rand(3, 16, 16), i % 2) for i in range(4)]
    context = BatchContext(step=3, seed=0, global_batch=4, rows=slice(0, 4))
    made = ViewSequences(spec, M + 1, maker)(samples, context)
    reference = MultiViewCollator([(spec, M + 1)], maker)(samples, context)
    columns = list(varying_params(spec))
    assert made["views"].shape == (4, M + 1, 3, 16, 16) and torch.equal(made["views"], reference["views"][0])
    assert torch.equal(made["actions"], relative_actions(reference["params"][0])[..., columns])
    assert made["actions"].shape == (4, M, len(columns)) and made["y"].tolist() == [0, 1, 0, 1]


def rotations_only(size: int = 16) -> ViewSpec:
    """Views that differ only by a rotation of up to half a turn either way: the whole image, nothing else drawn."""
    return ViewSpec(
        size, scale=(1.0, 1.0), ratio=(1.0, 1.0), rotation=180.0, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0
    )


def test_views_of_the_whole_image_have_no_crop_actions():
    from jepa.recipes.seq_jepa_sequences import action_params

    assert action_params(ViewSpec(16)) == list(varying_params(ViewSpec(16)))  # crops that vary stay actions
    assert [VIEW_PARAMS[i] for i in varying_params(rotations_only())][:4] == ["centre_y", "centre_x", "height", "width"]
    assert [VIEW_PARAMS[i] for i in action_params(rotations_only())] == ["rotation"]


@pytest.mark.parametrize("relative_rotation", ["difference", "cos_sin"])
def test_the_relative_rotation_is_the_angle_difference_or_its_cosine_and_sine(relative_rotation):
    from jepa.recipes.seq_jepa_sequences import ViewSequences, rotation_as_cos_sin

    spec, maker = rotations_only(), ViewMaker()
    samples = [(torch.rand(3, 16, 16), 0) for _ in range(4)]
    context = BatchContext(step=1, seed=0, global_batch=4, rows=slice(0, 4))
    sequences = ViewSequences(spec, M + 1, maker, relative_rotation)
    actions = sequences(samples, context)["actions"]
    turns = relative_actions(MultiViewCollator([(spec, M + 1)], maker)(samples, context)["params"][0])[..., 5]
    assert VIEW_PARAMS[5] == "rotation" and turns.abs().max() > 1  # some pairs of views are over half a turn apart
    if relative_rotation == "difference":
        assert sequences.names == ["rotation"] and torch.equal(actions, turns[..., None])
    else:  # +340 and -20 degrees are one change of view, and one action
        assert sequences.names == ["rotation", "rotation"] and actions.shape == (4, M, 2)
        torch.testing.assert_close(actions, torch.stack([(torch.pi * turns).cos(), (torch.pi * turns).sin()], -1))
        wrapped = torch.tensor([340.0, -20.0]) / 180
        cos_sin = rotation_as_cos_sin(wrapped[:, None], 0)
        torch.testing.assert_close(cos_sin[0], cos_sin[1])


# ---- the MLP probe ---------------------------------------------------------------------------------------------------
def test_the_mlp_probe_reads_what_a_ridge_cannot_and_is_a_function_of_its_seed():
    from evals import linear_regression_probe, mlp_regression_probe

    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(900, 4, generator=g) - 1
    t = torch.stack([x[:, 0] * x[:, 1], (torch.pi * x[:, 2]).cos()], 1)  # no linear part at all
    splits = (x[:600], t[:600], x[600:], t[600:])
    mlp = mlp_regression_probe(*splits, epochs=60, seed=0)
    assert mlp["r2"] > 0.8 and linear_regression_probe(*splits)["r2"] < 0.05
    assert len(mlp["r2_per_column"]) == 2 and mlp["r2"] == pytest.approx(sum(mlp["r2_per_column"]) / 2)
    assert mlp_regression_probe(*splits, epochs=60, seed=0) == mlp
    noise = torch.randn(900, 1, generator=g)
    unreadable = mlp_regression_probe(x[:600], noise[:600], x[600:], noise[600:], epochs=60, patience=5, seed=0)
    assert unreadable["r2"] < 0.05 and unreadable["epochs"] < 55  # stopped early, at its best held-out epoch


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


TINY_SHAPES = ["model.patch_size=4", "data.image_size=32", "data.num_train=128", "data.num_val=64"]
LOSSES = ("val_loss", "shuffled_views_loss")


def test_views_of_shapes_train_and_probe_invariance_and_equivariance(data_root, tmp_path):
    from jepa.recipes import load_run

    shapes = ["experiment=seq_jepa_shapes", *TINY_SHAPES, f"data.root={data_root}"]
    _train(*shapes, f"run_dir={tmp_path / 'on'}")
    _train(*shapes, f"run_dir={tmp_path / 'off'}", "method.action_conditioning=false")
    on, on_rows = _rows(tmp_path / "on")
    off, off_rows = _rows(tmp_path / "off")
    assert on["action_conditioning"] and not off["action_conditioning"] and on["seeds"] == 2
    assert on["normalise_encodings"]
    assert set(on_rows) == {"seq_jepa", "random_init", "raw_input"} and "seq_jepa_no_actions" in off_rows
    for row in [*on_rows.values(), *off_rows.values()]:
        assert 0 <= row["invariant_acc"] <= 1 and row["equivariant_r2"] <= 1 and row["invariant_acc_ci"] is not None
    per_parameter = {f"equivariant_{VIEW_PARAMS[i]}_r2" for i in varying_params(ViewSpec(32))}
    for row in (on_rows["seq_jepa"], on_rows["random_init"], off_rows["seq_jepa_no_actions"]):
        assert per_parameter <= set(row) and row["equivariant_mlp_r2"] <= 1
        assert all(row[key] >= 0 for key in LOSSES)
    assert per_parameter <= set(on_rows["raw_input"]) and not set(LOSSES) & set(on_rows["raw_input"])  # no loss
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
    assert all(rows[name][key] >= 0 for name in ("seq_jepa", "random_init") for key in LOSSES)
    assert (run / "path_integration.png").stat().st_size > 0
    _, method, facts = load_run(run)
    assert facts["action_dim"] == 2 * 2  # Two-Rooms' 2-D action, two env steps per view
    assert method.action_embed[0].in_features == 4


def test_rotations_train_with_the_relative_rotation_as_the_action_and_probe_it(data_root, tmp_path):
    from jepa.recipes import load_run

    run = tmp_path / "run"
    _train("experiment=seq_jepa_rotations", *TINY_SHAPES, f"data.root={data_root}", f"run_dir={run}")
    results, rows = _rows(run)
    assert results["experiment"] == "seq_jepa_rotations"
    for row in (rows["seq_jepa"], rows["random_init"]):
        equivariance = {key for key in row if key.startswith("equivariant_") and key.endswith("_r2")}
        assert equivariance == {"equivariant_r2", "equivariant_mlp_r2", "equivariant_rotation_r2"}
        assert row["equivariant_mlp_r2"] == row["equivariant_rotation_r2"] <= 1 and row["shuffled_views_loss"] >= 0
    cfg, method, facts = load_run(run)
    assert cfg.method.relative_rotation == "cos_sin" and cfg.views.rotation == 180
    assert facts["action_dim"] == 2 and method.action_embed[0].in_features == 2  # the cosine and sine of the angle


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.name=sounds", "data.name"),
        ("method.aggregator_heads=5", "method.aggregator_heads"),
        ("method.crop_scale=[0.5,0.2]", "method.crop_scale"),
        ("method.views_per_sequence=0", "method.views_per_sequence"),
        ("views.blur_p=2", "views.blur_p"),
        ("data.image_size=60", "data.image_size"),
        ("method.relative_rotation=angle", "method.relative_rotation"),
        ("method.relative_rotation=cos_sin", "method.relative_rotation"),  # the shapes' views are not rotated
    ],
)
def test_bad_seq_jepa_configs_name_their_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(["experiment=seq_jepa_shapes", override])


def test_a_misspelt_seq_jepa_key_is_refused_naming_it():
    with pytest.raises(HydraException, match=r"method\.frame_skip"):
        load_config(["experiment=seq_jepa_shapes", "method.frame_skip=2"])
