"""Value checks the type system cannot express, per command and per method; each error names its key.

They run right after composition, before any data is read or written, so a bad config costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError


def check_choice(key: str, value: object, choices: Iterable) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose from {sorted(choices)}")


def check_positive(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        value = OmegaConf.select(cfg, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{key}={value} must be positive")


def check_pairs(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        if len(OmegaConf.select(cfg, key)) != 2:
            raise ConfigError(f"{key} must be a pair [low, high]")


def check_threads(key: str, threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"{key}={threads} must be >= 1 or null (torch's default)")


# ---- jepa train / bench --------------------------------------------------------------------------------------
def validate_train(cfg: DictConfig) -> None:
    """The sections every method shares, then the chosen method's own checks."""
    from jepa.losses import PREDICTION_LOSSES, REGULARIZERS

    check_choice("method", cfg.method.name, METHOD_CHECKS)
    check_choice("train.precision", cfg.train.precision, {"auto", "fp32", "bf16"})
    check_choice("optim.loss", cfg.optim.loss, PREDICTION_LOSSES)
    check_choice("regularizer.name", cfg.regularizer.name, REGULARIZERS)
    check_positive(cfg, "train.steps", "data.batch_size", "train.log_every", "train.checkpoint_every")
    check_positive(cfg, "train.monitor_every", "train.keep_checkpoints", "bench.clips", "bench.rounds")
    check_positive(cfg, "data.num_train", "data.num_val", "data.val_shards", "eval.seeds")
    check_pairs(cfg, "optim.betas", "optim.ema_momentum")
    check_choice("optim.ema_schedule", cfg.optim.ema_schedule, ("linear", "cosine"))
    check_threads("train.threads", cfg.train.threads)
    resume = cfg.train.resume
    if resume not in ("auto", "never", "force") and not Path(resume).expanduser().exists():
        raise ConfigError(
            f"train.resume={resume!r}: choose auto, never or force, or give an existing checkpoint, checkpoints "
            "directory or run directory"
        )
    if cfg.bench.reference_masks and not cfg.bench.reference:
        raise ConfigError("bench.reference_masks=true needs bench.reference=<a checkout of facebookresearch/ijepa>")
    METHOD_CHECKS[cfg.method.name](cfg)


def _encoder(cfg: DictConfig) -> None:
    from jepa.models import MODEL_SIZES
    from jepa.models.attention import ATTENTION_BACKENDS
    from jepa.models.patch_embed import PATCH_EMBEDS

    check_choice("model.name", cfg.model.name, MODEL_SIZES)
    check_choice("model.attn_backend", cfg.model.attn_backend, ATTENTION_BACKENDS)
    check_choice("model.patch_embed", cfg.model.patch_embed, PATCH_EMBEDS)
    width = cfg.model.embed_dim or MODEL_SIZES[cfg.model.name].embed_dim
    for key, value in (("model.embed_dim", width), ("model.predictor_dim", cfg.model.predictor_dim)):
        if value % 4:  # half the dims per image axis, each half sines and cosines
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
    if m.encoder_hidden < 0:
        raise ConfigError(f"method.encoder_hidden={m.encoder_hidden} must be >= 0 (0 = affine)")
    if m.window < 2:
        raise ConfigError(f"method.window={m.window} must be >= 2 (one step to predict)")
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


def _policy(cfg: DictConfig) -> None:
    """ACT-JEPA, ACT and behaviour cloning: a chunked policy on the demonstrations of a `jepa collect` directory."""
    from jepa.methods.policy import LATENT_TARGETS

    m = cfg.method
    if cfg.data.name != "trajectories":
        raise ConfigError(
            f"data.name={cfg.data.name}: method={m.name} learns from demonstrations; set data=trajectories "
            "data.root=<a `jepa collect ... policy=expert` directory>"
        )
    check_positive(cfg, "method.chunk", "method.embed_dim", "method.depth", "method.num_heads")
    check_positive(cfg, "method.decoder_depth", "method.probe_horizon", "method.probe_epochs", "method.probe_samples")
    if m.rollouts < 0:
        raise ConfigError(f"method.rollouts={m.rollouts} must be >= 0 (0 = no rollouts after training)")
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


# ---- the other commands ---------------------------------------------------------------------------------------
def _check_trained_run(key: str, run: str) -> None:
    if not (Path(run).expanduser() / "checkpoints" / "latest").exists():
        raise ConfigError(f"{key}={run} has no checkpoint: not a jepa train run directory, or not trained yet")


