{#- Regular-session daily bars (09:30 to the close, New York) of every configured instrument, from its minute bars. -#}
{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ remove_unsupported_rollup_days(this, ref('fct_minute_bars'), regular_only=true) }}",
) }}

{{ rollup_minute_bars(ref('fct_minute_bars')) }}
