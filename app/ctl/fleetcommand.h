#pragma once

#include <QList>
#include <QObject>
#include <QString>

#include <memory>
#include <optional>

#include "core/control/fleetview.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"

class QNetworkAccessManager;

namespace l0l3 {

// l0l3-ctl fleet: the fleet as the registry, INFO replication on the primary
// and (with --sentinel) the Sentinels describe it, and, unless --no-scrape,
// each gateway's own /metrics: state, replication lag, p99 and hit rate over
// a short window (two scrapes windowMs apart; since the gateway started when
// it served nothing in the window). Every string from Redis, a Sentinel or a
// gateway is escaped on output. done(exitCode, message) ends it: 0 ok (also
// when parts could not be read: they are listed under errors), 1 when the
// primary could not be read at all.
class FleetCommand : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        bool json = false;
        QList<SentinelClient::Address> sentinels;
        QString masterName = QStringLiteral("l0l3");
        bool scrape = true;
        int windowMs = 1000;
        int scrapeTimeoutMs = 2000;
    };
    // Live figures of one gateway from its /metrics.
    struct Live
    {
        bool up = false;
        QString error;
        QString state;
        double lagSeconds = qQNaN();
        double p99Ms = qQNaN();
        double hitRate = qQNaN();
        double requests = 0;
        bool sinceStart = false; // no request in the window: figures since the gateway started
    };

    FleetCommand(RedisConnection *connection, const Options &options, QObject *parent = nullptr);
    ~FleetCommand() override;

    void start();

    // Parses one /metrics body (bounded by the caller) into the gauges and
    // cumulative counters a Live is computed from; exposed for tests.
    struct Scrape
    {
        QString state;
        double lagSeconds = qQNaN();
        double requests = 0, hits = 0;
        std::vector<std::pair<double, double>> buckets; // (le, cumulative), summed over tiers
        bool ok = false;
    };
    static Scrape parseMetrics(const QByteArray &body);
    static Live live(const Scrape &first, const Scrape &second);

signals:
    void done(int exitCode, const QString &message);

private:
    void buildView();
    void scrapeAll(int round);
    void print();

    RedisConnection *m_connection;
    Options m_options;
    SentinelClient *m_sentinel = nullptr;
    FleetViewBuilder *m_builder = nullptr;
    QNetworkAccessManager *m_network = nullptr;
    std::optional<SentinelTopology> m_topology;
    FleetView m_view;
    QList<Scrape> m_first, m_second;
    QList<QString> m_scrapeErrors;
    int m_outstanding = 0;
    bool m_viewStarted = false;
    bool m_topologyAsked = false;
};

} // namespace l0l3
