"""invoke schemas: vendor the schemas `invoke check` needs for every chart version the clusters pin.

Planning (which pins need what) is pure. Vendoring reads each chart archive once, prepares every
file in memory, and only then writes: each folder is staged next to its target and renamed into
place, and the catalog records the new CRD versions last. A chart that publishes no values schema
(catalog `values_schema: generated`), or one that lists only some values (`values_schema_scope:
partial`), gets one generated from its own values.yaml and templates (values_schema.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..adapters.chart_repository import ChartArchive, ChartRepoError
from ..charts.values import chart_sources
from ..model import yamlio
from ..model.files import replace_folder as swap_in_folder
from ..model.findings import UsageError
from ..model.repo import CLUSTERS_DIR, Repo
from ..model.schemas import CATALOG, NONE, PUBLISHED, VALUES_FILE, VALUES_SCHEMA_KINDS, ChartEntry, parse_catalog
from ..model.versions import is_exact_chart_version
from . import catalog_edit, values_schema
from .values_schema import ChartFiles, GenerationError

VALUES_SCHEMA = VALUES_FILE
SOURCE_NOTE = "SOURCE.md"
LICENCE_ANNOTATIONS = ("artifacthub.io/license", "licenses", "license")
_CHART_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_CRD_NAME_PART = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


class ArchiveSource(Protocol):
    def fetch(self, repo_url: str, chart: str, version: str) -> ChartArchive: ...


# --- planning ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pin:
    """One chart version pinned by the Applications, and the files that pin it."""

    repo_url: str
    chart: str
    version: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Need:
    pin: Pin
    entry: ChartEntry
    values_schema: bool  # vendor values.schema.json
    crds: bool  # vendor the CRDs and record the version in the catalog
    generated: bool = False  # generate a values schema from the chart's values.yaml and templates

    @property
    def needed(self) -> bool:
        return self.values_schema or self.crds or self.generated


def app_files(root: Path, envs: Iterable[str]) -> list[str]:
    return [
        f"{CLUSTERS_DIR}/{env}/apps/{p.name}" for env in envs for p in sorted((root / CLUSTERS_DIR / env / "apps").glob("*.yaml"))
    ]


def pins_of(file: str, docs: Iterable[Any]) -> list[Pin]:
    """The chart sources of the Application patches in one file."""
    pins = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for source in chart_sources(doc):
            if not _CHART_NAME.fullmatch(source.chart):
                raise UsageError(f"{file}: chart '{source.chart}' is not a valid chart name")
            if not is_exact_chart_version(source.version):  # also safe as a folder name
                raise UsageError(
                    f"{file}: targetRevision '{source.version}' of chart {source.chart} is not an exact version; "
                    "Helm would read it as a range; pin one release as MAJOR.MINOR.PATCH, for example 1.2.3"
                )
            pins.append(Pin(source.repo_url, source.chart, source.version, (file,)))
    return pins


def merge_pins(pins: Iterable[Pin]) -> list[Pin]:
    """One pin per (repo, chart, version), naming every file that pins it, in first-seen order."""
    merged: dict[tuple[str, str, str], Pin] = {}
    for pin in pins:
        key = (pin.repo_url.rstrip("/"), pin.chart, pin.version)
        seen = merged.get(key)
        files = pin.files if seen is None else seen.files + tuple(f for f in pin.files if f not in seen.files)
        merged[key] = Pin(key[0], pin.chart, pin.version, files)
    return list(merged.values())


def plan(pins: Iterable[Pin], catalog: dict[str, ChartEntry], exists: Callable[[str], bool], force: bool) -> list[Need]:
    """What each pin needs: exists(rel) says whether a repository path is there."""
    needs = []
    for pin in pins:
        entry = catalog.get(pin.chart)
        if entry is None:
            raise UsageError(
                f"{pin.files[0]}: chart {pin.chart} is not in {CATALOG}; add an entry charts.{pin.chart} "
                f"(repo_url: {pin.repo_url}, values_schema: {PUBLISHED} or {NONE}, crds: if it installs CRDs)"
            )
        if entry.values_schema not in VALUES_SCHEMA_KINDS:
            raise UsageError(
                f"{CATALOG}: charts.{entry.name}.values_schema is '{entry.values_schema}'; use one of {', '.join(VALUES_SCHEMA_KINDS)}"
            )
        if entry.crds is not None and not _FOLDER_NAME.fullmatch(str(entry.crds)):
            raise UsageError(f"{CATALOG}: charts.{entry.name}.crds '{entry.crds}' is not a folder name")
        folder = entry.crd_dir(pin.version)
        needs.append(
            Need(
                pin=pin,
                entry=entry,
                values_schema=entry.values_schema == PUBLISHED and (force or not exists(entry.values_schema_file(pin.version))),
                crds=bool(entry.crds) and (force or folder is None or not exists(folder)),
                generated=entry.generates and (force or not exists(entry.generated_schema_file(pin.version))),
            )
        )
    return needs


# --- reading a chart archive ------------------------------------------------------------------
@dataclass(frozen=True)
class CrdFile:
    name: str  # <group>_<plural>.yaml
    data: bytes
    origin: str  # path inside the archive


@dataclass(frozen=True)
class ChartContents:
    chart_yaml: dict[str, Any]  # every scalar a string
    values_schema: bytes | None
    crds: tuple[CrdFile, ...]
    charts: tuple[ChartFiles, ...] = ()  # values.yaml and templates of the chart, then of each bundled subchart
    values_sha256: str = ""  # of the chart's values.yaml

    @property
    def app_version(self) -> str:
        return str(self.chart_yaml.get("appVersion", ""))

    @property
    def licence(self) -> str | None:
        annotations = self.chart_yaml.get("annotations")
        if isinstance(annotations, dict):
            for key in LICENCE_ANNOTATIONS:
                if annotations.get(key):
                    return str(annotations[key])
        return None


def _wanted_members(tar: tarfile.TarFile, chart: str) -> list[tarfile.TarInfo]:
    top = {f"{chart}/Chart.yaml", f"{chart}/{VALUES_SCHEMA}", f"{chart}/values.yaml"}
    folders = (f"{chart}/crds/", f"{chart}/templates/", f"{chart}/charts/")
    return [m for m in tar.getmembers() if m.isfile() and (m.name in top or m.name.startswith(folders))]


def extract(data: bytes, chart: str, scratch: Path, where: str) -> Path:
    """Unpack the files schemas come from into scratch (tarfile's 'data' filter refuses anything that
    would land outside it); returns scratch/<chart>."""
    try:
        with tarfile.open(fileobj=BytesIO(data), mode="r:gz") as tar:
            tar.extractall(scratch, members=_wanted_members(tar, chart), filter="data")
    except tarfile.FilterError as exc:
        raise UsageError(f"{where}: the archive has an unsafe member ({exc}); refusing to unpack it") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"{where}: not a readable chart archive ({exc})") from exc
    return scratch / chart


def _text_files(folder: Path) -> dict[str, str]:
    """Every UTF-8 file under a folder, by its path relative to the folder's parent."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            out[path.relative_to(folder.parent).as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return out


