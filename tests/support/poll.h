#pragma once

#include <functional>

namespace l0l3::test {

// Polls a condition that has side effects (e.g. sends a request) until it
// holds or timeoutMs passes, processing events in between. Unlike
// QTRY_VERIFY, which evaluates its expression once more after success, the
// condition is never evaluated again after it returned true. timeoutMs is a
// bound tuned for the default build: it is scaled by TimeScale.
class Poll
{
public:
    static bool until(const std::function<bool()> &condition, int timeoutMs, int intervalMs = 20);
};

} // namespace l0l3::test
