"""The seq-JEPA recipe, in two settings: sequences of augmented views of one image, whose actions are the
differences of the views' parameters (``data.name`` an image dataset), and sequences of consecutive observations
of one episode, whose actions are the agent's (``data.name=trajectories``, a ``jepa collect`` directory).

Evaluation, against a random-init model of the same architecture and the raw pixels: on views, a linear probe of
the class from the aggregate (invariance) and the R² of the relative transformation between two views from their
two encodings (equivariance: a ridge over every action column, and an MLP, the paper's probe, per view parameter);
on trajectories, the ridge R² of the agent's displacement across 2, 3, ..., M views from their aggregate (path
integration). In both settings, a shortcut check: the held-out loss with each sequence's observed views and with
another sequence's (its actions and target kept); a model that does not read the views scores the same on both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Subset

from evals import linear_probe, linear_regression_probe, mlp_regression_probe
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device
from jepa.config.checks import check_choice, check_positive
from jepa.data.images import IMAGE_DATASETS
from jepa.data.loader import BatchContext
from jepa.methods.seq_jepa import RELATIVE_ROTATIONS, SeqJEPA
from jepa.models import MODEL_SIZES
from jepa.recipes.checks import check_encoder, check_objective, check_patches_tile_images, check_views
from jepa.recipes.parts import build_dataset, build_encoder, build_regularizer, input_size
from jepa.recipes.probing import report_probes
from jepa.recipes.registry import Recipe, register
from jepa.recipes.seq_jepa_sequences import ViewSequences, WindowSequences, sequence_windows, view_sequences
from jepa.recipes.world_model.data import data_dims, split_by_shard
from jepa.train.engine import TrainingSetup, to_device
from jepa.train.plots import pyplot


@dataclass
class SeqJEPAConfig:
    """seq-JEPA: a transformer aggregates the encodings of ``views_per_sequence`` views, each with the relative
    action leading on to the next view, and predicts the EMA encoder's embedding of one more view (loss
    1 - cosine). Views are augmented crops of one image (``data.name`` an image dataset with classes, augmented as
    ``views``; the action is the difference of their parameters) or consecutive observations of a ``jepa collect``
    episode (``data.name=trajectories``; the action is the agent's)."""

    name: str = "seq_jepa"
    views_per_sequence: int = 4  # M observed views; the M+1-th is the one predicted
    action_conditioning: bool = True  # false: the paper's ablation, no action in the tokens or the predictor
    action_embed_dim: int = 32  # width of the action embedding beside each view's encoding
    aggregator_depth: int = 3
    aggregator_heads: int = 4  # they divide the token width: encoder width (+ action_embed_dim when conditioned)
    predictor_hidden: int = 512
    # standardise the target embedding per feature over the batch: the centring a ResNet's batch norm gives the
    # authors' encoder; mean-pooled LayerNorm ViT embeddings of similar images point nearly the same way without it
    standardise_target: bool = True
    # standardise each view's encoding per feature over the batch before the aggregator, as the actions are: the
    # encodings of different views are nearly one vector, and unstandardised the actions drown them
    normalise_encodings: bool = True
    crop_scale: list[float] = field(default_factory=lambda: [0.3, 1.0])  # views: the crop's share of the image area
    # views: the change of rotation in an action, as the difference of the angles / 180 degrees, or as cos_sin, the
    # cosine and sine of the angle between the views, which do not wrap when views.rotation > 90 degrees lets two
    # views lie more than half a turn apart
    relative_rotation: str = "difference"
    frameskip: int = 1  # trajectories: env steps between consecutive views (their actions concatenated)
    probe_sequences: int = 2000  # images or windows per split that the probes fit and score


def check(cfg: DictConfig) -> None:
    """The encoder, the aggregator's heads against its token width, and views or episodes as the data gives."""
    m = cfg.method
    check_objective(cfg)
    check_encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS)  # trajectories: episodes; the others: views of images
    check_positive(cfg, "method.action_embed_dim", "method.aggregator_depth")
    check_positive(cfg, "method.aggregator_heads", "method.predictor_hidden", "method.frameskip")
    check_positive(cfg, "method.probe_sequences")
    if m.views_per_sequence < 2:
        raise ConfigError(
            f"method.views_per_sequence={m.views_per_sequence} must be >= 2: the probes read two views or more"
        )
    check_patches_tile_images(cfg)
    width = cfg.model.embed_dim or MODEL_SIZES[cfg.model.name].embed_dim
    tokens = width + m.action_embed_dim if m.action_conditioning else width
    if tokens % m.aggregator_heads:
        raise ConfigError(
            f"method.aggregator_heads={m.aggregator_heads} does not divide the aggregator's token width {tokens} "
            "(the encoder's width, plus method.action_embed_dim with action conditioning)"
        )
    if cfg.data.name != "trajectories":
        check_views(cfg, "method.crop_scale")
    check_choice("method.relative_rotation", m.relative_rotation, RELATIVE_ROTATIONS)
    if m.relative_rotation == "cos_sin" and (cfg.data.name == "trajectories" or cfg.views.rotation <= 0):
        raise ConfigError(  # only views rotated by views.rotation have a change of rotation to encode
            "method.relative_rotation=cos_sin needs views of images rotated by views.rotation > 0 degrees, got "
            f"data.name={cfg.data.name}, views.rotation={cfg.views.rotation}"
        )


