"""Stage 4 (contracts): one source per fact. Every value that follows from clusters/<env>/cluster.yaml is
derived from it or checked against it, wherever it is written:

- clusters/<env>/facts/cluster-facts.yaml holds exactly what cluster.yaml makes of each fact (cluster-values-mismatch,
  cluster-facts), and every field components/cluster-facts fills from it holds it in the rendered cluster;
- the hostnames lie in the environment's DNS zone, and every environment names the same registry;
- no file of an environment holds another environment's account, region, cluster name or zone
  (cluster-values-mismatch), and none holds its own outside a place `invoke check` ties to cluster.yaml
  (cluster-value-unchecked); no base under apps/ or components/ holds any environment's (env-literal-in-base).

Findings whose fix is a plain replacement carry it (`expected`, `actual`), so a fork can apply them as they come.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from ...charts.values import resolve_path
from ...model import facts, yamlio
from ...model.findings import error
from ...model.repo import ClusterConfig
from ..context import CheckContext, ClusterRender
from .terraform_contracts import block_lines

MISMATCH = "cluster-values-mismatch"
UNCHECKED = "cluster-value-unchecked"
IN_BASE = "env-literal-in-base"
BASES = ("apps/", "components/")
NOT_SCANNED = ("cluster.yaml", "holds.yaml")  # the source itself, and free text


def run(ctx: CheckContext) -> None:
    configs = {env: ctx.repo.cluster(env) for env in ctx.repo.env_folders() if ctx.repo.cluster_file(env) not in ctx.broken_files}
    replacements = _component(ctx)
    for env in ctx.envs:
        config = configs.get(env)
        if config is None:
            continue
        _hostnames(ctx, config)
        data = _facts_file(ctx, config)
        cluster = ctx.clusters.get(env)
        if cluster is not None and data is not None and replacements:
            _derived_fields(ctx, cluster, replacements, data)
    _registry(ctx, configs)
    reported = {(f.file, f.line) for f in ctx.findings}
    for env in ctx.envs:
        if env in configs and env in ctx.clusters:  # unrendered, its bindings are unknown: the render finding comes first
            _environment_files(ctx, env, configs, reported)
    _bases(ctx, configs, reported)


# --- clusters/<env>/facts/cluster-facts.yaml ------------------------------------------------------
def _facts_file(ctx: CheckContext, config: ClusterConfig) -> dict[str, str] | None:
    rel = facts.facts_file(config.env)
    if not ctx.repo.exists(rel):
        ctx.add(
            error(
                "cluster-facts",
                f"clusters/{config.env}/kustomization.yaml",
                f"[{config.env}] there is no {rel}, which components/cluster-facts reads the environment's values from",
                f"create {rel} as {facts.facts_file('dev')} is made, with {config.env}'s values (invoke check names each one)",
            )
        )
        return None
    if rel in ctx.broken_files:
        return None
    found = [
        (index, doc)
        for index, doc in enumerate(ctx.repo.yaml_docs(rel))
        if isinstance(doc, dict)
        and doc.get("kind") == "ConfigMap"
        and (doc.get("metadata") or {}).get("name") == facts.FACTS_NAME
    ]
    if not found:
        ctx.add(
            error(
                "cluster-facts",
                rel,
                f"[{config.env}] no ConfigMap {facts.FACTS_NAME} in the file",
                f"write the facts as {facts.facts_file('dev')} does: a ConfigMap cluster-facts with the values under data",
                1,
            )
        )
        return None
    index, doc = found[0]
    text = ctx.repo.text(rel)
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(facts.LOCAL_CONFIG, "")).lower() != "true":
        ctx.add(
            error(
                "cluster-facts",
                rel,
                f'[{config.env}] {facts.FACTS_NAME} lacks the annotation {facts.LOCAL_CONFIG}: "true", so it would be applied to the cluster',
                f'annotate it with {facts.LOCAL_CONFIG}: "true" (kustomize then keeps it out of the output)',
                yamlio.line_of(text, ["metadata"], index),
            )
        )
    data = doc.get("data") or {}
    data = data if isinstance(data, dict) else {}
    for key, value in facts.facts(config).items():
        if key not in data:
            ctx.add(
                error(
                    "cluster-facts",
                    rel,
                    f"[{config.env}] no {key} under data; components/cluster-facts needs it",
                    f"add {key}: {value} under data (from {config.file})",
                    yamlio.line_of(text, ["data"], index),
                )
            )
            continue
        actual = yamlio.scalar_str(data[key])
        if actual != value:
            line = yamlio.line_of(text, ["data", key], index)
            ctx.add(
                error(
                    MISMATCH,
                    rel,
                    f"[{config.env}] {key} is {actual!r}, but cluster.yaml makes it {value!r}",
                    f"set {key}: {value} (derived from {config.file})",
                    line,
                    expected=value,
                    actual=actual if ctx.line_holds(rel, line, actual) else None,
                )
            )
    for key in sorted(set(map(str, data)) - set(facts.facts(config))):
        ctx.add(
            error(
                "cluster-facts",
                rel,
                f"[{config.env}] {key} is not a fact invoke check knows, so nothing proves it",
                f"remove {key}, or derive it in scripts/airflow_gitops/model/facts.py so that check proves it",
                yamlio.line_of(text, ["data", key], index),
            )
        )
    return {str(k): yamlio.scalar_str(v) for k, v in data.items()}


# --- the fields components/cluster-facts fills --------------------------------------------------
@dataclass(frozen=True)
class Replacement:
    key: str  # the fact, a key under data of cluster-facts.yaml
    group: str | None
    kind: str
    name: str | None
    field_path: str  # kustomize's syntax: dots, '*' for every item, [field=value], [dotted.key]


def _component(ctx: CheckContext) -> list[Replacement]:
    rel = f"{facts.COMPONENT_DIR}/kustomization.yaml"
    if not ctx.repo.exists(rel) or rel in ctx.broken_files:
        return []
    doc = ctx.repo.yaml_doc(rel) or {}
    found = []
    for item in doc.get("replacements") or [] if isinstance(doc, dict) else []:
        source = (item or {}).get("source") or {}
        path = str(source.get("fieldPath", ""))
        if source.get("name") != facts.FACTS_NAME or not path.startswith("data."):
            continue
        for target in item.get("targets") or []:
            select = (target or {}).get("select") or {}
            for field_path in target.get("fieldPaths") or []:
                found.append(
                    Replacement(path[5:], select.get("group"), str(select.get("kind", "")), select.get("name"), str(field_path))
                )
    return found


def _path_parts(field_path: str) -> list[str]:
    return re.findall(r"\[[^\]]*\]|[^.]+", field_path)


def field_values(node: Any, field_path: str) -> Iterator[tuple[list[str | int], Any]]:
    """Every (path, value) a kustomize replacement fieldPath reaches in an object."""

    def walk(current: Any, parts: list[str], path: list[str | int]) -> Iterator[tuple[list[str | int], Any]]:
        if not parts:
            yield path, current
            return
        part, rest = parts[0], parts[1:]
        if isinstance(current, list):
            if part == "*":
                for index, item in enumerate(current):
                    yield from walk(item, rest, [*path, index])
            elif part.isdigit() and int(part) < len(current):
                yield from walk(current[int(part)], rest, [*path, int(part)])
            elif part.startswith("[") and "=" in part:
                field, _, wanted = part[1:-1].partition("=")
                for index, item in enumerate(current):
                    if isinstance(item, dict) and str(item.get(field)) == wanted:
                        yield from walk(item, rest, [*path, index])
        elif isinstance(current, dict):
            key = part[1:-1] if part.startswith("[") and part.endswith("]") else part
            if key in current:
                yield from walk(current[key], rest, [*path, key])

    yield from walk(node, _path_parts(field_path), [])


def _derived_fields(ctx: CheckContext, cluster: ClusterRender, replacements: list[Replacement], data: dict[str, str]) -> None:
    """Each field the component fills holds the facts file's value: a patch that overrides one, or a cluster
    that does not list the component, leaves a value nothing derives."""
    wanted = facts.facts(cluster.config)
    own = f"clusters/{cluster.env}/"
    for rule in replacements:
        current = data.get(rule.key)
        if current is None:
            continue  # the facts check names the missing key
        for obj in cluster.objects:
            if obj.kind != rule.kind or (rule.name and obj.name != rule.name) or (rule.group and obj.group != rule.group):
                continue
            for path, value in field_values(obj.obj, rule.field_path):
                if yamlio.scalar_str(value) == current:
                    continue
                file, line = ctx.locate(obj, path)
                dotted = ".".join(map(str, path))
                if file.startswith(own):
                    fix = f"remove {dotted} from {file}: components/cluster-facts writes it from {facts.facts_file(cluster.env)}"
                elif obj.app:
                    fix = (
                        f"list {facts.COMPONENT_DIR} under components, and clusters/{cluster.env}/{facts.FACTS_DIR} under "
                        f"resources, in the kustomization of Application {obj.app}'s manifests folder"
                    )
                else:
                    fix = f"list ../../{facts.COMPONENT_DIR} under components in clusters/{cluster.env}/kustomization.yaml"
                literal = file.startswith(own) and isinstance(value, str) and ctx.line_holds(file, line, value)
                ctx.add(
                    error(
                        MISMATCH,
                        file,
                        f"[{cluster.env}] {obj.label()} {dotted} is {value!r}, not {rule.key} of cluster-facts.yaml ({current!r})",
                        fix,
                        line,
                        expected=wanted.get(rule.key, current),
                        actual=value if literal else None,
                    )
                )


# --- hostnames and the registry -----------------------------------------------------------------
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


def _hostnames(ctx: CheckContext, config: ClusterConfig) -> None:
    zone = str(config.get("dns.zone") or "")
    if not zone:
        return
    text = ctx.repo.text(config.file)
    host = str(config.get("airflow.hostname") or "")
    if host and not facts.in_zone(host, zone):
        moved = facts.moved_into_zone(host, zone)
        ctx.add(
            error(
                "hostname-outside-zone",
                config.file,
                f"[{config.env}] airflow.hostname {host} is not in dns.zone {zone}: external-dns publishes only names in "
                "its zone, and the login callback would name a host nobody can reach",
                f"set airflow.hostname: {moved} (a name in {zone}), or correct dns.zone",
                yamlio.line_of(text, ["airflow", "hostname"]),
                expected=moved,
                actual=host,
            )
        )
    server = str(config.get("argocd.server") or "")
    argocd = facts.argocd_host(config)
    if argocd and not _is_ip(argocd) and not facts.in_zone(argocd, zone):
        moved = server.replace(argocd, facts.moved_into_zone(argocd, zone), 1)
        ctx.add(
            error(
                "hostname-outside-zone",
                config.file,
                f"[{config.env}] argocd.server {server} is not in dns.zone {zone}; Argo CD's domain (global.domain) "
                "follows it, and the environment's names live in its zone",
                f"set argocd.server: {moved}, or correct dns.zone",
                yamlio.line_of(text, ["argocd", "server"]),
                expected=moved,
                actual=server,
            )
        )


def _registry(ctx: CheckContext, configs: dict[str, ClusterConfig]) -> None:
    """Every environment names the one registry; the shared registry stack reads the first by name."""
    named = {env: c.get("registry") for env, c in configs.items() if isinstance(c.get("registry"), dict)}
    if len(named) < 2:
        return
    first = sorted(named)[0]
    for env in ctx.envs:
        if env not in named or env == first:
            continue
        for key in ("account_id", "region"):
            want, have = named[first].get(key), named[env].get(key)
            if want is None or str(have) == str(want):
                continue
            rel = configs[env].file
            line = yamlio.line_of(ctx.repo.text(rel), ["registry", key])
            ctx.add(
                error(
                    "registry-mismatch",
                    rel,
                    f"[{env}] registry.{key} is {have!r}, but {configs[first].file} names {want!r}; there is one registry, "
                    "which CI pushes to and every environment pulls from",
                    f"set registry.{key}: {want!r}",
                    line,
                    expected=str(want),
                    actual=str(have) if have is not None and ctx.line_holds(rel, line, str(have)) else None,
                )
            )


# --- values where they do not belong ---------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    key: str  # the cluster.yaml key: aws.account_id, aws.region, cluster.name or dns.zone
    value: str
    start: int
    owner: str  # the environment the value belongs to


def _bounded(text: str, value: str) -> Iterator[int]:
    """Where `value` occurs as a whole: no letter or digit right before or after it."""
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        if (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            yield start
        start = text.find(value, start + 1)


def _spans(text: str, protected: list[str]) -> list[tuple[int, int]]:
    spans = []
    for value in protected:
        spans += [(i, i + len(value)) for i in _bounded(text, value)]
    return spans


def _free(spans: list[tuple[int, int]], start: int, length: int) -> bool:
    return not any(a < start + length and start < b for a, b in spans)


def find_values(text: str, wanted: dict[str, dict[str, str]], protected: list[str]) -> list[Hit]:
    """Occurrences of the environments' distinctive values (wanted: env -> key -> value) outside protected text."""
    spans = _spans(text, protected)
    hits = []
    for owner, values in wanted.items():
        for key, value in values.items():
            if not facts.distinctive(value):
                continue
            hits += [Hit(key, value, i, owner) for i in _bounded(text, value) if _free(spans, i, len(value))]
    return sorted(hits, key=lambda h: h.start)


