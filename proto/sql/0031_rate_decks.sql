-- Rate decks: what each kind of usage costs, per tenant or the platform's (tenant_id NULL).
--
-- A rate row belongs to a kind of usage:
--   outbound           a call we place, matched on the destination's digits (to_number)
--   inbound            a call to one of our DIDs, matched on the DID's digits
--   transcription      per minute of transcribed audio, matched on the call's number
--   amd                answering-machine detection, per call (the minimum charge, or the
--                      connection fee: see docs/billing.md)
--   recording_storage  per minute of stored recording (see docs/billing.md)
-- Longest prefix wins, the tenant's own rates before the platform's, and among rows for
-- the same prefix the newest effective_from that has started and not ended
-- (effective_to NULL: open-ended).

ALTER TABLE rates
    ADD COLUMN kind text NOT NULL DEFAULT 'outbound'
        CHECK (kind IN ('outbound', 'inbound', 'transcription', 'amd', 'recording_storage')),
    ADD COLUMN minimum_charge_micros bigint NOT NULL DEFAULT 0 CHECK (minimum_charge_micros >= 0),
    ADD COLUMN effective_to timestamptz,
    ADD CONSTRAINT rates_effective_order CHECK (effective_to IS NULL OR effective_to > effective_from);

DROP INDEX rates_key;
CREATE UNIQUE INDEX rates_key ON rates (coalesce(tenant_id, ''), kind, prefix, effective_from);

-- The rate of one kind for a number (any spelling with or without '+') at p_at.
CREATE FUNCTION rating_find_rate_kind(p_tenant text, p_kind text, p_number text,
                                      p_at timestamptz) RETURNS rates
LANGUAGE sql STABLE AS $$
    WITH d AS (SELECT regexp_replace(coalesce(p_number, ''), '[^0-9]', '', 'g') AS digits)
    SELECT r.* FROM d, rates r
     WHERE coalesce(r.tenant_id, '') IN (p_tenant, '')
       AND r.kind = p_kind
       AND r.prefix IN (SELECT left(d.digits, n) FROM generate_series(0, length(d.digits)) n)
       AND r.effective_from <= p_at
       AND (r.effective_to IS NULL OR r.effective_to > p_at)
     ORDER BY r.tenant_id IS NULL, length(r.prefix) DESC, r.effective_from DESC
     LIMIT 1
$$;

-- The outbound rate (kept for its callers; the kind-aware function above decides).
CREATE OR REPLACE FUNCTION rating_find_rate(p_tenant text, p_number text, p_at timestamptz)
RETURNS rates
LANGUAGE sql STABLE AS $$
    SELECT * FROM rating_find_rate_kind(p_tenant, 'outbound', p_number, p_at)
$$;
