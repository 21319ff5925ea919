from pathlib import Path

import pytest

from extract.config import Instrument, Secret, load_config, substitute, validate_ticker
from extract.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_repository_config_loads_twelve_instruments_and_groups():
    cfg = load_config(REPO_CONFIG, {"DUCKDB_PATH": "x.duckdb"})
    assert len(cfg.all_tickers()) == 12
    assert sum(i.type == "etf" for i in cfg.instruments) == 2
    assert cfg.group("etfs") == ["SPY", "QQQ"]
    assert "BRK.B" in cfg.all_tickers()
    assert cfg.pipeline.lookback_days == 10
    assert cfg.s3.endpoint == "https://files.massive.com"
    assert cfg.database.duckdb_path == Path("x.duckdb")


def test_variables_take_environment_then_default():
    env = {"SET": "value"}
    assert substitute("${SET}", env, "f.yml:k") == "value"
    assert substitute("a-${UNSET:-fallback}-b", env, "f.yml:k") == "a-fallback-b"
    assert substitute({"x": ["${SET:-no}"]}, env, "f.yml:") == {"x": ["value"]}


def test_missing_variable_names_file_key_and_variable(config_dir, base_env):
    (config_dir / "s3.yml").write_text("s3:\n  endpoint: ${MY_ENDPOINT}\n  bucket: b\n  prefix: p\n")
    with pytest.raises(ConfigError) as error:
        load_config(config_dir, base_env)
    assert str(error.value) == "s3.yml: key 's3.endpoint' needs environment variable MY_ENDPOINT, which is not set"


@pytest.mark.parametrize(
    "ticker",
    [
        "AAPL",
        "BRK.B",
        "ABRpD",
        "ACAHW",
        "A",
        "BF-B",
        "I:SPX",
        "X:BTCUSD",
        "C:EURUSD",
        "O:SPY251219C00650000",
        "O:F250117P00012500",
        "O:SPXW250110C05900000",
        "O:SPY1250117C00480000",
    ],
)
def test_real_ticker_spellings_are_accepted(ticker):
    assert validate_ticker(ticker) == ticker


@pytest.mark.parametrize(
    "ticker",
    [
        "O:SPY24122C00500000",
        "O:SPY241320C00500000",
        "O:SPY241220X00500000",
        "O:SPY241220C0050000",
        "O:ABCDEFG241220C00500000",
    ],
)
def test_an_option_ticker_that_is_not_an_occ_symbol_is_refused(ticker):
    """dim_option_contracts parses root, expiry, call/put and strike from it: a digit short failed the build."""
    with pytest.raises(ConfigError, match="is not an option ticker .*O:SPY250110C00480000"):
        validate_ticker(ticker, "instruments.yml")


@pytest.mark.parametrize(
    "ticker", ["aapl", "A B", "", "TOOLONGTICKERTOOLONGTICKER1", "X:", "x:BTCUSD", "$SPY", "A;DROP"]
)
def test_invalid_tickers_are_refused(ticker):
    with pytest.raises(ConfigError, match="not a valid ticker"):
        validate_ticker(ticker)


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("pipeline.yml", "pipeline:\n  start_date: 2020-13-01\n", "must be a date"),
        (
            "pipeline.yml",
            "pipeline:\n  dataset: us_stocks_sip/day_aggs_v1\n  start_date: 2020-01-01\n  download_workers: 0\n",
            "key 'download_workers' must be a positive integer, not '0'",
        ),
        (
            "pipeline.yml",
            "pipeline:\n  dataset: us_stocks_sip/day_aggs_v1\n  start_date: 2020-01-01\n  land_scope: some\n",
            "key 'land_scope' must be one of all, configured",
        ),
        (
            "instruments.yml",
            "instruments:\n  - {ticker: aapl, name: n, type: stock, exchange: X, sector: S}\n",
            "'aapl' is not a valid ticker",
        ),
        ("instruments.yml", "instruments:\n  - {name: n}\n", "instruments\\[0\\] is missing ticker"),
        (
            "instruments.yml",
            "instruments:\n  - {ticker: AAPL, name: n, type: stock, exchange: X, sector: S}\ngroups:\n  g: [MSFT]\n",
            "group 'g' names tickers not in instruments: MSFT",
        ),
        ("database.yml", "database: [1]\n", "missing section 'database'"),
        ("s3.yml", "s3: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_says_what_to_fix(config_dir, base_env, file, text, message):
    (config_dir / file).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config_dir, base_env)


def test_unknown_group_lists_the_known_ones(make_config):
    with pytest.raises(ConfigError, match=r"unknown group 'energy' \(groups in instruments.yml: etfs, financials"):
        make_config().group("energy")


def test_missing_config_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config folder '.*nowhere' does not exist"):
        load_config(tmp_path / "nowhere", {})


def test_unknown_target_is_refused(make_config):
    with pytest.raises(ConfigError, match="TBP_TARGET must be one of duckdb, postgres"):
        make_config(TBP_TARGET="oracle")


def test_secrets_never_show_in_reprs(make_config):
    cfg = make_config(POLYGON_S3_SECRET_KEY="s3cr3t-value", DB_PASSWORD="pg-pass-value")
    assert cfg.s3.secret_key.get() == "s3cr3t-value"
    text = repr(cfg) + str(cfg.s3) + cfg.database.postgres.describe()
    assert "s3cr3t-value" not in text and "pg-pass-value" not in text
    assert repr(Secret("x")) == "Secret('***')"