def _foreign(config: ClusterConfig, configs: dict[str, ClusterConfig]) -> dict[str, dict[str, str]]:
    """Other environments' values that are not also this one's (two environments may share an account or region)."""
    own = facts.identity(config)
    return {
        env: {k: v for k, v in facts.identity(other).items() if v != own.get(k)}
        for env, other in configs.items()
        if env != config.env
    }


def _replace_hits(text: str, hits: list[Hit], own: dict[str, str]) -> str | None:
    out = text
    for hit in sorted(hits, key=lambda h: -h.start):
        if hit.key not in own:
            return None
        out = out[: hit.start] + own[hit.key] + out[hit.start + len(hit.value) :]
    return out


def _bound_positions(ctx: CheckContext, env: str) -> set[tuple[str, tuple[str | int, ...]]]:
    """(values file, path) of every value a catalog binding ties to cluster.yaml."""
    bound: set[tuple[str, tuple[str | int, ...]]] = set()
    cluster = ctx.clusters.get(env)
    for release in cluster.releases if cluster else []:
        entry = ctx.schemas.chart(release.source.chart)
        if entry is None:
            continue
        for rel in release.merged.files:
            docs = ctx.repo.yaml_docs(rel) if rel not in ctx.broken_files else []
            for dotted in entry.bindings:
                path, complete = resolve_path(docs[0] if docs else None, dotted)
                if complete:
                    bound.add((rel, tuple(path)))
    return bound


