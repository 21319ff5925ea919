{#- Warns with the number of rows in quarantine; they are kept out of the bar marts, not lost. -#}
{{ config(severity='warn') }}

select
    quarantine_reason,
    source_key,
    ticker
from {{ ref('fct_quarantined_bars') }}
