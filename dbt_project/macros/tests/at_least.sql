{#- Rows where the column is below the bound (NULL passes: pair with not_null). -#}
{% test at_least(model, column_name, value) %}
    select *
    from {{ model }}
    where {{ column_name }} < {{ value }}
{% endtest %}
