#pragma once

class QProcess;

namespace l0l3 {

// Makes the kernel SIGKILL the child when this process dies, however it dies
// (crash, SIGKILL): prctl(PR_SET_PDEATHSIG) run in the child between fork and
// exec through QProcess::setChildProcessModifier. The death signal follows
// the *thread* that forked, so start such processes from a long-lived thread
// (the main thread). Call before QProcess::start().
void killWithParent(QProcess &process);

} // namespace l0l3
