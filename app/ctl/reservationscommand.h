#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

namespace l0l3 {

class RedisConnection;
class ReservationStore;

// l0l3-ctl reservations list [--json] | claim KIND VALUE [MINUTES] | release KIND VALUE:
// who holds which slice of the proposal queue (ReservationStore; KIND is namespace, region
// or cluster). claim reserves it for the logged-in ACL user for MINUTES (default 30,
// renewing the user's own claim); release gives the user's own claim back. Both are
// audited. done(exitCode, message): 0 ok, 1 when Redis refused or the slice is held by
// someone else.
class ReservationsCommand : public QObject
{
    Q_OBJECT
public:
    // Empty when args are usable, else the usage error.
    static QString checkUsage(const QStringList &args);

    ReservationsCommand(RedisConnection *connection, const QStringList &args, bool json, QObject *parent = nullptr);
    void start();

signals:
    void done(int exitCode, const QString &message);

private:
    void list();

    ReservationStore *m_store;
    QStringList m_args;
    bool m_json = false;
};

} // namespace l0l3
