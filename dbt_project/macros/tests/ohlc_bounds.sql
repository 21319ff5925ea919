{#- Rows whose high is below another price of the bar or whose low is above open or close. -#}
{% test ohlc_bounds(model, open_column, high_column, low_column, close_column) %}
    select *
    from {{ model }}
    where
        {{ high_column }} < {{ open_column }}
        or {{ high_column }} < {{ close_column }}
        or {{ high_column }} < {{ low_column }}
        or {{ low_column }} > {{ open_column }}
        or {{ low_column }} > {{ close_column }}
{% endtest %}
