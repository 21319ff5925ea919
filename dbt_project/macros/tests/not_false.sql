{#- Rows where the column is false (null passes: a check that could not be made); its failures are the rows. -#}
{% test not_false(model, column_name) %}
    select *
    from {{ model }}
    where not {{ column_name }}
{% endtest %}
