with

source as (

    select * from {{ source('reference', 'instruments') }}

),

renamed as (

    select
        ticker,
        name as instrument_name,
        type as instrument_type,
        exchange,
        sector,
        active as is_active,
        previous_tickers,
        updated_at

    from source

)

select * from renamed
