"""Run a notebook in a fresh kernel through nbclient, so that a kernel that does not answer is found in seconds.

The widget tests (tests/test_widgets_compat.py) and `benchmarks/time_lectures.py` run
notebooks this way; nbval's kernels (the test suite, grading) get the same start-up rule
from `plugin.retry_kernel_starts`. Three things differ from a plain `NotebookClient`:

- A kernel that has not answered `kernel_info` within `KERNEL_START_TIMEOUT`, or that dies
  before it does, is shut down and started again, up to `KERNEL_START_ATTEMPTS` times in all.
- The client waits for each message in polls of at most `POLL_SECONDS`. nbclient waits for a
  cell's reply in one poll as long as the cell's timeout, and its asyncio socket can miss the
  wake-up for a reply that has arrived: the reply is then read only when that poll times out,
  minutes later (issue 22). A short poll ends with a direct look at the socket, which finds it.
- The kernel talks over IPC sockets (files beside jupyter_client's connection files, removed
  with them) instead of TCP: no port for kernels started side by side to race for, and no
  warning that TCP is unencrypted.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import time
import uuid
from queue import Empty
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from nbformat import NotebookNode
from traitlets import Type, default

from .plugin import KERNEL_START_ATTEMPTS, KERNEL_START_TIMEOUT, kernel_failed_to_start

__all__ = ["POLL_SECONDS", "execute_notebook"]

POLL_SECONDS = 1.0  # what a missed wake-up costs at most; the poll itself is cheap


class _ShortPollChannel(AsyncZMQSocketChannel):
    """A channel whose waits are split into polls of at most POLL_SECONDS."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """Return the next message; raise `queue.Empty` if none came within `timeout` seconds (None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class _KernelClient(AsyncKernelClient):
    shell_channel_class = Type(_ShortPollChannel)
    iopub_channel_class = Type(_ShortPollChannel)


class _KernelManager(AsyncKernelManager):
    """A kernel on IPC sockets of its own, whose client polls in short steps."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:  # the sockets' path prefix, absolute: a relative one would follow the kernel's cwd
        return os.path.join(tempfile.gettempdir(), f"aelib-kernel-{uuid.uuid4().hex[:12]}")

    @default("client_factory")
    def _default_client_factory(self) -> type:
        return _KernelClient


def execute_notebook(nb: NotebookNode, *, timeout: int, cwd: str, env: dict[str, str], **options: Any) -> NotebookNode:
    """Execute `nb` in place in a fresh `python3` kernel started in `cwd` with `env`; return it.

    `timeout` bounds each cell, in seconds; `options` go to nbclient's `NotebookClient`
    (for example `store_widget_state`, `on_cell_executed`; `startup_timeout` defaults to
    KERNEL_START_TIMEOUT). A kernel that dies or does not answer while starting is started
    again; errors in cells pass through, as nbclient raises them.
    """
    options = {"startup_timeout": KERNEL_START_TIMEOUT, **options}

    def attempt() -> NotebookNode:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            kernel_manager_class=_KernelManager,
            resources={"metadata": {"path": cwd}},
            **options,
        )
        try:
            return client.execute(env=env)
        except RuntimeError:
            atexit.unregister(client._cleanup_kernel)  # nbclient's exit hook, for a kernel it has shut down already
            raise

    for _ in range(KERNEL_START_ATTEMPTS - 1):
        try:
            return attempt()
        except RuntimeError as err:
            if not kernel_failed_to_start(err):
                raise
    return attempt()
