"""The dataset registry and pipeline.yml's choice of datasets."""

from __future__ import annotations

import pytest

from extract.config import load_config
from extract.datasets import registry
from extract.errors import ConfigError

MINUTE = "us_stocks_sip/minute_aggs_v1"


def write_pipeline(config_dir, datasets: str, land_scope: str = "all") -> None:
    (config_dir / "pipeline.yml").write_text(
        f"pipeline:\n  start_date: 2024-01-01\n  land_scope: {land_scope}\n{datasets}"
    )


def test_every_dataset_the_issue_names_is_registered_with_its_shape():
    datasets = registry()
    assert set(datasets) == {
        "us_stocks_sip/day_aggs_v1",
        MINUTE,
        "us_indices/day_aggs_v1",
        "global_crypto/day_aggs_v1",
        "global_forex/day_aggs_v1",
        "us_options_opra/day_aggs_v1",
    }
    assert "volume" not in datasets["us_indices/day_aggs_v1"].columns
    assert datasets[MINUTE].landing_table == "minute_aggs"
    assert (datasets["global_crypto/day_aggs_v1"].calendar, datasets["global_forex/day_aggs_v1"].calendar) == (
        "every_day",
        "sunday_to_friday",
    )


def test_pipeline_lists_datasets_with_their_own_land_scope_and_cache(config_dir, base_env):
    write_pipeline(
        config_dir,
        f"  datasets:\n    - us_stocks_sip/day_aggs_v1\n    - {MINUTE}\n"
        "    - {name: us_indices/day_aggs_v1, land_scope: configured, cache: drop_after_landing}\n",
    )
    day, minute, indices = load_config(config_dir, base_env).pipeline.datasets
    pipeline = load_config(config_dir, base_env).pipeline
    assert [pipeline.land_scope_of(d) for d in (day, minute, indices)] == ["all", "configured", "configured"]
    assert (minute.cache, indices.cache, day.cache) == ("drop_after_landing", "drop_after_landing", "keep")


def test_land_scope_configured_narrows_every_dataset(config_dir, base_env):
    write_pipeline(config_dir, "  datasets: [us_stocks_sip/day_aggs_v1, global_crypto/day_aggs_v1]\n", "configured")
    pipeline = load_config(config_dir, base_env).pipeline
    assert {pipeline.land_scope_of(d) for d in pipeline.datasets} == {"configured"}


def test_the_one_dataset_shorthand_still_reads(config_dir, base_env):
    write_pipeline(config_dir, "  dataset: us_indices/day_aggs_v1\n")
    assert [d.name for d in load_config(config_dir, base_env).pipeline.datasets] == ["us_indices/day_aggs_v1"]


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ("  datasets: [us_stocks_sip/day_aggs_v2]\n", "datasets[0]: unknown dataset 'us_stocks_sip/day_aggs_v2'"),
        ("  datasets: []\n", "key 'datasets' must be a non-empty list"),
        ("  datasets: [us_indices/day_aggs_v1, us_indices/day_aggs_v1]\n", "a dataset is listed twice"),
        ("  datasets:\n    - {name: us_indices/day_aggs_v1, scope: all}\n", "unknown key 'scope'"),
        ("  datasets:\n    - {name: us_indices/day_aggs_v1, cache: forever}\n", "'cache' must be one of keep"),
        ("  dataset: us_indices/day_aggs_v1\n  datasets: [us_indices/day_aggs_v1]\n", "not both"),
    ],
)
def test_a_wrong_dataset_choice_is_one_line_naming_it(config_dir, base_env, datasets, message):
    write_pipeline(config_dir, datasets)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(config_dir, base_env)


def test_configured_tickers_go_to_the_dataset_of_their_asset_class(make_config, config_dir):
    instruments = (config_dir / "instruments.yml").read_text()
    (config_dir / "instruments.yml").write_text(
        instruments.replace(
            "instruments:\n",
            "instruments:\n  - {ticker: X:BTCUSD, type: crypto}\n  - {ticker: I:SPX, type: index}\n",
            1,
        )
    )
    cfg = make_config()
    datasets = registry()
    assert cfg.tickers_of(datasets["global_crypto/day_aggs_v1"]) == {"X:BTCUSD"}
    assert cfg.tickers_of(datasets["us_indices/day_aggs_v1"]) == {"I:SPX"}
    stocks = cfg.tickers_of(datasets[MINUTE])
    assert "AAPL" in stocks and "X:BTCUSD" not in stocks
