import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Tests compare numbers across processes; keep each test on a fixed thread count."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


TINY = [
    "model.embed_dim=64",
    "model.depth=2",
    "model.num_heads=2",
    "model.patch_size=4",
    "model.predictor_dim=32",
    "model.predictor_depth=1",
    "model.predictor_heads=2",
    "data.image_size=32",
    "data.batch_size=16",
    "data.num_train=128",
    "data.num_val=64",
    "optim.warmup_steps=2",
    "train.progress=false",
    "train.threads=1",
]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One small generated shapes dataset shared by every test that trains."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def tiny_overrides(data_root, tmp_path):
    return [*TINY, f"data.root={data_root}", f"run_dir={tmp_path / 'run'}"]


TINY_VIDEO = [
    "experiment=vjepa_moving_shapes",
    "model.embed_dim=32",
    "model.depth=1",
    "model.num_heads=2",
    "model.patch_size=4",
    "model.predictor_dim=16",
    "model.predictor_depth=1",
    "model.predictor_heads=2",
    "data.image_size=32",
    "data.frames_per_clip=4",
    "data.video_frames=8",
    "data.num_train=16",
    "data.num_val=8",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.warmup_steps=2",
    "train.steps=6",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.progress=false",
    "train.threads=1",
    "eval.batch_size=8",
]


@pytest.fixture
def video_overrides(tmp_path_factory, tmp_path):
    """A toy V-JEPA config whose generated videos are shared by the tests of one session."""
    root = tmp_path_factory.getbasetemp() / "videos"
    return [*TINY_VIDEO, f"data.root={root}", f"run_dir={tmp_path / 'run'}"]
