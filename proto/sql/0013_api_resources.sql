-- api-gateway, issue 3: recordings (list, get, download, delete), phone number
-- configuration (PATCH), webhook endpoint PATCH and the billing reads.
--
-- Same conventions as 0010_api.sql: one function per API operation answering
-- (http_status, http_body[, replayed][, extra columns]); mutating ones take
-- (p_path, p_key, p_hash) and claim the Idempotency-Key with idem_begin()/idem_finish() in
-- the same transaction as the change; every query filters on p_tenant (another tenant's id
-- is not_found and changes nothing).
--
-- Shared tables extended here: recordings (storage_deleted_at). A number's configuration
-- (name, forward_to, relay_enabled, forward_caller_id; relay_record and relay_transcribe of
-- 0035) is in phone_numbers (0001, 0002) and its renderer (0002); this file keeps it with
-- its owner (the trigger below; 0035's for the relay's media settings).

-- ---------------------------------------------------------------------------------------
-- Phone number configuration

-- A number's configuration belongs to its owner: when the number changes hands (released
-- to the inventory, bought by someone else) the configuration is cleared, so that a
-- released number never forwards a stranger's calls to the previous owner's phone.
-- A trigger rather than a change to api_number_release/api_number_buy, so that every way
-- a number moves (operator SQL too) is covered.
CREATE FUNCTION phone_numbers_owner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        NEW.name := NULL;
        NEW.forward_to := NULL;
        NEW.relay_enabled := false;
        NEW.forward_caller_id := 'caller';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER phone_numbers_owner_changed BEFORE UPDATE OF tenant_id ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION phone_numbers_owner_changed();

