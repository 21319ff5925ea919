{#-
    The splits that count, one row per event: records of the newest fetch whose window covers their date (an event
    a later fetch no longer returns is withdrawn), the same split published twice collapsed, and two ratios for one
    ticker and date quarantined: neither is applied.
-#}
{{ config(materialized='view') }}

with

current_records as (

    {{ current_reference_records(ref('stg_massive__splits'), 'splits', 'execution_date') }}

),

distinct_splits as (

    select
        ticker,
        execution_date,
        split_from,
        split_to,
        max(split_id) as split_id,
        max(adjustment_type) as adjustment_type,
        max(provider_adjustment_factor) as provider_adjustment_factor,
        count(*) as records,
        max(fetch_id) as fetch_id,
        max(fetched_at) as fetched_at
    from current_records
    group by ticker, execution_date, split_from, split_to

),

checked as (

    select
        *,
        count(*) over (partition by ticker, execution_date) as ratios_on_date
    from distinct_splits

)

select
    split_id,
    ticker,
    execution_date,
    split_from,
    split_to,
    coalesce(
        adjustment_type,
        case when split_to > split_from then 'forward_split' else 'reverse_split' end
    ) as adjustment_type,
    split_from / nullif(split_to, 0) as price_factor,
    provider_adjustment_factor,
    records,
    fetch_id,
    fetched_at,
    case
        when ratios_on_date > 1 then 'conflicting_ratio'
        when split_from is null or split_to is null or split_from <= 0 or split_to <= 0 then 'invalid_ratio'
        when execution_date is null then 'missing_date'
    end as quarantine_reason
from checked
