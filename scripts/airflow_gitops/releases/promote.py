"""Promotion planning: which pins move from one environment to the next, and the refusals.

Everything here is pure: it reads the repository model and returns a plan or raises a UsageError
whose message names what is wrong and how to fix it. The gates that ask ECR, Argo CD and git live in
`release.py`; they call into this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..model.findings import UsageError
from ..model.repo import CLUSTERS_DIR, Repo
from ..upgrades.edit import Change, yaml_path_at_line
from ..upgrades.pins import Pin, collect_file

TRAILERS = (
    "Promoted-App",
    "Promoted-From",
    "Promoted-To",
    "Image-Tag",
    "Image-Digest",
    "Promoted-By",
    "Promotion-Kind",
    "Soak",
    "Smoke-Run",
    "Break-Glass",
    "Gates-Skipped",
)


@dataclass(frozen=True)
class Route:
    app: str
    source: str
    target: str


@dataclass(frozen=True)
class ImageMove:
    source: Pin
    target: Pin

    @property
    def tag(self) -> str:
        return self.source.version

    @property
    def registry_host(self) -> str:
        return self.source.dependency.split("/", 1)[0]

    @property
    def repository(self) -> str:
        """The ECR repository name (the image reference without the registry host)."""
        return self.source.dependency.split("/", 1)[1] if "/" in self.source.dependency else self.source.dependency


@dataclass(frozen=True)
class ChartMove:
    source: Pin
    target: Pin


@dataclass(frozen=True)
class Plan:
    route: Route
    image: ImageMove | None
    charts: list[ChartMove]
    # with --charts: the third-party images of the app's values, which move with its chart
    chart_images: list[ImageMove] = field(default_factory=list)

    def changes(self, digest: str | None, pin_by_digest: bool, image_digests: Mapping[Pin, str] | None = None) -> list[Change]:
        """The pin moves. image_digests: the digest each chart image's tag resolves to in the target's registry."""
        moves: list[Change] = []
        if self.image is not None:
            keep_digest = pin_by_digest or self.image.target.digest is not None
            moves.append(Change(self.image.target, self.image.tag, digest if keep_digest else None))
        moves += [Change(m.target, m.source.version) for m in self.charts]
        for move in self.chart_images:
            keep_digest = pin_by_digest or move.target.digest is not None
            resolved = (image_digests or {}).get(move.source) if keep_digest else None
            moves.append(Change(move.target, move.tag, resolved, inline_digest=True))
        return [m for m in moves if m.moves]


def app_files(env: str, app: str) -> tuple[str, str]:
    return f"{CLUSTERS_DIR}/{env}/apps/{app}.yaml", f"{CLUSTERS_DIR}/{env}/values/{app}.yaml"


def route_pins(repo: Repo, route: Route) -> list[Pin]:
    """The pins of the app's files in the source and target environments: all that a promotion reads."""
    files = dict.fromkeys(f for env in (route.source, route.target) for f in app_files(env, route.app))
    return [pin for file in files if repo.exists(file) for pin in collect_file(repo, file)]


def known_apps(repo: Repo, env: str) -> list[str]:
    prefix = f"{CLUSTERS_DIR}/{env}/apps/"
    return sorted(f[len(prefix) :].rsplit(".", 1)[0] for f in repo.tracked_files if f.startswith(prefix) and f.endswith(".yaml"))


def route(repo: Repo, app: str, to_env: str, from_env: str | None = None) -> Route:
    envs = repo.envs
    if to_env not in envs:
        raise UsageError(f"--to {to_env}: no such environment; choose one of {', '.join(envs)}")
    if from_env is not None and from_env not in envs:
        raise UsageError(f"--from {from_env}: no such environment; choose one of {', '.join(envs)}")
    position = envs.index(to_env)
    if position == 0:
        raise UsageError(
            f"--to {to_env}: {to_env} is the first environment, so nothing promotes into it; change it with invoke bump"
        )
    source = from_env or envs[position - 1]
    if envs.index(source) >= position:
        raise UsageError(
            f"--from {source} --to {to_env}: promotion goes forward ({' → '.join(envs)}); to go back, use invoke rollback"
        )
    for env in (source, to_env):
        if app not in known_apps(repo, env):
            raise UsageError(
                f"--app {app}: no file {app_files(env, app)[0]}; choose one of {', '.join(known_apps(repo, env)) or 'none'}"
            )
    return Route(app, source, to_env)


def cached(dependency: str, prefixes: frozenset[str]) -> bool:
    """An image pulled through the registry's pull-through cache: <registry>/<cache prefix>/<upstream path>."""
    parts = dependency.split("/")
    return len(parts) > 2 and parts[1] in prefixes


def _image_pins(pins: list[Pin], file: str, prefixes: frozenset[str] = frozenset()) -> list[Pin]:
    """The app's own images (built by this repo); third-party images come through the cache and move with the chart."""
    return [
        p
        for p in pins
        if p.file == file and p.manager == "regex" and p.datasource == "docker" and not cached(p.dependency, prefixes)
    ]


