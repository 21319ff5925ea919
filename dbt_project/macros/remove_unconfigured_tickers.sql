{#- Rows of tickers no longer in instruments.yml; a ticker configured again is then new and re-read whole. -#}
{% macro remove_unconfigured_tickers(relation) %}
    delete from {{ relation }}
    where ticker not in (select ticker from {{ ref('stg_reference__instruments') }})
{% endmacro %}
