"""Local stand-ins for promote, rollback and hold: a platform clone with its remote, the registry, Argo CD and GitHub.

- `platform`: a clone of a copy of this repository, in which dev already runs NEW_TAG (one commit over the shipped
  pins) while staging and prod run OLD_TAG. Its `origin` is git@github.com:example-org/airflow-eks-platform.git,
  which a stand-in for ssh (core.sshCommand) serves from a bare repository in the test's folder: to the code it is a
  GitHub remote (so --mode pr knows its owner and name), and every fetch and push is real git.
- `images`: the registry account of cluster.yaml in moto (the adapter tests' `registry`), with OLD_TAG and NEW_TAG
  pushed and scanned. moto's canned scan result is one HIGH finding, so a passing run needs max severity CRITICAL.
- `argocd`: Argo CD's Application API on pytest-httpserver; every body it serves is checked against the vendored spec.
  The Application's sync history says dev synced its revision two days ago (past any soak), and the same server
  answers Airflow's `GET /api/v2/dags/platform_smoke/dagRuns` with one successful smoke run of NEW_TAG since.
- `pulls`: GitHub's pulls API on the same server (the adapter tests' FakeRepository).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.cli import common, releases
from airflow_gitops.model.repo import Repo
from airflow_gitops.releases.release import Options
from airflow_gitops.upgrades.freeze import write_sync_windows
from tests.adapters.argocd_spec import conforming
from tests.adapters.test_argocd import CHART_VERSION, application, runtime_error
from tests.adapters.test_ecr import REGISTRY, registry, registry_server, scanned  # noqa: F401 - fixtures used here
from tests.adapters.test_github import FakeRepository
from tests.aws.conftest import Moto
from tests.conftest import REPO_ROOT, copy_repo, git

APP = "airflow"
OLD_TAG = "3.2.0-1"  # what every environment pins in the shipped repository
NEW_TAG = "3.3.0-1"  # what dev runs in the platform fixture
IMAGE = f"{REGISTRY.host}/airflow"
OWNER, NAME = "example-org", "airflow-eks-platform"
GITHUB_REMOTE = f"git@github.com:{OWNER}/{NAME}.git"
ARGOCD_TOKEN = "argocd-token-for-tests"
AIRFLOW_TOKEN = "airflow-token-for-tests"
GITHUB_TOKEN = "ghp_token-for-tests"
USER = "Release Manager <release@example.com>"
INVOKE = Path(sys.executable).with_name("invoke")
VALUES = "clusters/{env}/values/airflow.yaml"
CHART_APP = "clusters/{env}/apps/airflow.yaml"
_TAG_LINE = re.compile(r'^(\s*tag:\s*)"?[^"\s#]+"?', re.M)
# The variables a promotion reads, from the developer's own shell; each test sets what it needs.
_HOST_VARIABLES = (
    "PROMOTED_BY",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "ARGOCD_SERVER",
    "ARGOCD_AUTH_TOKEN",
    "AIRFLOW_API_URL",
    "AIRFLOW_API_TOKEN",
    "AIRFLOW_API_USERNAME",
    "AIRFLOW_API_PASSWORD",
    "AIRFLOW_GITOPS_DEBUG",
    "GIT_DIR",
    "GIT_WORK_TREE",
)
# What ssh to github.com does for git: run git-upload-pack or git-receive-pack on the named repository.
# Called as `<this> <host> "<command> '<owner>/<repo>.git'"` (ssh.variant simple).
_FAKE_SSH = """#!/bin/sh
cd "$(dirname "$0")" || exit 128
eval "exec git ${2#git-}"
"""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Snapshot:
    """What a refused promotion must leave as it was: the working tree, the checkout, the branches, the remote."""

    status: str
    head: str
    branches: str
    remote: str


def write_hook(clone: Path, name: str, body: str) -> None:
    hook = clone / ".git" / "hooks" / name
    hook.write_text("#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX\n" + body, encoding="utf-8")
    hook.chmod(0o755)


def with_tag(text: str, tag: str) -> str:
    """A values file with the tag of its own image replaced (quoted, as the shipped files quote it): the
    first `tag:` line; the chart's third-party images follow it (images.airflow comes first)."""
    new, count = _TAG_LINE.subn(lambda m: f'{m.group(1)}"{tag}"', text, count=1)
    assert count == 1, "expected a tag: line"
    return new


