#pragma once

// The Redis Function library "l0l3": the one way gateways propose, and the
// one way the console moves proposals into the stream. The console (the
// writer) loads it on the primary with FUNCTION LOAD REPLACE when it
// connects; the demo and the test fixtures load it too. Functions are
// replicated and persisted like data, so a promoted replica keeps it.
// docs/SCHEMA.md explains the limits and their arithmetic.
//
// FCALL l0l3_propose 0 KEY PACKED   (the gateway user)
//   KEY: the cache key (32 lower-case hex); PACKED: ProposalCodec's
//   kPackedField value (netstring pairs). The function touches only keys it
//   names itself (RedisSchema), never a key the caller chooses. It
//   - refuses a malformed proposal with "BADPROPOSAL <why>": a key that is not
//     32 hex, PACKED over max_bytes, a field name it does not know or given
//     twice, a missing field (every field of the key is required), a short
//     field over its size, a number that is not decimal; the optional L1
//     candidate (l1_key: 32 hex, l1_similarity: a decimal of at most 8
//     bytes) comes as both fields or neither;
//   - answers "rejected" while the key is in the rejected set;
//   - counts demand: HINCRBY seen:KEY REGION and _total; a seen hash gets a
//     TTL (seen_ttl_ms) when it is created and at most 64 regions;
//   - on a key's first miss only: refuses with "INBOXFULL <why>" while the
//     inbox holds inbox_max_len proposals, then a per-namespace and a global
//     rate limit per minute ("RATELIMITED <why>"), then RPUSHes the proposal
//     (the netstring of KEY, then PACKED) to the inbox. Answers "proposed" or
//     "counted". A refused first miss counts no demand, so the next miss of
//     the key proposes it again.
//
// FCALL l0l3_drain 0 COUNT   (the console user, ProposalQueue)
//   LPOPs up to COUNT (at most kDrainMax) inbox elements and checks each
//   with the decoder l0l3_propose uses: an element is untrusted, since the
//   gateway user may RPUSH anything. A good one is XADDed to the proposals
//   stream as fields "key" and "fields" (ProposalCodec), trimmed exactly to
//   max_len entries when full, else of entries older than max_age_ms (MINID).
//   Every call, whether it moved anything or not, then trims the stream of
//   entries older than max_age_ms (XTRIM MINID): proposals hold users'
//   prompts, and a quiet deployment must forget them too (retention,
//   docs/SCHEMA.md). One call is atomic: an element is either in the inbox or
//   in the stream.
//   Answers [moved, left in the inbox, [why, first bytes, why, ...]] with
//   one pair per element dropped.
//
// FCALL l0l3_heartbeat 0   (the gateway user, once a second; the console may)
//   TIME, then SET RedisSchema::kHeartbeat to the primary's clock in ms
//   unless the stored value is already at or ahead of it (by at most 5 s:
//   further ahead is replaced), so several writers never move it backwards.
//   Answers the value the key holds afterwards (an integer).
//
// FCALL l0l3_served 0 REGION KEY COUNT [KEY COUNT ...]   (the gateway user)
//   Answers a gateway served from the cache since its last flush (at most
//   kServedMaxPairs pairs, COUNT 1..999999999, KEY 32 lower-case hex, REGION
//   1..64 of [A-Za-z0-9._-]; anything else is refused whole with
//   "BADSERVED <why>"). HINCRBY RedisSchema::servedKey(KEY) "REGION:HOUR"
//   (hours since the epoch, TIME) and PEXPIRE it 25 h. The first count of a
//   region in an hour first drops the key's fields older than 25 hours, and a
//   key holds at most 64 regions' worth of them (a new field past that is not
//   counted). Answers the number of keys counted.
//
// FCALL l0l3_l1_review 0 KEY ENTRY SIMILARITY NS PROMPT REGION   (the gateway user)
//   One L1 answer a gateway served (a sample, --semantic-review-sample), for
//   an operator to confirm or deny: KEY the request's cache key, ENTRY the
//   entry that answered (both 32 lower-case hex), SIMILARITY a decimal in
//   [0, 1] of at most 8 bytes, NS at most 256 bytes, PROMPT at most
//   kL1ReviewMaxPromptBytes, REGION 1..64 of [A-Za-z0-9._-]; anything else is
//   refused with "BADREVIEW <why>". XADDs RedisSchema::kL1Review fields key,
//   entry, similarity, ns, prompt, region, ts (the primary's clock, ms),
//   trimmed to about kL1ReviewMaxLen entries (MAXLEN ~). Answers "sampled".
//
// Limits: the defaults in DEFAULTS below (max_len is
// RedisSchema::kProposalsMaxLen, inbox_max_len RedisSchema::kProposalInboxMaxLen),
// overridden field by field by the console in the hash
// RedisSchema::kProposalLimits (max_len, max_age_ms, max_bytes, seen_ttl_ms,
// ns_per_min, total_per_min, inbox_max_len).
//
// Redis 7.0 runs the commands a function calls with the caller's ACL: the
// gateway user is granted exactly the commands l0l3_propose runs, on exactly
// those keys (packaging/redis/users.acl), each in its own selector. That is
// why gateways only append to a list: with XADD a gateway credential could
// trim the stream (XADD ... MAXLEN 0), which no ACL rule can refuse.

