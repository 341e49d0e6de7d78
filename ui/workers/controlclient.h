#pragma once

#include <QObject>
#include <QString>

#include "core/common/reviewpolicy.h"
#include "core/control/approvalservice.h"
#include "core/control/corpustransfer.h"
#include "core/control/proposalitem.h"
#include "core/control/redisconnection.h"

class QThread;

namespace l0l3 {

class ControlWorker;

// The UI thread's handle on the control plane: owns a QThread running one
// ControlWorker (quit-and-wait on destruction) and posts every request to it.
// Connect to worker()'s signals from the UI thread: they arrive queued.
// Decisions get a request id so the caller can match decisionFinished().
class ControlClient : public QObject
{
    Q_OBJECT
public:
    explicit ControlClient(QObject *parent = nullptr);
    ~ControlClient() override;

    ControlWorker *worker() const { return m_worker; }

    void connectTo(const RedisConnection::Options &options, const QString &actor);
    // The provider of the L1 vectors approvals write (the profile's embeddings settings), from
    // the next write on; kept across connections.
    void setEmbeddings(const EmbeddingSettings &settings);
    void disconnectFromServer();
    void repoint(const QString &host, int port);
    void reloadProposals();
    void setPollInterval(int ms);

    quint64 approve(const ApprovalRequest &request);
    quint64 reject(const ProposalItem &item, int days = 30);
    quint64 revoke(const QString &key, qint64 expectedVersion = 0);
    quint64 unreject(const QString &key);
    // "Not the same question": proposalKey/prompt against the entry key (ApprovalService::markNegative).
    quint64 markNegative(const QString &key, const QString &proposalKey, const QString &prompt);
    // reviewDays > 0: the entry's own review period from now on; 0 keeps it.
    quint64 editEntry(const QString &key, const QString &response, qint64 expectedVersion, qint64 reviewDays = 0);
    quint64 setFrozen(bool frozen);
    quint64 publishControl(const QString &message);
    // Re-verification (ControlWorker::reverifyLoaded, decisionFinished, servedRead).
    void loadReverify();
    quint64 keepEntry(const QString &key, qint64 expectedVersion);
    quint64 readServed(const QString &key);
    // ControlWorker::reservationFinished answers with the returned id.
    quint64 claimReservation(const QString &kind, const QString &value, int minutes);
    quint64 releaseReservation(const QString &kind, const QString &value);
    // The L1 review queue (ControlWorker::l1ReviewLoaded, decisionFinished).
    void loadL1Review(const QString &afterId);
    quint64 reviewL1(const QString &reviewId, bool confirmed);
    // The review policy as last read (ControlWorker::readReviewPolicy; the defaults until then).
    // On the UI thread.
    const ReviewPolicy &reviewPolicy() const { return m_reviewPolicy; }
    // Jobs on the worker thread; results in ControlWorker::corpusProgress/corpusFinished.
    quint64 exportCorpus(const CorpusExporter::Options &options);
    quint64 importCorpus(const CorpusImporter::Options &options);

    void findSimilar(const ProposalItem &item);
    // ControlWorker::readEntryPrompts (at most ControlWorker::kEntryPromptBatch keys are read).
    void readEntryPrompts(const QStringList &keys);
    void scanEntries(const QString &search);
    void fetchMoreEntries();
    void reloadAudit();
    void fetchMoreAudit();
    void readGuidelines(const QString &ns);
    quint64 writeGuidelines(const QString &ns, const QString &markdown);

private:
    template<typename F>
    void post(F &&fn);

    QThread *m_thread = nullptr;
    ControlWorker *m_worker = nullptr;
    quint64 m_nextRequest = 1;
    ReviewPolicy m_reviewPolicy;
};

} // namespace l0l3
