with

instruments as (

    select * from {{ ref('stg_reference__instruments') }}

)

select
    ticker,
    instrument_name,
    instrument_type,
    exchange,
    sector,
    is_active,
    updated_at
from instruments
