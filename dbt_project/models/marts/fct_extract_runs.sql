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

datasets as (

    select * from {{ ref('stg_reference__datasets') }}

),

calendar_days as (

    select * from {{ ref('stg_reference__calendar_days') }}

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
    from {{ ref('int_rejected_rows__configured') }}

),

quarantine_by_run as (

    select
        run_id,
        cast(count(*) as bigint) as quarantined_rows,
        {{ quarantine_columns('quarantine_reason') }}
    from quarantine
    group by run_id

),

-- each configured dataset's newest file landed when the run ended, and the days of its own calendar since: one
-- dataset's files (crypto's, every day) must not hide another's that stopped
newest_files as (

    select
        runs.run_id,
        runs.started_at,
        manifest.dataset,
        max(manifest.file_date) as newest_file_date
    from runs
    inner join manifest on manifest.loaded_at <= coalesce(runs.finished_at, runs.started_at)
    group by runs.run_id, runs.started_at, manifest.dataset

),

behind_by_dataset as (

    select
        newest_files.run_id,
        newest_files.newest_file_date,
        count(calendar_days.session_date) as sessions_behind
    from newest_files
    inner join datasets on newest_files.dataset = datasets.dataset
    left join calendar_days
        on
            datasets.calendar = calendar_days.calendar
            and newest_files.newest_file_date < calendar_days.session_date
            and cast(newest_files.started_at as date) > calendar_days.session_date
    group by newest_files.run_id, newest_files.dataset, newest_files.newest_file_date

),

-- before any file landed, every NYSE session before the run
nothing_landed as (

    select
        runs.run_id,
        count(calendar_days.session_date) as sessions_behind
    from runs
    left join calendar_days
        on cast(runs.started_at as date) > calendar_days.session_date and calendar_days.calendar = 'XNYS'
    group by runs.run_id

),

behind as (

    select
        runs.run_id,
        min(behind_by_dataset.newest_file_date) as newest_file_date,
        coalesce(max(behind_by_dataset.sessions_behind), max(nothing_landed.sessions_behind)) as sessions_behind
    from runs
    inner join nothing_landed on runs.run_id = nothing_landed.run_id
    left join behind_by_dataset on runs.run_id = behind_by_dataset.run_id
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
    behind.newest_file_date,
    behind.sessions_behind,
    coalesce(quarantine_by_run.quarantined_rows, 0) as quarantined_rows,
    {{ quarantine_columns_or_zero('quarantine_by_run') }}
from runs
inner join behind on runs.run_id = behind.run_id
left join quarantine_by_run on runs.run_id = quarantine_by_run.run_id
