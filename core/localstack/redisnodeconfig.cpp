#include "core/localstack/redisnodeconfig.h"

#include "core/localstack/aclfile.h"
#include "core/localstack/privatefile.h"

namespace l0l3 {

namespace {

QString quoted(const QString &value)
{
    return QLatin1Char('"') + value + QLatin1Char('"');
}

} // namespace

QString RedisNodeConfig::sentinelUserPermissions()
{
    return QStringLiteral("resetchannels &__sentinel__:hello &+switch-master "
                          "&+sdown &-sdown &+odown &-odown &+sentinel &-dup-sentinel &+slave "
                          "&+convert-to-slave &+role-change &-role-change &+reboot &+reset-master &+tilt "
                          "&-tilt &+try-failover &+failover-state-select-slave "
                          "&+failover-state-send-slaveof-noone &+failover-state-wait-promotion "
                          "&+failover-state-reconf-slaves &+promoted-slave &+slave-reconf-done "
                          "&+failover-end &+failover-end-for-timeout &-failover-abort-no-good-slave "
                          "&-failover-abort-not-elected "
                          "-@all +auth +hello +ping +role +info "
                          "+client|setname +client|getname +publish +subscribe +unsubscribe "
                          "+sentinel|get-master-addr-by-name +sentinel|master +sentinel|replicas +sentinel|slaves "
                          "+sentinel|sentinels +sentinel|ckquorum +sentinel|failover +sentinel|is-master-down-by-addr "
                          "+sentinel|myid");
}

QByteArray RedisNodeConfig::render() const
{
    QStringList lines{
        QStringLiteral("bind %1").arg(bindAddress),
        QStringLiteral("port %1").arg(tlsCertFile.isEmpty() ? port : 0),
        QStringLiteral("daemonize no"),
        QStringLiteral("dir %1").arg(quoted(dir)),
        QStringLiteral("logfile %1").arg(quoted(logFile)),
    };
    if (!tlsCertFile.isEmpty()) {
        lines
            << QStringLiteral("tls-port %1").arg(port) << QStringLiteral("tls-cert-file %1").arg(quoted(tlsCertFile))
            << QStringLiteral("tls-key-file %1").arg(quoted(tlsKeyFile))
            << QStringLiteral("tls-auth-clients %1").arg(tlsAuthClients ? QStringLiteral("yes") : QStringLiteral("no"))
            << QStringLiteral("tls-replication yes");
        if (!tlsCaFile.isEmpty())
            lines << QStringLiteral("tls-ca-cert-file %1").arg(quoted(tlsCaFile));
    }
    if (role == Role::Sentinel) {
        lines
            << QStringLiteral("sentinel resolve-hostnames yes")
            << QStringLiteral("sentinel monitor %1 %2 %3 %4").arg(masterName, primaryHost).arg(primaryPort).arg(quorum)
            << QStringLiteral("sentinel down-after-milliseconds %1 %2").arg(masterName).arg(downAfterMs)
            << QStringLiteral("sentinel failover-timeout %1 %2").arg(masterName).arg(failoverTimeoutMs)
            << QStringLiteral("sentinel parallel-syncs %1 1").arg(masterName);
        if (!sentinelPassword.isEmpty()) {
            lines << QStringLiteral("sentinel auth-user %1 sentinel").arg(masterName)
                  << QStringLiteral("sentinel auth-pass %1 %2").arg(masterName, sentinelPassword);
        }
        if (!sentinelAuthPassword.isEmpty()) {
            // Clients and peers alike must AUTH: an anonymous client could re-point the Sentinel.
            const QString user = QString::fromLatin1(kSentinelUser);
            lines << QStringLiteral("user default off")
                  << QStringLiteral("user %1 on #%2 %3")
                         .arg(user, QString::fromLatin1(AclFile::passwordHash(sentinelAuthPassword)),
                              sentinelUserPermissions())
                  << QStringLiteral("sentinel sentinel-user %1").arg(user)
                  << QStringLiteral("sentinel sentinel-pass %1").arg(sentinelAuthPassword);
        }
    } else {
        if (persistence) {
            // As packaging/redis/primary.conf and replica.conf.
            lines << QStringLiteral("appendonly yes") << QStringLiteral("appendfsync everysec")
                  << QStringLiteral("aof-use-rdb-preamble yes") << QStringLiteral("aof-timestamp-enabled yes")
                  << QStringLiteral("save 3600 1 300 100 60 10000");
        } else {
            // Nothing on disk: a restarted node starts empty and resyncs.
            lines << QStringLiteral("save \"\"") << QStringLiteral("appendonly no");
        }
        // Replicas sync at once at startup; the default 5 s diskless delay only slows that down.
        lines << QStringLiteral("repl-diskless-sync yes") << QStringLiteral("repl-diskless-sync-delay 0")
              << QStringLiteral("replica-serve-stale-data yes") << QStringLiteral("replica-read-only yes")
              << QStringLiteral("replica-announce-ip %1").arg(bindAddress);
        if (!aclFile.isEmpty())
            lines << QStringLiteral("aclfile %1").arg(quoted(aclFile));
        // Every node may become a replica after a failover, so all carry the credentials.
        if (!replicationPassword.isEmpty())
            lines << QStringLiteral("masteruser replication")
                  << QStringLiteral("masterauth %1").arg(replicationPassword);
        if (role == Role::Replica)
            lines << QStringLiteral("replicaof %1 %2").arg(primaryHost).arg(primaryPort);
    }
    lines << extraLines;
    return lines.join(QLatin1Char('\n')).toUtf8() + '\n';
}

bool RedisNodeConfig::write(const QString &path, QString *error) const
{
    return writePrivateFile(path, render(), error);
}

} // namespace l0l3
