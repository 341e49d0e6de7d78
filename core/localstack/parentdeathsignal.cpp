#include "core/localstack/parentdeathsignal.h"

#include <QProcess>

#include <csignal>

#include <sys/prctl.h>
#include <unistd.h>

namespace l0l3 {

void killWithParent(QProcess &process)
{
    const pid_t parent = ::getpid();
    process.setChildProcessModifier([parent] {
        // Only async-signal-safe calls here: we are between fork and exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        // The parent may have died before prctl took effect.
        if (::getppid() != parent)
            ::_exit(127);
    });
}

} // namespace l0l3