def _environment_files(
    ctx: CheckContext, env: str, configs: dict[str, ClusterConfig], reported: set[tuple[str, int | None]]
) -> None:
    config = configs[env]
    own = facts.identity(config)
    foreign = _foreign(config, configs)
    masks = [config.registry]
    bound = _bound_positions(ctx, env)
    prefix = f"clusters/{env}/"
    for rel in ctx.repo.tracked_files:
        if not rel.startswith(prefix) or not rel.endswith((".yaml", ".yml")) or rel in ctx.broken_files:
            continue
        if (rel.rsplit("/", 1)[1] in NOT_SCANNED and rel.count("/") == 2) or rel == facts.facts_file(env):
            continue  # the checked facts file is proven key by key above
        for node in ctx.repo.yaml_nodes(rel):
            for path, scalar in yamlio.scalars(node):
                _scan_scalar(ctx, env, rel, path, scalar, own, foreign, masks, (rel, path) in bound, reported)
    for rel in ctx.repo.tracked_files:
        if rel.startswith(f"terraform/stacks/{env}/") and rel.endswith(".tf") and rel not in ctx.broken_files:
            _scan_terraform(ctx, env, rel, own, foreign, reported)


def _scan_scalar(
    ctx: CheckContext,
    env: str,
    rel: str,
    path: tuple[str | int, ...],
    scalar: yaml.ScalarNode,
    own: dict[str, str],
    foreign: dict[str, dict[str, str]],
    masks: list[str],
    bound: bool,
    reported: set[tuple[str, int | None]],
) -> None:
    text = str(scalar.value)
    if not text:
        return
    dotted = ".".join(map(str, path))
    hits = find_values(text, foreign, masks + list(own.values()))
    if hits:
        single = "\n" not in text and scalar.style not in ("|", ">")
        first = hits[0]
        line = yamlio.scalar_line(scalar, 0 if single else first.start)
        if (rel, line) in reported:
            return
        reported.add((rel, line))
        if single:
            expected, actual = _replace_hits(text, hits, own), text
        else:
            expected, actual = own.get(first.key), first.value
        ctx.add(
            error(
                MISMATCH,
                rel,
                f"[{env}] {dotted}: {first.value!r} is {first.owner}'s {first.key}, not {env}'s ({own.get(first.key, 'unset')!r})",
                f"write {env}'s value: {expected}" if expected else f"set {first.key} in {ctx.repo.cluster_file(env)}",
                line,
                expected=expected,
                actual=actual if expected and ctx.line_holds(rel, line, actual) else None,
            )
        )
        return
    if bound:
        return
    mine = find_values(text, {env: own}, masks)
    if mine:
        line = yamlio.scalar_line(scalar, mine[0].start)
        if (rel, line) in reported:
            return
        reported.add((rel, line))
        ctx.add(
            error(
                UNCHECKED,
                rel,
                f"[{env}] {dotted} holds {mine[0].value!r}, cluster.yaml's {mine[0].key}, where nothing ties it to cluster.yaml: "
                f"a change of {mine[0].key} would leave it behind",
                "bind the value path in schemas/catalog.yaml (bindings), or take the value from "
                f"{facts.facts_file(env)} through {facts.COMPONENT_DIR}",
                line,
            )
        )


