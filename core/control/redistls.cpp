#include "core/control/redistls.h"

#include <QFile>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QSslKey>
#include <QSslSocket>

namespace l0l3 {

namespace {

// Certificates, keys and CA bundles are small; a bigger file is not one.
constexpr qint64 kMaxPemBytes = 4 << 20;

bool readPem(const QString &path, const char *what, QByteArray *out, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error =
            QStringLiteral("cannot read the TLS %1 file %2: %3").arg(QLatin1String(what), path, file.errorString());
        return false;
    }
    *out = file.read(kMaxPemBytes + 1);
    if (out->size() > kMaxPemBytes) {
        *error = QStringLiteral("the TLS %1 file %2 is larger than %3 bytes")
                     .arg(QLatin1String(what), path)
                     .arg(kMaxPemBytes);
        return false;
    }
    return true;
}

} // namespace

bool RedisTls::configure(QSslSocket &socket, QString *error) const
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);
    config.setProtocol(QSsl::TlsV1_2OrLater);
    if (!caFile.isEmpty()) {
        QByteArray pem;
        if (!readPem(caFile, "CA", &pem, error))
            return false;
        const QList<QSslCertificate> cas = QSslCertificate::fromData(pem, QSsl::Pem);
        if (cas.isEmpty()) {
            *error = QStringLiteral("no PEM certificate in the TLS CA file %1").arg(caFile);
            return false;
        }
        config.setCaCertificates(cas);
    }
    if (certFile.isEmpty() != keyFile.isEmpty()) {
        *error = QStringLiteral("a TLS client certificate needs both a certificate file and a key file");
        return false;
    }
    if (!certFile.isEmpty()) {
        QByteArray certPem;
        QByteArray keyPem;
        if (!readPem(certFile, "certificate", &certPem, error) || !readPem(keyFile, "key", &keyPem, error))
            return false;
        const QList<QSslCertificate> chain = QSslCertificate::fromData(certPem, QSsl::Pem);
        if (chain.isEmpty()) {
            *error = QStringLiteral("no PEM certificate in the TLS certificate file %1").arg(certFile);
            return false;
        }
        QSslKey key;
        for (QSsl::KeyAlgorithm algorithm : {QSsl::Ec, QSsl::Rsa, QSsl::Dsa}) {
            key = QSslKey(keyPem, algorithm, QSsl::Pem, QSsl::PrivateKey);
            if (!key.isNull())
                break;
        }
        if (key.isNull()) {
            *error = QStringLiteral("no unencrypted PEM private key in the TLS key file %1").arg(keyFile);
            return false;
        }
        config.setLocalCertificateChain(chain);
        config.setPrivateKey(key);
    }
    socket.setSslConfiguration(config);
    return true;
}

QString RedisTls::verificationFailure(const QString &host, int port, const QList<QSslError> &errors)
{
    QStringList reasons;
    for (const QSslError &e : errors) {
        const QString text = e.errorString();
        if (!reasons.contains(text))
            reasons.append(text);
    }
    const QString hostPart = host.contains(QLatin1Char(':')) ? u'[' + host + u']' : host;
    return QStringLiteral("TLS certificate verification failed for %1:%2: %3")
        .arg(hostPart)
        .arg(port)
        .arg(reasons.isEmpty() ? QStringLiteral("unknown reason") : reasons.join(QStringLiteral("; ")));
}

} // namespace l0l3
