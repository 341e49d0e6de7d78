#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace l0l3 {

// Circuit breaker in front of one upstream, shared by every worker thread.
// Closed: calls go through; it opens after N consecutive failures, or when the
// error rate over a sliding window reaches a threshold (with enough calls to
// mean something). Open: calls are refused (the gateway answers from a
// secondary upstream or with a fast 503) until a cool-down has passed.
// Half-open: one probe call at a time; M successes in a row close it, one
// failure opens it again. Reading the state is one atomic load; the closed
// fast path of allow() takes no lock.
//
// Two more ways to open it: holdOff(), for an upstream that said when to come
// back (Retry-After on a 429 or 503), opens it for that long instead of the
// cool-down, bounded by maxHoldMs; trip(), for a reason found outside the
// calls' outcomes (the upstream's latency over its SLO), opens a closed
// circuit for the usual cool-down.
class CircuitBreaker
{
public:
    enum class State { Closed = 0, HalfOpen = 1, Open = 2 }; // the gauge's values
    enum class Permit { Denied, Normal, Probe };

    struct Options
    {
        int failureThreshold = 5; // consecutive failures that open the circuit
        int successThreshold = 3; // probe successes in a row that close it
        std::int64_t cooldownMs = 30000;
        double errorRate = 0.5; // failures / calls over the window that open it; 0 disables
        std::int64_t windowMs = 10000;
        int minCallsInWindow = 10;       // below this the error rate is not trusted
        std::int64_t maxHoldMs = 300000; // the longest an upstream's Retry-After keeps the circuit open
    };
    using Clock = std::function<std::int64_t()>; // monotonic milliseconds
    using TransitionCallback = std::function<void(State from, State to, std::string_view reason)>;

    explicit CircuitBreaker(Options options, Clock clock = {});

    // Runs under the breaker's lock: keep it short (the gateway logs one line).
    void setTransitionCallback(TransitionCallback callback) { m_onTransition = std::move(callback); }

    // Before calling the upstream. Denied: do not call. Otherwise call, then
    // report the outcome with record() and the permit received.
    Permit allow();
    void record(Permit permit, bool success);
    // A failed call whose upstream asked not to be called for ms (its Retry-After): the circuit is
    // open until at least ms from now (at most maxHoldMs), whatever its state; ms <= 0 is record(permit, false).
    void holdOff(Permit permit, std::int64_t ms, std::string_view reason);
    // Opens a closed circuit for the cool-down; false (nothing changes) when it is not closed.
    bool trip(std::string_view reason);

    State state() const { return m_state.load(std::memory_order_relaxed); }
    // Milliseconds until an open circuit lets a probe through (0 otherwise).
    std::int64_t msUntilProbe() const;
    const Options &options() const { return m_options; }

    static std::string_view stateName(State state);

private:
    struct Slot
    {
        std::int64_t startMs = -1;
        int calls = 0;
        int failures = 0;
    };
    static constexpr int kSlots = 10;

    std::int64_t now() const;
    void transition(State to, std::string_view reason);
    void open(std::int64_t nowMs, std::int64_t forMs, std::string_view reason);
    void countInWindow(std::int64_t nowMs, bool success);
    void resetWindow();

    Options m_options;
    Clock m_clock;
    TransitionCallback m_onTransition;
    std::atomic<State> m_state{State::Closed};
    mutable std::mutex m_mutex;
    int m_consecutiveFailures = 0;
    int m_probeSuccesses = 0;
    bool m_probeInFlight = false;
    std::int64_t m_probeStartedMs = 0;
    std::int64_t m_openedAtMs = 0;
    std::int64_t m_openForMs = 0; // the cool-down, or the upstream's Retry-After, of this opening
    std::array<Slot, kSlots> m_window{};
};

} // namespace l0l3
