"""A Kubernetes API stand-in for the synchronous client: kmock's emulator served from a thread of its own.

kmock is asyncio; the official `kubernetes` client blocks. `running_emulator()` runs the emulator and its
HTTP server (aiohttp, 127.0.0.1, a free port) on an event loop in a background thread, and hands back an
`Emulator` whose methods touch kmock only from that loop. Objects live in memory per emulator and can be
seeded, read and changed while a client polls. Reuse it from a test module:

    @pytest.fixture
    def emulator() -> Iterator[Emulator]:
        with running_emulator() as emu:
            yield emu
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kmock
import yaml

T = TypeVar("T")
DEPLOYMENTS = ("apps", "v1", "deployments")
STATEFULSETS = ("apps", "v1", "statefulsets")
APPLICATIONS = ("argoproj.io", "v1alpha1", "applications")
# What the emulator serves even with no object in it (a real API server lists an empty namespace fine).
KINDS = {DEPLOYMENTS: "Deployment", STATEFULSETS: "StatefulSet", APPLICATIONS: "Application"}
SERVER_VERSION = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2025-08-27T00:00:00Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Emulator:
    handler: Any  # kmock.KubernetesEmulator, entered on `loop`
    loop: asyncio.AbstractEventLoop
    url: str

    def call(self, fn: Callable[[], T]) -> T:
        """Run fn on the emulator's loop, where kmock's state is safe to touch, and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def put(self, resource: tuple[str, str, str], namespace: str, obj: dict[str, Any]) -> None:
        """Create or replace an object (group, version, plural) in a namespace."""
        key = (kmock.resource(*resource), namespace, obj["metadata"]["name"])

        def store() -> None:
            self.handler.objects[key] = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}

        self.call(store)

    def respond(self, criteria: Any, status: int, payload: dict[str, Any]) -> None:
        """Answer matching requests with a status and a JSON body, ahead of the emulated API."""

        def react() -> None:
            self.handler[criteria] << status << payload

        self.call(react)

    def requests(self) -> list[Any]:
        """Every request served so far (kmock.Request: method, url, params, headers)."""
        return self.call(lambda: list(self.handler))

    def kubeconfig(self, path: Path, token: str, context: str = "emulator") -> Path:
        """A kubeconfig whose context reaches this emulator with a static bearer token."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-user"}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path


@contextmanager
def running_emulator() -> Iterator[Emulator]:
    """A kmock Kubernetes emulator on 127.0.0.1, served from a background thread until the block ends."""
    started: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        try:
            async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
                # Clients ask for /version/ with a trailing slash, which the emulator does not route.
                handler["get /version/"] << SERVER_VERSION
                for (group, version, plural), kind in KINDS.items():
                    handler.resources[f"{group}/{version}/{plural}"] = kmock.ResourceInfo(kind=kind, namespaced=True)
                started["emulator"] = Emulator(handler, asyncio.get_running_loop(), str(server.url).rstrip("/"))
                started["stop"] = stop = asyncio.Event()
                ready.set()
                await stop.wait()
        except BaseException as exc:
            started["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="kmock", daemon=True)
    thread.start()
    if not ready.wait(timeout=10) or "error" in started:
        raise RuntimeError(f"the kmock emulator did not start: {started.get('error')!r}")
    emulator: Emulator = started["emulator"]
    try:
        yield emulator
    finally:
        emulator.loop.call_soon_threadsafe(started["stop"].set)
        thread.join(timeout=10)
