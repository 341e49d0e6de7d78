#include "core/gateway/circuitbreaker.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace l0l3 {

CircuitBreaker::CircuitBreaker(Options options, Clock clock)
    : m_options(options)
    , m_clock(std::move(clock))
{
    m_options.failureThreshold = std::max(1, m_options.failureThreshold);
    m_options.successThreshold = std::max(1, m_options.successThreshold);
    m_options.cooldownMs = std::max<std::int64_t>(1, m_options.cooldownMs);
    m_options.windowMs = std::max<std::int64_t>(kSlots, m_options.windowMs);
    m_options.minCallsInWindow = std::max(1, m_options.minCallsInWindow);
    m_options.maxHoldMs = std::max<std::int64_t>(1, m_options.maxHoldMs);
}

std::int64_t CircuitBreaker::now() const
{
    if (m_clock)
        return m_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string_view CircuitBreaker::stateName(State state)
{
    switch (state) {
    case State::Closed: return "closed";
    case State::HalfOpen: return "half-open";
    case State::Open: return "open";
    }
    return "closed";
}

CircuitBreaker::Permit CircuitBreaker::allow()
{
    if (m_state.load(std::memory_order_relaxed) == State::Closed)
        return Permit::Normal;
    std::lock_guard lock(m_mutex);
    const std::int64_t t = now();
    switch (m_state.load(std::memory_order_relaxed)) {
    case State::Closed: return Permit::Normal;
    case State::Open:
        if (t - m_openedAtMs < m_openForMs)
            return Permit::Denied;
        transition(State::HalfOpen, "cool-down over, probing");
        m_probeSuccesses = 0;
        m_probeInFlight = true;
        m_probeStartedMs = t;
        return Permit::Probe;
    case State::HalfOpen:
        // A probe that never reported (should not happen: every call ends) must not wedge the circuit.
        if (m_probeInFlight && t - m_probeStartedMs < m_options.cooldownMs)
            return Permit::Denied;
        m_probeInFlight = true;
        m_probeStartedMs = t;
        return Permit::Probe;
    }
    return Permit::Denied;
}

void CircuitBreaker::record(Permit permit, bool success)
{
    if (permit == Permit::Denied)
        return;
    std::lock_guard lock(m_mutex);
    const State state = m_state.load(std::memory_order_relaxed);
    if (permit == Permit::Probe) {
        if (state != State::HalfOpen)
            return;
        m_probeInFlight = false;
        if (!success) {
            open(now(), m_options.cooldownMs, "probe failed");
            return;
        }
        if (++m_probeSuccesses >= m_options.successThreshold) {
            m_consecutiveFailures = 0;
            resetWindow();
            transition(State::Closed, std::to_string(m_probeSuccesses) + " probes succeeded");
        }
        return;
    }
    // Calls let through while closed that finish after the circuit changed say nothing about now.
    if (state != State::Closed)
        return;
    const std::int64_t t = now();
    countInWindow(t, success);
    if (success) {
        m_consecutiveFailures = 0;
        return;
    }
    if (++m_consecutiveFailures >= m_options.failureThreshold) {
        open(t, m_options.cooldownMs, std::to_string(m_consecutiveFailures) + " consecutive failures");
        return;
    }
    if (m_options.errorRate > 0) {
        int calls = 0;
        int failures = 0;
        for (const Slot &s : m_window) {
            if (s.startMs >= 0 && s.startMs > t - m_options.windowMs) {
                calls += s.calls;
                failures += s.failures;
            }
        }
        if (calls >= m_options.minCallsInWindow
            && static_cast<double>(failures) >= m_options.errorRate * static_cast<double>(calls)) {
            open(t, m_options.cooldownMs,
                 "error rate " + std::to_string(failures) + "/" + std::to_string(calls) + " over "
                     + std::to_string(m_options.windowMs) + " ms");
        }
    }
}

void CircuitBreaker::countInWindow(std::int64_t nowMs, bool success)
{
    const std::int64_t width = m_options.windowMs / kSlots;
    const std::int64_t start = nowMs - (nowMs % width + width) % width;
    Slot &slot = m_window[static_cast<std::size_t>(((start / width) % kSlots + kSlots) % kSlots)];
    if (slot.startMs != start)
        slot = Slot{start, 0, 0};
    ++slot.calls;
    if (!success)
        ++slot.failures;
}

void CircuitBreaker::resetWindow()
{
    m_window.fill(Slot{});
}

std::int64_t CircuitBreaker::msUntilProbe() const
{
    if (m_state.load(std::memory_order_relaxed) != State::Open)
        return 0;
    std::lock_guard lock(m_mutex);
    return std::max<std::int64_t>(0, m_openedAtMs + m_openForMs - now());
}

void CircuitBreaker::holdOff(Permit permit, std::int64_t ms, std::string_view reason)
{
    if (permit == Permit::Denied)
        return;
    if (ms <= 0) {
        record(permit, false);
        return;
    }
    ms = std::min(ms, m_options.maxHoldMs);
    std::lock_guard lock(m_mutex);
    const std::int64_t t = now();
    const State state = m_state.load(std::memory_order_relaxed);
    if (state == State::Closed) {
        countInWindow(t, false);
        ++m_consecutiveFailures;
    } else if (state == State::HalfOpen && permit == Permit::Probe) {
        m_probeInFlight = false;
    } else if (state == State::Open) {
        // Already open: whichever ends later, the current opening or the upstream's wish.
        m_openForMs = std::max(m_openedAtMs + m_openForMs, t + ms) - m_openedAtMs;
        return;
    }
    // Unlike a late failure, a Retry-After is about what comes next, however old the call that carried it.
    open(t, ms, reason);
}

bool CircuitBreaker::trip(std::string_view reason)
{
    if (m_state.load(std::memory_order_relaxed) != State::Closed)
        return false;
    std::lock_guard lock(m_mutex);
    if (m_state.load(std::memory_order_relaxed) != State::Closed)
        return false;
    open(now(), m_options.cooldownMs, reason);
    return true;
}

void CircuitBreaker::open(std::int64_t nowMs, std::int64_t forMs, std::string_view reason)
{
    m_openedAtMs = nowMs;
    m_openForMs = forMs;
    transition(State::Open, reason);
}

void CircuitBreaker::transition(State to, std::string_view reason)
{
    const State from = m_state.load(std::memory_order_relaxed);
    if (from == to)
        return;
    m_state.store(to, std::memory_order_relaxed);
    if (m_onTransition)
        m_onTransition(from, to, reason);
}

} // namespace l0l3
