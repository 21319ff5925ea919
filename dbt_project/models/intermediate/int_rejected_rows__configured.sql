{#-
    The lines the extractor could not parse whose first field is a ticker a configured instrument trades under: the
    unparsable rows the quarantine counts, as the checked bars hold the configured instruments' bars only (landing
    keeps every ticker's lines).
-#}
{{ config(materialized='view') }}

with

rejected as (

    select * from {{ ref('stg_polygon__rejected_rows') }}

),

configured_tickers as (

    select traded_ticker from {{ ref('int_instruments__tickers') }}

)

select * from rejected
where ticker in (select traded_ticker from configured_tickers)
