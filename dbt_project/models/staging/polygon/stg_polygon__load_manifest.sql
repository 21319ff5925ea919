with

source as (

    select * from {{ source('polygon', 'load_manifest') }}

),

renamed as (

    select
        cast(load_id as bigint) as load_id,
        source_key,
        etag as source_etag,
        cast(size as bigint) as size_bytes,
        file_date,
        cast(rows_landed as bigint) as rows_landed,
        cast(rows_rejected as bigint) as rows_rejected,
        tickers as loaded_tickers,
        loaded_at,
        run_id,
        dataset

    from source

)

select * from renamed
