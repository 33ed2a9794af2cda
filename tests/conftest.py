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