@dataclass
class Platform:
    root: Path  # the clone the commands run in
    remote: Path  # the bare repository behind GITHUB_REMOTE
    folder: Path
    ssh: Path

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return git(cwd or self.root, *args).strip()

    def head(self, cwd: Path | None = None) -> str:
        return self.git("rev-parse", "HEAD", cwd=cwd)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def remote_file(self, rel: str, ref: str = "main") -> str:
        return git(self.remote, "show", f"{ref}:{rel}")

    def remote_refs(self) -> dict[str, str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines())

    def configure(self, clone: Path, user: str = USER) -> None:
        name, email = user[: user.index(" <")], user[user.index("<") + 1 : -1]
        for key, value in (
            ("user.name", name),
            ("user.email", email),
            ("core.sshCommand", str(self.ssh)),
            ("ssh.variant", "simple"),
            ("remote.origin.url", GITHUB_REMOTE),
        ):
            git(clone, "config", key, value)

    def clone(self, name: str, user: str = "Someone Else <else@example.com>") -> Path:
        """Another clone of the same remote (cloned from the bare folder, then pointed at the GitHub URL)."""
        target = self.folder / name
        git(self.folder, "clone", "-q", str(self.remote), str(target))
        self.configure(target, user)
        return target

    def commit(self, message: str, files: dict[str, str], cwd: Path | None = None, push: bool = True) -> str:
        where = cwd or self.root
        for rel, text in files.items():
            (where / rel).write_text(text, encoding="utf-8")
        git(where, "add", "--", *files)
        git(where, "commit", "-q", "-m", message)
        if push:
            git(where, "push", "-q", "origin", "HEAD:main")
        return self.head(where)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            status=self.git("status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
            head=self.git("symbolic-ref", "HEAD") + " " + self.head(),
            branches=self.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"),
            remote=json.dumps(self.remote_refs(), sort_keys=True),
        )

    def pin(self, env: str, ref: str | None = None) -> dict[str, Any]:
        """images.airflow of an environment's values file: in the working tree, or at a ref of the remote."""
        rel = VALUES.format(env=env)
        text = self.read(rel) if ref is None else self.remote_file(rel, ref)
        return dict(yaml.safe_load(text)["images"]["airflow"])

    def trailers(self, ref: str = "HEAD", cwd: Path | None = None) -> dict[str, str]:
        body = self.git("log", "-1", "--format=%B", ref, cwd=cwd)
        return dict(line.split(": ", 1) for line in body.split("\n\n")[-1].splitlines() if ": " in line)


def make_seed_remote(folder: Path) -> tuple[Path, str]:
    """A bare repository of the shipped repo plus one commit in which dev runs NEW_TAG; and that commit."""
    work = copy_repo(folder / "work")
    # No freeze windows in the test platform (prod ships a year-end freeze): the tests that want one add it.
    cluster = work / "clusters/prod/cluster.yaml"
    data = yaml.safe_load(cluster.read_text(encoding="utf-8"))
    data["promotion"]["freeze"] = []
    cluster.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    write_sync_windows(Repo(work), "prod")
    git(work, "commit", "-q", "-am", "no freeze windows in the test platform")
    rel = VALUES.format(env="dev")
    (work / rel).write_text(with_tag((work / rel).read_text(encoding="utf-8"), NEW_TAG), encoding="utf-8")
    git(work, "commit", "-q", "-am", f"run airflow {NEW_TAG} in dev")
    bare = folder / "remote.git"
    git(folder, "clone", "-q", "--bare", str(work), str(bare))
    return bare, git(work, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="session")
def seed_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_seed_remote(tmp_path_factory.mktemp("seed"))[0]


@pytest.fixture
def platform(seed_remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    for name in _HOST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")  # the developer's git settings (hooks, pull.rebase) stay out
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    github = tmp_path / "github"
    remote = github / OWNER / f"{NAME}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", "--bare", str(seed_remote), str(remote))
    ssh = github / "ssh"
    ssh.write_text(_FAKE_SSH, encoding="utf-8")
    ssh.chmod(0o755)
    root = tmp_path / "platform"
    git(tmp_path, "clone", "-q", str(remote), str(root))
    result = Platform(root, remote, tmp_path, ssh)
    result.configure(root)
    return result


def manifest_of(tag: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(f"config of {tag}".encode()).hexdigest(),
                "size": 2,
            },
            "layers": [],
        },
        sort_keys=True,
    )


