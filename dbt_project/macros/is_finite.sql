{#- Whether a double is a number: not NaN, not an infinity (null stays null). -#}
{% macro is_finite(column) %}
    {{ return(adapter.dispatch('is_finite', 'tickerbars')(column)) }}
{% endmacro %}

{% macro default__is_finite(column) %}
    ({{ column }} not in (
        cast('NaN' as double precision), cast('Infinity' as double precision), cast('-Infinity' as double precision)
    ))
{% endmacro %}

{% macro duckdb__is_finite(column) %}
    isfinite({{ column }})
{% endmacro %}
