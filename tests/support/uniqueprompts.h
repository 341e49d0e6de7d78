#pragma once

#include <QString>

namespace l0l3::test {

// Prompts that no other test function and no earlier run has asked, so an
// entry or a proposal either left behind never answers them:
// "<subject> <test function> number <n> of <run id>".
class UniquePrompts
{
public:
    explicit UniquePrompts(const QString &subject);

    QString next();
    // Eight characters of a UUID, the same for the whole run.
    QString runId() const { return m_runId; }

private:
    QString m_subject;
    QString m_runId;
    int m_counter = 0;
};

} // namespace l0l3::test