-- PATCH /v1/phone_numbers/{id}: p_req is the validated body; only the members present
-- change, and a null name or forward_to clears it. relay_enabled needs a forward_to in the
-- resulting state (invalid_parameter naming the member that broke it). relay_record and
-- relay_transcribe (booleans, checked by the gateway; 0035) may be set whether or not the
-- relay is on, and apply while it is.
CREATE FUNCTION api_number_update(p_tenant text, p_id text, p_req jsonb, p_path text,
                                  p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    n phone_numbers;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'PATCH', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO n FROM phone_numbers x WHERE x.id = p_id AND x.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No phone number with this id.');
    END IF;
    IF p_req ? 'name' THEN n.name := p_req->>'name'; END IF;
    IF p_req ? 'forward_to' THEN n.forward_to := p_req->>'forward_to'; END IF;
    IF p_req ? 'relay_enabled' THEN n.relay_enabled := (p_req->>'relay_enabled')::boolean; END IF;
    IF p_req ? 'forward_caller_id' THEN n.forward_caller_id := p_req->>'forward_caller_id'; END IF;
    IF p_req ? 'relay_record' THEN n.relay_record := (p_req->>'relay_record')::boolean; END IF;
    IF p_req ? 'relay_transcribe' THEN
        n.relay_transcribe := (p_req->>'relay_transcribe')::boolean;
    END IF;
    IF n.relay_enabled AND n.forward_to IS NULL THEN
        PERFORM voepy_raise('invalid_parameter',
                            CASE WHEN p_req ? 'relay_enabled' THEN 'relay_enabled' ELSE 'forward_to' END,
                            'relay_enabled needs a forward_to: set forward_to, or turn the relay off.');
    END IF;
    UPDATE phone_numbers x SET name = n.name, forward_to = n.forward_to,
                               relay_enabled = n.relay_enabled,
                               forward_caller_id = n.forward_caller_id,
                               relay_record = n.relay_record,
                               relay_transcribe = n.relay_transcribe
     WHERE x.id = n.id
    RETURNING * INTO n;
    v_body := voepy_number_json(n)::text;
    PERFORM idem_finish(p_tenant, 'PATCH', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Recordings

-- Deleting a recording (DELETE /v1/recordings/{id}) is a soft delete: deleted_at is set
-- and the API no longer shows it (404). The gateway does not own the recordings storage
-- in production, so it does not remove the file itself: the same transaction emits
-- recording.deleted, on which the media service (media-fork, issue 5) removes the stored
-- file (it reads storage_key from the row: the event carries no storage path, since
-- events also reach customers' webhooks) and then sets storage_deleted_at. Rows with
-- deleted_at set and storage_deleted_at NULL are files still to remove (a sweep can find
-- them through recordings_files_to_remove if an event was lost).
ALTER TABLE recordings ADD COLUMN storage_deleted_at timestamptz;
CREATE INDEX recordings_tenant_recent ON recordings (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX recordings_files_to_remove ON recordings (deleted_at)
    WHERE deleted_at IS NOT NULL AND storage_deleted_at IS NULL;

-- GET /v1/recordings[?call_id=]: the tenant's recordings that are not deleted, newest
-- first, cursor pagination.
CREATE FUNCTION api_recordings_list(p_tenant text, p_call text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (r.created_at, r.id, voepy_recording_json(r))::api_page_row FROM recordings r
         WHERE r.tenant_id = p_tenant AND r.deleted_at IS NULL
           AND (p_call IS NULL OR r.call_id = p_call)
           AND (cur.t IS NULL OR (r.created_at, r.id) < (cur.t, cur.id))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

-- The tenant's recording p_id that is not deleted (locked for update when p_lock), or
-- not_found.
CREATE FUNCTION api_recording_find(p_tenant text, p_id text, p_lock boolean)
RETURNS recordings LANGUAGE plpgsql AS $$
DECLARE
    r recordings;
BEGIN
    IF p_lock THEN
        SELECT * INTO r FROM recordings x
         WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL FOR UPDATE;
    ELSE
        SELECT * INTO r FROM recordings x
         WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No recording with this id.');
    END IF;
    RETURN r;
END $$;

CREATE FUNCTION api_recording_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r recordings;
BEGIN
    r := api_recording_find(p_tenant, p_id, false);
    RETURN QUERY SELECT 200, voepy_recording_json(r)::text;
END $$;

-- GET /v1/recordings/{id}/download: where the file is (the gateway reads it from
-- VOEPY_RECORDINGS_DIR/storage_key). recording_not_ready unless available.
CREATE FUNCTION api_recording_download(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text, storage_key text, format text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r recordings;
BEGIN
    r := api_recording_find(p_tenant, p_id, false);
    IF r.status <> 'available' THEN
        PERFORM voepy_raise('recording_not_ready', NULL,
                            'The recording is ' || r.status || ', not available.');
    END IF;
    RETURN QUERY SELECT 200, ''::text, r.storage_key, r.format;
END $$;

-- DELETE /v1/recordings/{id} (200, the recording as it was last shown, download_url null):
-- soft delete plus recording.deleted (see above). A recording still being written is
-- recording_not_ready: it can be deleted once it has an outcome.
CREATE FUNCTION api_recording_delete(p_tenant text, p_id text, p_path text, p_key text,
                                     p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    r recordings;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    r := api_recording_find(p_tenant, p_id, true);
    IF r.status = 'recording' THEN
        PERFORM voepy_raise('recording_not_ready', NULL,
                            'The recording is still being written; delete it once it has ended.');
    END IF;
    UPDATE recordings x SET deleted_at = now() WHERE x.id = r.id RETURNING * INTO r;
    PERFORM voepy_emit(p_tenant, r.call_id, 'recording.deleted',
                       json_build_object('recording_id', r.id, 'call_id', r.call_id,
                                         'format', r.format, 'channels', r.channels,
                                         'deleted_at', voepy_ts(r.deleted_at)));
    v_body := voepy_recording_json(r)::text;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Billing reads

-- GET /v1/billing/balance: available = balance + credit limit - reserved, reserved being
-- the holds of live calls (billing_reserved_cents over call_reservations, 0033); what
-- api_call_check_funds checks (new calls need it above 0).
-- The body is not checked at creation (check_function_bodies off for this statement
-- only): billing_reserved_cents and its table are created in 0033, before any request is
-- served. Still a sql function, as the other reads here.
SET check_function_bodies = off;
CREATE FUNCTION api_billing_balance(p_tenant text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE sql STABLE AS $$
    SELECT 200, json_build_object(
               'balance_cents', b.balance, 'credit_limit_cents', t.credit_limit_cents,
               'reserved_cents', b.reserved,
               'available_cents', b.balance + t.credit_limit_cents - b.reserved,
               'currency', 'USD')::text
      FROM tenants t
     CROSS JOIN LATERAL (SELECT coalesce((SELECT a.balance_cents FROM ledger_accounts a
                                           WHERE a.tenant_id = t.id AND a.kind = 'tenant_balance'),
                                         0) AS balance,
                                billing_reserved_cents(t.id) AS reserved) b
     WHERE t.id = p_tenant
$$;
RESET check_function_bodies;

CREATE INDEX ledger_entries_account_recent ON ledger_entries (account_id, id DESC);
-- it leads with account_id, so 0001's index on account_id alone only cost writes
DROP INDEX ledger_entries_account;

-- A LedgerEntry: one entry on the tenant's balance account with its transaction.
-- id is the entry's number as a string; amount_cents > 0 raises the balance (credits),
-- < 0 lowers it (call charges).
CREATE FUNCTION api_ledger_entry_json(e ledger_entries, x ledger_transactions) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id::text, 'transaction_id', x.id, 'kind', x.kind, 'ref_type', x.ref_type,
        'ref_id', x.ref_id, 'amount_cents', e.amount_cents, 'description', x.description,
        'created_at', voepy_ts(e.created_at))
$$;

-- Ledger entry ids are numbers, not voepy ids, so their cursors (made by api_page from
-- "<epoch us>|<entry id>") are read here; the entry id alone is the position.
CREATE FUNCTION api_ledger_cursor_parse(p_cursor text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT split_part(api_cursor_decode(p_cursor, '^[0-9]{1,18}\|[0-9]{1,18}$'), '|', 2)::bigint
$$;

-- GET /v1/billing/ledger_entries[?kind=]: newest first (by entry number, the order they
-- were written), cursor pagination.
CREATE FUNCTION api_ledger_entries_list(p_tenant text, p_kind text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_after bigint := api_ledger_cursor_parse(p_cursor);
BEGIN
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (e.created_at, e.id::text, api_ledger_entry_json(e, x))::api_page_row
          FROM ledger_accounts a
          JOIN ledger_entries e ON e.account_id = a.id
          JOIN ledger_transactions x ON x.id = e.txn_id
         WHERE a.tenant_id = p_tenant AND a.kind = 'tenant_balance'
           AND (p_kind IS NULL OR x.kind = p_kind)
           AND (v_after IS NULL OR e.id < v_after)
         ORDER BY e.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;
