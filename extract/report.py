"""`tbp-extract report OUT_DIR`: a coverage heatmap (ticker x month), a close-price chart, and a page showing both."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import date
from pathlib import Path

from extract.config import Config
from extract.errors import WarehouseError
from extract.run import open_warehouse


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def coverage_matrix(bars: list[tuple], loaded_files: list[tuple]) -> tuple[list[str], list[str], list[list]]:
    """Tickers, months, and per ticker and month the % of its dataset's loaded files with a bar (None before its
    first bar). bars: (ticker, dataset, day, close); loaded_files: (dataset, file date). Each dataset counts on its
    own calendar: crypto's every day, stocks' sessions."""
    loaded_by_month: dict[tuple[str, str], int] = defaultdict(int)
    for dataset, day in loaded_files:
        loaded_by_month[(dataset, _month(day))] += 1
    present: dict[tuple[str, str], int] = defaultdict(int)
    first_month: dict[str, str] = {}
    dataset_of: dict[str, str] = {}
    for ticker, dataset, day, _close in bars:
        present[(ticker, _month(day))] += 1
        first_month[ticker] = min(first_month.get(ticker, _month(day)), _month(day))
        dataset_of[ticker] = dataset
    tickers, months = sorted(first_month), sorted({month for _dataset, month in loaded_by_month})
    matrix = [
        [
            _percent(present[(t, m)], loaded_by_month[(dataset_of[t], m)]) if m >= first_month[t] else None
            for m in months
        ]
        for t in tickers
    ]
    return tickers, months, matrix


def _percent(part: int, whole: int) -> float:
    """0 for a month with no file of the dataset at all: its files stopped, and the heatmap shows it."""
    return round(100 * part / whole, 1) if whole else 0.0


def _heatmap(path: Path, tickers: list[str], months: list[str], matrix: list[list]) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    figure, axes = plt.subplots(figsize=(max(6, len(months) * 0.35 + 2), max(3, len(tickers) * 0.35 + 1.5)))
    image = axes.imshow(values, cmap="RdYlGn", vmin=80, vmax=100, aspect="auto")
    axes.set_xticks(range(len(months)), months, rotation=90, fontsize=7)
    axes.set_yticks(range(len(tickers)), tickers, fontsize=8)
    axes.set_title("Days with a bar, % of its dataset's files loaded (ticker x month)")
    figure.colorbar(image, ax=axes, label="coverage %")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _close_chart(path: Path, bars: list[tuple]) -> None:
    import matplotlib.pyplot as plt

    series: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for ticker, day, close in bars:
        series[ticker][0].append(day)
        series[ticker][1].append(close)
    figure, axes = plt.subplots(figsize=(10, 5))
    for ticker, (days, closes) in sorted(series.items()):
        axes.plot(days, closes, linewidth=1, label=ticker)
    axes.set_yscale("log")
    axes.set_ylabel("close (unadjusted, log scale)")
    axes.set_title("Daily close of the configured tickers")
    axes.legend(ncol=6, fontsize=7, loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(cfg: Config, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    try:
        with open_warehouse(cfg, read_only=True) as warehouse:
            bars = warehouse.execute(
                f"select ticker, dataset, trade_date, close from {cfg.database.analytics_schema}.fct_daily_bars "
                "order by ticker, trade_date"
            )
            loaded = warehouse.execute(
                f"select distinct dataset, file_date from {cfg.database.landing_schema}.load_manifest"
            )
    except WarehouseError as exc:
        raise WarehouseError(
            f"cannot read fct_daily_bars from the {cfg.target} warehouse ({exc}): run `make build`"
        ) from None
    if not bars:
        raise WarehouseError("fct_daily_bars is empty: run `make extract build` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    tickers, months, matrix = coverage_matrix(bars, loaded)
    heatmap, chart, page = out_dir / "coverage.png", out_dir / "close.png", out_dir / "index.html"
    _heatmap(heatmap, tickers, months, matrix)
    _close_chart(chart, [(ticker, day, close) for ticker, _dataset, day, close in bars])
    rows = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{min((v for v in row if v is not None), default='')}</td>"
        f"<td>{sum(1 for d in bars if d[0] == t)}</td></tr>"
        for t, row in zip(tickers, matrix, strict=True)
    )
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>tickerbars report</title></head><body>"
        f"<h1>tickerbars report</h1><p>{len(bars)} bars of {len(tickers)} tickers, {months[0]} .. {months[-1]}.</p>"
        "<h2>Coverage</h2><img src='coverage.png' alt='coverage heatmap, ticker by month'>"
        "<table><tr><th>ticker</th><th>lowest monthly coverage %</th><th>bars</th></tr>" + rows + "</table>"
        "<h2>Close</h2><img src='close.png' alt='daily close of the configured tickers'></body></html>"
    )
    return [heatmap, chart, page]
