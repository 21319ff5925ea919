with

source as (

    select * from {{ source('reference', 'sessions') }}

),

renamed as (

    select
        session_date,
        early_close as is_early_close,
        file_due as is_file_due

    from source

)

select * from renamed
