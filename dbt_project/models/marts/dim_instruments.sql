{#-
    The configured instruments with a stable instrument_id (the composite FIGI of the newest ticker overview where
    the provider gives one, else the configured ticker) and the overview's reference fields. Name, type, exchange
    and sector come from instruments.yml where it gives them, else from the overview.
-#}
with

instruments as (

    select * from {{ ref('stg_reference__instruments') }}

),

overviews as (

    select
        *,
        row_number() over (partition by fetched_ticker order by fetch_id desc) as recency
    from {{ ref('stg_massive__ticker_overviews') }}

),

newest_overviews as (

    select * from overviews
    where recency = 1

)

select
    instruments.ticker,
    coalesce(newest_overviews.composite_figi, instruments.ticker) as instrument_id,
    coalesce(
        nullif(instruments.instrument_name, ''), newest_overviews.instrument_name, instruments.ticker
    ) as instrument_name,
    coalesce(
        nullif(instruments.instrument_type, ''),
        case
            when newest_overviews.ticker_type in ('ETF', 'ETN', 'ETV', 'ETS') then 'etf'
            when newest_overviews.ticker_type is not null then 'stock'
        end,
        -- the provider's asset-class prefix says what a ticker is
        case substr(instruments.ticker, 1, 2)
            when 'I:' then 'index'
            when 'X:' then 'crypto'
            when 'C:' then 'forex'
            when 'O:' then 'option'
            else 'stock'
        end
    ) as instrument_type,
    coalesce(nullif(instruments.exchange, ''), newest_overviews.primary_exchange) as exchange,
    coalesce(nullif(instruments.sector, ''), newest_overviews.sic_description) as sector,
    instruments.is_active,
    instruments.previous_tickers,
    newest_overviews.composite_figi,
    newest_overviews.share_class_figi,
    newest_overviews.list_date,
    newest_overviews.delisted_date,
    newest_overviews.sic_description,
    instruments.updated_at
from instruments
left join newest_overviews on instruments.ticker = newest_overviews.fetched_ticker
