#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace l0l3 {

// The gateway's degradation state (DESIGN.md), from the most to the least
// healthy: normal, elevated (p99 over the SLO), degraded (upstream circuit
// open: hits served, misses get 503), replica_down (local replica
// unreachable: L0.5 and a fallback source serve), offline (no Redis source at
// all). The worst condition that holds wins. update() runs on one thread (the
// gateway's ticker); state() and transitions() may be read from any thread.
class DegradationMonitor
{
public:
    enum class State { Normal, Elevated, Degraded, ReplicaDown, Offline, Count };
    static constexpr int kStates = static_cast<int>(State::Count);

    struct Inputs
    {
        bool replicaUp = true;
        bool fallbackReplicaUp = false; // false when none is configured
        bool primaryUp = true;
        bool circuitOpen = false; // the primary upstream's breaker is open
        bool latencyOverSlo = false;
    };

    static State evaluate(const Inputs &inputs);
    static std::string_view name(State state);
    // One line for the log: what made the state what it is.
    static std::string describe(const Inputs &inputs);

    // Returns true when the state changed (counted; the caller logs it).
    bool update(const Inputs &inputs, State *from = nullptr);
    State state() const { return m_state.load(std::memory_order_relaxed); }
    std::uint64_t transitions(State from, State to) const;

private:
    std::atomic<State> m_state{State::Normal};
    std::array<std::array<std::atomic<std::uint64_t>, kStates>, kStates> m_transitions{};
};

} // namespace l0l3