TRAJECTORIES = "trajectories"  # the one data.name whose sequences are episodes; every other is views of images
SHUFFLE_SEED = 0  # the shortcut check's permutation of each batch's sequences
# the side of the raw pixels the MLP probe reads: all of two 64 px views (24576 features) cost it ~2 s an epoch on a
# CPU, 16 px (1536) a twentieth of that
THUMBNAIL = 16

Features = dict[str, torch.Tensor]  # named per-sequence features or targets, (N, ...) each
Model = SeqJEPA | None  # None: the raw pixels


# ---- build ----------------------------------------------------------------------------------------------------------
def build_method(cfg: DictConfig, facts: dict) -> SeqJEPA:
    """The model for ``facts["action_dim"]``-dimensional actions, its encoder the ``model`` section's ViT."""
    m = cfg.method
    return SeqJEPA(
        build_encoder(cfg.model, input_size(cfg.data)),
        facts["action_dim"],
        action_conditioning=m.action_conditioning,
        action_embed_dim=m.action_embed_dim,
        depth=m.aggregator_depth,
        num_heads=m.aggregator_heads,
        predictor_hidden=m.predictor_hidden,
        standardise_target=m.standardise_target,
        normalise_encodings=m.normalise_encodings,
        regularizer=build_regularizer(cfg.regularizer),
    )


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    """The model, the training images or episodes (held-out shards excluded) and the collate function that makes
    their sequences."""
    if cfg.data.name == TRAJECTORIES:
        windows = sequence_windows(cfg)
        facts = {"action_dim": data_dims(windows)["action_dim"] * cfg.method.frameskip}
        train_set, _ = split_by_shard(windows, cfg.data.val_shards)
        collate = WindowSequences(cfg.method.frameskip)
    else:
        collate = view_sequences(cfg)
        facts = {"action_dim": len(collate.names)}
        train_set = build_dataset(cfg.data, "train", run_dir)
    return TrainingSetup(build_method(cfg, facts), train_set, collate, facts)


# ---- features of each model -----------------------------------------------------------------------------------------
@torch.no_grad()
def sequence_losses(model: SeqJEPA, batch: dict, z: torch.Tensor) -> Features:
    """The shortcut check: ``loss`` (N,), each sequence's 1 - cosine of its prediction to the target embedding of
    its held-out view, from the encodings ``z`` (N, M, D) of its observed views, and ``shuffled_views_loss`` (N,),
    the same from another sequence's encodings (one seeded permutation of the batch), its actions and target
    kept. A model that does not read the views scores the same on both."""
    target, actions = model.target(batch["views"][:, -1]), batch["actions"]
    order = torch.randperm(len(z), generator=torch.Generator().manual_seed(SHUFFLE_SEED)).to(z.device)
    return {
        "loss": 1 - model.cosines(z, actions, target),
        "shuffled_views_loss": 1 - model.cosines(z[order], actions, target),
    }


