{#-
    The instruments' periods fct_minute_bars was last built under (instrument_periods), for its next incremental run to
    tell the instruments whose whole history it must re-read: built after it.
-#}
-- depends_on: {{ ref('fct_minute_bars') }}
{{ config(materialized='table') }}

{{ instrument_periods() }}
