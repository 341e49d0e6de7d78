#include "core/localstack/privatefile.h"

#include <QFile>
#include <QRandomGenerator>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace l0l3 {

namespace {

QString systemError(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

bool writeAll(int fd, const QByteArray &content)
{
    qsizetype off = 0;
    while (off < content.size()) {
        const ssize_t n = ::write(fd, content.constData() + off, static_cast<size_t>(content.size() - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += n;
    }
    return true;
}

} // namespace

bool writePrivateFile(const QString &path, const QByteArray &content, QString *error)
{
    auto fail = [&](const QString &why) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, why);
        return false;
    };
    // Created 0600 by open(2) itself, under a fresh name no one else can have opened: a mode changed
    // after the fact leaves a window in which another user opens the file and keeps reading it.
    QByteArray temp;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
        temp = QFile::encodeName(path) + ".tmp-" + QByteArray::number(QRandomGenerator::global()->generate64(), 36);
        fd = ::open(temp.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            return fail(systemError(errno));
    }
    if (fd < 0)
        return fail(QStringLiteral("no free temporary name"));
    const bool written = writeAll(fd, content) && ::fsync(fd) == 0;
    const int writeErrno = errno;
    if (::close(fd) != 0 || !written) {
        ::unlink(temp.constData());
        return fail(systemError(written ? errno : writeErrno));
    }
    if (::rename(temp.constData(), QFile::encodeName(path).constData()) != 0) {
        const int renameErrno = errno;
        ::unlink(temp.constData());
        return fail(systemError(renameErrno));
    }
    return true;
}

} // namespace l0l3
