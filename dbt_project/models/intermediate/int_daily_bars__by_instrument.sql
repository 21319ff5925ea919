{#- The clean bars of every ticker an instrument traded under, in its period, under the instrument's ticker. -#}
{{ config(materialized='view') }}

with

checked as (

    select * from {{ ref('int_day_aggs__checked') }}
    where quarantine_reason is null

),

periods as (

    select * from {{ ref('int_instruments__ticker_periods') }}

)

select
    periods.instrument_ticker,
    checked.ticker as traded_ticker,
    checked.trade_date,
    checked.open,
    checked.high,
    checked.low,
    checked.close,
    checked.volume,
    checked.transactions,
    checked.source_key,
    checked.dataset,
    checked.source_etag,
    checked.loaded_at,
    checked.run_id
from checked
inner join periods
    on
        checked.ticker = periods.traded_ticker
        and checked.trade_date >= periods.valid_from
        and (checked.trade_date < periods.valid_until or periods.valid_until is null)
