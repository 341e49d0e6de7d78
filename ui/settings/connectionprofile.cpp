#include "ui/settings/connectionprofile.h"

#include <QUrl>

#include <string>

#include "core/common/controlmessage.h"
#include "core/common/redishostlist.h"

namespace l0l3 {

namespace {

// Entries quoted in errors are what the operator typed: bounded.
QString quoted(const QString &text)
{
    return text.left(80);
}

} // namespace

QString ConnectionProfile::metricsSourceName(MetricsSource source)
{
    return source == MetricsSource::Prometheus ? QStringLiteral("prometheus") : QStringLiteral("gateways");
}

std::optional<ConnectionProfile::MetricsSource> ConnectionProfile::metricsSourceFromName(const QString &name)
{
    if (name.isEmpty() || name == u"gateways")
        return MetricsSource::DiscoveredGateways;
    if (name == u"prometheus")
        return MetricsSource::Prometheus;
    return std::nullopt;
}

std::optional<ConnectionProfile::DataNode> ConnectionProfile::parseDataNode(const QString &text, QString *error)
{
    const QString entry = text.trimmed();
    DataNode node;
    QString address = entry;
    if (const qsizetype eq = entry.indexOf(u'='); eq >= 0) {
        node.region = entry.left(eq).trimmed();
        address = entry.mid(eq + 1).trimmed();
        if (!isValidRegionName(node.region.toStdString())) {
            if (error)
                *error =
                    QStringLiteral("'%1' is not a region name (letters, digits, '-', '_')").arg(quoted(node.region));
            return std::nullopt;
        }
    }
    std::string host;
    int port = 0;
    if (!parseHostPort(address.toStdString(), &host, &port)) {
        if (error)
            *error = QStringLiteral("'%1' is not HOST:PORT (IPv6 in brackets: [::1]:6379)").arg(quoted(entry));
        return std::nullopt;
    }
    node.host = QString::fromStdString(host);
    node.port = port;
    return node;
}

std::optional<QList<ConnectionProfile::DataNode>> ConnectionProfile::parsedDataNodes(QString *error) const
{
    QList<DataNode> out;
    for (const QString &entry : dataNodes) {
        QString why;
        const auto node = parseDataNode(entry, &why);
        if (!node) {
            if (error)
                *error = QStringLiteral("data nodes: %1").arg(why);
            return std::nullopt;
        }
        out.append(*node);
    }
    return out;
}

std::optional<QList<ConnectionProfile::DataNode>> ConnectionProfile::parsedSentinels(QString *error) const
{
    QList<DataNode> out;
    for (const QString &entry : sentinels) {
        std::string host;
        int port = 0;
        if (!parseHostPort(entry.trimmed().toStdString(), &host, &port)) {
            if (error)
                *error = QStringLiteral("Sentinels: '%1' is not HOST:PORT").arg(quoted(entry));
            return std::nullopt;
        }
        out.append({{}, QString::fromStdString(host), port});
    }
    return out;
}

bool ConnectionProfile::isValid(QString *error) const
{
    auto fail = [error](const QString &why) {
        if (error)
            *error = why;
        return false;
    };
    if (name.trimmed().isEmpty())
        return fail(QStringLiteral("the profile needs a name"));
    if (name.contains(u'#'))
        return fail(QStringLiteral("a profile name cannot contain '#'"));
    const QUrl url(primaryUrl);
    if (!url.password().isEmpty())
        return fail(QStringLiteral("put the password in the password field, not in the URL: "
                                   "profiles are saved to disk, passwords only to the keychain"));
    if (!toOptions({}, error).has_value())
        return false;
    if (!parsedSentinels(error) || !parsedDataNodes(error))
        return false;
    if (metricsSource == MetricsSource::Prometheus) {
        const QUrl prometheus(prometheusUrl.trimmed(), QUrl::StrictMode);
        if (prometheusUrl.trimmed().isEmpty())
            return fail(QStringLiteral("the metrics source is Prometheus: give its URL (http://host:9090)"));
        if (!prometheus.isValid() || prometheus.host().isEmpty()
            || (prometheus.scheme() != u"http" && prometheus.scheme() != u"https"))
            return fail(QStringLiteral("'%1' is not a Prometheus URL (http://host:9090 or https://…)")
                            .arg(quoted(prometheusUrl)));
        if (!prometheus.password().isEmpty() || !prometheus.userName().isEmpty())
            return fail(QStringLiteral("no credentials in the Prometheus URL: profiles are saved to disk"));
    }
    if (tlsCertFile.trimmed().isEmpty() != tlsKeyFile.trimmed().isEmpty())
        return fail(QStringLiteral("a TLS client certificate needs both its certificate and its key file"));
    const bool tls = primaryUrl.trimmed().startsWith(QLatin1String("rediss://"), Qt::CaseInsensitive);
    if (!tls && !(tlsCaFile.trimmed().isEmpty() && tlsCertFile.trimmed().isEmpty()))
        return fail(QStringLiteral("TLS files need a rediss:// primary URL"));
    if (const QString why = embeddings().check(); !why.isEmpty())
        return fail(QStringLiteral("embeddings: %1").arg(why));
    if (!QUrl(embeddingsUrl.trimmed()).userInfo().isEmpty())
        return fail(QStringLiteral("no credentials in the embeddings URL: profiles are saved to disk"));
    for (const QString *u : {&topologyUser, &sentinelUser}) {
        if (u->contains(u' ') || u->size() > 128)
            return fail(QStringLiteral("'%1' is not an ACL user name").arg(quoted(*u)));
    }
    return true;
}

EmbeddingSettings ConnectionProfile::embeddings() const
{
    EmbeddingSettings e;
    e.url = embeddingsUrl.trimmed();
    e.model = embeddingsModel.trimmed();
    e.caFile = embeddingsCaFile.trimmed();
    if (e.isRemote())
        e.apiKey = qgetenv("L0L3_EMBEDDINGS_API_KEY").trimmed();
    return e;
}

std::optional<RedisConnection::Options> ConnectionProfile::toOptions(const QString &password, QString *error) const
{
    auto options = RedisConnection::Options::fromUrl(primaryUrl.trimmed(), error);
    if (!options)
        return std::nullopt;
    if (!user.isEmpty())
        options->user = user.toUtf8();
    options->password = password.toUtf8();
    options->tls.caFile = tlsCaFile.trimmed();
    options->tls.certFile = tlsCertFile.trimmed();
    options->tls.keyFile = tlsKeyFile.trimmed();
    return options;
}

} // namespace l0l3
