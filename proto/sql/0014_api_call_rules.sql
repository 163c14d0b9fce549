-- Outbound call rules (issue 4, "Outbound rules before the INVITE"), the tenant opt-out
-- list (/v1/opt_outs) and a call's event log (GET /v1/calls/{id}/events).
--
-- Every rule is decided inside api_call_create (0010 calls the checks below), in the transaction that
-- would create the call: a refusal raises, rolls everything back (the idempotency claim
-- too: errors are not stored, a retry is evaluated again), so no call row exists, no
-- dial command is sent and no SIP leaves the machine. The order of the checks, first
-- refusal wins (docs/api.md, "Call rules"):
--
--   body validation 400/422 (gateway) -> calls per minute 429 (gateway, Redis)
--   -> from_number_not_owned 403 -> route_id names no route 422 / no route 503
--   -> country_not_allowed / country_blocked 403 -> prefix_blocked 403 -> opt_out 451
--   -> blocked_destination 429 -> max_concurrent_calls 429 -> calls_per_second 429
--   -> balance_insufficient 402
--
-- 429s raised here carry their wait in the message as "Retry after <n> s." (the last
-- such phrase); services/api-gateway/calls.c turns it into the Retry-After header.

-- ---------------------------------------------------------------------------------------
-- Destination countries
--
-- ITU-T E.164 country calling codes (the list of ITU-T Rec. E.164 Annex to the ITU
-- Operational Bulletin, "List of ITU-T Recommendation E.164 assigned country codes"),
-- mapped to ISO 3166-1 alpha-2 codes, plus the splits of shared codes by the national
-- numbering plans: NANP (+1) by area code (NANPA's area code assignments for Canada and
-- the other NANP members; every +1 number of an area code not listed here is "US",
-- non-geographic codes such as 800 or 900 included), +7 (6x and 7x Kazakhstan, the rest
-- Russia), +44 (Guernsey, Jersey and the Isle of Man by their Ofcom ranges), +39 06 698
-- (Vatican City), +47 79 (Svalbard), +358 18 (Aland), +262 269/639 (Mayotte), +599
-- 3/4/7 (Caribbean Netherlands), +61 8 9162/9164 (Cocos and Christmas Islands), +672 1/3
-- (Antarctica bases / Norfolk Island).
--
-- Limits: the mapping is by prefix, so a number ported across a shared code keeps the
-- country of its range; shared codes not split here go to one country (+590: GP for
-- Saint Barthelemy and Saint Martin too; +212: MA for Western Sahara; +64: NZ for
-- Pitcairn; +500: FK for South Georgia); XK (Kosovo, +383) is the user-assigned code in
-- common use, not an ISO 3166-1 code; global services (+800, +808, +870, +878, +881,
-- +882, +883, +888, +979) have no country: such a destination is refused by any allow
-- list and passes every deny list. NANP area codes assigned after this table was made
-- count as US until added here.
CREATE TABLE call_country_codes (
    prefix  text PRIMARY KEY CHECK (prefix ~ '^[1-9][0-9]{0,7}$'), -- digits after "+"
    country text NOT NULL CHECK (country ~ '^[A-Z]{2}$')
);

