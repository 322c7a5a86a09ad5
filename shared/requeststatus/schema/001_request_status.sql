-- request_status: one row per file requested from Glacier / Deep Archive.
--
-- Reproduces the table the 2019 copy_files_to_archive Lambda used, as
-- defined in nasa/cumulus-orca database/ddl/base/tables/010_request_status.sql
-- at commit 4851b89f ("track archive bucket in database", 2019-10-23; the file
-- was unchanged until its removal in 596164d7, 2021-05-04): same columns,
-- types, defaults, CHECK constraints, primary key and index names.
--
-- Differences, all to make it safe to run more than once and inside any
-- schema: IF NOT EXISTS on the table and indexes; no BEGIN/COMMIT (the caller
-- runs this in a transaction); no "SET search_path TO dr, public" (names are
-- unqualified, so the connection's search_path chooses the schema).
-- On an existing table the CREATE statements change nothing.

CREATE TABLE IF NOT EXISTS request_status (
    request_id          uuid         NOT NULL,
    request_group_id    uuid         NOT NULL,
    granule_id          varchar(100) NOT NULL,
    object_key          text         NOT NULL,
    job_type            varchar(12)  NULL DEFAULT 'restore'
                        CHECK (job_type IN ('restore', 'regenerate')),
    restore_bucket_dest text         NULL,
    archive_bucket_dest text         NULL,
    job_status          varchar(12)  NULL DEFAULT 'inprogress'
                        CHECK (job_status IN ('inprogress', 'complete', 'error')),
    request_time        timestamptz  NOT NULL,
    last_update_time    timestamptz  NOT NULL,
    err_msg             text         NULL,
    PRIMARY KEY (request_id)
);

COMMENT ON TABLE request_status IS 'Disaster recovery jobs status table';
COMMENT ON COLUMN request_status.request_id IS 'unique job identifier';
COMMENT ON COLUMN request_status.request_group_id IS 'request identifier assigned to all objects being requested for the granule';
COMMENT ON COLUMN request_status.granule_id IS 'granule id of the granule being restored';
COMMENT ON COLUMN request_status.object_key IS 'object key being restored';
COMMENT ON COLUMN request_status.job_type IS 'type of restore request that was made';
COMMENT ON COLUMN request_status.restore_bucket_dest IS 'S3 bucket to restore the file to';
COMMENT ON COLUMN request_status.archive_bucket_dest IS 'S3 bucket to copy the restored file to';
COMMENT ON COLUMN request_status.job_status IS 'current status of the request';
COMMENT ON COLUMN request_status.request_time IS 'Time the request was made';
COMMENT ON COLUMN request_status.last_update_time IS 'The last time the request was updated';
COMMENT ON COLUMN request_status.err_msg IS 'The error message when job_status is error';

-- The lookup by object key (newest last_update_time first) uses
-- idx_reqstat_keylstupd; updates go by the primary key.
CREATE INDEX IF NOT EXISTS idx_reqstat_reqgidlstupd
    ON request_status USING btree (request_group_id, last_update_time);

CREATE INDEX IF NOT EXISTS idx_reqstat_keylstupd
    ON request_status USING btree (object_key, last_update_time);

CREATE INDEX IF NOT EXISTS idx_reqstat_granidlstupd
    ON request_status USING btree (granule_id, last_update_time);