def digest_of(tag: str) -> str:
    """The digest push_image gives the tag (each tag has a manifest of its own)."""
    return "sha256:" + hashlib.sha256(manifest_of(tag).encode()).hexdigest()


def push_image(ecr: Any, tag: str, scan: bool = True) -> str:
    """Push a manifest of its own under the tag, with its digest named (moto would not tell them apart); scan it."""
    manifest = manifest_of(tag)
    digest = digest_of(tag)
    ecr.put_image(repositoryName="airflow", imageManifest=manifest, imageTag=tag, imageDigest=digest)
    if scan:
        scanned(ecr, digest)
    return digest


def cache_image(ecr: Any, repository: str, tag: str) -> str:
    """What the pull-through cache holds after a first pull of repository:tag: the cached repository (created
    on that pull) with the image; its digest."""
    try:
        ecr.create_repository(repositoryName=repository)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    reference = f"{repository}:{tag}"
    ecr.put_image(repositoryName=repository, imageManifest=manifest_of(reference), imageTag=tag, imageDigest=digest_of(reference))
    return digest_of(reference)


@dataclass
class Images:
    moto: Moto
    ecr: Any
    digests: dict[str, str]

    def push(self, tag: str, scan: bool = True) -> str:
        self.digests[tag] = push_image(self.ecr, tag, scan)
        return self.digests[tag]


@pytest.fixture
def empty_registry(registry: Moto) -> Images:  # noqa: F811 - the fixture imported above
    """The registry with the repository `airflow` and no images."""
    ecr = registry.client("ecr")
    ecr.create_repository(repositoryName="airflow")
    return Images(registry, ecr, {})


@pytest.fixture
def images(empty_registry: Images) -> Images:
    """OLD_TAG and NEW_TAG in the registry, each scanned (one HIGH finding each)."""
    for tag in (OLD_TAG, NEW_TAG):
        empty_registry.push(tag)
    return empty_registry


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def smoke_run(tag: str, state: str = "success", ago: timedelta = timedelta(days=1), digest: str | None = None) -> dict[str, Any]:
    """A platform_smoke run as Airflow 3's API lists it, triggered by invoke verify for the tag's image."""
    when = datetime.now(UTC) - ago
    digest = digest or digest_of(tag)
    return {
        "dag_run_id": f"manual__{when.isoformat()}",
        "dag_id": "platform_smoke",
        "logical_date": None,
        "queued_at": stamp(when),
        "start_date": stamp(when + timedelta(seconds=5)),
        "end_date": stamp(when + timedelta(minutes=4)) if state in ("success", "failed") else None,
        "run_after": stamp(when),
        "run_type": "manual",
        "state": state,
        "triggered_by": "rest_api",
        "conf": {"image": f"{IMAGE}@{digest}", "tag": tag, "digest": digest, "by": "invoke verify"},
        "note": "smoke run by invoke verify",
    }


