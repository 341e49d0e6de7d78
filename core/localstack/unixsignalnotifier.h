#pragma once

#include <QList>
#include <QObject>

class QSocketNotifier;

namespace l0l3 {

// Turns SIGINT/SIGTERM (or any given signals) into a Qt signal in the thread
// that created it: the async-signal-safe handler only write()s the signal
// number into a socket pair that a QSocketNotifier watches (the pattern from
// Qt's "Calling Qt Functions From Unix Signal Handlers"). One instance per
// process; the previous dispositions are restored on destruction.
class UnixSignalNotifier : public QObject
{
    Q_OBJECT
public:
    explicit UnixSignalNotifier(const QList<int> &signalList, QObject *parent = nullptr);
    ~UnixSignalNotifier() override;

    bool isValid() const { return m_notifier != nullptr; }

    // Convenience: SIGINT and SIGTERM call QCoreApplication::quit().
    static UnixSignalNotifier *quitOnTermination(QObject *parent);

signals:
    void received(int signalNumber);

private:
    void readPending();

    QList<int> m_signals;
    QSocketNotifier *m_notifier = nullptr;
};

} // namespace l0l3
