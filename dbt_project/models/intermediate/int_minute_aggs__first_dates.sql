{#-
    Each ticker's first session with a clean minute bar: where its period under its instrument starts when it has
    no day bar (a pipeline may load minute files alone). A table, so that the periods read it, not every minute bar.
-#}
{{ config(materialized='table') }}

select
    ticker,
    min(trade_date) as first_trade_date
from {{ ref('int_minute_aggs__checked') }}
where quarantine_reason is null
group by ticker
