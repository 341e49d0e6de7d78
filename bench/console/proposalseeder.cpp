#include "bench/console/proposalseeder.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "core/common/cachekey.h"
#include "core/common/proposal.h"
#include "core/common/redisschema.h"

namespace l0l3 {

namespace {

struct ContextDeleter
{
    void operator()(redisContext *c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

Context connectTo(const QString &host, int port, QString *error)
{
    const timeval tv{5, 0};
    Context c(redisConnectWithTimeout(host.toStdString().c_str(), port, tv));
    if (!c || c->err) {
        if (error)
            *error = QStringLiteral("cannot connect to Redis: %1")
                         .arg(c ? QString::fromUtf8(c->errstr) : QStringLiteral("out of memory"));
        return nullptr;
    }
    redisSetTimeout(c.get(), tv);
    return c;
}

void append(redisContext *c, const std::vector<std::string> &args)
{
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string &a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    redisAppendCommandArgv(c, int(argv.size()), argv.data(), lens.data());
}

// Reads n pipelined replies; the first error reply or I/O failure ends it.
bool drain(redisContext *c, int n, QString *error)
{
    for (int i = 0; i < n; ++i) {
        void *raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || !raw) {
            if (error)
                *error = QStringLiteral("Redis I/O error: %1").arg(QString::fromUtf8(c->errstr));
            return false;
        }
        auto *reply = static_cast<redisReply *>(raw);
        const bool failed = reply->type == REDIS_REPLY_ERROR;
        if (failed && error)
            *error = QStringLiteral("Redis error: %1").arg(QString::fromUtf8(reply->str, int(reply->len)));
        freeReplyObject(reply);
        if (failed)
            return false;
    }
    return true;
}

const char *const kRegions[] = {"eu-west", "us-east", "ap-south", "eu-north", "us-west", "sa-east"};

// A realistic support-bot proposal: ~150-byte system prompt, a one-line
// question, a ~700-byte answer (the size bench/http uses).
Proposal makeProposal(int n)
{
    static const std::string system =
        "You are the support assistant of Acme Cloud. Answer briefly and precisely, cite the relevant "
        "documentation page, never invent prices.";
    static const std::string answerTail = [] {
        std::string s;
        while (s.size() < 640)
            s += "Open the console, choose Settings, then Billing; the change applies from the next cycle. ";
        return s;
    }();
    Proposal p;
    p.ns = "bench";
    p.system = system;
    p.prompt = "Ticket " + std::to_string(n)
        + ": how do I move my workspace to the yearly plan without losing invoices?";
    p.model = "gpt-4o-mini";
    p.response = "For ticket " + std::to_string(n) + ": " + answerTail;
    p.region = kRegions[n % 6];
    p.tsMs = 1'790'000'000'000LL + n;
    p.upstreamMs = 300 + (n * 37) % 2500;
    p.promptTokens = 40 + n % 60;
    p.completionTokens = 150 + n % 200;
    p.key = CacheKey::derive({p.ns, p.system, p.prompt, p.model, {}, {}, {}});
    return p;
}

} // namespace

ProposalSeeder::ProposalSeeder(QString host, int port)
    : m_host(std::move(host))
    , m_port(port)
{
}

bool ProposalSeeder::seed(int first, int count, QString *error)
{
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return false;
    const std::string maxLen = std::to_string(RedisSchema::kProposalsMaxLen);
    constexpr int kBatch = 500; // proposals per round trip
    int queued = 0;
    for (int i = first; i < first + count; ++i) {
        const Proposal p = makeProposal(i);
        const std::string seen = RedisSchema::seenKey(p.key);
        // Demand as gateways count it: one HINCRBY per miss and region; every
        // third key was also missed in a second region.
        append(c.get(), {"HINCRBY", seen, p.region, "1"});
        append(c.get(), {"HINCRBY", seen, std::string(RedisSchema::kSeenTotalField), "1"});
        queued += 2;
        if (i % 3 == 0) {
            append(c.get(), {"HINCRBY", seen, kRegions[(i + 1) % 6], "1"});
            append(c.get(), {"HINCRBY", seen, std::string(RedisSchema::kSeenTotalField), "1"});
            queued += 2;
        }
        std::vector<std::string> xadd{"XADD", std::string(RedisSchema::kProposals), "MAXLEN", "~", maxLen, "*"};
        for (auto &[field, value] : ProposalCodec::encode(p)) {
            xadd.push_back(field);
            xadd.push_back(value);
        }
        append(c.get(), xadd);
        ++queued;
        if ((i - first + 1) % kBatch == 0) {
            if (!drain(c.get(), queued, error))
                return false;
            queued = 0;
        }
    }
    return drain(c.get(), queued, error);
}

bool ProposalSeeder::destroyGroup(QString *error)
{
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return false;
    append(c.get(),
           {"XGROUP", "DESTROY", std::string(RedisSchema::kProposals), std::string(RedisSchema::kProposalsGroup)});
    return drain(c.get(), 1, error);
}

qint64 ProposalSeeder::plainLoad(int pageSize, QString *error)
{
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return -1;
    const std::string stream(RedisSchema::kProposals);
    const std::string group = "l0l3-bench-reference";
    append(c.get(), {"XGROUP", "DESTROY", stream, group});
    append(c.get(), {"XGROUP", "CREATE", stream, group, "0"});
    if (!drain(c.get(), 2, error))
        return -1;
    const std::string count = std::to_string(pageSize);
    const std::string entryPrefix = RedisSchema::entryKey({});
    const std::string seenPrefix = RedisSchema::seenKey({});
    qint64 read = 0;
    for (;;) {
        append(c.get(), {"XREADGROUP", "GROUP", group, "reader", "COUNT", count, "STREAMS", stream, ">"});
        void *raw = nullptr;
        if (redisGetReply(c.get(), &raw) != REDIS_OK || !raw) {
            if (error)
                *error = QStringLiteral("Redis I/O error: %1").arg(QString::fromUtf8(c->errstr));
            return -1;
        }
        std::unique_ptr<redisReply, decltype(&freeReplyObject)> page(static_cast<redisReply *>(raw), &freeReplyObject);
        // [[stream, [[id, [field, value, ...]], ...]]], or nil when nothing is new
        if (page->type != REDIS_REPLY_ARRAY || page->elements == 0)
            break;
        const redisReply *entries = page->element[0]->element[1];
        if (entries->elements == 0)
            break;
        std::vector<std::string> exists{"EXISTS"};
        std::vector<std::string> rejected{"ZMSCORE", std::string(RedisSchema::kRejected)};
        std::vector<std::string> keys;
        for (size_t e = 0; e < entries->elements; ++e) {
            const redisReply *fields = entries->element[e]->element[1];
            for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                if (std::string_view(fields->element[f]->str, fields->element[f]->len) == "key") {
                    keys.emplace_back(fields->element[f + 1]->str, fields->element[f + 1]->len);
                    break;
                }
            }
        }
        read += qint64(entries->elements);
        for (const std::string &k : keys) {
            exists.push_back(entryPrefix + k);
            rejected.push_back(k);
        }
        append(c.get(), exists);
        append(c.get(), rejected);
        for (const std::string &k : keys)
            append(c.get(), {"HGETALL", seenPrefix + k});
        if (!drain(c.get(), 2 + int(keys.size()), error))
            return -1;
    }
    append(c.get(), {"XGROUP", "DESTROY", stream, group});
    return drain(c.get(), 1, error) ? read : -1;
}

qint64 ProposalSeeder::streamLength(QString *error)
{
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return -1;
    auto *reply = static_cast<redisReply *>(
        redisCommand(c.get(), "XLEN %s", std::string(RedisSchema::kProposals).c_str()));
    if (!reply)
        return -1;
    const qint64 n = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    return n;
}

double ProposalSeeder::cpuMs(QString *error)
{
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return -1;
    auto *reply = static_cast<redisReply *>(redisCommand(c.get(), "INFO cpu"));
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        if (error)
            *error = QStringLiteral("INFO cpu failed");
        if (reply)
            freeReplyObject(reply);
        return -1;
    }
    const QString text = QString::fromUtf8(reply->str, qsizetype(reply->len));
    freeReplyObject(reply);
    double seconds = 0;
    int found = 0;
    for (const QString &line : text.split(QStringLiteral("\r\n"), Qt::SkipEmptyParts)) {
        if (line.startsWith(QStringLiteral("used_cpu_user:")) || line.startsWith(QStringLiteral("used_cpu_sys:"))) {
            seconds += line.section(u':', 1).toDouble();
            ++found;
        }
    }
    if (found != 2) {
        if (error)
            *error = QStringLiteral("INFO cpu has no used_cpu_user/used_cpu_sys");
        return -1;
    }
    return seconds * 1000.0;
}

