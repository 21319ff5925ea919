{#-
    Each dataset's gaps, on its own calendar: every expected day (int_dataset_days__expected: from the dataset's
    first file to its newest, or to the last day whose file is due if later) that has no file of that dataset (never
    published, withdrawn, not yet loaded, or a feed that stopped), and every file dated on a day its calendar does
    not trade (a stock file on a weekend, a forex file on a Saturday). A file of one dataset never fills another's
    gap.
-#}
with

datasets as (

    select * from {{ ref('stg_reference__datasets') }}

),

files as (

    select * from {{ ref('int_files__current_versions') }}

),

calendar_days as (

    select * from {{ ref('stg_reference__calendar_days') }}

),

expected_days as (

    select * from {{ ref('int_dataset_days__expected') }}

),

days_without_file as (

    select
        expected_days.dataset,
        expected_days.session_date,
        'no_file' as reason,
        cast(null as text) as source_key
    from expected_days
    left join files
        on expected_days.dataset = files.dataset and expected_days.session_date = files.file_date
    where files.source_key is null

),

files_off_calendar as (

    select
        files.dataset,
        files.file_date as session_date,
        'not_a_session' as reason,
        files.source_key
    from files
    inner join datasets on files.dataset = datasets.dataset
    left join calendar_days
        on datasets.calendar = calendar_days.calendar and files.file_date = calendar_days.session_date
    where calendar_days.session_date is null

)

select * from days_without_file
union all
select * from files_off_calendar
