#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <memory>

#include "tests/support/redisvalue.h"

class QSslSocket;
struct redisContext;
struct redisReader;

namespace l0l3::test {

// A small synchronous hiredis client for seeding and asserting in tests.
// Not for product code: it blocks. Plain TCP through hiredis; TLS (setTls)
// through a blocking QSslSocket whose bytes hiredis' reader parses.
class RedisClient
{
public:
    // TLS for the next connect(): the server's chain is verified against
    // caFile (the system store when empty) and its name against the host;
    // certFile/keyFile: a client certificate (mTLS), optional.
    struct Tls
    {
        bool enabled = false;
        QString caFile;
        QString certFile;
        QString keyFile;
    };

    RedisClient();
    ~RedisClient();
    RedisClient(RedisClient &&other) noexcept;
    RedisClient &operator=(RedisClient &&other) noexcept;
    RedisClient(const RedisClient &) = delete;
    RedisClient &operator=(const RedisClient &) = delete;

    // Connects and, when user or password is given, authenticates
    // (AUTH user password, or AUTH password for an empty user). timeoutMs
    // bounds the connect and every later command.
    bool connect(const QString &host, int port, const QString &user = {}, const QString &password = {},
                 int timeoutMs = 2000);
    void setTls(const Tls &tls) { m_tls = tls; }
    void disconnect();
    bool isConnected() const;
    // Why the last connect() or command failed at the connection level.
    QString lastError() const { return m_lastError; }

    // A failed connection gives an Error value whose text starts with "connection:".
    RedisValue command(const QList<QByteArray> &argv);

    // Nil and error replies give a null QByteArray.
    QByteArray get(const QByteArray &key);
    bool set(const QByteArray &key, const QByteArray &value);
    bool ping();

private:
    bool connectTls(const QString &host, int port, int timeoutMs);
    RedisValue commandTls(const QList<QByteArray> &argv);

    redisContext *m_context = nullptr;
    Tls m_tls;
    std::unique_ptr<QSslSocket> m_ssl;
    redisReader *m_reader = nullptr;
    int m_timeoutMs = 2000;
    QString m_lastError;
};

} // namespace l0l3::test
