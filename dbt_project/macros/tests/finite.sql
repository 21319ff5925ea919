{#- Rows where the column is NaN or infinite (null passes: pair with not_null). -#}
{% test finite(model, column_name) %}
    select *
    from {{ model }}
    where not {{ is_finite(column_name) }}
{% endtest %}
