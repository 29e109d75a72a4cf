from __future__ import annotations

import pytest
import yaml

from airflow_gitops.model import yamlio

TEXT = """\
a: 1
b:
  c:
    - x
    - y: 2
---
kind: Second
spec:
  value: 3
"""


def test_line_of_finds_nested_keys_and_list_items() -> None:
    assert yamlio.line_of(TEXT, ["b", "c", 1, "y"]) == 5
    assert yamlio.line_of(TEXT, ["spec", "value"], doc_index=1) == 9


def test_line_of_stops_at_the_deepest_existing_node() -> None:
    assert yamlio.line_of(TEXT, ["b", "missing", "deeper"]) == 3


def test_error_line_points_at_the_problem() -> None:
    with pytest.raises(yaml.YAMLError) as info:
        yamlio.load_all("a: 1\nb: [unclosed\nc: 2\n")
    assert yamlio.error_line(info.value) == 3


def test_load_all_drops_empty_documents() -> None:
    assert yamlio.load_all("---\n---\na: 1\n") == [{"a": 1}]
