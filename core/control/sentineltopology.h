#pragma once

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>

namespace l0l3 {

// What the Sentinels say about one monitored primary, for the topology view.
struct SentinelTopology
{
    struct Node
    {
        QString host;
        int port = 0;
        QString runId;
        QString flags;       // Sentinel's flags: "master", "slave", "s_down", "o_down", "disconnected"...
        qint64 offset = -1;  // slave_repl_offset (replicas)
        bool linkUp = false; // master-link-status ok (replicas); link to the peer (sentinels)
    };

    QString masterName;
    QString sentinelHost; // the Sentinel that answered
    int sentinelPort = 0;
    QString masterHost;
    int masterPort = 0;
    QString masterFlags;
    int quorum = 0;        // configured quorum
    bool quorumOk = false; // CKQUORUM
    QString quorumMessage; // CKQUORUM's text ("OK 3 usable Sentinels..." or the error)
    QList<Node> replicas;
    QList<Node> sentinels; // the other Sentinels this one knows
    QString error;         // non-empty when no Sentinel answered
    QDateTime fetchedAt;
};

// What a manual promotion did to one data node.
struct PromotionStep
{
    QString host;
    int port = 0;
    QString command; // "REPLICAOF NO ONE" or "REPLICAOF <new primary>"
    bool ok = false;
    QString detail; // the server's error, or why nothing was sent; empty when ok
};

// The outcome of a failover request or a manual promotion.
struct FailoverResult
{
    bool ok = false;
    QString action;  // "sentinel-failover" | "manual-promotion"
    QString message; // what happened, or why it failed and what to do
    QString newPrimaryHost;
    int newPrimaryPort = 0;
    QList<PromotionStep> steps; // manual promotion: one per node, the new primary first
};

} // namespace l0l3

Q_DECLARE_METATYPE(l0l3::SentinelTopology)
Q_DECLARE_METATYPE(l0l3::FailoverResult)