INSERT INTO call_country_codes (prefix, country) VALUES
    -- Zone 1: NANP. US by default, then the other members by area code.
    ('1', 'US'),
    ('1242', 'BS'), ('1246', 'BB'), ('1264', 'AI'), ('1268', 'AG'), ('1284', 'VG'),
    ('1340', 'VI'), ('1345', 'KY'), ('1441', 'BM'), ('1473', 'GD'), ('1649', 'TC'),
    ('1658', 'JM'), ('1876', 'JM'), ('1664', 'MS'), ('1670', 'MP'), ('1671', 'GU'),
    ('1684', 'AS'), ('1721', 'SX'), ('1758', 'LC'), ('1767', 'DM'), ('1784', 'VC'),
    ('1787', 'PR'), ('1939', 'PR'), ('1809', 'DO'), ('1829', 'DO'), ('1849', 'DO'),
    ('1868', 'TT'), ('1869', 'KN'),
    ('1204', 'CA'), ('1226', 'CA'), ('1236', 'CA'), ('1249', 'CA'), ('1250', 'CA'),
    ('1257', 'CA'), ('1263', 'CA'), ('1289', 'CA'), ('1306', 'CA'), ('1343', 'CA'),
    ('1354', 'CA'), ('1365', 'CA'), ('1367', 'CA'), ('1368', 'CA'), ('1382', 'CA'),
    ('1403', 'CA'), ('1416', 'CA'), ('1418', 'CA'), ('1428', 'CA'), ('1431', 'CA'),
    ('1437', 'CA'), ('1438', 'CA'), ('1450', 'CA'), ('1468', 'CA'), ('1474', 'CA'),
    ('1506', 'CA'), ('1514', 'CA'), ('1519', 'CA'), ('1548', 'CA'), ('1579', 'CA'),
    ('1581', 'CA'), ('1584', 'CA'), ('1587', 'CA'), ('1600', 'CA'), ('1604', 'CA'),
    ('1613', 'CA'), ('1639', 'CA'), ('1647', 'CA'), ('1672', 'CA'), ('1683', 'CA'),
    ('1705', 'CA'), ('1709', 'CA'), ('1742', 'CA'), ('1753', 'CA'), ('1778', 'CA'),
    ('1780', 'CA'), ('1782', 'CA'), ('1807', 'CA'), ('1819', 'CA'), ('1825', 'CA'),
    ('1867', 'CA'), ('1873', 'CA'), ('1879', 'CA'), ('1902', 'CA'), ('1905', 'CA'),
    ('1942', 'CA'),
    -- Zone 2: Africa and some islands.
    ('20', 'EG'), ('211', 'SS'), ('212', 'MA'), ('213', 'DZ'), ('216', 'TN'), ('218', 'LY'),
    ('220', 'GM'), ('221', 'SN'), ('222', 'MR'), ('223', 'ML'), ('224', 'GN'), ('225', 'CI'),
    ('226', 'BF'), ('227', 'NE'), ('228', 'TG'), ('229', 'BJ'), ('230', 'MU'), ('231', 'LR'),
    ('232', 'SL'), ('233', 'GH'), ('234', 'NG'), ('235', 'TD'), ('236', 'CF'), ('237', 'CM'),
    ('238', 'CV'), ('239', 'ST'), ('240', 'GQ'), ('241', 'GA'), ('242', 'CG'), ('243', 'CD'),
    ('244', 'AO'), ('245', 'GW'), ('246', 'IO'), ('247', 'SH'), ('248', 'SC'), ('249', 'SD'),
    ('250', 'RW'), ('251', 'ET'), ('252', 'SO'), ('253', 'DJ'), ('254', 'KE'), ('255', 'TZ'),
    ('256', 'UG'), ('257', 'BI'), ('258', 'MZ'), ('260', 'ZM'), ('261', 'MG'), ('262', 'RE'),
    ('262269', 'YT'), ('262639', 'YT'), ('263', 'ZW'), ('264', 'NA'), ('265', 'MW'),
    ('266', 'LS'), ('267', 'BW'), ('268', 'SZ'), ('269', 'KM'), ('27', 'ZA'), ('290', 'SH'),
    ('291', 'ER'), ('297', 'AW'), ('298', 'FO'), ('299', 'GL'),
    -- Zones 3 and 4: Europe.
    ('30', 'GR'), ('31', 'NL'), ('32', 'BE'), ('33', 'FR'), ('34', 'ES'), ('350', 'GI'),
    ('351', 'PT'), ('352', 'LU'), ('353', 'IE'), ('354', 'IS'), ('355', 'AL'), ('356', 'MT'),
    ('357', 'CY'), ('358', 'FI'), ('35818', 'AX'), ('359', 'BG'), ('36', 'HU'), ('370', 'LT'),
    ('371', 'LV'), ('372', 'EE'), ('373', 'MD'), ('374', 'AM'), ('375', 'BY'), ('376', 'AD'),
    ('377', 'MC'), ('378', 'SM'), ('379', 'VA'), ('380', 'UA'), ('381', 'RS'), ('382', 'ME'),
    ('383', 'XK'), ('385', 'HR'), ('386', 'SI'), ('387', 'BA'), ('389', 'MK'), ('39', 'IT'),
    ('3906698', 'VA'), ('40', 'RO'), ('41', 'CH'), ('420', 'CZ'), ('421', 'SK'),
    ('423', 'LI'), ('43', 'AT'), ('44', 'GB'), ('441481', 'GG'), ('447781', 'GG'),
    ('447839', 'GG'), ('447911', 'GG'), ('441534', 'JE'), ('447509', 'JE'), ('447700', 'JE'),
    ('447797', 'JE'), ('447829', 'JE'), ('447937', 'JE'), ('441624', 'IM'), ('447524', 'IM'),
    ('447624', 'IM'), ('447924', 'IM'), ('45', 'DK'), ('46', 'SE'), ('47', 'NO'),
    ('4779', 'SJ'), ('48', 'PL'), ('49', 'DE'),
    -- Zone 5: the Americas outside NANP.
    ('500', 'FK'), ('501', 'BZ'), ('502', 'GT'), ('503', 'SV'), ('504', 'HN'), ('505', 'NI'),
    ('506', 'CR'), ('507', 'PA'), ('508', 'PM'), ('509', 'HT'), ('51', 'PE'), ('52', 'MX'),
    ('53', 'CU'), ('54', 'AR'), ('55', 'BR'), ('56', 'CL'), ('57', 'CO'), ('58', 'VE'),
    ('590', 'GP'), ('591', 'BO'), ('592', 'GY'), ('593', 'EC'), ('594', 'GF'), ('595', 'PY'),
    ('596', 'MQ'), ('597', 'SR'), ('598', 'UY'), ('599', 'CW'), ('5993', 'BQ'),
    ('5994', 'BQ'), ('5997', 'BQ'),
    -- Zone 6: South-East Asia and Oceania.
    ('60', 'MY'), ('61', 'AU'), ('6189162', 'CC'), ('6189164', 'CX'), ('62', 'ID'),
    ('63', 'PH'), ('64', 'NZ'), ('65', 'SG'), ('66', 'TH'), ('670', 'TL'), ('6721', 'AQ'),
    ('6723', 'NF'), ('673', 'BN'), ('674', 'NR'), ('675', 'PG'), ('676', 'TO'), ('677', 'SB'),
    ('678', 'VU'), ('679', 'FJ'), ('680', 'PW'), ('681', 'WF'), ('682', 'CK'), ('683', 'NU'),
    ('685', 'WS'), ('686', 'KI'), ('687', 'NC'), ('688', 'TV'), ('689', 'PF'), ('690', 'TK'),
    ('691', 'FM'), ('692', 'MH'),
    -- Zone 7: Russia and Kazakhstan.
    ('7', 'RU'), ('76', 'KZ'), ('77', 'KZ'),
    -- Zone 8: East Asia.
    ('81', 'JP'), ('82', 'KR'), ('84', 'VN'), ('850', 'KP'), ('852', 'HK'), ('853', 'MO'),
    ('855', 'KH'), ('856', 'LA'), ('86', 'CN'), ('880', 'BD'), ('886', 'TW'),
    -- Zone 9: West, Central and South Asia.
    ('90', 'TR'), ('91', 'IN'), ('92', 'PK'), ('93', 'AF'), ('94', 'LK'), ('95', 'MM'),
    ('960', 'MV'), ('961', 'LB'), ('962', 'JO'), ('963', 'SY'), ('964', 'IQ'), ('965', 'KW'),
    ('966', 'SA'), ('967', 'YE'), ('968', 'OM'), ('970', 'PS'), ('971', 'AE'), ('972', 'IL'),
    ('973', 'BH'), ('974', 'QA'), ('975', 'BT'), ('976', 'MN'), ('977', 'NP'), ('98', 'IR'),
    ('992', 'TJ'), ('993', 'TM'), ('994', 'AZ'), ('995', 'GE'), ('996', 'KG'), ('998', 'UZ');