def _dependency_names(chart_yaml: Any) -> dict[str, str]:
    """Subchart name -> the key its values live under in the parent (its alias, else its name)."""
    deps = chart_yaml.get("dependencies") if isinstance(chart_yaml, dict) else None
    return {str(d["name"]): str(d.get("alias") or d["name"]) for d in deps or [] if isinstance(d, dict) and d.get("name")}


def chart_files(chart_dir: Path, where: str, prefix: tuple[str, ...] = ()) -> list[ChartFiles]:
    """values.yaml and templates of an unpacked chart, then of each subchart in its charts/ (folders,
    or archives unpacked beside them), each under the key its parent gives it."""
    values = chart_dir / "values.yaml"
    found = [
        ChartFiles(
            values.read_text(encoding="utf-8") if values.is_file() else "",
            _text_files(chart_dir / "templates") if (chart_dir / "templates").is_dir() else {},
            prefix,
        )
    ]
    try:
        names = _dependency_names(yaml.load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader))
    except (OSError, yaml.YAMLError):
        names = {}
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return found
    for entry in sorted(charts.iterdir()):
        sub: Path | None = None
        if entry.is_dir() and (entry / "Chart.yaml").is_file():
            sub = entry
        elif entry.is_file() and entry.name.endswith(".tgz"):
            unpacked = charts / f".{entry.name}.unpacked"
            try:
                with tarfile.open(entry, mode="r:gz") as tar:
                    tar.extractall(unpacked, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise UsageError(f"{where}: subchart {entry.name} is not a readable chart archive ({exc})") from exc
            sub = next((d for d in sorted(unpacked.iterdir()) if (d / "Chart.yaml").is_file()), None)
        if sub is None:
            continue
        try:
            name = str(yaml.load((sub / "Chart.yaml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)["name"])
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise UsageError(f"{where}: subchart {entry.name} has no readable Chart.yaml with a name") from exc
        found += chart_files(sub, where, (*prefix, names.get(name, name)))
    return found


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))


def _crd_file_name(doc: dict[str, Any]) -> str | None:
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("names"), dict):
        return None
    group, plural = spec.get("group"), spec["names"].get("plural")
    if not (isinstance(group, str) and isinstance(plural, str)):
        return None
    if not (_CRD_NAME_PART.fullmatch(group) and _CRD_NAME_PART.fullmatch(plural)):
        return None
    return f"{group}_{plural}.yaml"


def crds_in(chart_dir: Path, where: str) -> tuple[CrdFile, ...]:
    """CRDs from crds/ (must be plain YAML) and from templates/ files that are plain YAML."""
    found: dict[str, CrdFile] = {}
    sources = [(p, True) for p in _yaml_files(chart_dir / "crds")] + [(p, False) for p in _yaml_files(chart_dir / "templates")]
    for path, required in sources:
        origin = f"{chart_dir.name}/{path.relative_to(chart_dir).as_posix()}"
        raw = path.read_bytes()
        try:
            docs = yamlio.load_all(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            if required:
                reason = yamlio.error_text(exc) if isinstance(exc, yaml.YAMLError) else str(exc)
                raise UsageError(f"{where}: {origin} is not plain YAML ({reason})") from exc
            continue  # a Helm template: only plain files are read
        crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
        for doc in crds:
            name = _crd_file_name(doc)
            if name is None:
                if required:
                    raise UsageError(
                        f"{where}: a CustomResourceDefinition in {origin} has no valid spec.group and spec.names.plural"
                    )
                continue
            data = raw if len(docs) == 1 else yamlio.dump(doc).encode("utf-8")
            found.setdefault(name, CrdFile(name, data, origin))
    return tuple(found[name] for name in sorted(found))


def read_chart(archive: ChartArchive, scratch: Path) -> ChartContents:
    where = f"{archive.chart} {archive.version} ({archive.url})"
    chart_dir = extract(archive.data, archive.chart, scratch, where)
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise UsageError(f"{where}: the archive has no {archive.chart}/Chart.yaml; is it a Helm chart?")
    try:  # BaseLoader keeps every scalar a string: appVersion 1.10 stays '1.10'
        chart_yaml = yaml.load(chart_file.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: {archive.chart}/Chart.yaml is not YAML ({yamlio.error_text(exc)})") from exc
    if not isinstance(chart_yaml, dict):
        raise UsageError(f"{where}: {archive.chart}/Chart.yaml is not a mapping")
    if (chart_yaml.get("name"), chart_yaml.get("version")) != (archive.chart, archive.version):
        raise UsageError(
            f"{where}: the archive holds {chart_yaml.get('name')} {chart_yaml.get('version')}, "
            f"not {archive.chart} {archive.version}; the repository index is wrong"
        )
    schema_file = chart_dir / VALUES_SCHEMA
    values_file = chart_dir / "values.yaml"
    crds = crds_in(chart_dir, where)
    return ChartContents(
        chart_yaml=chart_yaml,
        values_schema=schema_file.read_bytes() if schema_file.is_file() else None,
        crds=crds,
        charts=tuple(chart_files(chart_dir, where)),
        values_sha256=hashlib.sha256(values_file.read_bytes()).hexdigest() if values_file.is_file() else "",
    )


# --- what to write ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Folder:
    """A folder of the repository, written whole."""

    rel: str
    files: dict[str, bytes]


def source_note(archive: ChartArchive, contents: ChartContents, today: str, what: str, files: list[tuple[str, str]]) -> bytes:
    licence = contents.licence or "not stated in the chart's Chart.yaml annotations"
    lines = [
        f"# Source: {archive.chart} {archive.version}, {what}",
        "",
        f"This folder was retrieved by invoke schemas on {today}. Do not edit it by hand;",
        "`invoke schemas --force` writes it again from the chart archive.",
        "",
        f"- Repository: {archive.repo_url}",
        f"- Chart: {archive.chart}",
        f"- Version: {archive.version}",
        f"- App version: {contents.app_version or 'not set'}",
        f"- Archive: {archive.url}",
        f"- Archive sha256: `{archive.sha256}`",
        f"- Licence: {licence}",
        f"- Retrieved: {today}",
        "",
        "| file | from the archive |",
        "| --- | --- |",
        *(f"| {local} | `{origin}` |" for local, origin in files),
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def generated_schema(entry: ChartEntry, archive: ChartArchive, contents: ChartContents) -> bytes:
    """The schema generated from the chart's values.yaml and templates, as the file is written."""
    if not contents.charts or not contents.charts[0].values.strip():
        raise UsageError(
            f"{archive.chart} {archive.version}: the archive has no {archive.chart}/values.yaml to generate a values "
            f"schema from; set charts.{archive.chart}.values_schema: {NONE} in {CATALOG}"
        )
    title = f"{archive.chart} {archive.version} values (generated from its values.yaml; not published by the chart)"
    try:
        schema = values_schema.generate(contents.charts, entry.free_form_values, title)
    except GenerationError as exc:
        raise UsageError(f"{archive.chart} {archive.version}: cannot generate a values schema: {exc}") from exc
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def generated_folder(need: Need, archive: ChartArchive, contents: ChartContents, today: str) -> Folder:
    """The generated schema and a SOURCE note that says it is generated, from what, and how to make it again."""
    entry, chart = need.entry, archive.chart
    schema = generated_schema(entry, archive, contents)
    licence = contents.licence or "not stated in the chart's Chart.yaml annotations"
    subcharts = [c for c in contents.charts if c.prefix]
    why = (
        f"the schema the chart ships lists only some of its values ({entry.values_schema_file(archive.version)})"
        if entry.values_schema == PUBLISHED
        else "the chart ships no values schema"
    )
    lines = [
        f"# Source: {chart} {archive.version}, values schema GENERATED from the chart's values.yaml",
        "",
        f"`{VALUES_FILE}` here is not upstream's: {why}.",
        f"`invoke schemas` generated it on {today} ({values_schema.GENERATOR}) from the chart archive, so that",
        "`invoke check` reports a value the chart does not know (helm-values-unknown-key, with the closest",
        "key it does know). Do not edit it by hand.",
        "",
        f"- Repository: {archive.repo_url}",
        f"- Chart: {chart}",
        f"- Version: {archive.version}",
        f"- App version: {contents.app_version or 'not set'}",
        f"- Archive: {archive.url}",
        f"- Archive sha256: `{archive.sha256}`",
        f"- values.yaml sha256: `{contents.values_sha256}`",
        f"- Licence: {licence}",
        f"- Generated: {today}",
        "",
        "## How",
        "",
        f"- The values are those of `{chart}/values.yaml`, each typed by its default (any type where the default",
        '  is null; a string, number or boolean where it is ""), plus the keys its comments document and the',
        f'  keys its {sum(len(c.templates) for c in contents.charts)} template files read. Every value may be null (Helm\'s "remove the default").',
        "- Every mapping is closed (`additionalProperties: false`) except the free-form ones: a mapping a template",
        "  hands on whole (`toYaml`, `tpl`, `omit`, `range $key, $value`, `with` then `toYaml .`), an empty mapping",
        "  (`annotations: {}`), a Kubernetes field by its name (`resources`, `affinity`, `env`, `securityContext`,",
        "  `*Annotations`, `*Labels`, ...), and what the catalog names.",
    ]
    if subcharts:
        lines.append(
            "- Bundled subcharts, under their keys: "
            + ", ".join(f"`{'.'.join(c.prefix)}`" for c in subcharts)
            + " (their values.yaml and templates, the same way)."
        )
    free = ", ".join(f"`{p}`" for p in entry.free_form_values) or "none"
    lines += [
        f"- Left open by `free_form_values` of charts.{chart} in {CATALOG}: {free}.",
        "",
        "## Generate it again",
        "",
        f"`invoke schemas` generates it for every new pinned version (so a Renovate bump of {chart} gets its own);",
        "`invoke schemas --force` writes it again after a change to the generator or to `free_form_values`.",
        f"A key {chart} accepts but this schema refuses goes under `free_form_values` of charts.{chart}.",
        "",
    ]
    note = "\n".join(lines).encode("utf-8")
    return Folder(
        str(Path(entry.generated_schema_file(need.pin.version)).parent.as_posix()), {VALUES_FILE: schema, SOURCE_NOTE: note}
    )


def values_folder(need: Need, archive: ChartArchive, contents: ChartContents, today: str) -> Folder:
    if contents.values_schema is None:
        raise UsageError(
            f"{CATALOG}: charts.{archive.chart}.values_schema is {PUBLISHED}, but {archive.chart} {archive.version} "
            f"ships no {archive.chart}/{VALUES_SCHEMA}; set values_schema: generated for it"
        )
    rel = str(Path(need.entry.values_schema_file(need.pin.version)).parent.as_posix())
    note = source_note(archive, contents, today, "chart values schema", [(VALUES_SCHEMA, f"{archive.chart}/{VALUES_SCHEMA}")])
    return Folder(rel, {VALUES_SCHEMA: contents.values_schema, SOURCE_NOTE: note})


def crd_folder(need: Need, archive: ChartArchive, contents: ChartContents, today: str) -> Folder:
    app_version = contents.app_version
    where = f"{archive.chart} {archive.version}"
    if not app_version:
        raise UsageError(
            f"{where}: {archive.chart}/Chart.yaml has no appVersion to name the CRD folder; "
            f"vendor the CRDs by hand and record the version under charts.{archive.chart}.versions in {CATALOG}"
        )
    if not _FOLDER_NAME.fullmatch(app_version) or ".." in app_version:
        raise UsageError(f"{where}: appVersion '{app_version}' cannot name a folder; vendor the CRDs by hand")
    if not contents.crds:
        raise UsageError(
            f"{where}: the archive has no CustomResourceDefinition in crds/ or in plain templates/; "
            f"vendor them by hand into schemas/crds/{need.entry.crds}/<version>/ "
            f"and record the version under charts.{archive.chart}.versions in {CATALOG}"
        )
    files = {crd.name: crd.data for crd in contents.crds}
    files[SOURCE_NOTE] = source_note(
        archive,
        contents,
        today,
        "custom resource definitions",
        [(crd.name, crd.origin) for crd in contents.crds],
    )
    return Folder(f"schemas/crds/{need.entry.crds}/{app_version}", files)


# --- writing ----------------------------------------------------------------------------------
def replace_folder(root: Path, folder: Folder) -> None:
    """Stage the files in a temporary folder next to the target, then rename it into place."""
    target = root / folder.rel

    def fill(staging: Path) -> None:
        for name, data in folder.files.items():
            if Path(name).name != name:
                raise UsageError(f"{folder.rel}: refusing to write '{name}' outside the folder")
            (staging / name).write_bytes(data)

    swap_in_folder(target, fill)


# --- the run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    pin: Pin
    values_schema: str  # vendored, present, not published
    crds: str  # 'vendored <folder>', 'present <folder>', or '-' when the chart installs none
    archive: str  # downloaded, cached, or '-' when nothing was needed


@dataclass
class Prepared:
    folders: dict[str, Folder] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # chart -> chart version -> folder
    outcomes: list[Outcome] = field(default_factory=list)


def load_catalog(repo: Repo) -> dict[str, ChartEntry]:
    if not repo.exists(CATALOG):
        raise UsageError(f"{CATALOG}: missing; it lists the charts whose schemas are vendored")
    try:
        return parse_catalog(repo.yaml_doc(CATALOG))
    except yaml.YAMLError as exc:
        raise UsageError(f"{CATALOG}:{yamlio.error_line(exc) or ''} not valid YAML ({yamlio.error_text(exc)})") from exc
    except (AttributeError, KeyError, TypeError) as exc:
        raise UsageError(f"{CATALOG}: not in the catalog format its header describes ({exc})") from exc


def read_pins(repo: Repo, envs: Iterable[str]) -> list[Pin]:
    pins: list[Pin] = []
    for file in app_files(repo.root, envs):
        try:
            docs = repo.yaml_docs(file)
        except yaml.YAMLError as exc:
            raise UsageError(f"{file}:{yamlio.error_line(exc) or ''} not valid YAML ({yamlio.error_text(exc)})") from exc
        pins.extend(pins_of(file, docs))
    return merge_pins(pins)


def current_plan(repo: Repo, envs: list[str], force: bool) -> list[Need]:
    return plan(read_pins(repo, envs), load_catalog(repo), lambda rel: repo.path(rel).exists(), force)


def _present(need: Need) -> tuple[str, str]:
    values = "not checked" if need.entry.values_schema == NONE else "present"
    folder = need.entry.crd_dir(need.pin.version)
    crds = f"present {folder.rsplit('/', 1)[-1]}" if need.entry.crds and folder else "-"
    return values, crds


def prepare(needs: list[Need], source: ArchiveSource, today: str) -> Prepared:
    """Fetch and read every archive needed; nothing is written yet."""
    prepared = Prepared()
    for need in needs:
        values, crds = _present(need)
        if not need.needed:
            prepared.outcomes.append(Outcome(need.pin, values, crds, "-"))
            continue
        pin = need.pin
        try:
            archive = source.fetch(pin.repo_url, pin.chart, pin.version)
        except ChartRepoError as exc:
            raise UsageError(f"{pin.files[0]}: {pin.chart} {pin.version}: {exc}") from exc
        with tempfile.TemporaryDirectory(prefix="chart-") as scratch:
            contents = read_chart(archive, Path(scratch))
        if need.values_schema:
            folder = values_folder(need, archive, contents, today)
            prepared.folders.setdefault(folder.rel, folder)
            values = "vendored"
        if need.generated:
            folder = generated_folder(need, archive, contents, today)
            prepared.folders.setdefault(folder.rel, folder)
            values = "generated" if need.entry.values_schema != PUBLISHED else f"{values}, generated"
        if need.crds:
            folder = crd_folder(need, archive, contents, today)
            prepared.folders.setdefault(folder.rel, folder)
            name = folder.rel.rsplit("/", 1)[-1]
            prepared.versions.setdefault(pin.chart, {})[pin.version] = name
            crds = f"vendored {name}"
        prepared.outcomes.append(Outcome(pin, values, crds, "cached" if archive.from_cache else "downloaded"))
    return prepared


def vendor(repo: Repo, envs: list[str], force: bool, source: ArchiveSource, today: str) -> list[Outcome]:
    """Vendor what the pins of envs lack (everything with force); returns one outcome per pin."""
    prepared = prepare(current_plan(repo, envs, force), source, today)
    for folder in prepared.folders.values():
        replace_folder(repo.root, folder)
    catalog_edit.record_crd_versions(repo.path(CATALOG), prepared.versions, CATALOG)
    return prepared.outcomes


def still_missing(repo: Repo, envs: list[str]) -> list[Need]:
    """Pins that still lack a schema, read afresh from disk."""
    return [need for need in current_plan(Repo(repo.root), envs, force=False) if need.needed]
