#pragma once

#include <QByteArray>
#include <QtGlobal>

#include <cmath>

namespace l0l3::test {

// One factor for every wall-clock bound in the tests, per CI stage:
// L0L3_TIME_SCALE (scripts/test.sh sets 1 for the default build and more for
// the slower sanitizer build; unset or invalid means 1). Bounds tuned on the
// default build go through ms() so that they hold under ASan on a loaded
// machine without loosening them for the default stage:
//   QVERIFY2(timer.elapsed() < TimeScale::ms(500), ...);
//   QTRY_VERIFY_WITH_TIMEOUT(cond, TimeScale::ms(5000));
//   QVERIFY(spy.wait(TimeScale::ms(2000)));
// Header-only, so a test that links nothing of tests/support can use it.
// Bounds on a simulated clock or on protocol timers the test configures
// itself (a 200 ms watchdog that must fire) are not wall-clock bounds: leave
// those alone.
class TimeScale
{
public:
    // The factor, at least 1.
    static double factor()
    {
        static const double value = [] {
            bool ok = false;
            const double parsed = qgetenv("L0L3_TIME_SCALE").toDouble(&ok);
            return ok && std::isfinite(parsed) && parsed >= 1.0 ? parsed : 1.0;
        }();
        return value;
    }
    // milliseconds scaled by factor(), rounded up.
    static int ms(int milliseconds) { return static_cast<int>(std::ceil(milliseconds * factor())); }
};

} // namespace l0l3::test
