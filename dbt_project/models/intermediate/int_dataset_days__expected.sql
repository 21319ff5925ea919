{#-
    The days each configured dataset is expected to have a file for, on its own calendar (NYSE sessions for stocks,
    indices, options and minute bars; every day for crypto; Sunday to Friday for forex): from its first file to the
    later of its newest file and the last day whose file is due (calendar_days.file_due, written by the last extract
    run). When the provider stops publishing, the days after its last file are expected all the same, and show as
    gaps.
-#}
{{ config(materialized='view') }}

with

datasets as (

    select * from {{ ref('stg_reference__datasets') }}

),

calendar_days as (

    select * from {{ ref('stg_reference__calendar_days') }}

),

files as (

    select
        dataset,
        min(file_date) as first_file_date,
        max(file_date) as last_file_date
    from {{ ref('int_files__current_versions') }}
    group by dataset

),

due as (

    select
        calendar,
        max(session_date) as last_due_date
    from calendar_days
    where is_file_due
    group by calendar

),

expected_range as (

    select
        datasets.dataset,
        datasets.calendar,
        files.first_file_date,
        case
            when due.last_due_date > files.last_file_date then due.last_due_date else files.last_file_date
        end as last_expected_date
    from datasets
    inner join files on datasets.dataset = files.dataset
    left join due on datasets.calendar = due.calendar

)

select
    expected_range.dataset,
    calendar_days.session_date
from expected_range
inner join calendar_days
    on
        expected_range.calendar = calendar_days.calendar
        and calendar_days.session_date between expected_range.first_file_date and expected_range.last_expected_date
