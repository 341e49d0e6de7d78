#pragma once

#include <QString>
#include <QStringList>
#include <QUrl>

#include <optional>

#include "core/control/embeddingclient.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

// Where the console connects. Deliberately has no password field: a profile
// is what gets written to QSettings, and passwords live only in the OS
// keychain (PasswordVault), the environment (ProfileSecrets) or, per
// session, in memory.
struct ConnectionProfile
{
    // Where the dashboards' numbers come from.
    enum class MetricsSource {
        DiscoveredGateways, // scrape every live gateway of the fleet registry (default)
        Prometheus,         // query a Prometheus server (fleets of hundreds of gateways)
    };
    // One data node the operator names: a replica (with its region when
    // known) or a primary candidate. Written "[REGION=]HOST:PORT".
    struct DataNode
    {
        QString region; // empty: unknown (shown as host:port)
        QString host;
        int port = 0;
        bool operator==(const DataNode &) const = default;
    };

    QString name;
    QString primaryUrl;    // redis[s]://host:port[/db], no credentials
    QString user;          // ACL user, normally "console"
    QStringList sentinels; // host:port, optional
    QString sentinelMaster = QStringLiteral("l0l3");
    MetricsSource metricsSource = MetricsSource::DiscoveredGateways;
    QString prometheusUrl; // http(s)://host:port, for MetricsSource::Prometheus
    // Optional ACL users: "topology" may run REPLICAOF (manual promotion);
    // the Sentinels' user (e.g. "l0l3-sentinel"). Empty topology user: the
    // console user (which users.acl does not let change the topology).
    // Empty Sentinel user: $L0L3_SENTINEL_AUTH_USER.
    QString topologyUser;
    QString sentinelUser;
    // "[REGION=]HOST:PORT": the Redis servers the console may send credentials
    // to besides the primary (replica lag, ROLE after a failover, REPLICAOF on
    // promotion). Replicas discovered from Sentinel or INFO replication that
    // are not listed here (nor in $L0L3_REDIS_HOSTS) are shown, never sent a
    // password.
    QStringList dataNodes;
    // For rediss://, on every link the console opens (primary, replicas,
    // Sentinels): the CA that signed the servers' certificates (empty: the
    // system CAs), and an optional client certificate and key (PEM files).
    QString tlsCaFile;
    QString tlsCertFile;
    QString tlsKeyFile;
    // The L1 vectors' embeddings provider, the gateways' --embeddings settings: an
    // OpenAI-compatible /v1/embeddings URL and model name (empty: the embedded lexical
    // one), and for https an optional CA file (empty: the system CAs).
    QString embeddingsUrl;
    QString embeddingsModel;
    QString embeddingsCaFile;

    bool isValid(QString *error = nullptr) const;
    // With a URL, the key from $L0L3_EMBEDDINGS_API_KEY (never saved with the profile).
    EmbeddingSettings embeddings() const;
    // Options for RedisConnection with the given password (kept in memory only).
    std::optional<RedisConnection::Options> toOptions(const QString &password, QString *error = nullptr) const;
    // The parsed dataNodes; nullopt and the first bad entry in *error.
    std::optional<QList<DataNode>> parsedDataNodes(QString *error = nullptr) const;
    // The parsed sentinels (host, port); nullopt and the first bad entry in *error.
    std::optional<QList<DataNode>> parsedSentinels(QString *error = nullptr) const;

    static QString metricsSourceName(MetricsSource source);
    static std::optional<MetricsSource> metricsSourceFromName(const QString &name);
    // "[REGION=]HOST:PORT" → DataNode; nullopt when it is not that form.
    static std::optional<DataNode> parseDataNode(const QString &text, QString *error = nullptr);
    bool operator==(const ConnectionProfile &) const = default;
};

} // namespace l0l3
