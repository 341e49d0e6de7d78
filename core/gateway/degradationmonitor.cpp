#include "core/gateway/degradationmonitor.h"

namespace l0l3 {

DegradationMonitor::State DegradationMonitor::evaluate(const Inputs &in)
{
    if (!in.replicaUp && !in.fallbackReplicaUp && !in.primaryUp)
        return State::Offline;
    if (!in.replicaUp)
        return State::ReplicaDown;
    if (in.circuitOpen)
        return State::Degraded;
    if (in.latencyOverSlo)
        return State::Elevated;
    return State::Normal;
}

std::string_view DegradationMonitor::name(State state)
{
    switch (state) {
    case State::Normal: return "normal";
    case State::Elevated: return "elevated";
    case State::Degraded: return "degraded";
    case State::ReplicaDown: return "replica_down";
    case State::Offline: return "offline";
    default: return "normal";
    }
}

std::string DegradationMonitor::describe(const Inputs &in)
{
    std::string out;
    out += in.replicaUp ? "replica up" : "replica unreachable";
    out += in.fallbackReplicaUp ? ", fallback replica up" : "";
    out += in.primaryUp ? ", primary up" : ", primary unreachable";
    out += in.circuitOpen ? ", upstream circuit open" : "";
    out += in.latencyOverSlo ? ", p99 over SLO" : "";
    return out;
}

bool DegradationMonitor::update(const Inputs &inputs, State *from)
{
    const State next = evaluate(inputs);
    const State previous = m_state.load(std::memory_order_relaxed);
    if (from)
        *from = previous;
    if (next == previous)
        return false;
    m_transitions[static_cast<int>(previous)][static_cast<int>(next)].fetch_add(1, std::memory_order_relaxed);
    m_state.store(next, std::memory_order_relaxed);
    return true;
}

std::uint64_t DegradationMonitor::transitions(State from, State to) const
{
    return m_transitions[static_cast<int>(from)][static_cast<int>(to)].load(std::memory_order_relaxed);
}

} // namespace l0l3
