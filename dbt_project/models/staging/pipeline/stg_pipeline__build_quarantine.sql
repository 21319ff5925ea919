with

source as (

    select * from {{ source('pipeline', 'build_quarantine') }}

)

select
    invocation_id,
    quarantine_reason,
    cast(quarantined_rows as bigint) as quarantined_rows
from source
