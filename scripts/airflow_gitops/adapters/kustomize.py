"""Adapter for `kubectl kustomize`: renders an environment and keeps where each object came from."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..model import yamlio
from ..model.rendered import RenderedObject

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"


class KustomizeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        raise KustomizeError("kubectl not found on PATH; install kubectl 1.30 or newer (it carries kustomize)")
    return found


def _strip_build_metadata(obj: dict[str, Any]) -> str:
    """Drop the annotations the build added, and return the origin path they carried."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    origin_text = annotations.pop(ORIGIN, "")
    annotations.pop(TRANSFORMATIONS, None)
    if not annotations and "annotations" in meta:
        del meta["annotations"]
    origin = yamlio.load(origin_text) if origin_text else None
    return str(origin.get("path", "")) if isinstance(origin, dict) else ""


def render(root: Path, env: str, cluster_dir: Path, app: str = "") -> list[RenderedObject]:
    """Render a kustomization as Argo CD would (clusters/<env>, or the manifests folder an Application
    names), with origin annotations added and then removed. `app` names the Application that applies
    the folder ('' for the root Application)."""
    with tempfile.TemporaryDirectory(prefix="kustomize-origin-") as tmp:
        overlay = Path(tmp)
        # kustomize refuses absolute bases, so the overlay reaches the cluster by a relative path
        target = os.path.relpath(cluster_dir, overlay)
        (overlay / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {target}\nbuildMetadata: [originAnnotations]\n",
            encoding="utf-8",
        )
        proc = subprocess.run([kubectl(), "kustomize", str(overlay)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise KustomizeError(_clean_error(proc.stderr, tmp, os.path.relpath(root, overlay)))
        objects = []
        for doc in yamlio.load_all(proc.stdout):
            if not isinstance(doc, dict):
                continue
            origin = _strip_build_metadata(doc)
            origin_rel = ""
            if origin:
                origin_rel = Path(os.path.normpath(overlay / origin)).resolve().relative_to(root.resolve()).as_posix()
            objects.append(RenderedObject(env, doc, origin_rel, app))
        return objects


def _clean_error(stderr: str, tmp: str, rel_root: str) -> str:
    """klog wraps the message as err="..." on one line or err=< ... > over several."""
    text = stderr.strip()
    if "err=<" in text:
        text = text.split("err=<", 1)[1].rsplit(">", 1)[0]
    elif 'err="' in text:
        text = text.split('err="', 1)[1].rstrip().rstrip('"')
    text = " ".join(line.strip() for line in text.splitlines() if line.strip()) or "kustomize failed without a message"
    text = text.replace(rel_root + "/", "").replace(tmp, "<overlay>")
    return text.replace('\\"', '"')
