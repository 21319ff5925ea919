{#- A JSON document's text at a dotted path ('ticker_change.ticker'), null where it is missing. -#}
{% macro json_text(column, path) %}
    {{ return(adapter.dispatch('json_text', 'tickerbars')(column, path)) }}
{% endmacro %}

{% macro default__json_text(column, path) %}
    (cast({{ column }} as jsonb) #>> '{ {{- path.split('.') | join(',') -}} }')
{% endmacro %}

{% macro duckdb__json_text(column, path) %}
    json_extract_string({{ column }}, '$.{{ path }}')
{% endmacro %}

{#- One row per element of a JSON array member of the document (a set-returning select-list expression). -#}
{% macro json_array_elements(column, member) %}
    {{ return(adapter.dispatch('json_array_elements', 'tickerbars')(column, member)) }}
{% endmacro %}

{% macro default__json_array_elements(column, member) %}
    jsonb_array_elements(cast({{ column }} as jsonb) -> '{{ member }}')
{% endmacro %}

{% macro duckdb__json_array_elements(column, member) %}
    unnest(cast(json_extract({{ column }}, '$.{{ member }}') as json[]))
{% endmacro %}