_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|(#|//)')


def code_of(line: str) -> str:
    """An HCL line without its comment (a # or // outside a string)."""
    for match in _COMMENT.finditer(line):
        if match.group(1):
            return line[: match.start()]
    return line


def _scan_terraform(
    ctx: CheckContext,
    env: str,
    rel: str,
    own: dict[str, str],
    foreign: dict[str, dict[str, str]],
    reported: set[tuple[str, int | None]],
) -> None:
    text = ctx.repo.text(rel)
    backend = block_lines(text, r'backend\s+"s3"') or (0, -1)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = code_of(raw)
        if (rel, number) in reported:
            continue
        hits = find_values(line, foreign, list(own.values()))
        if hits:
            hit = hits[0]
            reported.add((rel, number))
            ctx.add(
                error(
                    MISMATCH,
                    rel,
                    f"[{env}] {hit.value!r} is {hit.owner}'s {hit.key}, not {env}'s ({own.get(hit.key, 'unset')!r})",
                    f"read it from local.cluster ({ctx.repo.cluster_file(env)}), or write {env}'s value",
                    number,
                    expected=own.get(hit.key),
                    actual=hit.value if hit.key in own else None,
                )
            )
            continue
        if backend[0] <= number <= backend[1]:
            continue  # a backend block holds literals; terraform-backend checks each one
        mine = find_values(line, {env: own}, [])
        if mine:
            reported.add((rel, number))
            ctx.add(
                error(
                    UNCHECKED,
                    rel,
                    f"[{env}] {mine[0].value!r} (cluster.yaml's {mine[0].key}) is written out, so a change of it would leave this behind",
                    f"read it from local.cluster, e.g. local.cluster.{mine[0].key}",
                    number,
                )
            )


def _bases(ctx: CheckContext, configs: dict[str, ClusterConfig], reported: set[tuple[str, int | None]]) -> None:
    """A base is every environment's: no environment's account, region, cluster name or zone in it."""
    everyone = {env: facts.identity(c) for env, c in configs.items()}
    masks = sorted({c.registry for c in configs.values()})
    for rel in ctx.repo.tracked_files:
        if not rel.startswith(BASES) or not rel.endswith((".yaml", ".yml")) or rel in ctx.broken_files:
            continue
        for node in ctx.repo.yaml_nodes(rel):
            for path, scalar in yamlio.scalars(node):
                hits = find_values(str(scalar.value), everyone, masks)
                if not hits:
                    continue
                line = yamlio.scalar_line(scalar, hits[0].start)
                if (rel, line) in reported:
                    continue
                reported.add((rel, line))
                ctx.add(
                    error(
                        IN_BASE,
                        rel,
                        f"{'.'.join(map(str, path))}: {hits[0].value!r} is {hits[0].owner}'s {hits[0].key}, in a base every "
                        "environment shares",
                        f"take it from clusters/<env>/{facts.FACTS_DIR}/{facts.FACTS_FILE} through {facts.COMPONENT_DIR}, or set it in clusters/<env>/",
                        line,
                    )
                )
