#include "tests/support/childprocessguard.h"

#include <QProcess>

#include <csignal>

#include <sys/prctl.h>

namespace l0l3::test {

void ChildProcessGuard::install(QProcess &process)
{
    process.setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
}

} // namespace l0l3::test
