#include "core/localstack/unixsignalnotifier.h"

#include <QCoreApplication>
#include <QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <map>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace l0l3 {

namespace {

int g_fds[2] = {-1, -1};
std::map<int, struct sigaction> g_previous;

extern "C" void forwardSignal(int signalNumber)
{
    const int saved = errno;
    const unsigned char byte = static_cast<unsigned char>(signalNumber);
    [[maybe_unused]] const ssize_t n = ::write(g_fds[0], &byte, 1);
    errno = saved;
}

} // namespace

UnixSignalNotifier::UnixSignalNotifier(const QList<int> &signalList, QObject *parent)
    : QObject(parent)
    , m_signals(signalList)
{
    if (g_fds[0] != -1)
        return; // one per process: a second instance stays invalid
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_fds) != 0)
        return;
    ::fcntl(g_fds[0], F_SETFL, O_NONBLOCK);
    ::fcntl(g_fds[1], F_SETFL, O_NONBLOCK);
    m_notifier = new QSocketNotifier(g_fds[1], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &UnixSignalNotifier::readPending);
    for (int sig : std::as_const(m_signals)) {
        struct sigaction action = {};
        action.sa_handler = forwardSignal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        struct sigaction previous = {};
        if (::sigaction(sig, &action, &previous) == 0)
            g_previous[sig] = previous;
    }
}

UnixSignalNotifier::~UnixSignalNotifier()
{
    if (!m_notifier)
        return;
    for (const auto &[sig, previous] : g_previous)
        ::sigaction(sig, &previous, nullptr);
    g_previous.clear();
    delete m_notifier;
    m_notifier = nullptr;
    ::close(g_fds[0]);
    ::close(g_fds[1]);
    g_fds[0] = g_fds[1] = -1;
}

void UnixSignalNotifier::readPending()
{
    unsigned char byte = 0;
    while (::read(g_fds[1], &byte, 1) == 1)
        emit received(int(byte));
}

UnixSignalNotifier *UnixSignalNotifier::quitOnTermination(QObject *parent)
{
    auto *notifier = new UnixSignalNotifier({SIGINT, SIGTERM}, parent);
    connect(notifier, &UnixSignalNotifier::received, qApp, [] { QCoreApplication::quit(); });
    return notifier;
}

} // namespace l0l3
