{#-
    One clean minute bar per active configured instrument and minute, under the instrument's configured ticker,
    with the part of the day it trades in. Incremental like fct_daily_bars: rows loaded since the newest load minus
    the lookback, plus the whole history of a ticker new to the table and of each instrument whose periods changed
    (int_minute_bars__periods_built);
    the post-hook removes bars nothing supports any more. On TimescaleDB a hypertable on bar_start
    (minute_chunk_interval), compressed by ticker, with continuous aggregates of its 5-minute, 1-hour and
    regular-session daily bars.
-#}
{{ config(
    materialized='incremental',
    unique_key=['ticker', 'bar_start'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=mart_indexes('bar_start'),
    post_hook=[
        "{{ remove_retired_bars(this, 'int_minute_bars__by_instrument', 'bar_start') }}",
        "{{ apply_timescale_settings(this, 'bar_start', var('minute_chunk_interval')) }}",
        "{{ create_minute_aggregates(this) }}",
        {'sql': "{{ pause_minute_aggregate_policies(this) }}", 'transaction': false},
        {'sql': "{{ wait_for_minute_aggregate_policies(this) }}", 'transaction': false},
        {'sql': "{{ refresh_minute_aggregate(this, 'cagg_minute_bars_5m') }}", 'transaction': false},
        {'sql': "{{ refresh_minute_aggregate(this, 'cagg_minute_bars_1h') }}", 'transaction': false},
        {'sql': "{{ refresh_minute_aggregate(this, 'cagg_minute_bars_daily') }}", 'transaction': false},
        {'sql': "{{ resume_minute_aggregate_policies() }}", 'transaction': false},
    ],
) }}

{{ newest_instrument_bars('int_minute_bars__by_instrument', 'bar_start', [
    'bar_start', 'window_start_ns', 'trade_date', 'market_session', 'open', 'high', 'low', 'close', 'volume',
    'transactions', 'instrument_id', 'traded_ticker', 'source_key', 'source_etag', 'loaded_at', 'run_id',
], 'int_minute_bars__periods_built') }}
