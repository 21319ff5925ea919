{#-
    The version of each day file that counts: the newest load's version (ETag and size), with every load of it
    since it last became current. A re-published file replaces the older copy; a file restored to an earlier
    version counts from its restoring load on, never through the loads before the version it replaced.
-#}
{{ config(materialized='view') }}

with

manifest as (

    select * from {{ ref('stg_polygon__load_manifest') }}

),

versions as (

    select
        source_key,
        dataset,
        source_etag,
        size_bytes,
        file_date,
        loaded_at,
        load_id,
        first_value(source_etag) over (partition by source_key order by load_id desc) as current_etag,
        first_value(size_bytes) over (partition by source_key order by load_id desc) as current_size
    from manifest

),

superseded as (

    select
        source_key,
        max(load_id) as last_superseded_load_id
    from versions
    where source_etag <> current_etag or size_bytes <> current_size
    group by source_key

)

select
    versions.source_key,
    versions.dataset,
    versions.source_etag,
    versions.file_date,
    min(versions.load_id) as first_load_id,
    max(versions.loaded_at) as loaded_at
from versions
left join superseded on versions.source_key = superseded.source_key
where versions.load_id > coalesce(superseded.last_superseded_load_id, 0)
group by versions.source_key, versions.dataset, versions.source_etag, versions.file_date
