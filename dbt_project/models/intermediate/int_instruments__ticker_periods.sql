{#-
    When each ticker of an instrument counts as the instrument: from its ticker change (or, without one, its first
    clean day or minute bar: a pipeline may load minute files alone) until the next ticker's start. A ticker reused
    later by another company does not count then.
-#}
{{ config(materialized='view') }}

with

tickers as (

    select * from {{ ref('int_instruments__tickers') }}

),

clean_bar_dates as (

    select
        ticker,
        trade_date
    from {{ ref('int_day_aggs__checked') }}
    where quarantine_reason is null
    union all
    select
        ticker,
        first_trade_date as trade_date
    from {{ ref('int_minute_aggs__first_dates') }}

),

first_bars as (

    select
        ticker,
        min(trade_date) as first_trade_date
    from clean_bar_dates
    group by ticker

),

starts as (

    select
        tickers.instrument_ticker,
        tickers.traded_ticker,
        coalesce(tickers.changed_on, first_bars.first_trade_date) as valid_from
    from tickers
    left join first_bars on tickers.traded_ticker = first_bars.ticker

)

select
    instrument_ticker,
    traded_ticker,
    valid_from,
    lead(valid_from) over (partition by instrument_ticker order by valid_from) as valid_until
from starts
where valid_from is not null
