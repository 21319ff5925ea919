{#- The New York calendar date of an epoch-nanosecond timestamp (the session a day bar belongs to). -#}
{% macro epoch_ns_to_session_date(column) %}
    {{ return(adapter.dispatch('epoch_ns_to_session_date', 'tickerbars')(column)) }}
{% endmacro %}

{% macro default__epoch_ns_to_session_date(column) %}
    cast((to_timestamp({{ column }} / 1000000000.0) at time zone 'America/New_York') as date)
{% endmacro %}

{% macro duckdb__epoch_ns_to_session_date(column) %}
    cast(timezone('America/New_York', to_timestamp({{ column }} / 1000000000.0)) as date)
{% endmacro %}
