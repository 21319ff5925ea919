with

source as (

    select * from {{ source('pipeline', 'extract_runs') }}

),

renamed as (

    select
        run_id,
        started_at,
        finished_at,
        target,
        outcome,
        cast(files_listed as bigint) as files_listed,
        cast(files_loaded as bigint) as files_loaded,
        cast(files_skipped as bigint) as files_skipped,
        cast(files_failed as bigint) as files_failed,
        cast(rows_landed as bigint) as rows_landed,
        cast(rows_rejected as bigint) as rows_rejected

    from source

)

select * from renamed