def validate_eval(cfg: DictConfig) -> None:
    check_positive(cfg, "eval.batch_size", "eval.seeds")
    check_threads("threads", cfg.threads)
    _check_trained_run("run", cfg.run)


def _check_env(key: str, env_id: str) -> None:
    import gymnasium as gym

    import envs

    if env_id not in gym.registry:
        raise ConfigError(
            f"{key}={env_id!r} is not a registered environment; ours: {list(envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)}"
        )


def validate_collect(cfg: DictConfig) -> None:
    from envs.minari_export import minari_available
    from envs.policies import POLICIES

    check_positive(cfg, "episodes", "num_envs", "episodes_per_shard", "steps")
    check_choice("policy", cfg.policy, POLICIES)
    if not cfg.env.id:
        raise ConfigError("env is not set: pick one with env=two_rooms (or env.id=<a registered Gymnasium id>)")
    _check_env("env.id", cfg.env.id)
    if cfg.minari and not minari_available():
        raise ConfigError("minari export needs the 'minari' extra: pip install 'jepa[minari]'")
    if cfg.policy == "waypoint" and cfg.env.id != "jepa/TwoRooms-v0":
        raise ConfigError(f"policy=waypoint drives Two-Rooms only, not env.id={cfg.env.id}")
    if cfg.policy == "expert":
        from envs.experts import EXPERTS

        check_choice("env.id (policy=expert)", cfg.env.id, EXPERTS)
    if cfg.action_noise < 0:
        raise ConfigError(f"action_noise={cfg.action_noise} must be >= 0")
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"out={cfg.out} is not empty; collect into a new directory")


def validate_rollout(cfg: DictConfig) -> None:
    from jepa.planning import METRICS, PLANNERS, REDUCTIONS

    p = cfg.planner
    check_choice("agent", cfg.agent.name, ("mpc", "policy", "expert", "random"))
    check_positive(cfg, "episodes", "max_steps", "planner.horizon", "planner.samples", "planner.elites")
    check_positive(cfg, "agent.execute")
    check_positive(cfg, "planner.iterations", "planner.temperature")
    check_choice("planner", p.name, PLANNERS)
    check_choice("planner.metric", p.metric, METRICS)
    check_choice("planner.reduce", p.reduce, REDUCTIONS)
    check_threads("threads", cfg.threads)
    if p.elites > p.samples:
        raise ConfigError(f"planner.elites={p.elites} must not exceed planner.samples={p.samples}")
    if not 1 <= p.execute <= p.horizon:
        raise ConfigError(f"planner.execute={p.execute} must lie in [1, planner.horizon = {p.horizon}]")
    if cfg.gifs < 0:
        raise ConfigError(f"gifs={cfg.gifs} must be >= 0")
    if cfg.agent.name in ("mpc", "policy"):
        if not cfg.run:
            what = "plans with a trained world model" if cfg.agent.name == "mpc" else "acts with a trained policy"
            raise ConfigError(f"agent={cfg.agent.name} {what}: set run=<its jepa train run directory>")
        _check_trained_run("run", cfg.run)
    elif not cfg.env.id:
        raise ConfigError(f"agent={cfg.agent.name} needs an environment: set env=two_rooms (or env.id=...)")
    if cfg.env.id:
        _check_env("env.id", cfg.env.id)
    if cfg.agent.name == "expert":
        from envs.experts import EXPERTS

        check_choice("env.id (agent=expert)", cfg.env.id, EXPERTS)
    if cfg.agent.name == "random":
        import gymnasium as gym

        env = gym.make(cfg.env.id)
        box = isinstance(env.action_space, gym.spaces.Box)
        env.close()
        if not box:
            raise ConfigError(f"agent=random samples continuous actions; env.id={cfg.env.id} has other actions")


def validate_compare(cfg: DictConfig) -> None:
    if not cfg.runs:
        raise ConfigError("runs=[] names no run; give runs=[runs/a,runs/b]")


def validate(command: str, cfg: DictConfig) -> None:
    """Every key of ``command``'s config that must be given is set, and every value passes its checks."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set, e.g. jepa {command} {missing[0]}=...")
    VALIDATORS[command](cfg)


VALIDATORS: dict[str, Callable[[DictConfig], None]] = {
    "train": validate_train,
    "eval": validate_eval,
    "collect": validate_collect,
    "rollout": validate_rollout,
    "compare": validate_compare,
}
