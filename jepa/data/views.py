"""Augmented views that know how they were made: each view comes with the parameters of the transformation that
produced it (crop box, flip, rotation, colour jitter, grayscale, blur, solarize), so a method can ask for invariance
to them (LeJEPA) or condition on the relative transformation between two views (seq-JEPA).

Everything is batched on tensors: the parameters of a whole global batch are drawn from one generator (shared by
all DDP ranks, replayed on resume), and the geometric part of every view is one ``grid_sample``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

# the columns of a view's parameter vector, each normalised to about [-1, 1] (identity = crop of the whole image
# centred, no flip, no rotation, unit jitter factors, no hue shift, colour, no blur)
VIEW_PARAMS = (
    "centre_y",  # crop centre, in [-1, 1] of the image
    "centre_x",
    "height",  # crop side, as a fraction of the image side
    "width",
    "flip",  # 1 when mirrored left-right
    "rotation",  # angle / 180 degrees
    "brightness",  # jitter factor - 1
    "contrast",
    "saturation",
    "hue",  # hue rotation / half a turn
    "grayscale",  # 1 when grey
    "blur",  # Gaussian sigma in pixels of the view / the largest sigma
    "mask_centre",  # a band of columns (a spectrogram's mel bins) set to zero: its centre in [0, 1] of the width
    "mask_width",  # its width as a share of the view's width (0: no band)
    "time_start",  # video: the first frame of a temporal crop, as a share of the clip's frames (0: from the start)
    "solarize",  # 1 when the pixels above half intensity are inverted (after the colour jitter)
)


@dataclass(frozen=True)
class ViewSpec:
    """How one kind of view is drawn (DINO / LeJEPA-style defaults).

    ``size``: the view's side, or its (height, width); ``scale``: the crop's share of the image area; ``ratio``:
    its aspect w/h (log-uniform); with ``full_width`` the crop spans the whole width instead and ``scale`` is its
    share of the height (a spectrogram's time crop across all mel bins). ``rotation``: the largest angle in
    degrees; colour jitter (strengths as torchvision's ColorJitter) with probability ``jitter_p``; ``blur_sigma``:
    Gaussian sigma range in pixels of the view, applied with probability ``blur_p``; with probability
    ``solarize_p`` the pixels above half intensity are inverted (BYOL's and DINO's solarize); with probability
    ``mask_p`` a band of columns of width ``mask_width`` (a share of the view's width) is zeroed (SpecAugment's
    frequency mask). On video clips, ``frames`` consecutive frames from a uniformly drawn start (None: all of
    them), every frame cropped and coloured alike.
    """

    size: int | tuple[int, int]
    full_width: bool = False
    frames: int | None = None
    scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    rotation: float = 0.0
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    mask_p: float = 0.0
    mask_width: tuple[float, float] = (0.05, 0.2)
    solarize_p: float = 0.0

    def __post_init__(self):
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"crop scale must satisfy 0 < low <= high <= 1, got {self.scale}")
        if min(self.shape) < 1:
            raise ValueError(f"view size must be positive, got {self.size}")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the view."""
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _chance(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=g) < p).float()


def draw_params(spec: ViewSpec, n: int, generator: torch.Generator) -> torch.Tensor:
    """Parameters of ``n`` views, (n, len(VIEW_PARAMS)), columns as :data:`VIEW_PARAMS`.

    The crop (area share and log-uniform aspect, clipped to the image) is placed uniformly where it fits.
    """
    g = generator
    area = _uniform(n, *spec.scale, g)
    aspect = torch.exp(_uniform(n, math.log(spec.ratio[0]), math.log(spec.ratio[1]), g))
    if spec.full_width:
        height, width = area, torch.ones(n)
    else:
        height, width = (area / aspect).sqrt().clamp(max=1.0), (area * aspect).sqrt().clamp(max=1.0)
    centre_y = (1 - height) * (2 * torch.rand(n, generator=g) - 1)
    centre_x = (1 - width) * (2 * torch.rand(n, generator=g) - 1)
    flip = _chance(n, spec.flip_p, g)
    rotation = spec.rotation / 180 * (2 * torch.rand(n, generator=g) - 1)
    jitter = _chance(n, spec.jitter_p, g)
    factors = [
        jitter * strength * (2 * torch.rand(n, generator=g) - 1)
        for strength in (spec.brightness, spec.contrast, spec.saturation)
    ]
    hue = jitter * spec.hue * (2 * torch.rand(n, generator=g) - 1) * 2  # hue strength is a share of a full turn
    grayscale = _chance(n, spec.grayscale_p, g)
    blur = _chance(n, spec.blur_p, g) * _uniform(n, *spec.blur_sigma, g) / max(spec.blur_sigma[1], 1e-6)
    mask_centre, mask_width = torch.rand(n, generator=g), _chance(n, spec.mask_p, g) * _uniform(n, *spec.mask_width, g)
    # scaled to the frames a clip has to spare when the view is made; 0 for whole clips and images
    time_start = torch.rand(n, generator=g) * (spec.frames is not None)
    solarize = _chance(n, spec.solarize_p, g)
    geometry = [centre_y, centre_x, height, width, flip, rotation]
    colour = [*factors, hue, grayscale, blur]
    return torch.stack([*geometry, *colour, mask_centre, mask_width, time_start, solarize], dim=1)


def _geometry(images: torch.Tensor, params: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Crop, flip and rotate: (B, C, H, W) -> (B, C, *shape), one bilinear ``grid_sample``."""
    centre_y, centre_x, height, width, flip, rotation = params[:, :6].unbind(1)
    angle = rotation * math.pi
    cos, sin = angle.cos(), angle.sin()
    sx = width * (1 - 2 * flip)  # a mirrored view reads its columns right to left
    sy = height
    theta = torch.stack(
        [torch.stack([cos * sx, -sin * sy, centre_x], 1), torch.stack([sin * sx, cos * sy, centre_y], 1)], 1
    )
    grid = F.affine_grid(theta.to(images), [*images.shape[:2], *shape], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


_LUMA = torch.tensor([0.299, 0.587, 0.114])


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> luma (B, 1, H, W)."""
    return torch.einsum("bchw,c->bhw", x, _LUMA.to(x)).unsqueeze(1)


# RGB <-> YIQ: a hue shift is a rotation of the (I, Q) chroma plane
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of (B, 3, H, W) pixels by ``shift`` half-turns (B,)."""
    angle = shift * math.pi
    cos, sin, one, zero = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    rotate = torch.stack(
        [torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1), torch.stack([zero, sin, cos], 1)], 1
    )
    yiq = _YIQ.to(x)
    matrix = torch.linalg.inv(yiq) @ rotate.to(x) @ yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", matrix, x)


def _colour(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation, hue, then grayscale, on (B, 3, H, W) pixels in [0, 1]."""
    brightness, contrast, saturation, hue, grayscale = (params[:, i].view(-1, 1, 1, 1) for i in range(6, 11))
    x = (x * (1 + brightness)).clamp(0, 1)
    mean = _gray(x).mean((2, 3), keepdim=True)
    x = ((x - mean) * (1 + contrast) + mean).clamp(0, 1)
    gray = _gray(x)
    x = ((x - gray) * (1 + saturation) + gray).clamp(0, 1)
    x = _hue(x, hue.view(-1)).clamp(0, 1)
    return torch.lerp(x, _gray(x).expand_as(x), grayscale)


def _solarize(x: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Invert the pixels above half intensity of the ``chosen`` (B,) images among (B, 3, H, W) pixels in [0, 1]."""
    return torch.where((chosen.view(-1, 1, 1, 1) > 0) & (x >= 0.5), 1 - x, x)


def _blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with a sigma per image (B,), in pixels; sigma 0 leaves the image as it is. The
    kernel spans 3 ``max_sigma`` whatever the batch holds, so an image's blur never depends on its batch."""
    if not bool((sigma > 0).any()):
        return x
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    s = sigma.to(x).clamp(min=1e-3).view(-1, 1)
    kernel = torch.exp(-0.5 * (offsets / s) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, K); a tiny sigma gives a delta
    b, c, h, w = x.shape
    weight = kernel.repeat_interleave(c, 0)  # (B*C, K), one filter per channel of each image
    x = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, weight.view(b * c, 1, -1, 1), groups=b * c)
    x = F.conv2d(x, weight.view(b * c, 1, 1, -1), groups=b * c)
    return x.view(b, c, h, w)


def _mask_columns(x: torch.Tensor, centre: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Zero the columns of each (C, H, W) image within ``width / 2`` of ``centre`` (shares of W; (B,) each)."""
    position = (torch.arange(x.shape[-1], device=x.device) + 0.5) / x.shape[-1]  # column centres in [0, 1]
    band = (position - centre.to(x).view(-1, 1)).abs() < width.to(x).view(-1, 1) / 2  # (B, W)
    return x.masked_fill(band[:, None, None, :], 0.0)


class ViewMaker:
    """Turns normalised images (B, C, H, W) into views with parameters.

    ``mean`` / ``std`` are the dataset's pixel normalisation, undone for the colour operations (which act on [0, 1]
    pixels) and redone after. Inputs with other than 3 channels (spectrograms, zero-mean) get the geometric part,
    the blur and the column mask only, and need no normalisation.
    """

    def __init__(self, mean: tuple[float, ...] = (0.0,), std: tuple[float, ...] = (1.0,)):
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, spec: ViewSpec, params: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) or clips (B, C, T, H, W), params (B, P) from :func:`draw_params` -> views
        (B, C, *spec.shape) or (B, C, frames, *spec.shape)."""
        if images.dim() == 5:
            return self._clip_views(images, spec, params)
        x = _geometry(images, params, spec.shape)
        if x.shape[1] == 3:
            x = _colour(x * self.std + self.mean, params)
            x = (x - self.mean) / self.std
        x = _blur(x, params[:, 11] * spec.blur_sigma[1], spec.blur_sigma[1])
        if x.shape[1] == 3 and bool((params[:, 15] > 0).any()):  # after the blur, as BYOL and DINO solarize
            x = (_solarize(x * self.std + self.mean, params[:, 15]) - self.mean) / self.std
        return _mask_columns(x, params[:, 12], params[:, 13])

    def _clip_views(self, clips: torch.Tensor, spec: ViewSpec, params: torch.Tensor) -> torch.Tensor:
        """A temporal crop of ``spec.frames`` frames of each clip, then the image views of its frames with the
        clip's parameters: (B, C, T, H, W) -> (B, C, frames, *spec.shape). ``time_start`` is rewritten to the share
        of the clip where the crop starts."""
        b, c, t = clips.shape[:3]
        frames = spec.frames or t
        if frames > t:
            raise ValueError(f"a view of {frames} frames cannot be cut from clips of {t}")
        first = (params[:, 14] * (t - frames + 1)).long().clamp(max=t - frames)  # (B,)
        params[:, 14] = first / t
        index = (first[:, None] + torch.arange(frames)).view(b, 1, frames, 1, 1).expand(-1, c, -1, *clips.shape[3:])
        x = clips.gather(2, index).transpose(1, 2).flatten(0, 1)  # (B * frames, C, H, W)
        x = self(x, spec, params.repeat_interleave(frames, 0))
        return x.view(b, frames, c, *spec.shape).transpose(1, 2)


def relative_actions(params: torch.Tensor) -> torch.Tensor:
    """The transformation from each view to the next, as a difference of parameters: (..., V, P) -> (..., V-1, P)."""
    return params[..., 1:, :] - params[..., :-1, :]


def varying_params(spec: ViewSpec) -> tuple[int, ...]:
    """The columns of :data:`VIEW_PARAMS` in which two views drawn with ``spec`` can differ visibly. The others
    are constants (no rotation, whole clips) or draws nothing shows (a band's centre when no band is masked),
    which only add noise to an action or a regression target."""
    jitter = spec.jitter_p > 0
    shown = {
        "centre_y": True,
        "centre_x": not spec.full_width,  # a crop across the whole width sits at its middle
        "height": True,
        "width": not spec.full_width,
        "flip": 0 < spec.flip_p < 1,
        "rotation": spec.rotation > 0,
        "brightness": jitter and spec.brightness > 0,
        "contrast": jitter and spec.contrast > 0,
        "saturation": jitter and spec.saturation > 0,
        "hue": jitter and spec.hue > 0,
        "grayscale": 0 < spec.grayscale_p < 1,
        "blur": spec.blur_p > 0,
        "mask_centre": spec.mask_p > 0,
        "mask_width": spec.mask_p > 0,
        "time_start": spec.frames is not None,
        "solarize": 0 < spec.solarize_p < 1,
    }
    return tuple(i for i, name in enumerate(VIEW_PARAMS) if shown[name])


class MultiViewCollator:
    """``collate(samples, context)`` for the training loader: the (image, label) samples stacked, then
    ``count`` views of each ``ViewSpec`` per image.

    The parameters are drawn for the whole global batch from the step's shared generator, then cut to this rank's
    rows, so a DDP run sees the views one process would. Returns ``views``: one (B, count, C, S, S) tensor per
    spec, ``params``: the matching (B, count, P) parameters, and ``y``.
    """

    def __init__(self, groups: list[tuple[ViewSpec, int]], maker: ViewMaker):
        self.groups, self.maker = groups, maker

    def __call__(self, samples: list, context) -> dict:
        images, y = default_collate(samples)
        generator = context.generator()
        views, params = [], []
        for spec, count in self.groups:
            drawn = draw_params(spec, context.global_batch * count, generator).view(context.global_batch, count, -1)
            drawn = drawn[context.rows]
            b = drawn.shape[0]
            repeated = images.repeat_interleave(count, 0)  # (B * count, C, H, W)
            made = self.maker(repeated, spec, drawn.flatten(0, 1))
            views.append(made.view(b, count, *made.shape[1:]))
            params.append(drawn)
        return {"views": views, "params": params, "y": y}
