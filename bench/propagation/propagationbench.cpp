#include "bench/propagation/propagationbench.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QTimer>
#include <QUuid>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <optional>

#include "core/common/proposal.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/control/approvalservice.h"
#include "core/control/primarytracker.h"
#include "core/control/redisconnection.h"
#include "core/control/sentinelclient.h"
#include "core/control/sentineltopology.h"
#include "core/localstack/demostack.h"
#include "core/localstack/redisnodeconfig.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

QByteArray chatBody(const QString &prompt)
{
    QJsonObject message{{QStringLiteral("role"), QStringLiteral("user")}, {QStringLiteral("content"), prompt}};
    QJsonObject body{{QStringLiteral("model"), QStringLiteral("gpt-4o-mini")},
                     {QStringLiteral("messages"), QJsonArray{message}}};
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

QString contentOf(const QByteArray &body)
{
    const QJsonArray choices = QJsonDocument::fromJson(body).object().value(u"choices").toArray();
    return choices.isEmpty() ? QString()
                             : choices.first().toObject().value(u"message").toObject().value(u"content").toString();
}

// Nearest-rank quantile of milliseconds; NaN when empty.
double quantile(std::vector<double> values, double q)
{
    if (values.empty())
        return std::nan("");
    std::sort(values.begin(), values.end());
    const auto rank = std::size_t(std::ceil(q * double(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

RedisConnection::Options consoleOptions(const DemoTopology &t, int port)
{
    RedisConnection::Options o;
    o.host = t.host;
    o.port = port;
    o.user = QByteArrayLiteral("console");
    o.password = t.credentials.console.toUtf8();
    o.commandTimeoutMs = 3000;
    o.connectTimeoutMs = 2000;
    o.reconnectMaxMs = 500;
    return o;
}

} // namespace

PropagationBench::PropagationBench(const Options &options, QTextStream &out, QObject *parent)
    : QObject(parent)
    , m_options(options)
    , m_out(out)
{
    m_clock.start();
}

PropagationBench::~PropagationBench() = default;

bool PropagationBench::spinUntil(const std::function<bool()> &cond, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    // Wakes the blocking processEvents() below even when nothing else happens.
    QTimer tick;
    tick.start(2);
    while (!cond()) {
        if (deadline.hasExpired())
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
    }
    return true;
}

void PropagationBench::post(int region, const QString &prompt, std::function<void(const Reply &)> cb)
{
    QUrl url = m_topology.regions.at(region).gatewayUrl;
    url.setPath(QStringLiteral("/v1/chat/completions"));
    QNetworkRequest request(url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setTransferTimeout(10000);
    QNetworkReply *reply = m_http[std::size_t(region)]->post(request, chatBody(prompt));
    connect(reply, &QNetworkReply::finished, this, [this, reply, cb] {
        reply->deleteLater();
        Reply r;
        r.atNs = m_clock.nsecsElapsed();
        r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        r.cache = reply->rawHeader("x-l0l3-cache");
        r.tier = reply->rawHeader("x-l0l3-tier");
        r.key = reply->rawHeader("x-l0l3-key");
        r.body = reply->readAll();
        cb(r);
    });
}

PropagationBench::Reply PropagationBench::chat(int region, const QString &prompt, int timeoutMs)
{
    auto result = std::make_shared<std::optional<Reply>>();
    post(region, prompt, [result](const Reply &r) { *result = r; });
    spinUntil([&] { return result->has_value(); }, timeoutMs);
    return result->value_or(Reply{});
}

bool PropagationBench::pollRegions(const QString &prompt, const std::function<bool(const Reply &)> &done,
                                   std::vector<qint64> *doneAtNs,
                                   const std::function<void(int, const Reply &)> &onReply, int timeoutMs)
{
    const int regions = int(m_topology.regions.size());
    doneAtNs->assign(std::size_t(regions), -1);
    auto remaining = std::make_shared<int>(regions);
    auto active = std::make_shared<bool>(true);
    auto inFlight = std::make_shared<int>(0);
    std::function<void(int)> send;
    send = [&, remaining, active, inFlight](int region) {
        ++*inFlight;
        post(region, prompt, [&, region, remaining, active, inFlight](const Reply &r) {
            --*inFlight;
            if (!*active)
                return;
            if (onReply)
                onReply(region, r);
            if (done(r)) {
                (*doneAtNs)[std::size_t(region)] = r.atNs;
                --*remaining;
                return;
            }
            send(region);
        });
    };
    for (int i = 0; i < regions; ++i)
        send(i);
    const bool ok = spinUntil([&] { return *remaining == 0; }, timeoutMs);
    *active = false;
    // Let stragglers finish so they do not land in the next round.
    spinUntil([&] { return *inFlight == 0; }, 10000);
    return ok;
}

bool PropagationBench::startStack(DemoStack &stack, QString *error)
{
    bool ready = false;
    bool failed = false;
    connect(&stack, &DemoStack::ready, this, [&] { ready = true; });
    connect(&stack, &DemoStack::failed, this, [&](const QString &e) {
        failed = true;
        *error = e;
    });
    stack.start();
    if (!spinUntil([&] { return ready || failed; }, 120000) && !failed)
        *error = QStringLiteral("the demo stack did not start in time");
    disconnect(&stack, nullptr, this, nullptr);
    if (!ready)
        return false;
    m_topology = stack.topology();
    m_http.clear();
    for (qsizetype i = 0; i < m_topology.regions.size(); ++i)
        m_http.push_back(std::make_unique<QNetworkAccessManager>());
    return true;
}

bool PropagationBench::runPropagation(QString *error)
{
    DemoOptions options;
    options.startTraffic = false;
    options.upstreamLatencyMs = 1;
    options.upstreamJitterMs = 0;
    options.binDir = m_options.binDir;
    DemoStack stack(options);
    if (!startStack(stack, error))
        return false;

    RedisConnection connection(consoleOptions(m_topology, m_topology.primary.port));
    ApprovalService approvals(&connection);
    approvals.setDefaultActor(QStringLiteral("bench-propagation"));
    RedisConnection reader(consoleOptions(m_topology, m_topology.primary.port));
    connection.open();
    reader.open();
    if (!spinUntil([&] { return connection.isReady() && reader.isReady(); }, 10000)) {
        *error = QStringLiteral("no console connection to the primary: ") + connection.lastError();
        return false;
    }

    const int regions = int(m_topology.regions.size());
    const QString runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    std::vector<std::vector<double>> toHit(std::size_t(regions), std::vector<double>{});
    std::vector<double> toHitAll, toGoneAll, lastHotHit;
    struct Slowest
    {
        double ms = -1;
        int approval = -1;
        int region = -1;
        int requests = 0;
    } slowestHit;
    std::vector<int> requestsUntilHit;
    std::vector<double> acks;
    int revokedWithHotHits = 0;
    for (int i = 0; i < m_options.approvals; ++i) {
        const QString prompt = QStringLiteral("Benchmark question %1 of run %2").arg(i).arg(runId);
        const Reply miss = chat(i % regions, prompt);
        if (miss.cache != "miss" || miss.key.isEmpty()) {
            *error = QStringLiteral("approval %1: expected a miss, got status %2 %3")
                         .arg(i)
                         .arg(miss.status)
                         .arg(QString::fromLatin1(miss.cache));
            return false;
        }
        // The gateway proposes asynchronously into the inbox: move it into the stream as the console
        // does, then look for it among the newest entries.
        QString proposalId;
        const bool found = spinUntil(
            [&] {
                if (!proposalId.isEmpty())
                    return true;
                auto reply = std::make_shared<std::optional<RedisReply>>();
                reader.command({QByteArrayLiteral("FCALL"), bytes(ProposalFunction::kDrainName), QByteArrayLiteral("0"),
                                QByteArray::number(ProposalFunction::kDrainMax)},
                               this, [](const RedisReply &) {});
                reader.command({QByteArrayLiteral("XREVRANGE"), bytes(RedisSchema::kProposals), "+", "-", "COUNT",
                                "20"},
                               this, [reply](const RedisReply &r) { *reply = r; });
                spinUntil([&] { return reply->has_value(); }, 5000);
                if (reply->has_value()) {
                    for (const RedisReply &e : (*reply)->elements) {
                        std::string id;
                        StreamFields fields;
                        if (!e.toStreamEntry(&id, &fields))
                            continue;
                        const auto p = ProposalCodec::decode(id, fields);
                        if (p && QByteArray::fromStdString(p->key) == miss.key) {
                            proposalId = QString::fromStdString(id);
                            return true;
                        }
                    }
                }
                return false;
            },
            10000);
        if (!found) {
            *error = QStringLiteral("approval %1: no proposal for key %2").arg(i).arg(QString::fromLatin1(miss.key));
            return false;
        }

        const QString answer = QStringLiteral("Approved benchmark answer %1").arg(i);
        ApprovalRequest request;
        request.proposalId = proposalId;
        request.response = answer;
        // Shared: a late answer (after a timeout) must not write into this frame.
        auto result = std::make_shared<std::optional<ApprovalResult>>();
        auto approvedAt = std::make_shared<qint64>(-1);
        const qint64 sentAtNs = m_clock.nsecsElapsed();
        QElapsedTimer clock = m_clock;
        approvals.approve(request, [clock, result, approvedAt](const ApprovalResult &r) {
            *approvedAt = clock.nsecsElapsed();
            *result = r;
        });
        if (!spinUntil([&] { return result->has_value(); }, 15000) || !(*result)->ok) {
            *error = QStringLiteral("approval %1 failed: %2")
                         .arg(i)
                         .arg(result->has_value() ? (*result)->message : QStringLiteral("no answer"));
            return false;
        }
        const qint64 approvedAtNs = *approvedAt;
        acks.push_back(double(approvedAtNs - sentAtNs) / 1e6);
        std::vector<qint64> hitAt;
        requestsUntilHit.assign(std::size_t(regions), 0);
        if (!pollRegions(
                prompt, [&](const Reply &r) { return r.cache == "hit" && contentOf(r.body) == answer; }, &hitAt,
                [&](int region, const Reply &) { ++requestsUntilHit[std::size_t(region)]; }, 10000)) {
            *error = QStringLiteral("approval %1 never became a hit in every region").arg(i);
            return false;
        }
        double slowest = 0;
        for (int r = 0; r < regions; ++r) {
            const double ms = double(hitAt[std::size_t(r)] - approvedAtNs) / 1e6;
            toHit[std::size_t(r)].push_back(ms);
            slowest = std::max(slowest, ms);
        }
        toHitAll.push_back(slowest);
        // Also how many requests a region needed before its hit: > 1 means the first asked before the entry was
        // there (a miss goes to the upstream and back before the next request is sent).
        for (int r = 0; r < regions; ++r) {
            const double ms = toHit[std::size_t(r)].back();
            if (ms > slowestHit.ms)
                slowestHit = {ms, i, r, requestsUntilHit[std::size_t(r)]};
        }

        // Revoke, then poll until every region misses; hits seen after the
        // revoke result (L0.5 in particular) are what the invalidation must end.
        auto revoked = std::make_shared<std::optional<ApprovalResult>>();
        auto revokedAt = std::make_shared<qint64>(-1);
        approvals.revoke(QString::fromLatin1(miss.key), QString(),
                         [clock, revoked, revokedAt](const ApprovalResult &r) {
                             *revokedAt = clock.nsecsElapsed();
                             *revoked = r;
                         });
        if (!spinUntil([&] { return revoked->has_value(); }, 15000) || !(*revoked)->ok) {
            *error = QStringLiteral("revoke %1 failed").arg(i);
            return false;
        }
        const qint64 revokedAtNs = *revokedAt;
        qint64 lastHotAtNs = -1;
        std::vector<qint64> goneAt;
        if (!pollRegions(
                prompt, [](const Reply &r) { return r.cache == "miss"; }, &goneAt,
                [&](int, const Reply &r) {
                    if (r.tier == "L0.5")
                        lastHotAtNs = std::max(lastHotAtNs, r.atNs);
                },
                10000)) {
            *error = QStringLiteral("revoked entry %1 was still served after 10 s").arg(i);
            return false;
        }
        toGoneAll.push_back(double(*std::max_element(goneAt.begin(), goneAt.end()) - revokedAtNs) / 1e6);
        lastHotHit.push_back(lastHotAtNs < 0 ? 0.0 : double(lastHotAtNs - revokedAtNs) / 1e6);
        revokedWithHotHits += lastHotAtNs < 0 ? 0 : 1;
    }
    stack.stop();

    m_out << "\nPropagation on the demo stack: " << m_options.approvals << " approvals, " << regions
          << " regions (times from the ApprovalService result callback; one request in flight per gateway)\n";
    m_out << QStringLiteral("%1 %2 %3 %4\n")
                 .arg(QStringLiteral("measure"), -48)
                 .arg(QStringLiteral("p50 ms"), 9)
                 .arg(QStringLiteral("p99 ms"), 9)
                 .arg(QStringLiteral("max ms"), 9);
    auto row = [this](const QString &name, const std::vector<double> &v) {
        m_out << QStringLiteral("%1 %2 %3 %4\n")
                     .arg(name, -48)
                     .arg(quantile(v, 0.5), 9, 'f', 2)
                     .arg(quantile(v, 0.99), 9, 'f', 2)
                     .arg(v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), 9, 'f', 2);
    };
    row(QStringLiteral("approve call -> result (MULTI/EXEC + WAIT 1)"), acks);
    for (int r = 0; r < regions; ++r)
        row(QStringLiteral("approve result -> first hit, %1").arg(m_topology.regions.at(r).name),
            toHit[std::size_t(r)]);
    row(QStringLiteral("approve result -> hit in every region"), toHitAll);
    row(QStringLiteral("revoke result -> gone from every region"), toGoneAll);
    row(QStringLiteral("revoke result -> last L0.5 hit anywhere"), lastHotHit);
    m_out << "revokes with an L0.5 hit after the result: " << revokedWithHotHits << " of " << m_options.approvals
          << "\n";
    if (slowestHit.approval >= 0) {
        m_out << QStringLiteral("slowest approval -> hit: approval %1 (of 0..%2), %3, %4 ms, after %5 request(s)\n")
                     .arg(slowestHit.approval)
                     .arg(m_options.approvals - 1)
                     .arg(m_topology.regions.at(slowestHit.region).name)
                     .arg(slowestHit.ms, 0, 'f', 2)
                     .arg(slowestHit.requests);
    }
    m_out.flush();
    return true;
}

bool PropagationBench::runFailover(int run, QString *error)
{
    // Declared before the control plane: its callbacks (also those a
    // destructor fails) only touch these and the scope's timers.
    struct State
    {
        qint64 killAtNs = -1;
        qint64 switchAtNs = -1;
        qint64 firstWriteAtNs = -1;
        int newPort = 0;
        int next = 0;
        int ok = 0;
        int failed = 0;
        bool inFlight = false;
    } st;
    QObject scope;
    DemoOptions options;
    options.startTraffic = false;
    options.upstreamLatencyMs = 1;
    options.upstreamJitterMs = 0;
    options.binDir = m_options.binDir;
    options.seed = quint64(run + 1);
    DemoStack stack(options);
    if (!startStack(stack, error))
        return false;

    RedisConnection connection(consoleOptions(m_topology, m_topology.primary.port));
    ApprovalService approvals(&connection);
    approvals.setDefaultActor(QStringLiteral("bench-failover"));
    SentinelClient::Options so;
    so.masterName = m_topology.masterName;
    for (const DemoRedisNode &s : m_topology.sentinels)
        so.sentinels.append({m_topology.host, int(s.port)});
    so.serverUser = QByteArrayLiteral("console");
    so.serverPassword = m_topology.credentials.console.toUtf8();
    so.sentinelUser = RedisNodeConfig::kSentinelUser;
    so.sentinelPassword = m_topology.credentials.sentinelAuth.toUtf8();
    so.serverHosts.append({m_topology.host, int(m_topology.primary.port)});
    for (const DemoRegion &r : m_topology.regions)
        so.serverHosts.append({m_topology.host, int(r.replica.port)});
    SentinelClient sentinels(so);
    PrimaryTracker tracker(&connection, &sentinels);
    connection.open();
    sentinels.start();
    if (!spinUntil([&] { return connection.isReady() && sentinels.hasPrimary(); }, 15000)) {
        *error = QStringLiteral("no primary discovered through the Sentinels");
        return false;
    }
    // Sentinels need each other (hello every 2 s) and the replicas before they can fail over.
    SentinelTopology topology;
    connect(&sentinels, &SentinelClient::topologyUpdated, this, [&](const SentinelTopology &t) { topology = t; });
    const bool complete = spinUntil(
        [&] {
            topology = {};
            sentinels.refreshTopology();
            spinUntil([&] { return topology.fetchedAt.isValid(); }, 5000);
            if (topology.quorumOk && topology.replicas.size() == m_topology.regions.size()
                && topology.sentinels.size() == m_topology.sentinels.size() - 1)
                return true;
            QDeadlineTimer pause(200);
            spinUntil([&] { return pause.hasExpired(); }, 300);
            return false;
        },
        30000);
    if (!complete) {
        *error = QStringLiteral("the Sentinels never saw the whole topology");
        return false;
    }

    // Proposals for the approvals, replicated everywhere before the kill.
    QList<QString> ids;
    const QString runId = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
    for (int i = 0; i < 200; ++i) {
        Proposal p;
        p.prompt = QStringLiteral("failover benchmark %1-%2").arg(runId).arg(i).toStdString();
        p.response = "answer";
        p.model = "gpt-4o-mini";
        p.region = "nyc";
        p.key = p.derivedKey(); // the console approves only the key of the fields it shows
        QList<QByteArray> argv{QByteArrayLiteral("XADD"), bytes(RedisSchema::kProposals), QByteArrayLiteral("*")};
        for (const auto &[f, v] : ProposalCodec::encode(p))
            argv << QByteArray::fromStdString(f) << QByteArray::fromStdString(v);
        auto reply = std::make_shared<std::optional<RedisReply>>();
        connection.command(argv, this, [reply](const RedisReply &r) { *reply = r; });
        spinUntil([&] { return reply->has_value(); }, 5000);
        if (!reply->has_value() || !(*reply)->isString()) {
            *error = QStringLiteral("XADD failed");
            return false;
        }
        ids.append((*reply)->toString());
    }
    {
        auto reply = std::make_shared<std::optional<RedisReply>>();
        connection.command(
            {"WAIT", QByteArray::number(m_topology.regions.size()), "5000"}, this,
            [reply](const RedisReply &r) { *reply = r; }, 10000);
        spinUntil([&] { return reply->has_value(); }, 10000);
    }

    // A stream of approvals; the primary dies after a few.
    connect(&sentinels, &SentinelClient::switchMasterObserved, &scope,
            [&](const QString &, int, const QString &, int port) {
                if (st.switchAtNs < 0) {
                    st.switchAtNs = m_clock.nsecsElapsed();
                    st.newPort = port;
                }
            });
    std::function<void()> approveNext = [&] {
        if (st.next >= ids.size() || st.firstWriteAtNs >= 0)
            return;
        const int i = st.next++;
        st.inFlight = true;
        approvals.approve(ids.at(i), QString(), QStringLiteral("approved %1").arg(i), QString(), QString(),
                          [&st, &scope, &connection, &approveNext, this](const ApprovalResult &r) {
                              st.inFlight = false;
                              if (r.ok) {
                                  ++st.ok;
                                  if (st.killAtNs >= 0 && st.firstWriteAtNs < 0 && st.newPort != 0
                                      && connection.options().port == st.newPort)
                                      st.firstWriteAtNs = m_clock.nsecsElapsed();
                              } else {
                                  ++st.failed;
                              }
                              QTimer::singleShot(5, &scope, [&approveNext] { approveNext(); });
                          });
    };
    approveNext();
    if (!spinUntil([&] { return st.ok >= 5; }, 15000)) {
        *error = QStringLiteral("approvals did not go through before the kill");
        return false;
    }
    st.killAtNs = m_clock.nsecsElapsed();
    ::kill(pid_t(m_topology.primary.pid), SIGKILL);
    const bool wrote = spinUntil([&] { return st.firstWriteAtNs >= 0; }, 60000);
    spinUntil([&] { return !st.inFlight; }, 15000);
    sentinels.stop();
    stack.stop();
    if (!wrote) {
        *error = QStringLiteral("run %1: no approval accepted by a new primary within 60 s").arg(run);
        return false;
    }
    const qint64 killAtNs = st.killAtNs, switchAtNs = st.switchAtNs, firstWriteAtNs = st.firstWriteAtNs;
    const int okCount = st.ok, failedCount = st.failed;
    m_killToSwitch.push_back(double(switchAtNs - killAtNs) / 1e6);
    m_switchToWrite.push_back(double(firstWriteAtNs - switchAtNs) / 1e6);
    m_killToWrite.push_back(double(firstWriteAtNs - killAtNs) / 1e6);
    m_out << QStringLiteral("%1 %2 %3 %4 %5\n")
                 .arg(run, 4)
                 .arg(double(switchAtNs - killAtNs) / 1e6, 22, 'f', 1)
                 .arg(double(firstWriteAtNs - switchAtNs) / 1e6, 26, 'f', 1)
                 .arg(double(firstWriteAtNs - killAtNs) / 1e6, 24, 'f', 1)
                 .arg(QStringLiteral("%1 ok / %2 failed").arg(okCount).arg(failedCount), 22);
    m_out.flush();
    return true;
}

int PropagationBench::run()
{
    QString error;
    if (!runPropagation(&error)) {
        m_out << "propagation: FAILED: " << error << "\n";
        return 1;
    }
    m_out
        << "\nFailover on the demo stack, ms (kill -9 of the primary, Sentinel down-after 2000 ms; one fresh stack per run)\n";
    m_out << QStringLiteral("%1 %2 %3 %4 %5\n")
                 .arg(QStringLiteral("run"), 4)
                 .arg(QStringLiteral("kill -> +switch-master"), 22)
                 .arg(QStringLiteral("switch -> accepted approval"), 26)
                 .arg(QStringLiteral("kill -> accepted approval"), 24)
                 .arg(QStringLiteral("approvals"), 22);
    for (int run = 1; run <= m_options.failoverRuns; ++run) {
        if (!runFailover(run, &error)) {
            m_out << "failover: FAILED: " << error << "\n";
            return 1;
        }
    }
    m_out << QStringLiteral("%1 %2 %3 %4\n")
                 .arg(QStringLiteral("p50"), 4)
                 .arg(quantile(m_killToSwitch, 0.5), 22, 'f', 1)
                 .arg(quantile(m_switchToWrite, 0.5), 26, 'f', 1)
                 .arg(quantile(m_killToWrite, 0.5), 24, 'f', 1);
    m_out << QStringLiteral("%1 %2 %3 %4\n")
                 .arg(QStringLiteral("max"), 4)
                 .arg(*std::max_element(m_killToSwitch.begin(), m_killToSwitch.end()), 22, 'f', 1)
                 .arg(*std::max_element(m_switchToWrite.begin(), m_switchToWrite.end()), 26, 'f', 1)
                 .arg(*std::max_element(m_killToWrite.begin(), m_killToWrite.end()), 24, 'f', 1);
    m_out.flush();
    return 0;
}

} // namespace l0l3
