with

source as (

    select * from {{ source('reference', 'calendar_days') }}

),

renamed as (

    select
        calendar,
        session_date,
        early_close as is_early_close,
        file_due as is_file_due

    from source

)

select * from renamed
