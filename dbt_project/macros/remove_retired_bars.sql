{#-
    Incremental delete+insert only replaces keys it sees again. This removes the bars nothing supports any more:
    the instrument is no longer active, or the bar's file was re-published without it or with it now quarantined.
-#}
{% macro remove_retired_bars(relation, bars_model='int_daily_bars__by_instrument', time_column='trade_date') %}
    delete from {{ relation }}
    where
        ticker not in (select ticker from {{ ref('dim_instruments') }} where is_active)
        or not exists (
            select 1
            from {{ ref(bars_model) }} as bars
            where
                bars.instrument_ticker = {{ relation.identifier }}.ticker
                and bars.{{ time_column }} = {{ relation.identifier }}.{{ time_column }}
        )
{% endmacro %}
