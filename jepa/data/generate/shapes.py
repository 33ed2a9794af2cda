"""Procedural "shapes" image dataset, written to disk as real PNG files.

Each image holds one upright object whose *shape* is the quantity of interest. Everything
else -- colour, position, size and a textured, noisy background -- is random and
independent of the shape, so the class cannot be read off raw pixels by a linear
model (a good test of whether a self-supervised encoder learned shape). The
background is kept nearly grey: with saturated colour fields (format v2) colour
dominates every image and neither a supervised ViT nor a small CNN learned shape
within the main job's budget.
Objects are scaled to equal *area* for a given ``size`` so that the number of
object pixels carries no information about the class either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from jepa.data.generate.files import generate_once, write_csv
from jepa.data.index import SPLITS

__all__ = ["SHAPES", "COLOURS", "make_shapes_dataset", "render_shape_image", "contact_sheet"]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star", "ring", "hexagon", "heart")

# Object colours (RGB, 0-255). The colour id is drawn independently of the shape id.
COLOURS: tuple[tuple[int, int, int], ...] = (
    (220, 40, 40),  # red
    (40, 170, 60),  # green
    (40, 80, 220),  # blue
    (240, 210, 40),  # yellow
    (40, 200, 210),  # cyan
    (210, 50, 200),  # magenta
    (245, 245, 245),  # white
    (25, 25, 25),  # black
)

CSV_COLUMNS: tuple[str, ...] = ("split", "file", "shape", "colour", "x", "y", "size")
SIZE_RANGE = (0.5, 0.7)  # diameter of the equal-area disc, as a fraction of the image side
_FORMAT_VERSION = 3
BACKGROUND_SATURATION = (0.0, 0.2)  # colour left in the background field (1 = fully saturated)
SUPERSAMPLE = 3  # the object mask is drawn this many times larger, then reduced (anti-aliasing)


def _regular(n: int, phase: float = 0.0) -> np.ndarray:
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def _star(points: int = 5, inner: float = 0.5) -> np.ndarray:
    a = -np.pi / 2 + np.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _cross(half_width: float = 0.34) -> np.ndarray:
    w = half_width
    pts = [(w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w), (-w, -1)]
    return np.asarray(pts, dtype=np.float64)


def _heart(n: int = 60) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], axis=1)


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _centroid(p: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    a = cross.sum() / 2
    return np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * a)


_RING_HOLE = 0.55  # inner radius of the ring relative to its outer radius


def _unit_outlines() -> dict[str, tuple[np.ndarray, float]]:
    """Per shape: outline centred on its centroid and scaled to area pi (a unit disc), plus its circumradius."""
    raw = {
        "circle": _regular(64),
        "square": _regular(4, np.pi / 4),
        "triangle": _regular(3, -np.pi / 2),
        "cross": _cross(),
        "star": _star(),
        "ring": _regular(64),
        "hexagon": _regular(6),
        "heart": _heart(),
    }
    out = {}
    for name, p in raw.items():
        p = p - _centroid(p)
        area = _polygon_area(p) * (1 - _RING_HOLE**2 if name == "ring" else 1.0)
        p = p * np.sqrt(np.pi / area)
        out[name] = (p, float(np.linalg.norm(p, axis=1).max()))
    return out


_OUTLINES = _unit_outlines()


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 3) -> np.ndarray:
    """Random values on a coarse grid, bicubically upsampled: a smooth colour field in [0, 1]."""
    grid = (rng.random((cells, cells, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(grid[..., 0] if channels == 1 else grid).resize((size, size), Image.Resampling.BICUBIC)
    out = np.asarray(img, dtype=np.float32) / 255.0
    return out[..., None] if channels == 1 else out


def textured_background(rng: np.random.Generator, s: int, saturation: tuple[float, float] = (0.3, 0.9)) -> np.ndarray:
    """Low-frequency colour noise + a linear gradient + finer texture, float RGB in [0, 1].

    ``saturation`` bounds the random fraction of colour the finished field keeps (0 = grey)."""
    base = _smooth_noise(rng, s, int(rng.integers(2, 5)))
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * xx + np.sin(ang) * yy)[..., None]
    ramp = ramp - ramp.mean()
    base = base + ramp * rng.uniform(-0.5, 0.5, size=3).astype(np.float32)
    base = base + (_smooth_noise(rng, s, int(rng.integers(8, 17))) - 0.5) * rng.uniform(0.05, 0.2)
    grey = base.mean(axis=2, keepdims=True)
    return np.clip(grey + rng.uniform(*saturation) * (base - grey), 0.0, 1.0)


def draw_distractors(rng: np.random.Generator, img: Image.Image, lines: int, blobs: int) -> None:
    """Thin random lines and small blobs (well below the object size) in palette and random colours."""
    s = img.size[0]
    draw = ImageDraw.Draw(img)

    def colour() -> tuple[int, int, int]:
        if rng.random() < 0.5:
            return COLOURS[int(rng.integers(len(COLOURS)))]
        return tuple(int(v) for v in rng.integers(0, 256, size=3))  # type: ignore[return-value]

    for _ in range(lines):
        x0, y0 = rng.uniform(-0.1, 1.1, size=2) * s
        ang, length = rng.uniform(0, np.pi), rng.uniform(0.2, 0.9) * s
        x1, y1 = x0 + np.cos(ang) * length, y0 + np.sin(ang) * length
        draw.line([(x0, y0), (x1, y1)], fill=colour(), width=max(1, int(round(s / 64 * rng.uniform(0.7, 1.5)))))
    for _ in range(blobs):
        cx, cy = rng.uniform(0, 1, size=2) * s
        rx, ry = rng.uniform(0.015, 0.045, size=2) * s
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour())


def circumradius(shape: int) -> float:
    """Largest distance from the centre to the outline of ``SHAPES[shape]``, for an equal-area disc of radius 1."""
    return _OUTLINES[SHAPES[shape]][1]


def shape_mask(shape: int, x: float, y: float, radius: float, rotation: float, side: int) -> Image.Image:
    """Binary mask (mode "L", ``side`` px square) of ``SHAPES[shape]`` centred at (x, y) (fractions of the side),
    with the area of a disc of ``radius`` (fraction of the side), rotated by ``rotation`` degrees. Draw it
    larger than the output and reduce it for anti-aliasing."""
    outline = _OUTLINES[SHAPES[shape]][0]
    th = np.deg2rad(rotation)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    centre = np.array([x, y]) * side
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon([tuple(p) for p in (outline @ rot.T) * radius * side + centre], fill=255)
    if SHAPES[shape] == "ring":
        draw.polygon([tuple(p) for p in outline * _RING_HOLE * radius * side + centre], fill=0)
    return mask


def object_fill(rng: np.random.Generator, colour: int, side: int) -> Image.Image:
    """Object texture: the palette colour with brightness jitter and a mild shading field (``side`` px RGB)."""
    base = np.asarray(COLOURS[colour], dtype=np.float32) / 255 * rng.uniform(0.8, 1.05)
    shade = 1 + (_smooth_noise(rng, side, 3, channels=1) - 0.5) * 0.35
    return Image.fromarray((np.clip(base[None, None, :] * shade, 0, 1) * 255).astype(np.uint8))


def render_shape_image(rng: np.random.Generator, image_size: int = 64) -> tuple[Image.Image, dict[str, float | int]]:
    """Draw one random image; return it and its labels (shape, colour, x, y, size)."""
    s, ss = image_size, image_size * SUPERSAMPLE
    shape = int(rng.integers(len(SHAPES)))
    colour = int(rng.integers(len(COLOURS)))
    size = float(rng.uniform(*SIZE_RANGE))
    radius = size / 2  # of the equal-area disc, as a fraction of the side
    margin = min(0.75 * radius * circumradius(shape), 0.45)  # at most ~25% of the object may leave the frame
    x, y = (float(v) for v in rng.uniform(margin, 1 - margin, size=2))

    # Smooth fields are computed at the output size (cheap) and upsampled; drawing happens supersampled.
    bg = Image.fromarray((textured_background(rng, s, BACKGROUND_SATURATION) * 255).astype(np.uint8))
    bg = bg.resize((ss, ss), Image.Resampling.BILINEAR)
    mask = shape_mask(shape, x, y, radius, 0.0, ss)
    img = Image.composite(object_fill(rng, colour, s).resize((ss, ss), Image.Resampling.BILINEAR), bg, mask)

    arr = np.asarray(img.resize((s, s), Image.Resampling.BOX), dtype=np.float32)
    arr = arr + rng.normal(0.0, rng.uniform(2.0, 8.0), size=arr.shape)
    out = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    return out, {"shape": shape, "colour": colour, "x": x, "y": y, "size": size}


def _dataset_name(image_size: int, num_train: int, num_val: int, seed: int) -> str:
    return f"shapes-v{_FORMAT_VERSION}-{image_size}px-{num_train}-{num_val}-s{seed}"


def _generate_into(out: Path, num: dict[str, int], image_size: int, seed: int, progress: bool) -> dict:
    from tqdm.auto import tqdm

    rows: list[dict[str, object]] = []
    with tqdm(total=sum(num.values()), desc="generating shapes", disable=not progress, unit="img") as bar:
        for split_id, split in enumerate(SPLITS):
            (out / split).mkdir()
            for i in range(num[split]):
                rng = np.random.default_rng([seed, split_id, i])
                img, lab = render_shape_image(rng, image_size)
                name = f"{i:06d}.png"
                img.save(out / split / name, format="PNG")
                rows.append(
                    {
                        "split": split,
                        "file": f"{split}/{name}",
                        "shape": lab["shape"],
                        "colour": lab["colour"],
                        "x": f"{lab['x']:.5f}",
                        "y": f"{lab['y']:.5f}",
                        "size": f"{lab['size']:.5f}",
                    }
                )
                bar.update(1)
    write_csv(out / "labels.csv", CSV_COLUMNS, rows)
    return {
        "version": _FORMAT_VERSION,
        "shapes": list(SHAPES),
        "num_train": num["train"],
        "num_val": num["val"],
        "image_size": image_size,
        "seed": seed,
    }


def make_shapes_dataset(
    root: str | Path,
    num_train: int = 4000,
    num_val: int = 1000,
    image_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate the dataset once under ``root`` and return its directory.

    Layout: ``<dir>/{train,val}/NNNNNN.png`` and ``<dir>/labels.csv`` (columns ``CSV_COLUMNS``;
    x, y = object centre in [0, 1]; size = equal-area diameter / side).
    Idempotent and atomic (``generate_once``): a killed run never leaves a half dataset that looks
    complete, and concurrent callers (e.g. DDP ranks) end up sharing one copy.
    """
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    if num_train < 0 or num_val < 0:
        raise ValueError("num_train and num_val must be >= 0")
    final = Path(root) / _dataset_name(image_size, num_train, num_val, seed)
    return generate_once(
        final, lambda out: _generate_into(out, {"train": num_train, "val": num_val}, image_size, seed, progress)
    )


def contact_sheet(
    directory: str | Path, split: str = "train", rows: int = 8, cols: int = 8, scale: int = 2
) -> Image.Image:
    """Tile the first ``rows*cols`` images of a split into one picture, for eyeballing the data."""
    files = sorted((Path(directory) / split).glob("*.png"))[: rows * cols]
    if not files:
        raise FileNotFoundError(f"no PNG files in {Path(directory) / split}")
    first = Image.open(files[0])
    w, h = first.size[0] * scale, first.size[1] * scale
    sheet = Image.new("RGB", (cols * (w + 2), rows * (h + 2)), (255, 255, 255))
    for k, f in enumerate(files):
        with Image.open(f) as im:
            sheet.paste(
                im.convert("RGB").resize((w, h), Image.Resampling.NEAREST),
                ((k % cols) * (w + 2), (k // cols) * (h + 2)),
            )
    return sheet
