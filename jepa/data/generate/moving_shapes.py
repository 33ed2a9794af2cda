"""Procedural "moving shapes" videos, written to disk as real h264 mp4 files with per-frame ground truth.

Each video shows one object (the shapes and colours of ``shapes.py``) moving in a straight line at
constant velocity, from a start chosen so that it never reaches the edge of the frame (so the direction
label is the motion of every clip cut from the video), over a textured background that drifts slowly,
under a light that flickers mildly. Direction and speed of motion cannot be read off any single frame, so a
probe that recovers them from a frozen encoder shows that it encodes motion, not only appearance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from jepa.data.generate.files import generate_once, write_csv
from jepa.data.generate.shapes import (
    COLOURS,
    SHAPES,
    SUPERSAMPLE,
    circumradius,
    draw_distractors,
    object_fill,
    shape_mask,
    textured_background,
)
from jepa.data.index import SPLITS

__all__ = ["DIRECTIONS", "make_moving_shapes_videos", "render_moving_shape_video", "straight_path", "write_mp4"]

DIRECTIONS: tuple[str, ...] = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")  # 45 degrees apart, counter-clockwise
LABEL_COLUMNS: tuple[str, ...] = ("split", "file", "shape", "colour", "direction", "angle", "speed", "size")
STATE_COLUMNS: tuple[str, ...] = ("x", "y", "vx", "vy")
FRAME_COLUMNS: tuple[str, ...] = ("file", "frame", *STATE_COLUMNS)
SIZE_RANGE = (0.2, 0.3)  # diameter of the equal-area disc, as a fraction of the side: room to move
SPEED_RANGE = (0.015, 0.035)  # image sides per frame: a 16-frame path of up to ~0.5 sides fits in the frame
DIRECTION_JITTER = 15.0  # degrees either side of the compass direction, well inside its 45-degree sector
BACKGROUND_DRIFT = 0.3  # at most this many output pixels per frame
FLICKER = 0.04  # the scene's brightness varies by at most this fraction from frame to frame
_FORMAT_VERSION = 2


def straight_path(
    rng: np.random.Generator, velocity: np.ndarray, low: float, high: float, num_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """States ``(num_frames, 4)`` = (x, y, vx, vy) of a point moving at constant ``velocity`` from a random start
    chosen so that the whole path stays inside the square [low, high]^2: no wall on the way, so the motion at
    every frame, and in every clip of the video, is that of the first frame. A path longer than the square
    is slowed to fit; returns (states, the velocity used)."""
    travel = velocity * (num_frames - 1)
    fit = min(1.0, (high - low) / max(float(np.abs(travel).max()), 1e-12))
    velocity, travel = velocity * fit, travel * fit
    start = rng.uniform(low - np.minimum(travel, 0), high - np.maximum(travel, 0))
    positions = start + np.arange(num_frames)[:, None] * velocity
    return np.concatenate([positions, np.broadcast_to(velocity, positions.shape)], axis=1), velocity


def render_moving_shape_video(
    rng: np.random.Generator, image_size: int = 64, num_frames: int = 16
) -> tuple[np.ndarray, dict[str, float | int], np.ndarray]:
    """Draw one random video: frames ``(T, S, S, 3)`` uint8, labels (shape, colour, direction, angle in
    degrees, speed in sides per frame, size) and states ``(T, 4)`` (x, y in [0, 1], y down; vx, vy)."""
    s, ss = image_size, image_size * SUPERSAMPLE
    shape = int(rng.integers(len(SHAPES)))
    colour = int(rng.integers(len(COLOURS)))
    size = float(rng.uniform(*SIZE_RANGE))
    rotation = float(rng.uniform(0.0, 360.0))
    direction = int(rng.integers(len(DIRECTIONS)))
    angle = float((360 / len(DIRECTIONS) * direction + rng.uniform(-DIRECTION_JITTER, DIRECTION_JITTER)) % 360)
    speed = float(rng.uniform(*SPEED_RANGE))
    radius = size / 2
    margin = radius * circumradius(shape)  # the whole object stays in the frame
    velocity = speed * np.array([math.cos(math.radians(angle)), -math.sin(math.radians(angle))])  # north is up
    states, velocity = straight_path(rng, velocity, margin, 1 - margin, num_frames)
    speed = float(np.hypot(*velocity))

    # The background is a larger canvas, cropped at an offset that drifts by a fraction of a pixel per frame.
    pad = math.ceil(BACKGROUND_DRIFT * (num_frames - 1))
    side = s + 2 * pad
    canvas = Image.fromarray((textured_background(rng, side) * 255).astype(np.uint8))
    canvas = canvas.resize((side * SUPERSAMPLE, side * SUPERSAMPLE), Image.Resampling.BILINEAR)
    draw_distractors(rng, canvas, lines=int(rng.integers(0, 3)), blobs=int(rng.integers(0, 4)))
    drift_angle = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0, BACKGROUND_DRIFT) * np.array([np.cos(drift_angle), np.sin(drift_angle)])
    gains = 1 + rng.uniform(-FLICKER, FLICKER, size=num_frames)
    fill = object_fill(rng, colour, s).resize((ss, ss), Image.Resampling.BILINEAR)
    noise = rng.uniform(2.0, 5.0)

    frames = np.empty((num_frames, s, s, 3), dtype=np.uint8)
    for t, (x, y, _, _) in enumerate(states):
        left, top = (int(v) for v in np.rint((pad + drift * t) * SUPERSAMPLE))
        background = canvas.crop((left, top, left + ss, top + ss))
        frame = Image.composite(fill, background, shape_mask(shape, x, y, radius, rotation, ss))
        frame = np.asarray(frame.resize((s, s), Image.Resampling.BOX), dtype=np.float32) * gains[t]
        frames[t] = np.clip(frame + rng.normal(0.0, noise, size=frame.shape) + 0.5, 0, 255)
    labels = {"shape": shape, "colour": colour, "direction": direction, "angle": angle, "speed": speed, "size": size}
    return frames, labels, states


def write_mp4(path: str | Path, frames: np.ndarray, fps: int) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB (H, W even) as h264/yuv420p, the format most decoders expect.
    One encoder thread keeps the bytes reproducible and leaves the other cores alone."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _dataset_name(image_size: int, num_frames: int, fps: int, num_train: int, num_val: int, seed: int) -> str:
    return f"moving-shapes-v{_FORMAT_VERSION}-{image_size}px-{num_frames}f-{fps}fps-{num_train}-{num_val}-s{seed}"


def _generate_into(
    out: Path, num: dict[str, int], image_size: int, num_frames: int, fps: int, seed: int, progress: bool
) -> dict:
    from tqdm.auto import tqdm

    labels: list[dict[str, object]] = []
    states: list[dict[str, object]] = []
    with tqdm(total=sum(num.values()), desc="generating moving shapes", disable=not progress, unit="video") as bar:
        for split_id, split in enumerate(SPLITS):
            (out / split).mkdir()
            for i in range(num[split]):
                frames, lab, traj = render_moving_shape_video(
                    np.random.default_rng([seed, split_id, i]), image_size, num_frames
                )
                file = f"{split}/{i:06d}.mp4"
                write_mp4(out / file, frames, fps)
                labels.append(
                    {
                        "split": split,
                        "file": file,
                        "shape": lab["shape"],
                        "colour": lab["colour"],
                        "direction": lab["direction"],
                        "angle": f"{lab['angle']:.3f}",
                        "speed": f"{lab['speed']:.5f}",
                        "size": f"{lab['size']:.5f}",
                    }
                )
                for t, row in enumerate(traj):
                    states.append({"file": file, "frame": t} | {k: f"{v:.6f}" for k, v in zip(STATE_COLUMNS, row)})
                bar.update(1)
    write_csv(out / "labels.csv", LABEL_COLUMNS, labels)
    write_csv(out / "frames.csv", FRAME_COLUMNS, states)
    return {
        "version": _FORMAT_VERSION,
        "shapes": list(SHAPES),
        "directions": list(DIRECTIONS),
        "num_train": num["train"],
        "num_val": num["val"],
        "image_size": image_size,
        "num_frames": num_frames,
        "fps": fps,
        "seed": seed,
    }


def make_moving_shapes_videos(
    root: str | Path,
    num_train: int = 1200,
    num_val: int = 300,
    image_size: int = 64,
    num_frames: int = 16,
    fps: int = 8,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate the videos once under ``root`` and return their directory.

    Layout: ``<dir>/{train,val}/NNNNNN.mp4``; ``<dir>/labels.csv`` (columns ``LABEL_COLUMNS``; direction =
    index into ``DIRECTIONS`` of the motion, angle in degrees counter-clockwise from east, speed in image
    sides per frame); ``<dir>/frames.csv`` (columns ``FRAME_COLUMNS``: the object centre x, y in [0, 1] with
    y pointing down, and its velocity, per frame).
    Idempotent and atomic (``generate_once``), like ``make_shapes_dataset``.
    """
    if image_size < 16 or image_size % 2:
        raise ValueError(f"image_size must be even and >= 16 (h264 with 4:2:0 chroma), got {image_size}")
    if num_frames < 1 or fps < 1:
        raise ValueError(f"num_frames and fps must be >= 1, got {num_frames} and {fps}")
    if num_train < 0 or num_val < 0:
        raise ValueError("num_train and num_val must be >= 0")
    final = Path(root) / _dataset_name(image_size, num_frames, fps, num_train, num_val, seed)
    num = {"train": num_train, "val": num_val}
    return generate_once(final, lambda out: _generate_into(out, num, image_size, num_frames, fps, seed, progress))
