with

records as (

    select * from {{ source('massive', 'reference_records') }}

),

fetches as (

    select * from {{ source('massive', 'reference_fetches') }}

),

renamed as (

    select
        cast(records.fetch_id as bigint) as fetch_id,
        fetches.dataset,
        fetches.ticker as fetched_ticker,
        fetches.window_start as fetch_window_start,
        fetches.fetched_at,
        cast(records.page as bigint) as page_number,
        records.record
    from records
    inner join fetches on records.fetch_id = fetches.fetch_id

)

select * from renamed
