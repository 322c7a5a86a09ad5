-- An index the 2019 table did not have, for the reconcile sweep and
-- `cmd/recovery status`: the inprogress rows in last_update_time order
-- (a partial index: it holds only the open rows, so it stays small however
-- many complete rows the table keeps). Created only when missing; on a
-- database whose owner does not want it, the queries still work, by
-- scanning the table. See docs/reconcile.md for the measurements.
CREATE INDEX IF NOT EXISTS idx_reqstat_inprogress_lstupd
    ON request_status USING btree (last_update_time, request_id)
    WHERE job_status = 'inprogress';
