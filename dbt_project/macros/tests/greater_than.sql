{#- Rows where the column is not strictly above the bound (NULL passes: pair with not_null). -#}
{% test greater_than(model, column_name, value) %}
    select *
    from {{ model }}
    where {{ column_name }} <= {{ value }}
{% endtest %}
