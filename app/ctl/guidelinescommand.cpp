#include "app/ctl/guidelinescommand.h"

#include <QFile>
#include <QSaveFile>

#include <cstdio>

#include "core/common/visibletext.h"
#include "core/control/guidelines.h"

namespace l0l3 {

QString GuidelinesCommand::checkUsage(const QStringList &args, const QString &file)
{
    const QString sub = args.value(0);
    if (args.size() != 2 || (sub != QLatin1String("get") && sub != QLatin1String("set")))
        return QStringLiteral("guidelines takes \"get NS\" or \"set NS --file F\"");
    if (const QString bad = Guidelines::checkNamespace(args[1]); !bad.isEmpty())
        return QStringLiteral("guidelines: %1").arg(bad);
    if (sub == QLatin1String("set") && file.isEmpty())
        return QStringLiteral("guidelines set needs --file F (an empty file deletes them)");
    return {};
}

GuidelinesCommand::GuidelinesCommand(RedisConnection *connection, const QStringList &args, const QString &file,
                                     QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_args(args)
    , m_file(file)
{
}

void GuidelinesCommand::start()
{
    const QString ns = m_args.value(1);
    if (m_args.value(0) == QLatin1String("set")) {
        QFile in(m_file);
        if (!in.open(QIODevice::ReadOnly)) {
            emit done(1, QStringLiteral("l0l3-ctl: cannot read %1: %2").arg(m_file, in.errorString()));
            return;
        }
        // One byte past the bound is enough to refuse it.
        const QByteArray markdown = in.read(Guidelines::kMaxBytes + 1);
        if (const QString bad = Guidelines::checkText(markdown); !bad.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: %1: %2").arg(m_file, bad));
            return;
        }
        Guidelines::write(m_connection, ns, markdown, this, [this, markdown](const QString &error) {
            if (!error.isEmpty())
                emit done(1, QStringLiteral("l0l3-ctl: guidelines set: %1").arg(error));
            else
                emit done(0,
                          markdown.isEmpty() ? QStringLiteral("guidelines deleted")
                                             : QStringLiteral("guidelines set (%1 bytes)").arg(markdown.size()));
        });
        return;
    }
    Guidelines::read(m_connection, ns, this, [this](const QString &markdown, const QString &error) {
        if (!error.isEmpty()) {
            emit done(1, QStringLiteral("l0l3-ctl: guidelines get: %1").arg(error));
            return;
        }
        const QByteArray bytes = markdown.toUtf8();
        if (!m_file.isEmpty()) {
            QSaveFile out(m_file);
            if (!out.open(QIODevice::WriteOnly) || out.write(bytes) != bytes.size() || !out.commit()) {
                emit done(1, QStringLiteral("l0l3-ctl: cannot write %1: %2").arg(m_file, out.errorString()));
                return;
            }
            emit done(0, QStringLiteral("guidelines written to %1 (%2 bytes)").arg(m_file).arg(bytes.size()));
            return;
        }
        const std::string shown = VisibleText::escape(std::string_view(bytes.constData(), size_t(bytes.size())),
                                                      VisibleText::KeepNewlines | VisibleText::KeepTabs);
        std::fwrite(shown.data(), 1, shown.size(), stdout);
        if (!shown.empty() && shown.back() != '\n')
            std::fputc('\n', stdout);
        std::fflush(stdout);
        emit done(0, {});
    });
}

} // namespace l0l3
