{#-
    The tickers int_minute_aggs__checked has read every minute file for, as of this build: built after it, so that
    the next build can tell a ticker it has not read yet (has_new_instruments).
-#}
-- depends_on: {{ ref('int_minute_aggs__checked') }}
{{ config(materialized='table') }}

select traded_ticker
from {{ ref('int_instruments__tickers') }}
