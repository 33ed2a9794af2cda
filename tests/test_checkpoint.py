import os
import pickle

import pytest
import torch

from jepa.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, load_weights, save_checkpoint


def _train_state():
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    return model, opt


def test_checkpoint_round_trips_weights_optimizer_and_rng(tmp_path):
    model, opt = _train_state()
    state = {"optimizer": opt.state_dict(), "rng": {"cpu": torch.get_rng_state()}, "note": [1, 2.5, None, "x"]}
    path = save_checkpoint(tmp_path, 7, model.state_dict(), state)
    step, weights, loaded = load_checkpoint(path)
    assert step == 7 and path.name == "step_00000007"
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    opt2 = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters(), lr=0.1)
    opt2.load_state_dict(loaded["optimizer"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert loaded["note"] == [1, 2.5, None, "x"]
    assert torch.equal(loaded["rng"]["cpu"], state["rng"]["cpu"])


def test_latest_points_at_newest_and_old_checkpoints_are_pruned(tmp_path):
    model, _ = _train_state()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model.state_dict(), {}, keep=2)
    assert latest_checkpoint(tmp_path).name == "step_00000003"
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000002", "step_00000003"]
    assert not list(tmp_path.glob(".tmp-*"))
    assert latest_checkpoint(tmp_path / "nothing-here") is None


class _Exploit:
    """Unpickling this would create a marker file: the attack a checkpoint loader must refuse."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_crafted_to_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil_pt = tmp_path / "evil.pt"
    evil_pt.write_bytes(pickle.dumps({"weight": _Exploit(marker)}))
    with pytest.raises(CheckpointError, match="refused to load"):
        load_weights(evil_pt)
    assert not marker.exists()

    # the same payload dropped into a checkpoint directory in place of the weights
    model, _ = _train_state()
    path = save_checkpoint(tmp_path / "ckpt", 1, model.state_dict(), {})
    (path / "model.safetensors").write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_tensor_pt_files_still_load(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_weights(tmp_path / "ok.pt")["w"], torch.ones(2))


def test_not_a_checkpoint_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path)
