{#-
    Incremental delete+insert only replaces keys it sees again. This removes the bars nothing supports any more:
    the ticker is no longer active, or the bar's file was re-published without it or with it now quarantined.
-#}
{% macro remove_retired_bars(relation) %}
    delete from {{ relation }}
    where
        ticker not in (select ticker from {{ ref('dim_instruments') }} where is_active)
        or not exists (
            select 1
            from {{ ref('int_day_aggs__checked') }} as checked
            where
                checked.quarantine_reason is null
                and checked.ticker = {{ relation.identifier }}.ticker
                and checked.trade_date = {{ relation.identifier }}.trade_date
        )
{% endmacro %}