QList<ProposalSeeder::CommandStat> ProposalSeeder::commandStats(QString *error)
{
    QList<CommandStat> out;
    Context c = connectTo(m_host, m_port, error);
    if (!c)
        return out;
    auto *reply = static_cast<redisReply *>(redisCommand(c.get(), "INFO commandstats"));
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        if (error)
            *error = QStringLiteral("INFO commandstats failed");
        if (reply)
            freeReplyObject(reply);
        return out;
    }
    // cmdstat_hgetall:calls=100000,usec=151234,usec_per_call=1.51,rejected_calls=0,failed_calls=0
    const QString text = QString::fromUtf8(reply->str, qsizetype(reply->len));
    freeReplyObject(reply);
    for (const QString &line : text.split(QStringLiteral("\r\n"), Qt::SkipEmptyParts)) {
        if (!line.startsWith(QStringLiteral("cmdstat_")))
            continue;
        const qsizetype colon = line.indexOf(u':');
        CommandStat stat;
        stat.command = line.mid(8, colon - 8).toUpper();
        for (const QString &pair : line.mid(colon + 1).split(u',')) {
            if (pair.startsWith(QStringLiteral("calls=")))
                stat.calls = pair.mid(6).toLongLong();
            else if (pair.startsWith(QStringLiteral("usec=")))
                stat.usec = pair.mid(5).toLongLong();
        }
        out.append(stat);
    }
    return out;
}

} // namespace l0l3
