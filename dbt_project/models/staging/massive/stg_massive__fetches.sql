with

source as (

    select * from {{ source('massive', 'reference_fetches') }}

),

renamed as (

    select
        cast(fetch_id as bigint) as fetch_id,
        dataset,
        ticker as fetched_ticker,
        request,
        window_start as fetch_window_start,
        cast(pages as bigint) as pages,
        cast(records as bigint) as records,
        fetched_at,
        run_id

    from source

)

select * from renamed