def test_dotenv_is_read_when_present_and_environment_wins(config_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("# comment\nexport DB_NAME=from_dotenv\nDB_USER='dotenv_user'\n")
    cfg = load_config(config_dir, {"DB_USER": "shell_user"}, dotenv=Path(".env"))
    assert cfg.database.postgres.dbname == "from_dotenv"
    assert cfg.database.postgres.user == "shell_user"


def test_environment_problems_are_reported(make_config, tmp_path):
    assert "POLYGON_S3_ACCESS_KEY" in make_config(TBP_SOURCE="s3://flatfiles").validate_environment()[0]
    assert "neither s3://" in make_config(TBP_SOURCE=str(tmp_path / "missing")).validate_environment()[0]
    assert make_config(TBP_SOURCE=str(tmp_path)).validate_environment() == []


def test_a_dotenv_in_the_working_directory_never_reaches_a_caller_that_did_not_ask(config_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TBP_TARGET=postgres\nDB_NAME=leaked\n")
    cfg = load_config(config_dir, {"DUCKDB_PATH": "x.duckdb"})
    assert cfg.target == "duckdb" and cfg.database.postgres.dbname == "tickerbars"


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "pipeline.yml",
            "pipeline:\n  dataset: us_stocks_sip/day_aggs_v1\n  start_date: 2020-01-01\n  lookback_day: 3\n",
            "pipeline.yml: pipeline: unknown key 'lookback_day' (did you mean 'lookback_days'?)",
        ),
        (
            "s3.yml",
            "s3:\n  endpoint: e\n  bucket: b\n  prefix: p\n  secret_kye: x\n",
            "s3.yml: s3: unknown key 'secret_kye' (did you mean 'secret_key'?)",
        ),
        (
            "database.yml",
            "database:\n  duckdb: {path: x}\n  postgres: {dbname: d, user: u, passwrd: p}\n",
            "database.yml: postgres: unknown key 'passwrd' (did you mean 'password'?)",
        ),
        (
            "instruments.yml",
            "instruments:\n  - {ticker: AAPL, name: n, type: stock, exchange: X, sector: S, activ: true}\n",
            "instruments.yml: instruments[0]: unknown key 'activ' (did you mean 'active'?)",
        ),
        (
            "instruments.yml",
            "instruments:\n  - {ticker: AAPL, name: n, type: fund, exchange: X, sector: S}\n",
            "instruments.yml: instruments[0].type is 'fund'; "
            "the models accept stock, etf, index, crypto, forex, option",
        ),
        (
            "pipeline.yml",
            "pipeline:\n  dataset: us_stocks_sip/day_aggs_v1\n  start_date: 2020-01-01\n  min_coverage_pct: 120\n",
            "pipeline.yml: key 'min_coverage_pct' must be a percentage from 0 to 100, not '120'",
        ),
    ],
)
def test_typos_and_values_the_models_refuse_are_named_with_the_way_out(config_dir, base_env, file, text, message):
    (config_dir / file).write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(config_dir, base_env)
    assert str(error.value) == message


def make_variables(folder: Path, **environ: str) -> dict[str, str]:
    """The variables make sees for the repository's Makefile run in folder (make -p prints them)."""
    import os
    import shutil
    import subprocess

    shutil.copy(Path(__file__).resolve().parents[2] / "Makefile", folder / "Makefile")
    printed = subprocess.run(
        ["make", "-pn", "help"], cwd=folder, capture_output=True, text=True, env={"PATH": os.environ["PATH"], **environ}
    ).stdout
    return dict(line.split(" = ", 1) for line in printed.splitlines() if " = " in line and line[:1].isupper())


def test_make_takes_dotenv_for_every_target_and_the_shell_still_wins(tmp_path):
    (tmp_path / ".env").write_text("TBP_TARGET=postgres\nexport DB_NAME='from_dotenv'\n# note\nDB_USER=dotenv_user\n")
    variables = make_variables(tmp_path, DB_USER="shell_user")
    assert (variables["TBP_TARGET"], variables["DB_NAME"], variables["DB_USER"]) == (
        "postgres",
        "from_dotenv",
        "shell_user",
    )
    assert make_variables(tmp_path, TBP_TARGET="duckdb")["TBP_TARGET"] == "duckdb"


def test_make_reads_no_dotenv_when_tbp_dotenv_is_empty(tmp_path):
    (tmp_path / ".env").write_text("TBP_TARGET=postgres\n")
    assert "TBP_TARGET" not in make_variables(tmp_path, TBP_DOTENV="")


@pytest.mark.parametrize("base_url", ["api.massive.com", "htps://api.massive.com", "https://"])
def test_an_api_base_url_that_is_not_an_http_url_is_refused_at_once(config_dir, base_env, base_url):
    # httpx would refuse every request, and each would be retried with backoff: minutes of silence
    with pytest.raises(ConfigError) as error:
        load_config(config_dir, {**base_env, "POLYGON_API_BASE_URL": base_url})
    assert str(error.value) == (
        f"api.yml: key 'base_url' must be an http(s) URL such as https://api.massive.com, not '{base_url}'"
    )


def test_earlier_tickers_come_from_instruments_yml_then_the_ticker_events_and_skip_what_is_no_event():
    """Every extract run reads the fetched ticker events now: a record that is not a JSON object stopped the run."""
    meta = Instrument("META", "Meta", "stock", "XNAS", "Technology", previous_tickers=("FB",))
    records = [
        "[]",
        '"text"',
        '{"events": [{"type": "ticker_change", "ticker_change": {"ticker": "META"}}, "odd", {"ticker_change": 3}]}',
        '{"events": [{"type": "ticker_change", "ticker_change": {"ticker": "FACEBOOK"}}]}',
    ]
    assert meta.earlier_tickers(records) == ["FB", "FACEBOOK"]
