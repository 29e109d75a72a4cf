"""The values schema generated for a chart that publishes none: strict where the chart's values are a
closed set, open where the chart hands a mapping on whole or Kubernetes owns its fields. Small charts
written here; the real archives are not read by any test."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from airflow_gitops.upgrades.values_schema import ChartFiles, documented_keys, generate, template_use

VALUES = """\
# Default values for a small chart.
replicaCount: 1
image:
  repository: example/widget
  tag: ""
  pullPolicy: IfNotPresent
revisionHistoryLimit:
ratio: 0.5
podAnnotations: {}
resources:
  requests:
    cpu: 100m
podSecurityContext:
  runAsNonRoot: true
service:
  type: ClusterIP
  port: 443
  addInjectorAnnotations: true
settings:
  clusterName: ""
  batchMaxDuration: 10s
config:
  log.level: info
extraLabels: []
defaultTags: {}

# Use envFrom to read the environment from a Secret
# envFrom:
#   - secretRef:
#       name: my-secret

commonLabels: {}
# app: widget

probes:
  liveness:
    enabled: true
    # path: /healthz
"""

TEMPLATES = {
    "widget/templates/deployment.yaml": """\
replicas: {{ .Values.replicaCount }}
{{- with .Values.config }}
data:
  {{- toYaml . | nindent 2 }}
{{- end }}
cluster: {{ tpl .Values.settings.clusterName . }}
{{- if .Values.legacy.enabled }}
legacy: {{ .Values.legacy.name }}
{{- end }}
{{- with .Values.probes.liveness }}
path: {{ .path | default "/" }}
{{- end }}
""",
}


def schema(values: str = VALUES, templates: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return generate([ChartFiles(values, TEMPLATES if templates is None else templates)], **kwargs)


def valid(values: dict[str, Any], **kwargs: Any) -> bool:
    return jsonschema.Draft7Validator(schema(**kwargs)).is_valid(values)


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 3, "image": {"tag": "1.2.3", "pullPolicy": None}},
        {"image": {"tag": 5}},  # "" is a placeholder: a number is no typo
        {"revisionHistoryLimit": 3},
        {"revisionHistoryLimit": "3"},  # null default: any type
        {"ratio": 1},
        {"podAnnotations": {"anything": "goes"}},
        {"resources": {"limits": {"memory": "1Gi"}}},  # a Kubernetes field: its default is only an example
        {"podSecurityContext": {"runAsUser": 1000, "fsGroup": 1000}},
        {"config": {"any.key": "value"}},  # rendered whole by `with ... toYaml .`
        {"legacy": {"enabled": True, "name": "old"}},  # read by a template, not in values.yaml
        {"probes": {"liveness": {"path": "/livez"}}},  # documented in a comment, and read inside `with`
        {"envFrom": [{"secretRef": {"name": "s"}}]},  # documented in a comment at the top level
        {"extraLabels": [{"a": "b"}]},
        {"defaultTags": {"team": "data"}},
        {"global": {"imageRegistry": "r"}},  # Helm's globals are always allowed
        {"service": None},  # null removes a default
    ],
)
def test_what_the_chart_knows_is_accepted(values: dict[str, Any]) -> None:
    assert valid(values), jsonschema.Draft7Validator(schema()).iter_errors(values).__next__().message


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCont": 3},
        {"image": {"tags": "1.2.3"}},
        {"replicaCount": "three"},
        {"service": {"type": "ClusterIP", "prot": 443}},
        {"service": {"addInjectorAnnotations": {"x": "y"}}},  # a boolean, though its name ends in Annotations
        {"settings": {"clusterNmae": "a"}},
        {"settings": {"clusterName": {"x": 1}}},  # `tpl` on a string keeps it a string
        {"probes": {"livenes": {}}},
        {"app": "widget"},  # a comment under `commonLabels: {}` is an example of its content, not a key
        {"ratio": "half"},
    ],
)
def test_what_it_does_not_know_is_refused(values: dict[str, Any]) -> None:
    assert not valid(values)


def test_every_mapping_but_the_free_form_ones_is_closed() -> None:
    generated = schema()
    assert generated["type"] == "object" and generated["additionalProperties"] is False
    assert generated["properties"]["image"]["additionalProperties"] is False
    assert generated["properties"]["podAnnotations"] == {}  # by its name: any type
    assert generated["properties"]["defaultTags"] == {"type": ["object", "null"]}  # empty: keys are the user's
    assert generated["properties"]["resources"] == {}
    assert generated["properties"]["config"] == {}
    assert generated["properties"]["replicaCount"] == {"type": ["integer", "null"]}
    assert generated["properties"]["image"]["properties"]["tag"] == {"type": ["string", "number", "boolean", "null"]}


def test_the_catalog_can_open_what_the_rules_do_not_see() -> None:
    assert not valid({"settings": {"extra": 1}})
    assert valid({"settings": {"extra": 1}}, free_form=["settings"])
    assert valid({"image": {"anything": 1}}, free_form=["ima*"])


def test_a_subchart_lives_under_its_key_with_the_parent_defaults_merged() -> None:
    parent = ChartFiles("cache:\n  enabled: false\nglobal:\n  domain: x\n", {})
    sub = ChartFiles(
        "enabled: true\nsize: 1Gi\nglobal:\n  imageRegistry: ''\nextra: {}\n",
        {"cache/templates/cm.yaml": "{{ toYaml .Values.rules }}\n{{ .Values.global.domain }}\n"},
        ("cache",),
    )
    validator = jsonschema.Draft7Validator(generate([parent, sub]))
    assert validator.is_valid({"cache": {"enabled": True, "size": "2Gi", "rules": {"a": 1}, "extra": {"k": "v"}}})
    assert validator.is_valid({"global": {"domain": "y", "imageRegistry": "r"}})
    assert not validator.is_valid({"cache": {"sise": "1Gi"}})
    assert not validator.is_valid({"global": {"domian": "y"}})


def test_templates_name_what_they_read_and_what_they_hand_on_whole() -> None:
    use = template_use(
        {
            "t.yaml": """\
{{- range $key, $value := .Values.configs.params }}{{ $key }}{{ end }}
{{- $cm := omit .Values.configs.cm "create" }}
{{ index .Values.configs.cm "exec.enabled" }}
{{- with .Values.server }}{{ if .enabled }}{{ toYaml .extra }}{{ end }}{{ end }}
{{- with .Values.nodeSelector }}{{ toYaml . }}{{ end }}
{{ .Values.image.tag | quote }}
""",
        }
    )
    assert use.whole == {
        ("configs", "params"),
        ("configs", "cm"),
        ("server", "extra"),
        ("nodeSelector",),
    }
    assert {("configs", "cm", "exec.enabled"), ("server", "enabled"), ("image", "tag")} <= use.read


def test_documented_keys_are_those_at_a_mappings_indentation() -> None:
    text = "a:\n  b: 1\n  # c: 2\n  # not a key\n#  d: 3\n# e:\nf: {}\n# g: x\n"
    assert documented_keys(text) == {("a",): {"c"}, (): {"e"}}


def test_a_values_file_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mapping"):
        generate([ChartFiles("- a\n- b\n")])