@torch.no_grad()
def view_features(model: Model, batch: dict, observed: int) -> Features:
    """``aggregate`` (N, W), of the first ``observed`` views, ``pair`` (N, 2D), the encodings of the first two, and
    ``mlp_pair``, what the MLP probe reads of them (raw pixels: the views' mean, the two views, and the two views
    pooled to :data:`THUMBNAIL` px), with the models' :func:`sequence_losses`; with the targets ``y``, the class,
    and ``relative``, the transformation from the first view to the second."""
    views, actions = batch["views"][:, :observed], batch["actions"]
    targets = {"y": batch["y"], "relative": actions[:, 0]}
    if model is None:
        thumbnails = F.adaptive_avg_pool2d(views[:, :2].flatten(0, 1), THUMBNAIL).view(len(views), -1)
        pixels = {"aggregate": views.mean(1).flatten(1), "pair": views[:, :2].flatten(1), "mlp_pair": thumbnails}
        return targets | pixels
    z = model.encode(views)
    pair = z[:, :2].flatten(1)
    features = {"aggregate": model.aggregate_encodings(z, actions), "pair": pair, "mlp_pair": pair}
    return targets | features | sequence_losses(model, batch, z)


@torch.no_grad()
def path_features(model: Model, batch: dict, observed: int) -> Features:
    """For k = 2..``observed``: ``path_k``, the aggregate of the first k views, with the target ``displacement_k``,
    the true state at the k-th view minus that at the first: what the k - 1 actions between them add up to (one
    view has no displacement to tell). The raw pixels' ``path_k`` are those of the first and the k-th view, where
    the two positions show (a mean of the views would hide which came first). The models' also hold their
    :func:`sequence_losses`."""
    views, actions, states = batch["views"][:, :observed], batch["actions"], batch["states"]
    counts = range(2, observed + 1)
    targets = {f"displacement_{k}": states[:, k - 1] - states[:, 0] for k in counts}
    if model is None:
        return targets | {f"path_{k}": views[:, [0, k - 1]].flatten(1) for k in counts}
    z = model.encode(views)
    paths = {f"path_{k}": model.aggregate_encodings(z[:, :k], actions[:, :k]) for k in counts}
    return targets | paths | sequence_losses(model, batch, z)


def gather(
    models: dict[str, Model],
    batches: Callable[[], Iterator[dict]],
    extract: Callable[[Model, dict, int], Features],
    observed: int,
) -> dict[str, Features]:
    """Every model's ``extract`` features of the same sequences, each batch made once for all of them; concatenated
    on the CPU. The models run in eval mode on their device, the raw pixels on the CPU."""
    parts: dict[str, dict[str, list[torch.Tensor]]] = {name: {} for name in models}
    for batch in batches():
        for name, model in models.items():
            device = torch.device("cpu") if model is None else next(model.parameters()).device
            for key, value in extract(model, to_device(batch, device), observed).items():
                parts[name].setdefault(key, []).append(value.float().cpu())
    return {name: {key: torch.cat(values) for key, values in p.items()} for name, p in parts.items()}


def image_batches(cfg: DictConfig, images: Dataset, collate: ViewSequences) -> Callable[[], Iterator[dict]]:
    """The view sequences of ``images`` in order, the same ones on every call (batch i draws its views from step
    i's generator)."""
    size = cfg.eval.batch_size

    def batches() -> Iterator[dict]:
        for i, start in enumerate(range(0, len(images), size)):
            samples = [images[j] for j in range(start, min(start + size, len(images)))]
            yield collate(samples, BatchContext(i, cfg.train.seed, len(samples), slice(0, len(samples))))

    return batches


def window_batches(cfg: DictConfig, windows: Dataset) -> Callable[[], Iterator[dict]]:
    """The sequences of ``windows`` in order."""
    collate = WindowSequences(cfg.method.frameskip)
    return lambda: iter(DataLoader(windows, batch_size=cfg.eval.batch_size, collate_fn=collate))


