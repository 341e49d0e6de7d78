#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace l0l3 {

// Token bucket per client (an API key or a client address, hashed by the
// caller), as GCRA: one "theoretical arrival time" per client, updated with a
// compare-and-swap, so a check costs a few atomics and never a lock or an
// allocation. Memory is a fixed table: a client whose bucket is full again
// (idle for burst / rate seconds) holds nothing, and its slot is reused; when
// every slot near a new client's hash is busy, the one closest to full is
// evicted (that client starts again with a full bucket).
class RateLimiter
{
public:
    struct Options
    {
        double ratePerSecond = 0;       // 0: disabled, every check passes
        double burst = 1;               // bucket size: requests that may arrive at once
        std::size_t maxClients = 65536; // table size, rounded up to a power of two
    };
    using Clock = std::function<std::int64_t()>; // monotonic microseconds

    explicit RateLimiter(Options options, Clock clock = {});

    bool enabled() const { return m_intervalUs > 0; }

    struct Decision
    {
        bool allowed = true;
        std::int64_t retryAfterMs = 0; // when refused: until one token is back
    };
    Decision check(std::uint64_t client);

    // Slots holding a client whose bucket is not full (O(slots), for tests and metrics).
    std::size_t activeClients() const;
    std::size_t capacity() const { return m_mask + 1; }

private:
    struct Slot
    {
        std::atomic<std::uint64_t> client{0}; // 0: never used
        std::atomic<std::int64_t> tat{0};     // microseconds since start; <= now: bucket full
    };
    static constexpr int kProbe = 8;

    std::int64_t now() const;
    Slot *slotFor(std::uint64_t client, std::int64_t nowUs);

    Clock m_clock;
    std::int64_t m_epochUs = 0;
    std::int64_t m_intervalUs = 0;  // 1 / rate
    std::int64_t m_toleranceUs = 0; // (burst - 1) / rate
    std::size_t m_mask = 0;
    std::unique_ptr<Slot[]> m_slots;
};

} // namespace l0l3
