#pragma once

#include <QObject>
#include <QString>

#include "core/control/corpustransfer.h"

namespace l0l3 {

class ApprovalService;
class RedisConnection;

// l0l3-ctl export and import: the CLI face of CorpusExporter and
// CorpusImporter. Summaries go to stdout, progress (on a terminal only) and
// errors to stderr; every string read from Redis or the file is escaped.
// done(exitCode, message) ends it: 0 ok, 1 operational error (Redis, an
// invalid or unwritable file, corrupt stored entries), 2 usage, 3 import
// conflicts left unresolved.
class CorpusCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool isExport = true;
        QString path; // export --out, import FILE
        bool withAudit = false;
        bool dryRun = false;
        QString prefer; // "", newer, file, server
        bool json = false;
        QString actor;
        int waitMs = 1000;
    };

    CorpusCommand(RedisConnection *connection, ApprovalService *service, const Options &options,
                  QObject *parent = nullptr);

    void start();

signals:
    void done(int exitCode, const QString &message);

private:
    void runExport();
    void runImport();
    void showProgress(const QString &line, bool last = false);

    RedisConnection *m_connection;
    ApprovalService *m_service;
    Options m_options;
    bool m_terminal = false;
};

} // namespace l0l3
