#include "tests/support/poll.h"

#include <QDeadlineTimer>
#include <QTest>

#include "tests/support/timescale.h"

namespace l0l3::test {

bool Poll::until(const std::function<bool()> &condition, int timeoutMs, int intervalMs)
{
    QDeadlineTimer deadline(TimeScale::ms(timeoutMs));
    for (;;) {
        if (condition())
            return true;
        if (deadline.hasExpired())
            return false;
        QTest::qWait(intervalMs);
    }
}

} // namespace l0l3::test
