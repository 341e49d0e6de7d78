// Reservations end to end against a real primary that loaded
// packaging/redis/users.acl, as real operator ACL users: l0l3-ctl processes
// claim, list and release; another operator sees the claim and cannot take
// or release it; a viewer reads but cannot claim; a short claim made through
// ReservationStore expires, and the next reader removes it and audits the
// expiry. Every change is in the audit stream under the authenticated user.

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

#include "core/common/auditrecord.h"
#include "core/control/reservationstore.h"
#include "core/localstack/aclfile.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/auditreader.h"
#include "tests/support/ctlrun.h"
#include "tests/support/managedprocess.h"

using namespace l0l3;
using namespace l0l3::test;

class TestReservations : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void claimListAndReleaseWithCtl();
    void expiryFreesTheSlice();

private:
    CtlRun ctl(const QString &op, const QStringList &args);
    QList<AuditRecord> auditOf(const std::string &field);
    std::unique_ptr<RedisConnection> connectAs(const QString &op);
    // list() through a store on the given connection, waited for.
    std::optional<QList<Reservation>> listWith(RedisConnection *connection);

    RedisServer m_primary;
    RedisClient m_client;
    QTemporaryDir m_dir;
    QHash<QString, QString> m_passwords;
};

void TestReservations::initTestCase()
{
    QString why;
    QVERIFY2(m_primary.start({}, &why), qPrintable(why));
    m_client = m_primary.client();
    QVERIFY(m_client.isConnected());
    QVERIFY(QFile::exists(ManagedProcess::binary(QStringLiteral("l0l3-ctl"))));
    const QList<std::pair<QString, QString>> operators{{QStringLiteral("anna"), QStringLiteral("approver")},
                                                       {QStringLiteral("ben"), QStringLiteral("approver")},
                                                       {QStringLiteral("vera"), QStringLiteral("viewer")}};
    for (const auto &[name, role] : operators) {
        m_passwords.insert(name, AclFile::randomPassword());
        const CtlRun r = addOperatorWithCtl(m_primary, name, role, m_passwords.value(name), m_dir.path());
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
    }
}

void TestReservations::cleanupTestCase()
{
    m_client.disconnect();
    m_primary.stop();
}

CtlRun TestReservations::ctl(const QString &op, const QStringList &args)
{
    return runCtlAs(m_primary, u"op-" + op, m_passwords.value(op), QStringList{QStringLiteral("reservations")} + args);
}

QList<AuditRecord> TestReservations::auditOf(const std::string &field)
{
    QList<AuditRecord> records = readAudit(m_client);
    records.removeIf([&](const AuditRecord &rec) { return rec.key != field; });
    return records;
}

std::unique_ptr<RedisConnection> TestReservations::connectAs(const QString &op)
{
    RedisConnection::Options o = optionsFor(m_primary);
    o.user = QStringLiteral("op-%1").arg(op).toUtf8();
    o.password = m_passwords.value(op).toUtf8();
    auto c = std::make_unique<RedisConnection>(o);
    c->open();
    if (!QTest::qWaitFor([&] { return c->isReady(); }, TimeScale::ms(10000)))
        return nullptr;
    return c;
}

std::optional<QList<Reservation>> TestReservations::listWith(RedisConnection *connection)
{
    ReservationStore store(connection);
    bool done = false;
    QString error;
    QList<Reservation> live;
    store.list([&](const QList<Reservation> &l, qint64, const QString &e) {
        live = l;
        error = e;
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, TimeScale::ms(10000)) || !error.isEmpty())
        return std::nullopt;
    return live;
}

