#pragma once

#include <chrono>
#include <functional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "tests/support/timescale.h"

namespace l0l3::test {

// An io_context for tests of the gateway's Asio classes, run only inside
// runUntil() and runFor(), on the test's thread. Header-only, so that
// l0l3_testsupport needs no Boost; for targets that link l0l3_gateway.
class AsioLoop
{
public:
    // Runs handlers until condition holds or timeoutMs (scaled) passes; false on the timeout.
    bool runUntil(const std::function<bool()> &condition, int timeoutMs)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(TimeScale::ms(timeoutMs));
        while (!condition()) {
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            context.run_for(std::chrono::milliseconds(5));
        }
        return true;
    }
    // Runs handlers for a fixed time (not scaled): to show that something does not happen.
    void runFor(int ms)
    {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end)
            context.run_for(std::chrono::milliseconds(5));
    }

    boost::asio::io_context context;

private:
    // Keeps run_for() from returning at once while no operation is pending.
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_guard = boost::asio::make_work_guard(
        context);
};

} // namespace l0l3::test
