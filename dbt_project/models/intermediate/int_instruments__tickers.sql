{#-
    Every ticker a configured instrument has traded under: its own, the previous_tickers of instruments.yml, and
    the ticker changes of the newest ticker-events fetch for it (with the date each ticker took effect).
-#}
{{ config(materialized='view') }}

with

instruments as (

    select * from {{ ref('stg_reference__instruments') }}

),

events as (

    select * from {{ ref('stg_massive__ticker_events') }}
    where event_type = 'ticker_change'

),

-- the newest fetch counts, even one without a ticker change: what it no longer names is withdrawn (as the extractor
-- reads them, and as with the other reference records)
newest_event_fetches as (

    select
        fetched_ticker,
        max(fetch_id) as fetch_id
    from {{ ref('stg_massive__fetches') }}
    where dataset = 'ticker_events'
    group by fetched_ticker

),

own_tickers as (

    select
        ticker as instrument_ticker,
        ticker as traded_ticker,
        cast(null as date) as changed_on
    from instruments

),

configured_previous as (

    select
        ticker as instrument_ticker,
        unnest(string_to_array(previous_tickers, ',')) as traded_ticker,
        cast(null as date) as changed_on
    from instruments
    where previous_tickers is not null

),

event_tickers as (

    select
        instruments.ticker as instrument_ticker,
        events.ticker as traded_ticker,
        events.event_date as changed_on
    from events
    inner join newest_event_fetches on events.fetch_id = newest_event_fetches.fetch_id
    inner join instruments on events.fetched_ticker = instruments.ticker
    where events.ticker is not null

),

all_tickers as (

    select * from own_tickers
    union all
    select * from configured_previous
    union all
    select * from event_tickers

)

select
    instrument_ticker,
    traded_ticker,
    min(changed_on) as changed_on
from all_tickers
group by instrument_ticker, traded_ticker
