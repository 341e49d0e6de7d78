#pragma once

#include <QList>
#include <QString>

#include <optional>

#include "ui/settings/connectionprofile.h"

namespace l0l3 {

// Connection profiles in QSettings (group "profiles"). ConnectionProfile has
// no password member, so nothing secret can be written here.
class ProfileStore
{
public:
    static QList<ConnectionProfile> load();
    static std::optional<ConnectionProfile> find(const QString &name);
    static void save(const QList<ConnectionProfile> &profiles);
    static void upsert(const ConnectionProfile &profile);
    static void remove(const QString &name);
    static QString lastUsed();
    static void setLastUsed(const QString &name);
};

} // namespace l0l3
