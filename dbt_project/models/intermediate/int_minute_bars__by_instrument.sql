{#- The clean minute bars of every ticker an instrument traded under, in its period, under the instrument's ticker. -#}
{{ config(materialized='view') }}

{{ bars_under_instruments('int_minute_aggs__checked', [
    'bar_start', 'window_start_ns', 'trade_date', 'market_session', 'open', 'high', 'low', 'close', 'volume',
    'transactions', 'source_key', 'source_etag', 'loaded_at', 'run_id',
]) }}
