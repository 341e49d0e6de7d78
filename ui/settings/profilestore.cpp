#include "ui/settings/profilestore.h"

#include <QSettings>

namespace l0l3 {

QList<ConnectionProfile> ProfileStore::load()
{
    QSettings settings;
    QList<ConnectionProfile> profiles;
    const int n = settings.beginReadArray(QStringLiteral("profiles"));
    for (int i = 0; i < n; ++i) {
        settings.setArrayIndex(i);
        ConnectionProfile p;
        p.name = settings.value(QStringLiteral("name")).toString();
        p.primaryUrl = settings.value(QStringLiteral("primaryUrl")).toString();
        p.user = settings.value(QStringLiteral("user")).toString();
        p.sentinels = settings.value(QStringLiteral("sentinels")).toStringList();
        p.sentinelMaster = settings.value(QStringLiteral("sentinelMaster"), QStringLiteral("l0l3")).toString();
        // An unknown source name (a newer console's) falls back to the default.
        p.metricsSource = ConnectionProfile::metricsSourceFromName(
                              settings.value(QStringLiteral("metricsSource")).toString())
                              .value_or(ConnectionProfile::MetricsSource::DiscoveredGateways);
        p.prometheusUrl = settings.value(QStringLiteral("prometheusUrl")).toString();
        p.topologyUser = settings.value(QStringLiteral("topologyUser")).toString();
        p.sentinelUser = settings.value(QStringLiteral("sentinelUser")).toString();
        p.dataNodes = settings.value(QStringLiteral("dataNodes")).toStringList();
        p.tlsCaFile = settings.value(QStringLiteral("tlsCaFile")).toString();
        p.tlsCertFile = settings.value(QStringLiteral("tlsCertFile")).toString();
        p.tlsKeyFile = settings.value(QStringLiteral("tlsKeyFile")).toString();
        p.embeddingsUrl = settings.value(QStringLiteral("embeddingsUrl")).toString();
        p.embeddingsModel = settings.value(QStringLiteral("embeddingsModel")).toString();
        p.embeddingsCaFile = settings.value(QStringLiteral("embeddingsCaFile")).toString();
        if (!p.name.isEmpty())
            profiles.append(p);
    }
    settings.endArray();
    return profiles;
}

std::optional<ConnectionProfile> ProfileStore::find(const QString &name)
{
    for (const ConnectionProfile &p : load()) {
        if (p.name == name)
            return p;
    }
    return std::nullopt;
}

void ProfileStore::save(const QList<ConnectionProfile> &profiles)
{
    QSettings settings;
    settings.remove(QStringLiteral("profiles"));
    settings.beginWriteArray(QStringLiteral("profiles"), int(profiles.size()));
    for (int i = 0; i < profiles.size(); ++i) {
        const ConnectionProfile &p = profiles.at(i);
        settings.setArrayIndex(i);
        settings.setValue(QStringLiteral("name"), p.name);
        settings.setValue(QStringLiteral("primaryUrl"), p.primaryUrl);
        settings.setValue(QStringLiteral("user"), p.user);
        settings.setValue(QStringLiteral("sentinels"), p.sentinels);
        settings.setValue(QStringLiteral("sentinelMaster"), p.sentinelMaster);
        settings.setValue(QStringLiteral("metricsSource"), ConnectionProfile::metricsSourceName(p.metricsSource));
        settings.setValue(QStringLiteral("prometheusUrl"), p.prometheusUrl);
        settings.setValue(QStringLiteral("topologyUser"), p.topologyUser);
        settings.setValue(QStringLiteral("sentinelUser"), p.sentinelUser);
        settings.setValue(QStringLiteral("dataNodes"), p.dataNodes);
        settings.setValue(QStringLiteral("tlsCaFile"), p.tlsCaFile);
        settings.setValue(QStringLiteral("tlsCertFile"), p.tlsCertFile);
        settings.setValue(QStringLiteral("tlsKeyFile"), p.tlsKeyFile);
        settings.setValue(QStringLiteral("embeddingsUrl"), p.embeddingsUrl);
        settings.setValue(QStringLiteral("embeddingsModel"), p.embeddingsModel);
        settings.setValue(QStringLiteral("embeddingsCaFile"), p.embeddingsCaFile);
    }
    settings.endArray();
    settings.sync();
}

void ProfileStore::upsert(const ConnectionProfile &profile)
{
    QList<ConnectionProfile> profiles = load();
    bool replaced = false;
    for (ConnectionProfile &p : profiles) {
        if (p.name == profile.name) {
            p = profile;
            replaced = true;
        }
    }
    if (!replaced)
        profiles.append(profile);
    save(profiles);
}

void ProfileStore::remove(const QString &name)
{
    QList<ConnectionProfile> profiles = load();
    profiles.removeIf([&name](const ConnectionProfile &p) { return p.name == name; });
    save(profiles);
}

QString ProfileStore::lastUsed()
{
    return QSettings().value(QStringLiteral("lastProfile")).toString();
}

void ProfileStore::setLastUsed(const QString &name)
{
    QSettings settings;
    settings.setValue(QStringLiteral("lastProfile"), name);
    settings.sync();
}

} // namespace l0l3
