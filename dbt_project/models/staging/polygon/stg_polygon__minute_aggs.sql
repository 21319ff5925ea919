with

source as (

    select * from {{ source('polygon', 'minute_aggs') }}

),

renamed as (

    select
        cast(ticker as text) as ticker,
        to_timestamp(window_start / 1000000000.0) as bar_start,
        cast(open as double precision) as open,
        cast(high as double precision) as high,
        cast(low as double precision) as low,
        cast(close as double precision) as close,
        cast(volume as double precision) as volume,
        cast(transactions as bigint) as transactions,
        cast(window_start as bigint) as window_start_ns,
        cast(load_id as bigint) as load_id,
        file_date

    from source

)

select * from renamed
