#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include "tests/support/redisvalue.h"

struct redisContext;

namespace l0l3::test {

// A small synchronous hiredis client for seeding and asserting in tests.
// Not for product code: it blocks.
class RedisClient
{
public:
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
    redisContext *m_context = nullptr;
    QString m_lastError;
};

} // namespace l0l3::test
