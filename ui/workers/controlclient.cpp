#include "ui/workers/controlclient.h"

#include <QMetaObject>
#include <QThread>

#include "core/common/auditrecord.h"
#include "core/control/approvalresult.h"
#include "core/control/auditlog.h"
#include "core/control/entrystore.h"
#include "ui/workers/controlworker.h"

namespace l0l3 {

ControlClient::ControlClient(QObject *parent)
    : QObject(parent)
    , m_thread(new QThread(this))
    , m_worker(new ControlWorker)
{
    qRegisterMetaType<ProposalItem>();
    qRegisterMetaType<QList<ProposalItem>>();
    qRegisterMetaType<ApprovalResult>();
    qRegisterMetaType<EntryItem>();
    qRegisterMetaType<SimilarEntry>();
    qRegisterMetaType<QList<SimilarEntry>>();
    qRegisterMetaType<QList<EntryPrompt>>();
    qRegisterMetaType<QList<EntryItem>>();
    qRegisterMetaType<AuditRecord>();
    qRegisterMetaType<QList<AuditRecord>>();
    qRegisterMetaType<QList<ReverifyItem>>();
    qRegisterMetaType<QList<L1ReviewItem>>();
    qRegisterMetaType<ServedCounts>();
    qRegisterMetaType<QList<Reservation>>();
    qRegisterMetaType<ReviewPolicy>();
    connect(m_worker, &ControlWorker::reviewPolicyRead, this,
            [this](const ReviewPolicy &policy) { m_reviewPolicy = policy; });
    m_thread->setObjectName(QStringLiteral("l0l3-control"));
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread->start();
}

ControlClient::~ControlClient()
{
    // Redis objects are destroyed on their own thread, then the thread ends;
    // the worker itself is deleted by finished -> deleteLater on that thread.
    QMetaObject::invokeMethod(m_worker, &ControlWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
}

template<typename F>
void ControlClient::post(F &&fn)
{
    QMetaObject::invokeMethod(m_worker, std::forward<F>(fn), Qt::QueuedConnection);
}

void ControlClient::connectTo(const RedisConnection::Options &options, const QString &actor)
{
    post([w = m_worker, options, actor] { w->connectTo(options, actor); });
}

void ControlClient::setEmbeddings(const EmbeddingSettings &settings)
{
    post([w = m_worker, settings] { w->setEmbeddings(settings); });
}

void ControlClient::disconnectFromServer()
{
    post([w = m_worker] { w->disconnectFromServer(); });
}

void ControlClient::repoint(const QString &host, int port)
{
    post([w = m_worker, host, port] { w->repoint(host, port); });
}

void ControlClient::reloadProposals()
{
    post([w = m_worker] { w->reloadProposals(); });
}

void ControlClient::setPollInterval(int ms)
{
    post([w = m_worker, ms] { w->setPollInterval(ms); });
}

quint64 ControlClient::approve(const ApprovalRequest &request)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, request] { w->approve(id, request); });
    return id;
}

quint64 ControlClient::reject(const ProposalItem &item, int days)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, item, days] { w->reject(id, item, days); });
    return id;
}

quint64 ControlClient::revoke(const QString &key, qint64 expectedVersion)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key, expectedVersion] { w->revoke(id, key, expectedVersion); });
    return id;
}

void ControlClient::loadReverify()
{
    post([w = m_worker] { w->loadReverify(); });
}

quint64 ControlClient::keepEntry(const QString &key, qint64 expectedVersion)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key, expectedVersion] { w->keepEntry(id, key, expectedVersion); });
    return id;
}

void ControlClient::loadL1Review(const QString &afterId)
{
    post([w = m_worker, afterId] { w->loadL1Review(afterId); });
}

quint64 ControlClient::reviewL1(const QString &reviewId, bool confirmed)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, reviewId, confirmed] { w->reviewL1(id, reviewId, confirmed); });
    return id;
}

quint64 ControlClient::readServed(const QString &key)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key] { w->readServed(id, key); });
    return id;
}

quint64 ControlClient::unreject(const QString &key)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key] { w->unreject(id, key); });
    return id;
}

quint64 ControlClient::claimReservation(const QString &kind, const QString &value, int minutes)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, kind, value, minutes] { w->claimReservation(id, kind, value, minutes); });
    return id;
}

quint64 ControlClient::releaseReservation(const QString &kind, const QString &value)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, kind, value] { w->releaseReservation(id, kind, value); });
    return id;
}

quint64 ControlClient::editEntry(const QString &key, const QString &response, qint64 expectedVersion, qint64 reviewDays)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key, response, expectedVersion, reviewDays] {
        w->editEntry(id, key, response, expectedVersion, reviewDays);
    });
    return id;
}

quint64 ControlClient::setFrozen(bool frozen)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, frozen] { w->setFrozen(id, frozen); });
    return id;
}

quint64 ControlClient::publishControl(const QString &message)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, message] { w->publishControl(id, message); });
    return id;
}

quint64 ControlClient::exportCorpus(const CorpusExporter::Options &options)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, options] { w->exportCorpus(id, options); });
    return id;
}

quint64 ControlClient::importCorpus(const CorpusImporter::Options &options)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, options] { w->importCorpus(id, options); });
    return id;
}

quint64 ControlClient::markNegative(const QString &key, const QString &proposalKey, const QString &prompt)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, key, proposalKey, prompt] { w->markNegative(id, key, proposalKey, prompt); });
    return id;
}

void ControlClient::findSimilar(const ProposalItem &item)
{
    post([w = m_worker, item] { w->findSimilar(item); });
}

void ControlClient::readEntryPrompts(const QStringList &keys)
{
    post([w = m_worker, keys] { w->readEntryPrompts(keys); });
}

void ControlClient::scanEntries(const QString &search)
{
    post([w = m_worker, search] { w->scanEntries(search); });
}

void ControlClient::fetchMoreEntries()
{
    post([w = m_worker] { w->fetchMoreEntries(); });
}

void ControlClient::reloadAudit()
{
    post([w = m_worker] { w->reloadAudit(); });
}

void ControlClient::fetchMoreAudit()
{
    post([w = m_worker] { w->fetchMoreAudit(); });
}

void ControlClient::readGuidelines(const QString &ns)
{
    post([w = m_worker, ns] { w->readGuidelines(ns); });
}

quint64 ControlClient::writeGuidelines(const QString &ns, const QString &markdown)
{
    const quint64 id = m_nextRequest++;
    post([w = m_worker, id, ns, markdown] { w->writeGuidelines(id, ns, markdown); });
    return id;
}

} // namespace l0l3
