#pragma once

#include <QString>

namespace l0l3::test {

// Certificates for TLS tests, made at run time by the openssl CLI (EC P-256):
//   ca.pem/ca.key              a CA the tests trust,
//   other-ca.pem/other-ca.key  an unrelated second CA,
//   good.pem/good.key          signed by ca, for 127.0.0.1 and localhost, for
//                              servers and clients alike (a Redis node is both),
//   expired.pem/expired.key    the same names, signed by ca, expired,
//   wrong-name.pem/.key        signed by ca, only for 10.11.12.13 and elsewhere.example,
//   client.pem/client.key      signed by ca, a client certificate only (CN=client),
//   other-client.pem/.key      signed by other-ca, a client certificate only,
//   other-good.pem/.key        signed by other-ca, as good.pem otherwise.
// The names are fixed so tests can pass them on command lines.
class TestCertificates
{
public:
    // Writes all of the files above into dir (which must exist). On failure
    // returns false with the openssl output in *error.
    bool create(const QString &dir, QString *error);

    QString dir() const { return m_dir; }
    // <dir>/<name>, e.g. file("good.pem").
    QString file(const QString &name) const;

    QString caCert() const { return file(QStringLiteral("ca.pem")); }
    QString caKey() const { return file(QStringLiteral("ca.key")); }
    QString otherCaCert() const { return file(QStringLiteral("other-ca.pem")); }
    QString goodCert() const { return file(QStringLiteral("good.pem")); }
    QString goodKey() const { return file(QStringLiteral("good.key")); }
    QString expiredCert() const { return file(QStringLiteral("expired.pem")); }
    QString expiredKey() const { return file(QStringLiteral("expired.key")); }
    QString wrongNameCert() const { return file(QStringLiteral("wrong-name.pem")); }
    QString wrongNameKey() const { return file(QStringLiteral("wrong-name.key")); }
    QString clientCert() const { return file(QStringLiteral("client.pem")); }
    QString clientKey() const { return file(QStringLiteral("client.key")); }
    QString otherClientCert() const { return file(QStringLiteral("other-client.pem")); }
    QString otherClientKey() const { return file(QStringLiteral("other-client.key")); }
    QString otherGoodCert() const { return file(QStringLiteral("other-good.pem")); }
    QString otherGoodKey() const { return file(QStringLiteral("other-good.key")); }

private:
    bool makeCa(const QString &name, QString *error);
    // days < 0: valid only until before now, i.e. expired. usage: the
    // extendedKeyUsage line, e.g. "serverAuth,clientAuth". subjectAltName may be empty.
    bool makeLeaf(const QString &name, const QString &ca, const QString &subjectAltName, const QString &usage, int days,
                  QString *error);

    QString m_dir;
};

} // namespace l0l3::test