def image_move(pins: list[Pin], route: Route, tag: str | None, prefixes: frozenset[str] = frozenset()) -> ImageMove | None:
    source_file, target_file = app_files(route.source, route.app)[1], app_files(route.target, route.app)[1]
    sources = _image_pins(pins, source_file, prefixes)
    if not sources:
        if tag is not None:
            raise UsageError(f"--tag {tag}: {source_file} pins no image of {route.app}; drop --tag")
        return None
    if len(sources) > 1:
        names = ", ".join(p.dependency for p in sources)
        raise UsageError(f"{source_file}: {len(sources)} image pins ({names}); promotion moves one image per app")
    source = sources[0]
    if tag is not None and tag != source.version:
        raise UsageError(
            f"--tag {tag}: {route.source} runs {route.app} {source.version} ({source_file}:{source.line}); only what the source runs "
            f"can be promoted; promote {tag} into {route.source} first, or name the environment that runs it with --from"
        )
    targets = [p for p in _image_pins(pins, target_file, prefixes) if p.dependency == source.dependency]
    if not targets:
        raise UsageError(
            f"{target_file}: no pin of {source.dependency}; add `tag:` under a `# renovate: datasource=docker depName={source.dependency}` comment"
        )
    return ImageMove(source, targets[0])


def chart_moves(pins: list[Pin], route: Route) -> list[ChartMove]:
    source_file, target_file = app_files(route.source, route.app)[0], app_files(route.target, route.app)[0]
    targets = {p.dependency: p for p in pins if p.file == target_file and p.manager == "argocd"}
    moves = []
    for source in (p for p in pins if p.file == source_file and p.manager == "argocd"):
        if source.dependency not in targets:
            raise UsageError(
                f"{target_file}: no source for chart {source.dependency}, which {source_file} pins; add it by hand first"
            )
        moves.append(ChartMove(source, targets[source.dependency]))
    return moves


def _value_path(repo: Repo, pin: Pin) -> tuple[str | int, ...] | None:
    """Where in its values file a pin's tag is: the same image in two environments' files is at the same path."""
    return pin.yaml_path or yaml_path_at_line(repo.yaml_nodes(pin.file)[0], pin.line)


def chart_image_moves(repo: Repo, pins: list[Pin], route: Route, prefixes: frozenset[str]) -> list[ImageMove]:
    """The third-party images of the app's values (through the pull-through cache), source to target by place."""
    source_file, target_file = app_files(route.source, route.app)[1], app_files(route.target, route.app)[1]

    def cached_images(file: str) -> list[Pin]:
        return [p for p in pins if p.file == file and p.datasource == "docker" and cached(p.dependency, prefixes)]

    targets = {(p.dependency, _value_path(repo, p)): p for p in cached_images(target_file)}
    moves = []
    for source in cached_images(source_file):
        path = _value_path(repo, source)
        target = targets.get((source.dependency, path))
        if target is None:
            where = ".".join(str(part) for part in path or ()) or f"line {source.line}"
            raise UsageError(
                f"{target_file}: no pin of {source.dependency} at {where}, which {source_file}:{source.line} has; "
                "add it as the source has it, then run again"
            )
        moves.append(ImageMove(source, target))
    return moves


def cache_prefixes(repo: Repo, env: str) -> frozenset[str]:
    return frozenset(str(p) for p in repo.cluster(env).get("registry.pull_through_cache") or {})


def plan(repo: Repo, pins: list[Pin], route: Route, tag: str | None, charts: bool) -> Plan:
    prefixes = cache_prefixes(repo, route.source)
    image = image_move(pins, route, tag, prefixes)
    moves = chart_moves(pins, route) if charts else []
    images = chart_image_moves(repo, pins, route, prefixes) if charts else []
    if image is None and not charts:
        raise UsageError(
            f"{app_files(route.source, route.app)[1]}: {route.app} has no image pin; promote its chart with --charts"
        )
    return Plan(route, image, moves, images)


def commit_message(
    plan: Plan,
    changes: list[Change],
    digest: str | None,
    who: str,
    kind: str = "promotion",
    extra: Mapping[str, str] | None = None,
) -> str:
    route = plan.route
    verb = "roll back" if kind == "rollback" else "promote"
    what = plan.image.tag if plan.image else ", ".join(f"{m.source.dependency} {m.source.version}" for m in plan.charts)
    lines = [f"{verb} {route.app} {what} to {route.target}", ""]
    lines += [
        f"{c.pin.file}: {c.pin.dependency} {c.pin.version} -> {c.version}{f'@{c.digest}' if c.inline_digest and c.digest else ''}"
        for c in changes
    ]
    trailers = {
        "Promoted-App": route.app,
        "Promoted-From": route.source,
        "Promoted-To": route.target,
        "Image-Tag": plan.image.tag if plan.image else "",
        "Image-Digest": digest or "",
        "Promoted-By": who,
        "Promotion-Kind": kind,
        **{key: " ".join(value.split()) for key, value in (extra or {}).items()},
    }
    lines += [""] + [f"{key}: {value}" for key, value in trailers.items() if value]
    return "\n".join(lines) + "\n"


def branch_name(route: Route, plan: Plan) -> str:
    version = plan.image.tag if plan.image else "-".join(m.source.version for m in plan.charts)
    return f"promote/{route.app}/{route.target}/{version}"
