#pragma once

// The Redis key schema shared by the gateway (reader, proposer) and the
// control plane (single writer). Changing anything here is a contract change:
// bump kVersion and update ../shared/DESIGN.md and docs/SCHEMA.md.

#include <cstddef>
#include <string>
#include <string_view>

namespace l0l3::RedisSchema {

inline constexpr std::string_view kVersion = "v1";
inline constexpr std::string_view kPrefix = "l0l3:v1:";

// kPrefix + kind + name, into `out` (its capacity reused: no allocation once it has grown).
inline void appendKey(std::string &out, std::string_view kind, std::string_view name)
{
    out.reserve(out.size() + kPrefix.size() + kind.size() + name.size());
    out.append(kPrefix).append(kind).append(name);
}

// String: EntryCodec JSON of an approved entry. Optional EXPIRE is the TTL.
inline constexpr std::string_view kEntryKind = "entry:";
inline std::string entryKey(std::string_view cacheKey)
{
    std::string out;
    appendKey(out, kEntryKind, cacheKey);
    return out;
}
inline constexpr std::string_view kEntryPattern = "l0l3:v1:entry:*";

// Hash: region -> times a gateway in that region missed on this key, plus the
// field "_total". Written only through ProposalFunction (FCALL l0l3_propose),
// which proposes only when "_total" becomes 1 and gives the hash a TTL.
inline constexpr std::string_view kSeenKind = "seen:";
inline std::string seenKey(std::string_view cacheKey)
{
    std::string out;
    appendKey(out, kSeenKind, cacheKey);
    return out;
}
inline constexpr std::string_view kSeenTotalField = "_total";

// List of proposals gateways made, each the netstring of the cache key then
// ProposalCodec's packed fields. Gateways may only RPUSH to it (through
// l0l3_propose, which refuses past kProposalInboxMaxLen elements); the
// console moves its elements into kProposals (FCALL l0l3_drain). Untrusted:
// a gateway credential can push anything.
inline constexpr std::string_view kProposalInbox = "l0l3:v1:proposal-inbox";
inline constexpr long long kProposalInboxMaxLen = 10000;

// Stream of proposals (ProposalCodec fields). Consumer group kProposalsGroup.
// Appended only by the console (l0l3_drain, from kProposalInbox), which trims
// it by size and age.
inline constexpr std::string_view kProposals = "l0l3:v1:proposals";
inline constexpr std::string_view kProposalsGroup = "console";
inline constexpr long long kProposalsMaxLen = 100000;

// Hash: limit name -> value, ProposalFunction's limits (max_len, max_age_ms,
// max_bytes, seen_ttl_ms, ns_per_min, total_per_min, inbox_max_len); written by the console,
// read by the function. A missing field keeps the function's default.
inline constexpr std::string_view kProposalLimits = "l0l3:v1:proposal-limits";
// Hash per minute (kind + minute since the epoch): "*" and "ns:NAME" ->
// proposals created in that minute. Written by ProposalFunction, expires.
inline constexpr std::string_view kProposalRateKind = "proposal-rate:";

// Stream of audit records (AuditRecord fields), written only by the console,
// never trimmed: AuditLog reports a stream that lost an entry (XINFO STREAM).
inline constexpr std::string_view kAudit = "l0l3:v1:audit";
// Hash: what `l0l3-ctl audit-archive` trimmed from kAudit after writing it to a
// file: "through" (the last trimmed id), "archived" (records trimmed so far,
// in total), "sha256" (of the last archive file), "file", "by", "at_ms".
// Written only by the audit-archiver user, read by the console: AuditLog
// accepts exactly that loss and reports any other.
inline constexpr std::string_view kAuditArchived = "l0l3:v1:audit-archived";

// Sorted set: member = cache key, score = ms epoch until which the key is not
// proposed again. Pruned by the console with ZREMRANGEBYSCORE.
inline constexpr std::string_view kRejected = "l0l3:v1:rejected";
inline constexpr long long kRejectDefaultDays = 30;

// String: VectorRecordCodec JSON, the L1 vector of the entry (or variant) at
// entryKey(cacheKey). Written by the console in the entry's transaction, with
// its expiry, and deleted with it; read by gateways (L1 index).
inline constexpr std::string_view kVectorKind = "vector:";
inline std::string vectorKey(std::string_view cacheKey)
{
    std::string out;
    appendKey(out, kVectorKind, cacheKey);
    return out;
}
inline constexpr std::string_view kVectorPattern = "l0l3:v1:vector:*";

// Set: the variant keys of a main entry. Each variant is a full entry at
// entryKey(variantKey) whose "variant_of" is the main key, with its own
// vector; editing the main entry rewrites them, revoking it deletes them.
inline std::string variantsKey(std::string_view mainKey)
{
    std::string out;
    appendKey(out, "variants:", mainKey);
    return out;
}
inline constexpr std::size_t kMaxVariantsPerEntry = 1000;

// Set: proposal keys an operator marked "not the same question" as the
// entry (negative pairs), at most kMaxL1Negatives; each tightened the
// entry's threshold in its vector record.
inline std::string l1NegativeKey(std::string_view mainKey)
{
    std::string out;
    appendKey(out, "l1-negative:", mainKey);
    return out;
}
inline constexpr std::size_t kMaxL1Negatives = 1000;

// Stream: a sample of L1 answers gateways served (or would have served in
// shadow mode), for operators to confirm or deny.
inline constexpr std::string_view kL1Review = "l0l3:v1:l1-review";

// Hash: intent name -> JSON array of approved prompt variants (unused: variants are entries).
inline std::string intentKey(std::string_view name)
{
    std::string out;
    appendKey(out, "intent:", name);
    return out;
}

// Pub/sub: message is a cache key (drop it from L0.5) or "*" (flush L0.5).
inline constexpr std::string_view kInvalidateChannel = "l0l3:v1:invalidate";
inline constexpr std::string_view kInvalidateAll = "*";

// Pub/sub: ControlMessage text, e.g. "drain nyc", "undrain nyc", "flush",
// "freeze", "unfreeze".
inline constexpr std::string_view kControlChannel = "l0l3:v1:control";

// String: the primary's clock in ms, written once a second by every gateway
// through FCALL l0l3_heartbeat (TIME + SET, never backwards) and by the
// console's ReplicationMonitor. Reading it on a replica gives the replication
// lag.
inline constexpr std::string_view kHeartbeat = "l0l3:v1:heartbeat";

// String: one gateway's announcement (FleetAnnouncer), a JSON object of at
// most kFleetRecordMaxBytes: instance, region, url, version, state, replica,
// started_ms, last_seen_ms, period_ms, expiry_ms. Rewritten every period with
// PX expiry_ms, so a gateway that stops announcing disappears. Read by the
// console and l0l3-ctl fleet (FleetRegistry); untrusted, since any gateway
// credential may write any key of this pattern.
inline constexpr std::string_view kFleetGatewayKind = "fleet:gateway:";
inline std::string fleetGatewayKey(std::string_view instance)
{
    std::string out;
    appendKey(out, kFleetGatewayKind, instance);
    return out;
}
inline constexpr std::string_view kFleetGatewayPattern = "l0l3:v1:fleet:gateway:*";
inline constexpr std::size_t kFleetRecordMaxBytes = 2048;

// Hash: namespace -> days an approved answer stays true before it must be
// re-verified, "*" for every other namespace (ReviewPolicy). Written by
// admins, read by the console when it approves, edits or keeps an entry.
inline constexpr std::string_view kReviewPolicy = "l0l3:v1:review-policy";

// Hash: "namespace:NS" | "region:R" | "cluster:ID" -> reservation JSON
// {"holder","since_ms","until_ms"}: an operator's claim on that slice of the
// proposal queue until until_ms (the primary's clock). Written only through
// ReservationStore (claim, release, removal of expired ones, each audited);
// read by every console and l0l3-ctl. Advisory: decisions do not check it.
inline constexpr std::string_view kReservations = "l0l3:v1:reservations";

// Hash per cache key: "REGION:HOUR" (hours since the epoch, the primary's
// clock) -> answers served from the cache. Written only through FCALL
// l0l3_served by gateways (their counters, flushed every few seconds),
// expires a day after its last write; read by the console for the blast
// radius of an edit or revocation. Untrusted: any gateway credential may
// count anything.
inline constexpr std::string_view kServedKind = "served:";
inline std::string servedKey(std::string_view cacheKey)
{
    std::string out;
    appendKey(out, kServedKind, cacheKey);
    return out;
}

// String per namespace: the review guidelines, Markdown of at most 64 KiB
// (Guidelines::kMaxBytes), written by admins, shown by every console beside
// the proposals of that namespace. Untrusted text: rendered without HTML.
inline constexpr std::string_view kGuidelinesKind = "guidelines:";
inline std::string guidelinesKey(std::string_view ns)
{
    std::string out;
    appendKey(out, kGuidelinesKind, ns);
    return out;
}

// Set of namespaces under the four-eyes rule: an entry of such a namespace is
// written only when a second authenticated user approves the answer a first
// one signed off (kSignOffs). Written by admins (FourEyes::set, audited), read
// by the console when it approves.
inline constexpr std::string_view kFourEyes = "l0l3:v1:four-eyes";

// Hash: cache key -> SignOff JSON, the pending first approval of a proposal in
// a four-eyes namespace (the first approver's ACL user and actor, the exact
// answer, the proposal id, the time). Written and deleted only by
// ApprovalService (approve, reject); read by consoles and l0l3-ctl to show
// "waiting for second approval". Never read by gateways.
inline constexpr std::string_view kSignOffs = "l0l3:v1:signoffs";

// String "1" while approvals are frozen.
inline constexpr std::string_view kFrozen = "l0l3:v1:frozen";

// Hash: region -> "1" while that region is drained (survives gateway restarts).
inline constexpr std::string_view kDrained = "l0l3:v1:drained";

// Hash: operator name -> JSON {role, sha256 of the password, created_ms,
// updated_ms, by} (OperatorRecord). Written by admins (l0l3-ctl operators) on
// the primary, so it replicates; each operator is also the ACL user op-NAME on
// every node (ACLs do not replicate). Not readable by viewers or approvers.
inline constexpr std::string_view kOperators = "l0l3:v1:operators";

} // namespace l0l3::RedisSchema
