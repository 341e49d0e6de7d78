#include "tests/support/uniqueprompts.h"

#include <QTest>
#include <QUuid>

namespace l0l3::test {

UniquePrompts::UniquePrompts(const QString &subject)
    : m_subject(subject)
    , m_runId(QUuid::createUuid().toString(QUuid::WithoutBraces).left(8))
{
}

QString UniquePrompts::next()
{
    return QStringLiteral("%1 %2 number %3 of %4")
        .arg(m_subject, QString::fromLatin1(QTest::currentTestFunction()))
        .arg(++m_counter)
        .arg(m_runId);
}

} // namespace l0l3::test
