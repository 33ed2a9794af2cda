"""Views with parameters: the geometry lands where the parameters say, the colour operations do what they name, and
the draws are a pure function of the generator, cut per rank like one process's batch."""

from __future__ import annotations

import math

import pytest
import torch

from jepa.data.loader import BatchContext
from jepa.data.views import VIEW_PARAMS, MultiViewCollator, ViewMaker, ViewSpec, draw_params, relative_actions

PLAIN = ViewSpec(16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
UNIT = ViewMaker((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # images already in [0, 1]


def identity(n: int = 1) -> torch.Tensor:
    return draw_params(PLAIN, n, torch.Generator().manual_seed(0))


def with_params(params: torch.Tensor, **values: float) -> torch.Tensor:
    params = params.clone()
    for name, value in values.items():
        params[:, VIEW_PARAMS.index(name)] = value
    return params


def test_the_identity_view_is_the_image():
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(UNIT(x, PLAIN, identity(2)), x, atol=1e-5, rtol=0)


def test_a_quarter_crop_at_half_size_reads_exactly_those_pixels():
    x = torch.rand(1, 3, 16, 16)
    top_left = with_params(identity(), centre_y=-0.5, centre_x=-0.5, height=0.5, width=0.5)
    view = UNIT(
        x, ViewSpec(8, **{k: getattr(PLAIN, k) for k in ("scale", "ratio", "flip_p", "jitter_p", "blur_p")}), top_left
    )
    torch.testing.assert_close(view, x[..., :8, :8], atol=1e-5, rtol=0)


def test_flip_mirrors_the_columns_and_a_half_turn_the_whole_image():
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(UNIT(x, PLAIN, with_params(identity(), flip=1.0)), x.flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(UNIT(x, PLAIN, with_params(identity(), rotation=1.0)), x.flip(-1, -2), atol=1e-5, rtol=0)


def test_colour_operations():
    x = torch.rand(1, 3, 16, 16)
    gray = UNIT(x, PLAIN, with_params(identity(), grayscale=1.0))
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    darker = UNIT(x, PLAIN, with_params(identity(), brightness=-0.5))
    torch.testing.assert_close(darker, x * 0.5, atol=1e-5, rtol=0)
    full_turn = UNIT(x, PLAIN, with_params(identity(), hue=2.0))  # hue is in half-turns: 2 is the identity
    torch.testing.assert_close(full_turn, x, atol=1e-4, rtol=0)
    shifted = UNIT(x, PLAIN, with_params(identity(), hue=0.5))
    assert (shifted - x).abs().mean() > 0.05
    muted = 0.4 + 0.2 * x  # far from 0 and 1, so no channel clips: a hue rotation keeps the luma there
    turned = UNIT(muted, PLAIN, with_params(identity(), hue=0.5))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((turned * luma).sum(1), (muted * luma).sum(1), atol=1e-4, rtol=0)


def test_blur_keeps_the_mean_and_smooths():
    x = torch.rand(1, 3, 16, 16)
    spec = ViewSpec(16, scale=(1.0, 1.0), ratio=(1.0, 1.0), blur_sigma=(0.1, 2.0))
    blurred = UNIT(x, spec, with_params(identity(), blur=1.0))
    assert abs(float(blurred.mean() - x.mean())) < 0.02
    assert blurred.std() < 0.6 * x.std()


def test_draws_are_seeded_and_crops_stay_inside_the_image():
    spec = ViewSpec(32, scale=(0.05, 0.5), rotation=30.0)
    a, b = (draw_params(spec, 500, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (500, len(VIEW_PARAMS))
    p = dict(zip(VIEW_PARAMS, a.unbind(1)))
    assert (p["centre_y"].abs() + p["height"] <= 1 + 1e-6).all() and (
        p["centre_x"].abs() + p["width"] <= 1 + 1e-6
    ).all()
    area = p["height"] * p["width"]
    assert area.min() > 0.04 and area.max() < 0.51
    assert p["rotation"].abs().max() <= 30 / 180 + 1e-6 and p["rotation"].abs().max() > 25 / 180
    assert set(p["flip"].unique().tolist()) == {0.0, 1.0} and set(p["grayscale"].unique().tolist()) == {0.0, 1.0}


def test_relative_actions_are_differences_of_consecutive_views():
    params = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4) ** 2
    actions = relative_actions(params)
    assert actions.shape == (2, 2, 4)
    torch.testing.assert_close(actions[:, 1], params[:, 2] - params[:, 1])


def test_each_rank_gets_its_rows_of_the_views_one_process_would_make():
    samples = [(torch.rand(3, 16, 16), i % 3) for i in range(8)]
    collate = MultiViewCollator([(ViewSpec(16), 2), (ViewSpec(8, scale=(0.1, 0.3)), 3)], UNIT)
    whole = collate(samples, BatchContext(5, 0, 8, slice(0, 8)))
    assert [v.shape for v in whole["views"]] == [(8, 2, 3, 16, 16), (8, 3, 3, 8, 8)]
    assert [p.shape for p in whole["params"]] == [(8, 2, len(VIEW_PARAMS)), (8, 3, len(VIEW_PARAMS))]
    second = collate(samples[4:], BatchContext(5, 0, 8, slice(4, 8)))
    for group in range(2):
        torch.testing.assert_close(second["views"][group], whole["views"][group][4:])
        torch.testing.assert_close(second["params"][group], whole["params"][group][4:])
    other_step = collate(samples, BatchContext(6, 0, 8, slice(0, 8)))
    assert not torch.equal(other_step["params"][0], whole["params"][0])


@pytest.mark.parametrize("scale", [(0.0, 0.5), (0.6, 0.5), (0.5, 1.5)])
def test_a_crop_scale_outside_the_image_is_refused(scale):
    with pytest.raises(ValueError, match="crop scale"):
        ViewSpec(16, scale=scale)


def test_hue_strength_is_a_share_of_a_full_turn():
    spec = ViewSpec(16, hue=0.5, jitter_p=1.0)
    hue = draw_params(spec, 2000, torch.Generator().manual_seed(0))[:, VIEW_PARAMS.index("hue")]
    assert math.isclose(float(hue.abs().max()), 1.0, abs_tol=0.01)  # +-half a turn, in half-turns


def test_spectrogram_views_crop_time_across_every_mel_bin_and_mask_a_band():
    spec = ViewSpec(
        (8, 16), full_width=True, scale=(0.5, 0.5), flip_p=0.0, blur_p=0.0, mask_p=1.0, mask_width=(0.25, 0.25)
    )
    params = draw_params(spec, 64, torch.Generator().manual_seed(1))
    params[0, VIEW_PARAMS.index("centre_y")] = 0.5  # the second half of the time axis, whole frames
    p = dict(zip(VIEW_PARAMS, params.unbind(1)))
    assert torch.equal(p["width"], torch.ones(64)) and torch.allclose(p["height"], torch.full((64,), 0.5))
    assert torch.equal(p["centre_x"], torch.zeros(64))
    x = torch.randn(64, 1, 16, 16)  # (B, 1, time, mel)
    views = ViewMaker()(x, spec, params)
    assert views.shape == (64, 1, 8, 16)
    zeroed = (views == 0).all(2).squeeze(1)  # (B, mel): columns zero at every time
    inside = (p["mask_centre"] > 0.13) & (p["mask_centre"] < 0.87)  # bands clear of the edges
    assert (zeroed.sum(1)[inside] == 4).all() and (zeroed.sum(1) <= 4).all()  # a quarter of the 16 mel bins
    kept = ~zeroed[0]
    torch.testing.assert_close(views[0, 0][:, kept], x[0, 0, 8:][:, kept], atol=1e-5, rtol=0)


def test_clip_views_cut_consecutive_frames_and_crop_every_frame_alike():
    clips = torch.rand(3, 3, 8, 16, 16)  # (B, C, T, H, W)
    spec = ViewSpec(8, frames=4, scale=(0.25, 0.25), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, blur_p=0.0)
    params = draw_params(spec, 3, torch.Generator().manual_seed(2))
    params[:, VIEW_PARAMS.index("centre_y")] = params[:, VIEW_PARAMS.index("centre_x")] = -0.5  # the top-left quarter
    views = UNIT(clips, spec, params)
    assert views.shape == (3, 3, 4, 8, 8)
    first = (params[:, VIEW_PARAMS.index("time_start")] * 8).round().long()  # rewritten to the crop's first frame
    assert ((first >= 0) & (first <= 4)).all()
    for b in range(3):
        expected = clips[b, :, first[b] : first[b] + 4, :8, :8]
        torch.testing.assert_close(views[b], expected, atol=1e-5, rtol=0)
    whole = draw_params(ViewSpec(8), 3, torch.Generator().manual_seed(2))
    assert (whole[:, VIEW_PARAMS.index("time_start")] == 0).all()  # whole clips and images start at 0


def test_solarize_inverts_the_pixels_above_half_intensity_of_the_drawn_views_only():
    images = torch.rand(6, 3, 16, 16)
    spec = ViewSpec(16, scale=(1.0, 1.0), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0, solarize_p=0.5)
    params = draw_params(spec, 6, torch.Generator().manual_seed(0))
    solarized = params[:, VIEW_PARAMS.index("solarize")].bool()
    assert 0 < int(solarized.sum()) < 6
    plain = ViewMaker()(images, spec, params.clone().index_fill_(1, torch.tensor([VIEW_PARAMS.index("solarize")]), 0))
    views = ViewMaker()(images, spec, params)
    torch.testing.assert_close(views[~solarized], plain[~solarized])
    torch.testing.assert_close(
        views[solarized], torch.where(plain[solarized] >= 0.5, 1 - plain[solarized], plain[solarized])
    )
