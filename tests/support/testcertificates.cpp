#include "tests/support/testcertificates.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStringList>

#include "tests/support/timescale.h"

namespace l0l3::test {

namespace {

bool openssl(const QStringList &args, QString *error)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(QStringLiteral("openssl"), args);
    const bool finished = process.waitForStarted(TimeScale::ms(5000)) && process.waitForFinished(TimeScale::ms(30000));
    if (!finished) {
        process.kill();
        process.waitForFinished(TimeScale::ms(5000));
    }
    if (!finished || process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        *error =
            QStringLiteral("openssl %1 failed: %2").arg(args.join(u' '), QString::fromLocal8Bit(process.readAll()));
        return false;
    }
    return true;
}

const QStringList kNewEcKey = {QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                               QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes")};

} // namespace

QString TestCertificates::file(const QString &name) const
{
    return QDir(m_dir).filePath(name);
}

bool TestCertificates::create(const QString &dir, QString *error)
{
    m_dir = dir;
    const QString localNames = QStringLiteral("IP:127.0.0.1,DNS:localhost");
    const QString ca = QStringLiteral("ca");
    const QString server = QStringLiteral("serverAuth");
    const QString client = QStringLiteral("clientAuth");
    return makeCa(ca, error) && makeCa(QStringLiteral("other-ca"), error)
        && makeLeaf(QStringLiteral("good"), ca, localNames, QStringLiteral("serverAuth,clientAuth"), 2, error)
        && makeLeaf(QStringLiteral("expired"), ca, localNames, server, -1, error)
        && makeLeaf(QStringLiteral("wrong-name"), ca, QStringLiteral("IP:10.11.12.13,DNS:elsewhere.example"), server, 2,
                    error)
        && makeLeaf(QStringLiteral("client"), ca, {}, client, 2, error)
        && makeLeaf(QStringLiteral("other-client"), QStringLiteral("other-ca"), {}, client, 2, error)
        && makeLeaf(QStringLiteral("other-good"), QStringLiteral("other-ca"), localNames,
                    QStringLiteral("serverAuth,clientAuth"), 2, error);
}

bool TestCertificates::makeCa(const QString &name, QString *error)
{
    return openssl(QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + kNewEcKey
                       + QStringList{QStringLiteral("-keyout"), file(name + QStringLiteral(".key")),
                                     QStringLiteral("-out"), file(name + QStringLiteral(".pem")),
                                     QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                                     QStringLiteral("/CN=L0L3 test ") + name, QStringLiteral("-addext"),
                                     QStringLiteral("basicConstraints=critical,CA:TRUE"), QStringLiteral("-addext"),
                                     QStringLiteral("keyUsage=critical,keyCertSign,cRLSign")},
                   error);
}

bool TestCertificates::makeLeaf(const QString &name, const QString &ca, const QString &subjectAltName,
                                const QString &usage, int days, QString *error)
{
    QFile ext(file(name + QStringLiteral(".ext")));
    if (!ext.open(QIODevice::WriteOnly)) {
        *error = ext.fileName() + QStringLiteral(": ") + ext.errorString();
        return false;
    }
    if (!subjectAltName.isEmpty())
        ext.write("subjectAltName=" + subjectAltName.toLatin1() + '\n');
    ext.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=" + usage.toLatin1()
              + '\n');
    ext.close();
    return openssl(QStringList{QStringLiteral("req"), QStringLiteral("-new")} + kNewEcKey
                       + QStringList{QStringLiteral("-keyout"), file(name + QStringLiteral(".key")),
                                     QStringLiteral("-out"), file(name + QStringLiteral(".csr")),
                                     QStringLiteral("-subj"), QStringLiteral("/CN=") + name},
                   error)
        && openssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                    file(name + QStringLiteral(".csr")), QStringLiteral("-CA"), file(ca + QStringLiteral(".pem")),
                    QStringLiteral("-CAkey"), file(ca + QStringLiteral(".key")), QStringLiteral("-CAcreateserial"),
                    QStringLiteral("-days"), QString::number(days), QStringLiteral("-extfile"),
                    file(name + QStringLiteral(".ext")), QStringLiteral("-out"), file(name + QStringLiteral(".pem"))},
                   error);
}

} // namespace l0l3::test
