#include "core/gateway/fleetannouncer.h"

#include <chrono>

#include <hiredis/hiredis.h>

#include "core/common/jsonwriter.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/utf8prefix.h"
#include "core/gateway/asioredisconnection.h"
#include "core/gateway/log.h"

namespace l0l3 {

namespace {

std::int64_t wallMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

FleetAnnouncer::FleetAnnouncer(boost::asio::io_context &context, AsioRedisConnection &primary, Info info, StateFn state)
    : m_context(context)
    , m_primary(primary)
    , m_info(std::move(info))
    , m_state(std::move(state))
    , m_key(RedisSchema::fleetGatewayKey(m_info.instance))
    , m_announceTimer(context)
    , m_heartbeatTimer(context)
{
}

FleetAnnouncer::~FleetAnnouncer()
{
    *m_alive = false;
}

std::string FleetAnnouncer::record(const Info &info, std::string_view state, std::int64_t lastSeenMs)
{
    // Strings are cut to the sizes FleetRegistry's parser accepts. Should the
    // escaped record still pass kFleetRecordMaxBytes (strings full of
    // characters JSON escapes), the fields that always fit are written alone.
    std::string out;
    JsonWriter w(out);
    w.beginObject();
    w.key("instance").value(utf8Prefix(info.instance, 200));
    w.key("region").value(utf8Prefix(info.region, 64));
    w.key("url").value(utf8Prefix(info.url, 400));
    w.key("version").value(utf8Prefix(info.version, 64));
    w.key("state").value(utf8Prefix(state, 32));
    w.key("replica").value(utf8Prefix(info.replica, 260));
    w.key("started_ms").value(info.startedMs);
    w.key("last_seen_ms").value(lastSeenMs);
    w.key("period_ms").value(static_cast<std::int64_t>(info.periodMs));
    w.key("expiry_ms").value(expiryMs(info));
    w.endObject();
    if (out.size() <= RedisSchema::kFleetRecordMaxBytes)
        return out;
    out.clear();
    JsonWriter small(out);
    small.beginObject();
    small.key("instance").value(utf8Prefix(info.instance, 64));
    small.key("state").value(utf8Prefix(state, 32));
    small.key("last_seen_ms").value(lastSeenMs);
    small.key("period_ms").value(static_cast<std::int64_t>(info.periodMs));
    small.key("expiry_ms").value(expiryMs(info));
    small.endObject();
    return out;
}

void FleetAnnouncer::start()
{
    if (m_running)
        return;
    m_running = true;
    // The first write waits for the primary connection (it starts with the gateway): a short delay.
    m_announceTimer.expires_after(std::chrono::milliseconds(100));
    m_announceTimer.async_wait([this, alive = m_alive](boost::system::error_code ec) {
        if (!ec && *alive && m_running)
            announce();
    });
    if (m_info.heartbeatMs > 0) {
        m_heartbeatTimer.expires_after(std::chrono::milliseconds(100));
        m_heartbeatTimer.async_wait([this, alive = m_alive](boost::system::error_code ec) {
            if (!ec && *alive && m_running)
                heartbeat();
        });
    }
}

void FleetAnnouncer::stop()
{
    m_running = false;
    m_announceTimer.cancel();
    m_heartbeatTimer.cancel();
}

void FleetAnnouncer::announceNow()
{
    if (m_running)
        announce();
}

void FleetAnnouncer::armAnnounce()
{
    m_announceTimer.expires_after(std::chrono::milliseconds(m_info.periodMs));
    m_announceTimer.async_wait([this, alive = m_alive](boost::system::error_code ec) {
        if (!ec && *alive && m_running)
            announce();
    });
}

void FleetAnnouncer::armHeartbeat()
{
    m_heartbeatTimer.expires_after(std::chrono::milliseconds(m_info.heartbeatMs));
    m_heartbeatTimer.async_wait([this, alive = m_alive](boost::system::error_code ec) {
        if (!ec && *alive && m_running)
            heartbeat();
    });
}

void FleetAnnouncer::announce()
{
    // Re-armed first: announceNow() restarts the period.
    m_announceTimer.cancel();
    armAnnounce();
    const std::string value = record(m_info, m_state ? m_state() : std::string_view("unknown"), wallMs());
    const std::string px = std::to_string(expiryMs(m_info));
    m_primary.command(
        {"SET", m_key, value, "PX", px}, [this, alive = m_alive](const redisReply *reply, std::string_view error) {
            if (!*alive)
                return;
            const bool ok = reply && reply->type == REDIS_REPLY_STATUS;
            if (!ok && !m_announceFailing) {
                const std::string why = reply && reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                                                  : std::string(error);
                Log::warnRateLimited("cannot announce this gateway in the fleet registry: " + Log::printable(why));
            } else if (ok && m_announceFailing) {
                Log::info("announcing this gateway in the fleet registry again");
            }
            m_announceFailing = !ok;
        });
}

void FleetAnnouncer::heartbeat()
{
    armHeartbeat();
    m_primary.command({"FCALL", ProposalFunction::kHeartbeatName, "0"},
                      [this, alive = m_alive](const redisReply *reply, std::string_view error) {
                          if (!*alive)
                              return;
                          const bool ok = reply && reply->type == REDIS_REPLY_INTEGER;
                          if (!ok && !m_heartbeatFailing) {
                              std::string why = reply && reply->type == REDIS_REPLY_ERROR
                                  ? std::string(reply->str, reply->len)
                                  : std::string(error);
                              if (why.find("not found") != std::string::npos)
                                  why += " (load the l0l3 function library: the console or l0l3-ctl does on connect)";
                              Log::warnRateLimited("cannot write the replication heartbeat: " + Log::printable(why));
                          } else if (ok && m_heartbeatFailing) {
                              Log::info("writing the replication heartbeat again");
                          }
                          m_heartbeatFailing = !ok;
                      });
}

} // namespace l0l3
