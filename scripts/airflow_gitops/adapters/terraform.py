"""Adapter for the terraform CLI: fmt, init, validate and test, run on a scratch copy of terraform/.

The copy keeps .terraform/ and lock files out of the working tree, and a shared plugin cache means
the (large) AWS provider is unpacked once, not once per module.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..model.files import cache_dir
from ..model.findings import UsageError

MIRROR_ENV = "TF_PLUGIN_MIRROR"
MIRRORED_PROVIDER = "registry.terraform.io/hashicorp/aws"
TIMEOUT_SECONDS = 600
STOP_SECONDS = 60


@dataclass(frozen=True)
class TfResult:
    """One terraform command's outcome."""

    command: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def terraform_binary() -> str:
    found = shutil.which("terraform")
    if not found:
        raise UsageError("terraform not found on PATH; install terraform 1.9 or newer (see README, Development)")
    return found


def cli_config(mirror: Path | None, plugin_cache: Path) -> str:
    """A CLI config: providers from the mirror when one is given (air-gapped), others direct."""
    lines = [f'plugin_cache_dir = "{plugin_cache}"', "provider_installation {"]
    if mirror is not None:
        lines += [
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            f'    include = ["{MIRRORED_PROVIDER}"]',
            "  }",
            "  direct {",
            f'    exclude = ["{MIRRORED_PROVIDER}"]',
            "  }",
        ]
    else:
        lines += ["  direct {}"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def environment() -> dict[str, str]:
    """The environment terraform runs in: our CLI config unless the user brought their own."""
    env = dict(os.environ)
    user_config = env.get("TF_CLI_CONFIG_FILE")
    mirror_value = env.get(MIRROR_ENV)
    if user_config and Path(user_config).is_file() and not mirror_value:
        return env
    mirror = Path(mirror_value) if mirror_value else None
    if mirror is not None and not (mirror / MIRRORED_PROVIDER).is_dir():
        raise UsageError(
            f"{MIRROR_ENV}={mirror}: no {MIRRORED_PROVIDER} inside; point it at a `terraform providers mirror` folder"
        )
    folder = cache_dir()
    plugins = folder / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    config = folder / ("mirror.tfrc" if mirror else "direct.tfrc")
    text = cli_config(mirror, plugins)
    if not config.is_file() or config.read_text() != text:
        tmp = config.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, config)
    env["TF_CLI_CONFIG_FILE"] = str(config)
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    env["CHECKPOINT_DISABLE"] = "1"
    return env


@contextmanager
def scratch_copy(root: Path) -> Iterator[Path]:
    """A copy of terraform/ and clusters/ (stacks read cluster.yaml) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="terraform-check-") as tmp:
        for name in ("terraform", "clusters", "apps", "components"):
            if (root / name).is_dir():
                shutil.copytree(
                    root / name,
                    Path(tmp) / name,
                    ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
                )
        yield Path(tmp)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextmanager
def _init_lock(args: list[str]) -> Iterator[None]:
    """terraform's plugin cache is not safe for two inits at once: inits on this machine take turns."""
    if not args or args[0] != "init":
        yield
        return
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> TfResult:
    with _init_lock(args):
        return _run(args, cwd, env)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> TfResult:
    """Run terraform to the end. Interrupted, it gets one SIGINT, as from Ctrl-C, and time to stop its
    providers and release its state lock before it is killed. (Its own session keeps the terminal's
    Ctrl-C from reaching it too: a second interrupt makes terraform exit at once.)"""
    proc = subprocess.Popen(
        [terraform_binary(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return TfResult(" ".join(args), 124, f"terraform {' '.join(args)} did not finish in {TIMEOUT_SECONDS}s")
    except BaseException:
        _stop(proc)
        raise
    return TfResult(" ".join(args), proc.returncode, _ANSI.sub("", stdout + stderr))


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def fmt_check(folder: Path, env: dict[str, str]) -> TfResult:
    return run(["fmt", "-check", "-recursive", "-list=true", "-no-color"], folder, env)


def init(folder: Path, env: dict[str, str]) -> TfResult:
    return run(["init", "-backend=false", "-input=false", "-no-color"], folder, env)


def validate(folder: Path, env: dict[str, str]) -> TfResult:
    return run(["validate", "-no-color", "-json"], folder, env)


def test(folder: Path, env: dict[str, str]) -> TfResult:
    return run(["test", "-no-color"], folder, env)
