with

source as (

    select * from {{ source('reference', 'datasets') }}

),

renamed as (

    select
        dataset,
        landing_table,
        calendar,
        timezone as day_timezone,
        ticker_prefix,
        coalesce(',' || columns || ',' like '%,volume,%', false) as has_volume

    from source

)

select * from renamed