class ArgoCdStandIn:
    """GET /api/v1/applications/<name>: the Application as Argo CD answers it, or an error body; both spec-checked.

    The Application's status.history is `history` ((revision, deployed at), oldest first): by default its one
    revision, synced two days ago. The same server answers Airflow's list of platform_smoke runs with `runs`."""

    def __init__(self, httpserver: HTTPServer, revision: str) -> None:
        self.httpserver = httpserver
        self.answer: tuple[int, str] = (200, "")
        self.revision: str = revision
        self.stall: threading.Event | None = None  # when set: hold each answer until the event fires (at most 5 s)
        self.history: list[tuple[str, datetime]] = []
        self.runs: list[dict[str, Any]] = [smoke_run(NEW_TAG)]
        self.set(revision=revision)
        httpserver.expect_request(re.compile(r"^/api/v1/applications/[^/]+$"), method="GET").respond_with_handler(self.handle)
        httpserver.expect_request("/api/v2/dags/platform_smoke/dagRuns", method="GET").respond_with_handler(self.list_runs)

    def set(
        self,
        revision: str | None = None,
        sync: str = "Synced",
        health: str = "Healthy",
        history: list[tuple[str, datetime]] | None = None,
    ) -> None:
        self.revision = revision or self.revision
        if history is not None:
            self.history = history
        elif revision is not None or not self.history:
            self.history = [(self.revision, datetime.now(UTC) - timedelta(days=2))]
        body = application(sync, health, "Succeeded" if health == "Healthy" else "Failed")
        revisions = [CHART_VERSION, self.revision]
        body["status"]["sync"]["revisions"] = revisions
        body["status"]["operationState"]["operation"]["sync"]["revisions"] = revisions
        body["status"]["history"] = [
            {
                "id": index,
                "revisions": [CHART_VERSION, rev],
                "sources": body["spec"]["sources"],
                "deployStartedAt": stamp(when - timedelta(seconds=40)),
                "deployedAt": stamp(when),
                "initiatedBy": {"automated": True},
            }
            for index, (rev, when) in enumerate(self.history)
        ]
        self.answer = (200, json.dumps(conforming(body, "v1alpha1Application")))

    def list_runs(self, request: Request) -> Response:
        assert request.headers.get("Authorization") == f"Bearer {AIRFLOW_TOKEN}"
        ordered = sorted(self.runs, key=lambda r: r["run_after"], reverse=True)
        return Response(json.dumps({"dag_runs": ordered, "total_entries": len(ordered)}), content_type="application/json")

    def refuse(self, status: int, grpc_code: int, message: str) -> None:
        self.answer = (status, json.dumps(conforming(runtime_error(grpc_code, message), "runtimeError")))

    def handle(self, request: Request) -> Response:
        if self.stall is not None:
            self.stall.wait(5)
        status, text = self.answer
        if status == 200:  # the body names the Application asked for
            body = json.loads(text)
            body["metadata"]["name"] = request.path.rsplit("/", 1)[1]
            text = json.dumps(body)
        return Response(text, status=status, content_type="application/json")

    @property
    def requests(self) -> list[Request]:
        return [r for r, _ in self.httpserver.log if r.path.startswith("/api/v1/applications/")]


@pytest.fixture
def argocd(platform: Platform, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> ArgoCdStandIn:
    """Argo CD, Synced and Healthy at the platform's HEAD (where dev runs NEW_TAG)."""
    monkeypatch.setenv("ARGOCD_SERVER", f"http://127.0.0.1:{httpserver.port}")
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", ARGOCD_TOKEN)
    monkeypatch.setenv("AIRFLOW_API_URL", f"http://127.0.0.1:{httpserver.port}")
    monkeypatch.setenv("AIRFLOW_API_TOKEN", AIRFLOW_TOKEN)
    return ArgoCdStandIn(httpserver, platform.head())


@pytest.fixture
def github_env(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """GITHUB_API_URL and GITHUB_TOKEN point at the local server; the pulls path of the platform's repository."""
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{httpserver.port}")
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    return f"/repos/{OWNER}/{NAME}/pulls"


@pytest.fixture
def pulls(github_env: str, httpserver: HTTPServer) -> FakeRepository:
    fake = FakeRepository()
    fake.install(httpserver)
    return fake


def github_calls(httpserver: HTTPServer) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, response.status_code) for r, response in httpserver.log if r.path.startswith("/repos/")]


def options(**given: Any) -> Options:
    """Options of a promotion of airflow; every other field as given, else the task's default."""
    known = {f.name for f in fields(Options)}
    unknown = set(given) - known
    assert not unknown, f"no such option: {unknown}"
    return Options(**{"app": APP, **given})


def captured(capsys: pytest.CaptureFixture[str], code: int) -> Run:
    out = capsys.readouterr()
    return Run(code, out.out, out.err)


def promote(platform: Platform, capsys: pytest.CaptureFixture[str], **given: Any) -> Run:
    """`invoke promote` in process, through the same guard as the task."""
    chosen = options(**given)
    return captured(capsys, common.guarded(lambda: releases.promote(chosen, cwd=platform.root)))


def rollback(platform: Platform, capsys: pytest.CaptureFixture[str], **given: Any) -> Run:
    chosen = options(**given)
    return captured(capsys, common.guarded(lambda: releases.rollback(chosen, cwd=platform.root)))


def invoke(cwd: Path, *args: str, timeout: float = 60) -> Run:
    """The real task, as a user runs it: tasks.py of this repository, run in the clone."""
    proc = subprocess.run([str(INVOKE), "-r", str(REPO_ROOT), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def refusal(run: Run, *needles: str) -> str:
    """The one `error:` line of a refused command (exit 2), which names each needle."""
    assert run.code == 2, run
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