def probe_subset(dataset: Dataset, limit: int, seed: int) -> Subset:
    """Up to ``limit`` items of ``dataset``, drawn without replacement and kept in order."""
    keep = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:limit])
    return Subset(dataset, keep.tolist())


# ---- probes ---------------------------------------------------------------------------------------------------------
def per_parameter(r2_per_column: list[float], names: list[str]) -> dict[str, float]:
    """The R² of each view parameter, the mean over its action columns (``names``: the parameter of each)."""
    columns: dict[str, list[float]] = {}
    for name, r2 in zip(names, r2_per_column, strict=True):
        columns.setdefault(name, []).append(r2)
    return {name: sum(values) / len(values) for name, values in columns.items()}


def equivariance_mlp(train: Features, val: Features, seed: int, device: torch.device, names: list[str]) -> dict:
    """The paper's equivariance probe, an MLP from the two views' encodings to the relative transformation:
    ``equivariant_<parameter>_r2`` for every view parameter the actions hold, and ``equivariant_mlp_r2``, their
    mean (each parameter counts once, whatever its number of columns)."""
    pairs, relative = (train["mlp_pair"], val["mlp_pair"]), (train["relative"], val["relative"])
    mlp = mlp_regression_probe(pairs[0], relative[0], pairs[1], relative[1], seed=seed, device=device)
    r2 = per_parameter(mlp["r2_per_column"], names)
    return {"equivariant_mlp_r2": sum(r2.values()) / len(r2)} | {f"equivariant_{p}_r2": v for p, v in r2.items()}


def view_probes(
    train: Features, val: Features, seed: int, device: torch.device, batch_size: int, names: list[str]
) -> dict[str, float]:
    """``invariant_acc``: the class from the aggregate; ``equivariant_r2``: the relative transformation between two
    views from their encodings, a ridge over every action column; the MLP's :func:`equivariance_mlp` beside it."""
    invariant = linear_probe(
        train["aggregate"], train["y"], val["aggregate"], val["y"], batch_size=batch_size, seed=seed, device=device
    )
    relative = linear_regression_probe(train["pair"], train["relative"], val["pair"], val["relative"], seed=seed)
    ridge = {"invariant_acc": invariant["acc"], "equivariant_r2": relative["r2"]}
    return ridge | equivariance_mlp(train, val, seed, device, names)


def path_probes(train: Features, val: Features, seed: int) -> dict[str, float]:
    """``path_k_r2``: the displacement across k views from their aggregate, for every k of the features."""
    counts = sorted(int(key.removeprefix("path_")) for key in train if key.startswith("path_"))
    return {
        f"path_{k}_r2": linear_regression_probe(
            train[f"path_{k}"], train[f"displacement_{k}"], val[f"path_{k}"], val[f"displacement_{k}"], seed=seed
        )["r2"]
        for k in counts
    }


def seed_rows(
    train: dict[str, Features],
    val: dict[str, Features],
    probes: Callable[[Features, Features, int], dict[str, float]],
    trained: str,
    seed: int,
) -> list[dict]:
    """The rows of one probe seed: the trained model, the random init drawn for that seed, the raw pixels; the
    models' with their :func:`held_out_losses`."""
    sources = {trained: trained, "random_init": random_init_name(seed), "raw_input": "raw_input"}
    return [
        {"encoder": row, **probes(train[key], val[key], seed), **held_out_losses(val[key])}
        for row, key in sources.items()
    ]


def held_out_losses(val: Features) -> dict[str, float]:
    """``val_loss`` and ``shuffled_views_loss``, the means of the held-out :func:`sequence_losses` (none for the
    raw pixels, which have no loss)."""
    if "loss" not in val:
        return {}
    return {"val_loss": val["loss"].mean().item(), "shuffled_views_loss": val["shuffled_views_loss"].mean().item()}


def random_init_name(seed: int) -> str:
    return f"random_init_{seed}"


