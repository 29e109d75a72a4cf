"""A chart release: one chart source of one Application in one environment, with its merged values."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.rendered import RenderedObject
from .values import ChartSource, MergedValues


@dataclass
class ChartRelease:
    """One chart source of one Application in one environment, with its merged values."""

    app: RenderedObject
    source: ChartSource
    merged: MergedValues

    @property
    def env(self) -> str:
        return self.app.env

    @property
    def readable(self) -> bool:
        """Every value file parsed: a broken one is yaml-syntax's to report, and rules on the values
        would only report what its absence changes."""
        return not self.merged.unreadable
