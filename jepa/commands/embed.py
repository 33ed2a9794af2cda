"""``jepa embed file=FILE|run=DIR inputs=... out=features.npy``: features of files from a trained encoder, each file
read as the run's evaluation read its held-out data (:class:`jepa.data.inputs.Preprocessing`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from jepa.commands.checks import check_embed
from jepa.commands.export import run_encoder
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device
from jepa.models.export import PretrainedEncoder, load_encoder


def _encoder(cfg: DictConfig) -> PretrainedEncoder:
    if cfg.file:
        return load_encoder(Path(cfg.file).expanduser())
    return PretrainedEncoder.from_encoder(*run_encoder(cfg.run))


def embed(cfg: DictConfig) -> Path:
    check_embed(cfg)
    encoder = _encoder(cfg)
    if encoder.preprocessing is None:
        raise ConfigError(
            f"{cfg.file or cfg.run} knows no preprocessing: only `jepa export` of a run whose data are files (not "
            "the digits) records how to read one"
        )
    inputs = OmegaConf.to_container(cfg.inputs) if OmegaConf.is_config(cfg.inputs) else cfg.inputs
    files = encoder.preprocessing.files(inputs)
    features = encoder.to(select_device(cfg.device)).embed(files, batch_size=cfg.batch_size)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, features.numpy())
    listing = out.with_name(out.name + ".files.txt")
    listing.write_text("".join(f"{f}\n" for f in files))
    print(f"wrote {out}: {tuple(features.shape)} features of {len(files)} {encoder.preprocessing.modality} files")
    print(f"wrote {listing}: the file of each row")
    return out
