{#- Every row of the model: the model lists problems, and it should list none. -#}
{% test row_count_is_zero(model) %}
    select * from {{ model }}
{% endtest %}
