{#-
    Each ticker's first session with a clean minute bar: where its period under its instrument starts when it has
    no day bar (a pipeline may load minute files alone), kept so that the periods read it, not every minute bar.
    Recomputed whole in one transaction, but incremental: a table would be replaced by a rename that drops, with
    cascade, the views over it (the ticker periods and the bars under instruments).
-#}
{{ config(
    unique_key='ticker',
    pre_hook="{% if is_incremental() %}delete from {{ this }}{% endif %}",
) }}

select
    ticker,
    min(trade_date) as first_trade_date
from {{ ref('int_minute_aggs__checked') }}
where quarantine_reason is null
group by ticker
