"""Each method's own config checks (``METHOD_CHECKS``), run by ``jepa train`` after the sections every method
shares; each error names its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_installed, check_pairs, check_positive


def _encoder(cfg: DictConfig) -> None:
    from jepa.models import MODEL_SIZES
    from jepa.models.attention import ATTENTION_BACKENDS
    from jepa.models.patch_embed import PATCH_EMBEDS
    from jepa.models.vit import POSITION_EMBEDDINGS

    check_choice("model.name", cfg.model.name, MODEL_SIZES)
    check_choice("model.attn_backend", cfg.model.attn_backend, ATTENTION_BACKENDS)
    check_choice("model.patch_embed", cfg.model.patch_embed, PATCH_EMBEDS)
    check_choice("model.pos_embed", cfg.model.pos_embed, POSITION_EMBEDDINGS)
    if cfg.model.init_from and not Path(cfg.model.init_from).expanduser().is_file():
        raise ConfigError(f"model.init_from={cfg.model.init_from} is not a file")
    width = cfg.model.embed_dim or MODEL_SIZES[cfg.model.name].embed_dim
    for key, value in (("model.embed_dim", width), ("model.predictor_dim", cfg.model.predictor_dim)):
        if value % 4 and cfg.model.pos_embed == "sincos":  # half the dims per image axis, each half sines and cosines
            raise ConfigError(f"{key}={value} must be a multiple of 4 (its sincos position embedding)")


def _masked_jepa(cfg: DictConfig) -> None:
    from jepa.data.audio import AUDIO_DATASETS
    from jepa.data.images import IMAGE_DATASETS
    from jepa.data.video import VIDEO_BACKENDS, VIDEO_DATASETS

    _encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS + VIDEO_DATASETS + AUDIO_DATASETS)
    if cfg.regularizer.online_target and cfg.regularizer.name == "none" and not cfg.regularizer.allow_collapse:
        raise ConfigError(
            "regularizer.online_target=true needs regularizer.name=sigreg or vcr (it collapses otherwise); "
            "to run the collapse ablation on purpose, add regularizer.allow_collapse=true"
        )
    audio = cfg.data.name in AUDIO_DATASETS
    if not audio:
        _patches_tile_images(cfg)
    check_pairs(cfg, "mask.target_scale", "mask.target_aspect", "mask.context_scale", "mask.stripe_scale")
    for backend in cfg.bench.video_backends:
        check_choice("bench.video_backends", backend, VIDEO_BACKENDS)
    video = cfg.data.name in VIDEO_DATASETS
    if video:
        _video(cfg)
    if audio:
        _audio(cfg)
    _masks(cfg, "video" if video else "audio" if audio else "images")


def _patches_tile_images(cfg: DictConfig) -> None:
    if cfg.data.image_size % cfg.model.patch_size:
        raise ConfigError(
            f"data.image_size={cfg.data.image_size} is not divisible by model.patch_size={cfg.model.patch_size}"
        )


def _video(cfg: DictConfig) -> None:
    from jepa.data.video import VIDEO_BACKENDS

    data = cfg.data
    check_choice("data.video_backend", data.video_backend, VIDEO_BACKENDS)
    check_positive(cfg, "data.frames_per_clip", "data.frame_step", "data.video_frames", "model.tubelet_size")
    frames, tubelet = data.frames_per_clip, cfg.model.tubelet_size
    if frames % tubelet:
        raise ConfigError(f"data.frames_per_clip={frames} is not divisible by model.tubelet_size={tubelet}")
    if cfg.model.patch_embed != "linear":
        raise ConfigError(f"model.patch_embed={cfg.model.patch_embed} is for images; video needs linear (tubelets)")
    if data.name == "moving_shapes":
        span = (data.frames_per_clip - 1) * data.frame_step + 1
        if span > data.video_frames:
            raise ConfigError(
                f"a clip of data.frames_per_clip={data.frames_per_clip} frames every data.frame_step="
                f"{data.frame_step} spans {span} frames, more than data.video_frames={data.video_frames}"
            )
        if data.image_size < 16 or data.image_size % 2:
            raise ConfigError(f"data.image_size={data.image_size} must be even and >= 16 for moving_shapes (h264)")


def _audio(cfg: DictConfig) -> None:
    from jepa.data.audio import NUM_MEL_BINS

    check_positive(cfg, "data.clip_frames")
    if cfg.model.in_chans != 1:
        raise ConfigError(f"model.in_chans={cfg.model.in_chans}: spectrograms have 1 channel, set model.in_chans=1")
    patch = cfg.model.patch_size
    if cfg.data.clip_frames % patch or NUM_MEL_BINS % patch:
        raise ConfigError(
            f"data.clip_frames={cfg.data.clip_frames} x {NUM_MEL_BINS} mel bins is not divisible into "
            f"model.patch_size={patch} patches"
        )


MASKS_PER_MODALITY = {"images": ("multiblock",), "video": ("multiblock3d",), "audio": ("time_frequency", "multiblock")}


def _masks(cfg: DictConfig, modality: str) -> None:
    from jepa.masks import MASK_KINDS

    mask = cfg.mask
    check_choice("mask.kind", mask.kind, MASK_KINDS)
    fitting = MASKS_PER_MODALITY[modality]
    if mask.kind not in fitting:
        raise ConfigError(
            f"mask.kind={mask.kind} does not fit data.name={cfg.data.name} ({modality}); use mask.kind={fitting[0]}"
        )
    if mask.kind == "time_frequency":
        check_positive(cfg, "mask.stripe_targets")
        if not 0 < mask.curriculum_start <= 1:
            raise ConfigError(f"mask.curriculum_start={mask.curriculum_start} must lie in (0, 1]")
    if mask.kind != "multiblock3d":
        return
    lengths = {len(mask.num_blocks), len(mask.spatial_scale), len(mask.temporal_scale)}
    if len(lengths) != 1 or 0 in lengths:
        raise ConfigError(
            "mask.num_blocks, mask.spatial_scale and mask.temporal_scale need one entry per mask generator, got "
            f"{list(mask.num_blocks)}, {list(mask.spatial_scale)}, {list(mask.temporal_scale)}"
        )
    if min(mask.num_blocks) < 1:
        raise ConfigError(f"mask.num_blocks={list(mask.num_blocks)} must all be >= 1")
    for key in ("mask.spatial_scale", "mask.temporal_scale"):
        if not all(0 < v <= 1 for v in OmegaConf.select(cfg, key)):
            raise ConfigError(f"{key}={list(OmegaConf.select(cfg, key))} must all lie in (0, 1]")


def _world_model(cfg: DictConfig) -> None:
    m = cfg.method
    check_positive(cfg, "method.frameskip", "method.latent_dim", "method.encoder_pool", "method.probe_frames")
    check_positive(cfg, "method.predictor_dim", "method.predictor_depth", "method.predictor_heads")
    if cfg.data.name != "trajectories":
        raise ConfigError(
            f"data.name={cfg.data.name}: a world model trains on a `jepa collect` directory; "
            "set data=trajectories data.root=<that directory>"
        )
    check_choice("method.encoder_init", m.encoder_init, ("pretrained", "random"))
    if m.encoder_hidden < 0:
        raise ConfigError(f"method.encoder_hidden={m.encoder_hidden} must be >= 0 (0 = affine)")
    if m.encoder_components < 0:
        raise ConfigError(f"method.encoder_components={m.encoder_components} must be >= 0 (0 = keep the tokens)")
    if m.window < 2:
        raise ConfigError(f"method.window={m.window} must be >= 2 (one step to predict)")
    if m.smooth_weight < 0:
        raise ConfigError(f"method.smooth_weight={m.smooth_weight} must be >= 0")
    if not 0 <= m.rollout_steps < m.window:
        raise ConfigError(f"method.rollout_steps={m.rollout_steps} must lie in [0, method.window - 1 = {m.window - 1}]")
    if m.predictor_dim % (2 * m.predictor_heads):
        raise ConfigError(f"method.predictor_dim={m.predictor_dim} must be a multiple of 2 * method.predictor_heads")
    if not m.encoder and cfg.regularizer.name == "none":
        raise ConfigError("regularizer.name=none: a jointly trained world-model encoder collapses; use sigreg or vcr")


def _lejepa(cfg: DictConfig) -> None:
    from jepa.data.audio import AUDIO_DATASETS
    from jepa.data.images import IMAGE_DATASETS
    from jepa.data.video import VIDEO_DATASETS

    m = cfg.method
    _encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS + AUDIO_DATASETS + VIDEO_DATASETS)
    if cfg.data.name in AUDIO_DATASETS:
        _audio(cfg)
    if cfg.data.name in VIDEO_DATASETS:
        _video(cfg)
        frames, tubelet = m.local_frames, cfg.model.tubelet_size
        if frames < 0 or frames % tubelet or frames > cfg.data.frames_per_clip:
            raise ConfigError(
                f"method.local_frames={frames} must be 0 (all) or a multiple of model.tubelet_size={tubelet} up to "
                f"data.frames_per_clip={cfg.data.frames_per_clip}"
            )
    check_positive(cfg, "method.global_views", "method.local_size", "method.projector_hidden", "method.projector_dim")
    if m.local_views < 0:
        raise ConfigError(f"method.local_views={m.local_views} must be >= 0")
    # spectrograms are data.clip_frames x mel bins, checked above
    sizes = ("method.local_size",) if cfg.data.name in AUDIO_DATASETS else ("data.image_size", "method.local_size")
    for key in sizes:
        if OmegaConf.select(cfg, key) % cfg.model.patch_size:
            raise ConfigError(f"{key}={OmegaConf.select(cfg, key)} is not divisible by model.patch_size")
    _views(cfg, "method.global_scale", "method.local_scale")
    if cfg.regularizer.name != "sigreg":
        raise ConfigError(
            f"regularizer.name={cfg.regularizer.name}: LeJEPA is defined with SIGReg; use regularizer=sigreg"
        )
    if not 0 <= cfg.regularizer.sigreg_weight <= 1:
        raise ConfigError(f"regularizer.sigreg_weight={cfg.regularizer.sigreg_weight} is LeJEPA's lambda, in [0, 1]")


def _views(cfg: DictConfig, *crop_scales: str) -> None:
    """The ``views`` section's strengths and the method's crop scales (its keys ``crop_scales``)."""
    views = cfg.views
    check_pairs(cfg, *crop_scales, "views.ratio", "views.blur_sigma", "views.mask_width")
    for key in crop_scales:
        low, high = OmegaConf.select(cfg, key)
        if not 0 < low <= high <= 1:
            raise ConfigError(f"{key}=[{low}, {high}] must satisfy 0 < low <= high <= 1 (shares of the image area)")
    for key in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "mask_p"):
        if not 0 <= views[key] <= 1:
            raise ConfigError(f"views.{key}={views[key]} is a probability; it must lie in [0, 1]")


def _seq_jepa(cfg: DictConfig) -> None:
    from jepa.data.images import IMAGE_DATASETS
    from jepa.methods.seq_jepa import RELATIVE_ROTATIONS
    from jepa.models import MODEL_SIZES

    m = cfg.method
    _encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS)  # trajectories: episodes; the others: views of images
    check_positive(cfg, "method.action_embed_dim", "method.aggregator_depth")
    check_positive(cfg, "method.aggregator_heads", "method.predictor_hidden", "method.frameskip")
    check_positive(cfg, "method.probe_sequences")
    if m.views_per_sequence < 2:
        raise ConfigError(
            f"method.views_per_sequence={m.views_per_sequence} must be >= 2: the probes read two views or more"
        )
    _patches_tile_images(cfg)
    width = cfg.model.embed_dim or MODEL_SIZES[cfg.model.name].embed_dim
    tokens = width + m.action_embed_dim if m.action_conditioning else width
    if tokens % m.aggregator_heads:
        raise ConfigError(
            f"method.aggregator_heads={m.aggregator_heads} does not divide the aggregator's token width {tokens} "
            "(the encoder's width, plus method.action_embed_dim with action conditioning)"
        )
    if cfg.data.name != "trajectories":
        _views(cfg, "method.crop_scale")
    check_choice("method.relative_rotation", m.relative_rotation, RELATIVE_ROTATIONS)
    if m.relative_rotation == "cos_sin" and (cfg.data.name == "trajectories" or cfg.views.rotation <= 0):
        raise ConfigError(  # only views rotated by views.rotation have a change of rotation to encode
            "method.relative_rotation=cos_sin needs views of images rotated by views.rotation > 0 degrees, got "
            f"data.name={cfg.data.name}, views.rotation={cfg.views.rotation}"
        )


def _policy(cfg: DictConfig) -> None:
    """ACT-JEPA, ACT and behaviour cloning: a chunked policy on the demonstrations of a `jepa collect` directory."""
    from jepa.methods.policy import LATENT_TARGETS

    m = cfg.method
    check_installed("gymnasium", "control", f"method={m.name} (its action space and rollouts)")
    if cfg.data.name != "trajectories":
        raise ConfigError(
            f"data.name={cfg.data.name}: method={m.name} learns from demonstrations; set data=trajectories "
            "data.root=<a `jepa collect ... policy=expert` directory>"
        )
    check_positive(cfg, "method.chunk", "method.embed_dim", "method.depth", "method.num_heads")
    check_positive(cfg, "method.decoder_depth", "method.probe_horizon", "method.probe_epochs", "method.probe_samples")
    if m.rollouts < 0:
        raise ConfigError(f"method.rollouts={m.rollouts} must be >= 0 (0 = no rollouts after training)")
    if not 0 <= m.proprio_dropout < 1:
        raise ConfigError(f"method.proprio_dropout={m.proprio_dropout} must lie in [0, 1)")
    if m.cvae:
        check_positive(cfg, "method.latent_dim")
        if m.kl_weight < 0:
            raise ConfigError(f"method.kl_weight={m.kl_weight} must be >= 0")
    if m.name == "bc" and m.chunk != 1:
        raise ConfigError(f"method.chunk={m.chunk}: behaviour cloning predicts one action; use method=act for chunks")
    if not 0 <= m.execute <= m.chunk:
        raise ConfigError(f"method.execute={m.execute} must lie in [0 (the whole chunk), method.chunk = {m.chunk}]")
    if m.embed_dim % (4 * m.num_heads):
        raise ConfigError(f"method.embed_dim={m.embed_dim} must be a multiple of 4 * method.num_heads")
    if m.patch_size < 2 or m.patch_size & (m.patch_size - 1) or cfg.data.image_size % m.patch_size:
        raise ConfigError(f"method.patch_size={m.patch_size} must be a power of two >= 2 dividing data.image_size")
    if m.name == "act_jepa":
        check_choice("method.latent_target", m.latent_target, LATENT_TARGETS)
        check_positive(cfg, "method.predictor_dim", "method.predictor_depth", "method.predictor_heads")
        if m.predictor_dim % m.predictor_heads:
            raise ConfigError(f"method.predictor_dim={m.predictor_dim} must be a multiple of method.predictor_heads")
        if m.latent_weight < 0:
            raise ConfigError(f"method.latent_weight={m.latent_weight} must be >= 0")


METHOD_CHECKS: dict[str, Callable[[DictConfig], None]] = {
    "masked_jepa": _masked_jepa,
    "lejepa": _lejepa,
    "seq_jepa": _seq_jepa,
    "act_jepa": _policy,
    "act": _policy,
    "bc": _policy,
    "world_model": _world_model,
}
