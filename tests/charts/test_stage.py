"""The --render-charts stage on a small repository whose Application pins a chart from a local repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_gitops.charts.renderer import ChartRenderer
from airflow_gitops.check import chart_render, parse, render
from airflow_gitops.check.context import CheckContext
from airflow_gitops.model.findings import Finding, Severity
from airflow_gitops.model.repo import Repo
from airflow_gitops.model.schemas import SchemaStore
from tests.charts.conftest import LocalRepo
from tests.conftest import init_git

Make = Callable[..., ChartRenderer]


def application(repo_url: str, **helm: Any) -> str:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "app", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "team"},
            "sources": [
                {
                    "repoURL": repo_url,
                    "chart": "app",
                    "targetRevision": "1.0.0",
                    "helm": {"valueFiles": ["$values/apps/app/values.yaml", "$values/clusters/{env}/values/app.yaml"], **helm},
                },
                {"repoURL": "https://git.example.com/repo.git", "targetRevision": "main", "ref": "values"},
            ],
        },
    }
    return yaml.safe_dump(app, sort_keys=False)


def make_repo(root: Path, repo_url: str, env: str = "dev", env_values: str = "replicas: 1\n", **helm: Any) -> Repo:
    files = {
        f"clusters/{env}/cluster.yaml": f"environment: {env}\ncluster:\n  name: c\n  kubernetes_version: '1.34'\n",
        f"clusters/{env}/kustomization.yaml": "resources:\n  - app.yaml\n",
        f"clusters/{env}/app.yaml": application(repo_url, **helm).replace("{env}", env),
        "apps/app/values.yaml": "image: registry.example.com/app:1.0\n",
        f"clusters/{env}/values/app.yaml": env_values,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    init_git(root)
    return Repo(root)


def check(repo: Repo, renderer: ChartRenderer, require: bool = False) -> tuple[CheckContext, list[Finding]]:
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=repo.envs, charts=renderer, require_render=require)
    for stage in (parse.run, render.run, chart_render.run):
        stage(ctx)
    return ctx, ctx.findings


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def test_a_clean_release_renders_and_validates(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    ctx, findings = check(make_repo(tmp_path / "r", local_repo.url), make_renderer())
    assert findings == []
    [obj] = ctx.clusters["dev"].chart_objects
    assert (obj.rendered.kind, obj.rendered.namespace, obj.rendered.name) == ("Deployment", "team", "app-app")
    assert ctx.objects_validated == 1


def test_schema_errors_of_a_rendered_object_point_at_the_application(
    tmp_path: Path, local_repo: LocalRepo, make_renderer: Make
) -> None:
    _, findings = check(
        make_repo(tmp_path / "r", local_repo.url, env_values="replicas: 1\nprobes: true\nimage: [1]\n"), make_renderer()
    )
    [finding] = [f for f in findings if f.rule == "k8s-schema"]
    assert finding.file == "clusters/dev/app.yaml"
    assert "Deployment team/app-app (app/templates/deployment.yaml) at spec.template.spec.containers.0.image" in finding.message


def test_policy_resources_probes_and_pdb(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    values = "replicas: 2\nprobes: false\nresources: {limits: null}\n"  # null deletes the chart default
    _, findings = check(make_repo(tmp_path / "r", local_repo.url, env_values=values), make_renderer())
    assert rules(findings) == {"chart-resources-missing", "chart-probes-missing", "chart-pdb-missing"}
    resources = next(f for f in findings if f.rule == "chart-resources-missing")
    assert "container app lacks limits.memory" in resources.message


def test_prod_wants_digests_for_airflow_images(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    repo = make_repo(tmp_path / "r", local_repo.url, env="prod")
    cluster = repo.path("clusters/prod/cluster.yaml")
    pins = "promotion: {pin_images_by_digest: true}\n"
    cluster.write_text(cluster.read_text() + pins + "registry: {account_id: '4', region: r}\nairflow: {image_repository: app}\n")
    values = repo.path("clusters/prod/values/app.yaml")
    values.write_text("image: 4.dkr.ecr.r.amazonaws.com/app:1.0\n")
    _, findings = check(Repo(repo.root), make_renderer())
    assert rules(findings) == {"image-digest-required"}
    values.write_text("image: 4.dkr.ecr.r.amazonaws.com/app:1.0@sha256:" + "a" * 64 + "\n")
    assert check(Repo(repo.root), make_renderer())[1] == []


def test_values_violating_the_chart_schema_point_at_the_values_file(
    tmp_path: Path, local_repo: LocalRepo, make_renderer: Make
) -> None:
    _, findings = check(make_repo(tmp_path / "r", local_repo.url, env_values="replicas: -1\n"), make_renderer())
    [finding] = findings
    assert (finding.rule, finding.file, finding.line) == ("chart-values-schema", "clusters/dev/values/app.yaml", 1)
    assert "/replicas" in finding.message


def test_a_template_calling_fail_is_one_finding(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    _, findings = check(make_repo(tmp_path / "r", local_repo.url, env_values="fail: true\n"), make_renderer())
    [finding] = findings
    assert finding.rule == "chart-render-failed"
    assert "refusing: fail is set" in finding.message


def test_parameters_reach_the_chart_last(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    repo = make_repo(
        tmp_path / "r", local_repo.url, parameters=[{"name": "replicas", "value": "4"}], valuesObject={"replicas": 3}
    )
    ctx, _ = check(repo, make_renderer())
    assert ctx.clusters["dev"].chart_objects[0].rendered.obj["spec"]["replicas"] == 4


@pytest.mark.parametrize(("require", "severity"), [(False, Severity.WARNING), (True, Severity.ERROR)])
def test_an_unreachable_chart_is_a_warning_unless_required(
    tmp_path: Path, make_renderer: Make, require: bool, severity: Severity
) -> None:
    _, findings = check(make_repo(tmp_path / "r", "http://127.0.0.1:9/charts"), make_renderer(), require)
    [finding] = findings
    assert (finding.rule, finding.severity, finding.file) == ("chart-not-rendered", severity, "clusters/dev/app.yaml")
    assert finding.message.startswith("[dev/app] app 1.0.0 is not in the chart cache")


def test_a_corrupt_cached_archive_is_one_finding(tmp_path: Path, make_renderer: Make) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "app-1.0.0.tgz").write_bytes(b"not a chart")
    _, findings = check(make_repo(tmp_path / "r", "http://127.0.0.1:9/charts"), make_renderer(cache))
    [finding] = findings
    assert finding.rule == "chart-load-failed"
    assert "delete" in finding.fix


def _registry_repo(root: Path, repo_url: str, env: str, pins_by_digest: bool, image: str, pending: str = "") -> Repo:
    repo = make_repo(root, repo_url, env=env, env_values=f"image: {image}\n")
    cluster = repo.path(f"clusters/{env}/cluster.yaml")
    promotion = f"promotion: {{pin_images_by_digest: {str(pins_by_digest).lower()}{pending}}}\n"
    cache = "pull_through_cache: {quay: quay.io}"
    cluster.write_text(cluster.read_text() + promotion + f"registry: {{account_id: '4', region: r, {cache}}}\n")
    return Repo(repo.root)


DIGEST = "@sha256:" + "b" * 64


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_an_image_from_outside_the_registry_account_is_reported_at_its_values_line(
    tmp_path: Path, local_repo: LocalRepo, make_renderer: Make, env: str
) -> None:
    repo = _registry_repo(tmp_path / "r", local_repo.url, env, False, "quay.io/app/app:1.0")
    [finding] = check(repo, make_renderer())[1]
    assert (finding.rule, finding.file, finding.line) == ("image-registry", f"clusters/{env}/values/app.yaml", 1)
    assert "runs quay.io/app/app:1.0, which is not in the registry account's ECR (4.dkr.ecr.r.amazonaws.com)" in finding.message
    assert "4.dkr.ecr.r.amazonaws.com/quay/..." in finding.fix


def test_the_pull_through_cache_and_own_repositories_pass(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    repo = _registry_repo(tmp_path / "r", local_repo.url, "prod", True, f"4.dkr.ecr.r.amazonaws.com/quay/app/app:1.0{DIGEST}")
    assert check(repo, make_renderer())[1] == []


def test_every_container_needs_a_digest_where_the_environment_pins_by_digest(
    tmp_path: Path, local_repo: LocalRepo, make_renderer: Make
) -> None:
    image = "4.dkr.ecr.r.amazonaws.com/quay/app/app:1.0"
    _, findings = check(_registry_repo(tmp_path / "p", local_repo.url, "staging", True, image), make_renderer())
    [finding] = findings
    assert (finding.rule, finding.severity, finding.file, finding.line) == (
        "image-digest-required", Severity.ERROR, "clusters/staging/values/app.yaml", 1,
    )  # fmt: skip
    assert "container app runs 4.dkr.ecr.r.amazonaws.com/quay/app/app:1.0, pinned by tag only" in finding.message
    assert check(_registry_repo(tmp_path / "d", local_repo.url, "dev", False, image), make_renderer())[1] == []


def test_an_image_whose_digest_is_pending_is_a_warning(tmp_path: Path, local_repo: LocalRepo, make_renderer: Make) -> None:
    pending = ", digest_pending: [4.dkr.ecr.r.amazonaws.com/quay/app/app]"
    image = "4.dkr.ecr.r.amazonaws.com/quay/app/app:1.0"
    [finding] = check(_registry_repo(tmp_path / "r", local_repo.url, "prod", True, image, pending), make_renderer())[1]
    assert (finding.rule, finding.severity) == ("image-digest-required", Severity.WARNING)
    assert "promotion.digest_pending" in finding.message
