#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace l0l3 {

class AsioRedisConnection;

// Announces this gateway to the fleet and keeps the replication heartbeat
// going, both on the primary, from one io_context (the gateway's thread 0):
// - every periodMs: SET l0l3:v1:fleet:gateway:{instance} <record> PX
//   expiryMs (3 periods), so a gateway that stops disappears on its own;
// - every heartbeatMs: FCALL l0l3_heartbeat 0 (the primary's clock, never
//   moved backwards), which every gateway's l0l3_replication_lag_seconds
//   is measured against.
// The record is a JSON object of at most RedisSchema::kFleetRecordMaxBytes
// (record() truncates the strings it is given to fit). Failures are logged
// (rate-limited) and retried on the next period; nothing else depends on
// them.
class FleetAnnouncer
{
public:
    struct Info
    {
        std::string instance; // also the key's suffix
        std::string region;
        std::string url; // where /metrics and /healthz answer
        std::string version;
        std::string replica; // host:port of the local replica
        std::int64_t startedMs = 0;
        int periodMs = 5000;
        int heartbeatMs = 1000; // 0: no heartbeat
    };
    using StateFn = std::function<std::string_view()>;

    FleetAnnouncer(boost::asio::io_context &context, AsioRedisConnection &primary, Info info, StateFn state);
    ~FleetAnnouncer();
    FleetAnnouncer(const FleetAnnouncer &) = delete;
    FleetAnnouncer &operator=(const FleetAnnouncer &) = delete;

    void start();
    void stop();
    // Announce now (e.g. after a degradation change or a primary switch).
    void announceNow();

    // The record's JSON, as written. Strings are cut (at a UTF-8 boundary)
    // to the sizes the reader accepts.
    static std::string record(const Info &info, std::string_view state, std::int64_t lastSeenMs);
    static std::int64_t expiryMs(const Info &info) { return 3LL * info.periodMs; }
    const Info &info() const { return m_info; }

private:
    void announce();
    void heartbeat();
    void armAnnounce();
    void armHeartbeat();

    boost::asio::io_context &m_context;
    AsioRedisConnection &m_primary;
    Info m_info;
    StateFn m_state;
    std::string m_key;
    boost::asio::steady_timer m_announceTimer;
    boost::asio::steady_timer m_heartbeatTimer;
    bool m_running = false;
    bool m_announceFailing = false;
    bool m_heartbeatFailing = false;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace l0l3
