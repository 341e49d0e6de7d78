#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/localstack/privatefile.h"

using namespace l0l3;

namespace {

// Restores the process umask when the test ends, whatever happens.
struct UmaskGuard
{
    explicit UmaskGuard(mode_t mask)
        : previous(::umask(mask))
    {
    }
    ~UmaskGuard() { ::umask(previous); }
    mode_t previous;
};

mode_t modeOf(const QString &path)
{
    struct stat st
    {
    };
    return ::stat(QFile::encodeName(path).constData(), &st) == 0 ? (st.st_mode & 07777) : mode_t(-1);
}

} // namespace

// Files with passwords or their hashes (the demo's redis.conf, users.acl):
// private from the moment they exist, not made private after the secret is
// in them (another user could have opened the file in between and keep it).
class TestPrivateFile : public QObject
{
    Q_OBJECT

private slots:
    void createdPrivateNeverChmodded();
    void replacesAnExistingFile();
    void failsCleanly();
};

void TestPrivateFile::createdPrivateNeverChmodded()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const UmaskGuard openUmask(0); // what a careless default would create: 0666
    const int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    QVERIFY(watch >= 0);
    QVERIFY(::inotify_add_watch(watch, QFile::encodeName(dir.path()).constData(), IN_ATTRIB | IN_CREATE | IN_MOVED_TO)
            >= 0);

    const QString path = dir.filePath(QStringLiteral("users.acl"));
    QString error;
    QVERIFY2(writePrivateFile(path, "user gateway on #secret-hash\n", &error), qPrintable(error));

    int creates = 0;
    int attribs = 0;
    alignas(inotify_event) char buf[8192];
    for (;;) {
        const ssize_t n = ::read(watch, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            const auto *event = reinterpret_cast<const inotify_event *>(buf + off);
            creates += (event->mask & IN_CREATE) ? 1 : 0;
            attribs += (event->mask & IN_ATTRIB) ? 1 : 0;
            off += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
    }
    ::close(watch);
    QVERIFY(creates >= 1);
    QCOMPARE(attribs, 0); // no chmod (nor anything else that changes the mode) after creation
    QCOMPARE(modeOf(path), mode_t(0600));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("user gateway on #secret-hash\n"));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden).size(), 1); // no temporary left behind
}

void TestPrivateFile::replacesAnExistingFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const UmaskGuard openUmask(0);
    const QString path = dir.filePath(QStringLiteral("redis.conf"));
    {
        QFile old(path);
        QVERIFY(old.open(QIODevice::WriteOnly));
        old.write("a much longer previous content that must not survive\n");
    }
    QVERIFY(::chmod(QFile::encodeName(path).constData(), 0644) == 0);
    QString error;
    QVERIFY2(writePrivateFile(path, "requirepass x\n", &error), qPrintable(error));
    QCOMPARE(modeOf(path), mode_t(0600));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("requirepass x\n"));
}

void TestPrivateFile::failsCleanly()
{
    QString error;
    QVERIFY(!writePrivateFile(QStringLiteral("/nonexistent-dir/users.acl"), "x", &error));
    QVERIFY2(error.contains(QStringLiteral("/nonexistent-dir/users.acl")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestPrivateFile)
#include "tst_privatefile.moc"