# ---- evaluate -------------------------------------------------------------------------------------------------------
def plot_path_integration(rows: list[dict], observed: int, out: Path) -> Path:
    """R² of the displacement against the number of views, one line per model (95 % intervals over probe seeds)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    counts = list(range(2, observed + 1))
    for row in rows:
        errors = [row.get(f"path_{k}_r2_ci") or 0.0 for k in counts]
        ax.errorbar(
            counts, [row[f"path_{k}_r2"] for k in counts], yerr=errors, marker="o", capsize=3, label=row["encoder"]
        )
    ax.set(xlabel="views in the sequence", ylabel="held-out R² of the displacement", xticks=counts)
    ax.set_title("path integration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def probe_setting(cfg: DictConfig, device: torch.device) -> tuple[list[Subset], list, Callable, Callable]:
    """What the probes read in the run's setting: the (train, val) subsets of up to ``method.probe_sequences``
    images or windows (val: held-out images, or the last ``data.val_shards`` shards' episodes), their batch
    sources, the feature extractor and the probes."""
    if cfg.data.name == TRAJECTORIES:
        splits = split_by_shard(sequence_windows(cfg), cfg.data.val_shards)
    else:
        splits = [build_dataset(cfg.data, split, cfg.run_dir) for split in ("train", "val")]
    splits = [probe_subset(split, cfg.method.probe_sequences, cfg.train.seed) for split in splits]
    if cfg.data.name == TRAJECTORIES:
        return splits, [window_batches(cfg, s) for s in splits], path_features, path_probes
    collate = view_sequences(cfg)
    probes = functools.partial(view_probes, device=device, batch_size=cfg.eval.batch_size, names=collate.names)
    return splits, [image_batches(cfg, s, collate) for s in splits], view_features, probes


def evaluate(cfg: DictConfig, method: SeqJEPA, facts: dict) -> dict:
    """Probe the trained model, random-init models of the same architecture (one per probe seed) and the raw
    pixels on up to ``method.probe_sequences`` sequences of held-out images or episodes (and as many training ones
    to fit the probes); with ``eval.seeds`` > 1 each figure is the mean over the probe seeds with its 95 % interval.
    The models' rows also hold the shortcut check, ``val_loss`` and ``shuffled_views_loss`` (:func:`sequence_losses`).
    Writes ``eval.json`` and ``summary.png`` (on trajectories also ``path_integration.png``) and prints the table,
    headed by the run's action conditioning so that an ablation reads beside its run."""
    device = select_device(cfg.train.device)
    m, observed = cfg.method, cfg.method.views_per_sequence
    splits, sources, extract, probes = probe_setting(cfg, device)

    def random_init(seed: int) -> SeqJEPA:
        torch.manual_seed(seed + 1)
        return build_method(cfg, facts).to(device).eval()

    seeds = range(cfg.train.seed, cfg.train.seed + cfg.eval.seeds)
    trained = "seq_jepa" if m.action_conditioning else "seq_jepa_no_actions"
    models = {trained: method.to(device).eval(), **{random_init_name(s): random_init(s) for s in seeds}}
    train, val = (gather(models | {"raw_input": None}, source, extract, observed) for source in sources)
    per_seed = [seed_rows(train, val, probes, trained, seed) for seed in seeds]
    conditioning = "on" if m.action_conditioning else "off"
    header = (
        f"seq-JEPA, action conditioning {conditioning}, {observed} views per sequence: probes on held-out "
        f"{cfg.data.name} ({len(splits[1])} sequences; train {len(splits[0])}"
    )
    facts = {"action_conditioning": m.action_conditioning, "views_per_sequence": observed}
    facts |= {"normalise_encodings": m.normalise_encodings, "num_train": len(splits[0]), "num_val": len(splits[1])}
    results = report_probes(cfg, per_seed, header, facts)
    print("shuffled_views_loss: the held-out loss, each sequence's observed views swapped for another's, actions kept")
    run_dir = Path(cfg.run_dir)
    written = [run_dir / "eval.json", run_dir / "summary.png"]
    if cfg.data.name == TRAJECTORIES:
        written.append(plot_path_integration(results["rows"], observed, run_dir / "path_integration.png"))
    print(f"\nwrote {', '.join(map(str, written))}")
    return results


register(Recipe(SeqJEPAConfig, ("model", "regularizer", "views"), check, build, build_method, evaluate))
