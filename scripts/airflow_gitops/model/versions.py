"""Chart versions as Helm pins them.

Helm reads a chart version as a SemVer constraint: "3.13" is the range 3.13.x and "3" the range
3.x, so only a full MAJOR.MINOR.PATCH version (with an optional pre-release and build, and the
optional leading "v" Helm accepts) names one release.
"""

from __future__ import annotations

import re

_IDENTIFIER = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
EXACT_CHART_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def is_exact_chart_version(version: str) -> bool:
    """A full SemVer version, which Helm pins to one release: 1.2.3, v1.2.3, 1.2.3-rc.1, 1.2.3+build.5."""
    return bool(EXACT_CHART_VERSION.fullmatch(version))