void TestReservations::claimListAndReleaseWithCtl()
{
    CtlRun r = ctl(QStringLiteral("anna"),
                   {QStringLiteral("claim"), QStringLiteral("namespace"), QStringLiteral("acme"),
                    QStringLiteral("10")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    QVERIFY2(r.out.contains("namespace:acme reserved by op-anna until"), qPrintable(r.describe(true)));

    // Another operator's l0l3-ctl sees who holds it and until when.
    r = ctl(QStringLiteral("ben"), {QStringLiteral("list"), QStringLiteral("--json")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    const QJsonObject top = QJsonDocument::fromJson(r.out).object();
    const QJsonArray rows = top.value(QStringLiteral("reservations")).toArray();
    QCOMPARE(rows.size(), 1);
    const QJsonObject row = rows.first().toObject();
    QCOMPARE(row.value(QStringLiteral("kind")).toString(), QStringLiteral("namespace"));
    QCOMPARE(row.value(QStringLiteral("value")).toString(), QStringLiteral("acme"));
    QCOMPARE(row.value(QStringLiteral("holder")).toString(), QStringLiteral("op-anna"));
    const qint64 nowMs = qint64(top.value(QStringLiteral("now_ms")).toDouble());
    const qint64 untilMs = qint64(row.value(QStringLiteral("until_ms")).toDouble());
    QVERIFY(untilMs > nowMs + 9 * 60000 && untilMs <= nowMs + 10 * 60000);

    // Held: the other operator can neither take it nor release it.
    r = ctl(QStringLiteral("ben"), {QStringLiteral("claim"), QStringLiteral("namespace"), QStringLiteral("acme")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("held by op-anna"), qPrintable(r.describe()));
    r = ctl(QStringLiteral("ben"), {QStringLiteral("release"), QStringLiteral("namespace"), QStringLiteral("acme")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("held by op-anna"), qPrintable(r.describe()));
    // A viewer reads them, and Redis refuses it a claim.
    r = ctl(QStringLiteral("vera"), {QStringLiteral("list")});
    QVERIFY2(r.code == 0 && r.out.contains("namespace:acme\top-anna\tuntil "), qPrintable(r.describe(true)));
    r = ctl(QStringLiteral("vera"), {QStringLiteral("claim"), QStringLiteral("region"), QStringLiteral("eu")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("NOPERM"), qPrintable(r.describe()));
    // Bad slices never reach Redis.
    r = ctl(QStringLiteral("anna"), {QStringLiteral("claim"), QStringLiteral("tenant"), QStringLiteral("acme")});
    QCOMPARE(r.code, 2);

    r = ctl(QStringLiteral("anna"), {QStringLiteral("release"), QStringLiteral("namespace"), QStringLiteral("acme")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));
    r = ctl(QStringLiteral("ben"), {QStringLiteral("list")});
    QVERIFY2(r.code == 0 && r.out.contains("no reservations"), qPrintable(r.describe(true)));
    // Free again: the other operator takes it.
    r = ctl(QStringLiteral("ben"),
            {QStringLiteral("claim"), QStringLiteral("namespace"), QStringLiteral("acme"), QStringLiteral("1")});
    QVERIFY2(r.code == 0, qPrintable(r.describe(true)));

    QStringList trail;
    for (const AuditRecord &a : auditOf("namespace:acme"))
        trail << QString::fromStdString(a.action + ' ' + a.user);
    QCOMPARE(trail,
             (QStringList{QStringLiteral("reservation-claim op-anna"), QStringLiteral("reservation-release op-anna"),
                          QStringLiteral("reservation-claim op-ben")}));
}

void TestReservations::expiryFreesTheSlice()
{
    auto anna = connectAs(QStringLiteral("anna"));
    auto ben = connectAs(QStringLiteral("ben"));
    QVERIFY(anna && ben);
    ReservationStore store(anna.get());
    std::optional<ReservationStore::Result> claimed;
    store.claim(QStringLiteral("region"), QStringLiteral("tokyo"), ReservationStore::kMinDurationMs,
                [&](const ReservationStore::Result &r) { claimed = r; });
    QTRY_VERIFY_WITH_TIMEOUT(claimed.has_value(), TimeScale::ms(10000));
    QVERIFY2(claimed->ok, qPrintable(claimed->message));
    QCOMPARE(claimed->reservation.holder, QStringLiteral("op-anna"));

    // The other operator's reads show it until its time passes (the primary's clock), then not;
    // the read that finds it expired removes it and audits the expiry.
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const auto live = listWith(ben.get());
            return live && std::none_of(live->begin(), live->end(), [](const Reservation &r) {
                       return r.field() == QLatin1String("region:tokyo");
                   });
        }(),
        TimeScale::ms(15000));
    QTRY_VERIFY_WITH_TIMEOUT(m_client.command({"HEXISTS", qb(RedisSchema::kReservations), "region:tokyo"}).integer == 0,
                             TimeScale::ms(10000));
    const QList<AuditRecord> trail = auditOf("region:tokyo");
    QCOMPARE(trail.size(), 2);
    QCOMPARE(trail[0].action, std::string("reservation-claim"));
    QCOMPARE(trail[1].action, std::string("reservation-expire"));
    QCOMPARE(trail[1].user, std::string("op-ben"));
    QVERIFY(trail[1].detail.find("held by op-anna") != std::string::npos);

    // Free: the other operator claims it.
    ReservationStore benStore(ben.get());
    claimed.reset();
    benStore.claim(QStringLiteral("region"), QStringLiteral("tokyo"), 60000,
                   [&](const ReservationStore::Result &r) { claimed = r; });
    QTRY_VERIFY_WITH_TIMEOUT(claimed.has_value(), TimeScale::ms(10000));
    QVERIFY2(claimed->ok, qPrintable(claimed->message));
    QCOMPARE(claimed->reservation.holder, QStringLiteral("op-ben"));
}

QTEST_GUILESS_MAIN(TestReservations)
#include "tst_reservations.moc"
