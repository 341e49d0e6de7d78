#include "tests/support/redisclient.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>

#include <cstdlib>
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
    , m_tls(std::move(other.m_tls))
    , m_ssl(std::move(other.m_ssl))
    , m_reader(std::exchange(other.m_reader, nullptr))
    , m_timeoutMs(other.m_timeoutMs)
    , m_lastError(std::move(other.m_lastError))
{
}

RedisClient &RedisClient::operator=(RedisClient &&other) noexcept
{
    if (this != &other) {
        disconnect();
        m_context = std::exchange(other.m_context, nullptr);
        m_tls = std::move(other.m_tls);
        m_ssl = std::move(other.m_ssl);
        m_reader = std::exchange(other.m_reader, nullptr);
        m_timeoutMs = other.m_timeoutMs;
        m_lastError = std::move(other.m_lastError);
    }
    return *this;
}

bool RedisClient::connectTls(const QString &host, int port, int timeoutMs)
{
    m_ssl = std::make_unique<QSslSocket>();
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setProtocol(QSsl::TlsV1_2OrLater);
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (!m_tls.caFile.isEmpty()) {
        const QList<QSslCertificate> cas = QSslCertificate::fromPath(m_tls.caFile);
        if (cas.isEmpty()) {
            m_lastError = QStringLiteral("cannot read CA file ") + m_tls.caFile;
            return false;
        }
        config.setCaCertificates(cas);
    }
    if (!m_tls.certFile.isEmpty()) {
        const QList<QSslCertificate> certs = QSslCertificate::fromPath(m_tls.certFile);
        QFile keyFile(m_tls.keyFile);
        if (certs.isEmpty() || !keyFile.open(QIODevice::ReadOnly)) {
            m_lastError = QStringLiteral("cannot read client certificate ") + m_tls.certFile;
            return false;
        }
        const QSslKey key(&keyFile, QSsl::Ec);
        if (key.isNull()) {
            m_lastError = QStringLiteral("cannot read client key ") + m_tls.keyFile;
            return false;
        }
        config.setLocalCertificate(certs.first());
        config.setPrivateKey(key);
    }
    m_ssl->setSslConfiguration(config);
    m_ssl->connectToHostEncrypted(host, static_cast<quint16>(port));
    if (!m_ssl->waitForEncrypted(timeoutMs)) {
        QStringList why;
        for (const QSslError &e : m_ssl->sslHandshakeErrors())
            why << e.errorString();
        m_lastError = why.isEmpty() ? m_ssl->errorString() : why.join(QStringLiteral("; "));
        return false;
    }
    m_reader = redisReaderCreate();
    return m_reader != nullptr;
}

RedisValue RedisClient::commandTls(const QList<QByteArray> &argv)
{
    if (!isConnected())
        return RedisValue::error(QByteArrayLiteral("connection: not connected"));
    std::vector<const char *> args;
    std::vector<size_t> lengths;
    for (const QByteArray &arg : argv) {
        args.push_back(arg.constData());
        lengths.push_back(static_cast<size_t>(arg.size()));
    }
    char *formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), args.data(), lengths.data());
    if (length < 0)
        return RedisValue::error(QByteArrayLiteral("connection: cannot format the command"));
    const qint64 written = m_ssl->write(formatted, length);
    std::free(formatted);
    const auto fail = [this](const QString &why) {
        m_lastError = why;
        m_ssl->abort();
        return RedisValue::error("connection: " + why.toUtf8());
    };
    if (written != length)
        return fail(m_ssl->errorString());
    QDeadlineTimer deadline(m_timeoutMs);
    while (m_ssl->bytesToWrite() > 0) {
        if (!m_ssl->waitForBytesWritten(static_cast<int>(deadline.remainingTime())))
            return fail(QStringLiteral("write: ") + m_ssl->errorString());
    }
    for (;;) {
        void *reply = nullptr;
        if (redisReaderGetReply(m_reader, &reply) != REDIS_OK)
            return fail(QStringLiteral("protocol error: ") + QString::fromUtf8(m_reader->errstr));
        if (reply) {
            RedisValue value = copyReply(static_cast<redisReply *>(reply));
            freeReplyObject(reply);
            return value;
        }
        if (m_ssl->bytesAvailable() == 0 && !m_ssl->waitForReadyRead(static_cast<int>(deadline.remainingTime())))
            return fail(QStringLiteral("read: ") + m_ssl->errorString());
        const QByteArray bytes = m_ssl->readAll();
        redisReaderFeed(m_reader, bytes.constData(), static_cast<size_t>(bytes.size()));
    }
}

bool RedisClient::connect(const QString &host, int port, const QString &user, const QString &password, int timeoutMs)
{
    disconnect();
    m_lastError.clear();
    m_timeoutMs = timeoutMs;
    if (m_tls.enabled) {
        if (!connectTls(host, port, timeoutMs)) {
            disconnect();
            return false;
        }
    } else {
        m_context = redisConnectWithTimeout(host.toUtf8().constData(), port, toTimeval(timeoutMs));
        if (!m_context || m_context->err) {
            m_lastError = m_context ? QString::fromUtf8(m_context->errstr)
                                    : QStringLiteral("cannot allocate redis context");
            disconnect();
            return false;
        }
        redisSetTimeout(m_context, toTimeval(timeoutMs));
    }
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
    if (m_ssl) {
        m_ssl->abort();
        m_ssl.reset();
    }
    if (m_reader) {
        redisReaderFree(m_reader);
        m_reader = nullptr;
    }
}

bool RedisClient::isConnected() const
{
    if (m_ssl)
        return m_reader && m_ssl->state() == QAbstractSocket::ConnectedState && m_ssl->isEncrypted();
    return m_context && !m_context->err;
}

RedisValue RedisClient::command(const QList<QByteArray> &argv)
{
    if (m_ssl)
        return commandTls(argv);
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
