{#- The ticker history of each configured instrument: which ticker it traded under, from when until when. -#}
with

periods as (

    select * from {{ ref('int_instruments__ticker_periods') }}

),

instruments as (

    select * from {{ ref('dim_instruments') }}

)

select
    instruments.instrument_id,
    periods.instrument_ticker as ticker,
    periods.traded_ticker,
    periods.valid_from,
    cast(periods.valid_until - interval '1 day' as date) as valid_to
from periods
inner join instruments on periods.instrument_ticker = instruments.ticker
