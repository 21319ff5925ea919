{#-
    One clean daily bar per active configured ticker and session. Incremental: rows loaded since the newest
    load minus the lookback, plus the whole history of a newly configured ticker. The post-hook removes bars
    whose ticker is no longer active or whose source row was corrected away (quarantined or re-published out).
-#}
{{ config(
    materialized='incremental',
    unique_key=['ticker', 'trade_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['ticker', 'trade_date'], 'unique': True},
        {'columns': ['trade_date']},
    ],
    post_hook=[
        "{{ remove_retired_bars(this) }}",
        "{{ apply_timescale_settings(this) }}",
    ],
) }}

with

checked as (

    select * from {{ ref('int_day_aggs__checked') }}
    where quarantine_reason is null

),

active_instruments as (

    select ticker from {{ ref('dim_instruments') }}
    where is_active

),

candidates as (

    select checked.*
    from checked
    where
        checked.ticker in (select active_instruments.ticker from active_instruments)
        {% if is_incremental() %}
            and (
                checked.loaded_at >= {{ lookback_floor(this) }}
                or checked.ticker not in (select distinct ticker from {{ this }})
            )
        {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by ticker, trade_date order by loaded_at desc, source_key asc
        ) as load_rank
    from candidates

)

select
    ticker,
    trade_date,
    open,
    high,
    low,
    close,
    volume,
    transactions,
    source_key,
    source_etag,
    loaded_at,
    run_id
from ranked
where load_rank = 1
