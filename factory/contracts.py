"""Contract specifications and the one cost model shared by labels and backtests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import Field

from factory._config_base import StrictConfig
from factory.errors import ConfigError

CONTRACTS_FILE = Path(__file__).resolve().parent.parent / "mlproject" / "contracts.yaml"


class ContractSpec(StrictConfig):
    """One futures contract: tick grid, tick value and trading costs."""

    symbol: str
    description: str = ""
    exchange: str = "CME"
    session: str = "cme_globex_equity"
    tick_size: float = Field(gt=0)
    tick_value: float = Field(gt=0)
    commission_per_side: float = Field(ge=0)
    slippage_ticks: float = Field(ge=0)

    @property
    def point_value(self) -> float:
        """USD per 1.0 price point per contract."""
        return self.tick_value / self.tick_size

    def cost_model(self) -> "CostModel":
        return CostModel(
            tick_size=self.tick_size,
            tick_value=self.tick_value,
            commission_per_side=self.commission_per_side,
            slippage_ticks=self.slippage_ticks,
        )


class CostModel(StrictConfig):
    """Round-trip transaction cost of one contract, in USD and in price points.

    ``round_trip_usd = 2 * commission_per_side + 2 * slippage_ticks * tick_value``
    ``round_trip_points = round_trip_usd / point_value`` with ``point_value = tick_value / tick_size``.
    """

    tick_size: float = Field(gt=0)
    tick_value: float = Field(gt=0)
    commission_per_side: float = Field(ge=0)
    slippage_ticks: float = Field(ge=0)

    @property
    def point_value(self) -> float:
        return self.tick_value / self.tick_size

    @property
    def round_trip_usd(self) -> float:
        return 2.0 * self.commission_per_side + 2.0 * self.slippage_ticks * self.tick_value

    @property
    def round_trip_points(self) -> float:
        return self.round_trip_usd / self.point_value

    def cost_in_atr(self, atr_points):
        """Round-trip cost in ATR units: ``round_trip_usd / (atr_points * point_value)``.

        Example: $7.50 round trip with an ATR worth $50 (10 MES points x $5) gives 0.15.
        Accepts scalars or NumPy arrays; a non-positive ATR gives ``inf`` (no trade can clear its cost).
        """
        import numpy as np

        atr = np.asarray(atr_points, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(atr > 0, self.round_trip_points / np.where(atr > 0, atr, 1.0), np.inf)
        return out if out.ndim else float(out)

    @classmethod
    def zero(cls) -> "CostModel":
        return cls(tick_size=1.0, tick_value=1.0, commission_per_side=0.0, slippage_ticks=0.0)


@lru_cache(maxsize=None)
def _load_contracts(path: str) -> dict[str, ContractSpec]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"contracts file not found: {p}")
    raw = yaml.safe_load(p.read_text()) or {}
    return {sym.upper(): ContractSpec.from_dict({"symbol": sym.upper(), **spec}, where=f"contracts.{sym}")
            for sym, spec in raw.items()}


def load_contracts(path: str | Path | None = None) -> dict[str, ContractSpec]:
    return dict(_load_contracts(str(path or CONTRACTS_FILE)))


def get_contract(symbol: str, path: str | Path | None = None) -> ContractSpec:
    contracts = load_contracts(path)
    key = symbol.upper()
    if key not in contracts:
        raise ConfigError(f"unknown contract '{symbol}'; known: {', '.join(sorted(contracts))}")
    return contracts[key]