-- The ISO 3166-1 alpha-2 country of an E.164 number (longest matching prefix), NULL for a
-- number of no country (global services, unassigned codes).
CREATE FUNCTION call_country_of(p_number text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT c.country FROM call_country_codes c
     WHERE c.prefix = ANY (ARRAY(SELECT left(substr(p_number, 2), n)
                                   FROM generate_series(1, 8) AS n))
     ORDER BY length(c.prefix) DESC
     LIMIT 1
$$;

-- ---------------------------------------------------------------------------------------
-- The operator's settings per tenant (PATCH /admin/v1/tenants/{id}):
--   allowed_countries     NULL: any country; else only these (never empty)
--   blocked_countries     never these (checked after the allow list)
--   blocked_prefixes      "+<digits>": no destination starting with any of them
--   max_concurrent_calls  NULL: no limit; calls of the tenant not ended or failed, both
--                         directions (inbound calls count but only POST /v1/calls is refused)
--   calls_per_second      NULL: no limit; outbound calls created in the last second
-- (the columns are in 0001's tenants table; 0002 renders them, 0011's whoami shows the
-- limits, 0010's tenant create and PATCH apply them with api_rules_apply below)

-- A list of countries from an operator request: each element a country of
-- call_country_codes; sorted, without duplicates. The gateway checked it is an array.
CREATE FUNCTION api_rules_countries(p_list jsonb, p_field text) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT v, n FROM jsonb_array_elements(p_list) WITH ORDINALITY AS x(v, n) LOOP
        IF jsonb_typeof(e.v) <> 'string' THEN
            PERFORM voepy_raise('invalid_request', format('%s[%s]', p_field, e.n - 1),
                                format('%s[%s] must be a string.', p_field, e.n - 1));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM call_country_codes c WHERE c.country = e.v #>> '{}') THEN
            PERFORM voepy_raise('invalid_parameter', format('%s[%s]', p_field, e.n - 1),
                                format('%s[%s] must be an ISO 3166-1 alpha-2 country code in '
                                       'upper case ("GB", not "UK") that has a calling code.',
                                       p_field, e.n - 1));
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT v FROM jsonb_array_elements_text(p_list) AS x(v) ORDER BY v);
END $$;

-- Blocked prefixes: "+" (optional) and 1 to 15 digits, stored as "+<digits>".
CREATE FUNCTION api_rules_prefixes(p_list jsonb, p_field text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT v, n FROM jsonb_array_elements(p_list) WITH ORDINALITY AS x(v, n) LOOP
        IF jsonb_typeof(e.v) <> 'string' THEN
            PERFORM voepy_raise('invalid_request', format('%s[%s]', p_field, e.n - 1),
                                format('%s[%s] must be a string.', p_field, e.n - 1));
        END IF;
        IF (e.v #>> '{}') !~ '^\+?[1-9][0-9]{0,14}$' THEN
            PERFORM voepy_raise('invalid_parameter', format('%s[%s]', p_field, e.n - 1),
                                format('%s[%s] must be an E.164 prefix: "+" and 1 to 15 '
                                       'digits, the first not 0.', p_field, e.n - 1));
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT '+' || ltrim(v, '+') FROM jsonb_array_elements_text(p_list) AS x(v)
                  ORDER BY 1);
END $$;

-- The rule columns of a tenant after an operator request: members absent keep t's value,
-- null clears (allowed_countries, max_concurrent_calls, calls_per_second: no limit;
-- blocked lists: empty).
CREATE FUNCTION api_rules_apply(t tenants, p_req jsonb) RETURNS tenants
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_req ? 'allowed_countries' THEN
        t.allowed_countries := CASE WHEN jsonb_typeof(p_req->'allowed_countries') = 'array'
                                    THEN api_rules_countries(p_req->'allowed_countries',
                                                             'allowed_countries') END;
    END IF;
    IF p_req ? 'blocked_countries' THEN
        t.blocked_countries := coalesce(CASE WHEN jsonb_typeof(p_req->'blocked_countries') = 'array'
                                             THEN api_rules_countries(p_req->'blocked_countries',
                                                                      'blocked_countries') END, '{}');
    END IF;
    IF p_req ? 'blocked_prefixes' THEN
        t.blocked_prefixes := coalesce(CASE WHEN jsonb_typeof(p_req->'blocked_prefixes') = 'array'
                                            THEN api_rules_prefixes(p_req->'blocked_prefixes',
                                                                    'blocked_prefixes') END, '{}');
    END IF;
    IF p_req ? 'max_concurrent_calls' THEN
        t.max_concurrent_calls := (p_req->>'max_concurrent_calls')::int;
    END IF;
    IF p_req ? 'calls_per_second' THEN
        t.calls_per_second := (p_req->>'calls_per_second')::int;
    END IF;
    RETURN t;
END $$;

-- ---------------------------------------------------------------------------------------
-- Opt-outs (/v1/opt_outs): numbers that asked not to be called by this tenant.

CREATE TABLE opt_outs (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants(id),
    phone_number text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{5,14}$'),
    reason       text CHECK (length(reason) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, phone_number)
);
CREATE INDEX opt_outs_tenant ON opt_outs (tenant_id, created_at DESC, id DESC);

CREATE FUNCTION voepy_opt_out_json(o opt_outs) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', o.id, 'phone_number', o.phone_number, 'reason', o.reason,
                             'created_at', voepy_ts(o.created_at))
$$;

-- POST /v1/opt_outs. A number already on the list is 409 conflict naming the entry (its
-- reason is not changed: delete and add again to change it).
CREATE FUNCTION api_opt_out_create(p_tenant text, p_req jsonb, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    o opt_outs;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    INSERT INTO opt_outs (id, tenant_id, phone_number, reason)
    VALUES (voepy_id('opt'), p_tenant, p_req->>'phone_number', p_req->>'reason')
    ON CONFLICT (tenant_id, phone_number) DO NOTHING
    RETURNING * INTO o;
    IF o.id IS NULL THEN
        SELECT * INTO o FROM opt_outs x
         WHERE x.tenant_id = p_tenant AND x.phone_number = p_req->>'phone_number';
        PERFORM voepy_raise('conflict', 'phone_number',
                            format('%s is already on the opt-out list (%s).', o.phone_number, o.id));
    END IF;
    v_body := voepy_opt_out_json(o)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- GET /v1/opt_outs: newest first; p_number (NULL: any) looks one number up.
CREATE FUNCTION api_opt_outs_list(p_tenant text, p_number text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (o.created_at, o.id, voepy_opt_out_json(o))::api_page_row FROM opt_outs o
         WHERE o.tenant_id = p_tenant
           AND (p_number IS NULL OR o.phone_number = p_number)
           AND (cur.t IS NULL OR (o.created_at, o.id) < (cur.t, cur.id))
         ORDER BY o.created_at DESC, o.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

-- DELETE /v1/opt_outs/{id}: the number may be called again (204).
CREATE FUNCTION api_opt_out_delete(p_tenant text, p_id text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    DELETE FROM opt_outs x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No opt-out with this id.');
    END IF;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 204, '');
    RETURN QUERY SELECT 204, ''::text, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- The rules of POST /v1/calls

-- Failed calls by destination (blocked destinations) and live calls by tenant
-- (max_concurrent_calls). Calls per second read calls_tenant_recent (0001).
CREATE INDEX calls_failed_destination ON calls (tenant_id, to_number, ended_at)
    WHERE end_reason = 'failed' AND direction = 'outbound';
CREATE INDEX calls_live_by_tenant ON calls (tenant_id) WHERE status NOT IN ('ended', 'failed');

-- Until when calls from p_tenant to p_to are refused (NULL: they are not). A failure of the
-- destination is an outbound call that ended with end_reason 'failed': call-control's
-- reason for a final SIP answer other than busy (486, 600), no answer (408, 480), decline
-- (603) and cancel, and for a far end that never answered the INVITE. Busy, no answer,
-- rejected, canceled and our own system_failure are not the destination failing. The
-- destination is blocked for one hour after any failure that completes 5 failures within
-- an hour (that failure and the 4 before it within the hour before it).
CREATE FUNCTION call_destination_blocked_until(p_tenant text, p_to text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT max(f.ended_at) + interval '1 hour'
      FROM (SELECT c.ended_at,
                   count(*) OVER (ORDER BY c.ended_at
                                  RANGE BETWEEN interval '1 hour' PRECEDING AND CURRENT ROW) AS n
              FROM calls c
             WHERE c.tenant_id = p_tenant AND c.to_number = p_to AND c.direction = 'outbound'
               AND c.end_reason = 'failed' AND c.ended_at > now() - interval '2 hours') f
     WHERE f.n >= 5 AND f.ended_at + interval '1 hour' > now()
$$;

-- Whole seconds from now until p_until, at least 1.
CREATE FUNCTION call_rules_wait_secs(p_until timestamptz) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT greatest(1, ceil(extract(epoch FROM (p_until - clock_timestamp()))))::int
$$;

-- The destination's country, prefix, opt-out and failure rules.
CREATE FUNCTION call_rules_check_destination(t tenants, p_to text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_country text := call_country_of(p_to);
    v_prefix text;
    v_until timestamptz;
BEGIN
    IF t.allowed_countries IS NOT NULL AND (v_country IS NULL OR v_country <> ALL (t.allowed_countries)) THEN
        PERFORM voepy_raise('country_not_allowed', 'to',
                            format('Calls to %s are not allowed: the account may call %s only.',
                                   coalesce(v_country, 'numbers of no country'),
                                   array_to_string(t.allowed_countries, ', ')));
    END IF;
    IF v_country = ANY (t.blocked_countries) THEN
        PERFORM voepy_raise('country_blocked', 'to',
                            format('Calls to %s are blocked for this account.', v_country));
    END IF;
    SELECT p INTO v_prefix FROM unnest(t.blocked_prefixes) AS p
     WHERE starts_with(p_to, p) ORDER BY length(p) DESC LIMIT 1;
    IF v_prefix IS NOT NULL THEN
        PERFORM voepy_raise('prefix_blocked', 'to',
                            format('Calls to numbers starting with %s are blocked for this account.',
                                   v_prefix));
    END IF;
    IF EXISTS (SELECT 1 FROM opt_outs o WHERE o.tenant_id = t.id AND o.phone_number = p_to) THEN
        PERFORM voepy_raise('opt_out', 'to',
                            format('%s opted out of calls from this account.', p_to));
    END IF;
    v_until := call_destination_blocked_until(t.id, p_to);
    IF v_until IS NOT NULL THEN
        PERFORM voepy_raise('blocked_destination', 'to',
                            format('Calls to %s failed 5 times within an hour; the destination '
                                   'is blocked until %s. Retry after %s s.', p_to,
                                   voepy_ts(v_until), call_rules_wait_secs(v_until)));
    END IF;
END $$;

-- The tenant's concurrency and calls-per-second limits. Serialised per tenant with an
-- advisory lock held until the creating transaction ends, so that two requests never both
-- see room for one more call (only when the tenant has a limit: others are not serialised).
-- Calls per second compare initiated_at, which is now() (this transaction's start) for the
-- new call too: every call counts the calls committed before it whose initiated_at is
-- within a second of its own, so no calls_per_second + 1 calls ever have initiated_at
-- within one second of each other, however long a request waited for the lock.
CREATE FUNCTION call_rules_check_limits(t tenants) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF t.max_concurrent_calls IS NULL AND t.calls_per_second IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('voepy_call_limits:' || t.id, 0));
    IF t.max_concurrent_calls IS NOT NULL THEN
        SELECT count(*) INTO n FROM calls c
         WHERE c.tenant_id = t.id AND c.status NOT IN ('ended', 'failed');
        IF n >= t.max_concurrent_calls THEN
            PERFORM voepy_raise('rate_limited', NULL,
                                format('Too many concurrent calls: this account may have %s '
                                       'calls in progress (max_concurrent_calls). Retry after 2 s.',
                                       t.max_concurrent_calls));
        END IF;
    END IF;
    IF t.calls_per_second IS NOT NULL THEN
        SELECT count(*) INTO n FROM calls c
         WHERE c.tenant_id = t.id AND c.direction = 'outbound'
           AND c.initiated_at > now() - interval '1 second';
        IF n >= t.calls_per_second THEN
            PERFORM voepy_raise('rate_limited', NULL,
                                format('Too many calls placed: this account may place %s per '
                                       'second (calls_per_second). Retry after 1 s.',
                                       t.calls_per_second));
        END IF;
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------
-- GET /v1/calls/{id}/events: the call's events, oldest first, each exactly the webhook
-- envelope (wh_envelope, 0040: id, type, created_at = when it occurred, data). Ordered by
-- (occurred_at, seq); the cursor records that pair ("<epoch us>|<seq>").

CREATE INDEX events_call ON events (call_id, occurred_at, seq) WHERE call_id IS NOT NULL;

CREATE FUNCTION api_call_events(p_tenant text, p_id text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_raw text := api_cursor_decode(p_cursor, '^[0-9]{1,18}\|[0-9]{1,19}$');
    v_t timestamptz := api_cursor_time(v_raw);
    v_seq bigint := split_part(v_raw, '|', 2)::bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = p_id AND c.tenant_id = p_tenant) THEN
        PERFORM voepy_raise('not_found', NULL, 'No call with this id.');
    END IF;
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (e.occurred_at, e.seq::text,
                json_build_object('id', e.id, 'type', e.type, 'created_at', voepy_ts(e.occurred_at),
                                  'data', e.data))::api_page_row
          FROM events e
         WHERE e.call_id = p_id AND e.tenant_id = p_tenant
           AND (v_raw IS NULL OR (e.occurred_at, e.seq) > (v_t, v_seq))
         ORDER BY e.occurred_at, e.seq
         LIMIT p_limit + 1), p_limit);
END $$;
