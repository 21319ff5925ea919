{#- One-hour bars of every configured instrument, extended hours included, rolled up from fct_minute_bars. -#}
{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ remove_unsupported_rollup_days(this, ref('fct_minute_bars')) }}",
) }}

{{ rollup_minute_bars(ref('fct_minute_bars'), 3600) }}
