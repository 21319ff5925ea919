{#-
    The configured option contracts, their OCC-style tickers read apart: O:SPY250110C00480000 is a call on SPY
    expiring 2025-01-10 with a strike of 480.000 (the last eight digits are the strike in thousandths).
-#}
with

options as (

    select * from {{ ref('dim_instruments') }}
    where instrument_type = 'option'

)

select
    ticker,
    instrument_id,
    substr(ticker, 3, length(ticker) - 17) as underlying_ticker,
    cast(
        '20' || substr(ticker, length(ticker) - 14, 2)
        || '-' || substr(ticker, length(ticker) - 12, 2)
        || '-' || substr(ticker, length(ticker) - 10, 2) as date
    ) as expiration_date,
    case substr(ticker, length(ticker) - 8, 1) when 'C' then 'call' when 'P' then 'put' end as contract_type,
    cast(right(ticker, 8) as bigint) / 1000.0 as strike_price
from options
