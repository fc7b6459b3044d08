"""How the kit starts the Jupyter kernels that execute notebooks (``xmlab run``, sweeps).

A kernel talks to the process that runs the notebook over local TCP sockets. Recent ipykernel
releases warn, once per kernel, that this traffic is not encrypted, unless the kernel manager
hands the kernel CurveZMQ keys. :func:`kernel_config` asks for those keys whenever the installed
``jupyter_client`` can provision them and ``pyzmq`` supports CURVE; the traffic is then
encrypted and the warning, which a newcomer reads as a problem, has nothing to warn about. Older
versions (Colab's, for one) neither provision keys nor warn, and get an empty configuration.

Explained in: README.md (``make run``)
"""

from __future__ import annotations


def curve_available() -> bool:
    """Whether jupyter_client can give kernels CurveZMQ keys and pyzmq can use them."""
    import zmq
    from jupyter_client.manager import KernelManager

    return KernelManager.class_traits().get("transport_encryption") is not None and bool(
        zmq.has("curve")
    )


def kernel_config() -> dict:
    """The traitlets configuration (as plain, JSON-ready dicts) for the notebook executor.

    ``"auto"`` encrypts a kernel's traffic when its kernelspec declares CURVE support
    (ipykernel's does) and leaves other kernels as they are.
    """
    if not curve_available():
        return {}
    return {"KernelManager": {"transport_encryption": "auto"}}


def papermill_options() -> dict:
    """Keyword arguments for ``papermill.execute_notebook`` that apply :func:`kernel_config`."""
    from traitlets.config import Config

    config = kernel_config()
    return {"config": Config(config)} if config else {}
