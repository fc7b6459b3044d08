"""Kernels started by `xmlab run` and sweeps talk over encrypted sockets, and say nothing."""

import nbformat
import pytest
from jupyter_client.manager import KernelManager

from xmlab import course
from xmlab.course import kernels

WARNING = "without encryption"
# the running kernel reports whether its manager gave it CurveZMQ keys
PROBE = """from ipykernel.kernelapp import IPKernelApp
print("curve:", IPKernelApp.instance().curve_secretkey is not None)"""


def _probe_notebook(folder):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def _printed(executed) -> str:
    nb = nbformat.read(executed, as_version=4)
    return "".join(out.get("text", "") for out in nb.cells[0].outputs)


requires_curve = pytest.mark.skipif(
    not kernels.curve_available(),
    reason="this jupyter_client cannot provision CurveZMQ keys (and ipykernel does not warn)",
)


@requires_curve
def test_run_starts_an_encrypted_kernel_that_prints_no_warning(tmp_path, capfd):
    (tmp_path / "run").mkdir()
    result = course.execute(_probe_notebook(tmp_path), tmp_path / "run")
    assert result.status == "ok", result.error
    assert "curve: True" in _printed(tmp_path / "run" / "probe.ipynb")
    out, err = capfd.readouterr()  # the kernel writes to the terminal of `xmlab run`
    assert WARNING not in out + err


@requires_curve
def test_sweep_runs_start_encrypted_kernels_too(tmp_path):
    result = course.execute_in_subprocess(_probe_notebook(tmp_path), tmp_path / "run")
    assert result.status == "ok", result.error
    assert "curve: True" in _printed(tmp_path / "run" / "probe.ipynb")


def test_without_provisioning_the_configuration_is_empty(monkeypatch):
    traits = {k: v for k, v in KernelManager.class_traits().items() if k != "transport_encryption"}
    monkeypatch.setattr(KernelManager, "class_traits", classmethod(lambda cls: traits))
    assert kernels.kernel_config() == {} and kernels.papermill_options() == {}


def test_with_provisioning_encryption_is_asked_for(monkeypatch):
    monkeypatch.setattr(kernels, "curve_available", lambda: True)
    assert kernels.kernel_config() == {"KernelManager": {"transport_encryption": "auto"}}
    (config,) = kernels.papermill_options().values()
    assert config.KernelManager.transport_encryption == "auto"
