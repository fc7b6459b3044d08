import time

import pytest
import torch

import xmlab as xm


def test_seed_everything_repeats_random_draws():
    xm.utils.seed_everything(3)
    a = torch.rand(5)
    xm.utils.seed_everything(3)
    assert torch.equal(a, torch.rand(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        xm.utils.seed_everything(bad)


def test_auto_device_is_a_real_device():
    device = xm.utils.get_device("auto")
    assert device.type in {"cpu", "cuda", "mps"}
    assert torch.zeros(1, device=device).device.type == device.type


def test_cpu_and_torch_device_pass_through():
    assert xm.utils.get_device("CPU") == torch.device("cpu")
    assert xm.utils.get_device(torch.device("cpu")) == torch.device("cpu")


def test_unknown_device_name_says_what_to_use():
    with pytest.raises(ValueError, match="unknown device 'gpu'.*auto"):
        xm.utils.get_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without a GPU")
def test_missing_cuda_is_explained():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        xm.utils.get_device("cuda")


def test_timer_measures_a_block_and_laps():
    with xm.utils.Timer() as t:
        time.sleep(0.02)
        first = t.lap("half")
    assert 0.02 <= t.seconds < 1.0
    assert 0 < first <= t.seconds and t.laps == {"half": first}


def test_show_source_returns_code_and_rejects_builtins():
    assert "def clip_loss" in xm.utils.show_source(xm.losses.clip_loss)
    with pytest.raises(TypeError, match="cannot show the source"):
        xm.utils.show_source(len)
