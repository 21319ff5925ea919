{#- Splits (forward, reverse, stock dividends) and cash dividends that count, one row per event, with its source. -#}
with

splits as (

    select * from {{ ref('int_splits__checked') }}
    where quarantine_reason is null

),

dividends as (

    select * from {{ ref('int_dividends__checked') }}
    where quarantine_reason is null

),

split_actions as (

    select
        split_id as action_id,
        ticker,
        adjustment_type as action_type,
        execution_date as event_date,
        split_from,
        split_to,
        price_factor,
        cast(null as double precision) as cash_amount,
        cast(null as text) as currency,
        cast(null as date) as pay_date,
        cast(null as integer) as frequency,
        cast(null as text) as distribution_type,
        provider_adjustment_factor,
        records,
        '/stocks/v1/splits' as source_endpoint,
        fetch_id,
        fetched_at
    from splits

),

dividend_actions as (

    select
        dividend_id as action_id,
        ticker,
        'cash_dividend' as action_type,
        ex_dividend_date as event_date,
        cast(null as double precision) as split_from,
        cast(null as double precision) as split_to,
        cast(null as double precision) as price_factor,
        cash_amount,
        currency,
        pay_date,
        frequency,
        distribution_type,
        provider_adjustment_factor,
        records,
        '/stocks/v1/dividends' as source_endpoint,
        fetch_id,
        fetched_at
    from dividends

)

select * from split_actions
union all
select * from dividend_actions
