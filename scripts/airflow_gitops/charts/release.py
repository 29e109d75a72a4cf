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
