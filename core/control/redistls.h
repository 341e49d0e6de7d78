#pragma once

#include <QList>
#include <QString>

class QSslError;
class QSslSocket;

namespace l0l3 {

// TLS on one Redis link of the control plane (a rediss:// URL). Verification
// is always on: the server's chain must end at a certificate of caFile (the
// system CAs when it is empty) and name the host the link is opened to, which
// is also the name sent as SNI. certFile and keyFile (PEM, unencrypted key)
// are a client certificate, for servers that ask for one (tls-auth-clients).
struct RedisTls
{
    bool enabled = false;
    QString caFile;
    QString certFile;
    QString keyFile;

    // Gives socket its TLS configuration. False and *error when a file
    // cannot be read or holds no certificate or key.
    bool configure(QSslSocket &socket, QString *error) const;
    // "TLS certificate verification failed for HOST:PORT: REASON".
    static QString verificationFailure(const QString &host, int port, const QList<QSslError> &errors);
};

} // namespace l0l3
