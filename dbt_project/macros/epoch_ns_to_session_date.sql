{#- The wall-clock time in `zone` (an SQL expression: a quoted name or a column) of an epoch-nanosecond stamp. -#}
{% macro epoch_ns_to_local_timestamp(column, zone="'America/New_York'") %}
    {{ return(adapter.dispatch('epoch_ns_to_local_timestamp', 'tickerbars')(column, zone)) }}
{% endmacro %}

{% macro default__epoch_ns_to_local_timestamp(column, zone) %}
    (to_timestamp({{ column }} / 1000000000.0) at time zone {{ zone }})
{% endmacro %}

{% macro duckdb__epoch_ns_to_local_timestamp(column, zone) %}
    timezone({{ zone }}, to_timestamp({{ column }} / 1000000000.0))
{% endmacro %}

{#- The calendar date in `zone` of an epoch-nanosecond timestamp (the day a day bar belongs to). -#}
{% macro epoch_ns_to_session_date(column, zone="'America/New_York'") %}
    cast({{ epoch_ns_to_local_timestamp(column, zone) }} as date)
{% endmacro %}

{#- Minutes since midnight in New York of an epoch-nanosecond timestamp (570 is 09:30). -#}
{% macro epoch_ns_to_new_york_minute(column) %}
    (
        extract(hour from {{ epoch_ns_to_local_timestamp(column) }}) * 60
        + extract(minute from {{ epoch_ns_to_local_timestamp(column) }})
    )
{% endmacro %}
