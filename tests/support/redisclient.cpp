#include "tests/support/redisclient.h"

#include <utility>
#include <vector>

#include <hiredis/hiredis.h>

namespace l0l3::test {

namespace {

RedisValue copyReply(const redisReply *reply)
{
    RedisValue value;
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        value.type = RedisValue::Type::String;
        value.str = QByteArray(reply->str, static_cast<qsizetype>(reply->len));
        break;
    case REDIS_REPLY_STATUS:
        value.type = RedisValue::Type::Status;
        value.str = QByteArray(reply->str, static_cast<qsizetype>(reply->len));
        break;
    case REDIS_REPLY_ERROR:
        value.type = RedisValue::Type::Error;
        value.str = QByteArray(reply->str, static_cast<qsizetype>(reply->len));
        break;
    case REDIS_REPLY_INTEGER:
        value.type = RedisValue::Type::Integer;
        value.integer = reply->integer;
        break;
    case REDIS_REPLY_ARRAY:
        value.type = RedisValue::Type::Array;
        for (size_t i = 0; i < reply->elements; ++i)
            value.elements << copyReply(reply->element[i]);
        break;
    default: value.type = RedisValue::Type::Nil; break;
    }
    return value;
}

timeval toTimeval(int ms)
{
    timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

} // namespace

RedisClient::RedisClient() = default;

RedisClient::~RedisClient()
{
    disconnect();
}

RedisClient::RedisClient(RedisClient &&other) noexcept
    : m_context(std::exchange(other.m_context, nullptr))
    , m_lastError(std::move(other.m_lastError))
{
}

RedisClient &RedisClient::operator=(RedisClient &&other) noexcept
{
    if (this != &other) {
        disconnect();
        m_context = std::exchange(other.m_context, nullptr);
        m_lastError = std::move(other.m_lastError);
    }
    return *this;
}

bool RedisClient::connect(const QString &host, int port, const QString &user, const QString &password, int timeoutMs)
{
    disconnect();
    m_lastError.clear();
    m_context = redisConnectWithTimeout(host.toUtf8().constData(), port, toTimeval(timeoutMs));
    if (!m_context || m_context->err) {
        m_lastError = m_context ? QString::fromUtf8(m_context->errstr)
                                : QStringLiteral("cannot allocate redis context");
        disconnect();
        return false;
    }
    redisSetTimeout(m_context, toTimeval(timeoutMs));
    if (!user.isEmpty() || !password.isEmpty()) {
        QList<QByteArray> argv{QByteArrayLiteral("AUTH")};
        if (!user.isEmpty())
            argv << user.toUtf8();
        argv << password.toUtf8();
        const RedisValue reply = command(argv);
        if (reply.isError()) {
            m_lastError = QStringLiteral("AUTH failed: ") + QString::fromUtf8(reply.str);
            disconnect();
            return false;
        }
    }
    return true;
}

void RedisClient::disconnect()
{
    if (m_context) {
        redisFree(m_context);
        m_context = nullptr;
    }
}

bool RedisClient::isConnected() const
{
    return m_context && !m_context->err;
}

RedisValue RedisClient::command(const QList<QByteArray> &argv)
{
    if (!m_context)
        return RedisValue::error(QByteArrayLiteral("connection: not connected"));
    if (m_context->err)
        return RedisValue::error("connection: " + QByteArray(m_context->errstr));
    std::vector<const char *> args;
    std::vector<size_t> lengths;
    args.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const QByteArray &arg : argv) {
        args.push_back(arg.constData());
        lengths.push_back(static_cast<size_t>(arg.size()));
    }
    auto *reply = static_cast<redisReply *>(
        redisCommandArgv(m_context, static_cast<int>(args.size()), args.data(), lengths.data()));
    if (!reply) {
        m_lastError = QString::fromUtf8(m_context->errstr);
        return RedisValue::error("connection: " + QByteArray(m_context->errstr));
    }
    RedisValue value = copyReply(reply);
    freeReplyObject(reply);
    return value;
}

QByteArray RedisClient::get(const QByteArray &key)
{
    const RedisValue value = command({QByteArrayLiteral("GET"), key});
    return value.isString() ? value.str : QByteArray();
}

bool RedisClient::set(const QByteArray &key, const QByteArray &value)
{
    const RedisValue reply = command({QByteArrayLiteral("SET"), key, value});
    return reply.isStatus() && reply.str == "OK";
}

bool RedisClient::ping()
{
    const RedisValue reply = command({QByteArrayLiteral("PING")});
    return reply.isStatus() && reply.str == "PONG";
}

} // namespace l0l3::test
