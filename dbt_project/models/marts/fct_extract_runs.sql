{#- One row per extract run, to chart: duration, files, rows, rows/s, failures, what it brought into quarantine
    (by reason), and how many sessions the warehouse was behind when it ran. A view: always up to date. -#}
{{ config(materialized='view') }}

with

runs as (

    select * from {{ ref('stg_pipeline__extract_runs') }}

),

manifest as (

    select * from {{ ref('stg_polygon__load_manifest') }}

),

sessions as (

    select * from {{ ref('stg_reference__calendar_days') }}
    where calendar = 'XNYS'

),

quarantine as (

    select
        run_id,
        quarantine_reason
    from {{ ref('int_day_aggs__checked') }}
    where quarantine_reason is not null
    union all
    select
        run_id,
        quarantine_reason
    from {{ ref('int_minute_aggs__checked') }}
    where quarantine_reason is not null
    union all
    select
        run_id,
        'unparsable' as quarantine_reason
    from {{ ref('stg_polygon__rejected_rows') }}
    where ticker in (select traded_ticker from {{ ref('int_instruments__tickers') }})

),

quarantine_by_run as (

    select
        run_id,
        cast(count(*) as bigint) as quarantined_rows,
        {{ quarantine_columns('quarantine_reason') }}
    from quarantine
    group by run_id

),

newest_file as (

    select
        runs.run_id,
        max(manifest.file_date) as newest_file_date
    from runs
    left join manifest on manifest.loaded_at <= coalesce(runs.finished_at, runs.started_at)
    group by runs.run_id

),

behind as (

    select
        runs.run_id,
        count(sessions.session_date) as sessions_behind
    from runs
    inner join newest_file on runs.run_id = newest_file.run_id
    left join sessions
        on
            sessions.session_date > coalesce(newest_file.newest_file_date, cast('1900-01-01' as date))
            and sessions.session_date < cast(runs.started_at as date)
    group by runs.run_id

)

select
    runs.run_id,
    runs.started_at,
    runs.finished_at,
    runs.outcome,
    runs.target,
    {{ seconds_between('runs.started_at', 'runs.finished_at') }} as duration_seconds,
    runs.files_listed,
    runs.files_loaded,
    runs.files_skipped,
    runs.files_failed,
    runs.rows_landed,
    runs.rows_rejected,
    case
        when {{ seconds_between('runs.started_at', 'runs.finished_at') }} > 0
            then runs.rows_landed / {{ seconds_between('runs.started_at', 'runs.finished_at') }}
    end as rows_per_second,
    newest_file.newest_file_date,
    behind.sessions_behind,
    coalesce(quarantine_by_run.quarantined_rows, 0) as quarantined_rows,
    {{ quarantine_columns_or_zero('quarantine_by_run') }}
from runs
inner join newest_file on runs.run_id = newest_file.run_id
inner join behind on runs.run_id = behind.run_id
left join quarantine_by_run on runs.run_id = quarantine_by_run.run_id
