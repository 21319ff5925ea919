{#-
    The cash dividends that count, one row per event: records of the newest fetch whose window covers their ex-date,
    the same dividend published twice collapsed, and two amounts for one ticker, ex-date and distribution type
    quarantined (a special dividend beside a regular one on the same ex-date is two events, both applied).
-#}
{{ config(materialized='view') }}

with

current_records as (

    {{ current_reference_records(ref('stg_massive__dividends'), 'dividends', 'ex_dividend_date') }}

),

distinct_dividends as (

    select
        ticker,
        ex_dividend_date,
        distribution_type,
        cash_amount,
        max(dividend_id) as dividend_id,
        max(pay_date) as pay_date,
        max(currency) as currency,
        max(frequency) as frequency,
        max(provider_adjustment_factor) as provider_adjustment_factor,
        count(*) as records,
        max(fetch_id) as fetch_id,
        max(fetched_at) as fetched_at
    from current_records
    group by ticker, ex_dividend_date, distribution_type, cash_amount

),

checked as (

    select
        *,
        count(*) over (partition by ticker, ex_dividend_date, distribution_type) as amounts_on_date
    from distinct_dividends

)

select
    dividend_id,
    ticker,
    ex_dividend_date,
    pay_date,
    cash_amount,
    currency,
    frequency,
    distribution_type,
    provider_adjustment_factor,
    records,
    fetch_id,
    fetched_at,
    case
        when amounts_on_date > 1 then 'conflicting_amount'
        when cash_amount is null or cash_amount <= 0 then 'invalid_amount'
        when ex_dividend_date is null then 'missing_date'
    end as quarantine_reason
from checked
