{#- Rows of tickers no configured instrument trades under any more: if one comes back, it is new and re-read whole. -#}
{% macro remove_unconfigured_tickers(relation) %}
    delete from {{ relation }}
    where ticker not in (select traded_ticker from {{ ref('int_instruments__tickers') }})
{% endmacro %}
