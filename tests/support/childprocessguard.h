#pragma once

class QProcess;

namespace l0l3::test {

// Makes the kernel SIGKILL the child when the test process dies (crash,
// ctest timeout), so a failed test never leaves redis-server or a gateway
// running. Call before QProcess::start().
class ChildProcessGuard
{
public:
    static void install(QProcess &process);
};

} // namespace l0l3::test
