{#- The clean bars of every ticker an instrument traded under, in its period, under the instrument's ticker. -#}
{{ config(materialized='view') }}

{{ bars_under_instruments('int_day_aggs__checked', [
    'trade_date', 'open', 'high', 'low', 'close', 'volume', 'transactions',
    'source_key', 'dataset', 'source_etag', 'loaded_at', 'run_id',
]) }}
