#include "core/gateway/ratelimiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace l0l3 {

RateLimiter::RateLimiter(Options options, Clock clock)
    : m_clock(std::move(clock))
{
    if (options.ratePerSecond > 0) {
        m_intervalUs = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(1e6 / options.ratePerSecond)));
        const double burst = std::max(1.0, options.burst);
        m_toleranceUs = static_cast<std::int64_t>(std::llround((burst - 1) * static_cast<double>(m_intervalUs)));
    }
    std::size_t n = 64;
    while (n < options.maxClients && n < (std::size_t(1) << 26))
        n <<= 1;
    m_mask = n - 1;
    m_slots = std::make_unique<Slot[]>(enabled() ? n : 1);
    if (!enabled())
        m_mask = 0;
    // Times are kept relative to a start far enough in the past that a fresh slot (tat 0) reads as full.
    m_epochUs = now() - m_toleranceUs - m_intervalUs - 1;
}

std::int64_t RateLimiter::now() const
{
    if (m_clock)
        return m_clock();
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

RateLimiter::Slot *RateLimiter::slotFor(std::uint64_t client, std::int64_t nowUs)
{
    Slot *reusable = nullptr;
    std::uint64_t reusableClient = 0;
    Slot *closestToFull = nullptr;
    std::uint64_t closestClient = 0;
    std::int64_t closestTat = 0;
    for (int i = 0; i < kProbe; ++i) {
        Slot &s = m_slots[(client + static_cast<std::uint64_t>(i)) & m_mask];
        const std::uint64_t owner = s.client.load(std::memory_order_acquire);
        if (owner == client)
            return &s;
        const std::int64_t tat = s.tat.load(std::memory_order_relaxed);
        if (!reusable && (owner == 0 || tat <= nowUs)) {
            reusable = &s;
            reusableClient = owner;
        }
        if (!closestToFull || tat < closestTat) {
            closestToFull = &s;
            closestClient = owner;
            closestTat = tat;
        }
    }
    Slot *victim = reusable ? reusable : closestToFull;
    std::uint64_t expected = reusable ? reusableClient : closestClient;
    if (victim->client.compare_exchange_strong(expected, client, std::memory_order_acq_rel)) {
        // A full bucket for the newcomer (an idle slot's tat is already in the past).
        std::int64_t tat = victim->tat.load(std::memory_order_relaxed);
        while (tat > nowUs && !victim->tat.compare_exchange_weak(tat, nowUs, std::memory_order_relaxed)) {}
        return victim;
    }
    // Another thread took the slot meanwhile: it may have been for the same client.
    return expected == client ? victim : nullptr;
}

RateLimiter::Decision RateLimiter::check(std::uint64_t client)
{
    if (!enabled())
        return {};
    if (client == 0)
        client = 1;
    const std::int64_t nowUs = now() - m_epochUs;
    Slot *slot = slotFor(client, nowUs);
    if (!slot)
        return {}; // lost a race for a slot: let this one through rather than refuse a stranger
    std::int64_t tat = slot->tat.load(std::memory_order_relaxed);
    for (;;) {
        const std::int64_t start = std::max(tat, nowUs);
        if (start - nowUs > m_toleranceUs) {
            const std::int64_t waitUs = start - m_toleranceUs - nowUs;
            return Decision{false, (waitUs + 999) / 1000};
        }
        if (slot->tat.compare_exchange_weak(tat, start + m_intervalUs, std::memory_order_relaxed))
            return {};
    }
}

std::size_t RateLimiter::activeClients() const
{
    if (!enabled())
        return 0;
    const std::int64_t nowUs = now() - m_epochUs;
    std::size_t n = 0;
    for (std::size_t i = 0; i <= m_mask; ++i) {
        if (m_slots[i].client.load(std::memory_order_relaxed) != 0
            && m_slots[i].tat.load(std::memory_order_relaxed) > nowUs)
            ++n;
    }
    return n;
}

} // namespace l0l3
