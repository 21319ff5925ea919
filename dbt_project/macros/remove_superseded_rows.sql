{#-
    Rows of a file's superseded version: delete+insert on source_key replaces only the files a run reads rows of, so
    a new version without any configured ticker's row would leave the old version's rows in place. Only files that
    were re-published are looked at (the current version began after the file's first load).
-#}
{% macro remove_superseded_rows(relation) %}
    delete from {{ relation }}
    where
        source_key in (
            select current_versions.source_key
            from {{ ref('int_files__current_versions') }} as current_versions
            inner join {{ ref('stg_polygon__load_manifest') }} as manifest
                on current_versions.source_key = manifest.source_key
            where manifest.load_id < current_versions.first_load_id
        )
        and load_id < (
            select current_versions.first_load_id
            from {{ ref('int_files__current_versions') }} as current_versions
            where current_versions.source_key = {{ relation.identifier }}.source_key
        )
{% endmacro %}