#include <string_view>

namespace l0l3::ProposalFunction {

inline constexpr std::string_view kLibraryName = "l0l3";
inline constexpr std::string_view kProposeName = "l0l3_propose";
inline constexpr std::string_view kDrainName = "l0l3_drain";
inline constexpr std::string_view kHeartbeatName = "l0l3_heartbeat";
inline constexpr std::string_view kServedName = "l0l3_served";
// The most KEY COUNT pairs one l0l3_served takes.
inline constexpr int kServedMaxPairs = 1000;
inline constexpr std::string_view kL1ReviewName = "l0l3_l1_review";
// Bounds of l0l3_l1_review, as in the library below.
inline constexpr int kL1ReviewMaxLen = 10000;
inline constexpr int kL1ReviewMaxPromptBytes = 2048;
// The most inbox elements one l0l3_drain moves (a larger COUNT is clamped).
inline constexpr int kDrainMax = 1000;
// Retention defaults, as in DEFAULTS below (a test checks that they agree):
// proposals older than this are trimmed from the stream; a demand counter
// (seen:KEY) expires this long after the key's first miss. Both are
// overridden by max_age_ms / seen_ttl_ms in RedisSchema::kProposalLimits.
inline constexpr long long kDefaultMaxAgeMs = 7LL * 24 * 3600 * 1000;
inline constexpr long long kDefaultSeenTtlMs = 24LL * 3600 * 1000;

// Answers of l0l3_propose (status replies).
inline constexpr std::string_view kProposed = "proposed";
inline constexpr std::string_view kCounted = "counted";
inline constexpr std::string_view kRejected = "rejected";
// Error codes (the first word of an error reply).
inline constexpr std::string_view kBadProposal = "BADPROPOSAL";
inline constexpr std::string_view kRateLimited = "RATELIMITED";
inline constexpr std::string_view kInboxFull = "INBOXFULL";

inline constexpr std::string_view kLibrary = R"lua(#!lua name=l0l3

local PREFIX = 'l0l3:v1:'
local PROPOSALS = PREFIX .. 'proposals'
local INBOX = PREFIX .. 'proposal-inbox'
local REJECTED = PREFIX .. 'rejected'
local LIMITS = PREFIX .. 'proposal-limits'
local RATE = PREFIX .. 'proposal-rate:'
local SEEN = PREFIX .. 'seen:'
local SEEN_TOTAL = '_total'
local MAX_REGIONS = 64
local DRAIN_MAX = 1000

local DEFAULTS = {
    max_len = 100000, max_age_ms = 604800000, max_bytes = 32768,
    seen_ttl_ms = 86400000, ns_per_min = 600, total_per_min = 1200,
    inbox_max_len = 10000,
}
-- Every field ProposalCodec packs; 0: no size of its own (max_bytes bounds it).
local FIELDS = {
    ns = 256, system = 0, prompt = 0, response = 0, model = 256, region = 64,
    ts = 20, upstream_ms = 20, prompt_tokens = 20, completion_tokens = 20,
    response_format = 0, tools = 0, tool_choice = 0,
    l1_key = 32, l1_similarity = 8,
}
local NUMBERS = { ts = true, upstream_ms = true, prompt_tokens = true, completion_tokens = true }
-- The L1 shadow candidate: both or neither.
local OPTIONAL = { l1_key = true, l1_similarity = true }

local function bad(why)
    return redis.error_reply('BADPROPOSAL ' .. why)
end

-- One netstring "<len>:<bytes>," at pos: its bytes and the position after it.
-- Few library calls per netstring: this runs 26 times per proposal.
local function netstring(s, pos)
    local digits, first = string.match(s, '^(%d+):()', pos)
    if not digits or #digits > 10 or (#digits > 1 and string.byte(digits) == 48) then
        return nil
    end
    local last = first + tonumber(digits) - 1
    if string.byte(s, last + 1) ~= 44 then
        return nil
    end
    return string.sub(s, first, last), last + 2
end

-- How many fields every proposal has (all but OPTIONAL), counted on the first
-- call (loading a library may not iterate a table).
local REQUIRED = nil
local function required_count()
    local n = 0
    for name in pairs(FIELDS) do
        if not OPTIONAL[name] then
            n = n + 1
        end
    end
    return n
end

local function unpack_fields(packed)
    local fields = {}
    local pos, size, required = 1, #packed, 0
    while pos <= size do
        local name, value
        name, pos = netstring(packed, pos)
        if name then
            value, pos = netstring(packed, pos)
        end
        if not value then
            return nil, 'fields is not a list of netstring pairs'
        end
        local limit = FIELDS[name]
        if not limit then
            return nil, 'unknown field "' .. string.sub(name, 1, 64) .. '"'
        end
        if fields[name] then
            return nil, 'field "' .. name .. '" given twice'
        end
        if limit > 0 and #value > limit then
            return nil, 'field "' .. name .. '" is ' .. #value .. ' bytes, the limit is ' .. limit
        end
        if NUMBERS[name] and not string.find(value, '^%d+$') then
            return nil, 'field "' .. name .. '" is not a decimal number'
        end
        fields[name] = value
        if not OPTIONAL[name] then
            required = required + 1
        end
    end
    REQUIRED = REQUIRED or required_count()
    if required ~= REQUIRED then
        for name in pairs(FIELDS) do
            if not fields[name] and not OPTIONAL[name] then
                return nil, 'missing field "' .. name .. '"'
            end
        end
    end
    local l1_key, l1_similarity = fields.l1_key, fields.l1_similarity
    if l1_key or l1_similarity then
        if (l1_key == nil) ~= (l1_similarity == nil) then
            return nil, 'l1_key and l1_similarity go together'
        end
        if not (#l1_key == 32 and string.find(l1_key, '^[0-9a-f]+$')) then
            return nil, 'field "l1_key" is not 32 lower-case hex digits'
        end
        if not string.find(l1_similarity, '^%-?[01]%.%d+$') then
            return nil, 'field "l1_similarity" is not a decimal in [-1, 1]'
        end
    end
    return fields
end

-- The limits, parsed again only when the stored hash changes: cached with the
-- HGETALL reply they came from, compared element by element on every call.
local cached_stored, cached_limits = nil, nil

local function limits()
    local stored = redis.call('HGETALL', LIMITS)
    if cached_stored and #stored == #cached_stored then
        local same = true
        for i = 1, #stored do
            if stored[i] ~= cached_stored[i] then
                same = false
                break
            end
        end
        if same then
            return cached_limits
        end
    end
    local out = {}
    for name, value in pairs(DEFAULTS) do
        out[name] = value
    end
    for i = 1, #stored, 2 do
        local value = tonumber(stored[i + 1])
        if out[stored[i]] and value and value >= 1 then
            out[stored[i]] = math.floor(value)
        end
    end
    -- PEXPIRE's argument, formatted once.
    out.seen_ttl_ms_arg = string.format('%d', out.seen_ttl_ms)
    cached_stored, cached_limits = stored, out
    return out
end

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Per-namespace and global proposals in this minute; nil when within both.
local function rate_limited(lim, ns, now)
    local window = RATE .. string.format('%d', math.floor(now / 60000))
    local ns_field = 'ns:' .. ns
    local counts = redis.call('HMGET', window, '*', ns_field)
    if tonumber(counts[1] or '0') >= lim.total_per_min then
        return 'RATELIMITED more than ' .. lim.total_per_min .. ' new proposals this minute'
    end
    if tonumber(counts[2] or '0') >= lim.ns_per_min then
        return 'RATELIMITED more than ' .. lim.ns_per_min .. ' new proposals this minute in this namespace'
    end
    redis.call('HINCRBY', window, '*', '1')
    redis.call('HINCRBY', window, ns_field, '1')
    redis.call('PEXPIRE', window, '120000')
    return nil
end

local function valid_key(key)
    return #key == 32 and string.match(key, '^[0-9a-f]+$') ~= nil
end

local function propose(keys, args)
    if #keys ~= 0 or #args ~= 2 then
        return bad('usage: FCALL l0l3_propose 0 KEY FIELDS')
    end
    local key, packed = args[1], args[2]
    if not valid_key(key) then
        return bad('key is not 32 lower-case hex digits')
    end
    local lim = limits()
    if #packed > lim.max_bytes then
        return bad('fields are ' .. #packed .. ' bytes, the limit is ' .. lim.max_bytes)
    end
    local fields, why = unpack_fields(packed)
    if not fields then
        return bad(why)
    end
    local now = now_ms()
    local rejected = redis.call('ZSCORE', REJECTED, key)
    if rejected and tonumber(rejected) > now then
        return redis.status_reply('rejected')
    end
    local seen = SEEN .. key
    local regions = redis.call('HLEN', seen)
    if regions == 0 then
        if redis.call('LLEN', INBOX) >= lim.inbox_max_len then
            return redis.error_reply('INBOXFULL ' .. lim.inbox_max_len .. ' proposals wait for the console')
        end
        local limited = rate_limited(lim, fields.ns, now)
        if limited then
            return redis.error_reply(limited)
        end
    elseif regions > MAX_REGIONS and redis.call('HEXISTS', seen, fields.region) == 0 then
        return bad('more than ' .. MAX_REGIONS .. ' regions counted for this key')
    end
    redis.call('HINCRBY', seen, fields.region, '1')
    if redis.call('HINCRBY', seen, SEEN_TOTAL, '1') ~= 1 then
        return redis.status_reply('counted')
    end
    redis.call('PEXPIRE', seen, lim.seen_ttl_ms_arg)
    -- The key is 32 bytes (valid_key).
    redis.call('RPUSH', INBOX, '32:' .. key .. ',' .. packed)
    return redis.status_reply('proposed')
end

-- An inbox element: its key and packed fields, or nil and why not.
local function inbox_element(lim, element)
    local key, pos = netstring(element, 1)
    if not key then
        return nil, nil, 'not a key netstring followed by fields'
    end
    if not valid_key(key) then
        return nil, nil, 'key is not 32 lower-case hex digits'
    end
    local packed = string.sub(element, pos)
    if #packed > lim.max_bytes then
        return nil, nil, 'fields are ' .. #packed .. ' bytes, the limit is ' .. lim.max_bytes
    end
    local fields, why = unpack_fields(packed)
    if not fields then
        return nil, nil, why
    end
    return key, packed
end

local function append(lim, now, key, packed)
    if redis.call('XLEN', PROPOSALS) >= lim.max_len then
        redis.call('XADD', PROPOSALS, 'MAXLEN', '=', lim.max_len, '*', 'key', key, 'fields', packed)
    else
        redis.call('XADD', PROPOSALS, 'MINID', '=', string.format('%d', math.max(now - lim.max_age_ms, 0)), '*', 'key', key, 'fields', packed)
    end
end

local function drain(keys, args)
    if #keys ~= 0 or #args ~= 1 or not string.match(args[1], '^%d+$') or tonumber(args[1]) < 1 then
        return redis.error_reply('ERR usage: FCALL l0l3_drain 0 COUNT')
    end
    local elements = redis.call('LPOP', INBOX, math.min(tonumber(args[1]), DRAIN_MAX))
    local moved, dropped = 0, {}
    local lim = limits()
    local now = now_ms()
    if elements then
        for _, element in ipairs(elements) do
            local key, packed, why = inbox_element(lim, element)
            if key then
                append(lim, now, key, packed)
                moved = moved + 1
            else
                dropped[#dropped + 1] = why
                dropped[#dropped + 1] = string.sub(element, 1, 100)
            end
        end
    end
    redis.call('XTRIM', PROPOSALS, 'MINID', '=', string.format('%d', math.max(now - lim.max_age_ms, 0)))
    return { moved, redis.call('LLEN', INBOX), dropped }
end

-- The primary's clock, never moved backwards by a writer; a stored value more
-- than HEARTBEAT_FUTURE_MS ahead of this clock (forged, or from a primary
-- with another clock) is replaced.
local HEARTBEAT = PREFIX .. 'heartbeat'
local HEARTBEAT_FUTURE_MS = 5000

local function heartbeat(keys, args)
    if #keys ~= 0 or #args ~= 0 then
        return redis.error_reply('ERR usage: FCALL l0l3_heartbeat 0')
    end
    local now = now_ms()
    local current = redis.call('GET', HEARTBEAT)
    local stored = current and string.match(current, '^%d+$') and #current <= 15 and tonumber(current)
    if stored and stored >= now and stored <= now + HEARTBEAT_FUTURE_MS then
        return stored
    end
    redis.call('SET', HEARTBEAT, string.format('%d', now))
    return now
end

-- Answers served from the cache, per key, region and hour: the blast radius of an edit or a revocation.
local SERVED = PREFIX .. 'served:'
local SERVED_HOURS = 25
local SERVED_TTL_MS = SERVED_HOURS * 3600000
local SERVED_MAX_PAIRS = 1000
local SERVED_MAX_FIELDS = MAX_REGIONS * SERVED_HOURS

local function served_bad(why)
    return redis.error_reply('BADSERVED ' .. why)
end

-- Drops the fields of a served hash older than `oldest` (or that do not parse).
local function served_prune(key, oldest)
    for _, field in ipairs(redis.call('HKEYS', key)) do
        local hour = tonumber(string.match(field, ':(%d+)$') or '')
        if not hour or hour < oldest then
            redis.call('HDEL', key, field)
        end
    end
end

local function served(keys, args)
    if #keys ~= 0 or #args < 3 or #args % 2 ~= 1 then
        return redis.error_reply('ERR usage: FCALL l0l3_served 0 REGION KEY COUNT [KEY COUNT ...]')
    end
    if (#args - 1) / 2 > SERVED_MAX_PAIRS then
        return served_bad('more than ' .. SERVED_MAX_PAIRS .. ' keys in one call')
    end
    local region = args[1]
    if #region > 64 or not string.match(region, '^[%w%._%-]+$') then
        return served_bad('region is not 1 to 64 letters, digits, ".", "_" or "-"')
    end
    for i = 2, #args, 2 do
        if not valid_key(args[i]) then
            return served_bad('key is not 32 lower-case hex digits')
        end
        local count = args[i + 1]
        if #count > 9 or not string.match(count, '^[1-9]%d*$') then
            return served_bad('count is not a number from 1 to 999999999')
        end
    end
    local hour = math.floor(tonumber(redis.call('TIME')[1]) / 3600)
    local field = region .. ':' .. string.format('%d', hour)
    local counted = 0
    for i = 2, #args, 2 do
        local key = SERVED .. args[i]
        local fresh = redis.call('HEXISTS', key, field) == 0
        if fresh then
            served_prune(key, hour - SERVED_HOURS + 1)
        end
        if not fresh or redis.call('HLEN', key) < SERVED_MAX_FIELDS then
            redis.call('HINCRBY', key, field, tonumber(args[i + 1]))
            redis.call('PEXPIRE', key, SERVED_TTL_MS)
            counted = counted + 1
        end
    end
    return counted
end

-- A sample of the L1 answers gateways served, for operators to confirm or deny.
local L1_REVIEW = PREFIX .. 'l1-review'
local L1_REVIEW_MAX_LEN = 10000
local L1_REVIEW_MAX_PROMPT = 2048

local function l1_review(keys, args)
    if #keys ~= 0 or #args ~= 6 then
        return redis.error_reply('ERR usage: FCALL l0l3_l1_review 0 KEY ENTRY SIMILARITY NS PROMPT REGION')
    end
    local key, entry, similarity, ns, prompt, region = args[1], args[2], args[3], args[4], args[5], args[6]
    if not valid_key(key) or not valid_key(entry) then
        return redis.error_reply('BADREVIEW key or entry is not 32 lower-case hex digits')
    end
    if #similarity > 8 or not string.match(similarity, '^[01]%.%d+$') then
        return redis.error_reply('BADREVIEW similarity is not a decimal in [0, 1]')
    end
    if #ns > 256 then
        return redis.error_reply('BADREVIEW ns is ' .. #ns .. ' bytes, the limit is 256')
    end
    if #prompt > L1_REVIEW_MAX_PROMPT then
        return redis.error_reply('BADREVIEW prompt is ' .. #prompt .. ' bytes, the limit is ' .. L1_REVIEW_MAX_PROMPT)
    end
    if #region > 64 or not string.match(region, '^[%w%._%-]+$') then
        return redis.error_reply('BADREVIEW region is not 1 to 64 letters, digits, ".", "_" or "-"')
    end
    redis.call('XADD', L1_REVIEW, 'MAXLEN', '~', L1_REVIEW_MAX_LEN, '*', 'key', key, 'entry', entry,
        'similarity', similarity, 'ns', ns, 'prompt', prompt, 'region', region, 'ts', string.format('%d', now_ms()))
    return redis.status_reply('sampled')
end

redis.register_function('l0l3_propose', propose)
redis.register_function('l0l3_drain', drain)
redis.register_function('l0l3_heartbeat', heartbeat)
redis.register_function('l0l3_served', served)
redis.register_function('l0l3_l1_review', l1_review)
)lua";

} // namespace l0l3::ProposalFunction
