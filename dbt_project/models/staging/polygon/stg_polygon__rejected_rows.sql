with

source as (

    select * from {{ source('polygon', 'rejected_rows') }}

),

renamed as (

    select
        cast(load_id as bigint) as load_id,
        source_key,
        source_etag,
        file_date,
        cast(line as bigint) as line_number,
        column_name,
        error as parse_error,
        raw_line,
        -- the first field as the reader would take it: quotes and padding off
        replace(trim(split_part(raw_line, ',', 1)), '"', '') as ticker,
        loaded_at,
        run_id

    from source

)

select * from renamed
