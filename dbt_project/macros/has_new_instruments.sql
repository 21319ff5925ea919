{#-
    Whether a configured ticker has no rows in `relation` yet. Decided when the model compiles, so that the
    incremental filter stays a plain predicate the warehouse can serve from an index.
-#}
{% macro has_new_instruments(relation) %}
    {% if not execute %}
        {{ return(false) }}
    {% endif %}
    {% set new_tickers = run_query(
        "select count(*) from " ~ ref('stg_reference__instruments')
        ~ " where ticker not in (select distinct ticker from " ~ relation ~ ")"
    ) %}
    {{ return(new_tickers.columns[0].values()[0] > 0) }}
{% endmacro %}
