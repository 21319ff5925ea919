{#-
    One clean daily bar per active configured instrument and session, under the instrument's configured ticker:
    the bars of its earlier tickers count for their periods (FB before 2022-06-09 for META; traded_ticker says
    which). Incremental: rows loaded since the newest load minus the lookback, plus the whole history of a ticker
    new to the table and of each instrument whose tickers, periods or instrument_id changed since the last build
    (int_daily_bars__periods_built: an instrument renamed, a ticker change, a FIGI from reference data). The
    post-hook removes bars whose instrument is no longer active or whose source row was corrected away (quarantined
    or re-published out).
-#}
{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=mart_indexes('trade_date'),
    post_hook=[
        "{{ remove_retired_bars(this) }}",
        "{{ apply_timescale_settings(this) }}",
    ],
) }}

{{ newest_instrument_bars('int_daily_bars__by_instrument', 'trade_date', [
    'trade_date', 'open', 'high', 'low', 'close', 'volume', 'transactions', 'instrument_id', 'traded_ticker',
    'dataset', 'source_key', 'source_etag', 'loaded_at', 'run_id',
], 'int_daily_bars__periods_built') }}
