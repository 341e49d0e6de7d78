#pragma once

#include <QString>
#include <QStringList>

#include <optional>

#include "core/control/redisconnection.h"

namespace l0l3 {

// Where the console connects. Deliberately has no password field: a profile
// is what gets written to QSettings, and passwords live only in the OS
// keychain (PasswordVault) or, per session, in memory.
struct ConnectionProfile
{
    QString name;
    QString primaryUrl;    // redis://host:port[/db], no credentials
    QString user;          // ACL user, normally "console"
    QStringList sentinels; // host:port, optional
    QString sentinelMaster = QStringLiteral("l0l3");

    bool isValid(QString *error = nullptr) const;
    // Options for RedisConnection with the given password (kept in memory only).
    std::optional<RedisConnection::Options> toOptions(const QString &password, QString *error = nullptr) const;
    bool operator==(const ConnectionProfile &) const = default;
};

} // namespace l0l3
