with

source as (

    select * from {{ source('pipeline', 'build_runs') }}

),

renamed as (

    select
        invocation_id,
        command,
        target_name,
        started_at,
        finished_at,
        models_ok,
        models_failed,
        models_skipped,
        tests_passed,
        tests_warned,
        tests_failed,
        fact_rows,
        tickers,
        min_coverage_pct,
        tickers_below_threshold,
        newest_session

    from source

)

select * from renamed
