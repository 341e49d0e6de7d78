#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>

#include "core/control/approvalresult.h"
#include "core/control/embeddingclient.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

class ApprovalService;

// The scriptable face of the control plane: one l0l3-ctl command run on the
// same ApprovalService/ProposalQueue/EntryStore/AuditLog the console uses.
// Data goes to stdout, human messages to stderr; done(exitCode) ends it.
class CtlRunner : public QObject
{
    Q_OBJECT
public:
    enum ExitCode { Ok = 0, OperationalError = 1, UsageError = 2, VersionConflict = 3 };

    struct Command
    {
        QString
            name; // proposals, approve, reject, revoke, edit, entries, audit, freeze, unfreeze, drain, undrain, flush
        QStringList args; // positional arguments after the name
        QString actor;
        bool json = false;
        int limit = 50;
        QString responseFile;
        QString intent;
        QString variantOf; // approve --variant-of KEY
        QString search;
        int days = 30;
        qint64 expectVersion = 0;
        int waitMs = 1000;
        QString out;            // export --out FILE, audit-archive --out FILE
        qint64 beforeMs = 0;    // audit-archive --before (ms since the epoch)
        bool withAudit = false; // export --with-audit
        QString guidelinesFile; // guidelines get/set --file F
        bool dryRun = false;    // import --dry-run
        QString prefer;         // import --prefer newer|file|server (empty: conflicts stay)
        QStringList sentinels;  // fleet --sentinel HOST:PORT,... (empty: no Sentinel view)
        QString masterName = QStringLiteral("l0l3");
        QString role;                 // operators add --role
        QString operatorPasswordFile; // operators add/rotate-password --password-file (the operator's)
        bool scrape = true;           // fleet: read each gateway's /metrics (--no-scrape: registry only)
        qint64 reviewDays = 0;        // reverify keep --days N: the entry's own review period (0: unchanged)
        EmbeddingSettings embeddings; // --embeddings URL --embeddings-model NAME (none: lexical)
        bool missingVectors = false;  // vectors rebuild --missing
    };

    CtlRunner(const RedisConnection::Options &options, const Command &command, QObject *parent = nullptr);
    ~CtlRunner() override;

    void start();

signals:
    void done(int exitCode);

private:
    void run();
    void runProposals();
    void runEntries();
    void runAudit();
    void report(const ApprovalResult &result);
    void finishWith(int code, const QString &message = {});

    Command m_command;
    RedisConnection *m_connection = nullptr;
    ApprovalService *m_service = nullptr;
    bool m_started = false;
    bool m_finished = false;
};

} // namespace l0l3
